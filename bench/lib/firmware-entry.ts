/**
 * The firmware's `main` with a measurement probe, for the benchmarks only: the runner
 * starts this instead of firmware/main.ts so it can ask the running process for its
 * memory figures without changing the firmware.
 *
 * On SIGUSR2 the process runs a full garbage collection (so heap figures are live
 * objects, not garbage waiting for the next cycle; not when a file PIWIRE_BENCH_PROBE.nogc
 * exists, see bench/lib/measure.ts `probe`) and writes
 * `{ heapUsed, heapTotal, external, arrayBuffers, rss, userMicros, systemMicros, heapSpaces }`
 * (`heapSpaces`: each V8 heap space's used and resident bytes, so the runner can tell live
 * objects from pages the heap keeps committed) to
 * the file named by PIWIRE_BENCH_PROBE (written to a temporary name, then renamed, so
 * the runner never reads half a file).
 *
 * Each probe also reports `window`: the garbage collections V8 ran since the previous
 * probe's own collections (a `v8.GCProfiler` started after them): scavenges, full
 * mark-compacts, their time, and the bytes the program allocated meanwhile (heap used
 * before each collection minus after the previous one), so the runner can tell what an
 * idle window allocates and collects, a figure the machine's load does not move; and
 * what the scavenges promoted into the old generation (`promotedBytes`).
 *
 * With PIWIRE_BENCH_PROFILE set (Node 20 refuses --cpu-prof in NODE_OPTIONS), the first
 * SIGUSR2 also starts the V8 CPU profiler and the second stops it and writes the
 * `.cpuprofile` to that path, so the profile covers exactly the measured window: it is
 * stopped before and started after the probe's own full collections, which are the
 * probe's, not the firmware's. PIWIRE_BENCH_HEAP_PROFILE does the same with V8's sampling
 * heap profiler (every allocation, also what the next collection frees, as a
 * `.heapprofile`): what allocates in the window. PIWIRE_BENCH_PROFILE_AFTER=N lets the
 * first N probes pass without touching the profilers (the idle section probes memory
 * before opening its connections and twice around the settling time after them, then
 * profiles the idle window between two more).
 * PIWIRE_BENCH_HEAP=<path> (passed through by the runner, with --profile) records the
 * heap profile to <path> *instead of* the CPU profile: the allocation per function, to
 * check that steady-state sending and ACK processing allocate nothing per segment. The
 * sampling slows the process: a run's CPU figures mean nothing while it samples.
 * PIWIRE_BENCH_HEAP_PROMOTED=1 (passed through by the runner) leaves out of that heap profile
 * what a scavenge freed: what remains is what outlived the young generation (promoted,
 * then freed by a full collection, or still alive), the allocations that feed the full
 * collections of a large heap.
 * PIWIRE_BENCH_SNAPSHOT=<prefix> (passed through by the runner) writes a V8 heap snapshot
 * after each probe's full collections, to <prefix>-<n>.heapsnapshot (n = 1, 2, ...): the
 * idle section's first and last probes bracket its connections, so the two snapshots
 * show what each idle connection holds, object by object (the snapshot pauses the
 * process for seconds: not with CPU figures that matter).
 */
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { GCProfiler, getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { main } from '../../firmware/main.ts';
import type { GcWindow } from './measure.ts';

// --expose-gc cannot be passed through NODE_OPTIONS on Node 20; setting the flag before
// the first new context is created exposes `gc` in that context.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const probePath = process.env.PIWIRE_BENCH_PROBE;
const heapInsteadPath = process.env.PIWIRE_BENCH_HEAP || undefined;
const profilePath = heapInsteadPath === undefined ? process.env.PIWIRE_BENCH_PROFILE : undefined;
const heapProfilePath = heapInsteadPath ?? process.env.PIWIRE_BENCH_HEAP_PROFILE;
let probesBeforeProfile = Number(process.env.PIWIRE_BENCH_PROFILE_AFTER ?? 0);
const snapshotPrefix = process.env.PIWIRE_BENCH_SNAPSHOT || undefined;
const promotedOnly = Boolean(process.env.PIWIRE_BENCH_HEAP_PROMOTED);
let snapshots = 0;
let profiler: Session | undefined;
let profiled = false;

/** Same-thread inspector sessions answer synchronously, so each of these finishes before it returns. */
function startProfilers(): void {
  profiler = new Session();
  profiler.connect();
  if (profilePath !== undefined) {
    profiler.post('Profiler.enable');
    profiler.post('Profiler.start');
  }
  if (heapProfilePath !== undefined) {
    profiler.post('HeapProfiler.enable');
    // Every 256 bytes on average, and what a scavenge or a full collection frees counts too.
    // The two include flags (V8 ≥ 11) are not in @types/node's parameter type yet.
    const sampling = { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: !promotedOnly };
    profiler.post('HeapProfiler.startSampling', sampling);
  }
}

function stopProfilers(): void {
  const session = profiler;
  if (session === undefined) return;
  profiler = undefined;
  profiled = true;
  if (profilePath !== undefined) {
    session.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(profilePath, JSON.stringify(result.profile));
    });
  }
  if (heapProfilePath !== undefined) {
    session.post('HeapProfiler.stopSampling', (error, result) => {
      if (!error) writeFileSync(heapProfilePath, JSON.stringify(result.profile));
    });
  }
  session.disconnect();
}

/** Used bytes of the old generation in one of GCProfiler's heap space lists. */
function oldSpaceUsed(spaces: readonly { spaceName: string; spaceUsedSize: number }[]): number {
  return spaces.find((space) => space.spaceName === 'old_space')?.spaceUsedSize ?? 0;
}

/**
 * The collections a GCProfiler saw and the bytes allocated over its run: heap used before
 * each collection minus after the previous one, from `usedAtStart` (when it started) to
 * `usedNow` (now, before the probe's own collections).
 */
function summariseWindow(statistics: ReturnType<GCProfiler['stop']>['statistics'], usedAtStart: number, usedNow: number): GcWindow {
  const window: GcWindow = { scavenges: 0, markCompacts: 0, gcMs: 0, allocatedBytes: 0, promotedBytes: 0 };
  let usedAfterPrevious = usedAtStart;
  for (const gc of statistics) {
    if (gc.gcType === 'Scavenge' || gc.gcType === 'MinorMarkCompact') {
      window.scavenges++;
      window.promotedBytes += Math.max(0, oldSpaceUsed(gc.afterGC.heapSpaceStatistics) - oldSpaceUsed(gc.beforeGC.heapSpaceStatistics));
    }
    if (gc.gcType === 'MarkSweepCompact') window.markCompacts++;
    window.gcMs += gc.cost / 1000;
    window.allocatedBytes += Math.max(0, gc.beforeGC.heapStatistics.usedHeapSize - usedAfterPrevious);
    usedAfterPrevious = gc.afterGC.heapStatistics.usedHeapSize;
  }
  window.allocatedBytes += Math.max(0, usedNow - usedAfterPrevious);
  return window;
}

let gcProfiler: GCProfiler | undefined;
let usedAtWindowStart = 0;

if (probePath !== undefined) {
  process.on('SIGUSR2', () => {
    const profiling = (profilePath !== undefined || heapProfilePath !== undefined) && probesBeforeProfile-- <= 0;
    if (profiling) stopProfilers();
    const usedNow = getHeapStatistics().used_heap_size;
    const window = gcProfiler === undefined ? undefined : summariseWindow(gcProfiler.stop().statistics, usedAtWindowStart, usedNow);
    // PATH.nogc: the runner asks for the figures without a collection (bench/lib/measure.ts `probe`).
    if (!existsSync(`${probePath}.nogc`)) {
      collectGarbage();
      collectGarbage();
      if (snapshotPrefix !== undefined) writeHeapSnapshot(`${snapshotPrefix}-${++snapshots}.heapsnapshot`);
    }
    const memory = process.memoryUsage();
    const cpu = process.cpuUsage();
    const temporary = `${probePath}.tmp`;
    const heapSpaces = Object.fromEntries(getHeapSpaceStatistics().map((space) => [space.space_name, { used: space.space_used_size, resident: space.physical_space_size }]));
    writeFileSync(temporary, JSON.stringify({ ...memory, userMicros: cpu.user, systemMicros: cpu.system, heapSpaces, ...(window === undefined ? {} : { window }) }));
    renameSync(temporary, probePath);
    usedAtWindowStart = getHeapStatistics().used_heap_size;
    gcProfiler = new GCProfiler();
    gcProfiler.start();
    if (profiling && !profiled) startProfilers();
  });
}

main(process.argv.slice(2)).then(
  (status) => {
    if (status !== 0) process.exit(status);
  },
  (error: unknown) => {
    process.stderr.write(`piwire bench entry: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(70);
  },
);
