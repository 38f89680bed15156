/**
 * FaultLink on a real link (hal/link/fault.ts): the kernel's TCP against piwire's over a
 * veth pair whose piwire end loses, duplicates and corrupts frames in both directions,
 * the faults a real cable has and that this kernel cannot inject (no `tc netem`).
 *
 * One namespace: the device (test/hal/fixtures/lossy-device.ts: packet link on pwa inside
 * a FaultLink, the firmware's attachStack, echo on port 7) and the kernel on pwb with
 * 198.18.0.1/24. The kernel's client (test/support/clients/echo_bulk.py) sends random
 * bytes through echo and compares digests: every byte must come back, in order, although
 * the wire lost some of each direction's frames. A capture on the kernel's end then shows
 * SACK negotiated both ways and every SACK block the device sent well formed (tshark,
 * good checksums only: tcp.checksum.status 1; a first block at or below the ACK is a
 * D-SACK, RFC 2883), and the device's counters show it repaired its own losses from the
 * kernel's SACK blocks (RFC 6675 recovery). The wait is a hang guard, not a speed
 * limit; counts go to t.diagnostic.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  canUseNamespaces,
  createVethNamespace,
  deleteNamespace,
  FIXTURES,
  LineProcess,
  NETNS_SKIP_REASON,
  REPOSITORY_ROOT,
  type EchoBulkReport,
} from './fixtures/netns.ts';
import { describeResult, exec, runClient } from '../support/netns.ts';
import { startCapture, type Capture } from '../support/capture.ts';

const DEVICE = '198.18.0.2';
const KERNEL = '198.18.0.1';
const BYTES = 1024 * 1024;
/** Per direction, per frame: 3% lost, 1% duplicated, 1% with one bit flipped. */
const FAULTS = { loss: 0.03, duplicate: 0.01, corrupt: 0.01 };

describe('TCP against the kernel through a FaultLink on a veth pair', { skip: canUseNamespaces() ? false : NETNS_SKIP_REASON, timeout: 300_000 }, () => {
  let namespace = '';
  let device: LineProcess | undefined;
  let capture: Capture | undefined;

  before(async () => {
    namespace = createVethNamespace(`${KERNEL}/24`);
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
      await capture?.remove();
      if (namespace) deleteNamespace(namespace);
    }
  });

  it(`echoes ${BYTES / 1024} KiB byte-exact although frames are lost, duplicated and corrupted both ways`, async (t) => {
    capture = await startCapture({ namespace, interfaceName: 'pwb' });
    const { result, report } = await runClient<EchoBulkReport>(namespace, 'echo_bulk.py', [DEVICE, '7', String(BYTES), '--idle-timeout', '60'], { timeoutMs: 240_000 });
    await capture.stop();
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

  it('negotiates SACK both ways and puts only well-formed SACK blocks above the ACK on the wire (RFC 2018, tshark)', async (t) => {
    assert.ok(capture, 'the echo test captured the exchange');
    // Frames the FaultLink corrupted carry bad checksums: only good ones are judged.
    const fields = await sackFields(capture.file);
    const fromDevice = fields.filter((row) => row.source === DEVICE);
    const fromKernel = fields.filter((row) => row.source === KERNEL);
    const synOptions = await synSackPermitted(capture.file);
    t.diagnostic(`segments with SACK blocks: ${fromDevice.length} from the device, ${fromKernel.length} from the kernel; SYNs with SACK-permitted: ${synOptions.join(', ')}`);
    assert.deepEqual(synOptions.sort(), [`${DEVICE} SYN-ACK`, `${KERNEL} SYN`].sort(), 'SACK-permitted on both SYNs');
    assert.ok(fromDevice.length > 0, 'the device reported out-of-order data in SACK blocks');
    let dsacks = 0;
    for (const row of fromDevice) {
      assert.ok(row.blocks.length >= 1 && row.blocks.length <= 4, `1 to 4 blocks: ${row.line}`);
      row.blocks.forEach(([left, right], index) => {
        assert.ok(((right - left) | 0) > 0, `block is not empty: ${row.line}`);
        // RFC 2883 §4: only the first block may be a D-SACK, reporting a duplicate at or below the ACK.
        if (index === 0 && ((right - row.ack) | 0) <= 0) {
          dsacks++;
          return;
        }
        assert.ok(((left - row.ack) | 0) > 0, `block starts above the cumulative ACK: ${row.line}`);
      });
    }
    t.diagnostic(`D-SACK blocks from the device: ${dsacks}`);
  });

  it('repairs its own losses from the kernel\'s SACK blocks (RFC 6675, RACK-TLP) and reads its D-SACKs', async (t) => {
    const running = device!;
    running.child.stdin?.write('stats\n');
    const statsLine = await running.waitForLine((line) => (JSON.parse(line) as { event: string }).event === 'stats', 'the device stats');
    const { stack } = JSON.parse(statsLine) as { stack: Record<string, number> };
    const count = (name: string): number => stack[name] ?? 0;
    t.diagnostic(
      `device: ${count('tcp.sack.recoveries')} SACK recoveries, ${count('tcp.tx.sack-retransmits')} hole retransmissions, ` +
        `${count('tcp.tx.loss-probes')} loss probes, ${count('tcp.tx.recovery-probes')} recovery probes, ${count('tcp.rack.lost-bytes')} bytes marked lost by RACK, ${count('tcp.timeout.rto')} RTOs, ` +
        `${count('tcp.rx.dsack')} D-SACKs received (${count('tcp.tx.spurious-retransmits')} spurious retransmissions), ${count('tcp.rx.sack-invalid')} invalid blocks`,
    );
    assert.ok(count('tcp.sack.recoveries') > 0, 'the device entered SACK-based recovery');
    assert.ok(count('tcp.tx.sack-retransmits') > 0, 'and resent holes the scoreboard chose');
    assert.equal(count('tcp.rx.sack-invalid'), 0, 'the kernel sends no invalid SACK block');
  });
});

interface SackRow {
  source: string;
  ack: number;
  blocks: [number, number][];
  line: string;
}

/** TCP segments with good checksums that carry SACK blocks, with raw sequence numbers. */
async function sackFields(file: string): Promise<SackRow[]> {
  const result = await exec(undefined, [
    'tshark', '-r', file, '-o', 'tcp.check_checksum:TRUE', '-o', 'tcp.relative_sequence_numbers:FALSE',
    '-Y', 'tcp.options.sack_le && tcp.checksum.status == 1', '-T', 'fields', '-E', 'separator=\t',
    '-e', 'ip.src', '-e', 'tcp.ack', '-e', 'tcp.options.sack_le', '-e', 'tcp.options.sack_re',
  ], { timeoutMs: 60_000 });
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.split('\n').filter((line) => line.length > 0).map((line) => {
    const [source = '', ack = '0', lefts = '', rights = ''] = line.split('\t');
    const left = lefts.split(',').map(Number);
    const right = rights.split(',').map(Number);
    return { source, ack: Number(ack) >>> 0, blocks: left.map((value, index): [number, number] => [value >>> 0, (right[index] ?? 0) >>> 0]), line };
  });
}

/** Which SYN and SYN-ACK segments offered SACK-permitted, as "<source> SYN|SYN-ACK". */
async function synSackPermitted(file: string): Promise<string[]> {
  const result = await exec(undefined, [
    'tshark', '-r', file, '-Y', 'tcp.flags.syn == 1 && tcp.option_kind == 4', '-T', 'fields', '-E', 'separator=\t', '-e', 'ip.src', '-e', 'tcp.flags.ack',
  ], { timeoutMs: 60_000 });
  assert.equal(result.code, 0, result.stderr);
  return [...new Set(result.stdout.split('\n').filter((line) => line.length > 0).map((line) => {
    const [source = '', ack = '0'] = line.split('\t');
    return `${source} ${ack === '1' || ack === 'True' ? 'SYN-ACK' : 'SYN'}`;
  }))];
}
