/**
 * Given-back objects kept per key for reuse, up to `maxBytes` of them in all; beyond that
 * a given-back object is left to the garbage collector. The stack's pools of ring
 * buffers (buffer-pool.ts) and scoreboard record storage (tcp/scoreboard.ts) are these,
 * keyed by size, so that memory freed by one connection is reused by the next instead
 * of becoming garbage at every burst or answer.
 */
export class BoundedFreeLists<T> {
  private readonly lists = new Map<number, T[]>();
  private held = 0;

  constructor(
    readonly maxBytes: number,
    private readonly sizeOf: (item: T) => number,
  ) {}

  /** Bytes held now (given back and not taken again). */
  get bytes(): number {
    return this.held;
  }

  /** A kept object under `key`, or undefined when there is none. */
  take(key: number): T | undefined {
    const item = this.lists.get(key)?.pop();
    if (item !== undefined) this.held -= this.sizeOf(item);
    return item;
  }

  /** Keeps `item` under `key` if it fits the bound. */
  give(key: number, item: T): void {
    const size = this.sizeOf(item);
    if (this.held + size > this.maxBytes) return;
    let list = this.lists.get(key);
    if (list === undefined) {
      list = [];
      this.lists.set(key, list);
    }
    list.push(item);
    this.held += size;
  }
}
