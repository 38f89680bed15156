import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DeadlineQueue } from '../../src/storage/deadline-queue.ts';
import { SeededRandom } from '../../src/random.ts';

interface Timer {
  name: string;
  at: number | undefined;
}

const SLOT = 64;
const current = (timer: Timer, deadline: number): boolean => timer.at === deadline;

/** Pops everything due at `now`, as (name, deadline) pairs. */
function drain(queue: DeadlineQueue<Timer>, now: number): [string, number][] {
  const out: [string, number][] = [];
  for (let timer = queue.popDue(now); timer; timer = queue.popDue(now)) out.push([timer.name, timer.at!]);
  return out;
}

describe('DeadlineQueue', () => {
  it('pops grid and exact deadlines together in deadline order', () => {
    const queue = new DeadlineQueue<Timer>(SLOT, current);
    const random = new SeededRandom(7);
    const timers: Timer[] = [];
    for (let i = 0; i < 2000; i++) {
      // Half on the grid (many sharing an instant), half fractional.
      const at = i % 2 === 0 ? (random.uint32() % 40) * SLOT : (random.uint32() % 2560) + 0.25;
      const timer = { name: `t${i}`, at };
      timers.push(timer);
      queue.push(at, timer);
    }
    assert.equal(queue.size, 2000);
    const deadlines = drain(queue, 10_000).map(([, at]) => at);
    assert.deepEqual(deadlines, timers.map((timer) => timer.at!).sort((a, b) => a - b));
    assert.equal(queue.size, 0);
    assert.equal(queue.peekDeadline(), undefined);
  });

  it('hands out a grid instant’s entries in the order they were pushed', () => {
    const queue = new DeadlineQueue<Timer>(SLOT, current);
    for (const name of ['c', 'a', 'b']) queue.push(128, { name, at: 128 });
    queue.push(64, { name: 'first', at: 64 });
    assert.deepEqual(drain(queue, 128).map(([name]) => name), ['first', 'c', 'a', 'b']);
  });

  it('keeps what is not due yet, and an exact deadline before a grid instant comes first', () => {
    const queue = new DeadlineQueue<Timer>(SLOT, current);
    const keepalive: Timer = { name: 'keepalive', at: 192 };
    const rto: Timer = { name: 'rto', at: 191.5 };
    queue.push(192, keepalive);
    queue.push(191.5, rto);
    assert.equal(queue.peekDeadline(), 191.5);
    assert.equal(queue.popDue(191.4), undefined);
    assert.deepEqual(drain(queue, 191.9), [['rto', 191.5]]);
    assert.equal(queue.peekDeadline(), 192);
    assert.deepEqual(drain(queue, 192), [['keepalive', 192]]);
  });

  it('skips stale entries in both parts and reports the earliest current deadline', () => {
    const queue = new DeadlineQueue<Timer>(SLOT, current);
    const a: Timer = { name: 'a', at: 64 };
    const b: Timer = { name: 'b', at: 100.5 };
    const c: Timer = { name: 'c', at: 64 };
    queue.push(64, a);
    queue.push(64, c);
    queue.push(100.5, b);
    a.at = 256; // re-armed later: its entry at 64 is stale
    queue.push(256, a);
    c.at = undefined; // cancelled
    b.at = 90.25; // re-armed earlier
    queue.push(90.25, b);
    assert.equal(queue.peekDeadline(), 90.25);
    assert.deepEqual(drain(queue, 1000), [
      ['b', 90.25],
      ['a', 256],
    ]);
    assert.equal(queue.size, 0);
  });

  it('reuses emptied buckets: a steady load of grid deadlines stays at a few buckets', () => {
    const queue = new DeadlineQueue<Timer>(SLOT, current);
    const timers = Array.from({ length: 500 }, (_, i) => ({ name: `k${i}`, at: (1 + (i % 8)) * SLOT }));
    for (const timer of timers) queue.push(timer.at, timer);
    // Each instant the due ones re-arm eight slots later: the keepalive pattern.
    for (let now = SLOT; now <= 400 * SLOT; now += SLOT) {
      for (let timer = queue.popDue(now); timer; timer = queue.popDue(now)) {
        assert.equal(timer.at, now);
        timer.at = now + 8 * SLOT;
        queue.push(timer.at, timer);
      }
      assert.equal(queue.size, 500);
    }
    const internals = queue as unknown as { buckets: Map<number, unknown>; spare: unknown[] };
    assert.equal(internals.buckets.size, 8);
    assert.ok(internals.spare.length <= 1, `spare buckets: ${internals.spare.length}`);
  });

  it('does not keep the list of an instant that held a burst of entries', () => {
    const queue = new DeadlineQueue<Timer>(SLOT, current);
    for (let i = 0; i < 5000; i++) queue.push(64, { name: `b${i}`, at: 64 });
    queue.push(128, { name: 'small', at: 128 });
    assert.equal(drain(queue, 128).length, 5001);
    const internals = queue as unknown as { spare: { items: unknown[] }[] };
    assert.equal(internals.spare.length, 1, 'only the small bucket is kept');
    assert.ok(internals.spare[0]!.items.length <= 1024);
  });

  it('clear empties both parts', () => {
    const queue = new DeadlineQueue<Timer>(SLOT, current);
    queue.push(64, { name: 'a', at: 64 });
    queue.push(3.5, { name: 'b', at: 3.5 });
    queue.clear();
    assert.equal(queue.size, 0);
    assert.equal(queue.popDue(1e9), undefined);
  });
});
