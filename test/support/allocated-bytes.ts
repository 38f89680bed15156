/**
 * Bytes V8 allocates while a piece of optimised code runs, for tests that hold a hot path
 * to "allocates nothing": V8's sampling heap profiler at a 32-byte mean interval, objects
 * collected meanwhile included. `optimisedLoop` compiles `body` (which sees `target` and
 * `i`) into a loop optimised before it is measured, as the hot path runs in production.
 */
import { Session } from 'node:inspector';
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--allow-natives-syntax');
const prepareForOptimization = new Function('f', '%PrepareFunctionForOptimization(f)') as (f: unknown) => void;
const optimizeOnNextCall = new Function('f', '%OptimizeFunctionOnNextCall(f)') as (f: unknown) => void;

/**
 * Runs `body` `count` times in an optimised loop; returns the bytes allocated meanwhile.
 * The loop runs `count` times unmeasured first, so what it calls is optimised too (as on
 * a hot path), then the loop itself is optimised. The profiler's own messages are in
 * the figure (a few tens of kilobytes): compare against a bound well above them.
 */
export function allocatedInOptimisedLoop<T>(target: T, body: string, count: number): number {
  const loop = new Function('target', 'count', `for (let i = 0; i < count; i++) { ${body} }`) as (target: T, count: number) => void;
  prepareForOptimization(loop);
  loop(target, count);
  optimizeOnNextCall(loop);
  loop(target, 1);
  return allocatedBytes(() => loop(target, count));
}

/** Bytes V8's sampling heap profiler saw allocated while `work` ran. */
export function allocatedBytes(work: () => void): number {
  const session = new Session();
  session.connect();
  try {
    session.post('HeapProfiler.enable');
    session.post('HeapProfiler.startSampling', { samplingInterval: 32, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true });
    work();
    let bytes: number | undefined;
    session.post('HeapProfiler.stopSampling', (error, result) => {
      if (error !== null) throw error;
      bytes = profileBytes(result.profile.head);
    });
    if (bytes === undefined) throw new Error('allocatedBytes: the profile did not come back synchronously');
    return bytes;
  } finally {
    session.disconnect();
  }
}

function profileBytes(node: { selfSize: number; children: readonly { selfSize: number; children: readonly unknown[] }[] }): number {
  let total = node.selfSize;
  for (const child of node.children) total += profileBytes(child as typeof node);
  return total;
}
