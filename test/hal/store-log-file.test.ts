/**
 * The readings log on real files in a temporary directory: group commit, replay,
 * torn and corrupt tails, retention. Commit windows are short real timers here (the
 * store is hal/), but no assertion depends on how long anything takes.
 */
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLogStore, segmentFileName, type LogStoreOptions } from '../../hal/store/log-file.ts';
import { Counters } from '../../src/stats.ts';
import { RecordingEventSink } from '../../src/events.ts';
import { encodeRecord, type Reading } from '../../src/storage/readings.ts';

let directory: string;
beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'piwire-store-'));
});
afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

const reading = (name: string, value: number, timestamp = 1_700_000_000_000) => ({ name, value, timestamp, source: 's1' });

async function open(options: Partial<LogStoreOptions> = {}) {
  const counters = new Counters();
  const events = new RecordingEventSink();
  const store = await openLogStore({ directory, commitMs: 5, counters, events, ...options });
  return { store, counters, events };
}

describe('readings log (hal/store/log-file)', () => {
  it('commits appends as a group and replays them on the next start', async () => {
    const { store, counters } = await open({ commitMs: 20 });
    const committed: string[] = [];
    store.subscribe((r) => committed.push(r.name));
    const appends = Array.from({ length: 100 }, (_, i) => store.append(reading(`n${i % 10}`, i, 1000 + i)));
    assert.equal(store.latest('n0'), undefined, 'not visible before the commit');
    await Promise.all(appends);
    assert.equal(committed.length, 100);
    assert.ok(counters.get('store.commits') <= 2, `${counters.get('store.commits')} commits for one burst`);
    await store.close();
    const again = await open();
    assert.equal(again.store.replay.readings, 100);
    assert.deepEqual(again.store.latest('n9'), { name: 'n9', value: 99, timestamp: 1099, source: 's1' });
    assert.equal(again.store.list().length, 10);
    await again.store.append(reading('n0', -1, 5000));
    await again.store.close();
    const third = await open();
    assert.equal(third.store.latest('n0')?.value, -1);
    assert.equal(third.store.replay.readings, 101);
    await third.store.close();
  });

  it('gives subscribers and the index every committed reading field for field, in write order, across batches', async () => {
    const { store } = await open({ commitMs: 1 });
    const seen: Reading[] = [];
    store.subscribe((r) => seen.push({ ...r }));
    const written: Reading[] = [];
    for (let round = 0; round < 3; round++) {
      const appends: Promise<void>[] = [];
      for (let i = 0; i < 200; i++) {
        const n = round * 200 + i;
        // -0, fractions, big and tiny magnitudes, names and sources of every length.
        const value = [-0, n / 7, -1e300, 5e-324, 2 ** 53][n % 5]!;
        const one = { name: `n${n % 13}${'x'.repeat(n % 60)}`, value, timestamp: 1_700_000_000_000 + n * 0.5, source: `s${'y'.repeat(n % 63)}` };
        written.push(one);
        appends.push(store.append(one));
      }
      await Promise.all(appends);
    }
    assert.equal(seen.length, written.length);
    for (let i = 0; i < written.length; i++) {
      assert.deepEqual(seen[i], written[i], `reading ${i}`);
      assert.ok(Object.is(seen[i]!.value, written[i]!.value), `reading ${i}: ${seen[i]!.value}`);
    }
    assert.deepEqual(store.latest(written.at(-1)!.name), written.at(-1));
    await store.close();
  });

  it('truncates a torn tail, counts it and keeps every whole record', async () => {
    const { store } = await open();
    for (let i = 0; i < 10; i++) await store.append(reading('t', i, 1000 + i));
    await store.close();
    const [segment] = await readdir(directory);
    const path = join(directory, segment!);
    const whole = (await stat(path)).size;
    await truncate(path, whole - 3); // the last append was cut short by a crash
    const again = await open();
    assert.equal(again.counters.get('store.drop.torn'), 1);
    assert.equal(again.store.replay.readings, 9);
    assert.equal(again.store.latest('t')?.value, 8);
    assert.equal((await stat(path)).size, (whole / 10) * 9, 'file truncated to whole records');
    const [event] = again.events.named('store_truncated');
    assert.equal(event?.problem, 'torn');
    // Appends after the truncation land on a clean boundary and replay.
    await again.store.append(reading('t', 42, 2000));
    await again.store.close();
    const third = await open();
    assert.equal(third.store.latest('t')?.value, 42);
    assert.equal(third.counters.sum('store.drop'), 0);
    await third.store.close();
  });

  it('truncates at a corrupt record and never reads what follows it', async () => {
    const { store } = await open();
    for (let i = 0; i < 5; i++) await store.append(reading(`c${i}`, i));
    await store.close();
    const [segment] = await readdir(directory);
    const path = join(directory, segment!);
    const bytes = await readFile(path);
    const size = bytes.length / 5;
    bytes[2 * size + 30]! ^= 0x40; // damage the third record's value
    await writeFile(path, bytes);
    const again = await open();
    assert.equal(again.counters.get('store.drop.bad-crc'), 1);
    assert.deepEqual(again.store.list().map((r) => r.name), ['c0', 'c1']);
    assert.equal((await stat(path)).size, 2 * size);
    await again.store.close();
  });

  it('treats garbage appended to the log as a corrupt tail', async () => {
    const { store } = await open();
    await store.append(reading('g', 1));
    await store.close();
    const [segment] = await readdir(directory);
    await appendFile(join(directory, segment!), Buffer.from('\xff\xff\xff\x7fgarbage garbage garbage'));
    const again = await open();
    assert.equal(again.counters.get('store.drop.bad-length'), 1);
    assert.equal(again.store.latest('g')?.value, 1);
    await again.store.close();
  });

  it('rotates segments and drops the oldest past maxBytes, counting and logging it', async () => {
    const recordSize = encodeRecord({ ...reading('r', 1), sequence: 1 }).length;
    const { store, counters, events } = await open({ commitMs: 0, segmentBytes: recordSize * 10, maxBytes: recordSize * 35 });
    for (let i = 0; i < 100; i++) await store.append(reading('r', i, 1000 + i));
    const segments = (await readdir(directory)).sort();
    assert.ok(segments.length <= 5, segments.join(','));
    assert.ok(store.totalBytes <= recordSize * 35);
    assert.ok(counters.get('store.retention.segments-dropped') >= 5);
    assert.equal(events.named('store_retention').length, counters.get('store.retention.segments-dropped'));
    assert.equal(segments[0] === segmentFileName(1), false, 'the oldest segment is gone');
    await store.close();
    const again = await open({ segmentBytes: recordSize * 10, maxBytes: recordSize * 35 });
    assert.equal(again.store.latest('r')?.value, 99);
    assert.equal(again.store.sequence, 101, 'sequence numbers carry on across restarts');
    await again.store.close();
  });

  it('rejects appends with StoreUnavailableError once a write fails, and reports it once', async () => {
    const health: boolean[] = [];
    const { store, events } = await open({ onHealthChange: (healthy) => health.push(healthy) });
    await store.append(reading('a', 1));
    // Pull the file out from under the store: the next write fails (EBADF).
    const handle = (store as unknown as { handle: { close(): Promise<void> } }).handle;
    await handle.close();
    await assert.rejects(store.append(reading('a', 2)), { code: 'ESTOREUNAVAILABLE' });
    await assert.rejects(store.append(reading('a', 3)), { code: 'ESTOREUNAVAILABLE' });
    assert.deepEqual(health, [false]);
    assert.equal(events.named('store_error').length, 1);
    assert.equal(store.latest('a')?.value, 1);
  });
});
