/**
 * The sensor line protocol (SPEC §4) against the Linux kernel (issue 5): the firmware
 * in one network namespace serving TCP 7070, kernel-socket clients in the other.
 *
 * - nc (netcat-openbsd) sends a small session and gets the exact replies;
 * - sensor_client.py pipelines a whole script (HELLO, PUTs, GET, LIST, PING, QUIET,
 *   TIME, bad lines, an over-long line) in one write and checks every reply in order;
 * - slow_subscriber.py subscribes with a tiny SO_RCVBUF and stops reading while its
 *   publishers flood matching readings: the kernel's window closes, the device probes
 *   it (tshark sees zero-window probes from the device), drops the subscriber with
 *   `ERR 507 too slow` and closes it, and its memory (VmRSS of the firmware process,
 *   whose pid is in `ready`) stays flat while far more than the bound was published.
 *
 * One topology for the suite (veth, MTU 1500), a capture on the kernel's side from
 * before the firmware starts. Every wait is a hang guard; sizes, times and memory go
 * to t.diagnostic. The memory bound is deliberately generous and compared with a
 * published volume twice its size, so it is not a timing or allocator test.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CLIENTS_DIRECTORY,
  SYSTEM_PYTHON,
  canUseNetns,
  createTopology,
  delay,
  describeResult,
  execOrThrow,
  runClient,
  spawnInNamespace,
  type VethTopology,
} from '../support/netns.ts';
import { startFirmware, type FirmwareProcess, type ReadyEvent } from '../support/firmware-process.ts';
import { analyseCapture, formatAnalysis, startCapture, type Capture } from '../support/capture.ts';
import { suiteEnvironment, type Cleanup } from '../support/suite.ts';

const availability = canUseNetns();
const skip = availability.ok ? false : `integration: needs root and network namespaces: ${availability.reason}`;

const MTU = 1500;
const SENSOR_PORT = 7070;
const MiB = 1024 * 1024;
/** VAL lines published to the stalled subscriber's glob. */
const FLOOD_BYTES = 100 * MiB;
/** A smaller flood first, so the measured one starts from a warmed-up heap. */
const WARM_UP_BYTES = 30 * MiB;
/** Generous: the firmware's whole RSS growth allowed while FLOOD_BYTES go by. */
const RSS_GROWTH_BOUND = 50 * MiB;
/** Time the subscriber keeps its window shut after the device reported it too slow, so the device probes. */
const HOLD_AFTER_TOO_SLOW_MS = 2_000;


interface Environment {
  topology: VethTopology;
  firmware: FirmwareProcess;
  ready: ReadyEvent;
  capture: Capture;
  pid: number;
}

async function setUp(cleanups: Cleanup[]): Promise<Environment> {
  const stateDirectory = await mkdtemp(join(tmpdir(), 'pw-state-'));
  cleanups.push(() => rm(stateDirectory, { recursive: true, force: true }));
  const topology = await createTopology({ mtu: MTU, prefix: 'pw' });
  cleanups.push(() => topology.destroy());
  const capture = await startCapture({ namespace: topology.peerNamespace, interfaceName: topology.peerInterface });
  cleanups.push(() => capture.remove());
  const firmware = startFirmware({
    namespace: topology.deviceNamespace,
    args: [...topology.firmwareArgs(), '--log', 'json', '--state-dir', stateDirectory],
    readyTimeoutMs: 45_000,
  });
  cleanups.push(() => firmware.stop());
  const ready = await firmware.ready;
  const pid = Number(ready['pid']);
  assert.ok(Number.isInteger(pid) && pid > 0, `ready carries the firmware's pid: ${JSON.stringify(ready)}`);
  return { topology, firmware, ready, capture, pid };
}

function assertAlive(environment: Environment): void {
  assert.equal(environment.firmware.exitStatus(), undefined, `the firmware died\n${environment.firmware.describe()}`);
}

/** The firmware's resident set size in bytes (VmRSS of /proc/PID/status, which is in kB). */
async function residentBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+([0-9]+) kB$/m.exec(status);
  assert.ok(match, `no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

const mebibytes = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

interface ProbeCounts {
  zeroWindowsFromKernel: number;
  probesFromDevice: number;
  probeAcksFromKernel: number;
  finFromDevice: number;
  resetsFromDevice: number;
  deviceProbeLines: string[];
}

/** tshark's view of one connection (by the client's port): zero windows, probes, how it ended. */
async function countProbes(file: string, deviceAddress: string, clientPort: number): Promise<ProbeCounts> {
  const result = await execOrThrow(undefined, [
    'tshark', '-n', '-r', file, '-d', 'tcp.port==1-65535,data',
    '-Y', `tcp.port == ${clientPort}`,
    '-T', 'fields', '-E', 'separator=/t',
    '-e', 'ip.src', '-e', 'tcp.analysis.zero_window', '-e', 'tcp.analysis.zero_window_probe',
    '-e', 'tcp.analysis.zero_window_probe_ack', '-e', 'tcp.flags.fin', '-e', 'tcp.flags.reset', '-e', 'frame.number', '-e', '_ws.col.Info',
  ], { timeoutMs: 120_000 });
  const counts: ProbeCounts = { zeroWindowsFromKernel: 0, probesFromDevice: 0, probeAcksFromKernel: 0, finFromDevice: 0, resetsFromDevice: 0, deviceProbeLines: [] };
  const set = (flag: string | undefined): boolean => flag !== undefined && flag !== '' && flag !== '0' && flag !== 'False';
  for (const line of result.stdout.split('\n')) {
    if (line.trim() === '') continue;
    const [source, zeroWindow, probe, probeAck, fin, reset, frame, info] = line.split('\t');
    const fromDevice = source === deviceAddress;
    if (fromDevice) {
      if (set(probe)) {
        counts.probesFromDevice++;
        if (counts.deviceProbeLines.length < 5) counts.deviceProbeLines.push(`#${frame} ${info}`);
      }
      if (set(fin)) counts.finFromDevice++;
      if (set(reset)) counts.resetsFromDevice++;
    } else {
      if (set(zeroWindow)) counts.zeroWindowsFromKernel++;
      if (set(probeAck)) counts.probeAcksFromKernel++;
    }
  }
  return counts;
}

interface SensorClientReport {
  requests: number;
  replies: number;
  checked: number;
  mismatches: { index: number | null; request: string | null; expected: string; got: string }[];
  extraReplies: string[];
  eof: boolean;
  elapsedSeconds: number;
  error: string | null;
}

interface SlowSubscriberReport {
  localPort: number | null;
  subscribeReplies: string[];
  valLines: number;
  badLines: string[];
  lastLines: string[];
  endedWithTooSlow: boolean;
  eof: boolean;
  reset: boolean;
  receivedBytes: number;
  publishedBytes: number;
  publishedReadings: number;
  publishSeconds: number | null;
  publishedBeforeResume: number | null;
  publisherErrors: string[];
  stallSeconds: number | null;
  error: string | null;
}

interface FloodRun {
  code: number | null;
  report: SlowSubscriberReport;
  evidence: string;
  /** Firmware VmRSS before the client started, and the highest sample while it ran. */
  before: number;
  peak: number;
  tooSlowError: unknown;
}

const summarise = (run: FloodRun): string =>
  `published ${run.report.publishedReadings} readings, ${mebibytes(run.report.publishedBytes)} of VAL lines in ${run.report.publishSeconds?.toFixed(1)} s ` +
  `(${mebibytes(run.report.publishedBeforeResume ?? 0)} before the subscriber read again after ${run.report.stallSeconds?.toFixed(1)} s); ` +
  `VmRSS ${mebibytes(run.before)} → peak ${mebibytes(run.peak)}`;

/**
 * Runs slow_subscriber.py: it subscribes, stops reading, and its publishers put `bytes`
 * of matching VAL lines. Once the device reports `sensor_too_slow` the window stays shut
 * HOLD_AFTER_TOO_SLOW_MS longer (the device must probe it), then the subscriber reads
 * what is left. The firmware's VmRSS is sampled all along.
 */
async function floodSlowSubscriber(environment: Environment, bytes: number, t: TestContext): Promise<FloodRun> {
  const { topology, firmware, pid } = environment;
  const tooSlowBefore = firmware.events('sensor_too_slow').length;
  const before = await residentBytes(pid);
  const child = spawnInNamespace(topology.peerNamespace, [
    SYSTEM_PYTHON, CLIENTS_DIRECTORY + 'slow_subscriber.py', topology.deviceAddress, String(SENSOR_PORT),
    '--glob', 'flood.*', '--rcvbuf', '4096', '--publishers', '32', '--bytes', String(bytes), '--rate', '700',
    '--stall-max', '120', '--timeout', '60',
  ], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // A hang guard: the client ends itself well before this.
  const guard = setTimeout(() => child.kill('SIGKILL'), 180_000);
  t.after(() => {
    clearTimeout(guard);
    child.kill('SIGKILL');
  });

  let peak = before;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await residentBytes(pid).catch(() => 0));
      await delay(100);
    }
  })();

  let tooSlowError: unknown;
  const tooSlow = firmware
    .waitForEvent('sensor_too_slow', () => firmware.events('sensor_too_slow').length > tooSlowBefore, 120_000)
    .then(async () => {
      // Under the device's 5 s close grace, after which it would reset the connection.
      await delay(HOLD_AFTER_TOO_SLOW_MS);
      child.stdin?.write('read\n');
    })
    .catch((error: unknown) => {
      tooSlowError = error;
      child.stdin?.write('read\n');
    });

  const code = await exited;
  clearTimeout(guard);
  sampling = false;
  await sampler;
  await tooSlow;
  const lines = stdout.trim().split('\n');
  const evidence = `slow_subscriber.py status ${code}\n--- stdout ---\n${stdout.slice(-4000)}\n--- stderr ---\n${stderr.slice(-4000)}\n${firmware.describe()}`;
  let report: SlowSubscriberReport | undefined;
  try {
    report = JSON.parse(lines[lines.length - 1] ?? '') as SlowSubscriberReport;
  } catch {
    report = undefined;
  }
  assert.ok(report && 'valLines' in report, evidence);
  return { code, report, evidence, before, peak, tooSlowError };
}

describe('sensor line protocol against the kernel (veth, MTU 1500)', () => {
  let subscriberPort: number | undefined;
  const env = suiteEnvironment(skip, setUp);

  it('announces the sensor port in ready', { skip, timeout: 10_000 }, (t: TestContext) => {
    const { ready } = env();
    t.diagnostic(`ready: ${JSON.stringify(ready)}`);
    assert.equal((ready.ports as Record<string, unknown>)['sensors'], SENSOR_PORT);
  });

  it('answers nc exactly: HELLO, PUT, GET, QUIT', { skip, timeout: 45_000 }, async () => {
    const environment = env();
    const { topology } = environment;
    const script = `printf 'HELLO nc-1\\nPUT nc.temp 21.5\\nGET nc.temp\\nQUIT\\n' | nc -q 2 ${topology.deviceAddress} ${SENSOR_PORT}`;
    const nc = await topology.execPeer(['sh', '-c', script], { timeoutMs: 30_000 });
    const evidence = `${describeResult(nc)}\n${environment.firmware.describe()}`;
    const lines = nc.stdout.split('\n');
    assert.equal(lines.pop(), '', `replies end with LF\n${evidence}`);
    assert.equal(lines.length, 4, evidence);
    assert.equal(lines[0], 'OK hello nc-1');
    assert.equal(lines[1], 'OK');
    const value = /^VAL nc\.temp 21\.5 ([0-9]+) nc-1$/.exec(lines[2] ?? '');
    assert.ok(value, `GET reply: ${JSON.stringify(lines[2])}`);
    assert.ok(Math.abs(Number(value[1]) - Date.now()) < 60_000, `the reading's timestamp is the device's unix ms: ${lines[2]}`);
    assert.equal(lines[3], 'BYE');
    assert.equal(nc.code, 0, evidence);
    assertAlive(environment);
  });

  it('answers a pipelined Python client in request order, bad and over-long lines included', { skip, timeout: 60_000 }, async (t) => {
    const environment = env();
    const { topology } = environment;
    const { result, report } = await runClient<SensorClientReport>(
      topology.peerNamespace, 'sensor_client.py', [topology.deviceAddress, String(SENSOR_PORT), '--puts', '300'], { timeoutMs: 45_000 },
    );
    const evidence = `${describeResult(result)}\n${environment.firmware.describe()}`;
    assert.ok(report, evidence);
    t.diagnostic(`${report.requests} pipelined requests, ${report.replies} reply lines, ${report.checked} checked in ${report.elapsedSeconds.toFixed(2)} s`);
    assert.equal(report.error, null, evidence);
    assert.deepEqual(report.mismatches, [], evidence);
    assert.deepEqual(report.extraReplies, [], evidence);
    assert.ok(report.checked > 300, `every reply was checked (${report.checked})`);
    assert.equal(report.eof, true, 'the device closes after BYE');
    assert.equal(result.code, 0, evidence);
    assertAlive(environment);
  });

  it('drops a subscriber that stops reading with ERR 507, memory flat while 100 MiB are published', { skip, timeout: 400_000 }, async (t) => {
    const environment = env();
    const { firmware, pid } = environment;
    // Warm-up round: the same flood, smaller. V8 sizes its heap to the workload on first
    // contact; the measured round starts from a firmware already at that size, so what
    // it adds is what the flood and the stalled subscriber cost, not heap sizing.
    const warmUp = await floodSlowSubscriber(environment, WARM_UP_BYTES, t);
    t.diagnostic(`warm-up: ${summarise(warmUp)}`);
    assert.equal(warmUp.code, 0, warmUp.evidence);

    const run = await floodSlowSubscriber(environment, FLOOD_BYTES, t);
    const { report, evidence } = run;
    assert.equal(firmware.exitStatus(), undefined, `the firmware died during the flood\n${evidence}`);
    const afterFlood = await residentBytes(pid);
    subscriberPort = report.localPort ?? undefined;
    t.diagnostic(`measured round: ${summarise(run)}`);
    t.diagnostic(`subscriber got ${report.valLines} VAL lines (${report.receivedBytes} bytes), then ${JSON.stringify(report.lastLines.slice(-1))}; eof ${report.eof}, reset ${report.reset}`);
    t.diagnostic(`firmware VmRSS: before ${mebibytes(run.before)}, peak ${mebibytes(run.peak)}, after ${mebibytes(afterFlood)}; growth ${mebibytes(run.peak - run.before)} (bound ${mebibytes(RSS_GROWTH_BOUND)})`);

    assert.equal(run.tooSlowError, undefined, `no sensor_too_slow event: ${String(run.tooSlowError)}`);
    assert.deepEqual(report.subscribeReplies, ['OK hello slow-sub', 'OK'], evidence);
    assert.deepEqual(report.publisherErrors, [], evidence);
    assert.ok(report.publishedBytes >= FLOOD_BYTES, evidence);
    assert.ok(report.valLines > 0, `the subscriber got readings before it was dropped\n${evidence}`);
    assert.deepEqual(report.badLines, [], evidence);
    assert.equal(report.endedWithTooSlow, true, `the last line is ERR 507 too slow\n${evidence}`);
    assert.equal(report.eof, true, `the device closed the connection (FIN, not a reset)\n${evidence}`);
    assert.equal(report.error, null, evidence);
    // What reached the subscriber is a small fraction of what was published for it:
    // the rest was never queued for it.
    assert.ok(report.receivedBytes < report.publishedBytes / 100, evidence);
    assert.ok(run.peak - run.before < RSS_GROWTH_BOUND, `the firmware grew by ${mebibytes(run.peak - run.before)} while ${mebibytes(report.publishedBytes)} were published`);
    assert.equal(run.code, 0, evidence);
    assertAlive(environment);
  });

  it('shows tshark the kernel\'s zero window and the device\'s probes; nothing malformed', { skip, timeout: 360_000 }, async (t) => {
    const environment = env();
    const { capture, topology } = environment;
    const stopped = await capture.stop();
    t.diagnostic(`capture: ${stopped.summary}`);
    assert.ok(subscriberPort !== undefined, 'the slow subscriber ran');
    const counts = await countProbes(capture.file, topology.deviceAddress, subscriberPort);
    t.diagnostic(`slow subscriber (port ${subscriberPort}): ${JSON.stringify(counts)}`);
    assert.ok(counts.zeroWindowsFromKernel > 0, `the kernel advertised a zero window\n${JSON.stringify(counts)}`);
    assert.ok(counts.probesFromDevice > 0, `tshark labels no device segment a zero-window probe\n${JSON.stringify(counts)}`);
    assert.ok(counts.finFromDevice > 0, 'the device closed the subscriber with a FIN');

    const analysis = await analyseCapture(capture.file, { deviceAddress: topology.deviceAddress, mtu: MTU, timeoutMs: 300_000 });
    t.diagnostic(formatAnalysis(analysis));
    assert.deepEqual(analysis.malformed, [], formatAnalysis(analysis));
    assert.deepEqual(analysis.badChecksumsFromDevice, [], formatAnalysis(analysis));
    assert.deepEqual(analysis.oversizedFromDevice, [], formatAnalysis(analysis));
    assertAlive(environment);
  });
});
