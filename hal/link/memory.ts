/**
 * A two-ended Ethernet cable in memory, with a programmable fault model: the link every
 * layer above the HAL is tested on, and the simulated board's LAN.
 *
 * Driven by the same injected Clock as the stacks on its ends (it is a Pollable):
 * `wire.a.transmit(frame)` stamps the frame with `clock.now()`, runs it through the fault
 * model of the a→b direction and queues it; `pollAt()` is the earliest pending delivery;
 * `poll(now)` hands every frame due by `now` to `wire.b`'s receiver, in delivery order:
 * the frames one poll hands an end are one receive batch (link.ts `ReceiveBatch`).
 *
 * The model, per direction, applied to each frame in this order:
 *   1. serialization: the sender's line carries one frame at a time at
 *      `bandwidthBitsPerSecond`, so a frame waits for the ones before it and then takes
 *      `bytes·8 / bandwidth` to send; past `queueLimitBytes` of backlog it is dropped
 *      (`overflowed`), like a full transmit queue;
 *   2. loss (`lossRate`): the frame used the line but never arrives; so does every frame
 *      longer than `blackHoleAboveBytes` (an MTU black hole: a smaller-MTU hop further on
 *      that drops big frames and sends no ICMP), and every frame a test's `dropWhen`
 *      predicate picks (one chosen segment or ACK), counted as lost too;
 *   3. propagation: `delayMs` plus a uniform jitter in [0, `jitterMs`). Jitter never
 *      reorders by itself: a frame never arrives before one sent ahead of it;
 *   4. reordering (`reorderRate`): the frame is held back `reorderDelayMs` extra, and
 *      frames sent after it may overtake it;
 *   5. duplication (`duplicateRate`): an independent copy arrives right after the original;
 *   6. corruption (`corruptRate`, decided per copy): one random bit of the frame flips.
 * `pullCable()` loses every frame in flight and every frame sent while pulled, and both
 * ends see carrier down; `plugCable()` brings carrier back.
 *
 * Randomness comes from an injected RandomSource, drawn only for the faults that are
 * enabled, so a run with the same seed and settings is exactly repeatable.
 *
 * Segmentation offload (`segmentOffloadA`/`segmentOffloadB`): an end may emulate the
 * packet link's (src/net/device.ts `SegmentOffload`): a TCP super-frame is cut in JS
 * exactly as Linux's GSO cuts it, and each piece then goes through the model above, so
 * the stack's super-segments are tested on the virtual clock.
 *
 * Ownership: `transmit` takes the frame (no copy); the receiver gets it for the duration of
 * its call. With `poisonAfterDelivery` the wire overwrites every frame once its receiver
 * returns, so a receiver that keeps a view of a frame (against the Link contract) reads
 * garbage in tests instead of working by luck.
 */
import { formatMac, type MacAddress } from '../../src/net/address.ts';
import type { RandomSource } from '../../src/random.ts';
import { Counters } from '../../src/stats.ts';
import type { Clock, Instant, Pollable } from '../../src/time.ts';
import type { SegmentOffload } from '../../src/net/device.ts';
import { segmentTcpFrame } from '../../src/net/tcp-segmentation.ts';
import { SuperFrameRing } from './super-frame-ring.ts';
import { acceptForTransmit, ETHERNET_HEADER_BYTES, type CarrierHandler, type FrameHandler, type Link, type ReceiveBatch } from './link.ts';

export interface WireFaults {
  /** Probability in [0, 1] that a frame is lost. */
  lossRate: number;
  /** Frames longer than this (Ethernet header included) are lost; Infinity for none. */
  blackHoleAboveBytes: number;
  /** Probability that a frame arrives twice. */
  duplicateRate: number;
  /** Probability that a frame is held back by `reorderDelayMs`, letting later frames pass. */
  reorderRate: number;
  reorderDelayMs: number;
  /** Probability that one bit of a frame flips. */
  corruptRate: number;
  /** One-way propagation delay. */
  delayMs: number;
  /** Extra delay, uniform in [0, jitterMs). */
  jitterMs: number;
  /** Line rate; Infinity (or 0) for none: frames take no time to send. */
  bandwidthBitsPerSecond: number;
  /**
   * Bytes that may wait for a busy line (the frame itself included) before new frames are
   * dropped, like a transmit queue; Infinity for no limit. Only meaningful with a bandwidth.
   */
  queueLimitBytes: number;
}

export const PERFECT_WIRE: Readonly<WireFaults> = Object.freeze({
  lossRate: 0,
  blackHoleAboveBytes: Infinity,
  duplicateRate: 0,
  reorderRate: 0,
  reorderDelayMs: 5,
  corruptRate: 0,
  delayMs: 0,
  jitterMs: 0,
  bandwidthBitsPerSecond: Infinity,
  queueLimitBytes: Infinity,
});

export type WireDirection = 'a-to-b' | 'b-to-a';

/**
 * What happened to the frames of one direction. Every frame sent ends up delivered, lost
 * or overflowed, or is still in flight: sent + duplicated = delivered + lost + overflowed + in flight.
 */
export interface WireDirectionStats {
  /** Frames handed to the wire (not those its end refused: closed, pulled cable, over the MTU). */
  sent: number;
  /** Frames (copies included) handed to the far end. */
  delivered: number;
  /** Random loss, and frames in flight when the cable was pulled. */
  lost: number;
  /** Extra copies made. */
  duplicated: number;
  reordered: number;
  corrupted: number;
  /** Dropped because the line's queue was over `queueLimitBytes`. */
  overflowed: number;
}

export interface MemoryWireOptions {
  clock: Clock;
  random: RandomSource;
  /** IP MTU of both ends (default 1500); `mtuA`/`mtuB` override per end. */
  mtu?: number;
  mtuA?: number;
  mtuB?: number;
  macA?: MacAddress;
  macB?: MacAddress;
  nameA?: string;
  nameB?: string;
  /** Initial fault model of both directions (default: a perfect wire). */
  faults?: Partial<WireFaults>;
  /** Overwrite each frame after its receiver returns (catches receivers that keep views). */
  poisonAfterDelivery?: boolean;
  /**
   * Emulated segmentation offload on end a / b (src/net/device.ts `SegmentOffload`): the
   * longest IPv4 packet a super-frame may carry (at most 65535); absent: no offload. The
   * end cuts each super-frame as Linux's GSO does (src/net/tcp-segmentation.ts) and sends
   * the pieces one by one, each through the fault model like any frame.
   */
  segmentOffloadA?: number;
  segmentOffloadB?: number;
}

/** The byte delivered frames are overwritten with under `poisonAfterDelivery`. */
export const POISON_BYTE = 0xee;

interface InFlight {
  deliverAt: Instant;
  /** Transmission order: breaks ties so equal instants deliver first-sent first. */
  sequence: number;
  direction: 0 | 1;
  frame: Uint8Array;
}

export class MemoryWire implements Pollable {
  readonly a: MemoryEndpoint;
  readonly b: MemoryEndpoint;
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly poison: boolean;
  private readonly faultModels: [WireFaults, WireFaults];
  private readonly directionStatistics: [WireDirectionStats, WireDirectionStats];
  /** When the sender's line finishes the frame it is sending, per direction. */
  private readonly lineFreeAt: [Instant, Instant] = [-Infinity, -Infinity];
  /** Arrival of the last in-order frame, per direction (jitter must not reorder). */
  private readonly lastArrival: [Instant, Instant] = [-Infinity, -Infinity];
  private readonly queue = new DeliveryQueue();
  /** Targeted loss per direction (`dropWhen`). */
  private readonly dropPredicates: [((frame: Uint8Array) => boolean) | undefined, ((frame: Uint8Array) => boolean) | undefined] = [undefined, undefined];
  private nextSequence = 0;
  private plugged = true;

  constructor(options: MemoryWireOptions) {
    this.clock = options.clock;
    this.random = options.random;
    this.poison = options.poisonAfterDelivery ?? false;
    const mtu = options.mtu ?? 1500;
    this.a = new MemoryEndpoint(this, 0, {
      name: options.nameA ?? 'memory:a',
      mtu: options.mtuA ?? mtu,
      mac: options.macA ?? Uint8Array.of(0x02, 0, 0, 0, 0, 0x0a),
      segmentOffload: options.segmentOffloadA,
    });
    this.b = new MemoryEndpoint(this, 1, {
      name: options.nameB ?? 'memory:b',
      mtu: options.mtuB ?? mtu,
      mac: options.macB ?? Uint8Array.of(0x02, 0, 0, 0, 0, 0x0b),
      segmentOffload: options.segmentOffloadB,
    });
    const initial = validateFaults({ ...PERFECT_WIRE, ...options.faults });
    this.faultModels = [{ ...initial }, { ...initial }];
    this.directionStatistics = [emptyStats(), emptyStats()];
  }

  /** Changes the fault model of one direction (or both); applies to frames sent from now on. */
  setFaults(direction: WireDirection | 'both', faults: Partial<WireFaults>): void {
    for (const index of directionIndexes(direction)) {
      this.faultModels[index] = validateFaults({ ...this.faultModels[index], ...faults });
    }
  }

  /**
   * Frames sent in `direction` for which `predicate` returns true are lost (step 2 of the
   * model, counted as lost): a test drops one chosen segment or ACK. The predicate sees
   * the frame during the call only. `undefined` removes it.
   */
  dropWhen(direction: WireDirection | 'both', predicate: ((frame: Uint8Array) => boolean) | undefined): void {
    for (const index of directionIndexes(direction)) this.dropPredicates[index] = predicate;
  }

  faults(direction: WireDirection): WireFaults {
    return { ...this.faultModels[directionIndex(direction)] };
  }

  stats(direction: WireDirection): WireDirectionStats {
    return { ...this.directionStatistics[directionIndex(direction)] };
  }

  get cablePlugged(): boolean {
    return this.plugged;
  }

  /** Frames waiting for delivery, both directions. */
  get inFlight(): number {
    return this.queue.size;
  }

  /** Cuts the cable: frames in flight are lost, and both ends see carrier down. */
  pullCable(): void {
    if (!this.plugged) return;
    this.plugged = false;
    for (const entry of this.queue.drain()) this.directionStatistics[entry.direction].lost++;
    // What was queued on the lines is gone too: after a re-plug they start idle.
    this.lineFreeAt.fill(-Infinity);
    this.lastArrival.fill(-Infinity);
    this.a.carrierChanged(false);
    this.b.carrierChanged(false);
  }

  plugCable(): void {
    if (this.plugged) return;
    this.plugged = true;
    this.a.carrierChanged(true);
    this.b.carrierChanged(true);
  }

  pollAt(): Instant | undefined {
    return this.queue.peek()?.deliverAt;
  }

  /**
   * Delivers every frame due by `now` that was in flight when the call began. Frames the
   * receivers send in reply (even with zero delay) wait for the next poll: one poll is one
   * step, and two stacks answering each other at once cannot loop inside it.
   */
  poll(now: Instant): void {
    const limit = this.nextSequence;
    try {
      for (;;) {
        const next = this.queue.peek();
        if (next === undefined || next.deliverAt > now || next.sequence >= limit) return;
        this.queue.pop();
        const receiver = next.direction === 0 ? this.b : this.a;
        this.directionStatistics[next.direction].delivered++;
        receiver.deliver(next.frame);
        if (this.poison) next.frame.fill(POISON_BYTE);
      }
    } finally {
      // One poll is one receive batch per end (link.ts): closed after the last frame.
      this.a.closeBatch();
      this.b.closeBatch();
    }
  }

  /** @internal Called by an endpoint: puts one frame on the wire (see the model in the header). */
  send(direction: 0 | 1, frame: Uint8Array): void {
    const faults = this.faultModels[direction];
    const stats = this.directionStatistics[direction];
    const now = this.clock.now();
    stats.sent++;

    // 1. Serialization on the sender's line, behind the frames already queued on it.
    const bandwidth = faults.bandwidthBitsPerSecond;
    const limited = Number.isFinite(bandwidth) && bandwidth > 0;
    const start = Math.max(now, this.lineFreeAt[direction]);
    if (limited) {
      // Bytes still waiting ahead of this frame; an idle line always takes a frame.
      const backlogBytes = ((start - now) * bandwidth) / 8000;
      if (backlogBytes > 0 && backlogBytes + frame.length > faults.queueLimitBytes) {
        stats.overflowed++;
        return;
      }
    }
    const transmissionMs = limited ? (frame.length * 8 * 1000) / bandwidth : 0;
    this.lineFreeAt[direction] = start + transmissionMs;

    // 2. Loss in transit: the line time was spent all the same.
    const dropPredicate = this.dropPredicates[direction];
    if ((faults.lossRate > 0 && this.chance(faults.lossRate)) || frame.length > faults.blackHoleAboveBytes || (dropPredicate !== undefined && dropPredicate(frame))) {
      stats.lost++;
      return;
    }

    // 3. Propagation, kept in order; 4. or held back to be overtaken.
    let arrival = start + transmissionMs + faults.delayMs;
    if (faults.jitterMs > 0) arrival += this.fraction() * faults.jitterMs;
    if (faults.reorderRate > 0 && this.chance(faults.reorderRate)) {
      stats.reordered++;
      arrival += faults.reorderDelayMs;
    } else {
      arrival = Math.max(arrival, this.lastArrival[direction]);
      this.lastArrival[direction] = arrival;
    }

    // 5. Duplication, copied before 6. corruption so each copy is damaged on its own.
    const duplicate = faults.duplicateRate > 0 && this.chance(faults.duplicateRate) ? frame.slice() : undefined;
    this.maybeCorrupt(faults, stats, frame);
    this.enqueue(arrival, direction, frame);
    if (duplicate) {
      stats.duplicated++;
      this.maybeCorrupt(faults, stats, duplicate);
      this.enqueue(arrival, direction, duplicate);
    }
  }

  private maybeCorrupt(faults: WireFaults, stats: WireDirectionStats, frame: Uint8Array): void {
    if (faults.corruptRate <= 0 || frame.length === 0 || !this.chance(faults.corruptRate)) return;
    const bit = this.random.uint32() % (frame.length * 8);
    frame[bit >>> 3] = (frame[bit >>> 3] ?? 0) ^ (1 << (bit & 7));
    stats.corrupted++;
  }

  private enqueue(deliverAt: Instant, direction: 0 | 1, frame: Uint8Array): void {
    this.queue.push({ deliverAt, sequence: this.nextSequence++, direction, frame });
  }

  private fraction(): number {
    return this.random.uint32() / 0x1_0000_0000;
  }

  private chance(rate: number): boolean {
    return rate >= 1 || this.fraction() < rate;
  }
}

/**
 * One end of a MemoryWire: a Link. It refuses to send frames over its own MTU, but like
 * most real NICs accepts whatever arrives; the stack above decides what is too long.
 */
export class MemoryEndpoint implements Link {
  readonly name: string;
  readonly mtu: number;
  readonly mac: MacAddress;
  private readonly counters = new Counters();
  private receiver: FrameHandler | undefined;
  private batch: ReceiveBatch | undefined;
  /** A batch was begun in this poll and is not yet ended. */
  private batchOpen = false;
  private readonly carrierHandlers: CarrierHandler[] = [];
  private closed = false;
  /** Present when the wire emulates segmentation offload on this end (MemoryWireOptions). */
  readonly segmentOffload: SegmentOffload | undefined;

  constructor(
    private readonly wire: MemoryWire,
    private readonly direction: 0 | 1,
    settings: { name: string; mtu: number; mac: MacAddress; segmentOffload?: number | undefined },
  ) {
    this.name = settings.name;
    this.mtu = settings.mtu;
    this.mac = Uint8Array.from(settings.mac);
    const maxPacketBytes = settings.segmentOffload;
    if (maxPacketBytes !== undefined) {
      if (!Number.isInteger(maxPacketBytes) || maxPacketBytes <= this.mtu || maxPacketBytes > 0xffff) {
        throw new RangeError(`piwire: memory wire segmentOffload ${maxPacketBytes} must be an integer in ${this.mtu + 1}..65535`);
      }
      // The wire cuts a super-frame at once, so its buffer is free again right after.
      const ring = new SuperFrameRing(maxPacketBytes + ETHERNET_HEADER_BYTES, () => undefined);
      this.segmentOffload = {
        maxPacketBytes,
        superFrame: (length) => ring.take(length),
        transmitSegmented: (frame, segmentSize) => this.transmitSegmented(frame, segmentSize, maxPacketBytes),
      };
    }
  }

  get carrier(): boolean {
    return this.wire.cablePlugged && !this.closed;
  }

  setReceiver(handler: FrameHandler, batch?: ReceiveBatch): void {
    this.receiver = handler;
    this.batch = batch;
  }

  onCarrierChange(handler: CarrierHandler): void {
    this.carrierHandlers.push(handler);
  }

  transmit(frame: Uint8Array): void {
    if (!acceptForTransmit(frame, this.mtu, this.closed, this.counters)) return;
    if (!this.wire.cablePlugged) {
      this.counters.increment('link.drop.no-carrier');
      return;
    }
    this.counters.increment('link.tx.frames');
    this.counters.increment('link.tx.bytes', frame.length);
    this.wire.send(this.direction, frame);
  }

  /** Frames go on the wire at transmit: nothing is batched. */
  flush(): void {}

  /** The emulated offload: the pieces, cut as the kernel cuts them, go out one by one (`link.tx.super-frames` counts the super-frames). */
  private transmitSegmented(frame: Uint8Array, segmentSize: number, maxPacketBytes: number): void {
    if (frame.length > maxPacketBytes + ETHERNET_HEADER_BYTES) {
      this.counters.increment('link.drop.oversize');
      return;
    }
    this.counters.increment('link.tx.super-frames');
    segmentTcpFrame(frame, segmentSize, (length) => new Uint8Array(length), (piece) => this.transmit(piece));
  }

  close(): void {
    this.closed = true;
  }

  stats(): Record<string, number> {
    return this.counters.snapshot();
  }

  toString(): string {
    return `${this.name} ${formatMac(this.mac)} mtu ${this.mtu}`;
  }

  /** @internal Called by the wire with a frame that arrived. */
  deliver(frame: Uint8Array): void {
    if (this.closed) {
      this.counters.increment('link.drop.closed');
      return;
    }
    const receiver = this.receiver;
    if (receiver === undefined) {
      this.counters.increment('link.drop.no-receiver');
      return;
    }
    this.counters.increment('link.rx.frames');
    this.counters.increment('link.rx.bytes', frame.length);
    if (!this.batchOpen && this.batch !== undefined) {
      this.batchOpen = true;
      this.batch.beginBatch();
    }
    receiver(frame);
  }

  /** @internal Called by the wire at the end of a poll: closes the batch its frames opened. */
  closeBatch(): void {
    if (!this.batchOpen) return;
    this.batchOpen = false;
    this.batch?.endBatch();
  }

  /** @internal Called by the wire when the cable is pulled or plugged. */
  carrierChanged(up: boolean): void {
    if (this.closed) return;
    for (const handler of this.carrierHandlers) handler(up);
  }
}

/** A binary min-heap of frames in flight, ordered by (deliverAt, sequence). */
class DeliveryQueue {
  private readonly heap: InFlight[] = [];

  get size(): number {
    return this.heap.length;
  }

  peek(): InFlight | undefined {
    return this.heap[0];
  }

  push(entry: InFlight): void {
    const heap = this.heap;
    heap.push(entry);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >>> 1;
      const parentEntry = heap[parent]!;
      if (!before(entry, parentEntry)) break;
      heap[index] = parentEntry;
      index = parent;
    }
    heap[index] = entry;
  }

  pop(): InFlight | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && before(heap[right]!, heap[left]!) ? right : left;
      const childEntry = heap[child]!;
      if (!before(childEntry, last)) break;
      heap[index] = childEntry;
      index = child;
    }
    heap[index] = last;
    return top;
  }

  /** Removes everything, returning it (in no particular order). */
  drain(): InFlight[] {
    return this.heap.splice(0, this.heap.length);
  }
}

function before(x: InFlight, y: InFlight): boolean {
  return x.deliverAt < y.deliverAt || (x.deliverAt === y.deliverAt && x.sequence < y.sequence);
}

function emptyStats(): WireDirectionStats {
  return { sent: 0, delivered: 0, lost: 0, duplicated: 0, reordered: 0, corrupted: 0, overflowed: 0 };
}

function directionIndex(direction: WireDirection): 0 | 1 {
  return direction === 'a-to-b' ? 0 : 1;
}

function directionIndexes(direction: WireDirection | 'both'): (0 | 1)[] {
  return direction === 'both' ? [0, 1] : [directionIndex(direction)];
}

/** Settings are programmer input: a nonsensical one throws at once instead of skewing a test. */
function validateFaults(faults: WireFaults): WireFaults {
  for (const name of ['lossRate', 'duplicateRate', 'reorderRate', 'corruptRate'] as const) {
    const rate = faults[name];
    if (!(rate >= 0 && rate <= 1)) throw new RangeError(`MemoryWire: ${name} must be in [0, 1], got ${rate}`);
  }
  for (const name of ['reorderDelayMs', 'delayMs', 'jitterMs'] as const) {
    const value = faults[name];
    if (!(value >= 0 && Number.isFinite(value))) throw new RangeError(`MemoryWire: ${name} must be a finite number >= 0, got ${value}`);
  }
  for (const name of ['bandwidthBitsPerSecond', 'queueLimitBytes', 'blackHoleAboveBytes'] as const) {
    const value = faults[name];
    if (!(value >= 0)) throw new RangeError(`MemoryWire: ${name} must be >= 0 (Infinity for no limit), got ${value}`);
  }
  return faults;
}
