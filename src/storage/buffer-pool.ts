/**
 * A bounded pool of byte buffers for the connections' send and receive rings: a ring
 * takes a buffer when its first byte arrives and gives it back once drained, so a busy
 * connection does not make garbage for every burst and an idle one holds nothing.
 * Buffers are kept per size, up to `maxPooledBytes` in all; beyond that a released
 * buffer is left to the garbage collector. Contents of a taken buffer are stale: the
 * ring only ever reads bytes it has written.
 */
import type { BufferAllocator } from './ring-buffer.ts';
import { BoundedFreeLists } from './free-lists.ts';

export class BufferPool implements BufferAllocator {
  private readonly free: BoundedFreeLists<Uint8Array>;

  constructor(readonly maxPooledBytes: number) {
    this.free = new BoundedFreeLists<Uint8Array>(maxPooledBytes, (buffer) => buffer.length);
  }

  /** Bytes held in the pool now (not in use by any ring). */
  get pooledBytes(): number {
    return this.free.bytes;
  }

  allocate(size: number): Uint8Array {
    return this.free.take(size) ?? new Uint8Array(size);
  }

  release(buffer: Uint8Array): void {
    this.free.give(buffer.length, buffer);
  }
}
