/**
 * TIME-WAIT (RFC 9293 §3.4.2, §3.10.7.4) as a compact record, as Linux's
 * inet_timewait_sock: when a connection enters TIME-WAIT its application has already
 * been told of the close, so the stack keeps only what TIME-WAIT needs (the 4-tuple,
 * both sequence numbers, the window to advertise, the expiry) and lets go of the
 * connection, its buffers and its handler. A device that closes first for thousands
 * of sensor sessions holds a few dozen bytes per session for 2·MSL, not 32 KiB.
 *
 * The records live in parallel typed arrays (one slot per record, no object per
 * entry), found through a chained hash on the 4-tuple and kept in a doubly linked
 * list oldest first: every record lives 2·MSL from its last FIN, so the head expires
 * first. Capacity doubles as needed; the number of records is bounded by the stack
 * (maxConnections counts them, `timeWaitMax` too).
 *
 * What arrives for a TIME-WAIT tuple (`segmentArrives`):
 *   - RST: ignored (RFC 1337 §3, "TIME-WAIT assassination");
 *   - a SYN with a sequence number above RCV.NXT while a listener would take it with
 *     state: ends TIME-WAIT early (RFC 6191); the new ISS must lie beyond the old
 *     incarnation (RFC 1122 §4.2.2.13);
 *   - any other SYN: a challenge ACK (RFC 5961 §4.2);
 *   - with RFC 7323 timestamps: a segment older than TS.Recent (PAWS, §5.3) is ACKed
 *     and dropped; a SYN reopens only with a newer TSval (RFC 6191);
 *   - a retransmitted FIN: ACKed, and 2·MSL starts again;
 *   - anything else that occupies sequence space: ACKed; a bare ACK out of the window:
 *     ACKed within the challenge-ACK limits (RFC 5961 §7); an in-window bare ACK: nothing.
 *
 * Bounds: `timeWaitMax` (optional) recycles the oldest record when exceeded (Linux's
 * tcp_max_tw_buckets drops the new one instead; keeping the newest keeps the record
 * most likely to see a retransmitted FIN), and at the connection limit the oldest
 * record makes room for a new connection.
 */
import type { Ipv4Address } from '../net/address.ts';
import type { Counters } from '../stats.ts';
import type { Instant } from '../time.ts';
import { TcpFlag, type TcpRepr } from '../wire/tcp.ts';
import { DOUBLE_ZERO } from '../wire/bytes.ts';
import type { SegmentEmitter } from './emitter.ts';
import { seqAdd, seqGt } from './seq.ts';
import { CHALLENGE_ACK_INTERVAL_MS } from './limits.ts';
import { pawsRejects, timestampBefore, timestampValue, updateTsRecent, type TimestampState } from './timestamps.ts';

/** BSD's ISS increment: a reopened TIME-WAIT tuple starts this far past the old SND.NXT (RFC 9293 §3.10.7.4). */
export const TIME_WAIT_ISS_INCREMENT = 128_000;
const INITIAL_CAPACITY = 64;
const NONE = -1;

/** What a connection keeps to learn when its TIME-WAIT is over (the slot may be reused later). */
export interface TimeWaitHandle {
  readonly slot: number;
  readonly generation: number;
}

export interface TimeWaitContext {
  readonly counters: Counters;
  readonly emitter: SegmentEmitter;
  /** 2·MSL in ms. */
  readonly lifetime: number;
  readonly bound: number | undefined;
  /** The stack-wide challenge-ACK budget (RFC 5961 §7). */
  allowChallengeAck(now: Instant): boolean;
}

export interface TimeWaitRecord {
  localPort: number;
  remoteAddress: Ipv4Address;
  remotePort: number;
  /** Our highest sequence number sent (our FIN included): the SEQ of our ACKs. */
  sndNxt: number;
  /** The peer's FIN included. */
  rcvNxt: number;
  /** The window field our ACKs carry (already scaled: RCV.WND >> Rcv.Wind.Shift). */
  window: number;
  /** RFC 7323 timestamps in use: our ACKs carry TSopt, and PAWS applies. */
  timestamps: boolean;
  tsOffset: number;
  tsRecent: number;
  tsRecentAt: Instant;
  expiresAt: Instant;
}

export class TimeWaitTable {
  private capacity = 0;
  private count = 0;
  private localPort = new Uint16Array(0);
  private remotePort = new Uint16Array(0);
  private remoteAddress = new Uint32Array(0);
  private sndNxt = new Uint32Array(0);
  private rcvNxt = new Uint32Array(0);
  private window = new Uint32Array(0);
  /** 1: timestamps in use. */
  private timestamps = new Uint8Array(0);
  private tsOffset = new Uint32Array(0);
  private tsRecent = new Uint32Array(0);
  private tsRecentAt = new Float64Array(0);
  private expiresAt = new Float64Array(0);
  /** NaN: no challenge ACK sent yet. */
  private lastAckAt = new Float64Array(0);
  /** Bumped each time a slot is freed, so stale handles see their record ended. */
  private generation = new Uint32Array(0);
  /** Next slot in the same hash bucket, or in the free list. */
  private chain = new Int32Array(0);
  private older = new Int32Array(0);
  private newer = new Int32Array(0);
  private buckets = new Int32Array(0);
  private freeHead = NONE;
  private readonly timestampOption = { value: DOUBLE_ZERO, echo: DOUBLE_ZERO };
  private oldest = NONE;
  private newest = NONE;

  constructor(private readonly context: TimeWaitContext) {}

  get size(): number {
    return this.count;
  }

  /** The slot holding this tuple, or -1. */
  lookup(localPort: number, remoteAddress: Ipv4Address, remotePort: number): number {
    if (this.count === 0) return NONE;
    for (let slot = this.buckets[this.bucketOf(localPort, remoteAddress, remotePort)]!; slot !== NONE; slot = this.chain[slot]!) {
      if (this.localPort[slot] === localPort && this.remotePort[slot] === remotePort && this.remoteAddress[slot] === remoteAddress >>> 0) return slot;
    }
    return NONE;
  }

  /** A connection entered TIME-WAIT; beyond the bound the oldest record is recycled. */
  add(record: TimeWaitRecord): TimeWaitHandle {
    const existing = this.lookup(record.localPort, record.remoteAddress, record.remotePort);
    if (existing !== NONE) this.remove(existing);
    if (this.freeHead === NONE) this.grow();
    const slot = this.freeHead;
    this.freeHead = this.chain[slot]!;
    this.localPort[slot] = record.localPort;
    this.remotePort[slot] = record.remotePort;
    this.remoteAddress[slot] = record.remoteAddress;
    this.sndNxt[slot] = record.sndNxt;
    this.rcvNxt[slot] = record.rcvNxt;
    this.window[slot] = record.window;
    this.timestamps[slot] = record.timestamps ? 1 : 0;
    this.tsOffset[slot] = record.tsOffset;
    this.tsRecent[slot] = record.tsRecent;
    this.tsRecentAt[slot] = record.tsRecentAt;
    this.expiresAt[slot] = record.expiresAt;
    this.lastAckAt[slot] = NaN;
    const bucket = this.bucketOf(record.localPort, record.remoteAddress, record.remotePort);
    this.chain[slot] = this.buckets[bucket]!;
    this.buckets[bucket] = slot;
    this.append(slot);
    this.count++;
    const handle = { slot, generation: this.generation[slot]! };
    if (this.context.bound !== undefined && this.count > this.context.bound) this.recycleOldest();
    return handle;
  }

  /** True while the record a handle names is still in TIME-WAIT. */
  holds(handle: TimeWaitHandle): boolean {
    return this.generation[handle.slot] === handle.generation;
  }

  /** Ends the oldest record to make room; false if there is none. */
  recycleOldest(): boolean {
    if (this.oldest === NONE) return false;
    this.context.counters.increment('tcp.time-wait.recycled');
    this.remove(this.oldest);
    return true;
  }

  pollAt(): Instant | undefined {
    return this.oldest === NONE ? undefined : this.expiresAt[this.oldest];
  }

  /** Ends every record whose 2·MSL is over. */
  poll(now: Instant): void {
    while (this.oldest !== NONE && this.expiresAt[this.oldest]! <= now) this.remove(this.oldest);
  }

  /**
   * A segment for the TIME-WAIT record in `slot`. Returns the minimum ISS for a new
   * incarnation when the segment is a SYN that reopens the tuple (the record is then
   * gone), else undefined (the segment was handled here).
   */
  segmentArrives(slot: number, segment: TcpRepr, listening: boolean, now: Instant): number | undefined {
    const { counters } = this.context;
    const flags = segment.flags;
    const rcvNxt = this.rcvNxt[slot]!;
    if (flags & TcpFlag.RST) {
      counters.increment('tcp.drop.rst-in-time-wait');
      return undefined;
    }
    const timestamp = this.timestamps[slot] === 1 ? segment.options.timestamps : undefined;
    const state = timestamp === undefined ? undefined : this.timestampState(slot);
    if (flags & TcpFlag.SYN) {
      // RFC 6191 §2: with timestamps on both incarnations, a SYN whose TSval is newer
      // than TS.Recent may reopen the tuple (whatever its sequence number); without
      // them, one with a sequence number above RCV.NXT (RFC 9293 §3.10.7.4).
      const newer = timestamp !== undefined ? timestampBefore(this.tsRecent[slot]!, timestamp.value) : seqGt(segment.sequenceNumber, rcvNxt);
      if (listening && (flags & TcpFlag.ACK) === 0 && newer) {
        counters.increment('tcp.rx.time-wait-reuse');
        const minimumIss = seqAdd(this.sndNxt[slot]!, TIME_WAIT_ISS_INCREMENT);
        this.remove(slot);
        return minimumIss;
      }
      counters.increment('tcp.drop.challenge-ack');
      this.challengeAck(slot, now);
      return undefined;
    }
    const length = segment.payload.length + (flags & TcpFlag.FIN ? 1 : 0);
    if (timestamp !== undefined && state !== undefined && pawsRejects(state, timestamp.value, now)) {
      // RFC 7323 §5.3 R1 (Linux tcp_timewait_state_process): an old duplicate; ACK it.
      counters.increment('tcp.drop.paws');
      if (length > 0) this.ack(slot, now);
      else this.challengeAck(slot, now);
      return undefined;
    }
    if (flags & TcpFlag.FIN && seqAdd(segment.sequenceNumber, length) === rcvNxt) {
      // The peer did not get our ACK of its FIN: ACK again and wait 2·MSL from now.
      this.expiresAt[slot] = now + this.context.lifetime;
      this.unlink(slot);
      this.append(slot);
      if (timestamp !== undefined) this.noteTimestamp(slot, timestamp.value, now);
      this.ack(slot, now);
      return undefined;
    }
    if (length > 0) {
      counters.increment('tcp.rx.data-after-fin');
      this.ack(slot, now);
      return undefined;
    }
    if (segment.sequenceNumber !== rcvNxt) {
      counters.increment('tcp.drop.out-of-window');
      this.challengeAck(slot, now);
    }
    return undefined;
  }

  // ---- storage -----------------------------------------------------------------------------

  private bucketOf(localPort: number, remoteAddress: Ipv4Address, remotePort: number): number {
    const mixed = Math.imul((remoteAddress >>> 0) ^ Math.imul(remotePort * 65536 + localPort, 0x9e3779b1), 0x85ebca6b);
    return (mixed ^ (mixed >>> 15)) & (this.buckets.length - 1);
  }

  private remove(slot: number): void {
    const bucket = this.bucketOf(this.localPort[slot]!, this.remoteAddress[slot]!, this.remotePort[slot]!);
    if (this.buckets[bucket] === slot) {
      this.buckets[bucket] = this.chain[slot]!;
    } else {
      let previous = this.buckets[bucket]!;
      while (previous !== NONE && this.chain[previous] !== slot) previous = this.chain[previous]!;
      if (previous !== NONE) this.chain[previous] = this.chain[slot]!;
    }
    this.unlink(slot);
    this.generation[slot] = (this.generation[slot]! + 1) >>> 0;
    this.chain[slot] = this.freeHead;
    this.freeHead = slot;
    this.count--;
  }

  private append(slot: number): void {
    this.older[slot] = this.newest;
    this.newer[slot] = NONE;
    if (this.newest !== NONE) this.newer[this.newest] = slot;
    else this.oldest = slot;
    this.newest = slot;
  }

  private unlink(slot: number): void {
    const older = this.older[slot]!;
    const newer = this.newer[slot]!;
    if (older !== NONE) this.newer[older] = newer;
    else this.oldest = newer;
    if (newer !== NONE) this.older[newer] = older;
    else this.newest = older;
    this.older[slot] = NONE;
    this.newer[slot] = NONE;
  }

  /** Doubles the capacity: the arrays are copied, the buckets rebuilt, new slots freed. */
  private grow(): void {
    const previous = this.capacity;
    const capacity = previous === 0 ? INITIAL_CAPACITY : previous * 2;
    const widen = <T extends Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array>(old: T, make: (length: number) => T): T => {
      const next = make(capacity);
      next.set(old);
      return next;
    };
    this.localPort = widen(this.localPort, (n) => new Uint16Array(n));
    this.remotePort = widen(this.remotePort, (n) => new Uint16Array(n));
    this.remoteAddress = widen(this.remoteAddress, (n) => new Uint32Array(n));
    this.sndNxt = widen(this.sndNxt, (n) => new Uint32Array(n));
    this.rcvNxt = widen(this.rcvNxt, (n) => new Uint32Array(n));
    this.window = widen(this.window, (n) => new Uint32Array(n));
    this.timestamps = widen(this.timestamps, (n) => new Uint8Array(n));
    this.tsOffset = widen(this.tsOffset, (n) => new Uint32Array(n));
    this.tsRecent = widen(this.tsRecent, (n) => new Uint32Array(n));
    this.tsRecentAt = widen(this.tsRecentAt, (n) => new Float64Array(n));
    this.expiresAt = widen(this.expiresAt, (n) => new Float64Array(n));
    this.lastAckAt = widen(this.lastAckAt, (n) => new Float64Array(n));
    this.generation = widen(this.generation, (n) => new Uint32Array(n));
    this.chain = widen(this.chain, (n) => new Int32Array(n));
    this.older = widen(this.older, (n) => new Int32Array(n));
    this.newer = widen(this.newer, (n) => new Int32Array(n));
    this.capacity = capacity;
    for (let slot = previous; slot < capacity; slot++) {
      this.older[slot] = NONE;
      this.newer[slot] = NONE;
    }
    // Rebuild the hash chains of the used slots, then chain the new slots as free.
    this.buckets = new Int32Array(capacity).fill(NONE);
    for (let slot = this.oldest; slot !== NONE; slot = this.newer[slot]!) {
      const bucket = this.bucketOf(this.localPort[slot]!, this.remoteAddress[slot]!, this.remotePort[slot]!);
      this.chain[slot] = this.buckets[bucket]!;
      this.buckets[bucket] = slot;
    }
    for (let slot = capacity - 1; slot >= previous; slot--) {
      this.chain[slot] = this.freeHead;
      this.freeHead = slot;
    }
  }

  // ---- replies -------------------------------------------------------------------------------

  private challengeAck(slot: number, now: Instant): void {
    const last = this.lastAckAt[slot]!;
    if ((!Number.isNaN(last) && now - last < CHALLENGE_ACK_INTERVAL_MS) || !this.context.allowChallengeAck(now)) {
      this.context.counters.increment('tcp.tx.challenge-ack-limited');
      return;
    }
    this.lastAckAt[slot] = now;
    this.ack(slot, now);
  }

  private timestampState(slot: number): TimestampState {
    return { timestamps: true, tsOffset: this.tsOffset[slot]!, tsRecent: this.tsRecent[slot]!, tsRecentAt: this.tsRecentAt[slot]! };
  }

  /** A retransmitted FIN at RCV.NXT − 1 (<= Last.ACK.sent) updates TS.Recent (RFC 7323 §4.3). */
  private noteTimestamp(slot: number, value: number, now: Instant): void {
    const state = this.timestampState(slot);
    updateTsRecent(state, value, true, now);
    this.tsRecent[slot] = state.tsRecent;
    this.tsRecentAt[slot] = state.tsRecentAt;
  }

  /**
   * <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> with the window the connection last offered,
   * and TSopt (TSecr = TS.Recent) when the connection used timestamps (RFC 7323 §3.2).
   */
  private ack(slot: number, now: Instant): void {
    const timestamps = this.timestamps[slot] === 1;
    if (timestamps) {
      this.timestampOption.value = timestampValue(now, this.tsOffset[slot]!);
      this.timestampOption.echo = this.tsRecent[slot]!;
    }
    this.context.emitter.emit({
      timestamps: timestamps ? this.timestampOption : undefined,
      remoteAddress: this.remoteAddress[slot]!,
      sourcePort: this.localPort[slot]!,
      destinationPort: this.remotePort[slot]!,
      sequenceNumber: this.sndNxt[slot]!,
      acknowledgmentNumber: this.rcvNxt[slot]!,
      flags: TcpFlag.ACK,
      window: this.window[slot]!,
    });
  }
}
