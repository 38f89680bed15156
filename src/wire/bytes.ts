/**
 * Big-endian (network order) field access over a Uint8Array, shared by the packet
 * views. The views read bytes directly instead of holding a DataView: a DataView
 * would be one more allocation per frame, and these few shifts compile to the same
 * loads. Callers check lengths first (the views' `check()`), so reads stay in range.
 *
 * Writes rely on Uint8Array's modulo-256 store, so a 32-bit value written here is
 * taken modulo 2^32: the right semantics for sequence numbers and timestamps.
 */

export function readUint16(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! << 8) | bytes[offset + 1]!;
}

export function readUint32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

export function writeUint16(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 8;
  bytes[offset + 1] = value;
}

export function writeUint32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 24;
  bytes[offset + 1] = value >>> 16;
  bytes[offset + 2] = value >>> 8;
  bytes[offset + 3] = value;
}

/** Copies a 6-byte MAC address into `bytes` at `offset` (no subarray, no allocation). */
export function writeMac(bytes: Uint8Array, offset: number, mac: Uint8Array): void {
  if (mac.length !== 6) throw new RangeError(`MAC address must be 6 bytes, got ${mac.length}`);
  for (let i = 0; i < 6; i++) bytes[offset + i] = mac[i]!;
}

/**
 * Puts `payload` at `buf[offset]`, unless it is already there: the output path
 * builds segments in place, and copying a buffer onto itself would be pure cost.
 */
export function placePayload(buf: Uint8Array, offset: number, payload: Uint8Array): void {
  if (offset + payload.length > buf.length) {
    throw new RangeError(`payload of ${payload.length} bytes does not fit at offset ${offset} of ${buf.length}`);
  }
  if (payload.length === 0) return;
  if (payload.buffer === buf.buffer && payload.byteOffset === buf.byteOffset + offset) return;
  buf.set(payload, offset);
}

/** Throws for a value our own code should never pass to an emitter. */
export function checkField(name: string, value: number, maximum: number): void {
  if (!Number.isInteger(value) || value < 0 || value > maximum) {
    throw new RangeError(`${name} must be an integer in 0..${maximum}, got ${value}`);
  }
}

/**
 * Zero, as the initial value of a number field that will hold values outside V8's small
 * integers (sequence numbers, timestamps and IPv4 addresses at or above 2^31, fractions)
 * in an object the hot paths reuse or keep per connection. `-0` equals 0 in every
 * comparison, arithmetic and bit operation, but it is not a small integer, so V8 gives
 * the field a double representation from the object's first store. Initialised with 0,
 * the field stays a small-integer field until the first such value arrives (a random
 * moment: ISNs and TSvals are random), and V8 then deprecates the object's map and
 * deoptimises every function optimised for it, the whole receive path at once
 * (bench/BASELINE.md, "the receive path's warm-up").
 */
export const DOUBLE_ZERO = -0;
