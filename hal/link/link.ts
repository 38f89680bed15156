/**
 * The contract every frame link implements (memory wire, TAP, AF_PACKET) and that
 * the wrappers (fault injection, pcap tracing) stack on.
 *
 * Call order: open (the constructor or a factory) → setReceiver/onCarrierChange →
 * transmit*, flush → close. Receive handlers get frames that are valid only during
 * the call. `transmit` takes ownership of the frame; `flush` sends what was batched.
 */
import type { FrameDevice } from '../../src/net/device.ts';
import type { Counters } from '../../src/stats.ts';

export type FrameHandler = (frame: Uint8Array) => void;
export type CarrierHandler = (up: boolean) => void;

export interface Link extends FrameDevice {
  readonly name: string;
  /** Carrier (physical link) state as last seen. */
  readonly carrier: boolean;
  setReceiver(handler: FrameHandler): void;
  onCarrierChange(handler: CarrierHandler): void;
  /** Sends any frames queued by transmit(); a no-op for links that send at once. */
  flush(): void;
  close(): void;
  /** Link-level counters (frames/bytes in and out, drops with reasons). */
  stats(): Record<string, number>;
}

export const ETHERNET_HEADER_BYTES = 14;

/**
 * The checks every link makes before it takes a frame to send: a closed link, a runt
 * (shorter than an Ethernet header) and a frame over the link's MTU are refused and
 * counted with the reason named. Returns whether the frame may go.
 */
export function acceptForTransmit(frame: Uint8Array, mtu: number, closed: boolean, counters: Counters): boolean {
  if (closed) {
    counters.increment('link.drop.closed');
    return false;
  }
  if (frame.length < ETHERNET_HEADER_BYTES) {
    counters.increment('link.drop.runt');
    return false;
  }
  if (frame.length > mtu + ETHERNET_HEADER_BYTES) {
    counters.increment('link.drop.oversize');
    return false;
  }
  return true;
}
