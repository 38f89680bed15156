/**
 * Self-test of the loss benchmark's path (bench/lib/lossy-path.ts) against the Linux
 * kernel alone: device — bridge — LAN namespaces, the bridge forwarding between its two
 * veths, nft in the bridge namespace dropping forwarded IPv4 frames at the rate asked
 * for and nothing else (ARP passes), and every namespace gone afterwards. The kernel
 * plays the device (198.18.0.2 on veth-dev), so a failure here is in the bench's path,
 * never in the firmware. With `kernelPort` the path has a second device port for the
 * kernel's servers (198.18.0.3 on veth-dev's neighbour veth-kdev), which the loss section
 * uses to alternate the kernel's transfers with piwire's: the kernel's traffic must stay on
 * it, off piwire's veth-dev.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canUseNetns, exec, execOrThrow, listNamespaces } from '../support/netns.ts';
import { createLossyPath } from '../../bench/lib/lossy-path.ts';

const availability = canUseNetns();

async function linkCounters(namespace: string, name: string): Promise<{ rx: number; tx: number; address: string }> {
  const link = await execOrThrow(namespace, ['ip', '-json', '-s', 'link', 'show', 'dev', name]);
  const [info] = JSON.parse(link.stdout) as { address: string; stats64: { rx: { packets: number }; tx: { packets: number } } }[];
  assert.ok(info, `${name} listed`);
  return { rx: info.stats64.rx.packets, tx: info.stats64.tx.packets, address: info.address };
}
const skip = availability.ok ? false : `integration: needs root and network namespaces: ${availability.reason}`;

interface PingSummary {
  transmitted: number;
  received: number;
}

function pingSummary(output: string): PingSummary {
  const match = /(\d+) packets transmitted, (\d+) received/.exec(output);
  assert.ok(match, `no ping summary in: ${output}`);
  return { transmitted: Number(match[1]), received: Number(match[2]) };
}

describe('lossy bench path (device — bridge — LAN)', () => {
  it('forwards through the bridge and drops IPv4 at the rate set, both ways, ARP untouched', { skip, timeout: 90_000 }, async (t) => {
    const path = await createLossyPath({ mtu: 576, prefix: 'pw' });
    t.after(() => path.destroy());
    assert.match(path.deviceNamespace, /^pw-dev-[0-9a-f]{6}$/);
    assert.match(path.bridgeNamespace, /^pw-br-[0-9a-f]{6}$/);
    assert.match(path.peerNamespace, /^pw-lan-[0-9a-f]{6}$/);

    // Same MTU and no offloads on every veth; the bridge holds both of its ports.
    for (const [namespace, name] of [[path.deviceNamespace, 'veth-dev'], [path.bridgeNamespace, 'br-dev'], [path.bridgeNamespace, 'br-lan'], [path.peerNamespace, 'veth-lan']] as const) {
      const link = await execOrThrow(namespace, ['ip', '-json', 'link', 'show', 'dev', name]);
      const [info] = JSON.parse(link.stdout) as { mtu: number; master?: string }[];
      assert.equal(info?.mtu, 576, `${name} MTU`);
      if (namespace === path.bridgeNamespace) assert.equal(info?.master, 'br0', `${name} is a port of br0`);
      const features = (await execOrThrow(namespace, ['ethtool', '-k', name])).stdout;
      for (const feature of ['tx-checksumming', 'rx-checksumming', 'tcp-segmentation-offload', 'generic-segmentation-offload', 'generic-receive-offload']) {
        assert.match(features, new RegExp(`^${feature}: off`, 'm'), `${name} ${feature}`);
      }
    }

    // The kernel plays the device for this test.
    await execOrThrow(path.deviceNamespace, ['ip', 'address', 'add', '198.18.0.2/24', 'dev', 'veth-dev']);
    const ping = async (count: number, interval: string): Promise<PingSummary> => {
      const result = await path.execPeer(['ping', '-n', '-q', '-c', String(count), '-i', interval, '-W', '1', path.deviceAddress], { timeoutMs: 30_000 });
      return pingSummary(result.stdout);
    };

    assert.deepEqual(await ping(3, '0.1'), { transmitted: 3, received: 3 }, 'no loss at 0%');
    assert.equal(await path.droppedFrames(), 0);

    // Everything IPv4 is dropped at 100%, but ARP still crosses: the neighbour resolves.
    await path.setLoss(1);
    await execOrThrow(path.peerNamespace, ['ip', 'neigh', 'flush', 'dev', 'veth-lan']);
    assert.equal((await ping(3, '0.1')).received, 0, 'nothing crosses at 100%');
    assert.ok((await path.droppedFrames()) >= 3, 'the echo requests were counted as dropped');
    const fromDevice = await exec(path.deviceNamespace, ['ping', '-n', '-q', '-c', '2', '-i', '0.1', '-W', '1', path.peerAddress], { timeoutMs: 30_000 });
    assert.equal(pingSummary(fromDevice.stdout).received, 0, 'nothing crosses the other way either');
    const neighbour = await execOrThrow(path.peerNamespace, ['ip', '-json', 'neigh', 'show', path.deviceAddress, 'dev', 'veth-lan']);
    assert.ok((JSON.parse(neighbour.stdout) as { lladdr?: string }[])[0]?.lladdr, `ARP resolved through the bridge: ${neighbour.stdout}`);

    // At 50% each way some round trips survive and some do not (all-or-nothing over
    // 100 pings has a probability of about 1e-12).
    await path.setLoss(0.5);
    const half = await ping(100, '0.005');
    assert.ok(half.received > 0 && half.received < 100, `50% each way: ${half.received} of 100 round trips`);
    assert.ok((await path.droppedFrames()) > 0);

    await path.setLoss(0);
    assert.deepEqual(await ping(3, '0.1'), { transmitted: 3, received: 3 }, 'back to no loss');
    await assert.rejects(path.setLoss(1.5), /not in \[0, 1\]/);

    await path.destroy();
    const left = await listNamespaces();
    for (const namespace of [path.deviceNamespace, path.bridgeNamespace, path.peerNamespace]) assert.ok(!left.includes(namespace), `${namespace} removed`);
  });

  it('gives the kernel its own device port, and the kernel answers only there', { skip, timeout: 90_000 }, async (t) => {
    const path = await createLossyPath({ mtu: 1500, prefix: 'pw', kernelPort: true });
    t.after(() => path.destroy());
    assert.deepEqual(path.kernelPort, { interfaceName: 'veth-kdev', address: '198.18.0.3' });
    for (const [namespace, name] of [[path.deviceNamespace, 'veth-kdev'], [path.bridgeNamespace, 'br-kdev']] as const) {
      const [info] = JSON.parse((await execOrThrow(namespace, ['ip', '-json', 'link', 'show', 'dev', name])).stdout) as { mtu: number; master?: string }[];
      assert.equal(info?.mtu, 1500, `${name} MTU`);
      if (namespace === path.bridgeNamespace) assert.equal(info?.master, 'br0', `${name} is a port of br0`);
      assert.match((await execOrThrow(namespace, ['ethtool', '-k', name])).stdout, /^generic-receive-offload: off/m, `${name} GRO`);
    }

    // While the LAN resolves and pings the kernel's address, veth-dev (piwire's, with no
    // address here) answers nothing and carries none of it: the loss section's kernel
    // transfers must not pass through piwire's packet socket.
    const kernelLink = await linkCounters(path.deviceNamespace, 'veth-kdev');
    const before = await linkCounters(path.deviceNamespace, 'veth-dev');
    const ping = await path.execPeer(['ping', '-n', '-q', '-c', '20', '-i', '0.01', '-W', '1', '198.18.0.3'], { timeoutMs: 30_000 });
    assert.deepEqual(pingSummary(ping.stdout), { transmitted: 20, received: 20 });
    const after = await linkCounters(path.deviceNamespace, 'veth-dev');
    assert.equal(after.tx, before.tx, 'veth-dev sent nothing');
    assert.ok(after.rx - before.rx <= 2, `veth-dev saw only the flooded ARP request(s), not the pings: ${after.rx - before.rx} frames`);
    const [neighbour] = JSON.parse((await execOrThrow(path.peerNamespace, ['ip', '-json', 'neigh', 'show', '198.18.0.3', 'dev', 'veth-lan'])).stdout) as { lladdr?: string }[];
    assert.equal(neighbour?.lladdr, kernelLink.address, "the LAN reaches the kernel's address at veth-kdev");
  });
});
