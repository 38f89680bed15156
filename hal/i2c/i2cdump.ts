/**
 * Register images from `i2cdump` output (i2c-tools), for `--i2c sim:FILE` (SPEC §7):
 * a technician runs `i2cdump -y 1 0x76 > sensor.txt` on a Pi, puts an
 * `# address 0x76` line before it, and the firmware replays that sensor off-device.
 *
 * The file holds one or more dumps, each after an `# address 0xNN` line:
 *
 *     # address 0x76
 *          0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f    0123456789abcdef
 *     00: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00    ................
 *     ...
 *     f0: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00    ................
 *
 * Accepted besides: blank lines, other `#` comments, the column header, the
 * "No size specified (using byte-data access)" note i2cdump prints when stderr was
 * captured too, `XX` cells (i2cdump's mark for a register whose read failed; replayed
 * as a failing read) and blank cells (outside an `-r` range; replayed as 0x00, what a
 * BME280 answers for reserved registers). Anything else is refused with the line
 * number and what was expected, because a silently misread image would replay wrong
 * readings with nobody the wiser. Word-mode dumps (`i2cdump ... w`) are refused too.
 *
 * The file is operator input, so the parser returns an error value instead of throwing;
 * `loadI2cdumpFile` turns it into an Error for start-up to report.
 */
import { readFile } from 'node:fs/promises';
import { formatHex } from './bus.ts';

export interface RegisterImage {
  address: number;
  /** 256 entries: the byte at each register, or undefined where the dump shows XX. */
  registers: (number | undefined)[];
  /** Where the dump's `# address` line is (1-based), for messages. */
  line: number;
}

export interface I2cdumpError {
  line: number;
  message: string;
}

export type I2cdumpResult = { ok: true; value: RegisterImage[] } | { ok: false; error: I2cdumpError };

const ADDRESS_LINE = /^#\s*address\s+(\S+)\s*$/i;
const HEADER_LINE = /^\s+0\s+1\s+2\s+3\s+4\s+5\s+6\s+7\s+8\s+9\s+a\s+b\s+c\s+d\s+e\s+f(\s+0123456789abcdef)?\s*$/;
const ROW_LINE = /^([0-9a-f]{2}):((?: (?:[0-9a-f]{2}|XX| {2})){16})(?: .*)?$/i;
/** The column header and rows of `i2cdump ... w`: `     0,8  1,9 ...`, `00: 0000 0000 ...`. */
const WORD_MODE_LINE = /^(\s+0,8\s+1,9\b|[0-9a-f]{2}: [0-9a-f]{4}\b)/i;
const NOTE_LINES = [/^No size specified \(using byte-data access\)$/];

export function parseI2cdump(text: string): I2cdumpResult {
  const images: RegisterImage[] = [];
  let current: (RegisterImage & { rows: Set<number> }) | undefined;
  const lines = text.split(/\r?\n/);
  const failure = (line: number, message: string): I2cdumpResult => ({ ok: false, error: { line, message } });
  const finish = (): I2cdumpResult | undefined => {
    if (current && current.rows.size === 0) return failure(current.line, `no register rows after '# address ${formatHex(current.address)}'`);
    return undefined;
  };

  for (let index = 0; index < lines.length; index++) {
    const number = index + 1;
    const line = lines[index]!.replace(/\s+$/, '');
    if (line === '') continue;
    const addressMatch = ADDRESS_LINE.exec(line);
    if (addressMatch) {
      const problem = finish();
      if (problem) return problem;
      const address = parseAddress(addressMatch[1]!);
      if (address === undefined) return failure(number, `'${addressMatch[1]!}' is not a 7-bit I2C address (expected 0x03..0x77, like '# address 0x76')`);
      if (images.some((image) => image.address === address)) return failure(number, `address ${formatHex(address)} is dumped twice`);
      current = { address, registers: new Array<number | undefined>(256).fill(0), line: number, rows: new Set() };
      images.push(current);
      continue;
    }
    if (line.startsWith('#')) continue;
    if (HEADER_LINE.test(line) || NOTE_LINES.some((note) => note.test(line))) continue;
    const row = ROW_LINE.exec(line);
    if (!row) {
      if (WORD_MODE_LINE.test(line)) return failure(number, 'word-mode dump (i2cdump ... w); dump in byte mode: i2cdump -y BUS ADDRESS');
      return failure(number, `expected a dump row like '00: 00 11 22 ... ff' (16 hex bytes), a '# address 0xNN' line or the column header; got '${truncate(line)}'`);
    }
    if (!current) return failure(number, "register rows before any '# address 0xNN' line");
    const base = Number.parseInt(row[1]!, 16);
    if (base % 16 !== 0) return failure(number, `row offset ${row[1]!} is not a multiple of 0x10`);
    if (current.rows.has(base)) return failure(number, `row ${row[1]!} appears twice in the dump for ${formatHex(current.address)}`);
    current.rows.add(base);
    const cells = row[2]!;
    for (let column = 0; column < 16; column++) {
      const cell = cells.slice(column * 3 + 1, column * 3 + 3);
      current.registers[base + column] = cell.toUpperCase() === 'XX' ? undefined : cell === '  ' ? 0 : Number.parseInt(cell, 16);
    }
  }
  const problem = finish();
  if (problem) return problem;
  if (images.length === 0) return failure(1, "no '# address 0xNN' line: put one before each i2cdump output");
  return { ok: true, value: images.map(({ address, registers, line }) => ({ address, registers, line })) };
}

function parseAddress(text: string): number | undefined {
  const value = /^0x[0-9a-f]{1,2}$/i.test(text) ? Number.parseInt(text, 16) : /^[0-9]{1,3}$/.test(text) ? Number.parseInt(text, 10) : NaN;
  return Number.isInteger(value) && value >= 0x03 && value <= 0x77 ? value : undefined;
}

function truncate(line: string): string {
  return line.length > 60 ? `${line.slice(0, 57)}...` : line;
}

/** Reads and parses a dump file; failures become an Error naming the file and line. */
export async function loadI2cdumpFile(path: string): Promise<RegisterImage[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot read i2cdump file ${path}: ${reason}`);
  }
  const result = parseI2cdump(text);
  if (!result.ok) throw new Error(`${path}:${result.error.line}: ${result.error.message}`);
  return result.value;
}
