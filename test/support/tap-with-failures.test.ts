/**
 * test/run.sh's reporter (tap-with-failures.mjs): node's TAP, with each failed test named
 * again just before the summary, which still ends the output. Runs the test runner on
 * a fixture with a failing test inside a suite, a failing top-level test and a passing one.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const REPORTER = new URL('./tap-with-failures.mjs', import.meta.url).pathname;

const FIXTURE = `
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
describe('outer', () => {
  it('passes', () => {});
  it('fails inside', () => assert.equal(1, 2));
});
it('fails at the top', () => { throw new Error('boom'); });
`;

describe('the TAP reporter that names failed tests (test/run.sh)', () => {
  it('lists every failed test, suite path included, right before the summary, which stays last', () => {
    const directory = mkdtempSync(join(tmpdir(), 'pw-reporter-'));
    try {
      const fixture = join(directory, 'fixture.test.mjs');
      writeFileSync(fixture, FIXTURE);
      // Without the outer runner's NODE_TEST_CONTEXT, which would make the inner run report to it.
      const env = { ...process.env };
      delete env.NODE_TEST_CONTEXT;
      const run = spawnSync(process.execPath, ['--test', `--test-reporter=${REPORTER}`, fixture], { encoding: 'utf8', env });
      assert.notEqual(run.status, 0, 'a failing run exits non-zero');
      const lines = run.stdout.trimEnd().split('\n');
      const name = relative(process.cwd(), fixture);
      const summaryStart = lines.findIndex((line) => /^# tests \d+$/.test(line));
      assert.ok(summaryStart > 2, run.stdout);
      assert.deepEqual(lines.slice(summaryStart - 2, summaryStart), [`# failed: ${name} › outer › fails inside`, `# failed: ${name} › fails at the top`]);
      assert.equal(lines.filter((line) => line.startsWith('# failed:')).length, 2, 'a suite that failed only through its test is not named');
      assert.match(lines.at(-1)!, /^# duration_ms /, 'the summary ends the output');
      assert.ok(lines.includes('# fail 2'));
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
