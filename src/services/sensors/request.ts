/**
 * The sensor line protocol's requests (SPEC §4): one UTF-8 line in, a typed request
 * or the exact error reply out. Never throws, whatever the bytes: binary garbage,
 * NUL bytes, invalid UTF-8 and unknown verbs all become `ERR 400 ...`.
 *
 * Syntax: fields are separated by one or more spaces or tabs; leading and trailing
 * blanks are ignored; verbs are case-insensitive, arguments are not. A blank line is
 * no request at all (telnet users press Enter) and gets no reply.
 */
import { isIdentifier } from '../../storage/readings.ts';
import { isValidGlob } from './glob.ts';

export type Request =
  | { verb: 'HELLO'; sensorId: string }
  | { verb: 'PUT'; name: string; value: number; timestamp: number | undefined }
  | { verb: 'GET'; name: string }
  | { verb: 'LIST' }
  | { verb: 'SUB'; glob: string }
  | { verb: 'UNSUB' }
  | { verb: 'TIME' }
  | { verb: 'PING'; token: string | undefined }
  | { verb: 'QUIET'; on: boolean }
  | { verb: 'QUIT' };

export type ParseResult = { ok: true; request: Request } | { ok: false; error: string } | { ok: 'blank' };

/**
 * Decimal numbers only: integers, decimals and exponents (`-12`, `3.5`, `.5`, `1e-3`).
 * No hex, no `Infinity`/`NaN`, no `_`: Number() alone would take those.
 */
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
/** unix-ms: a non-negative integer; 16 digits is far past any date JavaScript can hold. */
const UNIX_MS = /^\d{1,16}$/;
/** The largest instant a JavaScript Date holds (ECMA-262 §21.4.1.22). */
export const MAX_UNIX_MS = 8.64e15;
/** PING tokens: printable ASCII without blanks, like a sensor-id but looser. */
const PING_TOKEN = /^[\x21-\x7e]{1,64}$/;
/** Verbs echoed in "unknown verb" errors must be harmless to print. */
const ECHOABLE = /^[A-Za-z0-9_.-]{1,16}$/;

const decoder = new TextDecoder('utf-8', { fatal: true });

export function parseNumber(text: string): number | undefined {
  if (!NUMBER.test(text)) return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

const BLANK: ParseResult = { ok: 'blank' };
const fail = (error: string): ParseResult => ({ ok: false, error });
const ok = (request: Request): ParseResult => ({ ok: true, request });

/** `ERR 400 usage: ...` when `args` has fewer than `min` or more than `max` fields. */
function arity(args: readonly string[], min: number, max: number, usage: string): string | undefined {
  return args.length < min || args.length > max ? `ERR 400 usage: ${usage}` : undefined;
}

const SPACE = 0x20;
const TAB = 0x09;

/** The fields of `text` between runs of spaces and tabs (what split(/[ \t]+/) minus empties gives, in one pass). */
function splitFields(text: string): string[] {
  const fields: string[] = [];
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === SPACE || code === TAB) {
      if (start >= 0) fields.push(text.substring(start, i));
      start = -1;
    } else if (start < 0) {
      start = i;
    }
  }
  if (start >= 0) fields.push(text.substring(start));
  return fields;
}

/**
 * One request line (without its LF) to a request or its error reply. Every request
 * passes here (hundreds of thousands a second on a busy gateway): one pass over the
 * bytes, one string, one array of fields.
 */
export function parseRequest(line: Uint8Array): ParseResult {
  for (let i = 0; i < line.length; i++) {
    const byte = line[i]!;
    // Control characters other than TAB (NUL included) have no place in a request.
    if ((byte < 0x20 && byte !== TAB) || byte === 0x7f) return fail('ERR 400 control character in line');
  }
  let text: string;
  try {
    text = decoder.decode(line);
  } catch {
    return fail('ERR 400 invalid UTF-8');
  }
  const args = splitFields(text);
  const verbText = args.shift();
  if (verbText === undefined) return BLANK;
  const verb = verbText.toUpperCase();

  switch (verb) {
    case 'HELLO': {
      const usage = arity(args, 1, 1, 'HELLO <sensor-id>');
      if (usage) return fail(usage);
      const sensorId = args[0]!;
      if (!isIdentifier(sensorId)) return fail('ERR 400 bad sensor-id (1-64 of A-Z a-z 0-9 _ . - /)');
      return ok({ verb, sensorId });
    }
    case 'PUT': {
      const usage = arity(args, 2, 3, 'PUT <name> <number> [<unix-ms>]');
      if (usage) return fail(usage);
      const name = args[0]!;
      if (!isIdentifier(name)) return fail('ERR 400 bad name (1-64 of A-Z a-z 0-9 _ . - /)');
      const value = parseNumber(args[1]!);
      if (value === undefined) return fail('ERR 400 bad number');
      let timestamp: number | undefined;
      if (args[2] !== undefined) {
        timestamp = UNIX_MS.test(args[2]) ? Number(args[2]) : undefined;
        if (timestamp === undefined || timestamp > MAX_UNIX_MS) return fail('ERR 400 bad unix-ms');
      }
      return ok({ verb, name, value, timestamp });
    }
    case 'GET': {
      const usage = arity(args, 1, 1, 'GET <name>');
      if (usage) return fail(usage);
      if (!isIdentifier(args[0]!)) return fail('ERR 400 bad name (1-64 of A-Z a-z 0-9 _ . - /)');
      return ok({ verb, name: args[0]! });
    }
    case 'LIST':
    case 'UNSUB':
    case 'TIME':
    case 'QUIT': {
      const usage = arity(args, 0, 0, verb);
      if (usage) return fail(usage);
      return ok({ verb });
    }
    case 'SUB': {
      const usage = arity(args, 1, 1, 'SUB <glob>');
      if (usage) return fail(usage);
      if (!isValidGlob(args[0]!)) return fail('ERR 400 bad glob (1-64 of A-Z a-z 0-9 _ . - / * ?)');
      return ok({ verb, glob: args[0]! });
    }
    case 'PING': {
      const usage = arity(args, 0, 1, 'PING [token]');
      if (usage) return fail(usage);
      const token = args[0];
      if (token !== undefined && !PING_TOKEN.test(token)) return fail('ERR 400 bad token (1-64 printable ASCII)');
      return ok({ verb, token });
    }
    case 'QUIET': {
      const usage = arity(args, 1, 1, 'QUIET on|off');
      const setting = args[0]?.toLowerCase();
      if (usage || (setting !== 'on' && setting !== 'off')) return fail('ERR 400 usage: QUIET on|off');
      return ok({ verb, on: setting === 'on' });
    }
    default:
      return fail(ECHOABLE.test(verbText) ? `ERR 400 unknown verb ${verbText}` : 'ERR 400 unknown verb');
  }
}
