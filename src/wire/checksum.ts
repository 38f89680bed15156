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
 * This is the hot path (every byte sent and received goes through it): no allocation,
 * and the loop sums even and odd bytes in two lanes (byte order independence,
 * RFC 1071 §2(B)), eight bytes per turn, which measured ~1.7x faster than a
 * word-at-a-time loop on 1500-byte frames.
 */
import type { Ipv4Address } from '../net/address.ts';

/**
 * Adds `bytes` as big-endian 16-bit words to `initial` (an odd final byte is padded
 * with a zero byte, RFC 1071 §4.1). Returns the unfolded sum: a non-negative integer
 * to pass to `foldChecksum` or back in as `initial` for the next piece. An odd-length
 * piece can only be followed by more data if the caller accounts for the shifted
 * byte alignment; TCP and ICMP never need that (the odd piece is always last).
 */
export function sumWords(bytes: Uint8Array, initial = 0): number {
  return sumWordRange(bytes, 0, bytes.length, initial);
}

/**
 * `sumWords(bytes.subarray(start, end), initial)` without creating the subarray.
 * `end` is clamped to the array (reading past it would turn the sum into NaN).
 */
export function sumWordRange(bytes: Uint8Array, start: number, end: number, initial = 0): number {
  if (end > bytes.length) end = bytes.length;
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
