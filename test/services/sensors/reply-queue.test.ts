/** The session's reply FIFO: order, tickets across growth and wrap, items, bounds. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { INITIAL_CAPACITY, ReplyKind, ReplyQueue, releaseReplyQueue, takeReplyQueue, type ReplyItem } from '../../../src/services/sensors/reply-queue.ts';

/** Drains the settled head: [kind, item] pairs, stopping at a waiting PUT. */
function drain(queue: ReplyQueue): [number, ReplyItem | undefined][] {
  const out: [number, ReplyItem | undefined][] = [];
  for (;;) {
    const kind = queue.headKind();
    if (kind < 0 || kind === ReplyKind.PUT_WAITING || kind === ReplyKind.PUT_QUIET_WAITING) return out;
    out.push([kind, queue.shift()]);
  }
}

describe('ReplyQueue', () => {
  it('keeps request order: texts and deferred items in place among PUTs, a waiting PUT holds the rest back', () => {
    const queue = new ReplyQueue();
    const evaluate = (): string => 'VAL\n';
    queue.pushItem(ReplyKind.TEXT, 'OK hello\n');
    const loud = queue.pushPut(false);
    queue.pushItem(ReplyKind.DEFERRED, evaluate);
    const quiet = queue.pushPut(true);
    queue.pushItem(ReplyKind.TEXT, 'PONG\n');
    assert.equal(queue.length, 5);
    assert.deepEqual(drain(queue), [[ReplyKind.TEXT, 'OK hello\n']]);
    assert.equal(queue.settle(quiet, 'committed'), true);
    assert.deepEqual(drain(queue), [], 'the loud PUT still waits');
    assert.equal(queue.settle(loud, 'committed'), true);
    assert.deepEqual(drain(queue), [
      [ReplyKind.PUT_OK, undefined],
      [ReplyKind.DEFERRED, evaluate],
      [ReplyKind.PUT_SILENT, undefined],
      [ReplyKind.TEXT, 'PONG\n'],
    ]);
    assert.equal(queue.length, 0);
    assert.equal(queue.headKind(), -1);
  });

  it('records refusals, and refuses a ticket that is not a waiting PUT of the queue', () => {
    const queue = new ReplyQueue();
    const full = queue.pushPut(true);
    const down = queue.pushPut(false);
    queue.pushItem(ReplyKind.TEXT, 'x');
    assert.equal(queue.settle(full, ReplyKind.PUT_STORE_FULL), true);
    assert.equal(queue.settle(full, 'committed'), false, 'settled twice');
    assert.equal(queue.settle(down + 1, 'committed'), false, 'a TEXT entry');
    assert.equal(queue.settle(down + 5, 'committed'), false, 'past the tail');
    assert.equal(queue.settle(down, ReplyKind.PUT_UNAVAILABLE), true);
    assert.deepEqual(drain(queue), [
      [ReplyKind.PUT_STORE_FULL, undefined],
      [ReplyKind.PUT_UNAVAILABLE, undefined],
      [ReplyKind.TEXT, 'x'],
    ]);
    assert.equal(queue.settle(down, 'committed'), false, 'already left the queue');
  });

  it('starts small and doubles on demand; tickets stay valid across growth, settled in any order', () => {
    const queue = new ReplyQueue();
    assert.equal(queue.capacity, INITIAL_CAPACITY);
    // Move the head on first so the live entries wrap around the ring when it grows.
    for (let i = 0; i < 11; i++) queue.settle(queue.pushPut(false), 'committed');
    assert.equal(drain(queue).length, 11);
    const tickets: number[] = [];
    for (let i = 0; i < 1000; i++) {
      if (i % 7 === 0) queue.pushItem(ReplyKind.TEXT, `t${i}`);
      tickets.push(queue.pushPut(i % 2 === 0));
    }
    assert.equal(queue.capacity, 2048, 'the smallest power of two that holds 1,143 entries');
    for (let i = tickets.length - 1; i >= 0; i--) assert.equal(queue.settle(tickets[i]!, 'committed'), true);
    const out = drain(queue);
    assert.equal(out.length, 1000 + 143);
    let put = 0;
    for (const [index, [kind, item]] of out.entries()) {
      if (kind === ReplyKind.TEXT) {
        assert.equal(item, `t${put}`, `entry ${index}`);
        continue;
      }
      assert.equal(kind, put % 2 === 0 ? ReplyKind.PUT_SILENT : ReplyKind.PUT_OK, `entry ${index}`);
      put++;
    }
  });

  it('wraps its sequence numbers at 2^30 without losing an entry', () => {
    const queue = new ReplyQueue();
    // Reach the wrap quickly: the head and tail are private, so walk them there through the ring.
    const internal = queue as unknown as { head: number; tail: number };
    internal.head = internal.tail = 0x3fffffff - 3;
    const tickets = Array.from({ length: 40 }, () => queue.pushPut(false));
    assert.ok(tickets.some((ticket) => ticket < 10), 'wrapped');
    assert.equal(queue.length, 40);
    for (const ticket of tickets) assert.equal(queue.settle(ticket, 'committed'), true);
    assert.equal(drain(queue).length, 40);
    assert.equal(queue.length, 0);
  });

  it('drops the items it has read while it never empties', () => {
    const queue = new ReplyQueue();
    for (let i = 0; i < 10_000; i++) {
      queue.pushItem(ReplyKind.TEXT, `a${i}`);
      queue.pushItem(ReplyKind.TEXT, `b${i}`);
      assert.equal(queue.headKind(), ReplyKind.TEXT);
      assert.equal(queue.shift(), i === 0 ? 'a0' : `b${i - 1}`);
      if (i > 0) assert.equal(queue.shift(), `a${i}`);
    }
    const items = (queue as unknown as { items: unknown[] }).items;
    assert.ok(items.length <= 64, `items array ${items.length}`);
  });

  it('reuses released queues, only empty ones', () => {
    const queue = takeReplyQueue();
    queue.pushPut(false);
    assert.throws(() => releaseReplyQueue(queue), /not empty/);
    const ticket = queue.pushPut(false);
    queue.settle(ticket - 1, 'committed');
    queue.settle(ticket, 'committed');
    drain(queue);
    releaseReplyQueue(queue);
    assert.equal(takeReplyQueue(), queue);
    assert.notEqual(takeReplyQueue(), queue);
  });
});
