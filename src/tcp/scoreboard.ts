/**
 * The sender's scoreboard (RFC 6675 §3, RFC 8985 §5.2): one record per segment in
 * flight, covering [SND.UNA, SND.MAX) in sequence order, each with the instant it was
 * last (re)transmitted and what is known of it: SACKed by the peer (RFC 2018), marked
 * lost (RFC 6675 IsLost, or RACK's time-based rule), retransmitted since it was marked.
 *
 * Bounded, and allocation-free while data is in flight: the records live in typed
 * arrays over one ArrayBuffer used as a ring of `capacity` entries (a RecordStorage),
 * taken when the first segment leaves and given back when the flight is empty (Linux
 * keeps one sk_buff per segment instead). The stack keeps given-back storage in a
 * bounded RecordStoragePool, so a request/response connection, whose flight empties
 * at every answer, does not allocate an ArrayBuffer and four views per answer. When the ring is full, new data extends the last record (its
 * timestamp becomes the newer one, so RACK stays conservative for it); a SACK edge
 * that would need a split while full is rounded inward (the partial record stays
 * un-SACKed and may be retransmitted needlessly, never skipped wrongly).
 *
 * Call order (recovery.ts, output.ts, input.ts):
 *   - `sent(start, end, now)` whenever SND.MAX advances (new data, FIN, probe octet);
 *   - `retransmitted(start, end, now)` for every retransmission;
 *   - `ackEcho` = the arriving ACK's TSecr (input.ts), before the two calls below;
 *   - `applySack(...)` with the blocks of each arriving ACK (RFC 2018 §3), which
 *     validates them first (Linux tcp_is_sackblock_valid) and reports D-SACK (RFC 2883);
 *   - `acknowledge(ack, now)` when SND.UNA advances;
 *   - `markLostByDupThresh`, `rackDetectLoss` to mark losses; `pipe()`, `nextLost()` for
 *     the RFC 6675 transmission loop.
 * The RACK state (RFC 8985 §6.2: the most recently sent segment that was delivered)
 * is updated here because it is read off the same records as they are SACKed or
 * cumulatively acknowledged. So is delivery rate estimation (delivery-rate.ts) when
 * the connection runs BBR: each record then also holds the rate snapshot of its last
 * transmission in three more Float64Arrays over the same ArrayBuffer and the
 * APP_LIMITED mark (24 bytes more per record, only for such connections).
 */
import type { Instant } from '../time.ts';
import { DOUBLE_ZERO } from '../wire/bytes.ts';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from './seq.ts';
import { timestampBefore, timestampValue } from './timestamps.ts';
import { BoundedFreeLists } from '../storage/free-lists.ts';
import type { DeliveryRate } from './delivery-rate.ts';

/** Per-record marks. */
export const SegmentMark = {
  /** The peer reported it in a SACK block. */
  SACKED: 1,
  /** Considered lost (IsLost or RACK) and not retransmitted since. */
  LOST: 2,
  /** Retransmitted since it was last marked lost (RFC 6675 pipe counts it in flight). */
  RETRANSMITTED: 4,
  /** Retransmitted at least once: its ACK is ambiguous (Karn, RFC 8985 §6.2 step 2). */
  EVER_RETRANSMITTED: 8,
  /** Sent while the sender was application-limited (delivery rate estimation only). */
  APP_LIMITED: 16,
} as const;

/** Bytes per record: transmit instant (8), start and end (4 + 4), marks (1). */
const RECORD_BYTES = 17;
/** Bytes per record of the rate snapshot: delivered, delivered instant, first-sent instant (8 + 8 + 8). */
const RATE_RECORD_BYTES = 24;
const EMPTY_U32 = new Uint32Array(0);
const EMPTY_F64 = new Float64Array(0);
const EMPTY_U8 = new Uint8Array(0);

/**
 * The record arrays of one scoreboard: views of one ArrayBuffer of `capacity` records;
 * `rate` (BBR connections): with the three rate-snapshot arrays (delivery-rate.ts), else
 * those are empty.
 */
export class RecordStorage {
  readonly sentAt: Float64Array<ArrayBuffer>;
  readonly txDelivered: Float64Array<ArrayBuffer>;
  readonly txDeliveredAt: Float64Array<ArrayBuffer>;
  readonly txFirstSentAt: Float64Array<ArrayBuffer>;
  readonly starts: Uint32Array<ArrayBuffer>;
  readonly ends: Uint32Array<ArrayBuffer>;
  readonly marks: Uint8Array<ArrayBuffer>;

  /** The size of the ArrayBuffer under the views. */
  readonly bytes: number;

  constructor(
    readonly capacity: number,
    readonly rate = false,
  ) {
    this.bytes = capacity * (rate ? RECORD_BYTES + RATE_RECORD_BYTES : RECORD_BYTES);
    const buffer = new ArrayBuffer(this.bytes);
    // The Float64Arrays first (8-byte aligned), then the 4-byte and 1-byte ones.
    this.sentAt = new Float64Array(buffer, 0, capacity);
    let offset = capacity * 8;
    if (rate) {
      this.txDelivered = new Float64Array(buffer, offset, capacity);
      this.txDeliveredAt = new Float64Array(buffer, offset + capacity * 8, capacity);
      this.txFirstSentAt = new Float64Array(buffer, offset + capacity * 16, capacity);
      offset += capacity * 24;
    } else {
      this.txDelivered = this.txDeliveredAt = this.txFirstSentAt = EMPTY_F64;
    }
    this.starts = new Uint32Array(buffer, offset, capacity);
    this.ends = new Uint32Array(buffer, offset + capacity * 4, capacity);
    this.marks = new Uint8Array(buffer, offset + capacity * 8, capacity);
  }
}

/** Where scoreboards take their record storage; contents of a taken one are stale. */
export interface RecordStorageAllocator {
  /** Storage of `capacity` records, with the rate snapshots if `rate`. */
  take(capacity: number, rate?: boolean): RecordStorage;
  /** The storage is no longer used. */
  give(storage: RecordStorage): void;
}

/** Fresh storage every time; given-back storage is left to the garbage collector. */
export const unpooledRecordStorage: RecordStorageAllocator = {
  take: (capacity, rate = false) => new RecordStorage(capacity, rate),
  give: () => undefined,
};

/**
 * Given-back record storage kept per capacity for the next flight, up to
 * `maxPooledBytes` in all (beyond that it goes to the garbage collector), as BufferPool
 * keeps the rings' buffers.
 */
export class RecordStoragePool implements RecordStorageAllocator {
  // The two layouts are kept apart: a rate layout under the negative capacity.
  private readonly free: BoundedFreeLists<RecordStorage>;

  constructor(readonly maxPooledBytes: number) {
    this.free = new BoundedFreeLists<RecordStorage>(maxPooledBytes, (storage) => storage.bytes);
  }

  /** Bytes held in the pool now (not in use by any scoreboard). */
  get pooledBytes(): number {
    return this.free.bytes;
  }

  take(capacity: number, rate = false): RecordStorage {
    return this.free.take(rate ? -capacity : capacity) ?? new RecordStorage(capacity, rate);
  }

  give(storage: RecordStorage): void {
    this.free.give(storage.rate ? -storage.capacity : storage.capacity, storage);
  }
}

/**
 * The result of `applySack`, one object for all scoreboards (no allocation per ACK, and
 * none per connection): valid until the next call; a stack runs on one thread.
 */
const SACK_RESULT: SackResult = { newlySacked: 0, invalid: 0, dsack: false, dsackStart: DOUBLE_ZERO, dsackEnd: DOUBLE_ZERO };

/** RFC 8985 §6.2: recoveries without a D-SACK before the reordering window's multiplier resets. */
const REORDER_PERSIST = 16;
/** Bound of the multiplier (the window is capped at SRTT anyway). */
const MAX_REORDER_MULTIPLIER = 64;

/** RFC 6675 §2 DupThresh. */
export const DUP_THRESH = 3;

/** What `applySack` learned from one ACK's blocks. */
export interface SackResult {
  /** Bytes newly marked SACKed. */
  newlySacked: number;
  /** Blocks rejected as invalid (outside [SND.UNA, SND.MAX], empty, or too old). */
  invalid: number;
  /** The first block was a D-SACK (RFC 2883 §4): a duplicate arrived at the peer. */
  dsack: boolean;
  dsackStart: number;
  dsackEnd: number;
}

export class Scoreboard {
  readonly capacity: number;
  // The record arrays: those of a RecordStorage taken when the first segment is in
  // flight and given back (`releaseStorage`) once the flight is empty, as the send ring
  // does with its memory, so an idle connection holds none.
  private storage: RecordStorage | undefined;
  private starts = EMPTY_U32;
  private ends = EMPTY_U32;
  private sentAt = EMPTY_F64;
  private marks = EMPTY_U8;
  // The rate snapshot of each record (only with `rate`): DeliveryRate's delivered,
  // deliveredAt and firstSentAt when the record was last sent.
  private txDelivered = EMPTY_F64;
  private txDeliveredAt = EMPTY_F64;
  private txFirstSentAt = EMPTY_F64;
  private head = 0;
  private used = 0;
  /** Bytes currently marked SACKed. */
  sackedBytes = 0;
  /**
   * Bytes currently marked LOST (never SACKed as well: a SACK clears the mark). With
   * sackedBytes and the records' span it gives `pipe()` without a scan, as Linux keeps
   * sacked_out and lost_out beside packets_out for tcp_packets_in_flight.
   */
  private lostBytes = 0;
  /**
   * IsLost's settled prefix: every record below this sequence number is SACKed, marked
   * lost or retransmitted, so markLostByDupThresh has nothing left to mark there (Linux
   * keeps lost_skb_hint for the same walk). It is the start of a record, and a mark only
   * ever changes from one of those three to another, except in clearLost and clearSacked,
   * which drop the hint, and in a full ring's extended last record, which lies at or
   * above it. Valid while `lostScanned`.
   */
  private lostScannedBits = 0;
  private lostScanned = false;
  /**
   * The highest end of a record retransmitted in this flight (valid while
   * `anyRetransmitted`): above it every record was sent once, in sequence order, so
   * RACK's scan stops at the first of them sent after the most recently delivered one
   * (Linux walks its time-ordered list and stops likewise).
   */
  private retransmittedEndBits = 0;
  private anyRetransmitted = false;
  // highestSacked, rackEndSeq, tsOffset and sackedFrom are kept as int32 bit patterns and
  // read back as uint32, as the TCB's sequence numbers (tcb.ts): small integers to V8, in
  // the object itself, where a double field holds a 16-byte heap number per connection.
  private highestSackedBits = 0;
  private rackEndSeqBits = 0;
  private tsOffsetBits = 0;
  private sackedFromBits = 0;
  /** Highest sequence number SACKed so far (end of the highest block), valid while sackedBytes > 0. */
  get highestSacked(): number {
    return this.highestSackedBits >>> 0;
  }
  set highestSacked(value: number) {
    this.highestSackedBits = value | 0;
  }
  /**
   * Sequence space put on the wire so far, new and retransmitted (`sent` and
   * `retransmitted`): PRR's prr_out is its growth since recovery began (RFC 6937 §3,
   * Linux counts prr_out where it sends). A running total: it never wraps in practice
   * (2^53 bytes).
   */
  transmittedBytes = 0;
  /**
   * RFC 6937 DeliveredData summed since `takeDelivered` last ran: bytes newly SACKed
   * plus bytes cumulatively acknowledged that had not been SACKed (Linux counts the
   * same in tp->delivered). A SACK the peer reneges on can be counted twice; PRR only
   * sends a little earlier then.
   */
  private deliveredPending = 0;
  /** SND.UNA advanced since `takeDelivered` last ran (half of RFC 9937's safe ACK); read it before that call. */
  unaAdvanced = false;

  // ---- RACK (RFC 8985 §6.2) ------------------------------------------------------------
  /** Transmit instant of the most recently sent segment known delivered; undefined before one. */
  rackSentAt: Instant | undefined;
  /** Its end sequence number (ties on the instant are broken by sequence). */
  get rackEndSeq(): number {
    return this.rackEndSeqBits >>> 0;
  }
  set rackEndSeq(value: number) {
    this.rackEndSeqBits = value | 0;
  }
  /** RACK.rtt: the RTT measured on that segment. */
  rackRtt = 0;
  /** RACK.min_RTT: the smallest unambiguous RTT seen. */
  minRtt: number | undefined;
  /**
   * A SACKed or retransmitted segment was delivered since the last `rackDetectLoss`:
   * only then can a segment in flight have been sent before the most recently
   * delivered one (a cumulative ACK of never-retransmitted segments delivers only
   * segments sent before everything still in flight), so only then is a scan needed.
   */
  rackScanNeeded = false;
  /**
   * RACK.reo_wnd_mult (RFC 8985 §6.2 step 4): a D-SACK says a retransmission was
   * needless, i.e. reordering was taken for loss, so the reordering window grows by
   * min_RTT/4 per round trip in which one arrives; after REORDER_PERSIST recoveries
   * without one it falls back to 1.
   */
  reorderMultiplier = 1;
  /** RACK.dsack_round: SND.MAX when the multiplier last grew; one step per round trip. */
  private dsackRound: number | undefined;
  /** RACK.reo_wnd_persist: recoveries left before the multiplier resets. */
  private reorderPersist = 0;

  /**
   * The TSecr of the ACK being processed (undefined without timestamps) and this
   * connection's timestamp offset: an ACK that echoes a TSval older than a segment's
   * retransmission answers an earlier transmission of it (RFC 8985 §6.2 step 2, Linux
   * tcp_skb_spurious_retrans), and gives RACK no sample. Kept as int32 bits, 0 for none
   * (a TSecr of 0 is "no echo", input.ts `echoedTimestamp`): written per ACK, a uint32
   * in a tagged field was a new heap number per ACK that lived until the next one.
   */
  private ackEchoBits = 0;
  get ackEcho(): number | undefined {
    return this.ackEchoBits === 0 ? undefined : this.ackEchoBits >>> 0;
  }
  set ackEcho(value: number | undefined) {
    this.ackEchoBits = value === undefined ? 0 : value | 0;
  }
  get tsOffset(): number {
    return this.tsOffsetBits >>> 0;
  }
  set tsOffset(value: number) {
    this.tsOffsetBits = value | 0;
  }

  // ---- F-RTO (RFC 5682 §3, recovery.ts) ------------------------------------------------
  /**
   * While F-RTO watches an RTO: RecoveryPoint (SND.MAX when the timer fired). Delivery,
   * by cumulative ACK or SACK, of data below it that was never retransmitted sets
   * `originalDelivered`: a segment sent before the timeout arrived (Linux
   * FLAG_ORIG_SACK_ACKED; retransmitted data is left out, RFC 5682 §3.2).
   */
  originalMark: number | undefined;
  originalDelivered = false;

  /**
   * `rate`: the connection's delivery rate estimator (BBR connections only): the
   * records then keep its snapshots and report deliveries and losses to it.
   */
  constructor(
    capacity: number,
    private readonly storageAllocator: RecordStorageAllocator = unpooledRecordStorage,
    readonly rate?: DeliveryRate,
  ) {
    this.capacity = Math.max(4, Math.floor(capacity));
  }

  /** Bytes of record storage held now (0 while nothing is in flight and it was released). */
  get storageBytes(): number {
    return this.storage === undefined ? 0 : this.storage.bytes;
  }

  /** Gives the record storage back while nothing is in flight. */
  releaseStorage(): void {
    if (this.used !== 0 || this.storage === undefined) return;
    this.storageAllocator.give(this.storage);
    this.storage = undefined;
    this.starts = EMPTY_U32;
    this.ends = EMPTY_U32;
    this.sentAt = EMPTY_F64;
    this.marks = EMPTY_U8;
    this.txDelivered = EMPTY_F64;
    this.txDeliveredAt = EMPTY_F64;
    this.txFirstSentAt = EMPTY_F64;
    this.head = 0;
  }

  private takeStorage(): void {
    const storage = this.storageAllocator.take(this.capacity, this.rate !== undefined);
    this.storage = storage;
    this.sentAt = storage.sentAt;
    this.starts = storage.starts;
    this.ends = storage.ends;
    this.marks = storage.marks;
    this.txDelivered = storage.txDelivered;
    this.txDeliveredAt = storage.txDeliveredAt;
    this.txFirstSentAt = storage.txFirstSentAt;
    this.head = 0;
  }

  /**
   * Delivery rate estimation (draft-cheng-iccrg-delivery-rate-estimation §3.2, Linux
   * tcp_rate_skb_sent): the record in `slot` was just (re)transmitted at `now` with
   * `flightEmpty` saying nothing else was in flight: it takes the current snapshot.
   */
  private snapshot(slot: number, flightEmpty: boolean, now: Instant): void {
    const rate = this.rate!;
    rate.sending(flightEmpty, now);
    this.txDelivered[slot] = rate.delivered;
    this.txDeliveredAt[slot] = rate.deliveredAt;
    this.txFirstSentAt[slot] = rate.firstSentAt;
    this.marks[slot] = rate.appLimited !== 0 ? this.marks[slot]! | SegmentMark.APP_LIMITED : this.marks[slot]! & ~SegmentMark.APP_LIMITED;
  }

  /** The record in `slot` delivered `bytes` at `now`: reported to the rate estimator. */
  private rateDelivered(slot: number, bytes: number, now: Instant): void {
    const mark = this.marks[slot]!;
    this.rate!.recordDelivered(
      bytes,
      this.txDelivered[slot]!,
      this.txDeliveredAt[slot]!,
      this.txFirstSentAt[slot]!,
      this.sentAt[slot]!,
      this.ends[slot]!,
      (mark & SegmentMark.APP_LIMITED) !== 0,
      (mark & SegmentMark.EVER_RETRANSMITTED) !== 0,
      now,
    );
  }

  /** `bytes` newly marked lost: counted in `lostBytes`, and in the rate estimator's loss count (BBR's rs.losses). */
  private noteLost(bytes: number): void {
    this.lostBytes += bytes;
    if (this.rate !== undefined) this.rate.lost += bytes;
  }

  /** Records in flight. */
  get count(): number {
    return this.used;
  }

  startOf(index: number): number {
    return this.starts[this.slot(index)]!;
  }

  endOf(index: number): number {
    return this.ends[this.slot(index)]!;
  }

  marksOf(index: number): number {
    return this.marks[this.slot(index)]!;
  }

  sentAtOf(index: number): Instant {
    return this.sentAt[this.slot(index)]!;
  }

  /**
   * DeliveredData of the ACK just processed (RFC 6937 §3): what was SACKed or
   * cumulatively acknowledged since the last call, which recovery.ts makes once per ACK.
   * Clears `unaAdvanced` too.
   */
  takeDelivered(): number {
    const delivered = this.deliveredPending;
    this.deliveredPending = 0;
    this.unaAdvanced = false;
    return delivered;
  }

  /** New sequence space [start, end) left at `now` (SND.MAX moved from start to end). */
  sent(start: number, end: number, now: Instant): void {
    if (!seqLt(start, end)) return;
    this.transmittedBytes += seqDiff(end, start);
    if (this.marks.length === 0) this.takeStorage();
    if (this.used > 0) {
      const last = this.slot(this.used - 1);
      if (this.used === this.capacity && this.ends[last] === start >>> 0) {
        // Full: the last record grows (see the contract above). What was known of it
        // no longer holds for the whole: it becomes un-SACKed, in flight (conservative).
        if ((this.marks[last]! & SegmentMark.SACKED) !== 0) this.sackedBytes -= seqDiff(this.ends[last]!, this.starts[last]!);
        if ((this.marks[last]! & SegmentMark.LOST) !== 0) this.lostBytes -= seqDiff(this.ends[last]!, this.starts[last]!);
        this.marks[last] = this.marks[last]! & SegmentMark.EVER_RETRANSMITTED;
        this.ends[last] = end >>> 0;
        this.sentAt[last] = now;
        if (this.rate !== undefined) this.snapshot(last, false, now);
        return;
      }
      if (this.used === this.capacity) return; // cannot happen while records cover [UNA, MAX)
    }
    const slot = this.slot(this.used);
    this.starts[slot] = start >>> 0;
    this.ends[slot] = end >>> 0;
    this.sentAt[slot] = now;
    this.marks[slot] = 0;
    if (this.rate !== undefined) this.snapshot(slot, this.used === 0, now);
    this.used++;
  }

  /**
   * [start, end) was retransmitted at `now`: its records get the new instant and count
   * as retransmitted (a record reaching past `end` is split at `end` if there is room).
   */
  retransmitted(start: number, end: number, now: Instant): void {
    if (seqLt(start, end)) this.transmittedBytes += seqDiff(end, start);
    for (let index = this.find(start); index >= 0 && index < this.used; index++) {
      const s = this.startOf(index);
      if (!seqLt(s, end)) break;
      // A record reaching past `end` is split; with no room the whole of it counts as
      // resent (conservative for pipe).
      if (seqGt(this.endOf(index), end)) this.split(index, end);
      const slot = this.slot(index);
      if ((this.marks[slot]! & SegmentMark.SACKED) !== 0) continue;
      if ((this.marks[slot]! & SegmentMark.LOST) !== 0) this.lostBytes -= seqDiff(this.ends[slot]!, this.starts[slot]!);
      this.sentAt[slot] = now;
      this.marks[slot] = (this.marks[slot]! | SegmentMark.RETRANSMITTED | SegmentMark.EVER_RETRANSMITTED) & ~SegmentMark.LOST;
      if (!this.anyRetransmitted || seqGt(this.ends[slot]!, this.retransmittedEndBits >>> 0)) this.retransmittedEndBits = this.ends[slot]! | 0;
      this.anyRetransmitted = true;
      // LOST is cleared but RETRANSMITTED remembers it was lost: pipe counts it once.
      if (this.rate !== undefined) this.snapshot(slot, false, now);
    }
  }

  /**
   * SND.UNA moved to `ack`: records below it go, the one it falls into is trimmed. The
   * cumulatively acknowledged records update the RACK state (RFC 8985 §6.2 step 1-3).
   */
  acknowledge(ack: number, now: Instant): void {
    this.unaAdvanced = true;
    while (this.used > 0) {
      const slot = this.head;
      const start = this.starts[slot]!;
      const end = this.ends[slot]!;
      if (seqLe(end, ack)) {
        if ((this.marks[slot]! & SegmentMark.SACKED) !== 0) {
          this.sackedBytes -= seqDiff(end, start);
        } else {
          if ((this.marks[slot]! & SegmentMark.LOST) !== 0) this.lostBytes -= seqDiff(end, start);
          this.deliveredPending += seqDiff(end, start);
          if (this.originalMark !== undefined) this.noteOriginal(slot, end);
          if (this.rate !== undefined) this.rateDelivered(slot, seqDiff(end, start), now);
          this.rackDelivered(slot, now);
        }
        this.head = (this.head + 1) % this.capacity;
        this.used--;
        continue;
      }
      if (seqGt(ack, start)) {
        if ((this.marks[slot]! & SegmentMark.SACKED) !== 0) {
          this.sackedBytes -= seqDiff(ack, start);
        } else {
          if ((this.marks[slot]! & SegmentMark.LOST) !== 0) this.lostBytes -= seqDiff(ack, start);
          this.deliveredPending += seqDiff(ack, start);
          if (this.originalMark !== undefined) this.noteOriginal(slot, ack);
          if (this.rate !== undefined) this.rateDelivered(slot, seqDiff(ack, start), now);
        }
        this.starts[slot] = ack >>> 0;
      }
      break;
    }
    if (this.used === 0) {
      this.sackedBytes = 0;
      this.lostBytes = 0;
      this.lostScanned = false;
      this.anyRetransmitted = false;
    }
  }

  /**
   * The SACK blocks of an ACK (RFC 2018 §3) acknowledging `ack`, with SND.UNA = `sndUna`
   * before it and SND.MAX = `sndMax`. A first block below the cumulative ACK, or inside
   * the second block, is a D-SACK (RFC 2883 §4) and marks nothing. Other blocks must
   * lie within [ack, SND.MAX] and be non-empty (Linux tcp_is_sackblock_valid), or are
   * counted invalid and ignored. Returns a reused result object.
   */
  applySack(blocks: readonly (readonly [number, number])[], ack: number, sndMax: number, maxWindow: number, now: Instant): SackResult {
    const result = SACK_RESULT;
    result.newlySacked = 0;
    result.invalid = 0;
    result.dsack = false;
    for (let i = 0; i < blocks.length; i++) {
      const block = blocks[i]!;
      const start = block[0] >>> 0;
      const end = block[1] >>> 0;
      if (!seqLt(start, end) || seqGt(end, sndMax)) {
        result.invalid++;
        continue;
      }
      if (i === 0) {
        const second = blocks[1];
        const insideSecond = second !== undefined && seqGe(start, second[0]) && seqLe(end, second[1]);
        if (seqLe(end, ack) || insideSecond) {
          // RFC 2883 §4: a D-SACK reports a duplicate, never more than a window back.
          if (seqLt(start, seqAdd(ack, -Math.max(maxWindow, 1)))) {
            result.invalid++;
            continue;
          }
          result.dsack = true;
          result.dsackStart = start;
          result.dsackEnd = end;
          continue;
        }
      }
      if (seqLt(start, ack)) {
        result.invalid++;
        continue;
      }
      result.newlySacked += this.markSacked(start, end, now);
    }
    this.deliveredPending += result.newlySacked;
    return result;
  }

  /**
   * RFC 6675 §4 IsLost for every record: an un-SACKed record with DupThresh SACKed
   * records above it, or more than (DupThresh − 1)·SMSS SACKed bytes above it, is lost.
   * Records already retransmitted are left to RACK (their SACKs above may predate the
   * retransmission). Returns the bytes newly marked.
   *
   * Both conditions hold for every record below some boundary record, found by walking
   * down from the highest SACKed record; below it only the records not yet settled (past
   * the hint `lostScanned`) are visited, so an ACK costs the records that changed, not the
   * whole flight.
   */
  markLostByDupThresh(mss: number): number {
    if (this.used === 0 || this.sackedBytes === 0) return 0;
    // highestSacked never lies below the highest SACKed record's end: nothing above the
    // record holding its last byte is SACKed.
    let top = this.find(seqAdd(this.highestSacked, -1));
    if (top < 0) top = this.used - 1;
    let sackedRecordsAbove = 0;
    let sackedBytesAbove = 0;
    let boundary = -1;
    for (let index = top; index >= 0; index--) {
      const slot = this.slot(index);
      if ((this.marks[slot]! & SegmentMark.SACKED) === 0) continue;
      sackedRecordsAbove++;
      sackedBytesAbove += seqDiff(this.ends[slot]!, this.starts[slot]!);
      if (sackedRecordsAbove >= DUP_THRESH || sackedBytesAbove > (DUP_THRESH - 1) * mss) {
        boundary = index;
        break;
      }
    }
    if (boundary <= 0) return 0;
    let from = 0;
    if (this.lostScanned && seqGt(this.lostScannedBits >>> 0, this.starts[this.head]!)) {
      from = this.find(this.lostScannedBits >>> 0);
      if (from < 0) from = this.used;
    }
    let marked = 0;
    for (let index = from; index < boundary; index++) {
      const slot = this.slot(index);
      const mark = this.marks[slot]!;
      if ((mark & (SegmentMark.SACKED | SegmentMark.LOST | SegmentMark.RETRANSMITTED)) !== 0) continue;
      this.marks[slot] = mark | SegmentMark.LOST;
      marked += seqDiff(this.ends[slot]!, this.starts[slot]!);
    }
    // Every record below the boundary is settled now.
    if (!this.lostScanned || from < boundary) {
      this.lostScannedBits = this.starts[this.slot(boundary)]! | 0;
      this.lostScanned = true;
    }
    this.noteLost(marked);
    return marked;
  }

  /** A D-SACK arrived (RFC 8985 §6.2 step 4): widen the reordering window, once per round trip. */
  noteDsack(sndUna: number, sndMax: number): void {
    if (this.dsackRound !== undefined && seqGe(sndUna, this.dsackRound)) this.dsackRound = undefined;
    if (this.dsackRound !== undefined) return;
    this.dsackRound = sndMax;
    this.reorderMultiplier = Math.min(MAX_REORDER_MULTIPLIER, this.reorderMultiplier + 1);
    this.reorderPersist = REORDER_PERSIST;
  }

  /** A fast or RTO recovery ended (RFC 8985 §6.2 step 4): after REORDER_PERSIST of them without a D-SACK, the window shrinks back. */
  recoveryEnded(): void {
    if (this.reorderPersist > 0) this.reorderPersist--;
    if (this.reorderPersist === 0) this.reorderMultiplier = 1;
  }

  /**
   * RACK loss detection (RFC 8985 §6.2 step 5): an un-SACKed record sent before the
   * most recently delivered one is lost once `rackRtt + reorderWindow` has passed since
   * it was sent. Returns the bytes newly marked, and in `timeout()` the time until the
   * next record would qualify (0 if none): the reorder timer (§6.3).
   */
  rackDetectLoss(reorderWindow: number, now: Instant): number {
    this.reorderTimeout = 0;
    this.rackScanNeeded = false;
    if (this.rackSentAt === undefined) return 0;
    let marked = 0;
    for (let index = 0; index < this.used; index++) {
      const slot = this.slot(index);
      const mark = this.marks[slot]!;
      if ((mark & (SegmentMark.SACKED | SegmentMark.LOST)) !== 0) continue;
      const sentAt = this.sentAt[slot]!;
      const sentBefore = sentAt < this.rackSentAt || (sentAt === this.rackSentAt && seqLt(this.ends[slot]!, this.rackEndSeq));
      if (!sentBefore) {
        // Above every retransmitted record, records were sent in sequence order: none
        // after this one was sent before the most recently delivered segment either.
        if (!this.anyRetransmitted || seqGe(this.starts[slot]!, this.retransmittedEndBits >>> 0)) break;
        continue;
      }
      const remaining = sentAt + this.rackRtt + reorderWindow - now;
      if (remaining <= 0) {
        this.marks[slot] = (mark | SegmentMark.LOST) & ~SegmentMark.RETRANSMITTED;
        marked += seqDiff(this.ends[slot]!, this.starts[slot]!);
      } else if (remaining > this.reorderTimeout) {
        this.reorderTimeout = remaining;
      }
    }
    this.noteLost(marked);
    return marked;
  }

  /** After `rackDetectLoss`: ms until the reorder timer must run it again, 0 for none. */
  get timeout(): number {
    return this.reorderTimeout;
  }

  /**
   * True when the record at SND.UNA is marked SACKed: the peer reported data it has
   * since discarded (reneging, RFC 2018 §8; a receiver holding it would have
   * acknowledged it cumulatively). Linux tcp_check_sack_reneging.
   */
  reneged(): boolean {
    return this.used > 0 && (this.marks[this.head]! & SegmentMark.SACKED) !== 0;
  }

  /** Forgets every SACK mark (after reneging: the data must be sent again). */
  clearSacked(): void {
    for (let index = 0; index < this.used; index++) {
      const slot = this.slot(index);
      this.marks[slot] = this.marks[slot]! & ~SegmentMark.SACKED;
    }
    this.sackedBytes = 0;
    this.lostScanned = false;
  }

  /**
   * Forgets every loss mark (F-RTO found the RTO spurious, RFC 5682 §3 step 3b; Linux
   * tcp_undo_cwnd_reduction): nothing is resent for it, and RACK looks at every record
   * afresh on the next ACK, so a segment really lost is found again.
   */
  clearLost(): void {
    for (let index = 0; index < this.used; index++) {
      const slot = this.slot(index);
      this.marks[slot] = this.marks[slot]! & ~SegmentMark.LOST;
    }
    this.lostBytes = 0;
    this.lostScanned = false;
    this.rackScanNeeded = true;
  }

  /** Marks every un-SACKed record lost (an RTO: go-back-N resends them, RFC 6675 §5.1). */
  markAllLost(): void {
    for (let index = 0; index < this.used; index++) {
      const slot = this.slot(index);
      if ((this.marks[slot]! & SegmentMark.SACKED) === 0) {
        if ((this.marks[slot]! & SegmentMark.LOST) === 0) this.noteLost(seqDiff(this.ends[slot]!, this.starts[slot]!));
        this.marks[slot] = (this.marks[slot]! | SegmentMark.LOST) & ~SegmentMark.RETRANSMITTED;
      }
    }
  }

  /** Marks the record holding `seq` lost (RFC 6675 §5 step 4.3: HighACK + 1 on entering recovery). */
  markLost(seq: number): void {
    const index = this.find(seq);
    if (index < 0) return;
    const slot = this.slot(index);
    if ((this.marks[slot]! & (SegmentMark.SACKED | SegmentMark.RETRANSMITTED | SegmentMark.LOST)) === 0) {
      this.marks[slot] = this.marks[slot]! | SegmentMark.LOST;
      this.noteLost(seqDiff(this.ends[slot]!, this.starts[slot]!));
    }
  }

  /** True if some record is marked lost and not yet retransmitted (a LOST record is never SACKed). */
  hasLost(): boolean {
    return this.lostBytes > 0;
  }

  /** RFC 6675 §4 NextSeg rule 1: the first record from `from` on lost and not retransmitted since; −1 if none. */
  nextLost(from = 0): number {
    // The common case in recovery, every hole resent: no scan (lostBytes counts exactly these records).
    if (this.lostBytes === 0) return -1;
    for (let index = Math.max(0, from); index < this.used; index++) {
      if ((this.marks[this.slot(index)]! & (SegmentMark.LOST | SegmentMark.SACKED)) === SegmentMark.LOST) return index;
    }
    return -1;
  }

  /**
   * RFC 6675 §4 SetPipe: bytes believed in the network: every un-SACKed byte not
   * marked lost, plus every byte retransmitted since it was marked lost (once: the
   * original of a lost byte is not counted). A retransmitted record has LOST cleared,
   * so it counts once, as the retransmission in flight. Kept by counters, not a scan of
   * the records: the records' span less the SACKed and the lost bytes (called several
   * times per ACK; a scan of a 200-record flight each time was 2% of a lossy sender).
   */
  pipe(): number {
    if (this.used === 0) return 0;
    const span = seqDiff(this.ends[this.slot(this.used - 1)]!, this.starts[this.head]!);
    return span - this.sackedBytes - this.lostBytes;
  }

  /** True if `seq` lies in a SACKed record. */
  isSacked(seq: number): boolean {
    const index = this.find(seq);
    return index >= 0 && (this.marks[this.slot(index)]! & SegmentMark.SACKED) !== 0;
  }

  /**
   * For go-back-N after an RTO (RFC 6675 §5.1: SACKed data is not resent): the first
   * sequence number at or after `seq` that is not SACKed, and in `sackedFrom` the start
   * of the next SACKed record after it (or `limit`).
   */
  skipSacked(seq: number, limit: number): number {
    let at = seq;
    let index = this.find(at);
    while (index >= 0 && index < this.used && (this.marks[this.slot(index)]! & SegmentMark.SACKED) !== 0) {
      at = this.endOf(index);
      index++;
    }
    this.sackedFrom = limit;
    for (; index >= 0 && index < this.used; index++) {
      if ((this.marks[this.slot(index)]! & SegmentMark.SACKED) !== 0) {
        const start = this.startOf(index);
        if (seqLt(start, limit)) this.sackedFrom = start;
        break;
      }
    }
    return at;
  }

  /** After `skipSacked`: where the next SACKed range begins. */
  get sackedFrom(): number {
    return this.sackedFromBits >>> 0;
  }
  set sackedFrom(value: number) {
    this.sackedFromBits = value | 0;
  }

  private reorderTimeout = 0;

  private slot(index: number): number {
    return (this.head + index) % this.capacity;
  }

  /** Index of the record holding `seq`, or −1 (binary search: records are contiguous and in order). */
  private find(seq: number): number {
    if (this.used === 0) return -1;
    const first = this.starts[this.head]!;
    const offset = seqDiff(seq, first);
    if (offset < 0 || offset >= seqDiff(this.ends[this.slot(this.used - 1)]!, first)) return -1;
    let low = 0;
    let high = this.used - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (seqDiff(this.starts[this.slot(middle)]!, first) <= offset) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  /** Splits record `index` at `at` (strictly inside it); false if the ring is full. */
  private split(index: number, at: number): boolean {
    if (this.used === this.capacity) return false;
    for (let i = this.used; i > index + 1; i--) {
      const to = this.slot(i);
      const from = this.slot(i - 1);
      this.starts[to] = this.starts[from]!;
      this.ends[to] = this.ends[from]!;
      this.sentAt[to] = this.sentAt[from]!;
      this.marks[to] = this.marks[from]!;
      if (this.rate !== undefined) this.copySnapshot(to, from);
    }
    const first = this.slot(index);
    const second = this.slot(index + 1);
    this.starts[second] = at >>> 0;
    this.ends[second] = this.ends[first]!;
    this.sentAt[second] = this.sentAt[first]!;
    this.marks[second] = this.marks[first]!;
    if (this.rate !== undefined) this.copySnapshot(second, first);
    this.ends[first] = at >>> 0;
    this.used++;
    return true;
  }

  private copySnapshot(to: number, from: number): void {
    this.txDelivered[to] = this.txDelivered[from]!;
    this.txDeliveredAt[to] = this.txDeliveredAt[from]!;
    this.txFirstSentAt[to] = this.txFirstSentAt[from]!;
  }

  /** Marks the records inside [start, end) SACKed (splitting at the edges if there is room). */
  private markSacked(start: number, end: number, now: Instant): number {
    let index = this.find(start);
    if (index < 0) {
      // The block starts in a gap of our records' coverage only if it starts before
      // the first record; find the first record inside the block.
      index = 0;
      while (index < this.used && seqLt(this.startOf(index), start)) index++;
    } else if (seqGt(start, this.startOf(index))) {
      // Split at the edge; without room the partially covered record stays un-SACKed.
      this.split(index, start);
      index++;
    }
    let newly = 0;
    for (; index < this.used; index++) {
      const s = this.startOf(index);
      if (!seqLt(s, end)) break;
      if (seqGt(this.endOf(index), end) && !this.split(index, end)) break;
      const slot = this.slot(index);
      const mark = this.marks[slot]!;
      if ((mark & SegmentMark.SACKED) !== 0) continue;
      this.marks[slot] = (mark | SegmentMark.SACKED) & ~(SegmentMark.LOST | SegmentMark.RETRANSMITTED);
      const length = seqDiff(this.ends[slot]!, s);
      if ((mark & SegmentMark.LOST) !== 0) this.lostBytes -= length;
      newly += length;
      this.sackedBytes += length;
      if (this.sackedBytes === length || seqGt(this.ends[slot]!, this.highestSacked)) this.highestSacked = this.ends[slot]!;
      if (this.originalMark !== undefined) this.noteOriginal(slot, this.ends[slot]!);
      if (this.rate !== undefined) this.rateDelivered(slot, length, now);
      this.rackDelivered(slot, now);
    }
    return newly;
  }

  /** F-RTO: the record in `slot`, delivered up to `end`, counts if it was never retransmitted and lies below the mark. */
  private noteOriginal(slot: number, end: number): void {
    if ((this.marks[slot]! & SegmentMark.EVER_RETRANSMITTED) === 0 && seqLe(end, this.originalMark!)) this.originalDelivered = true;
  }

  /**
   * RFC 8985 §6.2 steps 1–3 for one delivered record: an ACK for a retransmitted record
   * arriving sooner than min_RTT after the retransmission is taken to be for the
   * original and ignored; otherwise RACK.rtt and the most recent delivered transmission
   * are updated.
   */
  private rackDelivered(slot: number, now: Instant): void {
    if ((this.marks[slot]! & (SegmentMark.SACKED | SegmentMark.EVER_RETRANSMITTED)) !== 0) this.rackScanNeeded = true;
    const sentAt = this.sentAt[slot]!;
    const rtt = now - sentAt;
    if ((this.marks[slot]! & SegmentMark.EVER_RETRANSMITTED) !== 0) {
      if (this.minRtt !== undefined && rtt < this.minRtt) return;
      if (this.ackEcho !== undefined && timestampBefore(this.ackEcho, timestampValue(sentAt, this.tsOffset))) return;
    }
    if ((this.marks[slot]! & SegmentMark.EVER_RETRANSMITTED) === 0 && (this.minRtt === undefined || rtt < this.minRtt)) this.minRtt = rtt;
    const end = this.ends[slot]!;
    if (this.rackSentAt === undefined || sentAt > this.rackSentAt || (sentAt === this.rackSentAt && seqGt(end, this.rackEndSeq))) {
      this.rackSentAt = sentAt;
      this.rackEndSeq = end;
      this.rackRtt = rtt;
    }
  }
}
