/**
 * Wires one link to one stack on the real-time loop: frames in → stack, stack's
 * deadlines → the loop's single timer, frames out flushed once per turn, carrier
 * changes → the interface and the log (`link`, the cause event that raises or clears
 * fault 1 in the diagnostics layer).
 */
import type { Link } from '../hal/link/link.ts';
import type { IpLink } from '../hal/link/ip.ts';
import { isPacketDevice } from '../src/net/device.ts';
import type { EventSink } from '../src/events.ts';
import type { RandomSource } from '../src/random.ts';
import type { Counters } from '../src/stats.ts';
import { NetStack, type StackConfig } from '../src/stack.ts';
import type { RealtimeLoop } from './loop.ts';

export interface AttachedStack {
  stack: NetStack;
  link: Link | IpLink;
}

export interface AttachOptions {
  loop: RealtimeLoop;
  random: RandomSource;
  events: EventSink;
  /** The stack's counters (default: a fresh set). */
  counters?: Counters;
  /** Called for every received frame (the link LED's traffic flicker). */
  onFrame?: () => void;
  onCarrier?: (up: boolean) => void;
}

/**
 * The device's carrier wiring: every change the link reports goes to the interface,
 * then the `link` log line (the cause of fault 1), then `onChange` (the link LED,
 * waking the loop); repeated reports of the same state (a flapping driver) are not
 * news. The state at start goes the same way as every later change: the interface
 * starts with carrier up and has just announced itself, so only a link that is down
 * now has anything to tell it; the log and `onChange` hear the state either way.
 * Call after `stack.start()`.
 */
export function followCarrier(link: Pick<Link, 'name' | 'carrier' | 'onCarrierChange'>, stack: NetStack, events: EventSink, onChange: (up: boolean) => void = () => undefined): void {
  const carrierIs = (up: boolean): void => {
    if (!stack.setCarrier(up)) return;
    events.emit('link', { link: link.name, carrier: up ? 'up' : 'down' });
    onChange(up);
  };
  link.onCarrierChange(carrierIs);
  if (link.carrier) {
    events.emit('link', { link: link.name, carrier: 'up' });
    onChange(true);
  } else {
    carrierIs(false);
  }
}

export function attachStack(link: Link | IpLink, config: StackConfig, options: AttachOptions): AttachedStack {
  const { loop, events } = options;
  const onFrame = options.onFrame ?? (() => undefined);
  const stack = new NetStack(link, config, {
    clock: loop.clock,
    random: options.random,
    events,
    onWork: loop.wake,
    ...(options.counters ? { counters: options.counters } : {}),
  });
  if (isPacketDevice(link)) {
    // IP mode (hal/link/ip.ts): whole IPv4 packets, no Ethernet.
    link.setReceiver((packet) => {
      stack.receivePacket(packet);
      onFrame();
      loop.wake();
    });
  } else {
    // The stack is the link's ReceiveBatch: the frames of one wakeup are answered once, and
    // a native link hands them in place (no view per frame), the loop woken once per batch.
    link.setReceiver((frame, tcpChecksumGood) => {
      stack.receiveFrame(frame, tcpChecksumGood === true);
      onFrame();
      loop.wake();
    }, {
      beginBatch: () => stack.beginBatch(),
      continueBatch: () => stack.continueBatch(),
      endBatch: () => {
        stack.endBatch();
        loop.wake();
      },
      receiveFrameAt: (bytes, start, end, tcpChecksumGood) => {
        stack.receiveFrameAt(bytes, start, end, tcpChecksumGood);
        onFrame();
      },
    });
  }
  loop.add(stack);
  loop.addLink(link);
  stack.start();
  followCarrier(link, stack, events, (up) => {
    options.onCarrier?.(up);
    loop.wake();
  });
  return { stack, link };
}
