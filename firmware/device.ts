/**
 * Wires one link to one stack on the real-time loop: frames in → stack, stack's
 * deadlines → the loop's single timer, frames out flushed once per turn, carrier
 * changes → the interface and the log (`link`, the cause event that raises or clears
 * fault 1 in the diagnostics layer).
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
  const carrierIs = (up: boolean): void => {
    // Repeated reports of the same state (a flapping driver) are not news.
    if (!stack.setCarrier(up)) return;
    events.emit('link', { link: link.name, carrier: up ? 'up' : 'down' });
    options.onCarrier?.(up);
    loop.wake();
  };
  link.onCarrierChange(carrierIs);
  loop.add(stack);
  loop.addLink(link);
  stack.start();
  // The state at start goes the same way as every later change. The interface starts
  // with carrier up and has just announced itself, so only a link that is down now
  // has anything to tell it; the log and the LED hear the state either way.
  if (link.carrier) {
    events.emit('link', { link: link.name, carrier: 'up' });
    options.onCarrier?.(true);
  } else {
    carrierIs(false);
  }
  return { stack, link };
}
