/**
 * Crash safety of the readings log (SPEC §4): a child process appends readings and
 * prints an ACK for each one the store committed; the test SIGKILLs it at a random
 * point after some ACKs, reopens the log, and checks that every acknowledged reading
 * is in it and that nothing unreadable was taken for a reading. 10,000 readings over
 * five kill/restart rounds. (The firmware-level version of this test, over TCP, is
 * wired by the lead on top of the same fixture idea.)
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { decodeRecords } from '../../src/storage/readings.ts';
import { SeededRandom } from '../../src/random.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/store-writer.ts', import.meta.url));

interface Writer {
  child: ChildProcessWithoutNullStreams;
  ready: Promise<string>;
  acks: string[];
  onAck(count: number): Promise<void>;
  exited: Promise<void>;
}

function startWriter(directory: string): Writer {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, directory, '2', String(16 * 1024)], { stdio: 'pipe' });
  const acks: string[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  let resolveReady: (line: string) => void = () => undefined;
  const ready = new Promise<string>((resolve) => (resolveReady = resolve));
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.startsWith('READY ')) resolveReady(line.slice(6));
    else if (line.startsWith('ACK ')) {
      acks.push(line.slice(4));
      for (const waiter of waiters.filter((w) => acks.length >= w.count)) waiter.resolve();
    } else if (line.startsWith('FAIL ')) throw new Error(`store failed: ${line}`);
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => {
    if (stderr.trim() !== '' && !child.killed) process.stderr.write(stderr);
  });
  return {
    child,
    ready,
    acks,
    exited,
    onAck: (count) => new Promise<void>((resolve) => waiters.push({ count, resolve })),
  };
}

async function readLog(directory: string): Promise<Set<string>> {
  const found = new Set<string>();
  for (const name of (await readdir(directory)).sort()) {
    const decoded = decodeRecords(await readFile(join(directory, name)));
    assert.equal(decoded.tailProblem, undefined, `${name} still has a bad tail after replay`);
    for (const record of decoded.records) found.add(`${record.name} ${record.value}`);
  }
  return found;
}

describe('readings log under kill -9', () => {
  let directory: string;
  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'piwire-crash-'));
  });
  after(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('keeps every acknowledged reading across five random SIGKILLs (10,000 readings)', { timeout: 120_000 }, async () => {
    const random = new SeededRandom(Number(process.env['PIWIRE_CRASH_SEED'] ?? 77));
    const acknowledged: string[] = [];
    let next = 0;
    for (let round = 0; round < 5; round++) {
      const writer = startWriter(directory);
      const replay = JSON.parse(await writer.ready) as { replay: { readings: number } };
      assert.ok(replay.replay.readings >= acknowledged.length, `round ${round}: replayed ${replay.replay.readings} < ${acknowledged.length} acknowledged`);
      const batch: string[] = [];
      for (let i = 0; i < 2000; i++, next++) batch.push(`PUT k${next % 100} ${next}\n`);
      writer.child.stdin.write(batch.join(''));
      const killAfter = 1 + (random.uint32() % 1999);
      await writer.onAck(killAfter);
      writer.child.kill('SIGKILL');
      await writer.exited;
      acknowledged.push(...writer.acks);
      assert.ok(writer.acks.length >= killAfter);
    }
    // A last start replays (and truncates any torn tail); then everything acknowledged is there.
    const last = startWriter(directory);
    await last.ready;
    last.child.kill('SIGKILL');
    await last.exited;
    const found = await readLog(directory);
    const missing = acknowledged.filter((entry) => !found.has(entry));
    assert.deepEqual(missing, [], `${missing.length} acknowledged readings lost`);
    assert.ok(acknowledged.length >= 5);
    for (const entry of found) assert.match(entry, /^k\d+ \d+$/);
  });
});
