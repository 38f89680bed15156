/**
 * Self-test of the integration-test infrastructure against the Linux kernel alone:
 * the topology helpers, the Python clients, the capture analysis and the firmware
 * process wrapper. Where the firmware would sit, the kernel itself plays the device
 * (198.18.0.2 given to veth-dev for that test only), so a failure here is in the
 * infrastructure, never in the firmware.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  canUseNetns,
  createTapTopology,
  createTopology,
  describeResult,
  exec,
  execOrThrow,
  listNamespaces,
  runClient,
  spawnInNamespace,
  SYSTEM_PYTHON,
  CLIENTS_DIRECTORY,
  type VethTopology,
} from '../support/netns.ts';
import { analyseCapture, formatAnalysis, startCapture } from '../support/capture.ts';
import { startFirmware } from '../support/firmware-process.ts';

const availability = canUseNetns();
const skip = availability.ok ? false : `integration: needs root and network namespaces: ${availability.reason}`;

interface AddressInfo {
  ifname: string;
  mtu: number;
  operstate: string;
  addr_info: { family: string; local: string; prefixlen: number }[];
}

async function addresses(namespace: string, interfaceName: string): Promise<AddressInfo> {
  const result = await execOrThrow(namespace, ['ip', '-json', 'address', 'show', 'dev', interfaceName]);
  const [info] = JSON.parse(result.stdout) as AddressInfo[];
  assert.ok(info, `no ${interfaceName} in ${namespace}`);
  return info;
}

async function offloadState(namespace: string, interfaceName: string): Promise<Map<string, string>> {
  const result = await execOrThrow(namespace, ['ethtool', '-k', interfaceName]);
  const features = new Map<string, string>();
  for (const line of result.stdout.split('\n')) {
    const match = /^\s*([a-z0-9-]+): (on|off)/.exec(line);
    if (match?.[1] && match[2]) features.set(match[1], match[2]);
  }
  return features;
}

describe('netns topology (veth)', () => {
  it('builds two namespaces joined by a veth, kernel address on the LAN side only', { skip, timeout: 60_000 }, async (t) => {
    const topology = await createTopology({ mtu: 576, prefix: 'pw', after: (fn) => t.after(fn) });
    assert.match(topology.deviceNamespace, /^pw-dev-[0-9a-f]{6}$/);
    assert.match(topology.peerNamespace, /^pw-lan-[0-9a-f]{6}$/);
    assert.equal(topology.linkSpec, 'packet:veth-dev');
    assert.deepEqual(topology.firmwareArgs(), ['--link', 'packet:veth-dev', '--ip', '198.18.0.2/24', '--gateway', '198.18.0.1', '--mtu', '576']);
    const namespaces = await listNamespaces();
    assert.ok(namespaces.includes(topology.deviceNamespace) && namespaces.includes(topology.peerNamespace));

    const device = await addresses(topology.deviceNamespace, 'veth-dev');
    const lan = await addresses(topology.peerNamespace, 'veth-lan');
    assert.equal(device.mtu, 576);
    assert.equal(lan.mtu, 576);
    assert.equal(lan.operstate, 'UP');
    // The firmware owns the device side: the kernel holds no address there, not even IPv6 link-local.
    assert.deepEqual(device.addr_info, []);
    assert.ok(
      lan.addr_info.some((a) => a.family === 'inet' && a.local === '198.18.0.1' && a.prefixlen === 24),
      JSON.stringify(lan.addr_info),
    );
    for (const [namespace, name] of [[topology.deviceNamespace, 'veth-dev'], [topology.peerNamespace, 'veth-lan']] as const) {
      const features = await offloadState(namespace, name);
      for (const feature of ['tx-checksumming', 'rx-checksumming', 'tcp-segmentation-offload', 'generic-segmentation-offload', 'generic-receive-offload']) {
        assert.equal(features.get(feature), 'off', `${name} ${feature}`);
      }
    }
    t.diagnostic(`offloads that could not change: ${topology.offloads.unchangeable.join(', ') || 'none'}`);

    await topology.destroy();
    await topology.destroy(); // idempotent
    const after = await listNamespaces();
    assert.ok(!after.includes(topology.deviceNamespace) && !after.includes(topology.peerNamespace), after.join(' '));
  });

  it('runs commands in a namespace with a bounded time', { skip, timeout: 30_000 }, async (t) => {
    const topology = await createTopology({ mtu: 1500, after: (fn) => t.after(fn) });
    const echoed = await exec(topology.peerNamespace, ['cat'], { input: 'through stdin\n' });
    assert.equal(echoed.code, 0);
    assert.equal(echoed.stdout, 'through stdin\n');
    const slow = await exec(topology.peerNamespace, ['sleep', '30'], { timeoutMs: 300 });
    assert.equal(slow.timedOut, true);
    assert.equal(slow.signal, 'SIGKILL');
    const missing = await exec(topology.peerNamespace, ['/nonexistent/command']);
    assert.notEqual(missing.code, 0);
    await assert.rejects(execOrThrow(topology.peerNamespace, ['false']), /exited with status 1/);
  });
});

describe('kernel as the device (infrastructure check)', () => {
  let topology: VethTopology | undefined;
  let stopServer: (() => void) | undefined;
  let setupError: unknown;

  before(async () => {
    if (skip) return;
    try {
      topology = await createTopology({ mtu: 576 });
      // The throwaway hack this self-test exists for: give the device side an address so
      // the kernel answers where the firmware normally would.
      await execOrThrow(topology.deviceNamespace, ['ip', 'address', 'add', '198.18.0.2/24', 'dev', 'veth-dev']);
      const server = spawnInNamespace(topology.deviceNamespace, [SYSTEM_PYTHON, CLIENTS_DIRECTORY + 'kernel_diag_server.py']);
      stopServer = () => server.kill('SIGKILL');
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('kernel_diag_server.py did not start')), 15_000);
        server.stdout?.once('data', () => {
          clearTimeout(timer);
          resolve();
        });
        server.once('close', () => reject(new Error('kernel_diag_server.py exited')));
      });
    } catch (error) {
      setupError = error;
    }
  });
  after(async () => {
    stopServer?.();
    await topology?.destroy();
  });
  const ready = (): VethTopology => {
    if (setupError) throw setupError;
    assert.ok(topology);
    return topology;
  };

  it('pings, echoes, discards, opens many connections and talks nc, with a clean capture', { skip, timeout: 300_000 }, async (t) => {
    const topo = ready();
    // Every step has its own bound, and together they stay under the test's: a stuck step
    // fails with its own evidence, and the diagnostics say how far the test got.
    const started = performance.now();
    const step = async <T>(name: string, work: Promise<T>): Promise<T> => {
      const value = await work;
      t.diagnostic(`${name} done at ${Math.round(performance.now() - started)} ms`);
      return value;
    };
    const capture = await step('capture start', startCapture({ namespace: topo.peerNamespace, interfaceName: topo.peerInterface }));
    t.after(() => capture.remove());

    const ping = await step('ping', topo.execPeer(['ping', '-c', '3', '-i', '0.2', '-W', '2', '198.18.0.2'], { timeoutMs: 20_000 }));
    assert.equal(ping.code, 0, describeResult(ping));

    const echo = await step('echo', runClient<{ sent: number; received: number; sentSha256: string; receivedSha256: string; eof: boolean }>(
      topo.peerNamespace, 'echo_bulk.py', ['198.18.0.2', '7', String(2 * 1024 * 1024), '--idle-timeout', '20'], { timeoutMs: 30_000 }));
    assert.equal(echo.result.code, 0, describeResult(echo.result));
    assert.equal(echo.report?.received, 2 * 1024 * 1024);
    assert.equal(echo.report?.receivedSha256, echo.report?.sentSha256);

    const discard = await step('discard', runClient<{ sent: number; received: number; eof: boolean; unacknowledged: number }>(
      topo.peerNamespace, 'discard_push.py', ['198.18.0.2', '9', String(8 * 1024 * 1024), '--idle-timeout', '20'], { timeoutMs: 30_000 }));
    assert.equal(discard.result.code, 0, describeResult(discard.result));
    assert.deepEqual([discard.report?.sent, discard.report?.received, discard.report?.eof, discard.report?.unacknowledged], [8 * 1024 * 1024, 0, true, 0]);

    const many = await step('200 connections', runClient<{ succeeded: number; failures: unknown[] }>(
      topo.peerNamespace, 'echo_many.py', ['198.18.0.2', '7', '200', '--deadline', '25'], { timeoutMs: 30_000 }));
    assert.equal(many.result.code, 0, describeResult(many.result));
    assert.equal(many.report?.succeeded, 200);

    const nc = await step('nc', topo.execPeer(['nc', '-N', '-w', '10', '198.18.0.2', '7'], { input: 'hello from nc\n', timeoutMs: 20_000 }));
    assert.equal(nc.stdout, 'hello from nc\n', describeResult(nc));

    const stopped = await step('capture stop', capture.stop());
    const analysis = await step('capture analysis', analyseCapture(capture.file, { deviceAddress: '198.18.0.2', mtu: 576, timeoutMs: 60_000 }));
    t.diagnostic(formatAnalysis(analysis));
    t.diagnostic(`capture: ${stopped.summary}`);
    assert.ok(analysis.packetsFromDevice > 1000, formatAnalysis(analysis));
    assert.deepEqual(analysis.malformed, []);
    assert.deepEqual(analysis.badChecksumsFromDevice, []);
    assert.deepEqual(analysis.oversizedFromDevice, []);
  });

  it('sees replies to the control probe and none to foreign frames (scapy)', { skip, timeout: 60_000 }, async () => {
    const topo = ready();
    const macResult = await execOrThrow(topo.deviceNamespace, ['cat', '/sys/class/net/veth-dev/address']);
    const probe = await runClient<{ probes: Record<string, { expectReply: boolean; replies: string[] }> }>(
      topo.peerNamespace,
      'foreign_frames.py',
      ['--iface', 'veth-lan', '--device-mac', macResult.stdout.trim(), '--device-ip', '198.18.0.2', '--own-ip', '198.18.0.1', '--wait', '1'],
      { timeoutMs: 45_000 },
    );
    assert.equal(probe.result.code, 0, probe.result.stdout + probe.result.stderr);
    const probes = probe.report?.probes ?? {};
    assert.equal(Object.keys(probes).length, 9);
    for (const [name, outcome] of Object.entries(probes)) {
      if (outcome.expectReply) assert.ok(outcome.replies.length > 0, `${name}: no reply`);
      else assert.deepEqual(outcome.replies, [], name);
    }
  });

  it('finds bad checksums and malformed packets from the device in a capture', { skip, timeout: 60_000 }, async (t) => {
    const topo = ready();
    const capture = await startCapture({ namespace: topo.peerNamespace, interfaceName: topo.peerInterface });
    t.after(() => capture.remove());
    // Sent from the device side, so they reach veth-lan as if the firmware had sent them.
    const script = [
      'from scapy.all import *',
      'conf.verb = 0',
      "base = Ether(dst='ff:ff:ff:ff:ff:ff') / IP(src='198.18.0.2', dst='198.18.0.1')",
      "sendp(base / TCP(sport=7, dport=40000, flags='A', chksum=0x1234) / Raw(b'bad tcp checksum'), iface='veth-dev')",
      "sendp(base / ICMP(type=0, chksum=0x5555), iface='veth-dev')",
      "sendp(Ether(dst='ff:ff:ff:ff:ff:ff') / IP(src='198.18.0.2', dst='198.18.0.1', chksum=0x1111) / ICMP(type=0), iface='veth-dev')",
      // A TCP header cut short: malformed.
      "sendp(Ether(dst='ff:ff:ff:ff:ff:ff') / IP(src='198.18.0.2', dst='198.18.0.1', proto=6) / Raw(b'\\x00\\x07\\x9c\\x40\\x00\\x00'), iface='veth-dev')",
      // Bad checksum from someone else: counted apart.
      "sendp(Ether(dst='ff:ff:ff:ff:ff:ff') / IP(src='198.18.0.9', dst='198.18.0.1') / TCP(sport=1, dport=2, chksum=0x4321), iface='veth-dev')",
      // Checksum 0xFFFF where 0x0000 is computed (one's-complement zero, RFC 1624):
      // the payload's last word is chosen so that the true checksum is exactly 0x0000.
      "probe = base / TCP(sport=7, dport=40001, flags='A') / Raw(b'ab\\x00\\x00')",
      'word = IP(raw(probe[IP]))[TCP].chksum',
      "sendp(base / TCP(sport=7, dport=40001, flags='A', chksum=0xffff) / Raw(b'ab' + word.to_bytes(2, 'big')), iface='veth-dev')",
      // Exactly the MTU: not oversized. (A veth drops longer frames before the capture
      // sees them; the oversized check matters on a TAP, which takes any length.)
      "sendp(base / ICMP(type=0) / Raw(b'x' * (576 - 28)), iface='veth-dev')",
    ].join('\n');
    await execOrThrow(topo.deviceNamespace, [SYSTEM_PYTHON, '-c', script], { timeoutMs: 30_000 });
    await capture.stop();
    const analysis = await analyseCapture(capture.file, { deviceAddress: '198.18.0.2', mtu: 576 });
    t.diagnostic(formatAnalysis(analysis));
    assert.equal(analysis.malformed.length, 1, formatAnalysis(analysis));
    assert.equal(analysis.badChecksumsFromDevice.length, 3, formatAnalysis(analysis));
    assert.equal(analysis.badChecksumsFromOthers, 1);
    assert.equal(analysis.negativeZeroChecksumsFromDevice.length, 1, formatAnalysis(analysis));
    assert.deepEqual(analysis.oversizedFromDevice, []);
    assert.equal(analysis.packetsFromDevice, 6, formatAnalysis(analysis));
  });
});

describe('netns topology (tap)', () => {
  it('configures the kernel side of a TAP once it exists', { skip, timeout: 60_000 }, async (t) => {
    const topology = await createTapTopology({ mtu: 576, after: (fn) => t.after(fn) });
    assert.equal(topology.deviceNamespace, topology.peerNamespace);
    assert.equal(topology.linkSpec, 'tap:pwtap0');
    // Stands in for the firmware, which creates the TAP itself when it opens tap:pwtap0.
    const attached = topology.attachPeer({ timeoutMs: 10_000 });
    await execOrThrow(topology.deviceNamespace, ['ip', 'tuntap', 'add', 'dev', 'pwtap0', 'mode', 'tap']);
    await attached;
    const info = await addresses(topology.deviceNamespace, 'pwtap0');
    assert.equal(info.mtu, 576);
    assert.ok(info.addr_info.some((a) => a.family === 'inet' && a.local === '198.18.1.1' && a.prefixlen === 24), JSON.stringify(info.addr_info));
    await topology.destroy();
    assert.ok(!(await listNamespaces()).includes(topology.deviceNamespace));
  });

  it('gives up waiting for a TAP that never appears', { skip, timeout: 30_000 }, async (t) => {
    const topology = await createTapTopology({ mtu: 1500, after: (fn) => t.after(fn) });
    await assert.rejects(topology.attachPeer({ timeoutMs: 300 }), /did not create pwtap0/);
  });
});

describe('firmware process wrapper (stand-in firmware)', () => {
  let directory: string;
  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'pw-fake-firmware-'));
  });
  after(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  async function fakeFirmware(name: string, body: string): Promise<string> {
    const file = join(directory, name);
    await writeFile(file, body);
    return file;
  }

  it('parses JSON log lines, resolves ready and waits for later events', { timeout: 30_000 }, async (t) => {
    const entry = await fakeFirmware('talks.mjs', [
      "const log = (event, fields = {}) => console.log(JSON.stringify({ ts: Date.now(), level: 'info', event, ...fields }));",
      "console.log('not json at all');",
      "log('link', { carrier: 'up' });",
      "log('ready', { ip: '198.18.0.2', mac: '02:00:00:00:00:02', mtu: 1500, ports: [7, 9, 19], args: process.argv.slice(2) });",
      "setTimeout(() => log('conn_open', { id: 1 }), 50);",
      "process.on('SIGTERM', () => { log('stopping'); process.exit(0); });",
      'setInterval(() => undefined, 1000);',
    ].join('\n'));
    const firmware = startFirmware({ namespace: undefined, args: ['--diag'], entry, after: (fn) => t.after(fn) });
    const ready = await firmware.ready;
    assert.equal(ready.mac, '02:00:00:00:00:02');
    assert.deepEqual(ready.args, ['run', '--diag']);
    const opened = await firmware.waitForEvent('conn_open', (line) => line.id === 1, 5_000);
    assert.equal(opened.id, 1);
    assert.equal((await firmware.waitForEvent('link')).carrier, 'up'); // already seen
    assert.deepEqual(firmware.nonJsonLines, ['not json at all']);
    const status = await firmware.stop();
    assert.deepEqual(status, { code: 0, signal: null });
    assert.equal(firmware.events('stopping').length, 1);
  });

  it('rejects ready with the stderr of a firmware that dies first', { timeout: 30_000 }, async (t) => {
    const entry = await fakeFirmware('dies.mjs', "console.error('cannot open packet:veth-dev: no such device'); process.exit(3);");
    const firmware = startFirmware({ namespace: undefined, args: [], entry, after: (fn) => t.after(fn) });
    await assert.rejects(firmware.ready, /status 3[\s\S]*cannot open packet:veth-dev/);
    await assert.rejects(firmware.waitForEvent('conn_open'), /has exited/);
  });

  it('times out waiting for an event that never comes, and kills a firmware that ignores SIGTERM', { timeout: 30_000 }, async (t) => {
    const entry = await fakeFirmware('stubborn.mjs', [
      "process.on('SIGTERM', () => undefined);",
      "console.log(JSON.stringify({ ts: 0, level: 'info', event: 'ready', ip: 'x', mac: 'y', mtu: 1, ports: [] }));",
      'setInterval(() => undefined, 1000);',
    ].join('\n'));
    const firmware = startFirmware({ namespace: undefined, args: [], entry, after: (fn) => t.after(fn) });
    await firmware.ready;
    await assert.rejects(firmware.waitForEvent('never', undefined, 200), /no "never" event within 200 ms/);
    const status = await firmware.stop();
    assert.equal(status.signal, 'SIGKILL');
  });
});
