/**
 * FaultLink on a real link (hal/link/fault.ts): the kernel's TCP against piwire's over a
 * veth pair whose piwire end loses, duplicates and corrupts frames in both directions,
 * the faults a real cable has and that this kernel cannot inject (no `tc netem`).
 *
 * One namespace: the device (test/hal/fixtures/lossy-device.ts: packet link on pwa inside
 * a FaultLink, the firmware's attachStack, echo on port 7) and the kernel on pwb with
 * 198.18.0.1/24. The kernel's client (test/support/clients/echo_bulk.py) sends random
 * bytes through echo and compares digests: every byte must come back, in order, although
 * the wire lost some of each direction's frames. The wait is a hang guard, not a speed
 * limit; counts go to t.diagnostic.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  canUseNamespaces,
  createNamespace,
  deleteNamespace,
  execIn,
  FIXTURES,
  ipIn,
  LineProcess,
  NETNS_SKIP_REASON,
  REPOSITORY_ROOT,
} from './fixtures/netns.ts';
import { describeResult, runClient } from '../support/netns.ts';

const DEVICE = '198.18.0.2';
const KERNEL = '198.18.0.1';
const BYTES = 1024 * 1024;
/** Per direction, per frame: 3% lost, 1% duplicated, 1% with one bit flipped. */
const FAULTS = { loss: 0.03, duplicate: 0.01, corrupt: 0.01 };

interface EchoReport {
  sent: number;
  received: number;
  sentSha256: string | null;
  receivedSha256: string | null;
  eof: boolean;
  elapsedSeconds: number | null;
  error: string | null;
}

describe('TCP against the kernel through a FaultLink on a veth pair', { skip: canUseNamespaces() ? false : NETNS_SKIP_REASON, timeout: 300_000 }, () => {
  let namespace = '';
  let device: LineProcess | undefined;

  before(async () => {
    namespace = createNamespace();
    ipIn(namespace, 'link', 'add', 'pwa', 'type', 'veth', 'peer', 'name', 'pwb');
    ipIn(namespace, 'link', 'set', 'pwa', 'up');
    ipIn(namespace, 'link', 'set', 'pwb', 'up');
    ipIn(namespace, 'address', 'add', `${KERNEL}/24`, 'dev', 'pwb');
    // The kernel's veth would leave TCP checksums to an offload that never runs (a
    // packet socket sees them unfinished): it must compute them, as a real NIC's peer does.
    execIn(namespace, 'ethtool', ['-K', 'pwb', 'tx', 'off']);
    device = new LineProcess(
      spawn(
        'ip',
        ['netns', 'exec', namespace, process.execPath, '--import', 'tsx', `${FIXTURES}lossy-device.ts`, 'pwa', `${DEVICE}/24`, String(FAULTS.loss), String(FAULTS.duplicate), String(FAULTS.corrupt), '7'],
        { cwd: REPOSITORY_ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
      ),
    );
    await device.waitForLine((line) => (JSON.parse(line) as { event: string }).event === 'ready', 'the lossy device to be ready');
  });

  after(async () => {
    try {
      device?.child.stdin?.end('close\n');
      await Promise.race([device?.exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    } finally {
      device?.kill();
      if (namespace) deleteNamespace(namespace);
    }
  });

  it(`echoes ${BYTES / 1024} KiB byte-exact although frames are lost, duplicated and corrupted both ways`, async (t) => {
    const { result, report } = await runClient<EchoReport>(namespace, 'echo_bulk.py', [DEVICE, '7', String(BYTES), '--idle-timeout', '60'], { timeoutMs: 240_000 });
    const running = device!;
    running.child.stdin?.write('stats\n');
    const statsLine = await running.waitForLine((line) => (JSON.parse(line) as { event: string }).event === 'stats', 'the device stats');
    const stats = JSON.parse(statsLine) as { link: Record<string, number>; stack: Record<string, number> };
    const evidence = `${describeResult(result)}\nlink ${JSON.stringify(stats.link)}`;
    assert.ok(report, evidence);
    assert.equal(report.error, null, evidence);
    assert.equal(report.sent, BYTES);
    assert.equal(report.received, BYTES, evidence);
    assert.equal(report.receivedSha256, report.sentSha256, 'echoed bytes differ from the bytes sent');
    assert.equal(report.eof, true, 'the echo server closed after our FIN');
    // The faults really happened, in both directions, and TCP repaired them.
    const { link, stack } = stats;
    assert.ok((link['fault.drop.tx-loss'] ?? 0) > 0 && (link['fault.drop.rx-loss'] ?? 0) > 0, `frames lost both ways: ${JSON.stringify(link)}`);
    assert.ok((link['fault.rx.corrupted'] ?? 0) + (link['fault.tx.corrupted'] ?? 0) > 0, 'frames corrupted');
    assert.ok((stack['tcp.tx.retransmits'] ?? 0) > 0, 'the device retransmitted what it lost');
    assert.equal(stack['tcp.drop.internal-error'] ?? 0, 0);
    t.diagnostic(
      `${BYTES} bytes each way in ${report.elapsedSeconds?.toFixed(1)} s; lost tx ${link['fault.drop.tx-loss']} rx ${link['fault.drop.rx-loss']}, ` +
        `duplicated ${(link['fault.tx.duplicated'] ?? 0) + (link['fault.rx.duplicated'] ?? 0)}, corrupted ${(link['fault.tx.corrupted'] ?? 0) + (link['fault.rx.corrupted'] ?? 0)}, ` +
        `device retransmits ${stack['tcp.tx.retransmits']}, checksum drops ${(stack['tcp.drop.bad-checksum'] ?? 0) + (stack['ipv4.drop.bad-checksum'] ?? 0)}`,
    );
  });
});
