/**
 * Segmentation offload against the Linux kernel: piwire's echo service (256 KiB buffers)
 * on a packet link with the offload on (the fixture's plain link, no FaultLink between),
 * the kernel's TCP as the client on a veth pair, a tshark capture on the kernel's side.
 * The device hands the kernel super-segments (`link.tx.super-frames`); what arrives must
 * be what a segment-by-segment sender puts on the wire:
 *   - the echoed bytes are exactly the bytes sent (SHA-256);
 *   - no device packet over the MTU, every data segment at most one MSS (1448 bytes with
 *     timestamps), every one with TSopt, no bad checksum, nothing malformed;
 *   - the kernel's own offloads on the device's interface stay off (software GSO only).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { canUseNamespaces, createVethNamespace, deleteNamespace, execIn, FIXTURES, LineProcess, NETNS_SKIP_REASON, REPOSITORY_ROOT, type EchoBulkReport } from './fixtures/netns.ts';
import { describeResult, runClient } from '../support/netns.ts';
import { analyseCapture, formatAnalysis, startCapture, tsharkRows as rows, type Capture } from '../support/capture.ts';

const DEVICE = '198.18.0.2';
const KERNEL = '198.18.0.1';
const BYTES = 4 * 1024 * 1024;
/** MTU 1500 − 40 bytes of IPv4 and TCP headers − 12 of TSopt. */
const DATA_PER_SEGMENT = 1448;

interface DeviceStats {
  link: Record<string, number>;
  stack: Record<string, number>;
  segmentOffloadFallback: string | null;
}

describe('segmentation offload against the kernel (tshark)', { skip: canUseNamespaces() ? false : NETNS_SKIP_REASON, timeout: 300_000 }, () => {
  let namespace = '';
  let device: LineProcess | undefined;
  let capture: Capture | undefined;

  after(async () => {
    if (device !== undefined) {
      device.child.stdin?.end('close\n');
      await Promise.race([device.exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      device.kill();
    }
    await capture?.remove();
    if (namespace) deleteNamespace(namespace);
  });

  it('bulk out of the device leaves as super-segments and arrives as MSS-sized, checksummed segments, byte-exact', async (t) => {
    namespace = createVethNamespace(`${KERNEL}/24`);
    device = new LineProcess(
      spawn('ip', ['netns', 'exec', namespace, process.execPath, '--import', 'tsx', `${FIXTURES}lossy-device.ts`, 'pwa', `${DEVICE}/24`, '0', '0', '0', '1'], {
        cwd: REPOSITORY_ROOT,
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, PIWIRE_TEST_PLAIN_LINK: '1' },
      }),
    );
    await device.waitForLine((line) => (JSON.parse(line) as { event: string }).event === 'ready', 'the device to be ready');
    capture = await startCapture({ namespace, interfaceName: 'pwb' });
    const { result, report } = await runClient<EchoBulkReport>(namespace, 'echo_bulk.py', [DEVICE, '7', String(BYTES), '--idle-timeout', '60'], { timeoutMs: 240_000 });
    assert.ok(report, describeResult(result));
    assert.equal(report.error, null, describeResult(result));
    assert.equal(report.received, BYTES);
    assert.equal(report.receivedSha256, report.sentSha256, 'echoed bytes differ from the bytes sent');
    await capture.stop();

    device.child.stdin?.write('stats\n');
    const line = await device.waitForLine((text) => (JSON.parse(text) as { event: string }).event === 'stats', 'the device stats');
    const stats = JSON.parse(line) as DeviceStats;
    assert.equal(stats.segmentOffloadFallback, null, 'the kernel took PACKET_VNET_HDR');
    const superFrames = stats.link['link.tx.super-frames'] ?? 0;
    assert.ok(superFrames > 0, 'the stack handed the link super-segments');
    assert.equal(stats.stack['ipv4.tx.super-segments'], superFrames);
    assert.equal(stats.link['link.drop.tx-error'] ?? 0, 0, 'the kernel refused no frame');
    assert.equal(stats.link['link.rx.frames'] ?? 0, stats.stack['ethernet.rx.frames'] ?? 0);
    assert.equal(stats.link['link.drop.own-frame'] ?? 0, 0, 'our own frames do not come back to the receive socket');
    // The interface's offloads are still off: the kernel cut our super-segments in software.
    const features = execIn(namespace, 'ethtool', ['-k', 'pwa']);
    assert.match(features, /\ttx-tcp-segmentation: off/);
    assert.match(features, /\ttx-checksum-ip-generic: off/);

    const analysis = await analyseCapture(capture.file, { deviceAddress: DEVICE, mtu: 1500 });
    t.diagnostic(formatAnalysis(analysis));
    assert.equal(analysis.malformed.length, 0, formatAnalysis(analysis));
    assert.equal(analysis.badChecksumsFromDevice.length, 0, formatAnalysis(analysis));
    assert.equal(analysis.oversizedFromDevice.length, 0, formatAnalysis(analysis));

    const segments = await rows(capture.file, `ip.src == ${DEVICE} && tcp.len > 0`, ['tcp.len', 'tcp.options.timestamp.tsval', 'tcp.checksum.status', 'tcp.flags.push']);
    const lengths = segments.map((row) => Number(row[0]));
    const total = lengths.reduce((sum, length) => sum + length, 0);
    t.diagnostic(`device data segments ${segments.length}, ${total} bytes, from ${superFrames} super-segments and the single segments between`);
    assert.ok(total >= BYTES, `the capture holds the echo (${total} bytes)`);
    assert.ok(lengths.every((length) => length <= DATA_PER_SEGMENT), `no data segment over ${DATA_PER_SEGMENT} bytes`);
    assert.ok(lengths.filter((length) => length === DATA_PER_SEGMENT).length > segments.length / 2, 'mostly full segments');
    for (const row of segments) {
      assert.notEqual(row[1], '', 'every data segment carries TSopt (copied into each piece)');
      assert.equal(row[2], '1', `tshark verified the TCP checksum (status 1 = good): ${row.join(' ')}`);
    }
  });
});
