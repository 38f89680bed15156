/**
 * Wires one link to one stack on the real-time loop: frames in → stack, stack's
 * deadlines → the loop's single timer, frames out flushed once per turn, carrier
 * changes → the interface and the log.
 */
import type { Link } from '../hal/link/link.ts';
import type { EventSink } from '../src/events.ts';
import type { RandomSource } from '../src/random.ts';
import { NetStack, type StackConfig } from '../src/stack.ts';
import type { RealtimeLoop } from './loop.ts';

export interface AttachedStack {
  stack: NetStack;
  link: Link;
}

export function attachStack(link: Link, config: StackConfig, deps: { loop: RealtimeLoop; random: RandomSource; events: EventSink }): AttachedStack {
  const { loop, events } = deps;
  const stack = new NetStack(link, config, {
    clock: loop.clock,
    random: deps.random,
    events,
    onWork: loop.wake,
  });
  link.setReceiver((frame) => {
    stack.receiveFrame(frame);
    loop.wake();
  });
  link.onCarrierChange((up) => {
    // The interface raises or clears fault 1 itself; the `link` line follows it.
    stack.setCarrier(up);
    events.emit('link', { link: link.name, carrier: up ? 'up' : 'down' });
    loop.wake();
  });
  loop.add(stack);
  loop.addLink(link);
  stack.start();
  return { stack, link };
}
