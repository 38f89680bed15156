/**
 * RFC 7323 against the kernel's TCP: window scaling, timestamps and SACK negotiated
 * between the Linux kernel (client) and piwire's echo service (256 KiB buffers, so a
 * window scale of 3) on a clean veth pair, judged in a tshark capture:
 *
 *   - both SYNs carry SACK-permitted, timestamps and window scale; ours in Linux's
 *     layout (MSS, SACK-permitted, TSopt, NOP, window scale);
 *   - no malformed packet, no bad checksum from the device;
 *   - every later device segment carries TSopt, TSval never goes back, TSecr is a
 *     TSval the kernel sent; tshark applies our scale factor (8) and the kernel's, and
 *     both sides' windows grow past 64 KiB;
 *
 * then the throughput of a larger echo with the 256 KiB window, and the same with the
 * old shape (16 KiB buffers, no RFC 7323), printed with t.diagnostic: a report, not a
 * limit. One namespace, the device of test/hal/fixtures/lossy-device.ts without faults.
 */
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { canUseNamespaces, createVethNamespace, deleteNamespace, FIXTURES, LineProcess, NETNS_SKIP_REASON, REPOSITORY_ROOT, type EchoBulkReport } from './fixtures/netns.ts';
import { describeResult, runClient } from '../support/netns.ts';
import { analyseCapture, formatAnalysis, startCapture, tsharkRows as rows, type Capture } from '../support/capture.ts';

const DEVICE = '198.18.0.2';
const KERNEL = '198.18.0.1';
const CAPTURED_BYTES = 1024 * 1024;
const MEASURED_BYTES = 16 * 1024 * 1024;
const KIB = 1024;

describe('RFC 7323 and SACK against the kernel (tshark)', { skip: canUseNamespaces() ? false : NETNS_SKIP_REASON, timeout: 300_000 }, () => {
  let namespace = '';
  let device: LineProcess | undefined;
  let capture: Capture | undefined;

  function setUp(): void {
    if (namespace !== '') return;
    namespace = createVethNamespace(`${KERNEL}/24`);
  }

  async function startDevice(environment: Record<string, string>): Promise<LineProcess> {
    setUp();
    const started = new LineProcess(
      spawn('ip', ['netns', 'exec', namespace, process.execPath, '--import', 'tsx', `${FIXTURES}lossy-device.ts`, 'pwa', `${DEVICE}/24`, '0', '0', '0', '7'], {
        cwd: REPOSITORY_ROOT,
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, ...environment },
      }),
    );
    device = started;
    await started.waitForLine((line) => (JSON.parse(line) as { event: string }).event === 'ready', 'the device to be ready');
    return started;
  }

  async function stopDevice(): Promise<void> {
    const running = device;
    device = undefined;
    if (running === undefined) return;
    running.child.stdin?.end('close\n');
    await Promise.race([running.exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    running.kill();
  }

  async function echo(bytes: number): Promise<EchoBulkReport> {
    const { result, report } = await runClient<EchoBulkReport>(namespace, 'echo_bulk.py', [DEVICE, '7', String(bytes), '--idle-timeout', '60'], { timeoutMs: 240_000 });
    assert.ok(report, describeResult(result));
    assert.equal(report.error, null, describeResult(result));
    assert.equal(report.received, bytes);
    assert.equal(report.receivedSha256, report.sentSha256, 'echoed bytes differ from the bytes sent');
    return report;
  }

  afterEach(async () => {
    await stopDevice();
  });

  after(async () => {
    await capture?.remove();
    if (namespace) deleteNamespace(namespace);
  });

  it('negotiates window scaling, timestamps and SACK, and uses them correctly on the wire', async (t) => {
    await startDevice({});
    capture = await startCapture({ namespace, interfaceName: 'pwb' });
    await echo(CAPTURED_BYTES);
    await capture.stop();
    // A clean link has no old duplicates: PAWS must not have dropped anything, and every
    // kernel segment carried its timestamp.
    const stack = await deviceCounters(device!);
    assert.equal(stack['tcp.drop.paws'] ?? 0, 0, 'PAWS dropped segments of a clean transfer');
    assert.equal(stack['tcp.rx.missing-timestamp'] ?? 0, 0);
    assert.equal(stack['tcp.rx.trimmed'] ?? 0, 0, 'the kernel sent nothing beyond our window');

    const analysis = await analyseCapture(capture.file, { deviceAddress: DEVICE, mtu: 1500 });
    t.diagnostic(formatAnalysis(analysis));
    assert.equal(analysis.malformed.length, 0, formatAnalysis(analysis));
    assert.equal(analysis.badChecksumsFromDevice.length, 0, formatAnalysis(analysis));

    const syns = await rows(capture.file, 'tcp.flags.syn == 1', ['ip.src', 'tcp.flags.ack', 'tcp.option_kind', 'tcp.options.wscale.shift']);
    const kernelSyn = syns.find((row) => row[0] === KERNEL && row[1] !== '1' && row[1] !== 'True');
    const deviceSynAck = syns.find((row) => row[0] === DEVICE);
    assert.ok(kernelSyn && deviceSynAck, `SYN and SYN-ACK captured: ${JSON.stringify(syns)}`);
    for (const kind of ['3', '4', '8']) assert.ok(kernelSyn[2]!.split(',').includes(kind), `the kernel's SYN offers option ${kind}: ${kernelSyn[2]}`);
    assert.equal(deviceSynAck[2], '2,4,8,1,3', "the SYN-ACK's options in Linux's layout: MSS, SACK-permitted, TSopt, NOP, window scale");
    assert.equal(deviceSynAck[3], '3', 'window scale 3 for a 256 KiB receive buffer');
    const kernelShift = Number(kernelSyn[3]);

    const segments = await rows(capture.file, 'tcp && tcp.flags.syn == 0 && tcp.flags.reset == 0', [
      'ip.src', 'tcp.options.timestamp.tsval', 'tcp.options.timestamp.tsecr', 'tcp.window_size_value', 'tcp.window_size', 'tcp.window_size_scalefactor',
    ]);
    const fromDevice = segments.filter((row) => row[0] === DEVICE);
    const fromKernel = segments.filter((row) => row[0] === KERNEL);
    const kernelTsvals = new Set(fromKernel.map((row) => row[1]));
    // The SYN's TSval can be echoed too (by the first ACK).
    const kernelSynTs = await rows(capture.file, `tcp.flags.syn == 1 && ip.src == ${KERNEL}`, ['tcp.options.timestamp.tsval']);
    for (const row of kernelSynTs) kernelTsvals.add(row[0]);
    let previous: number | undefined;
    let deviceWindowMax = 0;
    let kernelWindowMax = 0;
    for (const row of fromDevice) {
      assert.ok(row[1] !== '' && row[2] !== '', `every device segment carries TSopt: ${row.join(' ')}`);
      const tsval = Number(row[1]) >>> 0;
      if (previous !== undefined) assert.ok(((tsval - previous) | 0) >= 0, `TSval went back: ${previous} → ${tsval}`);
      previous = tsval;
      assert.ok(kernelTsvals.has(row[2]), `TSecr ${row[2]} echoes a TSval the kernel sent`);
      assert.equal(row[5], '8', 'tshark scales our windows by 2^3');
      assert.equal(Number(row[4]), Number(row[3]) * 8);
      deviceWindowMax = Math.max(deviceWindowMax, Number(row[4]));
    }
    for (const row of fromKernel) {
      assert.equal(Number(row[5]), 2 ** kernelShift, "the kernel's scale factor");
      kernelWindowMax = Math.max(kernelWindowMax, Number(row[4]));
    }
    t.diagnostic(
      `device segments ${fromDevice.length}, kernel segments ${fromKernel.length}; kernel wscale ${kernelShift}; ` +
        `largest window advertised by the device ${deviceWindowMax}, by the kernel ${kernelWindowMax}`,
    );
    assert.ok(deviceWindowMax > 0xffff, `the device advertised more than 64 KiB (${deviceWindowMax})`);
    assert.ok(kernelWindowMax > 0xffff, `the kernel advertised more than 64 KiB (${kernelWindowMax})`);
  });

  it(`reports echo throughput of ${MEASURED_BYTES / 1024 / 1024} MiB each way: 256 KiB window vs 16 KiB without RFC 7323`, async (t) => {
    const shapes: [string, Record<string, string>][] = [
      ['256 KiB buffers, window scaling + timestamps + SACK', {}],
      ['16 KiB buffers, no window scaling, no timestamps (the old shape)', { PIWIRE_TEST_DIAG_BUFFER: String(16 * KIB), PIWIRE_TEST_TCP: JSON.stringify({ windowScale: false, timestamps: false }) }],
    ];
    for (const [name, environment] of shapes) {
      await startDevice(environment);
      const report = await echo(MEASURED_BYTES);
      const stack = await deviceCounters(device!);
      await stopDevice();
      assert.equal(stack['tcp.drop.paws'] ?? 0, 0, `${name}: PAWS dropped segments of a clean transfer`);
      const seconds = report.elapsedSeconds ?? NaN;
      t.diagnostic(`${name}: ${MEASURED_BYTES} bytes each way in ${seconds.toFixed(2)} s = ${((MEASURED_BYTES * 8) / seconds / 1e6).toFixed(0)} Mbit/s each way`);
    }
  });
});

/** The device's stack counters (the fixture's "stats" line). */
async function deviceCounters(device: LineProcess): Promise<Record<string, number>> {
  device.child.stdin?.write('stats\n');
  const line = await device.waitForLine((text) => (JSON.parse(text) as { event: string }).event === 'stats', 'the device stats');
  return (JSON.parse(line) as { stack: Record<string, number> }).stack;
}
