/**
 * The firmware's `main` with a measurement probe, for the benchmarks only: the runner
 * starts this instead of firmware/main.ts so it can ask the running process for its
 * memory figures without changing the firmware.
 *
 * On SIGUSR2 the process runs a full garbage collection (so heap figures are live
 * objects, not garbage waiting for the next cycle) and writes
 * `{ heapUsed, heapTotal, external, arrayBuffers, rss, userMicros, systemMicros, heapSpaces }`
 * (`heapSpaces`: each V8 heap space's used and resident bytes, so the runner can tell live
 * objects from pages the heap keeps committed) to
 * the file named by PIWIRE_BENCH_PROBE (written to a temporary name, then renamed, so
 * the runner never reads half a file).
 *
 * With PIWIRE_BENCH_PROFILE set (Node 20 refuses --cpu-prof in NODE_OPTIONS), the first
 * SIGUSR2 also starts the V8 CPU profiler and the second stops it and writes the
 * `.cpuprofile` to that path, so the profile covers exactly the measured window.
 * PIWIRE_BENCH_PROFILE_AFTER=N lets the first N probes pass without touching the
 * profiler (the idle section probes memory before and after opening its connections,
 * then profiles the idle window between two more).
 *
 * With PIWIRE_BENCH_HEAP=<path> as well (passed through by the runner), the same window
 * is recorded by V8's sampling heap profiler instead (every 1 KiB allocated on average,
 * objects the scavenger has already collected included) and written to <path>: the
 * allocation per function, to check that steady-state sending and ACK processing
 * allocate nothing per segment. The sampling slows the process: that run's CPU figures
 * mean nothing.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { main } from '../../firmware/main.ts';

// --expose-gc cannot be passed through NODE_OPTIONS on Node 20; setting the flag before
// the first new context is created exposes `gc` in that context.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const probePath = process.env.PIWIRE_BENCH_PROBE;
const profilePath = process.env.PIWIRE_BENCH_PROFILE;
let probesBeforeProfile = Number(process.env.PIWIRE_BENCH_PROFILE_AFTER ?? 0);
const heapProfilePath = process.env.PIWIRE_BENCH_HEAP || undefined;
let profiler: Session | undefined;
let profiled = false;

/** Same-thread inspector sessions answer synchronously, so this finishes before it returns. */
function toggleProfiler(path: string): void {
  if (profiler === undefined && !profiled) {
    profiler = new Session();
    profiler.connect();
    if (heapProfilePath !== undefined) {
      profiler.post('HeapProfiler.enable');
      // The two include flags (V8 ≥ 11) are not in @types/node's parameter type yet.
      const sampling = { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true };
      profiler.post('HeapProfiler.startSampling', sampling);
    } else {
      profiler.post('Profiler.enable');
      profiler.post('Profiler.start');
    }
    return;
  }
  if (profiler !== undefined) {
    const session = profiler;
    profiler = undefined;
    profiled = true;
    if (heapProfilePath !== undefined) {
      session.post('HeapProfiler.stopSampling', (error, result) => {
        if (!error) writeFileSync(heapProfilePath, JSON.stringify(result.profile));
        session.disconnect();
      });
      return;
    }
    session.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(path, JSON.stringify(result.profile));
      session.disconnect();
    });
  }
}

if (probePath !== undefined) {
  process.on('SIGUSR2', () => {
    if (profilePath !== undefined && probesBeforeProfile-- <= 0) toggleProfiler(profilePath);
    collectGarbage();
    collectGarbage();
    const memory = process.memoryUsage();
    const cpu = process.cpuUsage();
    const temporary = `${probePath}.tmp`;
    const heapSpaces = Object.fromEntries(getHeapSpaceStatistics().map((space) => [space.space_name, { used: space.space_used_size, resident: space.physical_space_size }]));
    writeFileSync(temporary, JSON.stringify({ ...memory, userMicros: cpu.user, systemMicros: cpu.system, heapSpaces }));
    renameSync(temporary, probePath);
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
