import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  foldChecksum,
  internetChecksum,
  pseudoHeaderSum,
  sumWordRange,
  sumWords,
} from '../../src/wire/checksum.ts';
import { SeededRandom } from '../../src/random.ts';
import { ALL_FRAMES, fromHex, HOST_A_IP, HOST_B_IP, TCP_SYN_FRAME } from '../fixtures/frames.ts';

/**
 * A deliberately different implementation to check against: one 16-bit word at a
 * time, carries folded back in at every step (RFC 1071 §4.1's C loop, transcribed).
 */
function referenceChecksum(bytes: Uint8Array, initialWords: number[] = []): number {
  let sum = 0;
  const add = (word: number): void => {
    sum += word;
    if (sum > 0xffff) sum = (sum & 0xffff) + 1;
  };
  for (const word of initialWords) add(word);
  for (let i = 0; i < bytes.length; i += 2) add(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  return ~sum & 0xffff;
}

describe('checksum (RFC 1071)', () => {
  it('computes the RFC 1071 §3 example: 0001 f203 f4f5 f6f7 sums to ddf2', () => {
    const bytes = fromHex('00 01 f2 03 f4 f5 f6 f7');
    assert.equal(sumWords(bytes), 0x2ddf0); // unfolded, as the RFC shows it
    assert.equal(internetChecksum(bytes), ~0xddf2 & 0xffff);
  });

  it('computes the checksum of a textbook IPv4 header (known value b861)', () => {
    const header = fromHex('4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7');
    assert.equal(internetChecksum(header), 0xb861);
    header[10] = 0xb8;
    header[11] = 0x61;
    assert.equal(foldChecksum(sumWords(header)), 0, 'a correct header folds to zero');
  });

  it('verifies the IPv4 header checksum of every captured fixture', () => {
    for (const [name, frame] of Object.entries(ALL_FRAMES)) {
      if (frame[12] !== 0x08 || frame[13] !== 0x00) continue; // not IPv4
      const headerLength = ((frame[14] ?? 0) & 0x0f) * 4;
      assert.equal(foldChecksum(sumWords(frame.subarray(14, 14 + headerLength))), 0, name);
    }
  });

  it("reproduces Linux's TCP checksum of the captured SYN (0x3391) through the pseudo header", () => {
    const segment = Uint8Array.from(TCP_SYN_FRAME.subarray(34));
    assert.equal((segment[16]! << 8) | segment[17]!, 0x3391);
    segment[16] = 0;
    segment[17] = 0;
    const sum = sumWords(segment, pseudoHeaderSum(HOST_A_IP, HOST_B_IP, 6, segment.length));
    assert.equal(foldChecksum(sum), 0x3391);
  });

  it('pads an odd final byte with zero', () => {
    assert.equal(sumWords(Uint8Array.of(0xab)), 0xab00);
    assert.equal(sumWords(Uint8Array.of(0x01, 0x02, 0x03)), 0x0102 + 0x0300);
    assert.equal(sumWords(new Uint8Array(0)), 0);
    assert.equal(sumWords(new Uint8Array(0), 1234), 1234);
  });

  it('matches the reference for random data of every length up to 200, at odd offsets, with initial sums', () => {
    const random = new SeededRandom(1071);
    const backing = random.bytes(512);
    for (let length = 0; length <= 200; length++) {
      for (const offset of [0, 1, 3]) {
        const bytes = backing.subarray(offset, offset + length);
        assert.equal(internetChecksum(bytes), referenceChecksum(bytes), `length ${length} offset ${offset}`);
        const initial = random.uint32() & 0xffff;
        assert.equal(foldChecksum(sumWords(bytes, initial)), referenceChecksum(bytes, [initial]));
      }
    }
  });

  it('sums a range exactly like the subarray, and clamps the end to the array', () => {
    const random = new SeededRandom(7);
    const bytes = random.bytes(100);
    for (const [start, end] of [[0, 100], [3, 3], [5, 64], [1, 98], [0, 99]] as const) {
      assert.equal(sumWordRange(bytes, start, end, 17), sumWords(bytes.subarray(start, end), 17));
    }
    assert.equal(sumWordRange(bytes, 10, 1000), sumWords(bytes.subarray(10)));
  });

  it('chains sums over pieces (even-length pieces first)', () => {
    const random = new SeededRandom(9);
    const whole = random.bytes(91);
    const chained = sumWords(whole.subarray(40), sumWords(whole.subarray(0, 40)));
    assert.equal(foldChecksum(chained), internetChecksum(whole));
  });

  it('handles sums far beyond 32 bits (a 1 MiB buffer of 0xff, large folds)', () => {
    const large = new Uint8Array(1 << 20).fill(0xff);
    assert.equal(internetChecksum(large), referenceChecksum(large));
    assert.equal(internetChecksum(large), 0);
    // Folding is reduction modulo 0xffff with 0xffff standing for zero (one's complement).
    for (const sum of [0x1_0000_0000, 0x1_2345_6789, 2 ** 40 + 12345, 2 ** 52 - 1]) {
      const residue = sum % 0xffff;
      assert.equal(foldChecksum(sum), ~(residue === 0 ? 0xffff : residue) & 0xffff, `sum ${sum}`);
    }
    assert.equal(foldChecksum(0), 0xffff);
  });

  it('sums the pseudo header (RFC 9293 §3.1) like the 12 bytes it stands for', () => {
    const pseudo = fromHex(`
      c6 12 00 01   // source 198.18.0.1
      fe dc ba 98   // destination 254.220.186.152 (exercises the top bit)
      00 06         // zero, protocol TCP
      05 dc         // TCP length 1500
    `);
    assert.equal(pseudoHeaderSum(HOST_A_IP, 0xfedcba98, 6, 1500), sumWords(pseudo));
  });
});

describe('checksum: the 32-bit word loop (issue 13)', () => {
  it('agrees with the RFC 1071 reference at every alignment, length and initial sum', () => {
    const random = new SeededRandom(13);
    const backing = random.bytes(5000);
    for (let viewOffset = 0; viewOffset < 4; viewOffset++) {
      // A view that does not start at the buffer's start, as slab frames and batch buffers do.
      const view = backing.subarray(viewOffset);
      for (let start = 0; start < 8; start++) {
        for (const length of [63, 64, 65, 66, 67, 68, 100, 1448, 1480, 4099]) {
          for (const initial of [0, 17, 0x2ffff]) {
            const range = view.subarray(start, start + length);
            const folded = foldChecksum(sumWordRange(view, start, start + length, initial));
            assert.equal(folded, referenceChecksum(range, [initial % 0xffff]), `view +${viewOffset}, start ${start}, length ${length}, initial ${initial}`);
          }
        }
      }
    }
  });

  it('keeps the edge cases of one\'s complement: all zeros and all ones', () => {
    const zeros = new Uint8Array(1500);
    assert.equal(foldChecksum(sumWordRange(zeros, 2, 1500)), 0xffff);
    assert.equal(sumWordRange(zeros, 0, 1500), 0, 'zero only for zero data');
    const ones = new Uint8Array(1500).fill(0xff);
    assert.equal(foldChecksum(sumWordRange(ones, 2, 1500)), referenceChecksum(ones.subarray(2)));
    assert.equal(foldChecksum(sumWordRange(ones, 2, 1500)), 0);
  });

  it('sums through views of many buffers in turn (its two-entry view cache)', () => {
    const random = new SeededRandom(21);
    const buffers = [random.bytes(2000), random.bytes(3000), random.bytes(1600)];
    for (let round = 0; round < 3; round++) {
      for (const bytes of buffers) assert.equal(foldChecksum(sumWordRange(bytes, 4, 1504)), referenceChecksum(bytes.subarray(4, 1504)));
    }
  });
});
