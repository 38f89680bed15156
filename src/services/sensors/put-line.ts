/**
 * The common PUT line (SPEC §4 `PUT <name> <number> [<unix-ms>]`) read from its bytes in
 * place: no decoded string, no field array, no request object per line (issue 13, the
 * ingest path; parsing was 17 % of its busy time). Every PUT passes here first.
 *
 * The contract is narrow on purpose: `parsePutLine` returns true only for a line that
 * `parseRequest` (request.ts) accepts as a PUT with exactly the values written into
 * `into`; for anything else it returns false and the caller hands the line to
 * `parseRequest`, which gives the request or the exact error reply. So the fast path
 * never decides an error, and what it refuses costs one more pass, nothing else. It takes:
 *   - printable ASCII and tabs only (a byte >= 0x80 could be UTF-8: `parseRequest`);
 *   - the verb PUT in any case, 2 or 3 arguments between runs of spaces and tabs;
 *   - a name of 1..64 identifier characters;
 *   - a number of at most 15 significant digits without an exponent (`12`, `-3.25`,
 *     `.5`, `7.`): the digits as an integer m < 10^15 and f <= 15 digits after the point,
 *     so m and 10^f are exact doubles and m / 10^f is the correctly rounded value of the
 *     decimal, the one `Number(text)` gives (Clinger's fast path, "How to read floating
 *     point numbers accurately", PLDI 1990); more digits or an exponent: `parseRequest`;
 *   - a unix-ms of 1..16 digits not above MAX_UNIX_MS (every step of the sum is exact
 *     below 2^53, and MAX_UNIX_MS is below it).
 *
 * Names are interned: a sensor sends the same few names over and over, so the string of
 * a name is looked up by its bytes in a small direct-mapped table shared by every session
 * (a hash of the bytes picks the entry, the bytes are compared with its characters) and
 * made only on a miss. A miss costs one string; the table has a fixed size.
 */
import { MAX_UNIX_MS } from './request.ts';

/** The fields of the last PUT line read (one object, reused by the caller). */
export interface PutFields {
  name: string;
  value: number;
  /** -1: the line had no unix-ms (the session stamps it). */
  timestamp: number;
}

const SPACE = 0x20;
const TAB = 0x09;
const DOT = 0x2e;
const PLUS = 0x2b;
const MINUS = 0x2d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
/** A-Z a-z differ in this bit alone. */
const LOWER_CASE_BIT = 0x20;

/** Digits of a number taken here at most (m < 10^15 < 2^53) and of a fraction (10^15 is exact). */
const MAX_DIGITS = 15;
const MAX_TIMESTAMP_DIGITS = 16;
const MAX_NAME_LENGTH = 64;

/** 10^0 .. 10^15, each exact as a double. */
const POWERS_OF_TEN = Array.from({ length: MAX_DIGITS + 1 }, (_, exponent) => 10 ** exponent);

/**
 * Entries of the name table (a power of two): ~32 KiB of pointers for the whole service,
 * made by the first PUT read here, so a device that has had none (or a firmware whose
 * sensor service is off) does not hold it from start-up (issue 13, idle RSS).
 */
const NAME_TABLE_SIZE = 4096;
let nameTable: (string | undefined)[] | undefined;
const ASCII = new TextDecoder();

/** A-Z a-z 0-9 _ . / - (IDENTIFIER_PATTERN, storage/readings.ts). */
function isIdentifierByte(byte: number): boolean {
  return (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || byte === 0x5f || byte === 0x2e || byte === 0x2f || byte === 0x2d;
}

function isBlank(byte: number): boolean {
  return byte === SPACE || byte === TAB;
}

/**
 * Reads the line `line[start, end)` (without its LF) as a PUT into `into`; false when it
 * is not the common form described above (then `into` is unspecified and the line goes
 * to `parseRequest`).
 */
export function parsePutLine(line: Uint8Array, start: number, end: number, into: PutFields): boolean {
  let at = start;
  while (at < end && isBlank(line[at]!)) at++;
  // The verb: exactly three letters P U T, then a blank.
  if (end - at < 4) return false;
  if ((line[at]! | LOWER_CASE_BIT) !== 0x70 || (line[at + 1]! | LOWER_CASE_BIT) !== 0x75 || (line[at + 2]! | LOWER_CASE_BIT) !== 0x74) return false;
  at += 3;
  if (!isBlank(line[at]!)) return false;
  while (at < end && isBlank(line[at]!)) at++;

  // The name, hashed (FNV-1a) while it is checked.
  const nameStart = at;
  let hash = 0x811c9dc5;
  while (at < end) {
    const byte = line[at]!;
    if (!isIdentifierByte(byte)) break;
    hash = Math.imul(hash ^ byte, 0x01000193);
    at++;
  }
  const nameEnd = at;
  if (nameEnd === nameStart || nameEnd - nameStart > MAX_NAME_LENGTH || at === end || !isBlank(line[at]!)) return false;
  while (at < end && isBlank(line[at]!)) at++;

  // The number: [+-]? (digits [. digits?] | . digits), no exponent.
  let negative = false;
  if (at < end && (line[at] === PLUS || line[at] === MINUS)) {
    negative = line[at] === MINUS;
    at++;
  }
  let mantissa = 0;
  let digits = 0;
  let fractionDigits = 0;
  while (at < end && line[at]! >= DIGIT_0 && line[at]! <= DIGIT_9) {
    mantissa = mantissa * 10 + (line[at]! - DIGIT_0);
    digits++;
    at++;
  }
  if (at < end && line[at] === DOT) {
    at++;
    while (at < end && line[at]! >= DIGIT_0 && line[at]! <= DIGIT_9) {
      mantissa = mantissa * 10 + (line[at]! - DIGIT_0);
      fractionDigits++;
      at++;
    }
    digits += fractionDigits;
  }
  if (digits === 0 || digits > MAX_DIGITS) return false;
  if (at < end && !isBlank(line[at]!)) return false;
  const magnitude = fractionDigits === 0 ? mantissa : mantissa / POWERS_OF_TEN[fractionDigits]!;
  while (at < end && isBlank(line[at]!)) at++;

  // The optional unix-ms, then nothing but blanks.
  let timestamp = -1;
  if (at < end) {
    let stamp = 0;
    let stampDigits = 0;
    while (at < end && line[at]! >= DIGIT_0 && line[at]! <= DIGIT_9) {
      stamp = stamp * 10 + (line[at]! - DIGIT_0);
      stampDigits++;
      at++;
    }
    if (stampDigits === 0 || stampDigits > MAX_TIMESTAMP_DIGITS || stamp > MAX_UNIX_MS) return false;
    while (at < end && isBlank(line[at]!)) at++;
    if (at < end) return false;
    timestamp = stamp;
  }

  into.name = internName(line, nameStart, nameEnd, hash);
  into.value = negative ? -magnitude : magnitude;
  into.timestamp = timestamp;
  return true;
}

/** The string of the identifier bytes line[start, end): the table's when it holds it, else made and kept. */
function internName(line: Uint8Array, start: number, end: number, hash: number): string {
  nameTable ??= new Array<string | undefined>(NAME_TABLE_SIZE).fill(undefined);
  const slot = (hash >>> 0) & (NAME_TABLE_SIZE - 1);
  const known = nameTable[slot];
  if (known !== undefined && sameName(known, line, start, end)) return known;
  // ASCII only here (identifier bytes), which every decoder reads alike.
  const name = ASCII.decode(line.subarray(start, end));
  nameTable[slot] = name;
  return name;
}

/** Whether the name table has been made yet (for the test of the idle footprint). */
export function nameTableMade(): boolean {
  return nameTable !== undefined;
}

function sameName(name: string, line: Uint8Array, start: number, end: number): boolean {
  if (name.length !== end - start) return false;
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) !== line[start + i]) return false;
  return true;
}
