/**
 * The contract every frame link implements (memory wire, TAP, AF_PACKET) and that
 * the wrappers (fault injection, pcap tracing) stack on.
 *
 * Call order: open (the constructor or a factory) → setReceiver/onCarrierChange →
 * transmit*, flush → close. Receive handlers get frames that are valid only during
 * the call. `transmit` takes ownership of the frame; `flush` sends what was batched.
 *
 * Receive batches: a link that knows which frames arrived together (the native links:
 * one addon callback per readable wakeup; the memory wire: one delivery tick) brackets
 * them with the optional `ReceiveBatch` given to setReceiver: `beginBatch()` before the
 * first frame, `endBatch()` after the last (also when the receiver threw). NetStack is
 * one: it processes the whole batch before it builds ACKs and sends, once per connection
 * (src/tcp/ack-policy.ts). A link that cannot tell (or a wrapper that delivers a held
 * frame on its own timer) just calls the frame handler: each frame is then a batch of
 * its own, as before. Never `endBatch()` without `beginBatch()`; batches do not nest per link.
 *
 * Segmentation offload (`segmentOffload`, from FrameDevice: src/net/device.ts): a link
 * offers it only when something below cuts TCP super-frames exactly as Linux's GSO does
 * (the packet link through the kernel, the memory wire's emulation); a wrapper does not
 * pass it on, so a fault-injecting or capturing link sees only real segments.
 */
import type { FrameDevice } from '../../src/net/device.ts';
import type { Counters } from '../../src/stats.ts';

/**
 * One received frame, a view valid only during the call. `tcpChecksumGood`: the link
 * verified that the frame carries an unfragmented TCP/IPv4 segment whose checksum is
 * right (receive checksum offload: the native link sums it while it walks its ring, as a
 * NIC does for Linux's CHECKSUM_UNNECESSARY), so the stack need not sum it again; absent
 * or false, the stack checks as always. A link that may change a frame never passes it on.
 */
export type FrameHandler = (frame: Uint8Array, tcpChecksumGood?: boolean) => void;
export type CarrierHandler = (up: boolean) => void;

/**
 * One received frame read in place: `bytes[start, end)`, valid only during the call, as a
 * FrameHandler's view is; `tcpChecksumGood` as there.
 */
export type FrameRangeHandler = (bytes: Uint8Array, start: number, end: number, tcpChecksumGood: boolean) => void;

/** Brackets the frames a link delivers together (see the header). */
export interface ReceiveBatch {
  beginBatch(): void;
  endBatch(): void;
  /**
   * Optional: the link read again within the same batch (a native link reads while each
   * read comes back full, so that what waited is answered at once): the frames that
   * follow were read later, and the receiver may take a new instant for them.
   */
  continueBatch?(): void;
  /**
   * Optional: takes each frame of a batch as a range of the link's receive memory instead
   * of a view through the FrameHandler (so a frame costs the receive path no object; an
   * idle device's keepalive answers were a view each). A link whose frames lie in one memory
   * (the native links' ring) calls it, between this batch's `beginBatch()` and `endBatch()`
   * only, in place of the handler; every other link, and every frame outside a batch, goes
   * to the handler. Either way the receiver sees the same frames.
   */
  receiveFrameAt?: FrameRangeHandler;
}

export interface Link extends FrameDevice {
  readonly name: string;
  /** Carrier (physical link) state as last seen. */
  readonly carrier: boolean;
  /** `batch`, when given and the link can tell, brackets each group of frames delivered together. */
  setReceiver(handler: FrameHandler, batch?: ReceiveBatch): void;
  onCarrierChange(handler: CarrierHandler): void;
  /** Sends any frames queued by transmit(); a no-op for links that send at once. */
  flush(): void;
  close(): void;
  /** Link-level counters (frames/bytes in and out, drops with reasons). */
  stats(): Record<string, number>;
}

/**
 * What a wrapping link (fault injection, pcap) gives its inner link as the batch: passes
 * begin/end on to the batch its own receiver set, and ends exactly the batch it began
 * even if the receiver changes in between.
 */
export class ReceiveBatchRelay implements ReceiveBatch {
  /** The outer receiver's batch (setReceiver's second argument), if any. */
  target: ReceiveBatch | undefined;
  private open: ReceiveBatch | undefined;

  beginBatch(): void {
    this.open = this.target;
    this.open?.beginBatch();
  }

  continueBatch(): void {
    this.open?.continueBatch?.();
  }

  endBatch(): void {
    const open = this.open;
    this.open = undefined;
    open?.endBatch();
  }
}

export const ETHERNET_HEADER_BYTES = 14;

/**
 * The checks every link makes before it takes a frame to send: a closed link, a runt
 * (shorter than an Ethernet header) and a frame over the link's MTU are refused and
 * counted with the reason named. Returns whether the frame may go.
 */
export function acceptForTransmit(frame: Uint8Array, mtu: number, closed: boolean, counters: Counters): boolean {
  return acceptLengthForTransmit(frame.length, mtu, closed, counters);
}

/** `acceptForTransmit` of a frame of `length` bytes (one built in a transmit slot longer than it). */
export function acceptLengthForTransmit(length: number, mtu: number, closed: boolean, counters: Counters): boolean {
  if (closed) {
    counters.increment('link.drop.closed');
    return false;
  }
  if (length < ETHERNET_HEADER_BYTES) {
    counters.increment('link.drop.runt');
    return false;
  }
  if (length > mtu + ETHERNET_HEADER_BYTES) {
    counters.increment('link.drop.oversize');
    return false;
  }
  return true;
}
