/**
 * Durations and sizes as people write them in a configuration file or on the
 * command line (SPEC section 2): a duration is milliseconds as a number, or a
 * string with a unit (`"250ms"`, `"10s"`, `"2m"`, parsed by the `ms` package); a
 * size is bytes as a number, or a string with a unit (`"16KiB"`, `"1MiB"`).
 *
 * Parsers return undefined for anything they do not understand (the caller turns
 * that into a message naming the key); they never throw. Results are whole numbers:
 * the stack's timers and buffers do not deal in fractions of a millisecond or byte.
 */
import ms from 'ms';

/** Milliseconds in each unit `formatDuration` may print, largest first. */
const DURATION_UNITS = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
] as const;

/**
 * Binary (IEC) units, and the decimal ones people also type. The unit names are
 * case-sensitive because `Mb` (megabit) and `MB` are different things; anything
 * else is rejected rather than guessed.
 */
const SIZE_UNITS: Readonly<Record<string, number>> = {
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  kB: 1000,
  KB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
};

/** A number, optionally with a fraction, then an optional unit; spaces allowed between. */
const SIZE_PATTERN = /^([0-9]+(?:\.[0-9]+)?) ?([A-Za-z]+)?$/;

/** Milliseconds from a number of milliseconds or a string such as `"10s"`; undefined if not a whole, non-negative number of ms. */
export function parseDuration(value: unknown): number | undefined {
  let milliseconds: number | undefined;
  if (typeof value === 'number') {
    milliseconds = value;
  } else if (typeof value === 'string') {
    // `ms` throws on an empty string and accepts a sign; a negative duration is never
    // meant, so both are refused here.
    const text = value.trim();
    if (text.length === 0 || text.startsWith('-') || text.startsWith('+')) return undefined;
    milliseconds = ms(text as ms.StringValue) as number | undefined;
  }
  if (milliseconds === undefined || !Number.isSafeInteger(milliseconds) || milliseconds < 0) return undefined;
  return milliseconds;
}

/** Bytes from a number of bytes or a string such as `"16KiB"`; undefined if not a whole, non-negative number of bytes. */
export function parseSize(value: unknown): number | undefined {
  let bytes: number | undefined;
  if (typeof value === 'number') {
    bytes = value;
  } else if (typeof value === 'string') {
    const match = SIZE_PATTERN.exec(value.trim());
    if (!match) return undefined;
    const multiplier = SIZE_UNITS[match[2] ?? 'B'];
    if (multiplier === undefined) return undefined;
    bytes = Number(match[1]) * multiplier;
  }
  if (bytes === undefined || !Number.isSafeInteger(bytes) || bytes < 0) return undefined;
  return bytes;
}

/** The shortest exact form: 7200000 → `"2h"`, 1500 → `"1500ms"`, 0 → `"0ms"`. */
export function formatDuration(milliseconds: number): string {
  if (milliseconds !== 0) {
    for (const [unit, size] of DURATION_UNITS) {
      if (milliseconds % size === 0) return `${milliseconds / size}${unit}`;
    }
  }
  return `${milliseconds}ms`;
}

/** The shortest exact binary form: 16384 → `"16KiB"`, 1000 → `"1000B"`. */
export function formatSize(bytes: number): string {
  for (const unit of ['GiB', 'MiB', 'KiB'] as const) {
    const size = SIZE_UNITS[unit] ?? 1;
    if (bytes !== 0 && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}
