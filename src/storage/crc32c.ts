/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78; RFC 3720 §12.1, the iSCSI and
 * ext4 checksum) over a range of a byte array, table-driven one byte a step.
 *
 * Why not the `crc-32` package, which the readings log used before: its `buf()` takes a
 * whole array, so a record's two checked ranges (length field, payload) each needed a
 * `subarray` view, three allocations per record on the ingest path; here a range is two
 * offsets. Checked against that package over random inputs (test/storage/crc32c.test.ts).
 */
const TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c;
}

/**
 * Continues the CRC `previous` (0 to start) over `bytes[start..end)`; returns it as an
 * unsigned 32-bit integer. Offsets must lie within the array (a programmer's error otherwise).
 */
export function crc32c(bytes: Uint8Array, start: number, end: number, previous = 0): number {
  let crc = ~previous;
  for (let i = start; i < end; i++) crc = TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
