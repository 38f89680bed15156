/**
 * Wires one link to one stack on the real-time loop: frames in → stack, stack's
 * deadlines → the loop's single timer, frames out flushed once per turn, carrier
 * changes → the interface (which raises or clears fault 1) and the log.
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

export interface AttachOptions {
  loop: RealtimeLoop;
  random: RandomSource;
  events: EventSink;
  /** Called for every received frame (the link LED's traffic flicker). */
  onFrame?: () => void;
  onCarrier?: (up: boolean) => void;
}

export function attachStack(link: Link, config: StackConfig, options: AttachOptions): AttachedStack {
  const { loop, events } = options;
  const onFrame = options.onFrame ?? (() => undefined);
  const stack = new NetStack(link, config, {
    clock: loop.clock,
    random: options.random,
    events,
    onWork: loop.wake,
  });
  link.setReceiver((frame) => {
    stack.receiveFrame(frame);
    onFrame();
    loop.wake();
  });
  link.onCarrierChange((up) => {
    // The interface raises or clears fault 1 itself; the `link` line follows it.
    stack.setCarrier(up);
    events.emit('link', { link: link.name, carrier: up ? 'up' : 'down' });
    options.onCarrier?.(up);
    loop.wake();
  });
  loop.add(stack);
  loop.addLink(link);
  stack.start();
  return { stack, link };
}
