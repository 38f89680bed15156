/**
 * BoundedFreeLists (src/storage/free-lists.ts), the free lists under the stack's buffer
 * and record-storage pools: objects come back by key, the byte bound holds, and what does
 * not fit is not kept.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedFreeLists } from '../../src/storage/free-lists.ts';
import { BufferPool } from '../../src/storage/buffer-pool.ts';

describe('BoundedFreeLists', () => {
  it('gives back what was kept under the same key, last in first out, and nothing under another key', () => {
    const lists = new BoundedFreeLists<Uint8Array>(1000, (buffer) => buffer.length);
    const a = new Uint8Array(100);
    const b = new Uint8Array(100);
    lists.give(100, a);
    lists.give(100, b);
    assert.equal(lists.bytes, 200);
    assert.equal(lists.take(200), undefined);
    assert.equal(lists.take(100), b);
    assert.equal(lists.take(100), a);
    assert.equal(lists.take(100), undefined);
    assert.equal(lists.bytes, 0);
  });

  it('keeps at most maxBytes: an object that would go over is left to the collector', () => {
    const lists = new BoundedFreeLists<Uint8Array>(250, (buffer) => buffer.length);
    for (let i = 0; i < 3; i++) lists.give(100, new Uint8Array(100));
    assert.equal(lists.bytes, 200, 'the third did not fit');
    lists.give(50, new Uint8Array(50));
    assert.equal(lists.bytes, 250, 'a smaller one still fits');
  });

  it('BufferPool reuses a released buffer of the same size', () => {
    const pool = new BufferPool(4096);
    const buffer = pool.allocate(1024);
    pool.release(buffer);
    assert.equal(pool.pooledBytes, 1024);
    assert.equal(pool.allocate(1024), buffer);
    assert.notEqual(pool.allocate(1024), buffer, 'taken once');
    assert.equal(pool.pooledBytes, 0);
  });
});
