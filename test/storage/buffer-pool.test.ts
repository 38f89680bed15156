import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool } from '../../src/storage/buffer-pool.ts';
import { RingBuffer, type BufferAllocator } from '../../src/storage/ring-buffer.ts';

describe('RingBuffer memory on demand', () => {
  it('takes memory at the first byte written and gives it back only when drained', () => {
    const taken: number[] = [];
    const given: Uint8Array[] = [];
    const allocator: BufferAllocator = {
      allocate: (size) => {
        taken.push(size);
        return new Uint8Array(size);
      },
      release: (buffer) => given.push(buffer),
    };
    const ring = new RingBuffer(8, allocator);
    assert.equal(ring.allocated, false);
    assert.equal(ring.free, 8, 'the window does not depend on the memory');
    assert.equal(ring.copyOut(0, new Uint8Array(4)), 0);
    ring.releaseStorage(); // nothing to give back
    assert.deepEqual(given, []);
    ring.write(Uint8Array.of(1, 2, 3));
    assert.equal(ring.allocated, true);
    assert.deepEqual(taken, [8]);
    assert.throws(() => ring.releaseStorage(), RangeError, 'not while bytes are queued');
    const out = new Uint8Array(3);
    ring.read(out);
    assert.deepEqual([...out], [1, 2, 3]);
    ring.releaseStorage();
    assert.equal(ring.allocated, false);
    assert.equal(given.length, 1);
    // Used again: fresh memory, the data correct from a reset head.
    ring.write(Uint8Array.of(9, 8, 7, 6, 5, 4, 3, 2));
    const again = new Uint8Array(8);
    ring.read(again);
    assert.deepEqual([...again], [9, 8, 7, 6, 5, 4, 3, 2]);
    assert.deepEqual(taken, [8, 8]);
  });
});

describe('BufferPool', () => {
  it('reuses released buffers of the same size and keeps at most maxPooledBytes', () => {
    const pool = new BufferPool(100);
    const a = pool.allocate(40);
    const b = pool.allocate(40);
    const c = pool.allocate(40);
    pool.release(a);
    pool.release(b);
    pool.release(c); // 120 > 100: left to the collector
    assert.equal(pool.pooledBytes, 80);
    assert.equal(pool.allocate(40), b);
    assert.equal(pool.allocate(40), a);
    assert.notEqual(pool.allocate(40), c, 'c was not kept');
    assert.equal(pool.pooledBytes, 0);
    assert.equal(pool.allocate(10).length, 10, 'other sizes are allocated as asked');
  });
});
