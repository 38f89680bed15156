/**
 * Receive offload against the Linux kernel: piwire's echo service on a packet link (the
 * fixture's plain link) whose interface has GRO on, the kernel's TCP as the client on a
 * veth pair. With GRO on (a veth gets NAPI, and so GRO, with `gro on`) the kernel merges
 * the client's in-order segments before a packet socket sees them, as a Pi 4's NIC driver
 * does by default, and as it does for a macvlan whatever the macvlan asks (its parent
 * merges before the macvlan sees the frame: the default install layout,
 * deploy/interfaces/README.md). A PACKET_MMAP ring's fixed frames would cut those merged
 * frames (`link.drop.truncated`, the data lost); the link must take them whole:
 *   - the link keeps GRO, sees that the interface merges and receives with recvmsg;
 *   - merged frames arrive (`link.rx.merged-frames`), none cut, none with a bad checksum;
 *   - the echoed bytes are exactly the bytes sent (SHA-256);
 *   - a merged frame's partial checksum (the kernel leaves only the pseudo-header sum in
 *     it) is completed by the addon: the stack's own check passes it when a wrapper link
 *     drops the checksum mark.
 */
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { canUseNamespaces, createVethNamespace, deleteNamespace, execIn, FIXTURES, ipIn, LineProcess, NETNS_SKIP_REASON, REPOSITORY_ROOT, type EchoBulkReport } from './fixtures/netns.ts';
import { describeResult, runClient } from '../support/netns.ts';

const DEVICE = '198.18.0.2';
const KERNEL = '198.18.0.1';
const BYTES = 8 * 1024 * 1024;

interface DeviceStats {
  link: Record<string, number>;
  stack: Record<string, number>;
  receiveMode: string;
  mergesReceived: boolean;
  groReport: string | null;
}

describe('receive offload against the kernel (GRO-merged frames)', { skip: canUseNamespaces() ? false : NETNS_SKIP_REASON, timeout: 300_000 }, () => {
  const namespaces: string[] = [];
  let device: LineProcess | undefined;

  async function stopDevice(): Promise<void> {
    if (device === undefined) return;
    device.child.stdin?.end('close\n');
    await Promise.race([device.exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    device.kill();
    device = undefined;
  }

  afterEach(stopDevice);
  after(async () => {
    await stopDevice();
    for (const namespace of namespaces) deleteNamespace(namespace);
  });

  /**
   * The device on `interfaceName`, an echo of BYTES from the kernel, and the device's stats
   * after it. `wrapped`: the stack behind the fixture's FaultLink (no faults), which drops
   * the link's checksum mark, so TCP sums every segment itself.
   */
  async function echoThrough(namespace: string, interfaceName: string, wrapped = false): Promise<DeviceStats> {
    device = new LineProcess(
      spawn('ip', ['netns', 'exec', namespace, process.execPath, '--import', 'tsx', `${FIXTURES}lossy-device.ts`, interfaceName, `${DEVICE}/24`, '0', '0', '0', '1'], {
        cwd: REPOSITORY_ROOT,
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, PIWIRE_TEST_PLAIN_LINK: wrapped ? '0' : '1', PIWIRE_TEST_DIAG_BUFFER: String(256 * 1024) },
      }),
    );
    await device.waitForLine((line) => (JSON.parse(line) as { event: string }).event === 'ready', 'the device to be ready');
    const { result, report } = await runClient<EchoBulkReport>(namespace, 'echo_bulk.py', [DEVICE, '7', String(BYTES), '--idle-timeout', '60'], { timeoutMs: 240_000 });
    assert.ok(report, describeResult(result));
    assert.equal(report.error, null, describeResult(result));
    assert.equal(report.received, BYTES);
    assert.equal(report.receivedSha256, report.sentSha256, 'echoed bytes differ from the bytes sent');
    device.child.stdin?.write('stats\n');
    const line = await device.waitForLine((text) => (JSON.parse(text) as { event: string }).event === 'stats', 'the device stats');
    return JSON.parse(line) as DeviceStats;
  }

  function assertMergedFramesTakenWhole(stats: DeviceStats): void {
    assert.equal(stats.receiveMode, 'recvmsg', 'a merging interface is received with recvmsg');
    assert.equal(stats.mergesReceived, true);
    assert.ok((stats.link['link.rx.merged-frames'] ?? 0) > 0, `the kernel merged segments (${JSON.stringify(stats.link)})`);
    assert.equal(stats.link['link.drop.truncated'] ?? 0, 0, 'no frame was cut');
    assert.equal(stats.stack['tcp.drop.bad-checksum'] ?? 0, 0, 'the kernel vouched for every merged checksum');
    assert.equal(stats.link['link.rx.frames'] ?? 0, stats.stack['ethernet.rx.frames'] ?? 0);
  }

  it('a veth with GRO on: the link keeps it, and the merged frames arrive whole; the echo is byte-exact', async (t) => {
    const namespace = createVethNamespace(`${KERNEL}/24`);
    namespaces.push(namespace);
    execIn(namespace, 'ethtool', ['-K', 'pwa', 'gro', 'on']);
    const stats = await echoThrough(namespace, 'pwa');
    t.diagnostic(`merged frames ${stats.link['link.rx.merged-frames']}, frames ${stats.link['link.rx.frames']}, bytes ${stats.link['link.rx.bytes']}`);
    assert.equal(stats.groReport, 'kept');
    assert.match(execIn(namespace, 'ethtool', ['-k', 'pwa']), /generic-receive-offload: on/, 'the link left GRO on');
    assertMergedFramesTakenWhole(stats);
  });

  it('a macvlan whose parent merges (the default install layout): merged frames arrive whole; the echo is byte-exact', async (t) => {
    const namespace = createVethNamespace(`${KERNEL}/24`);
    namespaces.push(namespace);
    execIn(namespace, 'ethtool', ['-K', 'pwa', 'gro', 'on']);
    ipIn(namespace, 'link', 'add', 'link', 'pwa', 'name', 'pwm', 'type', 'macvlan', 'mode', 'bridge');
    ipIn(namespace, 'link', 'set', 'pwm', 'up');
    // What the installer's `ethtool -K gro off` gets on a macvlan: asked off, still on
    // (ethtool exits 1, "Could not change any device features", as the installer tolerates).
    execIn(namespace, 'sh', ['-c', 'ethtool -K pwm gro off || true']);
    assert.match(execIn(namespace, 'ethtool', ['-k', 'pwm']), /generic-receive-offload: on \[requested off\]/);
    const stats = await echoThrough(namespace, 'pwm');
    t.diagnostic(`merged frames ${stats.link['link.rx.merged-frames']}, frames ${stats.link['link.rx.frames']}`);
    assertMergedFramesTakenWhole(stats);
  });

  it('behind a wrapper that drops the checksum mark, the stack\'s own check passes the merged frames (the addon completed their checksums)', async () => {
    const namespace = createVethNamespace(`${KERNEL}/24`);
    namespaces.push(namespace);
    execIn(namespace, 'ethtool', ['-K', 'pwa', 'gro', 'on']);
    const stats = await echoThrough(namespace, 'pwa', true);
    assertMergedFramesTakenWhole(stats);
  });
});
