/**
 * The leaf builders of the configuration schema (firmware/config/schema.ts): one
 * function per kind of value (integer, duration, size, flag, choice, checked
 * string), each registering the key's reference text (`keyInfo`) beside its check,
 * so `--help`, the docs and the error messages cannot drift from what is accepted.
 *
 * Every builder takes the default as a value and writes it into the reference in the
 * form one would write it in the file (`10s`, `16KiB`).
 */
import * as z from 'zod/mini';
import { formatDuration, formatSize, parseDuration, parseSize } from '../units.ts';

/** What `describeConfig()` reports for one key. */
export interface ConfigKeyDescription {
  /** Dotted path, e.g. `tcp.keepalive.idle`. */
  key: string;
  /** What the key accepts, in the words of the error messages. */
  allowed: string;
  /** The default in the form one would write it in the file, or a sentence when it depends on the machine. */
  defaultValue: string;
  description: string;
}

export type KeyInfo = Omit<ConfigKeyDescription, 'key'>;

/** Attaches the reference text to each leaf schema, so the docs cannot drift from the checks. */
export const keyInfo = z.registry<KeyInfo>();

export const KIB = 1024;
export const MIB = 1024 * KIB;
export const GIB = 1024 * MIB;
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;

export function integer(min: number, max: number, fallback: number, description: string) {
  const allowed = `an integer between ${min} and ${max}`;
  const error = `must be ${allowed}`;
  return z
    ._default(z.int({ error }).check(z.minimum(min, { error }), z.maximum(max, { error })), fallback)
    .register(keyInfo, { allowed, defaultValue: String(fallback), description });
}

export function port(fallback: number, description: string) {
  return integer(1, 65535, fallback, description);
}

/** A check for values that need more than a type and a range: the normalized value, or why not. */
export type Check<T> = (input: unknown) => { value: T } | { message: string };

/** A leaf checked by a function, which also writes the message. */
export function checked<T>(check: Check<T>) {
  return z.pipe(
    z.unknown(),
    z.transform((input, payload) => {
      const result = check(input);
      if ('message' in result) {
        payload.issues.push({ code: 'custom', message: result.message, input });
        return z.NEVER;
      }
      return result.value;
    }),
  );
}

/** How a quantity with a unit is written and read: `10s` and `16KiB` (units.ts). */
interface Unit {
  noun: string;
  parse: (input: unknown) => number | undefined;
  format: (value: number) => string;
}

const DURATION: Unit = { noun: 'duration', parse: parseDuration, format: formatDuration };
const SIZE: Unit = { noun: 'size', parse: parseSize, format: formatSize };

/** A quantity in `unit` between `min` and `max`, resolved to the unit's base (ms, bytes). */
function quantity(unit: Unit, min: number, max: number, fallback: number, description: string) {
  const allowed = `a ${unit.noun} between ${unit.format(min)} and ${unit.format(max)}`;
  const check: Check<number> = (input) => {
    const value = unit.parse(input);
    return value === undefined || value < min || value > max ? { message: `must be ${allowed}` } : { value };
  };
  return z._default(checked(check), fallback).register(keyInfo, { allowed, defaultValue: unit.format(fallback), description });
}

/** A duration, resolved to milliseconds. */
export function duration(min: number, max: number, fallback: number, description: string) {
  return quantity(DURATION, min, max, fallback, description);
}

/** A size, resolved to bytes. */
export function size(min: number, max: number, fallback: number, description: string) {
  return quantity(SIZE, min, max, fallback, description);
}

export function flag(fallback: boolean, description: string) {
  return z
    ._default(z.boolean({ error: 'must be true or false' }), fallback)
    .register(keyInfo, { allowed: 'true or false', defaultValue: String(fallback), description });
}

export function choice<const Values extends readonly [string, ...string[]]>(values: Values, fallback: Values[number], description: string) {
  const allowed = `one of ${values.join(', ')}`;
  return z
    ._default(z.enum(values, { error: `must be ${allowed}` }), fallback)
    .register(keyInfo, { allowed, defaultValue: fallback, description });
}

export function optionalChecked<T>(allowed: string, check: Check<T>, defaultValue: string, description: string) {
  return z.optional(checked(check)).register(keyInfo, { allowed, defaultValue, description });
}

/** The fallback goes through the check too (`prefault`), so a default can never be a value the check refuses. */
export function defaultedChecked<T>(allowed: string, check: Check<T>, fallback: T, defaultValue: string, description: string) {
  return z.prefault(checked(check), fallback).register(keyInfo, { allowed, defaultValue, description });
}
