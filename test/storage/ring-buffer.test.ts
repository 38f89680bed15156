import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RingBuffer } from '../../src/storage/ring-buffer.ts';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

describe('RingBuffer', () => {
  it('writes up to capacity and reads back in order across the wrap', () => {
    const ring = new RingBuffer(5);
    assert.equal(ring.write(bytes(1, 2, 3)), 3);
    const out = new Uint8Array(2);
    assert.equal(ring.read(out), 2);
    assert.deepEqual(out, bytes(1, 2));
    assert.equal(ring.write(bytes(4, 5, 6, 7, 8)), 4); // only 4 free
    assert.equal(ring.length, 5);
    assert.equal(ring.free, 0);
    const all = new Uint8Array(5);
    assert.equal(ring.read(all), 5);
    assert.deepEqual(all, bytes(3, 4, 5, 6, 7));
  });

  it('writeFrom takes a chunk from an offset, partly when full, from a view into a larger buffer (a Node Buffer), across the wrap', () => {
    const ring = new RingBuffer(6);
    ring.write(bytes(9, 9, 9, 9));
    ring.discard(4); // the next write starts at physical 4 and wraps
    const backing = Buffer.from([100, 101, 1, 2, 3, 4, 5, 6, 7, 8, 102]);
    const chunk = backing.subarray(2, 10); // 1..8, byteOffset 2
    assert.equal(ring.writeFrom(chunk, 1), 6); // 2..7 fit, 8 does not
    assert.equal(ring.writeFrom(chunk, 8), 0);
    const out = new Uint8Array(6);
    assert.equal(ring.read(out), 6);
    assert.deepEqual(out, bytes(2, 3, 4, 5, 6, 7));
    assert.equal(ring.writeFrom(chunk, 0), 6);
    assert.equal(ring.read(out), 6);
    assert.deepEqual(out, bytes(1, 2, 3, 4, 5, 6));
    assert.deepEqual([...backing], [100, 101, 1, 2, 3, 4, 5, 6, 7, 8, 102], 'the source is only read');
  });

  it('copyOut peeks at any offset without consuming, across the wrap', () => {
    const ring = new RingBuffer(4);
    ring.write(bytes(9, 9, 9));
    ring.discard(3);
    ring.write(bytes(1, 2, 3, 4)); // physically 3,0,1,2
    const out = new Uint8Array(3);
    assert.equal(ring.copyOut(1, out), 3);
    assert.deepEqual(out, bytes(2, 3, 4));
    assert.equal(ring.copyOut(4, out), 0);
    assert.equal(ring.length, 4);
  });

  it('copyOutAt copies into a target at an offset, across the wrap, clamped to what is queued', () => {
    const ring = new RingBuffer(4);
    ring.write(bytes(9, 9, 9));
    ring.discard(3);
    ring.write(bytes(1, 2, 3, 4)); // physically 3,0,1,2
    const frame = new Uint8Array(6).fill(0xee);
    assert.equal(ring.copyOutAt(1, 3, frame, 2), 3);
    assert.deepEqual(frame, bytes(0xee, 0xee, 2, 3, 4, 0xee));
    assert.equal(ring.copyOutAt(2, 5, frame, 0), 2, 'no more than is queued');
    assert.deepEqual(frame.subarray(0, 2), bytes(3, 4));
    assert.equal(ring.copyOutAt(0, 4, frame, 4), 2, 'no more than the target holds');
    assert.equal(ring.copyOutAt(4, 1, frame, 0), 0);
    assert.equal(ring.copyOutAt(-1, 1, frame, 0), 0);
    assert.equal(ring.length, 4);
  });

  it('writeAt places bytes past the queue that commit later makes readable', () => {
    const ring = new RingBuffer(8);
    ring.write(bytes(1));
    assert.equal(ring.writeAt(2, bytes(4, 5)), 2); // a hole at offset 0..1
    assert.equal(ring.length, 1);
    assert.equal(ring.writeAt(0, bytes(2, 3)), 2);
    ring.commit(4);
    const out = new Uint8Array(5);
    assert.equal(ring.read(out), 5);
    assert.deepEqual(out, bytes(1, 2, 3, 4, 5));
  });

  it('keeps out-of-order bytes in place when the ring empties (regression)', () => {
    const ring = new RingBuffer(8);
    ring.write(bytes(1, 2, 3));
    ring.writeAt(1, bytes(7)); // offset 1 past the end, i.e. logical index 4
    ring.discard(3); // now empty
    ring.writeAt(0, bytes(6));
    ring.commit(2);
    const out = new Uint8Array(2);
    ring.read(out);
    assert.deepEqual(out, bytes(6, 7));
  });

  it('clamps writeAt to the free space', () => {
    const ring = new RingBuffer(4);
    ring.write(bytes(1, 2));
    assert.equal(ring.writeAt(1, bytes(1, 2, 3)), 1);
    assert.equal(ring.writeAt(3, bytes(1)), 0);
    assert.throws(() => ring.commit(3), RangeError);
    assert.throws(() => ring.discard(3), RangeError);
  });
});
