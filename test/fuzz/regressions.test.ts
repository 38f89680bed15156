/**
 * Every seed (test/fuzz/corpus/<target>/) and every committed finding
 * (test/fuzz/crashes/<target>/) replayed through its fuzz target directly, without
 * Jazzer.js: a finding, once fixed, stays fixed (issue 17: crashes become regression
 * tests), and the seeds keep satisfying the invariants on machines without libFuzzer.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { corpusDirectory, crashDirectory, TARGETS } from './run-fuzz.ts';

function inputs(directory: string): string[] {
  return existsSync(directory) ? readdirSync(directory).filter((name) => !name.startsWith('.')).map((name) => join(directory, name)) : [];
}

describe('fuzz corpus and findings replayed', () => {
  for (const name of Object.keys(TARGETS)) {
    it(`${name}: every seed and committed finding holds the invariants`, async () => {
      const target = (await import(`./targets/${name}.ts`)) as { fuzz(data: Buffer): void | Promise<void> };
      const files = [...inputs(corpusDirectory(name)), ...inputs(crashDirectory(name))];
      assert.ok(inputs(corpusDirectory(name)).length > 0, `${name} has no seed corpus`);
      for (const file of files) {
        try {
          await target.fuzz(readFileSync(file));
        } catch (error) {
          assert.fail(`${file}: ${error instanceof Error ? error.stack : String(error)}`);
        }
      }
    });
  }
});
