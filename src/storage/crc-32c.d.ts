/**
 * Types for the CRC-32C (Castagnoli) entry point of the `crc-32` package (SheetJS),
 * which ships types only for its CRC-32 main entry; the two share one API. The package
 * is the reference test/storage/crc32c.test.ts checks src/storage/crc32c.ts against.
 * Results are signed 32-bit integers (`>>> 0` for the unsigned value).
 */
declare module 'crc-32/crc32c.js' {
  interface Crc32cApi {
    version: string;
    buf(data: Uint8Array | number[], seed?: number): number;
    bstr(data: string, seed?: number): number;
    str(data: string, seed?: number): number;
  }
  const crc32c: Crc32cApi;
  export default crc32c;
}
