/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78; RFC 3720 §12.1, the iSCSI and
 * ext4 checksum) over a range of a byte array: eight bytes a step with eight tables
 * ("slicing-by-8", Kounavis and Berry, "A Systematic Approach to Building High
 * Performance Software-based CRC Generators", ISCC 2005), the rest a byte a step. Every
 * durable reading's record is summed here (~50 bytes): 8 KiB of tables for about a third
 * of the byte loop's time per record (issue 13, the ingest path).
 *
 * Why not the `crc-32` package, which the readings log used before: its `buf()` takes a
 * whole array, so a record's two checked ranges (length field, payload) each needed a
 * `subarray` view, three allocations per record on the ingest path; here a range is two
 * offsets. Checked against that package over random inputs (test/storage/crc32c.test.ts).
 */
const TABLE_SIZE = 256;
/** TABLES[k * 256 + n]: the CRC of byte n followed by k zero bytes (table 0 is the classic one). */
const TABLES = buildTables();

/**
 * The eight tables. Built in a function of their own, not in loops at the module's top
 * level: the bundle (deploy/build.mjs) hoists every module's top-level statements into
 * one function, and the ~3,800 iterations of these loops there spent its interrupt budget,
 * so V8 compiled that whole function with Sparkplug (a 240 KB baseline code object kept
 * for the process's life, its feedback vector and the compiler's memory: idle RSS at
 * start-up +0.5-0.65 MB, issue 13). test/firmware/bundle.test.ts keeps loops out of the
 * bundle's top level.
 */
function buildTables(): Int32Array {
  const tables = new Int32Array(8 * TABLE_SIZE);
  for (let n = 0; n < TABLE_SIZE; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    tables[n] = c;
  }
  for (let n = 0; n < TABLE_SIZE; n++) {
    for (let k = 1; k < 8; k++) {
      const previous = tables[(k - 1) * TABLE_SIZE + n]!;
      tables[k * TABLE_SIZE + n] = tables[previous & 0xff]! ^ (previous >>> 8);
    }
  }
  return tables;
}

/**
 * Continues the CRC `previous` (0 to start) over `bytes[start..end)`; returns it as an
 * unsigned 32-bit integer. Offsets must lie within the array (a programmer's error otherwise).
 */
export function crc32c(bytes: Uint8Array, start: number, end: number, previous = 0): number {
  return ~crc32cUpdate(bytes, start, end, ~previous) >>> 0;
}

/** The register before any byte (`~0`): what `crc32cUpdate` starts from. */
export const CRC32C_START = -1;

/**
 * The raw register form for a hot path: continues `register` (CRC32C_START to begin)
 * over `bytes[start..end)` and returns the register, a signed 32-bit integer; the CRC is
 * `~register` (`>>> 0` for the unsigned value). A signed 32-bit integer stays a small
 * integer in V8 where a CRC at or above 2^31 was a new heap number per call (two per
 * record: the heap profile of the ingest run, issue 13).
 */
export function crc32cUpdate(bytes: Uint8Array, start: number, end: number, register: number): number {
  const t = TABLES;
  let crc = register | 0;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const low = crc ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    const high = bytes[i + 4]! | (bytes[i + 5]! << 8) | (bytes[i + 6]! << 16) | (bytes[i + 7]! << 24);
    crc =
      t[7 * TABLE_SIZE + (low & 0xff)]! ^
      t[6 * TABLE_SIZE + ((low >>> 8) & 0xff)]! ^
      t[5 * TABLE_SIZE + ((low >>> 16) & 0xff)]! ^
      t[4 * TABLE_SIZE + (low >>> 24)]! ^
      t[3 * TABLE_SIZE + (high & 0xff)]! ^
      t[2 * TABLE_SIZE + ((high >>> 8) & 0xff)]! ^
      t[TABLE_SIZE + ((high >>> 16) & 0xff)]! ^
      t[high >>> 24]!;
  }
  for (; i < end; i++) crc = t[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return crc;
}
