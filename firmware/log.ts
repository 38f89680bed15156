/**
 * The firmware's log (SPEC section 2): one JSON object a line on stdout, each with
 * `level` (text), `ts` (ISO-8601) and `event`, then the event's fields, and nothing
 * else (no pid, no hostname: journald and the shell already know those).
 *
 * pino writes the lines, synchronously, so the last lines before an exit or a crash
 * are not lost in a buffer. `pretty` is a one-line human form of the same record for
 * a terminal. The last lines (JSON, whatever the output format) stay in a ring for
 * the shell's `log [n]`.
 *
 * Stack events reach the log through `logger.events`, an `EventSink` (src/events.ts):
 * the core emits `conn_close { reason }`, the logger writes the line.
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import type { EventFields, EventSink } from '../src/events.ts';
import type { LogFormat, LogLevel } from './config/schema.ts';

export interface LogDestination {
  write(text: string): unknown;
}

export interface LoggerOptions {
  /** `json` (default) or `pretty`. */
  format?: LogFormat;
  /** Lines below this level are not written (default `info`). */
  level?: LogLevel;
  /** A stream-like object, or a file descriptor written synchronously (default 1, stdout). */
  destination?: LogDestination | number;
  /** Wall-clock time for `ts`, in ms since the epoch (default `Date.now`); tests pass a ManualClock. */
  clock?: { now(): number };
  /** How many recent lines `recent()` keeps (default 1000). */
  recentCapacity?: number;
}

export interface Logger {
  debug(event: string, fields?: EventFields): void;
  info(event: string, fields?: EventFields): void;
  warn(event: string, fields?: EventFields): void;
  error(event: string, fields?: EventFields): void;
  /** Writes stack events as log lines, at the level `levelForEvent` gives. */
  readonly events: EventSink;
  /** The last `count` lines written (all kept ones by default), oldest first, as JSON without the newline. */
  recent(count?: number): string[];
  /** Pushes anything buffered to the destination (before exit). */
  flush(): void;
}

/** Events that mean something is wrong; everything else the core emits is `info`. */
const WARNING_EVENTS: ReadonlySet<string> = new Set(['fault', 'peer_lost', 'auth_fail', 'auth_lockout', 'auth_denied', 'auth_busy', 'auth_slowdown']);

export function levelForEvent(event: string, fields: EventFields = {}): LogLevel {
  if (WARNING_EVENTS.has(event)) return 'warn';
  if (event === 'link' && fields['carrier'] === 'down') return 'warn';
  return 'info';
}

/**
 * The keys every line starts with, and pino's error key (which would add a `msg`):
 * a field of the same name is written with a `_` prefix so it cannot shadow them.
 */
const RESERVED_KEYS: ReadonlySet<string> = new Set(['level', 'ts', 'event', 'err']);

/**
 * Makes event fields safe and readable in JSON: bytes as hex (MAC addresses with
 * colons), errors as name/message/code, bigints as strings. Only the top level is
 * looked at; events carry flat fields.
 */
function normalizeFields(fields: EventFields): EventFields {
  const normalized: EventFields = {};
  for (const [key, value] of Object.entries(fields)) {
    const name = RESERVED_KEYS.has(key) ? `_${key}` : key;
    normalized[name] = normalizeValue(value);
  }
  return normalized;
}

function normalizeValue(value: unknown): unknown {
  if (value instanceof Uint8Array) {
    const separator = value.length === 6 ? ':' : '';
    return Array.from(value, (octet) => octet.toString(16).padStart(2, '0')).join(separator);
  }
  if (value instanceof Error) {
    const code = (value as NodeJS.ErrnoException).code;
    return code === undefined ? { name: value.name, message: value.message } : { name: value.name, message: value.message, code };
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** A fixed-size ring of the last lines: the shell's `log [n]` without growing memory. */
class RecentLines {
  private readonly lines: (string | undefined)[];
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.lines = new Array<string | undefined>(capacity);
  }

  push(line: string): void {
    if (this.capacity === 0) return;
    this.lines[this.next] = line;
    this.next = (this.next + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
  }

  last(count: number): string[] {
    const take = Math.max(0, Math.min(Math.floor(count), this.count));
    const result: string[] = [];
    for (let index = take; index > 0; index -= 1) {
      const line = this.lines[(this.next - index + this.capacity) % this.capacity];
      if (line !== undefined) result.push(line);
    }
    return result;
  }
}

/** `2025-01-01T12:00:00.000Z WARN  peer_lost remote=198.18.0.7:4000 reason=keepalive_timeout` */
export function formatPretty(jsonLine: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch {
    return jsonLine;
  }
  const { ts, level, event, ...fields } = record;
  const parts = [String(ts), String(level).toUpperCase().padEnd(5), String(event)];
  for (const [key, value] of Object.entries(fields)) parts.push(`${key}=${prettyValue(value)}`);
  return parts.join(' ');
}

function prettyValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

function isoTime(clock: { now(): number }): string {
  const now = clock.now();
  // A broken clock must not take the logger down with a RangeError.
  return new Date(Number.isFinite(now) ? now : Date.now()).toISOString();
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const format = options.format ?? 'json';
  const clock = options.clock ?? { now: () => Date.now() };
  const recentLines = new RecentLines(Math.max(0, Math.floor(options.recentCapacity ?? 1000)));
  const target =
    typeof options.destination === 'object' ? options.destination : pino.destination({ dest: options.destination ?? 1, sync: true });
  const flushTarget = (): void => {
    const flushable = target as { flushSync?: () => void };
    try {
      flushable.flushSync?.();
    } catch {
      // Nothing left to do about an output that is gone.
    }
  };
  if ('on' in target && typeof target.on === 'function') {
    // Without a listener, an EPIPE on stdout would be an uncaught 'error' and end the firmware.
    (target as { on(name: string, listener: () => void): void }).on('error', () => undefined);
  }

  const destination: DestinationStream = {
    write(line: string): void {
      const json = line.endsWith('\n') ? line.slice(0, -1) : line;
      recentLines.push(json);
      try {
        target.write(format === 'pretty' ? `${formatPretty(json)}\n` : `${json}\n`);
      } catch {
        // Logging must never stop the firmware: a closed stdout loses lines, not the device.
      }
    },
  };

  const writer: PinoLogger = pino(
    {
      level: options.level ?? 'info',
      base: null,
      timestamp: () => `,"ts":"${isoTime(clock)}"`,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );

  const write = (level: LogLevel, event: string, fields: EventFields = {}): void => {
    writer[level]({ event, ...normalizeFields(fields) });
  };

  return {
    debug: (event, fields) => write('debug', event, fields),
    info: (event, fields) => write('info', event, fields),
    warn: (event, fields) => write('warn', event, fields),
    error: (event, fields) => write('error', event, fields),
    events: { emit: (event, fields = {}) => write(levelForEvent(event, fields), event, fields) },
    recent: (count = recentLines.capacity) => recentLines.last(count),
    flush: () => {
      writer.flush();
      flushTarget();
    },
  };
}
