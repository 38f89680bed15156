/**
 * The durable ingest path without TCP: CPU per 100,000 readings of the sensor sessions and
 * the readings log alone, in one process (bench/BASELINE.md "Durable ingest"). As the
 * ingest section's client: CONNECTIONS sessions, each `QUIET on`, PUTS pipelined
 * `PUT bench.c<c> <i>.<c>` lines and `PING end`, fed in CHUNK-byte pieces (a segment's
 * payload) round-robin while a session accepts input; done when every session answered
 * `PONG end` (every PUT before it durably committed). The CPU is the process's
 * (process.cpuUsage: user + system, every thread), so the log's writes and fdatasyncs
 * count; the TCP stack's receive and ACK work does not (the full section has it).
 *
 * usage: node --expose-gc --import tsx bench/session-cost.ts [--connections 100] [--puts 2000] [--rounds 5] [--chunk 1448]
 * Each round uses fresh sessions and a fresh log; the first round warms the JIT and is
 * reported apart.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { openLogStore } from '../hal/store/log-file.ts';
import { SensorSession } from '../src/services/sensors/session.ts';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '100' },
    puts: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '5' },
    chunk: { type: 'string', default: '1448' },
  },
});
const connections = Number(values.connections);
const puts = Number(values.puts);
const rounds = Number(values.rounds);
const chunkBytes = Number(values.chunk);

const wallClock = { now: (): number => Date.now() };
const clock = { now: (): number => performance.now() };
const encoder = new TextEncoder();

function input(connection: number): Uint8Array[] {
  let text = 'QUIET on\n';
  for (let i = 0; i < puts; i++) text += `PUT bench.c${connection} ${i}.${connection}\n`;
  text += 'PING end\n';
  const bytes = encoder.encode(text);
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += chunkBytes) chunks.push(bytes.slice(at, at + chunkBytes));
  return chunks;
}

async function round(): Promise<{ cpu: number; seconds: number }> {
  const directory = await mkdtemp(join(tmpdir(), 'pw-session-cost-'));
  const store = await openLogStore({ directory });
  const inputs = Array.from({ length: connections }, (_, c) => input(c));
  let unfinished = connections;
  let wake: (() => void) | undefined;
  const states = inputs.map((chunks) => {
    const state = { chunks, next: 0, done: false, session: undefined as unknown as SensorSession };
    state.session = new SensorSession({
      store,
      clock,
      wallClock,
      defaultSource: '198.18.0.1',
      output: {
        write: (text) => {
          if (!state.done && text.includes('PONG end\n')) {
            state.done = true;
            unfinished--;
            wake?.();
          }
          if (text.includes('ERR')) throw new Error(`session-cost: ${text.slice(0, 80)}`);
          return true;
        },
        queuedBytes: 0,
        end: () => {},
      },
      resumeInput: () => wake?.(),
    });
    return state;
  });
  // The inputs' garbage collected now, not in the measured time (with node --expose-gc).
  (globalThis as { gc?: () => void }).gc?.();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  while (unfinished > 0) {
    let fed = false;
    for (const state of states) {
      if (state.next < state.chunks.length && state.session.acceptingInput) {
        state.session.receive(state.chunks[state.next++]!);
        fed = true;
      }
    }
    if (!fed) {
      // Nothing to feed: wait for a commit to answer or to let input in again.
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 5);
      });
      wake = undefined;
    } else {
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  await store.close();
  await rm(directory, { recursive: true, force: true });
  return { cpu: (cpu.user + cpu.system) / 1e6, seconds };
}

const readings = connections * puts;
for (let r = 0; r < rounds; r++) {
  const { cpu, seconds } = await round();
  const per100k = (cpu * 100_000) / readings;
  process.stdout.write(`${r === 0 ? 'warm-up' : `round ${r}`}: ${per100k.toFixed(3)} CPU s per 100,000 readings, ${Math.round(readings / seconds).toLocaleString('en-US')} readings/s\n`);
}
