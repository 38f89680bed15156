/**
 * A fixed-capacity byte ring. TCP uses one per direction:
 *
 * - send side: `write` appends application data; `copyOut(offset, target)` copies
 *   unacknowledged bytes straight into an outgoing frame (no intermediate buffer);
 *   `discard(n)` drops what the peer acknowledged.
 * - receive side: `writeAt(offset, data)` places segment payload in the free space
 *   `offset` bytes past the queued data (out-of-order data goes there too, tracked by
 *   the Assembler); `commit(n)` makes the now-contiguous bytes readable; `read` copies
 *   them out to the application.
 *
 * Offsets are logical (0 = oldest queued byte); wrap-around is handled inside.
 *
 * The memory is taken from an allocator when the first byte is written, and given back
 * with `releaseStorage()` while nothing is queued: an idle connection holds no buffer
 * (issue "efficiency": ≤ 4 KiB per idle connection). The owner calls it, because only
 * it knows that no out-of-order bytes sit past the queue.
 */
export interface BufferAllocator {
  allocate(size: number): Uint8Array;
  /** The buffer is no longer used; its contents are stale. */
  release(buffer: Uint8Array): void;
}

/** Plain allocation; released buffers are left to the garbage collector. */
export const directAllocator: BufferAllocator = {
  allocate: (size) => new Uint8Array(size),
  release: () => undefined,
};

export class RingBuffer {
  private storage: Uint8Array | undefined;
  private head = 0;
  private size = 0;

  constructor(
    readonly capacity: number,
    private readonly allocator: BufferAllocator = directAllocator,
  ) {
    if (!Number.isInteger(capacity) || capacity <= 0) throw new RangeError(`bad ring capacity ${capacity}`);
  }

  /** The ring holds memory now. */
  get allocated(): boolean {
    return this.storage !== undefined;
  }

  /** Gives the memory back to the allocator; only while nothing is queued. */
  releaseStorage(): void {
    if (this.size !== 0) throw new RangeError(`releaseStorage with ${this.size} bytes queued`);
    if (this.storage === undefined) return;
    this.allocator.release(this.storage);
    this.storage = undefined;
    this.head = 0;
  }

  /** Bytes queued. */
  get length(): number {
    return this.size;
  }

  /** Bytes that can still be written. */
  get free(): number {
    return this.capacity - this.size;
  }

  /** Appends as much of `data` as fits; returns the number of bytes taken. */
  write(data: Uint8Array): number {
    const written = this.writeAt(0, data);
    this.size += written;
    return written;
  }

  /** Appends as much of `data[start..]` as fits; returns the number of bytes taken. */
  writeFrom(data: Uint8Array, start: number): number {
    if (start >= data.length) return 0;
    return this.write(start === 0 ? data : viewOf(data, start, data.length));
  }

  /**
   * Copies `data` into the free space starting `offset` bytes after the queued data,
   * without making it readable. Returns the bytes written (clamped to the free space).
   */
  writeAt(offset: number, data: Uint8Array): number {
    if (offset < 0 || offset > this.free) return 0;
    const count = Math.min(data.length, this.free - offset);
    // The whole segment fits (the common case): no view of it.
    this.copyIn(this.physical(this.size + offset), count === data.length ? data : viewOf(data, 0, count));
    return count;
  }

  /** Makes `count` bytes previously placed with `writeAt(0, …)` part of the queue. */
  commit(count: number): void {
    if (count < 0 || count > this.free) throw new RangeError(`commit ${count} exceeds free space ${this.free}`);
    this.size += count;
  }

  /**
   * Copies queued bytes starting at logical `offset` into `target` (as many as fit and
   * exist) without consuming them; returns the count.
   */
  copyOut(offset: number, target: Uint8Array): number {
    if (offset < 0 || offset >= this.size) return 0;
    const count = Math.min(target.length, this.size - offset);
    const storage = this.storage;
    if (storage === undefined) return 0;
    const start = this.physical(offset);
    const first = Math.min(count, this.capacity - start);
    target.set(storage.subarray(start, start + first), 0);
    if (first < count) target.set(storage.subarray(0, count - first), first);
    return count;
  }

  /**
   * `copyOut(offset, target.subarray(targetOffset, targetOffset + count))` without the
   * view: copies up to `count` queued bytes (as many as exist) into `target` at
   * `targetOffset`; returns the count. The send path's one copy, send ring → frame.
   */
  copyOutAt(offset: number, count: number, target: Uint8Array, targetOffset: number): number {
    const storage = this.storage;
    if (offset < 0 || offset >= this.size || storage === undefined) return 0;
    const copied = Math.min(count, this.size - offset, target.length - targetOffset);
    if (copied <= 0) return 0;
    const start = this.physical(offset);
    const first = Math.min(copied, this.capacity - start);
    target.set(storage.subarray(start, start + first), targetOffset);
    if (first < copied) target.set(storage.subarray(0, copied - first), targetOffset + first);
    return copied;
  }

  /** Moves up to `target.length` queued bytes into `target`; returns the count. */
  read(target: Uint8Array): number {
    const count = this.copyOut(0, target);
    this.discard(count);
    return count;
  }

  /** Drops `count` bytes from the front. */
  discard(count: number): void {
    if (count < 0 || count > this.size) throw new RangeError(`discard ${count} exceeds length ${this.size}`);
    this.head = (this.head + count) % this.capacity;
    this.size -= count;
    // The head is not reset when the ring empties: bytes placed past the end with
    // writeAt (out-of-order data) must stay where they are.
  }

  clear(): void {
    this.head = 0;
    this.size = 0;
  }

  private physical(offset: number): number {
    return (this.head + offset) % this.capacity;
  }

  private copyIn(start: number, data: Uint8Array): void {
    if (data.length === 0) return;
    const storage = (this.storage ??= this.allocator.allocate(this.capacity));
    const first = Math.min(data.length, this.capacity - start);
    if (first === data.length) {
      storage.set(data, start);
      return;
    }
    storage.set(viewOf(data, 0, first), start);
    storage.set(viewOf(data, first, data.length), 0);
  }
}

/**
 * A plain `Uint8Array` over `data[start, end)`. Not `data.subarray()`: on a Node `Buffer`
 * (what the socket layer's writes are) that constructs another `Buffer` through the
 * species constructor, several times the cost of a plain view, once per write.
 */
function viewOf(data: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset + start, end - start);
}
