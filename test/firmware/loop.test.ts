/**
 * The real-time loop (firmware/loop.ts) against Node's own event loop: a deadline that
 * falls due while input is already waiting is handled after that input. libuv runs due
 * timers before it polls for I/O, so after a stall (a long GC, a loaded core) an RTO
 * whose ACK sat in the receive ring fired first and resent data the peer had.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { RealtimeLoop, monotonicClock } from '../../firmware/loop.ts';

/** Keeps the thread busy for `ms`: both the timer and the message are ready when it returns. */
function stall(ms: number): void {
  const until = monotonicClock.now() + ms;
  while (monotonicClock.now() < until) {
    // busy
  }
}

describe('RealtimeLoop', () => {
  it('a deadline that fell due during a stall is handled after the input that arrived in it', async () => {
    // The scenario needs the timer armed and the deadline still ahead when the input is
    // posted. On a loaded machine the first turn can come later than the deadline; such
    // an attempt proves nothing, and the next one leaves a wider margin.
    for (const leadMs of [5, 20, 50, 200, 1000]) {
      const order = await stallPastArmedDeadline(leadMs);
      if (order === undefined) continue;
      assert.deepEqual(order, ['input', 'deadline']);
      return;
    }
    assert.fail('the loop never armed its timer ahead of the deadline (machine too loaded)');
  });
});

/**
 * Arms the loop's timer `leadMs` ahead, posts input and stalls the thread past the
 * deadline; returns the order in which the two were handled, or undefined when the
 * deadline had already passed before the input was posted.
 */
async function stallPastArmedDeadline(leadMs: number): Promise<string[] | undefined> {
  const loop = new RealtimeLoop();
  const order: string[] = [];
  const dueAt = monotonicClock.now() + leadMs;
  let fired = false;
  loop.add({
    pollAt: () => (fired ? undefined : dueAt),
    poll: (now) => {
      if (now < dueAt) return;
      fired = true;
      order.push('deadline');
    },
  });
  // The loop's first turn arms its timer for the deadline.
  await nextTurn();
  if (fired || monotonicClock.now() >= dueAt) {
    loop.stop();
    return undefined;
  }
  // Input arrives (a MessagePort delivers through libuv's poll phase, as the packet
  // link's readable socket does) while the thread is busy past the deadline.
  const { port1, port2 } = new MessageChannel();
  const delivered = new Promise<void>((resolve) => {
    port1.once('message', () => {
      order.push('input');
      resolve();
    });
  });
  port2.postMessage('frame');
  stall(dueAt - monotonicClock.now() + 15);
  await delivered;
  while (!fired) await nextTurn();
  port1.close();
  loop.stop();
  return order;
}
