/**
 * The super-frame ring (hal/link/super-frame-ring.ts): a bounded set of reused buffers,
 * the link asked to flush when every slot is taken, headers zeroed on reuse, and no
 * buffer handed out twice before the link has released them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SUPER_FRAME_SLOTS, SuperFrameRing } from '../../hal/link/super-frame-ring.ts';

describe('SuperFrameRing', () => {
  test('hands out distinct buffers until every slot is taken, then asks the link to flush and reuses them', () => {
    let flushes = 0;
    const ring = new SuperFrameRing(65_549, () => flushes++);
    const first = Array.from({ length: SUPER_FRAME_SLOTS }, () => ring.take(60_000));
    assert.equal(flushes, 0);
    assert.equal(new Set(first.map((frame) => frame.buffer)).size, SUPER_FRAME_SLOTS);
    const next = ring.take(60_000);
    assert.equal(flushes, 1);
    assert.equal(next.buffer, first[0]!.buffer);
  });

  test('a release frees every slot without a flush', () => {
    let flushes = 0;
    const ring = new SuperFrameRing(2_000, () => flushes++);
    const a = ring.take(1_000);
    ring.take(1_000);
    ring.released();
    assert.equal(ring.take(1_000).buffer, a.buffer);
    assert.equal(flushes, 0);
  });

  test('a reused buffer has its headers zeroed and the asked length, 2 bytes past a 4-byte boundary', () => {
    const ring = new SuperFrameRing(2_000, () => undefined);
    const frame = ring.take(1_500);
    frame.fill(0xff);
    ring.released();
    const again = ring.take(1_200);
    assert.equal(again.length, 1_200);
    assert.equal(again.byteOffset % 4, 2);
    assert.ok(again.subarray(0, 14 + 60 + 60).every((byte) => byte === 0));
  });

  test('a length over the largest super-frame is refused', () => {
    const ring = new SuperFrameRing(2_000, () => undefined);
    assert.throws(() => ring.take(2_001), /at most 2000 bytes/);
    assert.throws(() => ring.take(-1), RangeError);
  });
});
