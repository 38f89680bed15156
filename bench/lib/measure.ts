/**
 * Process and machine measurements for the benchmark runner, read from /proc (Linux):
 * per-process CPU time and RSS, machine-wide busy CPU time, and the firmware's own
 * memory probe (bench/lib/firmware-entry.ts answers SIGUSR2).
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { delay } from '../../test/support/netns.ts';

const CLOCK_TICKS_PER_SECOND = 100;

/** utime + stime of a process, in seconds (resolution: one clock tick). */
export function processCpuSeconds(pid: number): number {
  const times = processCpuTimes(pid);
  return times.user + times.system;
}

/**
 * On-CPU time of a process's main thread (the thread group leader), in seconds, from the
 * scheduler's own count (/proc/PID/schedstat, nanoseconds): fine enough for a transfer
 * of a few tens of milliseconds, where utime/stime move in 10 ms ticks. For the
 * firmware, the thread that runs JavaScript and makes the system calls: the one that
 * bounds its goodput. Helper threads (V8's GC, libuv's pool) are not in it.
 */
export function mainThreadCpuSeconds(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
}

/** A process's CPU time split: user (its own code) and system (the kernel working for it), in seconds. */
export interface CpuTimes {
  user: number;
  system: number;
}

/** utime and stime of a process, separately (seconds, one clock tick resolution). */
export function processCpuTimes(pid: number): CpuTimes {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; fields after its closing parenthesis are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / CLOCK_TICKS_PER_SECOND, system: Number(fields[12]) / CLOCK_TICKS_PER_SECOND };
}

export function processRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) * 1024 : NaN;
}

/** Busy CPU seconds of the whole machine (every state but idle and iowait), all CPUs. */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.slice(0, 8).reduce((sum, value) => sum + value, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return (total - idle) / CLOCK_TICKS_PER_SECOND;
}

/** V8's collections over a window of the firmware's probe (bench/lib/firmware-entry.ts). */
export interface GcWindow {
  scavenges: number;
  markCompacts: number;
  gcMs: number;
  /** Heap used before each collection minus after the previous one, summed. */
  allocatedBytes: number;
  /**
   * What the scavenges moved into the old generation (its used bytes after each minus
   * before): objects that outlived the young generation, which only a full collection
   * frees. An idle device that promotes nothing never needs one.
   */
  promotedBytes: number;
}

export interface ProbeSample {
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  rss: number;
  userMicros: number;
  systemMicros: number;
  /** Per V8 heap space (old_space, new_space, ...): live bytes and resident bytes (the firmware's probe only). */
  heapSpaces?: Record<string, { used: number; resident: number }>;
  /**
   * The firmware's probe only: V8's collections since the previous probe (its own full
   * collections excluded) and the bytes allocated meanwhile (bench/lib/firmware-entry.ts).
   */
  window?: GcWindow;
}

/**
 * Asks a probed process for its memory figures (after a full GC); bounded wait.
 * `collect: false` asks for them without the GC (a file `PATH.nogc` beside the answer's
 * says so): a probe that starts a CPU window must not start V8's memory reducer, which
 * follows a full collection with more of them some seconds later, inside the window.
 */
export async function probe(pid: number, path: string, timeoutMs = 10_000, options: { collect?: boolean } = {}): Promise<ProbeSample> {
  rmSync(path, { force: true });
  if (options.collect === false) writeFileSync(`${path}.nogc`, '');
  else rmSync(`${path}.nogc`, { force: true });
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not answer the memory probe within ${timeoutMs} ms`);
    await delay(20);
  }
  return JSON.parse(readFileSync(path, 'utf8')) as ProbeSample;
}

/** CPU time a process spends over `seconds` of wall time, as percentages of one core (all, user, system). */
export async function cpuPercentOver(pid: number, seconds: number): Promise<{ all: number; user: number; system: number }> {
  const before = processCpuTimes(pid);
  const started = performance.now();
  await delay(seconds * 1000);
  const elapsed = (performance.now() - started) / 1000;
  const after = processCpuTimes(pid);
  const user = ((after.user - before.user) / elapsed) * 100;
  const system = ((after.system - before.system) / elapsed) * 100;
  return { all: user + system, user, system };
}
