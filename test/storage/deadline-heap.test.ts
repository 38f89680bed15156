import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DeadlineHeap } from '../../src/storage/deadline-heap.ts';
import { SeededRandom } from '../../src/random.ts';

interface Timer {
  name: string;
  at: number | undefined;
}

describe('DeadlineHeap', () => {
  it('pops due items in deadline order', () => {
    const heap = new DeadlineHeap<Timer>((timer, deadline) => timer.at === deadline);
    const random = new SeededRandom(3);
    const timers: Timer[] = [];
    for (let i = 0; i < 100; i++) {
      const timer = { name: `t${i}`, at: random.uint32() % 1000 };
      timers.push(timer);
      heap.push(timer.at!, timer);
    }
    const order: number[] = [];
    for (let timer = heap.popDue(1000); timer; timer = heap.popDue(1000)) order.push(timer.at!);
    assert.deepEqual(order, timers.map((timer) => timer.at!).sort((a, b) => a - b));
  });

  it('skips stale entries lazily and reports the earliest current deadline', () => {
    const heap = new DeadlineHeap<Timer>((timer, deadline) => timer.at === deadline);
    const a: Timer = { name: 'a', at: 10 };
    const b: Timer = { name: 'b', at: 20 };
    heap.push(10, a);
    heap.push(20, b);
    a.at = 30; // re-armed later: the entry at 10 is stale
    heap.push(30, a);
    assert.equal(heap.peekDeadline(), 20);
    assert.equal(heap.popDue(19), undefined);
    assert.equal(heap.popDue(25), b);
    b.at = undefined;
    assert.equal(heap.popDue(100), a);
    assert.equal(heap.peekDeadline(), undefined);
    assert.equal(heap.size, 0);
  });
});
