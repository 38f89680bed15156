/**
 * TCP sequence-number arithmetic (RFC 9293 §3.4): sequence numbers live in a
 * 32-bit space that wraps, so comparisons are made on the signed 32-bit difference.
 * This is valid while the two numbers are less than 2^31 apart, which TCP guarantees
 * because no window exceeds 2^30 (RFC 7323 §2.3) and ours never exceeds 2^16.
 *
 * Every sequence number the stack stores is an unsigned 32-bit integer (`>>> 0`).
 */

/** a < b in sequence space. */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** a <= b in sequence space. */
export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/** a > b in sequence space. */
export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/** a >= b in sequence space. */
export function seqGe(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/** a + n, wrapped to 32 bits (n may be negative). */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** The signed distance a − b (positive when a is after b). */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** The later of two sequence numbers. */
export function seqMax(a: number, b: number): number {
  return seqGe(a, b) ? a : b;
}

/** The earlier of two sequence numbers. */
export function seqMin(a: number, b: number): number {
  return seqLe(a, b) ? a : b;
}

/** start <= value < end, in sequence space (an empty range holds nothing). */
export function seqInRange(value: number, start: number, end: number): boolean {
  return seqLe(start, value) && seqLt(value, end);
}
