/**
 * Consecutive bulk pushes into fresh firmware processes, to tell the two steady states
 * into the device apart (bench/BASELINE.md, "the bimodal steady state was the garbage
 * collector"). For each of `--processes N` firmware processes (the bench's built entry,
 * started as bench/run.ts starts it, with `--node-flags`): two idle seconds, one shell
 * read, a push and a pull (the bench's warm-up), then `--pushes M` pushes of 256 MiB,
 * each printed as
 *
 *   user/system s/GiB @ Mbit/s (main thread / other threads' user s/GiB, machine speed)
 *
 * "other threads" are V8's helpers (concurrent marking, compilation) and libuv's pool;
 * the machine speed is the CPU time of a fixed Python loop before and after the push
 * (a vCPU slowed by its host takes longer). Options:
 *   --gc         V8's collections in each push (scavenges, full mark-compacts, their
 *                time, bytes allocated) and the old space's size, from the firmware's
 *                probe without a collection (bench/lib/firmware-entry.ts)
 *   --full-gc    a full collection (the probe's `gc()`) before each push: whether a
 *                process falls into the loop of full collections after one
 *   --counters   the device's counters that changed in each push (over its shell: this
 *                adds a shell session before and after each push)
 *   --perf DIR   `perf record` of the last push to DIR/<n>.data (add --perf-basic-prof
 *                to --node-flags for JavaScript names)
 *   --perf-call-graph  with --perf: record call chains (`-g`; V8 keeps frame pointers)
 *   --gro        GRO on the device's interface (the bench's second bulk pass): the
 *                firmware takes the kernel's merged frames (net.receiveOffload)
 *   --v8-log DIR V8's log (--logfile, with e.g. --node-flags='--log-deopt') per process
 *   --no-build   skip deploy/build.mjs --bench
 * V8's own traces (--trace-gc and the like) go to the firmware's stdout: the first 200
 * lines that are not the firmware's JSON log are printed after each process.
 *
 *   npx tsx bench/push-series.ts [--processes 4] [--pushes 6] [--node-flags='--trace-gc'] [--gc]
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createTopology, delay, exec, SYSTEM_PYTHON, type VethTopology } from '../test/support/netns.ts';
import { REPOSITORY_ROOT, startFirmware } from '../test/support/firmware-process.ts';
import { deviceCounters, writeShellOperatorConfig } from '../test/support/device-shell.ts';
import { probe, processCpuTimes } from './lib/measure.ts';
import { deployedNodeFlags } from './lib/deployed-node-options.ts';
import { BENCH_BUNDLE, buildBenchBundle } from './lib/bench-bundle.ts';

const { values: flags } = parseArgs({
  options: {
    processes: { type: 'string', default: '4' },
    pushes: { type: 'string', default: '6' },
    'node-flags': { type: 'string', default: '' },
    'v8-log': { type: 'string' },
    'no-build': { type: 'boolean' },
    perf: { type: 'string' },
    'perf-call-graph': { type: 'boolean' },
    gro: { type: 'boolean' },
    counters: { type: 'boolean' },
    gc: { type: 'boolean' },
    'full-gc': { type: 'boolean' },
  },
});
const BYTES = 256 * 1024 ** 2;
const GIB = 1024 ** 3;
const CLOCK_TICKS_PER_SECOND = 100;

/** User CPU seconds of the main thread and of all the process's other threads together. */
function threadUserSeconds(pid: number): { main: number; others: number } {
  let main = 0;
  let others = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // The thread ended between the listing and the read.
    }
    const user = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[11]) / CLOCK_TICKS_PER_SECOND;
    if (Number(tid) === pid) main += user;
    else others += user;
  }
  return { main, others };
}

/** The CPU time (not wall time) a fixed Python loop takes, in ms: the machine's speed now. */
function machineSpeedMs(): number {
  const script = 'import time\nt = time.process_time()\nx = 0\nfor i in range(800000): x += i * i\nprint((time.process_time() - t) * 1000)';
  return Number(execFileSync(SYSTEM_PYTHON, ['-c', script], { encoding: 'utf8' }).trim());
}

interface Transfer {
  user: number;
  system: number;
  mbit: number;
  mainUser: number;
  otherUser: number;
  speedMs: [number, number];
}

async function transfer(topology: VethTopology, mode: 'push' | 'pull', pid: number): Promise<Transfer> {
  const speedBefore = machineSpeedMs();
  const before = processCpuTimes(pid);
  const threadsBefore = threadUserSeconds(pid);
  const script = join(REPOSITORY_ROOT, 'bench/clients/bulk.py');
  const result = await topology.execPeer([SYSTEM_PYTHON, script, mode, topology.deviceAddress, mode === 'push' ? '9' : '19', String(BYTES)], { timeoutMs: 600_000 });
  const after = processCpuTimes(pid);
  const threadsAfter = threadUserSeconds(pid);
  const speedAfter = machineSpeedMs();
  const report = JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as { bytes?: number; seconds?: number };
  if (report.bytes === undefined || report.seconds === undefined) throw new Error(`bulk.py ${mode} failed: ${result.stderr.slice(-500)}`);
  const gib = report.bytes / GIB;
  return {
    user: (after.user - before.user) / gib,
    system: (after.system - before.system) / gib,
    mbit: (report.bytes * 8) / report.seconds / 1e6,
    mainUser: (threadsAfter.main - threadsBefore.main) / gib,
    otherUser: (threadsAfter.others - threadsBefore.others) / gib,
    speedMs: [speedBefore, speedAfter],
  };
}

function describe(figures: Transfer): string {
  const [before, after] = figures.speedMs;
  return `${figures.user.toFixed(2)}/${figures.system.toFixed(2)} @${figures.mbit.toFixed(0)} (main ${figures.mainUser.toFixed(2)} others ${figures.otherUser.toFixed(2)}, speed ${before.toFixed(0)}/${after.toFixed(0)} ms)`;
}

/** `perf record` of a process until `stopRecorder`. */
async function perfRecord(pid: number, output: string): Promise<ChildProcess> {
  const callGraph = flags['perf-call-graph'] ? ['-g'] : [];
  const recorder = spawn('perf', ['record', '-F', '1999', ...callGraph, '-p', String(pid), '-o', output], { stdio: 'ignore' });
  await delay(300);
  return recorder;
}

function stopRecorder(recorder: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    recorder.once('exit', () => resolve());
    recorder.kill('SIGINT');
  });
}

async function main(): Promise<void> {
  if (!flags['no-build']) {
    await buildBenchBundle();
  }
  const nodeFlags = flags['node-flags'].split(' ').filter((flag) => flag.length > 0);
  const pushes = Number(flags.pushes);
  const topology = await createTopology({ mtu: 1500, prefix: 'pwb' });
  if (flags.gro) await exec(topology.deviceNamespace, ['ethtool', '-K', topology.deviceInterface, 'gro', 'on']);
  const work = mkdtempSync(join(tmpdir(), 'pw-series-'));
  try {
    const shell = await writeShellOperatorConfig(work, randomBytes(12).toString('hex'));
    const services = JSON.parse(readFileSync(shell.configFile, 'utf8')) as { services: object };
    const configPath = join(work, 'config.json');
    const probePath = join(work, 'probe.json');
    writeFileSync(configPath, JSON.stringify({ tcp: { maxConnections: 1536, synBacklog: 1024 }, ...services }));
    if (flags.perf) mkdirSync(flags.perf, { recursive: true });
    if (flags['v8-log']) mkdirSync(flags['v8-log'], { recursive: true });
    const counters = (): Promise<Record<string, number>> => deviceCounters(topology.peerNamespace, topology.deviceAddress, shell.secretFile);
    for (let n = 1; n <= Number(flags.processes); n++) {
      const state = mkdtempSync(join(tmpdir(), 'pw-series-state-'));
      const v8Log = flags['v8-log'] ? [`--logfile=${join(flags['v8-log'], `${n}.log`)}`, '--no-logfile-per-isolate'] : [];
      const firmware = startFirmware({
        namespace: topology.deviceNamespace,
        args: [...topology.firmwareArgs(), '--diag', '--config', configPath, '--state-dir', state, '--log', 'json'],
        command: [process.execPath, ...deployedNodeFlags(), ...nodeFlags, ...v8Log, BENCH_BUNDLE],
        env: { PIWIRE_BENCH_PROBE: probePath },
      });
      try {
        await firmware.ready;
        const pid = firmware.pid!;
        await delay(2_000);
        await counters();
        process.stdout.write(`process ${n} (pid ${pid}): push ${(await transfer(topology, 'push', pid)).user.toFixed(2)}, pull ${(await transfer(topology, 'pull', pid)).user.toFixed(2)} user s/GiB\n`);
        for (let i = 1; i <= pushes; i++) {
          const recorder = flags.perf && i === pushes ? await perfRecord(pid, join(flags.perf, `${n}.data`)) : undefined;
          const countersBefore = flags.counters ? await counters() : undefined;
          if (flags.gc || flags['full-gc']) await probe(pid, probePath, 10_000, { collect: Boolean(flags['full-gc']) });
          const push = await transfer(topology, 'push', pid);
          let line = `  push ${i}: ${describe(push)}`;
          if (flags.gc) {
            const sample = await probe(pid, probePath, 10_000, { collect: false });
            const window = sample.window;
            const oldSpace = sample.heapSpaces?.old_space?.used ?? NaN;
            if (window) line += ` gc: ${window.scavenges} scavenges, ${window.markCompacts} mark-compacts, ${window.gcMs.toFixed(0)} ms, ${(window.allocatedBytes / 1e6).toFixed(0)} MB allocated, old space ${(oldSpace / 1e6).toFixed(1)} MB`;
          }
          if (countersBefore) {
            const after = await counters();
            const changed = Object.entries(after).filter(([key, value]) => value !== (countersBefore[key] ?? 0) && !/bytes|time|heap|rss|cpu|loop/.test(key));
            line += ` counters: ${changed.map(([key, value]) => `${key}=${value - (countersBefore[key] ?? 0)}`).join(' ')}`;
          }
          if (recorder) await stopRecorder(recorder);
          process.stdout.write(`${line}\n`);
        }
        for (const text of firmware.nonJsonLines) process.stdout.write(`  | ${text}\n`);
      } finally {
        await firmware.stop();
        rmSync(state, { recursive: true, force: true });
      }
    }
  } finally {
    await topology.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
