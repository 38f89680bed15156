/**
 * A bounded pool of byte buffers for the connections' send and receive rings: a ring
 * takes a buffer when its first byte arrives and gives it back once drained, so a busy
 * connection does not make garbage for every burst and an idle one holds nothing.
 * Buffers are kept per size, up to `maxPooledBytes` in all; beyond that a released
 * buffer is left to the garbage collector. Contents of a taken buffer are stale: the
 * ring only ever reads bytes it has written.
 */
import type { BufferAllocator } from './ring-buffer.ts';

export class BufferPool implements BufferAllocator {
  private readonly free = new Map<number, Uint8Array[]>();
  private pooled = 0;

  constructor(readonly maxPooledBytes: number) {}

  /** Bytes held in the pool now (not in use by any ring). */
  get pooledBytes(): number {
    return this.pooled;
  }

  allocate(size: number): Uint8Array {
    const buffer = this.free.get(size)?.pop();
    if (buffer === undefined) return new Uint8Array(size);
    this.pooled -= size;
    return buffer;
  }

  release(buffer: Uint8Array): void {
    if (this.pooled + buffer.length > this.maxPooledBytes) return;
    let list = this.free.get(buffer.length);
    if (list === undefined) {
      list = [];
      this.free.set(buffer.length, list);
    }
    list.push(buffer);
    this.pooled += buffer.length;
  }
}
