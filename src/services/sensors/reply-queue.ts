/**
 * A session's reply FIFO (SPEC §4: replies leave in request order) without an object per
 * request: one byte per entry in a ring (`ReplyKind`), and the few entries that carry
 * something (a reply text known now, a deferred evaluation) put it in a side FIFO, in the
 * same order. A PUT is one byte: `PUT_WAITING` (or `PUT_QUIET_WAITING`) until the store
 * settles it, then its outcome, written in place through its ticket.
 *
 * Tickets: every entry has a sequence number (modulo 2^30, a small integer); the entry
 * sits at `sequence & (capacity - 1)`. A PUT's ticket is its sequence number, which the
 * store carries as the write's token and hands back in `committed`, so settling a PUT is
 * one store into the ring, and the store holds a small integer per write, no object.
 *
 * Memory (issue 13, idle connections ≤ 4 KiB): the ring starts at `INITIAL_CAPACITY`
 * entries (16 bytes, in the V8 heap) and doubles when full, so a session holds what its
 * pipelining needs (the session's `maxPendingReplies` bounds it); the session gives the
 * queue back when it is empty (`release` keeps a few for the next burst, shared by all
 * sessions, so a connection that goes idle holds none).
 */

/** What an entry is; the `PUT_*` kinds past the waiting ones are a settled PUT's outcome. */
export const ReplyKind = {
  /** A reply known when the request was read: its text is in the side FIFO. */
  TEXT: 0,
  /** Evaluated when it reaches the head (GET, LIST, SUB, UNSUB, TIME): the function is in the side FIFO. */
  DEFERRED: 1,
  PUT_WAITING: 2,
  PUT_QUIET_WAITING: 3,
  /** Committed: `OK`. */
  PUT_OK: 4,
  /** Committed under QUIET: no reply. */
  PUT_SILENT: 5,
  /** Refused: `ERR 503 store full`. */
  PUT_STORE_FULL: 6,
  /** Refused: `ERR 503 store unavailable`. */
  PUT_UNAVAILABLE: 7,
} as const;
export type ReplyKind = (typeof ReplyKind)[keyof typeof ReplyKind];

/** What a TEXT or DEFERRED entry carries. */
export type ReplyItem = string | (() => string);

const SEQUENCE_MASK = 0x3fffffff;
export const INITIAL_CAPACITY = 16;
/** Queues kept for reuse across all sessions (`release`), and the largest capacity kept. */
const SPARE_QUEUES = 16;
const SPARE_MAX_CAPACITY = 1024;
const NO_ITEMS = Object.freeze([]) as never[];

export class ReplyQueue {
  private kinds = new Uint8Array(INITIAL_CAPACITY);
  /** Sequence number of the oldest entry, and of the next one. */
  private head = 0;
  private tail = 0;
  /** The TEXT/DEFERRED entries' items in order, from `itemHead` on; `NO_ITEMS` while none. */
  private items: ReplyItem[] = NO_ITEMS;
  private itemHead = 0;

  get length(): number {
    return (this.tail - this.head) & SEQUENCE_MASK;
  }

  get capacity(): number {
    return this.kinds.length;
  }

  /** Adds a PUT waiting for the store; returns its ticket (for `settle`). */
  pushPut(quiet: boolean): number {
    return this.push(quiet ? ReplyKind.PUT_QUIET_WAITING : ReplyKind.PUT_WAITING);
  }

  /** Adds a reply known now (TEXT) or one evaluated at the head (DEFERRED). */
  pushItem(kind: typeof ReplyKind.TEXT | typeof ReplyKind.DEFERRED, item: ReplyItem): void {
    if (this.items === NO_ITEMS) this.items = [];
    this.items.push(item);
    this.push(kind);
  }

  /**
   * The store settled the PUT with this ticket: its outcome (`committed`: OK or silent by
   * the QUIET it was sent under; otherwise the refusal's kind). False when the ticket is
   * not a waiting PUT of this queue (then nothing changes).
   */
  settle(ticket: number, outcome: 'committed' | typeof ReplyKind.PUT_STORE_FULL | typeof ReplyKind.PUT_UNAVAILABLE): boolean {
    if (((ticket - this.head) & SEQUENCE_MASK) >= this.length) return false;
    const at = ticket & (this.kinds.length - 1);
    const kind = this.kinds[at]!;
    if (kind !== ReplyKind.PUT_WAITING && kind !== ReplyKind.PUT_QUIET_WAITING) return false;
    this.kinds[at] = outcome !== 'committed' ? outcome : kind === ReplyKind.PUT_WAITING ? ReplyKind.PUT_OK : ReplyKind.PUT_SILENT;
    return true;
  }

  /** The oldest entry's kind, or -1 when empty. */
  headKind(): number {
    return this.head === this.tail ? -1 : this.kinds[this.head & (this.kinds.length - 1)]!;
  }

  /** Removes the oldest entry (the caller read its kind); its item when it has one. */
  shift(): ReplyItem | undefined {
    const kind = this.kinds[this.head & (this.kinds.length - 1)]!;
    this.head = (this.head + 1) & SEQUENCE_MASK;
    if (kind !== ReplyKind.TEXT && kind !== ReplyKind.DEFERRED) return undefined;
    const item = this.items[this.itemHead]!;
    const items = this.items as (ReplyItem | undefined)[];
    if (++this.itemHead === items.length) {
      this.items = NO_ITEMS;
      this.itemHead = 0;
    } else if (this.itemHead >= 32 && this.itemHead * 2 >= items.length) {
      // A queue that never empties (requests pipelined without end) drops its read part.
      items.splice(0, this.itemHead);
      this.itemHead = 0;
    } else {
      items[this.itemHead - 1] = undefined;
    }
    return item;
  }

  private push(kind: number): number {
    if (this.length === this.kinds.length) this.grow();
    const sequence = this.tail;
    this.kinds[sequence & (this.kinds.length - 1)] = kind;
    this.tail = (sequence + 1) & SEQUENCE_MASK;
    return sequence;
  }

  /** Doubles the ring; every entry keeps its sequence number (so tickets stay valid). */
  private grow(): void {
    const old = this.kinds;
    const kinds = new Uint8Array(old.length * 2);
    for (let sequence = this.head; sequence !== this.tail; sequence = (sequence + 1) & SEQUENCE_MASK) {
      kinds[sequence & (kinds.length - 1)] = old[sequence & (old.length - 1)]!;
    }
    this.kinds = kinds;
  }
}

const spares: ReplyQueue[] = [];

/** An empty queue: a spare one when there is one. */
export function takeReplyQueue(): ReplyQueue {
  return spares.pop() ?? new ReplyQueue();
}

/** Gives an empty queue back for reuse (kept when few are spare and it is not large). */
export function releaseReplyQueue(queue: ReplyQueue): void {
  if (queue.length !== 0) throw new Error('releaseReplyQueue: the queue is not empty');
  if (spares.length < SPARE_QUEUES && queue.capacity <= SPARE_MAX_CAPACITY) spares.push(queue);
}
