/**
 * A binary min-heap of (deadline, item) with lazy invalidation: re-arming or
 * cancelling an item's timer never searches the heap; instead each entry is checked
 * with `isCurrent(item, deadline)` when it reaches the top, and stale entries are
 * discarded there. An item with no timer has no entry, so idle connections cost
 * nothing; `peekDeadline()` is O(1) amortised over the discards.
 *
 * Entries with equal deadlines pop in unspecified order.
 */
export class DeadlineHeap<T> {
  private readonly deadlines: number[] = [];
  private readonly items: T[] = [];

  constructor(private readonly isCurrent: (item: T, deadline: number) => boolean) {}

  /** Entries held, stale ones included. */
  get size(): number {
    return this.items.length;
  }

  push(deadline: number, item: T): void {
    this.deadlines.push(deadline);
    this.items.push(item);
    this.siftUp(this.items.length - 1);
  }

  /** The earliest current deadline, or undefined. Discards stale entries on top. */
  peekDeadline(): number | undefined {
    this.discardStale();
    return this.deadlines[0];
  }

  /** Removes and returns the earliest current item whose deadline is <= now. */
  popDue(now: number): T | undefined {
    this.discardStale();
    const deadline = this.deadlines[0];
    if (deadline === undefined || deadline > now) return undefined;
    const item = this.items[0];
    this.removeTop();
    return item;
  }

  clear(): void {
    this.deadlines.length = 0;
    this.items.length = 0;
  }

  private discardStale(): void {
    while (this.items.length > 0) {
      const item = this.items[0] as T;
      if (this.isCurrent(item, this.deadlines[0] as number)) return;
      this.removeTop();
    }
  }

  private removeTop(): void {
    const lastDeadline = this.deadlines.pop() as number;
    const lastItem = this.items.pop() as T;
    if (this.items.length === 0) return;
    this.deadlines[0] = lastDeadline;
    this.items[0] = lastItem;
    this.siftDown(0);
  }

  private siftUp(index: number): void {
    let child = index;
    while (child > 0) {
      const parent = (child - 1) >> 1;
      if ((this.deadlines[parent] as number) <= (this.deadlines[child] as number)) return;
      this.swap(parent, child);
      child = parent;
    }
  }

  private siftDown(index: number): void {
    const length = this.items.length;
    let parent = index;
    for (;;) {
      const left = 2 * parent + 1;
      const right = left + 1;
      let smallest = parent;
      if (left < length && (this.deadlines[left] as number) < (this.deadlines[smallest] as number)) smallest = left;
      if (right < length && (this.deadlines[right] as number) < (this.deadlines[smallest] as number)) smallest = right;
      if (smallest === parent) return;
      this.swap(parent, smallest);
      parent = smallest;
    }
  }

  private swap(a: number, b: number): void {
    const deadline = this.deadlines[a] as number;
    this.deadlines[a] = this.deadlines[b] as number;
    this.deadlines[b] = deadline;
    const item = this.items[a] as T;
    this.items[a] = this.items[b] as T;
    this.items[b] = item;
  }
}
