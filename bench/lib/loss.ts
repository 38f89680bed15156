/**
 * The loss section's measurements (issue 12), for whichever server currently runs on the
 * device end of a LossyPath (bench/lib/lossy-path.ts): for each loss rate, each
 * direction and each repetition, bench/clients/lossy_bulk.py in the LAN namespace moves
 * a fixed number of bytes into the device (discard, port 9), out of it (chargen, port
 * 19) or through it (echo, port 7: both ways at once, the issue's own measurement) and
 * reports goodput and its longest stall; a capture on the client's interface measures
 * the stall again from the wire (bench/lib/wire-stall.ts), and that figure is the
 * cell's. The runner serves the kernel and piwire side by side on one path (the kernel on
 * its own port of the bridge, createLossyPath's `kernelPort`), and each cell alternates
 * their transfers: the machine is shared, and its load moves goodput by ±50% over a
 * minute, so measuring one stack's cells after the other's put that drift into the ratio.
 *
 * Each cell first runs `warmUpRuns` untimed transfers (LossPlan), then the measured ones.
 * Random loss is noisy, so each cell is repeated and summarised by its MEDIAN goodput;
 * the stall is the WORST over the repetitions (the target is "no transfer ever stalls
 * longer than one RTO"). A transfer that does not finish within the deadline counts
 * with the bytes it moved by then, over the deadline, and is reported as cut.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SYSTEM_PYTHON } from '../../test/support/netns.ts';
import { mainThreadCpuSeconds } from './measure.ts';
import type { LossyPath } from './lossy-path.ts';
import { startWireCapture, type WireStall } from './wire-stall.ts';

export type LossDirection = 'push' | 'pull' | 'echo';
export const LOSS_DIRECTIONS: readonly LossDirection[] = ['push', 'pull', 'echo'];

/** What bench/clients/lossy_bulk.py prints. */
export interface LossTransfer {
  mode: LossDirection;
  bytes: number;
  completed: boolean;
  seconds: number;
  longest_stall_ms: number | null;
  stall_at_byte: number | null;
  /** pull only: connect to first byte (a lost handshake ACK shows here, not in the stall). */
  first_byte_ms: number | null;
  client_retransmits: number | null;
  client_rto_ms: number | null;
  /** push only: the kernel client's (the sender's) smoothed RTT and cwnd, medians of 1 ms samples while data was unacknowledged. */
  sender_rtt_us_median: number | null;
  sender_cwnd_median: number | null;
  /** pull and echo: the kernel client's receiver-side RTT estimate at the end (tcpi_rcv_rtt). */
  client_rcv_rtt_us: number | null;
  /** echo only: the longest stall that began while the server held data to echo (its own sending), and the longest one that began with nothing held (the client's sending held it up). */
  server_stall_ms?: number | null;
  client_stall_ms?: number | null;
  error: string | null;
  /**
   * The same transfer's stalls measured from the wire (bench/lib/wire-stall.ts: a capture
   * on the client's interface, kernel timestamps). The cell's stall figures come from
   * here; the client's own (`longest_stall_ms`, above) are kept for comparison.
   */
  wire?: WireStall;
  /** The serving process's main-thread CPU over the client's run (`runTransfer`), NaN if not read. */
  serverCpuSeconds?: number;
}

export interface LossCell {
  rate: number;
  mode: LossDirection;
  runs: LossTransfer[];
  /** Median over the runs of bytes·8/seconds (cut runs: bytes moved by the deadline). */
  medianMbitPerSecond: number;
  /**
   * Longest stall of any run, measured from the wire (`runStallMs`): the server's own
   * (echo: only stalls that began while the server held data to echo; the others are
   * the kernel client's sending, in `worstClientStallMs`).
   */
  worstStallMs: number;
  /** echo: the longest stall held up by the client's own sending (NaN for the other directions). */
  worstClientStallMs: number;
  /** The same worst stall as the Python client measured it (its own clock and polling), for comparison. */
  worstClientViewStallMs: number;
  /** Frames the captures dropped over the cell's runs (non-zero: the wire figures are incomplete). */
  captureDropped: number;
  /** Completed runs whose capture does not show the whole transfer: their stall is the client's figure. */
  captureIncomplete: number;
  medianStallMs: number;
  /** Runs cut by the deadline. */
  cut: number;
  /** IPv4 frames the bridge dropped during the cell's measured runs, both directions. */
  droppedFrames: number;
  /**
   * The path's round trip as the kernel client measured it, median over the runs (NaN
   * where the client does not report it): push, the sender's smoothed RTT, which
   * includes the server's time to ACK; pull and echo, the receiver-side estimate.
   */
  medianRttUs: number;
  /** push only: the kernel sender's cwnd in segments, median over the runs. */
  medianSenderCwnd: number;
  /**
   * The server process's main-thread CPU over the cell's measured runs
   * (`serverCpuSeconds`), per GiB of the transfers' payload (echo: the payload once), NaN
   * without a process to read. It moves with the machine's load as goodput does (a slower
   * run costs more per byte: fewer frames per wakeup), but says where a change's time went.
   */
  serverCpuSecondsPerGib: number;
}

export interface LossPlan {
  rates: readonly number[];
  /**
   * The congestion control of the kernel client's sockets (TCP_CONGESTION), or undefined
   * for the kernel's default; bench/run.ts `--kernel-congestion` sets it, with the kernel
   * server's, so that "the kernel" runs the same algorithm on both ends.
   */
  kernelCongestion?: string;
  bytes: number;
  repetitions: number;
  deadlineSeconds: number;
  /**
   * Untimed transfers of the cell's direction at the cell's loss rate before its measured
   * ones, for either stack alike: the kernel's recovery code is compiled C, piwire's is
   * JavaScript that V8 compiles only once it has run, and loss recovery (SACK scoreboard,
   * RACK, PRR) runs only under loss, so a lossless warm-up does not compile it.
   */
  warmUpRuns: number;
}

const PORTS: Record<LossDirection, number> = { push: 9, pull: 19, echo: 7 };
/** Where the captures of transfers with a stall over one RTO are kept (bench/results is not committed). */
const STALL_CAPTURES = fileURLToPath(new URL('../results/stall-captures/', import.meta.url));
/** The newest this many are kept (a few MB each: the kernel's cells stall over one RTO often). */
const MAX_STALL_CAPTURES = 40;

export const DIRECTION_LABELS: Record<LossDirection, string> = {
  push: 'into device (discard)',
  pull: 'out of device (chargen)',
  echo: 'through device (echo, both ways at once)',
};

/**
 * Who serves the transfers: `stack` names the kept captures of stalls over one RTO (each
 * stack's newest MAX_STALL_CAPTURES, so the kernel's many RTO stalls do not push out
 * piwire's rare ones), `pid` the process whose CPU each cell reports per GiB: the
 * firmware's. (The kernel's Python server serves each connection on a thread of its own;
 * the kernel's TCP work runs in softirqs as much as in its calls.)
 */
export interface LossServer {
  stack: 'kernel' | 'piwire';
  pid?: number;
  /** The address its services listen on (default: the path's device address, piwire's). */
  address?: string;
}

/**
 * Every cell of the plan for each server, their transfers interleaved: per cell, the
 * warm-up transfers alternate between the servers, then the measured repetitions run in
 * ABBA order (kernel, piwire, piwire, kernel, ... for two), so the same stretch of the
 * machine's time, and any trend in it, falls on each server alike. Returns each server's
 * cells, in the order of `servers`. A cell's dropped frames are those of its own measured
 * transfers (the bridge's counter read around each).
 */
export async function measureLossCells(path: LossyPath, plan: LossPlan, clientsDirectory: string, log: (message: string) => void, servers: readonly LossServer[]): Promise<LossCell[][]> {
  const cells: LossCell[][] = servers.map(() => []);
  try {
    for (const rate of plan.rates) {
      for (const mode of LOSS_DIRECTIONS) {
        await path.setLoss(rate);
        for (let warmUp = 0; warmUp < plan.warmUpRuns; warmUp++) {
          for (const server of servers) await runTransfer(path, mode, plan, clientsDirectory, server);
        }
        const runs: LossTransfer[][] = servers.map(() => []);
        const dropped = servers.map(() => 0);
        // One read of the bridge's counter per transfer: each read ends one transfer's count and starts the next's.
        let counted = await path.droppedFrames();
        for (let repetition = 0; repetition < plan.repetitions; repetition++) {
          const order = servers.map((_, index) => index);
          if (repetition % 2 === 1) order.reverse();
          for (const index of order) {
            runs[index]!.push(await runTransfer(path, mode, plan, clientsDirectory, servers[index]!));
            const now = await path.droppedFrames();
            dropped[index]! += now - counted;
            counted = now;
          }
        }
        servers.forEach((server, index) => {
          const cell = summarise(rate, mode, runs[index]!, dropped[index]!);
          log(
            `  ${server.stack}, ${(rate * 100).toFixed(0)}% loss, ${DIRECTION_LABELS[mode]}: ${cell.medianMbitPerSecond.toFixed(1)} Mbit/s median, ` +
              `worst stall ${cell.worstStallMs.toFixed(0)} ms (client's view ${cell.worstClientViewStallMs.toFixed(0)} ms)${cell.cut > 0 ? `, ${cell.cut} cut at ${plan.deadlineSeconds} s` : ''}, ${cell.droppedFrames} frames dropped`,
          );
          cells[index]!.push(cell);
        });
      }
    }
  } finally {
    await path.setLoss(0);
  }
  return cells;
}

/**
 * One transfer by bench/clients/lossy_bulk.py. `server.pid`: the serving process, whose
 * main thread's CPU over the client's run (start to exit: the transfer, and the client's
 * start-up, when the server idles) the result carries as `serverCpuSeconds`.
 */
export async function runTransfer(path: LossyPath, mode: LossDirection, plan: LossPlan, clientsDirectory: string, server: LossServer): Promise<LossTransfer> {
  const argv = [SYSTEM_PYTHON, join(clientsDirectory, 'lossy_bulk.py'), mode, server.address ?? path.deviceAddress, String(PORTS[mode]), String(plan.bytes), '--deadline', String(plan.deadlineSeconds), ...(plan.kernelCongestion === undefined ? [] : ['--congestion', plan.kernelCongestion])];
  const capture = await startWireCapture(path.peerNamespace, path.peerInterface, PORTS[mode]);
  let result;
  let serverCpuSeconds = NaN;
  try {
    const cpuBefore = server.pid === undefined ? NaN : mainThreadCpuSeconds(server.pid);
    // The client bounds itself by the deadline; this outer bound only catches a hung client.
    result = await path.execPeer(argv, { timeoutMs: (plan.deadlineSeconds + 30) * 1000 });
    if (server.pid !== undefined) serverCpuSeconds = mainThreadCpuSeconds(server.pid) - cpuBefore;
  } catch (error) {
    await capture.discard();
    throw error;
  }
  // Let the last frames of the transfer (its FIN exchange) reach the capture.
  await new Promise((resolve) => setTimeout(resolve, 50));
  // A stall over one RTO keeps its capture (headers only) for a look at what happened.
  const keep = { overMs: RTO_REFERENCE_MS, file: join(STALL_CAPTURES, `${new Date().toISOString().replace(/[:.]/g, '-')}-${server.stack}-mtu${path.mtu}-${mode}.pcap`) };
  const wire = await capture.finish(mode, plan.bytes, keep);
  if (wire.capture !== undefined) pruneOldest(STALL_CAPTURES, `-${server.stack}-`, MAX_STALL_CAPTURES);
  const last = result.stdout.trim().split('\n').pop() ?? '';
  let report: LossTransfer | undefined;
  try {
    report = JSON.parse(last) as LossTransfer;
  } catch {
    report = undefined;
  }
  if (!report || report.error) {
    throw new Error(`lossy_bulk.py ${mode} failed: ${report?.error ?? ''} (status ${result.code}${result.timedOut ? ', timed out' : ''}) ${result.stderr.slice(-500)}`);
  }
  return { ...report, wire, serverCpuSeconds };
}

/** Removes the oldest files of `directory` whose names hold `marker` (names sort by time) beyond the newest `keep`. */
function pruneOldest(directory: string, marker: string, keep: number): void {
  const names = readdirSync(directory).filter((name) => name.includes(marker)).sort();
  for (const name of names.slice(0, Math.max(0, names.length - keep))) rmSync(join(directory, name), { force: true });
}

/**
 * A run's longest stall: from the wire (bench/lib/wire-stall.ts), echo the server's own
 * share; the client's own measure only where there is no capture.
 */
export function runStallMs(run: LossTransfer): number {
  const wire = run.wire;
  // A capture that does not hold the whole of a completed transfer cannot give its stall.
  if (wire !== undefined && (wire.completed || !run.completed)) return run.mode === 'echo' ? (wire.serverStallMs ?? 0) : wire.longestStallMs;
  return run.mode === 'echo' && typeof run.server_stall_ms === 'number' ? run.server_stall_ms : (run.longest_stall_ms ?? 0);
}

/** The client's own measure of a run's stall (bench/clients/lossy_bulk.py), for comparison with the wire. */
export function clientStallMs(run: LossTransfer): number {
  return run.mode === 'echo' && typeof run.server_stall_ms === 'number' ? run.server_stall_ms : (run.longest_stall_ms ?? 0);
}

export function summarise(rate: number, mode: LossDirection, runs: LossTransfer[], droppedFrames: number): LossCell {
  const goodputs = runs.map((run) => (run.seconds > 0 ? (run.bytes * 8) / run.seconds / 1e6 : 0));
  const stalls = runs.map(runStallMs);
  const clientStalls = present(runs.map((run) => run.wire?.clientStallMs ?? run.client_stall_ms));
  return {
    rate,
    mode,
    runs,
    medianMbitPerSecond: median(goodputs),
    worstStallMs: Math.max(0, ...stalls),
    worstClientViewStallMs: Math.max(0, ...runs.map(clientStallMs)),
    captureDropped: runs.reduce((sum, run) => sum + (run.wire?.captureDropped ?? 0), 0),
    captureIncomplete: runs.filter((run) => run.completed && run.wire !== undefined && !run.wire.completed).length,
    worstClientStallMs: mode === 'echo' ? Math.max(0, ...clientStalls) : NaN,
    medianStallMs: median(stalls),
    cut: runs.filter((run) => !run.completed).length,
    droppedFrames,
    medianRttUs: median(present(runs.map((run) => (mode === 'push' ? run.sender_rtt_us_median : run.client_rcv_rtt_us)))),
    medianSenderCwnd: median(present(runs.map((run) => run.sender_cwnd_median))),
    serverCpuSecondsPerGib: runs.reduce((sum, run) => sum + (run.serverCpuSeconds ?? NaN), 0) / (runs.reduce((sum, run) => sum + run.bytes, 0) / 2 ** 30),
  };
}

function present(values: readonly (number | null | undefined)[]): number[] {
  return values.filter((value): value is number => typeof value === 'number' && value > 0);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The 10th, 50th and 90th percentiles of `values` (nearest rank), as "p10/p50/p90" rounded to integers (the cwnd traces). */
export function percentiles(values: readonly number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (share: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * share))] ?? Number.NaN;
  return `${at(0.1).toFixed(0)}/${at(0.5).toFixed(0)}/${at(0.9).toFixed(0)}`;
}

/** Loss rates each way of the full run (issue 12: 1% and 3%, and none for reference). */
export const LOSS_RATES: readonly number[] = [0, 0.01, 0.03];

/**
 * One RTO, for the stall target ("no transfer stalls for more than one RTO"). RFC 6298
 * §2: RTO = SRTT + max(G, 4·RTTVAR), clamped below by a floor. piwire's is
 * max(tcp.minRto = 200 ms, SRTT + 4·RTTVAR); on this path SRTT stays at 0.1-2.5 ms and
 * RTTVAR under 4 ms even at 3% loss (the device's `conns` sampled during transfers,
 * bench/BASELINE.md), so piwire's RTO is exactly 200 ms throughout. Linux's is SRTT plus
 * a variance term of at least TCP_RTO_MIN (200 ms): 200-232 ms here (the kernel client's
 * tcpi_rto in the raw JSON). The check compares each transfer's longest stall, from the
 * wire, with 200 ms: piwire's actual RTO and the smallest either stack can have, so it is
 * never looser than the connection's own RTO. A repair by the RTO itself fails it: the
 * RTO fires one RTO after the last ACK and the receiver's progress comes a trip later.
 */
export const RTO_REFERENCE_MS = 200;
