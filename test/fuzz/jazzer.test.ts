/**
 * Coverage-guided fuzzing in the suite (issue 17): every target of test/fuzz/run-fuzz.ts
 * runs under Jazzer.js for a short fixed budget (FUZZ_SECONDS, PIWIRE_FUZZ_SECONDS
 * overrides), seeded from its corpus, and must end with no finding. Longer campaigns:
 * `npm run fuzz -- --minutes N`. A finding is written to test/fuzz/crashes/<target>/ and
 * this test fails showing it; test/fuzz/regressions.test.ts replays it once committed.
 *
 * Jazzer.js comes from test/fuzz/jazzer/setup.sh (test/run.sh runs it): without Debian's
 * libFuzzer (libclang-rt-14-dev, installed by test/run.sh as root) the suite skips with
 * one line; with it, a missing addon is a failure, not a skip.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JAZZER_ADDON, runTarget, TARGETS } from './run-fuzz.ts';

const FUZZ_SECONDS = Number(process.env['PIWIRE_FUZZ_SECONDS'] ?? 5);
/**
 * A fixed libFuzzer seed: the suite's few seconds explore the same inputs on every run,
 * so a finding there is the code's, not the dice's (campaigns, `npm run fuzz`, stay
 * random and are where new findings come from).
 */
const FUZZ_SEED = Number(process.env['PIWIRE_FUZZ_SEED'] ?? 1);
const haveLibFuzzer = spawnSync('sh', ['-c', 'ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-*.a']).status === 0;
const skip = existsSync(JAZZER_ADDON) || haveLibFuzzer ? false : 'fuzz: Jazzer.js needs libFuzzer (apt-get install libclang-rt-14-dev) and bash test/fuzz/jazzer/setup.sh';

describe(`coverage-guided fuzzing with Jazzer.js (${FUZZ_SECONDS} s per target)`, { skip }, () => {
  for (const name of Object.keys(TARGETS)) {
    it(`${name}: no finding`, { timeout: (FUZZ_SECONDS + 120) * 1000 }, async (t) => {
      assert.ok(existsSync(JAZZER_ADDON), `the Jazzer.js addon is not built: run bash test/fuzz/jazzer/setup.sh (${JAZZER_ADDON})`);
      const work = mkdtempSync(join(tmpdir(), `piwire-fuzz-${name}-`));
      try {
        const result = await runTarget(name, FUZZ_SECONDS, work, FUZZ_SEED);
        const tail = result.output.split('\n').filter((line) => !/^#\d+\s/.test(line)).slice(-40).join('\n');
        assert.equal(result.crash, undefined, `finding in ${name}: ${result.crash}\n${tail}`);
        assert.equal(result.status, 0, `${name}: Jazzer.js exited ${result.status}\n${tail}`);
        assert.ok(result.runs > 0, `${name} ran no input\n${tail}`);
        assert.ok(result.coverage > 0, `${name}: no coverage feedback (is the bundle instrumented?)\n${tail}`);
        t.diagnostic(`${name}: ${result.runs} runs, cov ${result.coverage}`);
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    });
  }
});
