/**
 * Instructions per TCP segment (issue 13: "report instructions per segment next to wall
 * time, which the noise of this machine does not move"), counted by valgrind's
 * callgrind on the stack-only run: two piwire stacks on a perfect memory wire in one
 * process (stack-only.ts), no system calls, so every instruction is stack code, V8 or
 * the collector.
 *
 * `perf stat -e instructions` would be cheaper, but the development VM exposes no
 * hardware counters (perf reports `<not supported>`), so the count comes from
 * callgrind's Ir. How:
 *   - the stack-only run is bundled with esbuild (without `keepNames`, as the deployed
 *     bundle: tsx's `keepNames` adds a defineProperty to every closure created) and run
 *     under `valgrind --tool=callgrind` with V8 `--single-threaded`, so compilation and
 *     garbage collection run on the main thread: counted, and the same on every run;
 *   - at two sizes; the difference in instructions over the difference in data segments
 *     leaves out start-up and the JIT's warm-up (V8 tiers functions up by work done,
 *     not time: the first ~2,000 segments still run partly unoptimised code, so the
 *     smaller run is past that point).
 * Each data segment's figure includes its share of the ACKs going back and both stacks'
 * work (sender and receiver), as the wall-clock figure of the stack section does.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { StackOnlyResult } from './stack-only.ts';

export interface InstructionFigures {
  mtu: number;
  /** Bytes of the two runs whose difference is taken. */
  smallBytes: number;
  largeBytes: number;
  instructionsPerDataSegment: number;
  instructionsPerByte: number;
  /** Data segments per ACK segment in the measured stretch (the ACK share in the figure). */
  dataSegmentsPerAck: number;
}

const STACK_ONLY = fileURLToPath(new URL('./stack-only.ts', import.meta.url));

/** Whether valgrind can be run here (the section reports itself missing otherwise). */
export function valgrindAvailable(): boolean {
  const probe = spawnSync('valgrind', ['--version'], { encoding: 'utf8' });
  return probe.status === 0;
}

function countedRun(script: string, mtu: number, bytes: number): { instructions: number; result: StackOnlyResult } {
  const run = spawnSync(
    'valgrind',
    ['--tool=callgrind', '--callgrind-out-file=/dev/null', process.execPath, '--single-threaded', script, String(mtu), String(bytes)],
    { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
  );
  const collected = /Collected : (\d+)/.exec(run.stderr);
  const line = run.stdout.trim().split('\n').at(-1) ?? '';
  if (run.status !== 0 || !collected) {
    throw new Error(`callgrind run (MTU ${mtu}, ${bytes} bytes) failed: status ${run.status}\n${run.stderr.slice(-2000)}`);
  }
  return { instructions: Number(collected[1]), result: JSON.parse(line) as StackOnlyResult };
}

export async function measureInstructions(mtu: number, smallBytes: number, largeBytes: number): Promise<InstructionFigures> {
  const directory = mkdtempSync(join(tmpdir(), 'pw-bench-ir-'));
  try {
    const entry = join(directory, 'entry.ts');
    writeFileSync(
      entry,
      `import { runStackOnly } from ${JSON.stringify(STACK_ONLY)};\n` +
        `const [mtu, bytes] = process.argv.slice(2).map(Number);\n` +
        `process.stdout.write(JSON.stringify(runStackOnly(mtu, bytes)) + '\\n');\n`,
    );
    const script = join(directory, 'stack-only.mjs');
    await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', outfile: script, logLevel: 'warning' });
    const small = countedRun(script, mtu, smallBytes);
    const large = countedRun(script, mtu, largeBytes);
    const dataSegments = large.result.dataSegments - small.result.dataSegments;
    const ackSegments = large.result.ackSegments - small.result.ackSegments;
    const instructions = large.instructions - small.instructions;
    return {
      mtu,
      smallBytes,
      largeBytes,
      instructionsPerDataSegment: instructions / dataSegments,
      instructionsPerByte: instructions / (largeBytes - smallBytes),
      dataSegmentsPerAck: dataSegments / Math.max(1, ackSegments),
    };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
