/**
 * Reply lines of the sensor protocol (SPEC §4), each ending in LF. Numbers are
 * written as JavaScript's shortest round-trip form (ECMA-262 Number::toString),
 * which `parseNumber` reads back to the same double; -0 keeps its sign.
 */
import type { Reading } from '../../storage/readings.ts';

export function formatNumber(value: number): string {
  return Object.is(value, -0) ? '-0' : String(value);
}

export const Reply = {
  ok: (): string => 'OK\n',
  hello: (sensorId: string): string => `OK hello ${sensorId}\n`,
  value: (reading: Reading): string =>
    `VAL ${reading.name} ${formatNumber(reading.value)} ${Math.trunc(reading.timestamp)} ${reading.source}\n`,
  unknown: (name: string): string => `ERR 404 unknown ${name}\n`,
  end: (): string => 'END\n',
  time: (unixMs: number): string => `TIME ${Math.trunc(unixMs)}\n`,
  pong: (token: string | undefined): string => (token === undefined ? 'PONG\n' : `PONG ${token}\n`),
  bye: (): string => 'BYE\n',
  error: (line: string): string => `${line}\n`,
  tooLong: (): string => 'ERR 413 line too long\n',
  rateLimited: (): string => 'ERR 429 rate limited\n',
  unavailable: (): string => 'ERR 503 store unavailable\n',
  storeFull: (): string => 'ERR 503 store full\n',
  tooSlow: (): string => 'ERR 507 too slow\n',
} as const;
