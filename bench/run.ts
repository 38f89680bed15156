/**
 * `npm run bench`: piwire next to the Linux kernel on the same veth path (issue 6).
 *
 * For each MTU (1500, 576) one veth topology is built (test/support/netns.ts: two
 * namespaces, offloads off on both ends, the same MTU) and used twice, one after the
 * other: first the KERNEL baseline, with 198.18.0.2/24 configured on veth-dev and
 * kernel-socket servers in the device namespace (Python discard/chargen, a Node server
 * speaking the sensor-protocol subset); then the address is removed, the LAN side's
 * neighbour cache flushed, and PIWIRE is started on `packet:veth-dev` with the same
 * address. The clients (bench/clients/*.py, the kernel's TCP in the LAN namespace) are
 * the same for both, so each ratio compares the two servers on one path.
 *
 * Sections: bulk, latency, ingest, idle, churn, stack, instructions, startup, libraries,
 * loss, sweep (`--only bulk,latency`).
 * The sensor sections (latency, ingest, idle, churn) run only when piwire answers PING on
 * port 7070; otherwise they are reported "not available", never estimated. `churn` is
 * a fleet that reconnects all day: rounds of short sessions (half of them closed by
 * the server, which then holds TIME-WAIT), a pause longer than TIME-WAIT between
 * rounds, and the server's heap (after GC) and RSS before and after. `libraries` runs
 * the same mqtt/http code on piwire sockets (memory wire) and on node:net (loopback).
 * `loss` (issue 12) builds its own path per MTU, device — bridge — LAN, whose bridge drops
 * frames at random (bench/lib/lossy-path.ts), and measures goodput and the longest stall
 * at 0, 1 and 3% loss each way, the kernel (its own port of the bridge) and piwire side by
 * side, their transfers alternating in each cell (bench/lib/loss.ts), steady
 * state as bulk: each server first moves 64 MiB each way without loss (`warmUp`), and
 * each cell begins with LOSS_WARM_UP_RUNS untimed transfers at its own loss rate, which is
 * what compiles piwire's recovery path: its main thread's CPU per GiB of a lossy cell's
 * transfers falls over about its first ten (BASELINE "the loss section's warm-up";
 * `--loss-warm-up N` to change it, 1 before 2026-12-02; `--cold`: no warm-up at all;
 * before 2026-11-30 23:00 the loss section ran cold and from the TypeScript sources under
 * tsx, not the bundle). `sweep`
 * is the seeded loss sweep of two piwire stacks on the memory wire in virtual time
 * (bench/lib/loss-sweep.ts; also `npm run loss-sweep`).
 *
 * Output: a Markdown table on stdout and in bench/results/<stamp>.md, raw numbers in
 * bench/results/<stamp>.json. `--profile` also records a V8 CPU profile of the firmware
 * during the MTU 1500 bulk runs (the ingest run when bulk is not selected, the idle window
 * when neither is) and prints its hot spots; `--heap-profile` samples what the firmware
 * allocates in the same window (V8's sampling heap profiler, collected objects included)
 * and prints the functions that allocate most.
 *
 * The firmware runs as deployed: the built bundle (`node deploy/build.mjs --bench`,
 * dist/bench/firmware-entry.mjs: firmware/main.ts plus the measurement probe) under plain
 * `node`. `--source` runs the TypeScript sources under tsx instead (the developer's
 * way, and how every figure before the build step was taken).
 *
 * Bulk (and floor) figures are steady state: each server first moves the same bytes each
 * way untimed, then pushes again untimed until a push's user CPU per GiB stops falling
 * (`warmUp`, at most WARM_UP_MAX_PUSHES pushes), so the firmware's V8 has compiled its
 * hot path (TurboFan on background threads counts as process CPU) before the measured
 * transfer; the kernel and the floor responder get the same warm-up. `--cold` measures
 * the first transfer after start instead, as every bulk figure before 2026-11-30 20:00
 * was taken (the cold firmware spends ~2x the user CPU per GiB of the first 256 MiB:
 * bench/BASELINE.md, "the receive path's CPU, and the floor measures again"; and one
 * transfer each way was not enough for the receive path: "the receive path's warm-up").
 *
 * usage: npm run bench -- [--quick] [--only SECTIONS] [--mtu 1500,576] [--profile] [--heap-profile]
 *                         [--connections N] [--source] [--node-flags FLAGS] [--commit-ms N] [--cold]
 *                         [--congestion NAME] [--kernel-congestion NAME|host] [--piwire-congestion NAME]
 *                         [--loss-warm-up N]
 *
 * The loss section runs both stacks on the same congestion control: `--congestion NAME`
 * (cubic, reno, bbr; default piwire's own default, CUBIC, which is also Linux's built-in
 * one) sets piwire's `tcp.congestion` (a config file beside its state directory) and the
 * kernel's TCP_CONGESTION on its server's listening sockets and its clients' sockets alike.
 * The algorithm decides those cells more than the stack does: under random loss a
 * loss-based algorithm (CUBIC, NewReno) reduces its window once per loss episode, BBR does
 * not, and at 3% loss the kernel's own goodput moves 5-10x with the choice (bench/BASELINE.md,
 * "what bounds the bursts" and "the loss section compares like for like"). To measure
 * across algorithms, `--kernel-congestion NAME` or `host` (the namespace's default, the
 * host's `net.ipv4.tcp_congestion_control`) and `--piwire-congestion NAME` set one end each;
 * the section's header names what each end ran.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import type { ChildProcess } from 'node:child_process';
import {
  canUseNetns,
  createTopology,
  delay,
  exec,
  execOrThrow,
  spawnInNamespace,
  SYSTEM_PYTHON,
  type VethTopology,
} from '../test/support/netns.ts';
import { REPOSITORY_ROOT, startFirmware, type FirmwareProcess } from '../test/support/firmware-process.ts';
import { deviceCounters, writeShellOperatorConfig } from '../test/support/device-shell.ts';
import { cpuPercentOver, machineBusySeconds, probe, processCpuSeconds, processCpuTimes, processRssBytes, type GcWindow, type ProbeSample } from './lib/measure.ts';
import { runStackOnly } from './lib/stack-only.ts';
import { measureInstructions, valgrindAvailable } from './lib/instructions.ts';
import { measureStateSizes } from './lib/state-size.ts';
import { measureIdleSizesBundled } from './lib/idle-size.ts';
import { measureNonReaders } from './lib/non-readers.ts';
import { measureLibraries, type LibrariesResult } from './lib/libraries.ts';
import { summariseHeapProfile, summariseProfile, type AllocationSite, type HotSpot } from './lib/profile.ts';
import { createLossyPath, type LossyPath } from './lib/lossy-path.ts';
import { describeSweepPath, renderSweepTable, runLossSweep, type SweepPoint } from './lib/loss-sweep.ts';
import { DIRECTION_LABELS, LOSS_RATES, measureLossCells, RTO_REFERENCE_MS, type LossCell } from './lib/loss.ts';
import { deployedNodeFlags } from './lib/deployed-node-options.ts';
import { BENCH_BUNDLE, buildBenchBundle } from './lib/bench-bundle.ts';
import { setPeerReceiveThread } from './lib/peer-receive-thread.ts';
import { CONGESTION_ALGORITHMS, DEFAULT_SEND_MSS, defaultTcpConfig } from '../src/tcp/config.ts';

const SECTIONS = ['bulk', 'floor', 'latency', 'ingest', 'idle', 'churn', 'stack', 'instructions', 'startup', 'libraries', 'loss', 'sweep'] as const;
/** Sections that need the plain veth pair (loss builds its own bridged path; stack, instructions and sweep run in-process). */
const VETH_SECTIONS: readonly Section[] = ['bulk', 'floor', 'latency', 'ingest', 'idle', 'churn', 'startup', 'libraries'];
type Section = (typeof SECTIONS)[number];

const CLIENTS = join(REPOSITORY_ROOT, 'bench/clients/');
const RESULTS = join(REPOSITORY_ROOT, 'bench/results/');
const SENSOR_PORT = 7070;
const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

// ---------------------------------------------------------------------------------------
// Options

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    mtu: { type: 'string', default: '1500,576' },
    profile: { type: 'boolean', default: false },
    'heap-profile': { type: 'boolean', default: false },
    connections: { type: 'string' },
    source: { type: 'boolean', default: false },
    'node-flags': { type: 'string' },
    'commit-ms': { type: 'string' },
    cold: { type: 'boolean', default: false },
    'no-segment-offload': { type: 'boolean', default: false },
    congestion: { type: 'string' },
    'kernel-congestion': { type: 'string' },
    'piwire-congestion': { type: 'string' },
    'loss-warm-up': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (flags.help) {
  process.stdout.write('usage: npm run bench -- [--quick] [--only bulk,floor,latency,ingest,idle,churn,stack,instructions,startup,libraries,loss,sweep] [--mtu 1500,576] [--profile] [--heap-profile] [--connections N] [--source] [--node-flags FLAGS] [--commit-ms N] [--cold] [--no-segment-offload] [--congestion cubic|reno|bbr] [--kernel-congestion NAME|host] [--piwire-congestion cubic|reno|bbr] [--loss-warm-up N]\n');
  process.exit(0);
}

/** The loss section's congestion control, both ends unless one is set apart (usage above). */
const pairCongestion = flags.congestion ?? defaultTcpConfig(DEFAULT_SEND_MSS).congestion;
const piwireCongestion = flags['piwire-congestion'] ?? pairCongestion;
if (!(CONGESTION_ALGORITHMS as readonly string[]).includes(piwireCongestion)) {
  process.stderr.write(`bench: ${flags['piwire-congestion'] === undefined ? '--congestion' : '--piwire-congestion'} ${piwireCongestion} is not one of piwire's: ${CONGESTION_ALGORITHMS.join(', ')}\n`);
  process.exit(2);
}
/** The kernel's algorithm in the loss section; undefined: the namespace's default (`--kernel-congestion host`). */
const kernelCongestionFlag = flags['kernel-congestion'] ?? pairCongestion;
const kernelCongestion = kernelCongestionFlag === 'host' ? undefined : kernelCongestionFlag;
if (kernelCongestion !== undefined) {
  // The kernel's list (/proc, the same in every namespace): a name it lacks would only fail later, inside the server.
  const available = readFileSync('/proc/sys/net/ipv4/tcp_available_congestion_control', 'utf8').trim().split(/\s+/);
  if (!available.includes(kernelCongestion)) {
    process.stderr.write(`bench: ${flags['kernel-congestion'] === undefined ? '--congestion' : '--kernel-congestion'} ${kernelCongestion} is not one of this kernel's: ${available.join(', ')} (or \`--kernel-congestion host\`)\n`);
    process.exit(2);
  }
}

/**
 * Untimed transfers at a loss cell's own rate before its measured ones, for the kernel and
 * piwire alike (`--loss-warm-up`): piwire's CPU per GiB of a cell's transfers falls over
 * about its first ten, as V8 compiles what runs only under loss (BASELINE "the loss
 * section's warm-up"); the kernel's figures do not move with it.
 */
const LOSS_WARM_UP_RUNS = 10;
const lossWarmUpText = flags['loss-warm-up'];
if (lossWarmUpText !== undefined && !/^\d+$/.test(lossWarmUpText)) {
  process.stderr.write(`bench: --loss-warm-up ${lossWarmUpText} is not a count of transfers\n`);
  process.exit(2);
}

const selected = new Set<Section>(
  flags.only === undefined
    ? SECTIONS
    : flags.only.split(',').map((name) => {
        if (!(SECTIONS as readonly string[]).includes(name)) {
          process.stderr.write(`bench: unknown section ${name}; sections: ${SECTIONS.join(', ')}\n`);
          process.exit(2);
        }
        return name as Section;
      }),
);
const mtus = flags.mtu.split(',').map(Number);
/**
 * `--node-flags '--max-semi-space-size=16'`: V8/Node flags for the firmware process (tuning
 * experiments). They come after the deployed unit's flags, which every firmware process
 * gets, so they override them (`--initial-old-space-size=0`: V8's default old generation).
 * The firmware runs with the flags of deploy/systemd/piwire.service's ExecStart, as on a device.
 */
const nodeFlags = [...deployedNodeFlags(), ...(flags['node-flags']?.split(' ').filter((flag) => flag.length > 0) ?? [])];
const quick = flags.quick;
const sizes = {
  bulkBytes: (mtu: number): number => (quick ? 32 : mtu >= 1500 ? 256 : 128) * MIB,
  latencyCount: quick ? 2_000 : 10_000,
  // PING/PONG round trips before the measured ones (10 s at 800/s; quick: 2.5 s): the
  // latency figures are the steady state, as bulk's are; the warm-up's own p99 is a row too.
  latencyWarmUp: quick ? 2_000 : 8_000,
  ingestConnections: 100,
  // 2000 PUTs per connection: the per-connection rate limiter's burst (SPEC §4 ERR 429).
  ingestPuts: quick ? 500 : 2_000,
  idleConnections: Number(flags.connections ?? (quick ? 2_000 : 10_000)),
  // Longer than the keepalive idle time (10 s), so the window includes a full probe round;
  // a minute, so V8 has scavenged at the idle allocation rate (~0.8 MB/s, a scavenge per
  // ~20 s with the young generation the burst grew) and given the burst's young-generation
  // pages back: the RSS after the window is the idle device's, not the burst's.
  idleWindowSeconds: quick ? 12 : 60,
  // Between the accept burst and the CPU window: V8's memory reducer collects the burst's
  // garbage with 2-3 full collections 8-20 s after it (a one-off, reported on its own row),
  // which a window opened 2 s after the burst counted as idle CPU (before 2026-12-01 noon).
  idleSettleSeconds: quick ? 12 : 30,
  // The window before the main one, with the LAN's receive run inside the device's sends
  // (a veth's default; bench/lib/peer-receive-thread.ts): the figure as measured before
  // 2026-12-01 afternoon, for comparison.
  idleInlineSeconds: quick ? 6 : 30,
  // Connection pairs of the in-process idle measurement (stack section, bench/lib/idle-size.ts);
  // the same in quick runs: hash tables grow in steps, so the figure depends a little on the count.
  idleSizeConnections: 2_000,
  // 10,000 sessions in rounds of 2,000 (issue "bounded for a year"); the pause outlasts TIME-WAIT (2·MSL = 10 s).
  churnRounds: quick ? 2 : 5,
  churnSessions: quick ? 1_000 : 2_000,
  churnPauseSeconds: 11,
  stackBytes: (mtu: number): number => (quick ? 32 : mtu >= 1500 ? 256 : 128) * MIB,
  // Under callgrind (~50× slower): past the JIT's warm-up, then 16 MiB more (quick: 3, which
  // still holds much of TurboFan's work: BASELINE, "the per-segment hot path").
  instructionBytes: quick ? ([3 * MIB, 6 * MIB] as const) : ([3 * MIB, 19 * MIB] as const),
  // Loss: 4 MiB per transfer (issue 12's figure), each cell repeated (random loss is noisy).
  sweepBytes: (quick ? 1 : 4) * MIB,
  // Steady state as in bulk (not with --cold): before its cells each server moves lossWarmUpBytes
  // each way without loss, and each cell starts with LOSS_WARM_UP_RUNS untimed transfers at its own loss rate (quick: one).
  loss: {
    rates: quick ? [0, 0.03] : LOSS_RATES, bytes: (quick ? 1 : 4) * MIB, repetitions: quick ? 1 : 5, deadlineSeconds: quick ? 30 : 60, warmUpRuns: flags.cold ? 0 : Number(lossWarmUpText ?? (quick ? 1 : LOSS_WARM_UP_RUNS)),
    ...(kernelCongestion === undefined ? {} : { kernelCongestion }),
  },
  lossWarmUpBytes: (quick ? 16 : 64) * MIB,
};

// ---------------------------------------------------------------------------------------
// Results

interface Row {
  section: Section;
  metric: string;
  mtu: number | undefined;
  unit: string;
  piwire: number | string | undefined;
  kernel: number | string | undefined;
  /** 'higher' when more is better, 'lower' when less is; the ratio is piwire/kernel. */
  better: 'higher' | 'lower';
  target?: string;
  met?: boolean;
}

const rows: Row[] = [];
const raw: Record<string, unknown> = { started: new Date().toISOString(), quick, mtus, sections: [...selected] };
const notes: string[] = [];

function record(row: Row): void {
  rows.push(row);
}

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

// ---------------------------------------------------------------------------------------
// Clients

async function runPython<Report>(topology: VethTopology, script: string, args: (string | number)[], timeoutMs: number): Promise<Report> {
  const result = await topology.execPeer([SYSTEM_PYTHON, CLIENTS + script, ...args.map(String)], { timeoutMs });
  const last = result.stdout.trim().split('\n').pop() ?? '';
  let report: (Report & { error?: string | null }) | undefined;
  try {
    report = JSON.parse(last) as Report & { error?: string | null };
  } catch {
    report = undefined;
  }
  if (!report || result.code !== 0 || report.error) {
    throw new Error(`${script} ${args.join(' ')} failed: ${report?.error ?? ''} (status ${result.code}${result.timedOut ? ', timed out' : ''}) ${result.stderr.slice(-500)}`);
  }
  return report;
}

/** Like runPython, but a report with failures is still a result (they are counted, not fatal). */
async function runPythonLenient<Report>(topology: VethTopology, script: string, args: (string | number)[], timeoutMs: number): Promise<Report> {
  const result = await topology.execPeer([SYSTEM_PYTHON, CLIENTS + script, ...args.map(String)], { timeoutMs });
  const last = result.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as Report;
  } catch {
    throw new Error(`${script} ${args.join(' ')} printed no report (status ${result.code}${result.timedOut ? ', timed out' : ''}) ${result.stderr.slice(-500)}`);
  }
}

/** Reads the first JSON line a long-running child prints (bounded). */
function firstJsonLine<T>(child: ChildProcess, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    let text = '';
    let errorText = '';
    const timer = setTimeout(() => reject(new Error(`no output within ${timeoutMs} ms: ${errorText.slice(-500)}`)), timeoutMs);
    child.stderr?.on('data', (chunk: Buffer) => (errorText += chunk.toString()));
    child.stdout?.on('data', function onData(chunk: Buffer) {
      text += chunk.toString();
      const newline = text.indexOf('\n');
      if (newline === -1) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      try {
        resolve(JSON.parse(text.slice(0, newline)) as T);
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
    child.on('exit', (code) => reject(new Error(`exited (${code}) before printing: ${errorText.slice(-500)}`)));
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 3_000).unref();
  });
}

async function sensorAnswers(topology: VethTopology): Promise<boolean> {
  const script =
    'import socket,sys\n' +
    'try:\n' +
    ` s=socket.create_connection(("${topology.deviceAddress}",${SENSOR_PORT}),timeout=3); s.sendall(b"PING probe\\n"); s.settimeout(3)\n` +
    ' print("yes" if s.recv(100).startswith(b"PONG probe") else "no")\n' +
    'except OSError:\n print("no")\n';
  const result = await topology.execPeer([SYSTEM_PYTHON, '-c', script], { timeoutMs: 10_000 });
  return result.stdout.trim() === 'yes';
}

// ---------------------------------------------------------------------------------------
// Measurements shared by both sides

interface BulkFigures {
  mbitPerSecond: number;
  processCpuPerGib: number;
  /** The server process's user time per GiB (its own code: the issue compares stacks on this). */
  processUserCpuPerGib: number;
  /** Its system time per GiB (system calls, including the peer kernel's work done inside them). */
  processSystemCpuPerGib: number;
  machineCpuPerGib: number;
  /**
   * Frames the kernel could not put into the firmware's receive ring (ring full while the
   * event loop was busy: `link.drop.rx-overflow`) during this run, read over the device's
   * remote shell; piwire only.
   */
  ringDrops?: number;
}

/**
 * The most untimed pushes `warmUp` makes. Consecutive 256 MiB pushes into one fresh
 * firmware, user CPU s/GiB (bench/BASELINE.md, "the receive path's warm-up"): 2.4-2.8,
 * 1.4-1.8, then 1.1-1.5 from the third on; the third was steady in every series.
 */
const WARM_UP_MAX_PUSHES = 5;
/**
 * The fewest: the third push is the first steady one, and a second push barely below the
 * first (3.00 then 2.96, 2026-12-01) had stopped the warm-up inside the JIT's warm-up.
 */
const WARM_UP_MIN_PUSHES = 3;
/** A push whose user CPU per GiB is not below this share of the previous one's ends the warm-up. */
const WARM_UP_STILL_FALLING = 0.9;

/**
 * The untimed transfers before a server's measured ones (not with `--cold`): one each
 * way, then pushes while the push's user CPU per GiB still falls by more than a tenth
 * (bounded), so the measured figure is what a long-running device spends per GiB, not its
 * one-time JIT warm-up. Returns the warm-up pushes' user CPU per GiB, for the log.
 */
async function warmUp(topology: VethTopology, bytes: number, pid: number): Promise<number[]> {
  if (flags.cold) return [];
  const pushes = [(await measureBulk(topology, 'push', bytes, pid)).processUserCpuPerGib];
  await measureBulk(topology, 'pull', bytes, pid);
  while (pushes.length < WARM_UP_MAX_PUSHES) {
    const user = (await measureBulk(topology, 'push', bytes, pid)).processUserCpuPerGib;
    const previous = pushes[pushes.length - 1]!;
    pushes.push(user);
    if (pushes.length >= WARM_UP_MIN_PUSHES && user >= previous * WARM_UP_STILL_FALLING) break;
  }
  return pushes;
}

/** One untimed transfer each way (the loss section's warm-up before its cells; `--cold`: none). */
async function warmUpEachWay(topology: VethTopology, bytes: number, address = topology.deviceAddress): Promise<void> {
  if (flags.cold) return;
  for (const mode of ['push', 'pull'] as const) {
    await runPython(topology, 'bulk.py', [mode, address, mode === 'push' ? 9 : 19, bytes], 600_000);
  }
}

/** "warm-up pushes: 2.44, 1.72, 1.28 user s/GiB", for the log. */
function describeWarmUp(pushes: readonly number[]): string {
  return pushes.length === 0 ? 'no warm-up (--cold)' : `warm-up pushes: ${pushes.map((user) => user.toFixed(2)).join(', ')} user s/GiB`;
}

async function measureBulk(topology: VethTopology, mode: 'push' | 'pull', bytes: number, serverPid: number): Promise<BulkFigures> {
  const port = mode === 'push' ? 9 : 19;
  const cpuBefore = processCpuTimes(serverPid);
  const machineBefore = machineBusySeconds();
  const report = await runPython<{ bytes: number; seconds: number }>(topology, 'bulk.py', [mode, topology.deviceAddress, port, bytes], 600_000);
  const gib = report.bytes / GIB;
  const cpuAfter = processCpuTimes(serverPid);
  const user = cpuAfter.user - cpuBefore.user;
  const system = cpuAfter.system - cpuBefore.system;
  return {
    mbitPerSecond: (report.bytes * 8) / report.seconds / 1e6,
    processCpuPerGib: (user + system) / gib,
    processUserCpuPerGib: user / gib,
    processSystemCpuPerGib: system / gib,
    machineCpuPerGib: (machineBusySeconds() - machineBefore) / gib,
  };
}

/** "2,345 Mbit/s, CPU 1.20 user + 2.30 system s/GiB": one bulk direction, for the log. */
function describeBulk(figures: BulkFigures): string {
  const drops = figures.ringDrops === undefined ? '' : `, ${figures.ringDrops} receive-ring drops`;
  return `${figures.mbitPerSecond.toFixed(0)} Mbit/s, CPU ${figures.processUserCpuPerGib.toFixed(2)} user + ${figures.processSystemCpuPerGib.toFixed(2)} system s/GiB${drops}`;
}

interface LatencyFigures {
  p50Micros: number;
  p99Micros: number;
  p999Micros: number;
  samples: number;
  /** The round trips before the measured ones (bench/clients/sensor_latency.py). */
  warmUp?: { samples: number; p50Micros: number | null; p99Micros: number | null };
}

/** PING/PONG at 800 requests/s on one connection: `sizes.latencyWarmUp` round trips, then the measured ones. */
function measureLatency(topology: VethTopology): Promise<LatencyFigures> {
  return runPython<LatencyFigures>(topology, 'sensor_latency.py', [topology.deviceAddress, SENSOR_PORT, sizes.latencyCount, '--warmup', sizes.latencyWarmUp], 300_000);
}

interface IngestFigures {
  readingsPerSecond: number;
  committed: number;
  errors: number;
  errorKinds: Record<string, number>;
  seconds: number;
  /** The server process's CPU (user + system) over the run, per 100,000 committed readings. */
  serverCpuPer100k?: number;
}

/** The ingest client against the server `pid`, with the server's CPU per reading (steadier than rates on a shared machine). */
async function measureIngest(topology: VethTopology, pid: number): Promise<IngestFigures> {
  const cpuBefore = processCpuSeconds(pid);
  const figures = await runPython<IngestFigures>(topology, 'sensor_ingest.py', [topology.deviceAddress, SENSOR_PORT, sizes.ingestConnections, sizes.ingestPuts], 300_000);
  const cpu = processCpuSeconds(pid) - cpuBefore;
  return { ...figures, serverCpuPer100k: figures.committed > 0 ? (cpu * 100_000) / figures.committed : Number.NaN };
}

interface ChurnFigures {
  sessions: number;
  failed: number;
  heapGrowth: number;
  rssGrowth: number;
  rssAfter: number;
}

async function measureChurn(topology: VethTopology, pid: number, probePath: string): Promise<ChurnFigures> {
  const before = await probe(pid, probePath);
  const rssBefore = processRssBytes(pid);
  const report = await runPythonLenient<{ sessions: number; failed: number; seconds: number }>(
    topology,
    'sensor_churn.py',
    [topology.deviceAddress, SENSOR_PORT, sizes.churnRounds, sizes.churnSessions, '--pause', sizes.churnPauseSeconds],
    900_000,
  );
  const after = await probe(pid, probePath);
  const rssAfter = processRssBytes(pid);
  return { sessions: report.sessions, failed: report.failed, heapGrowth: after.heapUsed - before.heapUsed, rssGrowth: rssAfter - rssBefore, rssAfter };
}

interface IdleFigures {
  connections: number;
  heapPerConnection: number;
  arrayBuffersPerConnection: number;
  rssPerConnection: number;
  /**
   * Resident pages of V8's heap per connection (the probe's `heapSpaces`, piwire only):
   * what the heap keeps committed beyond its live objects shows here and in RSS.
   */
  heapResidentPerConnection?: number;
  /** The same, space by space ("old_space: 2,900 used / 3,400 resident"), for the log. */
  heapSpacesPerConnection?: Record<string, { used: number; resident: number }>;
  /**
   * RSS per connection again after the CPU window (the connections idle for it): V8 gives
   * back young-generation pages only at a collection that finds the allocation rate low.
   */
  rssPerConnectionAfterWindow: number;
  /** The firmware's probe only: V8's collections in the CPU window and what was allocated in it. */
  window?: GcWindow;
  /** The same for the settling time between the burst and the window (the memory reducer's collections). */
  settle?: GcWindow;
  /** CPU over the settling time, % of a core. */
  settleCpuPercent: number;
  /**
   * CPU over `idleInlineSeconds` before the window, with the LAN's kernel receiving what
   * the device sends inside the device's own system calls (the veth default).
   */
  inlineCpuPercent: number;
  /**
   * Whether the window ran with the LAN's receive on its own NAPI thread (so `cpuPercent`
   * is the firmware's own CPU); false where the kernel offers no threaded NAPI.
   */
  peerReceiveThread: boolean;
  cpuPercent: number;
  /** Of it, user and system time (system time includes the kernel's work on our sends and receives). */
  cpuUserPercent: number;
  cpuSystemPercent: number;
  alive: number;
  openSeconds: number;
}

/** Each V8 heap space's growth in used and resident bytes between two probes, per connection. */
function spacesPerConnection(before: ProbeSample, after: ProbeSample, count: number): Record<string, { used: number; resident: number }> | undefined {
  if (before.heapSpaces === undefined || after.heapSpaces === undefined) return undefined;
  const spaces: Record<string, { used: number; resident: number }> = {};
  for (const [name, space] of Object.entries(after.heapSpaces)) {
    const earlier = before.heapSpaces[name] ?? { used: 0, resident: 0 };
    spaces[name] = { used: (space.used - earlier.used) / count, resident: (space.resident - earlier.resident) / count };
  }
  return spaces;
}

/**
 * Memory before the burst, RSS right after it, then `idleSettleSeconds` in which V8's
 * memory reducer collects the burst's garbage (CPU and collections reported apart), then
 * the CPU window, then RSS and the heap (after full collections) with the connections
 * idle since. The probes that open the settling time and the window do not collect: a
 * forced full collection starts V8's memory reducer, whose own full collections would
 * land in the window (the idle CPU figures before 2026-11-30 17:00 had that in them).
 * `profiled`: the firmware's profilers skip this section's first three probes and cover
 * the CPU window (PIWIRE_BENCH_PROFILE_AFTER).
 */
async function measureIdle(topology: VethTopology, pid: number, probePath: string, profiled = false): Promise<IdleFigures> {
  const before: ProbeSample = await probe(pid, probePath);
  const rssBefore = processRssBytes(pid);
  const client = spawnInNamespace(topology.peerNamespace, [SYSTEM_PYTHON, CLIENTS + 'idle_connections.py', topology.deviceAddress, String(SENSOR_PORT), String(sizes.idleConnections)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  try {
    const opened = await firstJsonLine<{ open: number; seconds: number; error?: string }>(client, 300_000);
    if (opened.error) log(`idle: opened ${opened.open} of ${sizes.idleConnections}: ${opened.error}`);
    await delay(2_000);
    const rssAfter = processRssBytes(pid);
    // The settling time: V8's collections counted from here to the window.
    await probe(pid, probePath, undefined, { collect: false });
    const settleCpu = await cpuPercentOver(pid, sizes.idleSettleSeconds);
    const inlineCpu = await cpuPercentOver(pid, sizes.idleInlineSeconds);
    // The window: the LAN's receive on its own thread, so the CPU is the firmware's own.
    const peerReceiveThread = await setPeerReceiveThread(topology.peerNamespace, topology.peerInterface, true);
    if (!peerReceiveThread) log('idle: no threaded NAPI on this kernel: the window includes the LAN\'s receive inside the device\'s sends');
    // Closes the settling time and opens the window: counts V8's collections from here, starts the profilers when asked.
    const settled = await probe(pid, probePath, undefined, { collect: false });
    if (profiled) await probe(pid, probePath, undefined, { collect: false });
    const cpu = await cpuPercentOver(pid, sizes.idleWindowSeconds);
    if (peerReceiveThread) await setPeerReceiveThread(topology.peerNamespace, topology.peerInterface, false);
    const rssAfterWindow = processRssBytes(pid);
    const after = await probe(pid, probePath);
    const aliveLine = new Promise<{ alive: number }>((resolve) => {
      let text = '';
      client.stdout?.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        const match = /\{"alive": (\d+)\}/.exec(text);
        if (match) resolve({ alive: Number(match[1]) });
      });
      client.on('close', () => resolve({ alive: NaN }));
    });
    client.stdin?.end();
    const { alive } = await aliveLine;
    const count = Math.max(1, opened.open);
    const spaces = spacesPerConnection(before, after, count);
    return {
      connections: opened.open,
      ...(spaces === undefined ? {} : { heapSpacesPerConnection: spaces, heapResidentPerConnection: Object.values(spaces).reduce((sum, space) => sum + space.resident, 0) }),
      heapPerConnection: (after.heapUsed - before.heapUsed) / count,
      arrayBuffersPerConnection: (after.arrayBuffers - before.arrayBuffers) / count,
      rssPerConnection: (rssAfter - rssBefore) / count,
      rssPerConnectionAfterWindow: (rssAfterWindow - rssBefore) / count,
      ...(after.window === undefined ? {} : { window: after.window }),
      ...(settled.window === undefined ? {} : { settle: settled.window }),
      settleCpuPercent: settleCpu.all,
      inlineCpuPercent: inlineCpu.all,
      peerReceiveThread,
      cpuPercent: cpu.all,
      cpuUserPercent: cpu.user,
      cpuSystemPercent: cpu.system,
      alive,
      openSeconds: opened.seconds,
    };
  } finally {
    await stopChild(client);
  }
}

// ---------------------------------------------------------------------------------------
// One MTU: kernel baseline, then piwire

interface SideResults {
  /** `warmUpPushes`: the untimed pushes' user CPU per GiB before the measured ones (`warmUp`). */
  bulk?: { push: BulkFigures; pull: BulkFigures; warmUpPushes: number[] };
  latency?: LatencyFigures;
  ingest?: IngestFigures;
  idle?: IdleFigures;
  churn?: ChurnFigures;
  startup?: { readyMs: number; idleRssBytes: number };
  sensorAvailable?: boolean;
}

async function kernelSide(topology: VethTopology, probeDirectory: string, sections: ReadonlySet<Section> = selected): Promise<SideResults> {
  const results: SideResults = {};
  await execOrThrow(topology.deviceNamespace, ['ip', 'address', 'add', `${topology.deviceAddress}/${topology.prefixLength}`, 'dev', topology.deviceInterface]);
  const children: ChildProcess[] = [];
  try {
    if (sections.has('bulk')) {
      const server = spawnInNamespace(topology.deviceNamespace, [SYSTEM_PYTHON, CLIENTS + 'kernel_bulk_server.py', '--address', topology.deviceAddress]);
      children.push(server);
      await firstJsonLine(server, 15_000);
      const pid = server.pid!;
      const bytes = sizes.bulkBytes(topology.mtu);
      const warmUpPushes = await warmUp(topology, bytes, pid);
      results.bulk = { push: await measureBulk(topology, 'push', bytes, pid), pull: await measureBulk(topology, 'pull', bytes, pid), warmUpPushes };
      log(`kernel MTU ${topology.mtu} bulk (${describeWarmUp(warmUpPushes)}): in ${describeBulk(results.bulk.push)}, out ${describeBulk(results.bulk.pull)}`);
    }
    if (sections.has('latency') || sections.has('ingest') || sections.has('idle') || sections.has('churn') || sections.has('startup')) {
      const probePath = join(probeDirectory, 'kernel-probe.json');
      const started = performance.now();
      const server = spawnInNamespace(topology.deviceNamespace, [process.execPath, '--import', 'tsx', CLIENTS + 'kernel-sensor-server.ts', '--port', String(SENSOR_PORT)], {
        cwd: REPOSITORY_ROOT,
        env: { ...process.env, PIWIRE_BENCH_PROBE: probePath },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(server);
      await firstJsonLine(server, 30_000);
      const readyMs = performance.now() - started;
      const pid = server.pid!;
      await delay(1_000);
      results.startup = { readyMs, idleRssBytes: processRssBytes(pid) };
      if (sections.has('latency')) {
        results.latency = await measureLatency(topology);
      }
      if (sections.has('ingest')) {
        results.ingest = await measureIngest(topology, pid);
      }
      if (sections.has('idle')) results.idle = await measureIdle(topology, pid, probePath);
      if (sections.has('churn')) results.churn = await measureChurn(topology, pid, probePath);
      log(`kernel MTU ${topology.mtu} sensor sections done`);
    }
  } finally {
    for (const child of children) await stopChild(child);
    await exec(topology.deviceNamespace, ['ip', 'address', 'flush', 'dev', topology.deviceInterface]);
    await exec(topology.peerNamespace, ['ip', 'neigh', 'flush', 'dev', topology.peerInterface]);
  }
  return results;
}

/** Runs `body` with the firmware started; on failure its recent output is logged; it is always stopped and its state removed. */
async function withFirmware<T>(firmware: FirmwareProcess, stateDirectory: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    log(firmware.describe());
    throw error;
  } finally {
    await firmware.stop();
    rmSync(stateDirectory, { recursive: true, force: true });
  }
}

async function piwireSide(topology: VethTopology, probeDirectory: string, profileDirectory: string | undefined, sections: ReadonlySet<Section> = selected): Promise<SideResults> {
  const results: SideResults = {};
  const stateDirectory = mkdtempSync(join(tmpdir(), 'pw-bench-state-'));
  const configPath = join(probeDirectory, 'piwire-config.json');
  // Room for the idle section's connections; everything else at its default.
  // `--commit-ms N`: the readings log's group-commit window (store.commitMs) for this run.
  const store = flags['commit-ms'] === undefined ? {} : { store: { commitMs: Number(flags['commit-ms']) } };
  // Bulk reads the receive ring's drops over the remote shell: one operator, only then.
  const shell = sections.has('bulk') ? await writeShellOperatorConfig(probeDirectory, randomBytes(12).toString('hex')) : undefined;
  const services = shell === undefined ? {} : (JSON.parse(readFileSync(shell.configFile, 'utf8')) as { services: object });
  // `--no-segment-offload`: net.segmentOffload false, TCP building every segment (the before of bench/BASELINE.md's offload section).
  const net = flags['no-segment-offload'] ? { net: { segmentOffload: false } } : {};
  writeFileSync(configPath, JSON.stringify({ tcp: { maxConnections: Math.max(1024, sizes.idleConnections + 512), synBacklog: 1024 }, ...store, ...services, ...net }));
  const probePath = join(probeDirectory, 'piwire-probe.json');
  const env: NodeJS.ProcessEnv = { PIWIRE_BENCH_PROBE: probePath };
  if (profileDirectory !== undefined && flags.profile) env.PIWIRE_BENCH_PROFILE = join(profileDirectory, 'firmware.cpuprofile');
  if (profileDirectory !== undefined && flags['heap-profile']) env.PIWIRE_BENCH_HEAP_PROFILE = join(profileDirectory, 'firmware.heapprofile');
  // PIWIRE_BENCH_HEAP=<path>: with --profile, the profiled window's allocations instead (bench/lib/firmware-entry.ts).
  if (process.env.PIWIRE_BENCH_HEAP) env.PIWIRE_BENCH_HEAP = process.env.PIWIRE_BENCH_HEAP;
  // PIWIRE_BENCH_HEAP_PROMOTED=1: with --heap-profile, only what outlived the young generation (bench/lib/firmware-entry.ts).
  if (process.env.PIWIRE_BENCH_HEAP_PROMOTED) env.PIWIRE_BENCH_HEAP_PROMOTED = process.env.PIWIRE_BENCH_HEAP_PROMOTED;
  // PIWIRE_BENCH_SNAPSHOT=<prefix>: a heap snapshot after each collecting probe (bench/lib/firmware-entry.ts).
  if (process.env.PIWIRE_BENCH_SNAPSHOT) env.PIWIRE_BENCH_SNAPSHOT = process.env.PIWIRE_BENCH_SNAPSHOT;
  // Profiling the idle window (no bulk or ingest run to profile): the section's own three memory probes come first (before the burst, then the settling time's two).
  const idleProfiled = profileDirectory !== undefined && !sections.has('bulk') && !sections.has('ingest');
  if (idleProfiled) env.PIWIRE_BENCH_PROFILE_AFTER = '3';
  const started = performance.now();
  const firmware: FirmwareProcess = startFirmware({
    namespace: topology.deviceNamespace,
    args: [...topology.firmwareArgs(), '--diag', '--config', configPath, '--state-dir', stateDirectory, '--log', 'json'],
    ...(flags.source ? { entry: 'bench/lib/firmware-entry.ts' } : { command: [process.execPath, ...nodeFlags, BENCH_BUNDLE] }),
    env,
  });
  await withFirmware(firmware, stateDirectory, async () => {
    await firmware.ready;
    const readyMs = performance.now() - started;
    const pid = firmware.pid!;
    await delay(2_000);
    results.startup = { readyMs, idleRssBytes: processRssBytes(pid) };
    if (sections.has('bulk')) {
      const bytes = sizes.bulkBytes(topology.mtu);
      const ringDrops = async (): Promise<number> => (await deviceCounters(topology.peerNamespace, topology.deviceAddress, shell!.secretFile))['link.drop.rx-overflow'] ?? 0;
      // The device's first shell session belongs to the warm-up: it sends segments with
      // other options through the shared TCP output code, whose reoptimisation landed
      // in the measured push when the first session came just before it (BASELINE,
      // "the receive path's warm-up").
      if (!flags.cold) await ringDrops();
      const warmUpPushes = await warmUp(topology, bytes, pid);
      // With a profile requested, the probes around the bulk runs start and stop the profiler.
      if (profileDirectory !== undefined) await probe(pid, probePath);
      const dropsBefore = await ringDrops();
      const push = await measureBulk(topology, 'push', bytes, pid);
      const dropsBetween = await ringDrops();
      const pull = await measureBulk(topology, 'pull', bytes, pid);
      push.ringDrops = dropsBetween - dropsBefore;
      pull.ringDrops = (await ringDrops()) - dropsBetween;
      results.bulk = { push, pull, warmUpPushes };
      if (profileDirectory !== undefined) await probe(pid, probePath);
      log(`piwire MTU ${topology.mtu} bulk (${describeWarmUp(warmUpPushes)}): in ${describeBulk(results.bulk.push)}, out ${describeBulk(results.bulk.pull)}`);
    }
    results.sensorAvailable = await sensorAnswers(topology);
    if (results.sensorAvailable) {
      if (sections.has('latency')) {
        results.latency = await measureLatency(topology);
      }
      if (sections.has('ingest')) {
        // Without bulk, --profile covers the ingest run instead.
        const profiled = profileDirectory !== undefined && !sections.has('bulk');
        if (profiled) await probe(pid, probePath);
        results.ingest = await measureIngest(topology, pid);
        if (profiled) await probe(pid, probePath);
      }
      if (sections.has('idle')) {
        results.idle = await measureIdle(topology, pid, probePath, idleProfiled);
        const spaces = Object.entries(results.idle.heapSpacesPerConnection ?? {}).filter(([, space]) => Math.abs(space.resident) >= 1 || Math.abs(space.used) >= 1);
        log(`piwire MTU ${topology.mtu} idle, per connection, V8 heap space used / resident: ${spaces.map(([name, space]) => `${name} ${space.used.toFixed(0)} / ${space.resident.toFixed(0)} B`).join(', ')}`);
      }
      if (sections.has('churn')) results.churn = await measureChurn(topology, pid, probePath);
      log(`piwire MTU ${topology.mtu} sensor sections done`);
    } else if (sections.has('latency') || sections.has('ingest') || sections.has('idle') || sections.has('churn')) {
      log(`piwire MTU ${topology.mtu}: port ${SENSOR_PORT} does not answer PING: sensor sections not available`);
    }
  });
  return results;
}

// ---------------------------------------------------------------------------------------
// Section floor: the cheapest JavaScript TCP endpoint on the same link (issue 13's floor)

/**
 * bench/lib/floor-responder.ts on the device end of the same veth, with the same bulk
 * clients: frames through the same addon and link class as the firmware, checksums
 * verified and computed with the stack's routine, one ACK per received batch, segments
 * built into reused frames, and no TCP state beyond sequence numbers (and, since the veth
 * reorders a pacing sender's frames, the ranges received early, reported in SACK
 * blocks, without which the push direction stalled). What the firmware
 * spends above it is its TCP; what it spends is the price of the platform.
 */
async function floorSide(topology: VethTopology): Promise<{ push: BulkFigures; pull: BulkFigures }> {
  const responder = spawnInNamespace(
    topology.deviceNamespace,
    [process.execPath, ...nodeFlags, '--import', 'tsx', join(REPOSITORY_ROOT, 'bench/lib/floor-responder.ts'), `packet:${topology.deviceInterface}`, topology.deviceAddress],
    { cwd: REPOSITORY_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  try {
    await firstJsonLine(responder, 30_000);
    const bytes = sizes.bulkBytes(topology.mtu);
    const pid = responder.pid!;
    const warmUpPushes = await warmUp(topology, bytes, pid);
    const result = { push: await measureBulk(topology, 'push', bytes, pid), pull: await measureBulk(topology, 'pull', bytes, pid), warmUpPushes };
    log(`floor MTU ${topology.mtu} bulk (${describeWarmUp(warmUpPushes)}): in ${describeBulk(result.push)}, out ${describeBulk(result.pull)}`);
    return result;
  } finally {
    await stopChild(responder);
    await exec(topology.peerNamespace, ['ip', 'neigh', 'flush', 'dev', topology.peerInterface]);
  }
}

function addFloorRows(mtu: number, floor: { push: BulkFigures; pull: BulkFigures }, kernel: SideResults): void {
  for (const [direction, label] of [['push', 'into device (discard)'], ['pull', 'out of device (chargen)']] as const) {
    const f = floor[direction];
    const k = kernel.bulk?.[direction];
    const what = `${label}, JS floor (no TCP state, checksums, one ACK per batch)`;
    record({ section: 'floor', metric: what, mtu, unit: 'Mbit/s', piwire: f.mbitPerSecond, kernel: k?.mbitPerSecond, better: 'higher' });
    record({ section: 'floor', metric: `${what}: process CPU`, mtu, unit: 'CPU s/GiB', piwire: f.processCpuPerGib, kernel: k?.processCpuPerGib, better: 'lower' });
    record({ section: 'floor', metric: `${what}: process CPU, user`, mtu, unit: 'CPU s/GiB', piwire: f.processUserCpuPerGib, kernel: k?.processUserCpuPerGib, better: 'lower' });
  }
}

// ---------------------------------------------------------------------------------------
// Table

const NOT_AVAILABLE = 'not available (sensor service not running)';

/**
 * The bulk rows of one pair of runs; `condition` names what differs from the plain
 * topology (", GRO on the device's interface"), in every row's metric.
 */
function addBulkRows(mtu: number, kernel: SideResults, piwire: SideResults, condition: string): void {
  if (kernel.bulk && piwire.bulk) {
    // Issue 13's targets (MTU 1500): ≥ 2 Gbit/s and ≥ 35% of the kernel; ≤ 3 CPU s per GiB in all.
    const bulkTarget = mtu === 1500 ? '≥ 2000 and ≥ 35% of kernel' : undefined;
    for (const [mode, direction] of [['push', 'bulk into device (discard)'], ['pull', 'bulk out of device (chargen)']] as const) {
      const label = `${direction}${condition}`;

      const p = piwire.bulk[mode];
      const k = kernel.bulk[mode];
      record({
        section: 'bulk', metric: `${label}`, mtu, unit: 'Mbit/s', piwire: p.mbitPerSecond, kernel: k.mbitPerSecond, better: 'higher',
        target: bulkTarget, met: bulkTarget ? p.mbitPerSecond >= 2000 && p.mbitPerSecond >= 0.35 * k.mbitPerSecond : undefined,
      });
      record({
        section: 'bulk', metric: `${label}: server process CPU`, mtu, unit: 'CPU s/GiB', piwire: p.processCpuPerGib, kernel: k.processCpuPerGib, better: 'lower',
        target: bulkTarget ? '≤ 3 in all' : undefined, met: bulkTarget ? p.processCpuPerGib <= 3 : undefined,
      });
      record({
        section: 'bulk', metric: `${label}: server process user CPU`, mtu, unit: 'CPU s/GiB', piwire: p.processUserCpuPerGib, kernel: k.processUserCpuPerGib, better: 'lower',
        target: bulkTarget ? '≤ 1.5' : undefined, met: bulkTarget ? p.processUserCpuPerGib <= 1.5 : undefined,
      });
      record({ section: 'bulk', metric: `${label}: server process system CPU`, mtu, unit: 'CPU s/GiB', piwire: p.processSystemCpuPerGib, kernel: k.processSystemCpuPerGib, better: 'lower' });
      record({ section: 'bulk', metric: `${label}: whole machine CPU`, mtu, unit: 'CPU s/GiB', piwire: p.machineCpuPerGib, kernel: k.machineCpuPerGib, better: 'lower' });
      if (p.ringDrops !== undefined) record({ section: 'bulk', metric: `${label}: frames dropped, receive ring full`, mtu, unit: 'frames', piwire: p.ringDrops, kernel: undefined, better: 'lower' });
    }
  }
}

function addRows(mtu: number, kernel: SideResults, piwire: SideResults): void {
  addBulkRows(mtu, kernel, piwire, '');
  const sensorMissing = piwire.sensorAvailable === false;
  if (selected.has('latency')) {
    const p = piwire.latency;
    const k = kernel.latency;
    for (const [key, label] of [['p50Micros', 'p50'], ['p99Micros', 'p99'], ['p999Micros', 'p99.9']] as const) {
      record({
        section: 'latency', metric: `PING/PONG ${label} (one connection, 800 req/s)`, mtu, unit: 'µs', piwire: p ? p[key] : sensorMissing ? NOT_AVAILABLE : undefined, kernel: k?.[key], better: 'lower',
        target: key === 'p99Micros' ? '≤ 1.5× kernel' : undefined,
        met: key === 'p99Micros' && p && k ? p.p99Micros <= 1.5 * k.p99Micros : undefined,
      });
    }
    const warmUpP99 = (figures: LatencyFigures | undefined): number | undefined => figures?.warmUp?.p99Micros ?? undefined;
    record({
      section: 'latency', metric: `PING/PONG p99 during the warm-up (the connection's first ${sizes.latencyWarmUp.toLocaleString('en-US')} round trips)`, mtu, unit: 'µs',
      piwire: p ? warmUpP99(p) : sensorMissing ? NOT_AVAILABLE : undefined, kernel: warmUpP99(k), better: 'lower',
    });
  }
  if (selected.has('ingest')) {
    const p = piwire.ingest;
    record({
      section: 'ingest', metric: `readings/s, ${sizes.ingestConnections} conns, QUIET PUT (kernel: in memory, not durable)`, mtu, unit: 'readings/s',
      piwire: p ? p.readingsPerSecond : sensorMissing ? NOT_AVAILABLE : undefined, kernel: kernel.ingest?.readingsPerSecond, better: 'higher',
      target: '≥ 200000 durable', met: p ? p.readingsPerSecond >= 200_000 : undefined,
    });
    record({
      section: 'ingest', metric: 'server process CPU per 100,000 readings (kernel: in memory, not durable)', mtu, unit: 'CPU s',
      piwire: p ? p.serverCpuPer100k : sensorMissing ? NOT_AVAILABLE : undefined, kernel: kernel.ingest?.serverCpuPer100k, better: 'lower',
    });
    if (p && p.errors > 0) notes.push(`MTU ${mtu} ingest: ${p.errors} of ${p.committed + p.errors} PUTs were refused (${JSON.stringify(p.errorKinds)}); only committed readings count.`);
  }
  if (selected.has('idle')) {
    const p = piwire.idle;
    const k = kernel.idle;
    const missing = sensorMissing ? NOT_AVAILABLE : undefined;
    record({ section: 'idle', metric: 'idle connections held', mtu, unit: 'connections', piwire: p ? p.alive : missing, kernel: k?.alive, better: 'higher' });
    record({
      section: 'idle', metric: 'JS heap per idle connection (after GC)', mtu, unit: 'bytes', piwire: p ? p.heapPerConnection : missing, kernel: k?.heapPerConnection, better: 'lower',
      target: '≤ 4096', met: p ? p.heapPerConnection <= 4096 : undefined,
    });
    record({
      section: 'idle', metric: 'ArrayBuffer memory per idle connection (buffers)', mtu, unit: 'bytes', piwire: p ? p.arrayBuffersPerConnection : missing, kernel: k?.arrayBuffersPerConnection, better: 'lower',
    });
    record({ section: 'idle', metric: 'RSS per idle connection', mtu, unit: 'bytes', piwire: p ? p.rssPerConnection : missing, kernel: k?.rssPerConnection, better: 'lower' });
    if (p?.heapResidentPerConnection !== undefined) {
      record({ section: 'idle', metric: 'JS heap resident pages per idle connection (after GC)', mtu, unit: 'bytes', piwire: p.heapResidentPerConnection, kernel: undefined, better: 'lower' });
    }
    record({
      section: 'idle', metric: `RSS per idle connection after the ${sizes.idleWindowSeconds} s window`, mtu, unit: 'bytes',
      piwire: p ? p.rssPerConnectionAfterWindow : missing, kernel: k?.rssPerConnectionAfterWindow, better: 'lower',
      target: '≤ 4096', met: p ? p.rssPerConnectionAfterWindow <= 4096 : undefined,
    });
    if (p?.window !== undefined) {
      const seconds = sizes.idleWindowSeconds;
      record({ section: 'idle', metric: 'allocated in the idle window, per second', mtu, unit: 'KB/s', piwire: p.window.allocatedBytes / seconds / 1e3, kernel: undefined, better: 'lower' });
      record({ section: 'idle', metric: 'scavenges / full collections in the idle window', mtu, unit: 'count', piwire: `${p.window.scavenges} / ${p.window.markCompacts}`, kernel: undefined, better: 'lower' });
      // What feeds the full collections: bytes the scavenges moved into the old generation.
      record({ section: 'idle', metric: 'promoted to the old generation in the idle window, per minute', mtu, unit: 'KB/min', piwire: (p.window.promotedBytes / seconds) * 60 / 1e3, kernel: undefined, better: 'lower' });
      record({ section: 'idle', metric: 'time in GC in the idle window', mtu, unit: 'ms', piwire: p.window.gcMs, kernel: undefined, better: 'lower' });
    }
    record({
      section: 'idle', metric: `CPU in the ${sizes.idleSettleSeconds} s after the accept burst, before the window`, mtu, unit: '% of a core',
      piwire: p ? p.settleCpuPercent : missing, kernel: k?.settleCpuPercent, better: 'lower',
    });
    if (p?.settle !== undefined) {
      record({ section: 'idle', metric: 'scavenges / full collections after the accept burst, before the window', mtu, unit: 'count', piwire: `${p.settle.scavenges} / ${p.settle.markCompacts}`, kernel: undefined, better: 'lower' });
    }
    record({
      section: 'idle', metric: `CPU with idle keepalive connections, the LAN's receive inside our sends (veth default, ${sizes.idleInlineSeconds} s before the window)`, mtu, unit: '% of a core',
      piwire: p ? p.inlineCpuPercent : missing, kernel: k?.inlineCpuPercent, better: 'lower',
    });
    const ownThread = p?.peerReceiveThread === true;
    record({
      section: 'idle', metric: `CPU with idle keepalive connections (${sizes.idleWindowSeconds} s window${ownThread ? ', the LAN\'s receive on its own thread' : ''})`, mtu, unit: '% of a core', piwire: p ? p.cpuPercent : missing, kernel: k?.cpuPercent, better: 'lower',
      target: '< 2', met: p ? p.cpuPercent < 2 : undefined,
    });
    record({
      section: 'idle', metric: '… of it user time (JavaScript, V8)', mtu, unit: '% of a core', piwire: p ? p.cpuUserPercent : missing, kernel: k?.cpuUserPercent, better: 'lower',
    });
    record({
      section: 'idle', metric: '… of it system time (syscalls, the kernel on our sends)', mtu, unit: '% of a core', piwire: p ? p.cpuSystemPercent : missing, kernel: k?.cpuSystemPercent, better: 'lower',
    });
  }
  if (selected.has('churn')) {
    const p = piwire.churn;
    const k = kernel.churn;
    const missing = sensorMissing ? NOT_AVAILABLE : undefined;
    const sessions = sizes.churnRounds * sizes.churnSessions;
    record({ section: 'churn', metric: `short sessions completed (of ${sessions}, half server-closed)`, mtu, unit: 'sessions', piwire: p ? p.sessions : missing, kernel: k?.sessions, better: 'higher' });
    record({
      section: 'churn', metric: `JS heap growth after ${sessions} sessions (after GC)`, mtu, unit: 'MB', piwire: p ? p.heapGrowth / 1e6 : missing, kernel: k ? k.heapGrowth / 1e6 : undefined, better: 'lower',
      target: '≤ 5 MB', met: p ? p.heapGrowth <= 5e6 : undefined,
    });
    record({ section: 'churn', metric: `RSS growth after ${sessions} sessions`, mtu, unit: 'MB', piwire: p ? p.rssGrowth / 1e6 : missing, kernel: k ? k.rssGrowth / 1e6 : undefined, better: 'lower' });
    record({ section: 'churn', metric: 'RSS after the churn', mtu, unit: 'MB', piwire: p ? p.rssAfter / 1e6 : missing, kernel: k ? k.rssAfter / 1e6 : undefined, better: 'lower' });
    if (p && p.failed > 0) notes.push(`MTU ${mtu} churn: ${p.failed} piwire sessions failed.`);
  }
  if (selected.has('startup') && piwire.startup && kernel.startup) {
    record({
      section: 'startup', metric: 'spawn to ready (kernel: Node sensor server listening)', mtu, unit: 'ms', piwire: piwire.startup.readyMs, kernel: kernel.startup.readyMs, better: 'lower',
      target: '≤ 500', met: piwire.startup.readyMs <= 500,
    });
    record({
      section: 'startup', metric: 'idle RSS', mtu, unit: 'MB', piwire: piwire.startup.idleRssBytes / 1e6, kernel: kernel.startup.idleRssBytes / 1e6, better: 'lower',
      target: '≤ 60', met: piwire.startup.idleRssBytes / 1e6 <= 60,
    });
  }
}

function format(value: number | string | undefined): string {
  if (value === undefined) return '—';
  if (typeof value === 'string') return value;
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function renderTable(): string {
  const lines = [
    '| section | metric | MTU | unit | piwire | Linux kernel | piwire / kernel | target | met |',
    '| --- | --- | --- | --- | ---: | ---: | ---: | --- | --- |',
  ];
  for (const row of rows) {
    const ratio = typeof row.piwire === 'number' && typeof row.kernel === 'number' && row.kernel !== 0 ? `${(row.piwire / row.kernel).toFixed(2)}×` : '—';
    const met = row.met === undefined ? '' : row.met ? 'yes' : '**no**';
    lines.push(`| ${row.section} | ${row.metric} | ${row.mtu ?? '—'} | ${row.unit} | ${format(row.piwire)} | ${format(row.kernel)} | ${ratio} | ${row.target ?? ''} | ${met} |`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------
// Section loss: goodput and stalls through a bridge that drops frames at random (issue 12)

/** The congestion control the loss section's kernel ends used (server; clients), for the report's header. */
let lossKernelCongestion: { server: string; clients: string } | undefined;

/**
 * The loss section on one path: the kernel's servers on their own port of the bridge
 * (`kernelPort`) and the firmware on `veth-dev`, both running, each warmed up without loss,
 * then every cell with their transfers alternating (measureLossCells).
 */
async function lossSideBySide(path: LossyPath): Promise<{ kernel: LossCell[]; piwire: LossCell[] }> {
  const kernelPort = path.kernelPort;
  if (kernelPort === undefined) throw new Error('the loss section needs the path built with its kernel port (createLossyPath kernelPort)');
  const congestion = sizes.loss.kernelCongestion;
  const server = spawnInNamespace(path.deviceNamespace, [SYSTEM_PYTHON, CLIENTS + 'kernel_bulk_server.py', '--address', kernelPort.address, ...(congestion === undefined ? [] : ['--congestion', congestion])]);
  try {
    const listening = await firstJsonLine<{ congestion?: string }>(server, 15_000);
    const clientDefault = (await path.execPeer(['sysctl', '-n', 'net.ipv4.tcp_congestion_control'])).stdout.trim() || 'unknown';
    lossKernelCongestion = { server: listening.congestion ?? 'unknown', clients: congestion ?? clientDefault };
    await warmUpEachWay(path, sizes.lossWarmUpBytes, kernelPort.address);

    const stateDirectory = mkdtempSync(join(tmpdir(), 'pw-bench-state-'));
    // tcp.congestion from a config file (`--congestion`, `--piwire-congestion`; flags win over it, none sets it).
    const configFile = join(stateDirectory, 'bench-config.json');
    writeFileSync(configFile, JSON.stringify({ tcp: { congestion: piwireCongestion } }));
    // The built bundle, as in the bulk section (`--source`: the TypeScript sources under tsx).
    const firmware = startFirmware({
      namespace: path.deviceNamespace,
      args: [...path.firmwareArgs(), '--diag', '--state-dir', stateDirectory, '--log', 'json', '--config', configFile],
      ...(flags.source ? {} : { command: [process.execPath, ...nodeFlags, BENCH_BUNDLE] }),
    });
    return await withFirmware(firmware, stateDirectory, async () => {
      await firmware.ready;
      await warmUpEachWay(path, sizes.lossWarmUpBytes);
      log(`MTU ${path.mtu} loss, the kernel (${kernelPort.address}) and piwire (${path.deviceAddress}) alternating:`);
      const [kernel, piwire] = await measureLossCells(path, sizes.loss, CLIENTS, log, [
        { stack: 'kernel', address: kernelPort.address },
        { stack: 'piwire', pid: firmware.pid },
      ]);
      return { kernel: kernel!, piwire: piwire! };
    });
  } finally {
    await stopChild(server);
  }
}

function addLossRows(mtu: number, kernel: LossCell[], piwire: LossCell[]): void {
  const runs = sizes.loss.repetitions;
  for (const p of piwire) {
    const k = kernel.find((cell) => cell.rate === p.rate && cell.mode === p.mode);
    const label = `${DIRECTION_LABELS[p.mode]}, ${(p.rate * 100).toFixed(0)}% loss each way`;
    const lossy = p.rate > 0;
    record({
      section: 'loss', metric: `${label}: goodput, median of ${runs}`, mtu, unit: 'Mbit/s', piwire: p.medianMbitPerSecond, kernel: k?.medianMbitPerSecond, better: 'higher',
      target: lossy ? '≥ 50% of kernel' : undefined, met: lossy && k ? p.medianMbitPerSecond >= 0.5 * k.medianMbitPerSecond : undefined,
    });
    record({
      section: 'loss', metric: `${label}: longest stall (wire), worst of ${runs}`, mtu, unit: 'ms', piwire: p.worstStallMs, kernel: k?.worstStallMs, better: 'lower',
      target: `≤ 1 RTO (≤ ${RTO_REFERENCE_MS} ms)`, met: p.worstStallMs <= RTO_REFERENCE_MS,
    });
    // The Python client's own measure of the same transfers (its clock, 1 ms polling in push), for comparison with the wire.
    record({ section: 'loss', metric: `${label}: longest stall as the kernel client timed it, worst of ${runs}`, mtu, unit: 'ms', piwire: p.worstClientViewStallMs, kernel: k?.worstClientViewStallMs, better: 'lower' });
    if (p.mode === 'echo') {
      // The echo stalls that began with nothing left to echo: the kernel client's own
      // sending held them up (bench/clients/lossy_bulk.py), not the server's.
      record({ section: 'loss', metric: `${label}: longest stall held up by the kernel client's sending, worst of ${runs}`, mtu, unit: 'ms', piwire: p.worstClientStallMs, kernel: k?.worstClientStallMs, better: 'lower' });
    }
    // What bounds a loss-limited sender: goodput ~ MSS / (RTT·√p) (Mathis et al. 1997), so
    // at the same loss the ratio of the RTTs is the ratio of goodputs to expect.
    if (Number.isFinite(p.medianRttUs)) {
      const whose = p.mode === 'push' ? "kernel client's smoothed RTT (sender; includes the server's ACK time)" : "kernel client's receiver-side RTT estimate";
      record({ section: 'loss', metric: `${label}: ${whose}, median of ${runs}`, mtu, unit: 'µs', piwire: p.medianRttUs, kernel: k?.medianRttUs, better: 'lower' });
    }
    // The firmware's main thread on CPU per GiB while the clients ran (JavaScript and its
    // system calls, which on this veth path include the LAN end's receive): with goodput,
    // the before/after figure. Piwire only (bench/lib/loss.ts).
    if (Number.isFinite(p.serverCpuSecondsPerGib)) {
      record({ section: 'loss', metric: `${label}: firmware main thread CPU while the ${runs} runs' clients ran`, mtu, unit: 'CPU s/GiB', piwire: p.serverCpuSecondsPerGib, kernel: undefined, better: 'lower' });
    }
    if (Number.isFinite(p.medianSenderCwnd)) {
      record({ section: 'loss', metric: `${label}: kernel client's cwnd (sender), median of ${runs}`, mtu, unit: 'segments', piwire: p.medianSenderCwnd, kernel: k?.medianSenderCwnd, better: 'higher' });
    }
    for (const [side, cell] of [['piwire', p], ['kernel', k]] as const) {
      if (cell && cell.captureDropped > 0) notes.push(`MTU ${mtu} loss, ${side}, ${label}: the captures dropped ${cell.captureDropped} frames (the wire's stall figure is incomplete).`);
      if (cell && cell.captureIncomplete > 0) notes.push(`MTU ${mtu} loss, ${side}, ${label}: ${cell.captureIncomplete} of ${runs} captures did not hold the whole transfer (their stall is the client's figure).`);
      if (cell && cell.cut > 0) notes.push(`MTU ${mtu} loss, ${side}, ${label}: ${cell.cut} of ${runs} transfers did not finish within ${sizes.loss.deadlineSeconds} s (counted with the bytes moved by then).`);
      const slowStarts = cell?.runs.filter((run) => (run.first_byte_ms ?? 0) > RTO_REFERENCE_MS).length ?? 0;
      if (slowStarts > 0) notes.push(`MTU ${mtu} loss, ${side}, ${label}: ${slowStarts} of ${runs} transfers waited more than ${RTO_REFERENCE_MS} ms for the first byte (a handshake segment lost; not counted in goodput or stall).`);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Section libraries: the same library code on piwire (memory wire) and node:net (loopback)

async function libraryRows(topology: VethTopology): Promise<void> {
  log('libraries: node:net over the loopback of the LAN namespace');
  const run = await topology.execPeer([process.execPath, '--import', 'tsx', join(REPOSITORY_ROOT, 'bench/clients/libraries.ts'), ...(quick ? ['--quick'] : [])], {
    timeoutMs: 300_000,
    cwd: REPOSITORY_ROOT,
  });
  if (run.code !== 0) throw new Error(`libraries (kernel) failed: ${run.stderr}`);
  const kernel = JSON.parse(run.stdout) as LibrariesResult;
  log('libraries: piwire, two stacks on the memory wire');
  const piwire = await measureLibraries('piwire', quick);
  raw['libraries'] = { kernel, piwire };
  const row = (metric: string, unit: string, key: keyof LibrariesResult, better: 'higher' | 'lower', target?: string, met?: boolean): void =>
    record({ section: 'libraries', metric, mtu: undefined, unit, piwire: piwire[key], kernel: kernel[key], better, target, met });
  row('mqtt + aedes, QoS 1 publish→PUBACK, median', 'ms', 'mqttPubackMedianMs', 'lower', 'within 2× of the kernel', piwire.mqttPubackMedianMs <= 2 * kernel.mqttPubackMedianMs);
  row('mqtt + aedes, QoS 1 publish→PUBACK, p99', 'ms', 'mqttPubackP99Ms', 'lower', 'no 40 ms stall', piwire.mqttPubackP99Ms < 40);
  row('node:http GET, one kept-alive connection, sequential', 'requests/s', 'httpRequestsPerSecond', 'higher', 'within 2× of the kernel', piwire.httpRequestsPerSecond * 2 >= kernel.httpRequestsPerSecond);
  row('corked 2+2-byte request / corked reply, median', 'ms', 'corkedRoundTripMedianMs', 'lower', 'no 40 ms stall', piwire.corkedRoundTripMedianMs < 40);
}

// ---------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  const needsNetns = VETH_SECTIONS.some((section) => selected.has(section)) || selected.has('loss');
  if (needsNetns) {
    const availability = canUseNetns();
    if (!availability.ok) {
      process.stderr.write(`bench: needs root and network namespaces (${availability.reason}); run it with sudo\n`);
      return 1;
    }
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  mkdirSync(RESULTS, { recursive: true });
  const workDirectory = mkdtempSync(join(tmpdir(), 'pw-bench-'));
  if (needsNetns && !flags.source) {
    await buildBenchBundle();
  }
  const hotSpots: Record<string, HotSpot[]> = {};
  const allocationSites: Record<string, AllocationSite[]> = {};
  let sweep: SweepPoint[] | undefined;
  try {
    if (VETH_SECTIONS.some((section) => selected.has(section))) {
      for (const mtu of mtus) {
        log(`MTU ${mtu}: building the veth topology`);
        const topology = await createTopology({ mtu, prefix: 'pwb' });
        try {
          if (topology.offloads.unchangeable.length > 0) notes.push(`MTU ${mtu}: offloads that could not be switched off: ${topology.offloads.unchangeable.join(', ')}`);
          if (selected.has('libraries') && mtu === mtus[0]) await libraryRows(topology);
          const kernel = await kernelSide(topology, workDirectory);
          const profiledSection = selected.has('bulk') ? 'bulk' : selected.has('ingest') ? 'ingest' : selected.has('idle') ? 'idle' : undefined;
          const profileDirectory = (flags.profile || flags['heap-profile']) && mtu === 1500 && profiledSection !== undefined ? join(workDirectory, 'profile') : undefined;
          if (profileDirectory !== undefined) mkdirSync(profileDirectory, { recursive: true });
          const piwire = await piwireSide(topology, workDirectory, profileDirectory);
          const floor = selected.has('floor') ? await floorSide(topology).catch((error: unknown) => {
            // A measuring tool, not the product: its failure costs its rows, not the run.
            notes.push(`MTU ${mtu} floor: not measured (${error instanceof Error ? error.message : String(error)})`);
            return undefined;
          }) : undefined;
          raw[`mtu${mtu}`] = { kernel, piwire, floor };
          addRows(mtu, kernel, piwire);
          if (selected.has('bulk') && mtu === 1500) {
            // Bulk again with GRO on the device's interface, as a NIC driver has it by
            // default (and a macvlan's parent whatever the macvlan asks): the kernel
            // merges in-order segments before the device's socket sees them, for both
            // servers alike. The firmware, started after the switch, receives the merged
            // frames whole (net.receiveOffload, hal/link/packet.ts).
            log(`MTU ${mtu}: bulk with GRO on ${topology.deviceInterface}`);
            const gro = (state: 'on' | 'off'): Promise<unknown> => execOrThrow(topology.deviceNamespace, ['ethtool', '-K', topology.deviceInterface, 'gro', state]);
            await gro('on');
            try {
              const bulkOnly = new Set<Section>(['bulk']);
              const kernelGro = await kernelSide(topology, workDirectory, bulkOnly);
              const piwireGro = await piwireSide(topology, workDirectory, undefined, bulkOnly);
              raw[`mtu${mtu}-gro`] = { kernel: kernelGro, piwire: piwireGro };
              addBulkRows(mtu, kernelGro, piwireGro, `, GRO on the device's interface`);
            } finally {
              await gro('off');
            }
          }
          if (floor) addFloorRows(mtu, floor, kernel);
          if (profileDirectory !== undefined) {
            const file = readdirSync(profileDirectory).find((name) => name.endsWith('.cpuprofile'));
            if (file) {
              const kept = join(RESULTS, `${stamp}-${profiledSection}-mtu${mtu}.cpuprofile`);
              copyFileSync(join(profileDirectory, file), kept);
              hotSpots[`${profiledSection} mtu${mtu}`] = summariseProfile(kept, REPOSITORY_ROOT);
            } else if (flags.profile) notes.push('--profile: the firmware wrote no CPU profile');
            const heapFile = readdirSync(profileDirectory).find((name) => name.endsWith('.heapprofile'));
            if (heapFile) {
              const kept = join(RESULTS, `${stamp}-${profiledSection}-mtu${mtu}.heapprofile`);
              copyFileSync(join(profileDirectory, heapFile), kept);
              allocationSites[`${profiledSection} mtu${mtu}`] = summariseHeapProfile(kept, REPOSITORY_ROOT);
            } else if (flags['heap-profile']) notes.push('--heap-profile: the firmware wrote no heap profile');
          }
        } finally {
          await topology.destroy();
        }
      }
    }
    if (selected.has('instructions')) {
      if (!valgrindAvailable()) {
        notes.push('instructions: valgrind is not installed (apt-get install valgrind)');
      } else {
        const [small, large] = sizes.instructionBytes;
        const figures = await measureInstructions(1500, small, large);
        raw.instructions = figures;
        record({
          section: 'instructions', metric: `instructions per data segment, stack-only run (callgrind; incl. 1 ACK per ${figures.dataSegmentsPerAck.toFixed(1)} segments, both stacks)`, mtu: 1500, unit: 'instructions',
          piwire: figures.instructionsPerDataSegment, kernel: undefined, better: 'lower',
        });
        record({ section: 'instructions', metric: 'instructions per payload byte, stack-only run (callgrind)', mtu: 1500, unit: 'instructions', piwire: figures.instructionsPerByte, kernel: undefined, better: 'lower' });
        log(`instructions: ${figures.instructionsPerDataSegment.toFixed(0)} per data segment`);
      }
    }
    if (selected.has('loss')) {
      for (const mtu of mtus) {
        log(`MTU ${mtu}: building the bridged path with random loss`);
        const path = await createLossyPath({ mtu, prefix: 'pwb', kernelPort: true });
        try {
          if (path.offloads.unchangeable.length > 0) notes.push(`MTU ${mtu} loss path: offloads that could not be switched off: ${path.offloads.unchangeable.join(', ')}`);
          const { kernel, piwire } = await lossSideBySide(path);
          raw[`loss${mtu}`] = { plan: sizes.loss, kernel, piwire };
          addLossRows(mtu, kernel, piwire);
        } finally {
          await path.destroy();
        }
      }
    }
    if (selected.has('stack')) {
      // State sizes first: buffers of the stack-only runs are released too late for a
      // clean heap baseline.
      const state = measureStateSizes(10_000);
      raw.stateSizes = state;
      record({
        section: 'stack', metric: `memory per TIME-WAIT record (${state.count} in TIME-WAIT, heap + buffers after GC)`, mtu: undefined, unit: 'bytes',
        piwire: state.timeWaitBytes, kernel: undefined, better: 'lower', target: '≤ 200', met: state.timeWaitBytes <= 200,
      });
      record({
        section: 'stack', metric: 'memory per established idle connection, in-process (what TIME-WAIT held before)', mtu: undefined, unit: 'bytes',
        piwire: state.establishedBytes, kernel: undefined, better: 'lower',
      });
      log(`state sizes: TIME-WAIT ${state.timeWaitBytes.toFixed(0)} B, established ${state.establishedBytes.toFixed(0)} B`);
      // Issue 13's idle connection, in-process and bundled: the device's side of each layer.
      const idle = await measureIdleSizesBundled(sizes.idleSizeConnections);
      raw.idleSizes = idle;
      const layers = [
        ['tcp', 'TCP alone (a bare connection)'],
        ['socket', 'TCP + socket (a server that only reads)'],
        ['sensor', 'sensor connection, never used'],
        ['sensor-used', 'sensor connection after one exchange'],
      ] as const;
      for (const [variant, what] of layers) {
        record({
          section: 'stack', metric: `memory per idle connection, in-process, ${what} (${idle.count} pairs, heap + buffers after GC)`, mtu: undefined, unit: 'bytes',
          piwire: idle.device[variant], kernel: undefined, better: 'lower', ...(variant === 'sensor-used' ? { target: '≤ 4096', met: idle.device[variant] <= 4096 } : {}),
        });
      }
      for (const mtu of mtus) {
        const result = runStackOnly(mtu, sizes.stackBytes(mtu));
        raw[`stack${mtu}`] = result;
        record({ section: 'stack', metric: 'two stacks on the memory wire (no syscalls), one direction', mtu, unit: 'Gbit/s', piwire: result.gbitPerSecond, kernel: undefined, better: 'higher' });
        record({ section: 'stack', metric: 'TCP segments (data + ACK) per wall second', mtu, unit: 'segments/s', piwire: result.segmentsPerSecond, kernel: undefined, better: 'higher' });
        log(`stack-only MTU ${mtu}: ${result.gbitPerSecond.toFixed(3)} Gbit/s`);
      }
      const nonReaders = await measureNonReaders(25);
      raw.nonReaders = nonReaders;
      record({
        section: 'stack', metric: `${nonReaders.clients} non-reading subscribers for a simulated hour: peak connections / orphans (virtual time)`, mtu: undefined, unit: 'count',
        piwire: `${nonReaders.peakConnections} / ${nonReaders.peakOrphans} (${nonReaders.orphansGivenUp} orphans gave up)`, kernel: undefined, better: 'lower',
      });
      record({
        section: 'stack', metric: 'connections / orphans left 10 simulated minutes after they stopped', mtu: undefined, unit: 'count',
        piwire: `${nonReaders.connectionsAfter} / ${nonReaders.orphansAfter}`, kernel: undefined, better: 'lower', target: '0 / 0', met: nonReaders.connectionsAfter + nonReaders.orphansAfter === 0,
      });
    }
    if (selected.has('sweep')) {
      log(`loss sweep on the memory wire (virtual time), ${sizes.sweepBytes / MIB} MiB per point`);
      sweep = runLossSweep({
        bytes: sizes.sweepBytes,
        mtus,
        onPoint: (p) => log(`  MTU ${p.mtu}, ${(p.loss * 100).toFixed(1)}% loss, ${(p.reorder * 100).toFixed(0)}% reordered: ${p.goodputMbitPerSecond.toFixed(2)} Mbit/s virtual, ${p.rtos} RTOs`),
      });
      raw.sweep = sweep;
      const unfinished = sweep.filter((point) => !point.completed).length;
      if (unfinished > 0) notes.push(`sweep: ${unfinished} points did not complete within the virtual-time bound`);
    }
  } finally {
    rmSync(workDirectory, { recursive: true, force: true });
  }

  let markdown = `# piwire benchmark, ${new Date().toISOString()}${quick ? ' (--quick)' : ''}\n\n`;
  markdown += `Machine: ${(await import('node:os')).cpus().length} CPUs (${(await import('node:os')).cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, kernel ${(await import('node:os')).release()}.\n`;
  if (VETH_SECTIONS.some((section) => selected.has(section))) {
    markdown += 'Veth pair between two namespaces, offloads (tx, rx, tso, gso, gro) off on both ends, same MTU on both; kernel and piwire measured one after the other on the same pair.\n\n';
    if (selected.has('bulk') && mtus.includes(1500)) markdown += "Rows \"GRO on the device's interface\": the same bulk runs again with `ethtool -K veth-dev gro on` (the kernel merges in-order segments before the device's socket sees them, as a NIC driver does by default), both servers started after the switch.\n\n";
    if (selected.has('bulk') || selected.has('floor')) {
      markdown += flags.cold
        ? 'Bulk: the first transfer after each server started (`--cold`: the firmware\'s JIT warm-up included).\n\n'
        : 'Bulk: steady state, after untimed transfers of the same size: one each way, then pushes until the push\'s user CPU per GiB stops falling (at least 3, at most 5; `--cold` to include the JIT warm-up).\n\n';
    }
  }
  if (selected.has('loss')) {
    markdown +=
      `Loss section: device — bridge — LAN namespaces (four veths, offloads off, same MTU); nft in the bridge namespace drops forwarded IPv4 frames at random, each direction; ` +
      (lossKernelCongestion === undefined ? '' : `the kernel's congestion control: ${lossKernelCongestion.server} (server), ${lossKernelCongestion.clients} (clients)${sizes.loss.kernelCongestion === undefined ? ', the host\'s default (`--kernel-congestion host`)' : flags['kernel-congestion'] === undefined ? ' (`--congestion`: piwire\'s too)' : ' (`--kernel-congestion`)'}; piwire: ${piwireCongestion} (${flags['piwire-congestion'] === undefined ? (flags.congestion === undefined ? 'its default' : '`--congestion`') : '`--piwire-congestion`'}); `) +
      `${sizes.loss.bytes / MIB} MiB per transfer, ${sizes.loss.repetitions} run${sizes.loss.repetitions === 1 ? '' : 's'} per cell (median goodput, worst stall: measured from a capture on the client's interface, the client's own timing beside it; captures of stalls over one RTO kept in bench/results/stall-captures/), each cut at ${sizes.loss.deadlineSeconds} s; the kernel (on its own port of the bridge, \`veth-kdev\`) and piwire (\`veth-dev\`) both serving, their transfers alternating in each cell (warm-ups in turn, measured runs kernel, piwire, piwire, kernel, ...), so the shared machine's load falls on both alike. ` +
      (flags.cold
        ? 'Cold (`--cold`): no untimed transfers, piwire\'s JIT warm-up included.\n\n'
        : `Steady state: each server first moves ${sizes.lossWarmUpBytes / MIB} MiB each way without loss, and each cell begins with ${sizes.loss.warmUpRuns} untimed transfer${sizes.loss.warmUpRuns === 1 ? '' : 's'} at its own loss rate (\`--cold\`: neither).\n\n`);
  }
  markdown += renderTable() + '\n';
  if (notes.length > 0) markdown += `\n${notes.map((note) => `- ${note}`).join('\n')}\n`;
  for (const [key, spots] of Object.entries(hotSpots)) {
    markdown += `\n## CPU profile of the firmware (${key}), self time\n\n| function | location | self ms | % of samples | % of busy |\n| --- | --- | ---: | ---: | ---: |\n`;
    for (const spot of spots) markdown += `| ${spot.function} | ${spot.location} | ${spot.selfMs.toFixed(0)} | ${spot.selfPercent.toFixed(1)} | ${Number.isNaN(spot.busyPercent) ? '' : spot.busyPercent.toFixed(1)} |\n`;
  }
  for (const [key, sites] of Object.entries(allocationSites)) {
    markdown += `\n## Allocations in the firmware (${key}), sampled, collected objects included\n\n| function | location | KB | % |\n| --- | --- | ---: | ---: |\n`;
    for (const site of sites) markdown += `| ${site.function} | ${site.location} | ${(site.bytes / 1e3).toFixed(1)} | ${site.percent.toFixed(1)} |\n`;
  }
  if (sweep !== undefined) {
    markdown += `\n## Loss sweep on the memory wire (virtual time)\n\n${describeSweepPath()} ${sizes.sweepBytes / MIB} MiB per point.\n\n${renderSweepTable(sweep)}\n`;
  }
  raw.rows = rows;
  raw.notes = notes;
  raw.hotSpots = hotSpots;
  raw.allocationSites = allocationSites;
  writeFileSync(join(RESULTS, `${stamp}.md`), markdown);
  writeFileSync(join(RESULTS, `${stamp}.json`), JSON.stringify(raw, null, 2));
  process.stdout.write(markdown);
  log(`wrote bench/results/${stamp}.md and .json`);
  return 0;
}

main().then(
  (status) => process.exit(status),
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
