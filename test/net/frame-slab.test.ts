import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FrameSlab, SLAB_BYTES } from '../../src/net/frame-slab.ts';

describe('FrameSlab: send-path frames carved from shared slabs', () => {
  it('hands out zero-filled frames of the asked length that never overlap', () => {
    const slab = new FrameSlab();
    const frames: Uint8Array[] = [];
    for (let index = 0; index < 100; index++) {
      const frame = slab.take(60 + ((index * 97) % 1455));
      assert.ok(frame.every((byte) => byte === 0), 'zero-filled');
      frame.fill(index + 1);
      frames.push(frame);
    }
    frames.forEach((frame, index) => assert.ok(frame.every((byte) => byte === index + 1), `frame ${index} untouched by later ones`));
    const slabs = new Set(frames.map((frame) => frame.buffer));
    assert.ok(slabs.size > 1 && slabs.size < frames.length / 5, `${slabs.size} slabs for ${frames.length} frames`);
  });

  it('puts every frame 2 bytes past a 4-byte boundary, so its IPv4 header is aligned', () => {
    const slab = new FrameSlab();
    for (const length of [54, 55, 66, 1514, 61, 1]) {
      const frame = slab.take(length);
      assert.equal(frame.byteOffset % 4, 2);
      assert.equal(frame.length, length);
    }
  });

  it('gives a frame above a quarter slab its own buffer', () => {
    const slab = new FrameSlab();
    const big = slab.take(SLAB_BYTES / 4 + 1);
    assert.equal(big.byteOffset, 0);
    assert.equal(big.buffer.byteLength, SLAB_BYTES / 4 + 1);
  });
});
