#!/usr/bin/env node
// Runs a part of the test suite with node's test runner, one file at a time:
//
//   node test/support/run-tests.mjs unit            (npm run test:unit)
//   node test/support/run-tests.mjs test/wire test/tcp ...
//   node test/support/run-tests.mjs --one-process test/wire ...
//
// `unit` is every test file except the suites that need a whole system: test/integration
// (network namespaces, the kernel as peer), test/deploy (installer, systemd) and test/pi
// (the emulated Raspberry Pi). A directory selects the test files under it. The exit
// status is the runner's. The full suite, with its set-up, is `bash test/run.sh`.
//
// --one-process imports every selected file into one node process instead of one
// process per file: under emulation starting node and loading the sources costs ~10 s
// a file, more than most files' tests. Only for suites that keep no process-wide state
// between files (the unit-level ones); the few files that inspect V8's state from a
// fresh start (OWN_PROCESS) still get a process of their own, after the others.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const SYSTEM_SUITES = ['test/integration', 'test/deploy', 'test/pi'];

function testFiles(directory) {
  return readdirSync(join(root, directory), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.test.ts'))
    .map((entry) => relative(root, join(entry.parentPath ?? entry.path, entry.name)))
    .filter((file) => !file.split('/').includes('node_modules'));
}

const oneProcessFlag = '--one-process';
const oneProcess = process.argv.includes(oneProcessFlag);
const selections = process.argv.slice(2).filter((argument) => argument !== oneProcessFlag);
if (selections.length === 0) {
  process.stderr.write('usage: run-tests.mjs unit | DIRECTORY...\n');
  process.exit(2);
}
const files = new Set();
for (const selection of selections) {
  if (selection === 'unit') {
    for (const file of testFiles('test')) {
      if (!SYSTEM_SUITES.some((suite) => file.startsWith(`${suite}/`))) files.add(file);
    }
  } else {
    for (const file of testFiles(selection)) files.add(file);
  }
}
/**
 * Files that check V8's own state (object maps from a fresh start, what optimised code
 * allocates when a function has seen only the hot path's shapes) and so need a process
 * of their own: with --one-process they run after the others, each in its own process.
 */
const OWN_PROCESS = new Set([
  'test/tcp/field-representation.test.ts',
  'test/storage/record-allocation.test.ts',
  'test/services/sensors/rate-limiter.test.ts',
]);
const sorted = [...files].sort();
const shared = oneProcess ? sorted.filter((file) => !OWN_PROCESS.has(file)) : sorted;
const alone = oneProcess ? sorted.filter((file) => OWN_PROCESS.has(file)) : [];
const argv = oneProcess
  ? ['--import', 'tsx', '--input-type=module', '-e', shared.map((file) => `await import(${JSON.stringify(join(root, file))});`).join('\n')]
  : ['--import', 'tsx', '--test', '--test-concurrency=1', ...sorted];
const run = spawnSync(process.execPath, argv, { cwd: root, stdio: 'inherit' });
let status = run.status ?? 1;
if (alone.length > 0) {
  const own = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...alone], { cwd: root, stdio: 'inherit' });
  if (status === 0) status = own.status ?? 1;
}
process.exit(status);
