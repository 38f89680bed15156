/**
 * Our range CRC-32C against the `crc-32` package's (the reference the readings log was
 * written with, so old logs still verify) and the standard check value.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import reference from 'crc-32/crc32c.js';
import { crc32c } from '../../src/storage/crc32c.ts';
import { SeededRandom } from '../../src/random.ts';

describe('crc32c', () => {
  it('gives the CRC-32C check value for "123456789" (0xE3069283)', () => {
    assert.equal(crc32c(new TextEncoder().encode('123456789'), 0, 9), 0xe3069283);
  });

  it('equals the crc-32 package over random ranges, continued from a previous CRC too', () => {
    const random = new SeededRandom(7);
    const below = (limit: number): number => Math.floor(random.fraction() * (limit + 1));
    for (let round = 0; round < 500; round++) {
      const bytes = random.bytes(below(300));
      const start = below(bytes.length);
      const end = start + below(bytes.length - start);
      const expected = reference.buf(bytes.subarray(start, end)) >>> 0;
      assert.equal(crc32c(bytes, start, end), expected, `round ${round}`);
      const split = start + below(end - start);
      const first = crc32c(bytes, start, split);
      assert.equal(crc32c(bytes, split, end, first), expected, `round ${round}, continued at ${split}`);
    }
  });
});
