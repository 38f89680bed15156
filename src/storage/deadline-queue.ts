/**
 * Deadlines of many items, with lazy invalidation (as DeadlineHeap: an entry is checked
 * with `isCurrent(item, deadline)` when it comes to the front, stale ones are dropped
 * there), in two parts:
 *
 * - deadlines on a coarse grid (whole multiples of `slotMs`: keepalives, timers.ts
 *   `coarseDeadline`) go into one bucket per grid instant: a map from the instant to a
 *   list, and a small heap of the instants that have a bucket. Thousands of idle
 *   connections share a few hundred instants, so arming one is a map lookup and an
 *   append, and expiry walks the list: no comparisons across items, nothing that grows
 *   with their number (a hashed timing wheel keyed by the exact slot, as Linux's timer
 *   wheel holds its coarse timers, but exact: a bucket holds one instant only).
 * - every other deadline (retransmission, delayed ACK, persist...: fractional instants)
 *   goes into a binary heap, as before.
 *
 * `popDue` hands out entries in deadline order across both parts; entries with equal
 * deadlines in the same bucket come out in the order they were pushed. Emptied buckets
 * are kept for reuse (at most MAX_SPARE_BUCKETS, each of at most MAX_SPARE_ENTRIES), so a
 * steady keepalive load allocates nothing here.
 */
import { DeadlineHeap } from './deadline-heap.ts';
import { DOUBLE_ZERO } from '../wire/bytes.ts';

/** Emptied buckets kept for the next instants (16 grid instants a second at 64 ms). */
const MAX_SPARE_BUCKETS = 32;
/**
 * A spare bucket keeps its list's backing store; one that held more entries than this is
 * dropped instead, so the spares hold at most MAX_SPARE_BUCKETS × this many slots
 * whatever burst once filled an instant.
 */
const MAX_SPARE_ENTRIES = 1024;

class Bucket<T> {
  /** Entries pushed for this instant; slots before `head` were handed out and cleared. */
  readonly items: (T | undefined)[] = [];
  head = 0;
  count = 0;
  /** The grid instant this bucket holds (set when it is taken for one); a double field, as instants are. */
  instant = DOUBLE_ZERO;
}

export class DeadlineQueue<T> {
  private readonly precise: DeadlineHeap<T>;
  private readonly buckets = new Map<number, Bucket<T>>();
  /** The instants that have a bucket, as a binary min-heap. */
  private readonly instants: number[] = [];
  private readonly spare: Bucket<T>[] = [];
  private coarseEntries = 0;

  constructor(
    private readonly slotMs: number,
    private readonly isCurrent: (item: T, deadline: number) => boolean,
  ) {
    this.precise = new DeadlineHeap<T>(isCurrent);
  }

  /** Entries held, stale ones included. */
  get size(): number {
    return this.precise.size + this.coarseEntries;
  }

  push(deadline: number, item: T): void {
    if (deadline % this.slotMs !== 0) {
      this.precise.push(deadline, item);
      return;
    }
    let bucket = this.buckets.get(deadline);
    if (bucket === undefined) {
      bucket = this.spare.pop() ?? new Bucket<T>();
      bucket.instant = deadline;
      this.buckets.set(deadline, bucket);
      this.pushInstant(deadline);
    }
    bucket.items[bucket.count++] = item;
    this.coarseEntries++;
  }

  /** The earliest current deadline, or undefined. Discards stale entries at the front. */
  peekDeadline(): number | undefined {
    const precise = this.precise.peekDeadline();
    const coarse = this.frontBucket()?.instant;
    if (precise === undefined) return coarse;
    if (coarse === undefined) return precise;
    return coarse < precise ? coarse : precise;
  }

  /** Removes and returns the earliest current item whose deadline is <= now. */
  popDue(now: number): T | undefined {
    const precise = this.precise.peekDeadline();
    const bucket = this.frontBucket();
    if (bucket !== undefined && bucket.instant <= now && (precise === undefined || bucket.instant <= precise)) {
      const item = bucket.items[bucket.head]!;
      bucket.items[bucket.head++] = undefined;
      this.coarseEntries--;
      return item;
    }
    return this.precise.popDue(now);
  }

  clear(): void {
    this.precise.clear();
    for (const bucket of this.buckets.values()) this.release(bucket);
    this.buckets.clear();
    this.instants.length = 0;
    this.coarseEntries = 0;
  }

  /** The earliest bucket, once its front entry is current; emptied buckets are released. */
  private frontBucket(): Bucket<T> | undefined {
    while (this.instants.length > 0) {
      const instant = this.instants[0]!;
      const bucket = this.buckets.get(instant)!;
      while (bucket.head < bucket.count) {
        if (this.isCurrent(bucket.items[bucket.head]!, instant)) return bucket;
        bucket.items[bucket.head++] = undefined;
        this.coarseEntries--;
      }
      this.buckets.delete(instant);
      this.popInstant();
      this.release(bucket);
    }
    return undefined;
  }

  private release(bucket: Bucket<T>): void {
    for (let i = bucket.head; i < bucket.count; i++) bucket.items[i] = undefined;
    const reusable = bucket.count <= MAX_SPARE_ENTRIES;
    bucket.head = 0;
    bucket.count = 0;
    if (reusable && this.spare.length < MAX_SPARE_BUCKETS) this.spare.push(bucket);
  }

  private pushInstant(instant: number): void {
    const heap = this.instants;
    let child = heap.length;
    heap.push(instant);
    while (child > 0) {
      const parent = (child - 1) >> 1;
      if (heap[parent]! <= instant) break;
      heap[child] = heap[parent]!;
      child = parent;
    }
    heap[child] = instant;
  }

  private popInstant(): void {
    const heap = this.instants;
    const last = heap.pop()!;
    const length = heap.length;
    if (length === 0) return;
    let parent = 0;
    for (;;) {
      const left = 2 * parent + 1;
      if (left >= length) break;
      const right = left + 1;
      const smaller = right < length && heap[right]! < heap[left]! ? right : left;
      if (heap[smaller]! >= last) break;
      heap[parent] = heap[smaller]!;
      parent = smaller;
    }
    heap[parent] = last;
  }
}
