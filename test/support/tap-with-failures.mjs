/**
 * The test runner's TAP reporter, with the failed tests named once more just before the
 * final summary ("# failed: <file> › <test>"). A CI log that keeps only the end of the
 * output then still says which test failed; the output still ends with the summary.
 * Used by test/run.sh: --test-reporter=./test/support/tap-with-failures.mjs
 */
import { relative } from 'node:path';
import { tap } from 'node:test/reporters';

/** A suite or file whose failure is only that a test inside it failed: not named again. */
function onlySubtestsFailed(event) {
  return event.data.details?.error?.failureType === 'subtestsFailed';
}

export default async function* tapWithFailures(source) {
  const failed = [];
  // The names of the suites around the current test, by nesting level.
  const suites = [];
  async function* withFailuresListed() {
    let listed = false;
    for await (const event of source) {
      if (event.type === 'test:start') suites[event.data.nesting] = event.data.name;
      if (event.type === 'test:fail' && !onlySubtestsFailed(event)) {
        const file = event.data.file ? relative(process.cwd(), event.data.file) : '?';
        const path = [...suites.slice(0, event.data.nesting), event.data.name];
        failed.push(`${file} › ${path.join(' › ')}`);
      }
      // The summary is a run of nesting-0 diagnostics that begins with "tests N".
      if (!listed && event.type === 'test:diagnostic' && event.data.nesting === 0 && /^tests \d+$/.test(event.data.message)) {
        listed = true;
        for (const name of failed) yield { type: 'test:diagnostic', data: { nesting: 0, message: `failed: ${name}` } };
      }
      yield event;
    }
  }
  yield* tap(withFailuresListed());
}
