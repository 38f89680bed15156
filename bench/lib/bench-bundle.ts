/**
 * The firmware as the benches run it: the built bundle with the measurement probe
 * (bench/lib/firmware-entry.ts), which `node deploy/build.mjs --bench` writes. `npm run
 * build` does not: it writes dist/piwire.mjs. A bench builds the bundle itself before
 * starting the firmware, so it never measures an older tree.
 */
import { join } from 'node:path';
import { exec } from '../../test/support/netns.ts';
import { REPOSITORY_ROOT } from '../../test/support/firmware-process.ts';

export const BENCH_BUNDLE = join(REPOSITORY_ROOT, 'dist/bench/firmware-entry.mjs');

/** Builds BENCH_BUNDLE from the working tree; throws with the builder's output if it fails. */
export async function buildBenchBundle(): Promise<void> {
  const built = await exec(undefined, [process.execPath, join(REPOSITORY_ROOT, 'deploy/build.mjs'), '--bench']);
  if (built.code !== 0) throw new Error(`bench: deploy/build.mjs --bench failed: ${built.stderr}`);
}
