/**
 * The contract every frame link implements (memory wire, TAP, AF_PACKET) and that
 * the wrappers (fault injection, pcap tracing) stack on.
 *
 * Call order: open (the constructor or a factory) → setReceiver/onCarrierChange →
 * transmit*, flush → close. Receive handlers get frames that are valid only during
 * the call. `transmit` takes ownership of the frame; `flush` sends what was batched.
 */
import type { FrameDevice } from '../../src/net/device.ts';

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
