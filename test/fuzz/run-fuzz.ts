// Coverage-guided fuzzing of piwire's untrusted-input parsers with Jazzer.js.
//
//   npm run fuzz                         # every target, 1 minute each (tsx runs this file)
//   npm run fuzz -- --minutes 30         # a longer campaign: 30 minutes per target
//   npm run fuzz -- --seconds 5 --target wire --target telnet
//
// Each target (test/fuzz/targets/<name>.ts, listed in TARGETS) is bundled with esbuild
// into one CommonJS file (Jazzer.js 2.1 instruments CommonJS modules as they load, so
// the bundle, which holds the code under test, is instrumented for coverage) and
// run by Jazzer.js in a process of its own, seeded from test/fuzz/corpus/<name>/ (kept
// read-only: new inputs go to test/fuzz/jazzer/work/corpus/<name>/, outside git).
// A finding (a broken invariant, an exception, a hang) is written to
// test/fuzz/crashes/<name>/crash-<sha1> and the run fails; commit that file and
// test/fuzz/regressions.test.ts replays it from then on (a regression test), next to
// the seed corpus.
//
// The Jazzer.js install and native addon come from test/fuzz/jazzer/setup.sh.
// Prints one line per target ("fuzz: <name>: <runs> runs, cov <n>, ...") and exits
// non-zero when any target found something or could not run.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** test/fuzz/jazzer: the Jazzer.js package, its addon, and the bundles (CommonJS: its package.json has no "type"). */
const JAZZER_DIRECTORY = join(dirname(fileURLToPath(import.meta.url)), 'jazzer');
const ROOT = join(JAZZER_DIRECTORY, '../../..');
export const JAZZER_CLI = join(JAZZER_DIRECTORY, 'node_modules/@jazzer.js/core/dist/cli.js');
export const JAZZER_ADDON = join(JAZZER_DIRECTORY, 'node_modules/@jazzer.js/fuzzer/build/Release/jazzerjs.node');

/** Every target, and whether its fuzz function is synchronous (Jazzer's faster --sync mode). */
export const TARGETS: Readonly<Record<string, { sync: boolean }>> = {
  wire: { sync: true },
  interface: { sync: true },
  'sensor-protocol': { sync: true },
  telnet: { sync: true },
  'shell-command': { sync: false },
  config: { sync: true },
  i2cdump: { sync: true },
};

export const corpusDirectory = (name: string): string => join(ROOT, 'test/fuzz/corpus', name);
export const crashDirectory = (name: string): string => join(ROOT, 'test/fuzz/crashes', name);

/** Bundles the target into test/fuzz/jazzer/build/<name>.js (CommonJS: test/fuzz/jazzer/package.json has no "type"); returns the path. */
export async function bundle(name: string): Promise<string> {
  const outfile = join(JAZZER_DIRECTORY, 'build', `${name}.js`);
  await build({
    entryPoints: [join(ROOT, 'test/fuzz/targets', `${name}.ts`)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    logLevel: 'error',
    // Optional hardware packages are never reached by the targets.
    external: ['onoff', 'i2c-bus'],
    // The sources are ES modules: `import.meta.url` becomes the bundle's own URL.
    define: { 'import.meta.url': '__piwireImportMetaUrl' },
    banner: { js: 'const __piwireImportMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
  });
  return outfile;
}

export interface FuzzResult {
  name: string;
  /** Jazzer's exit status: 0 when the budget ran out with no finding. */
  status: number;
  runs: number;
  /** libFuzzer's last coverage figure (edges and compare features of the instrumented bundle). */
  coverage: number;
  /** The finding's file, when there was one. */
  crash: string | undefined;
  output: string;
}

/**
 * Runs one target for `seconds`; `workCorpus` is where new interesting inputs go. With
 * `seed`, libFuzzer's mutations are repeatable (the suite's short runs); without, each
 * campaign explores afresh.
 */
export async function runTarget(name: string, seconds: number, workCorpus: string, seed?: number): Promise<FuzzResult> {
  const target = await bundle(name);
  mkdirSync(workCorpus, { recursive: true });
  mkdirSync(crashDirectory(name), { recursive: true });
  const args = [
    JAZZER_CLI,
    target.replace(/\.js$/, ''),
    workCorpus,
    corpusDirectory(name),
    ...(TARGETS[name]?.sync ? ['--sync'] : []),
    '--',
    `-max_total_time=${seconds}`,
    ...(seed === undefined ? [] : [`-seed=${seed}`]),
    `-artifact_prefix=${crashDirectory(name)}/`,
    '-timeout=10',
    '-rss_limit_mb=2048',
    '-max_len=4096',
    '-print_final_stats=1',
  ];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: JAZZER_DIRECTORY, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer): void => {
      output += chunk;
      if (output.length > 200_000) output = output.slice(-100_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('close', (status) => {
      // The final stats come last and can be cut off when the process exits with its
      // pipe still full; the progress lines ("#N NEW cov: ...") say it as well.
      const progress = [...output.matchAll(/^#(\d+)\s/gm)].map((match) => Number(match[1]));
      const runs = Number(
        /stat::number_of_executed_units:\s*(\d+)/.exec(output)?.[1] ?? /Done (\d+) runs/.exec(output)?.[1] ?? Math.max(0, ...progress),
      );
      const coverage = [...output.matchAll(/cov: (\d+)/g)].map((match) => Number(match[1])).pop() ?? 0;
      const crash = /Test unit written to (\S+)/.exec(output)?.[1];
      resolve({ name, status: status ?? 128, runs, coverage, crash, output });
    });
  });
}

function parseArguments(argv: readonly string[]): { seconds: number; targets: string[] } {
  const options = { seconds: 60, targets: [] as string[] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === '--minutes' && value !== undefined) options.seconds = Math.round(Number(value) * 60);
    else if (arg === '--seconds' && value !== undefined) options.seconds = Math.round(Number(value));
    else if (arg === '--target' && value !== undefined) options.targets.push(value);
    else throw new Error(`usage: npm run fuzz -- [--minutes N | --seconds N] [--target NAME]... (targets: ${Object.keys(TARGETS).join(', ')}); got ${arg}`);
    i++;
  }
  if (!Number.isFinite(options.seconds) || options.seconds < 1) throw new Error('the budget must be at least one second');
  for (const name of options.targets) if (!(name in TARGETS)) throw new Error(`unknown target ${name}; targets: ${Object.keys(TARGETS).join(', ')}`);
  if (options.targets.length === 0) options.targets = Object.keys(TARGETS);
  return options;
}

async function main(): Promise<number> {
  const options = parseArguments(process.argv.slice(2));
  if (!existsSync(JAZZER_ADDON)) {
    console.error(`fuzz: Jazzer.js is not set up (${JAZZER_ADDON} missing): run bash test/fuzz/jazzer/setup.sh`);
    return 2;
  }
  let failed = 0;
  for (const name of options.targets) {
    const result = await runTarget(name, options.seconds, join(JAZZER_DIRECTORY, 'work/corpus', name));
    const seeds = readdirSync(corpusDirectory(name)).length;
    console.log(`fuzz: ${name}: ${result.runs} runs, cov ${result.coverage}, ${seeds} seeds, exit ${result.status}${result.crash ? `, FINDING ${result.crash}` : ''}`);
    if (result.status !== 0) {
      failed++;
      console.log(result.output.split('\n').slice(-60).join('\n'));
    }
  }
  return failed === 0 ? 0 : 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().then((status) => process.exit(status), (error) => {
    console.error(`fuzz: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  });
}
