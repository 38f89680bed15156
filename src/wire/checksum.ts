/**
 * The Internet checksum (RFC 1071): the 16-bit one's complement of the one's
 * complement sum of the data taken as big-endian 16-bit words.
 *
 * Call order: `sumWords` over each piece (pseudo header, header, payload; chaining
 * the running sum through `initial`), then `foldChecksum` once. To verify a received
 * header, fold the sum over it *including* its checksum field: a correct one gives 0.
 *
 * The sum is deferred-carry (RFC 1071 §2(C)): plain addition in a JavaScript number,
 * which is exact up to 2^53, so no carry handling is needed until the final fold.
 * This is the hot path (every byte sent and received goes through it twice per
 * segment, once at each end): no allocation per call, and two loops:
 *   - ranges of 64 bytes or more that start on an even address are summed as native
 *     32-bit words through a `Uint32Array` over the whole `ArrayBuffer` (one view per
 *     buffer, cached: the send path's frame slabs hold ~20 frames each, frame-slab.ts),
 *     after one 16-bit word if needed to reach 4-byte alignment. Summing 32-bit words
 *     and folding is the same sum modulo 0xffff (RFC 1071 §2(C)), and in the host's
 *     little-endian order it is the byte-swapped sum, swapped back after the fold
 *     (§2(B), byte order independence); a fourth of the loads of the byte loop;
 *   - anything else goes through the byte loop: even and odd bytes in two lanes, eight
 *     bytes per turn.
 * So the value returned is the sum *modulo 0xffff*, not always the plain unfolded sum:
 * pass it to `foldChecksum` or back in as `initial`, nothing else.
 */
import type { Ipv4Address } from '../net/address.ts';

/**
 * Adds `bytes` as big-endian 16-bit words to `initial` (an odd final byte is padded
 * with a zero byte, RFC 1071 §4.1). Returns a non-negative integer congruent to the
 * sum modulo 0xffff, zero only when the data and `initial` are: to pass to
 * `foldChecksum` or back in as `initial` for the next piece. An odd-length piece can
 * only be followed by more data if the caller accounts for the shifted byte alignment;
 * TCP and ICMP never need that (the odd piece is always last).
 */
export function sumWords(bytes: Uint8Array, initial = 0): number {
  return sumWordRange(bytes, 0, bytes.length, initial);
}

/** Shorter ranges are not worth the word loop's set-up. */
const WORD_LOOP_MIN_BYTES = 64;
/** Word sums stay exact below 2^53: 2^20 words of up to 2^32 each, well within. */
const WORD_LOOP_MAX_WORDS = 1 << 20;
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

// The 32-bit views of the last two buffers summed (a frame slab on the send side and
// the one the received frames sit in alternate); kept only for the next call.
let firstBuffer: ArrayBufferLike | undefined;
let firstWords: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
let secondBuffer: ArrayBufferLike | undefined;
let secondWords: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

function wordsOf(buffer: ArrayBufferLike): Uint32Array<ArrayBufferLike> {
  if (buffer === firstBuffer) return firstWords;
  if (buffer === secondBuffer) return secondWords;
  secondBuffer = firstBuffer;
  secondWords = firstWords;
  firstBuffer = buffer;
  firstWords = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
  return firstWords;
}

/**
 * `sumWords(bytes.subarray(start, end), initial)` without creating the subarray (the
 * same sum modulo 0xffff). `end` is clamped to the array (reading past it would turn
 * the sum into NaN).
 */
export function sumWordRange(bytes: Uint8Array, start: number, end: number, initial = 0): number {
  if (end > bytes.length) end = bytes.length;
  if (end - start < WORD_LOOP_MIN_BYTES) return sumByteRange(bytes, start, end, initial);
  let address = bytes.byteOffset + start;
  if ((address & 1) !== 0) return sumByteRange(bytes, start, end, initial);
  let sum = initial;
  let i = start;
  if ((address & 2) !== 0) {
    sum += (bytes[i]! << 8) | bytes[i + 1]!;
    i += 2;
    address += 2;
  }
  const count = (end - i) >>> 2;
  const words = wordsOf(bytes.buffer);
  let word = address >>> 2;
  const wordEnd = word + count;
  // A detached or shrunk buffer, or a range too long for an exact sum: the byte loop.
  if (wordEnd > words.length || count > WORD_LOOP_MAX_WORDS) return sumByteRange(bytes, start, end, initial);
  let wordSum = 0;
  const unrolledEnd = word + (count & ~3);
  for (; word < unrolledEnd; word += 4) wordSum += words[word]! + words[word + 1]! + words[word + 2]! + words[word + 3]!;
  for (; word < wordEnd; word++) wordSum += words[word]!;
  // Fold to 16 bits (the same sum modulo 0xffff), then back to network byte order.
  while (wordSum > 0xffff) wordSum = (wordSum % 0x10000) + Math.floor(wordSum / 0x10000);
  sum += LITTLE_ENDIAN ? ((wordSum & 0xff) << 8) | (wordSum >>> 8) : wordSum;
  return sumByteRange(bytes, i + count * 4, end, sum);
}

/** The byte loop: even and odd bytes in two lanes, eight bytes per turn; the plain unfolded sum. */
function sumByteRange(bytes: Uint8Array, start: number, end: number, initial: number): number {
  const unrolledEnd = start + ((end - start) & ~7);
  let high = 0; // sum of the first byte of each word
  let low = 0; // sum of the second byte of each word
  let i = start;
  for (; i < unrolledEnd; i += 8) {
    high += bytes[i]! + bytes[i + 2]! + bytes[i + 4]! + bytes[i + 6]!;
    low += bytes[i + 1]! + bytes[i + 3]! + bytes[i + 5]! + bytes[i + 7]!;
  }
  for (; i + 1 < end; i += 2) {
    high += bytes[i]!;
    low += bytes[i + 1]!;
  }
  if (i < end) high += bytes[i]!;
  return initial + high * 256 + low;
}

/** Folds the carries of an unfolded sum into 16 bits and complements it. */
export function foldChecksum(sum: number): number {
  // Division instead of `>>> 16`: the sum may exceed 2^32 for very large inputs.
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

export function internetChecksum(bytes: Uint8Array): number {
  return foldChecksum(sumWords(bytes));
}

/**
 * The sum of the IPv4 pseudo header (RFC 9293 §3.1): source, destination, zero,
 * protocol, and the TCP length (header plus data) — to pass as `initial`.
 */
export function pseudoHeaderSum(
  source: Ipv4Address,
  destination: Ipv4Address,
  protocol: number,
  length: number,
): number {
  return (source >>> 16) + (source & 0xffff) + (destination >>> 16) + (destination & 0xffff) + protocol + length;
}
