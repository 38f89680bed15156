/**
 * Sensor readings: the value type, the log record format, and the in-memory
 * latest-value index that GET, LIST and SUB are served from (SPEC §4).
 *
 * Record format (all integers little-endian), one record per accepted reading:
 *
 *   offset size field
 *   0      4    payloadLength   bytes of payload that follow the 8-byte header
 *   4      4    crc             CRC-32C (Castagnoli) over bytes 0..3 and the payload
 *   8      1    version         RECORD_VERSION
 *   9      8    sequence        float64, an integer: strictly increasing across the log
 *   17     8    timestamp       float64, unix ms
 *   25     8    value           float64, finite
 *   33     1    nameLength      1..64, then that many ASCII bytes
 *   ..     1    sourceLength    1..64, then that many ASCII bytes
 *
 * The CRC covers the length field too, so a damaged length cannot make the decoder
 * take a random span of bytes for a record: it would also have to carry a matching
 * CRC. Decoding stops at the first record that is incomplete (a torn write: the
 * process or the power died mid-append) or that fails any check (CRC, version,
 * length bounds, name syntax): everything from there on is the "corrupt tail",
 * which the caller truncates and counts. Nothing past a bad record is ever read as
 * data, so a torn tail is never misread (SPEC §4).
 *
 * This module is pure: it encodes and decodes bytes; hal/store/log-file.ts owns
 * the files, fsync and timers.
 */
import { CRC32C_START, crc32cUpdate } from './crc32c.ts';
import type { Counters } from '../stats.ts';

/** A reading as the protocol and the store see it. */
export interface Reading {
  /** `A-Z a-z 0-9 _ . - /`, 1..64 characters (SPEC §4). */
  name: string;
  /** Finite number. */
  value: number;
  /** Wall-clock unix milliseconds. */
  timestamp: number;
  /** The sensor-id that sent it, or `i2c` for the device's own sensors. */
  source: string;
}

/** A reading as it sits in the log: with its log sequence number. */
export interface StoredReading extends Reading {
  sequence: number;
}

/** Names and sensor ids: SPEC §4 `<sensor-id>`, `<name>`. */
export const IDENTIFIER_PATTERN = /^[A-Za-z0-9_./-]{1,64}$/;
export const MAX_IDENTIFIER_LENGTH = 64;

/** IDENTIFIER_PATTERN as a loop over the characters (every PUT checks two of these). */
export function isIdentifier(text: string): boolean {
  const length = text.length;
  if (length < 1 || length > MAX_IDENTIFIER_LENGTH) return false;
  for (let i = 0; i < length; i++) if (!isIdentifierCode(text.charCodeAt(i))) return false;
  return true;
}

/** A-Z a-z 0-9 _ . / - */
function isIdentifierCode(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || code === 0x5f || code === 0x2e || code === 0x2f || code === 0x2d;
}

export const RECORD_VERSION = 1;
export const RECORD_HEADER_LENGTH = 8;
/** version + sequence + timestamp + value + two length bytes. */
const FIXED_PAYLOAD_LENGTH = 1 + 8 + 8 + 8 + 1 + 1;
/** The largest payload a valid record can have; a bigger length field is corruption. */
export const MAX_RECORD_PAYLOAD = FIXED_PAYLOAD_LENGTH + 2 * MAX_IDENTIFIER_LENGTH;

const Offset = {
  PAYLOAD_LENGTH: 0,
  CRC: 4,
  VERSION: 8,
  SEQUENCE: 9,
  TIMESTAMP: 17,
  VALUE: 25,
  NAME_LENGTH: 33,
} as const;

/** Why decoding stopped before the end of the buffer. */
export const TailProblem = {
  /** The buffer ends inside a record: an append that never finished. */
  TORN: 'torn',
  /** The length field is outside what any record can have. */
  BAD_LENGTH: 'bad-length',
  BAD_CRC: 'bad-crc',
  /** CRC fine but the content is not a valid reading (unknown version, bad name...). */
  BAD_RECORD: 'bad-record',
} as const;
export type TailProblem = (typeof TailProblem)[keyof typeof TailProblem];

export interface DecodeResult {
  records: StoredReading[];
  /** Bytes from the start of the buffer that hold whole valid records. */
  validLength: number;
  /** Set when validLength < buffer length: why the rest was not read. */
  tailProblem: TailProblem | undefined;
}

/** Bytes `encodeRecord` produces for this reading. */
export function recordLength(reading: Reading): number {
  return RECORD_HEADER_LENGTH + FIXED_PAYLOAD_LENGTH + reading.name.length + reading.source.length;
}

/**
 * Encodes one record. The reading must be valid (names checked by the caller):
 * an invalid one is a programmer error and throws.
 */
export function encodeRecord(reading: StoredReading): Uint8Array {
  const bytes = new Uint8Array(recordLength(reading));
  encodeRecordInto(bytes, new DataView(bytes.buffer), 0, reading, reading.sequence);
  return bytes;
}

/**
 * Encodes one record at `at` in `target` (`view` over the same bytes), with no
 * allocation of its own: the log store packs a whole group commit into one buffer this
 * way. `target` must have `recordLength(reading)` bytes free at `at`. Returns the offset
 * after the record. Invalid readings throw, as for `encodeRecord`.
 */
export function encodeRecordInto(target: Uint8Array, view: DataView, at: number, reading: Reading, sequence: number): number {
  if (!Number.isFinite(reading.value) || !Number.isFinite(reading.timestamp) || !Number.isSafeInteger(sequence)) {
    throw new RangeError('encodeRecord: value, timestamp and sequence must be finite (sequence an integer)');
  }
  // The names are checked as they are copied (one pass each): a record the decoder
  // would refuse must never reach the log, where it would end the valid prefix.
  const sourceAt = writeIdentifier(target, at + Offset.NAME_LENGTH, reading.name);
  const end = sourceAt < 0 ? -1 : writeIdentifier(target, sourceAt, reading.source);
  if (end < 0) throw new RangeError(`encodeRecord: invalid name or source: ${JSON.stringify(reading.name)} ${JSON.stringify(reading.source)}`);
  const payloadLength = end - at - RECORD_HEADER_LENGTH;
  view.setUint32(at + Offset.PAYLOAD_LENGTH, payloadLength, true);
  view.setUint8(at + Offset.VERSION, RECORD_VERSION);
  view.setFloat64(at + Offset.SEQUENCE, sequence, true);
  view.setFloat64(at + Offset.TIMESTAMP, reading.timestamp, true);
  view.setFloat64(at + Offset.VALUE, reading.value, true);
  view.setInt32(at + Offset.CRC, recordCrc(target, at, payloadLength), true);
  return end;
}

/** Writes a length byte and the identifier's characters; the offset after, or -1 when it is not an identifier. */
function writeIdentifier(bytes: Uint8Array, at: number, text: string): number {
  const length = text.length;
  if (length < 1 || length > MAX_IDENTIFIER_LENGTH) return -1;
  bytes[at] = length;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (!isIdentifierCode(code)) return -1;
    bytes[at + 1 + i] = code;
  }
  return at + 1 + length;
}

/**
 * CRC-32C over the length field and the payload of the record at `at` in `bytes`, as a
 * signed 32-bit integer (the bits of the CRC field: written and read with set/getInt32,
 * so no heap number per record).
 */
function recordCrc(bytes: Uint8Array, at: number, payloadLength: number): number {
  const overLength = crc32cUpdate(bytes, at + Offset.PAYLOAD_LENGTH, at + Offset.PAYLOAD_LENGTH + 4, CRC32C_START);
  return ~crc32cUpdate(bytes, at + RECORD_HEADER_LENGTH, at + RECORD_HEADER_LENGTH + payloadLength, overLength);
}

/**
 * Fields of a record that `encodeRecordInto` wrote at `at` (`view` over its bytes), read
 * back without a check: for the writer's own batch, whose records it just made (the log
 * store keeps no `Reading` object per pending write; issue 13).
 */
export function recordEndAt(view: DataView, at: number): number {
  return at + RECORD_HEADER_LENGTH + view.getUint32(at + Offset.PAYLOAD_LENGTH, true);
}
export function recordTimestampAt(view: DataView, at: number): number {
  return view.getFloat64(at + Offset.TIMESTAMP, true);
}
export function recordValueAt(view: DataView, at: number): number {
  return view.getFloat64(at + Offset.VALUE, true);
}

/**
 * Decodes the valid prefix of a log segment. Never throws, whatever the bytes.
 * With `counters`, a corrupt tail increments `store.drop.<problem>` once.
 */
export function decodeRecords(buffer: Uint8Array, counters?: Counters): DecodeResult {
  const records: StoredReading[] = [];
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let at = 0;
  let tailProblem: TailProblem | undefined;
  while (at < buffer.length) {
    const problem = decodeOne(buffer, view, at, records);
    if (typeof problem === 'string') {
      tailProblem = problem;
      break;
    }
    at = problem;
  }
  if (tailProblem !== undefined) counters?.increment(`store.drop.${tailProblem}`);
  return { records, validLength: at, tailProblem };
}

/** Decodes the record at `at`: the offset after it, or why it is not a record. */
function decodeOne(buffer: Uint8Array, view: DataView, at: number, into: StoredReading[]): number | TailProblem {
  if (buffer.length - at < RECORD_HEADER_LENGTH) return TailProblem.TORN;
  const payloadLength = view.getUint32(at + Offset.PAYLOAD_LENGTH, true);
  if (payloadLength < FIXED_PAYLOAD_LENGTH + 2 || payloadLength > MAX_RECORD_PAYLOAD) return TailProblem.BAD_LENGTH;
  const end = at + RECORD_HEADER_LENGTH + payloadLength;
  if (end > buffer.length) return TailProblem.TORN;
  const record = buffer.subarray(at, end);
  if (view.getInt32(at + Offset.CRC, true) !== recordCrc(buffer, at, payloadLength)) return TailProblem.BAD_CRC;
  if (view.getUint8(at + Offset.VERSION) !== RECORD_VERSION) return TailProblem.BAD_RECORD;
  const sequence = view.getFloat64(at + Offset.SEQUENCE, true);
  const timestamp = recordTimestampAt(view, at);
  const value = recordValueAt(view, at);
  const name = readShortAscii(record, Offset.NAME_LENGTH);
  if (name === undefined) return TailProblem.BAD_RECORD;
  const source = readShortAscii(record, Offset.NAME_LENGTH + 1 + name.length);
  if (source === undefined) return TailProblem.BAD_RECORD;
  if (Offset.NAME_LENGTH + 2 + name.length + source.length !== record.length) return TailProblem.BAD_RECORD;
  if (!Number.isSafeInteger(sequence) || !Number.isFinite(timestamp) || !Number.isFinite(value)) return TailProblem.BAD_RECORD;
  if (!isIdentifier(name) || !isIdentifier(source)) return TailProblem.BAD_RECORD;
  into.push({ sequence, timestamp, value, name, source });
  return end;
}

function readShortAscii(record: Uint8Array, at: number): string | undefined {
  const length = record[at];
  if (length === undefined || at + 1 + length > record.length) return undefined;
  let text = '';
  for (let i = 0; i < length; i++) text += String.fromCharCode(record[at + 1 + i]!);
  return text;
}

// ---- the latest-value index ------------------------------------------------------------

export type ReadingListener = (reading: Reading) => void;

/** Told when a `ReadingStore.write` is settled; `token` says which write. */
export interface CommitListener<Token> {
  committed(token: Token, error: Error | undefined): void;
}

/** `append` in terms of `write`: a promise settled by the commit. */
export function appendByWrite(store: Pick<ReadingStore, 'write'>, reading: Reading): Promise<void> {
  return new Promise<void>((resolve, reject) => store.write(reading, PROMISE_LISTENER, { resolve, reject }));
}

const PROMISE_LISTENER: CommitListener<{ resolve: () => void; reject: (error: Error) => void }> = {
  committed: (token, error) => (error === undefined ? token.resolve() : token.reject(error)),
};

/** Settles a write that is refused before it is queued: later, as `write` promises. */
export function refuseWrite<Token>(listener: CommitListener<Token>, token: Token, error: Error): void {
  queueMicrotask(() => listener.committed(token, error));
}

/** What the sensor service needs from a store (the log file in hal/, a memory one in tests). */
export interface ReadingStore {
  /**
   * Appends a reading. The promise resolves once the reading is committed (fsynced)
   * and rejects when the store cannot take it (it is then not stored: ERR 503).
   */
  append(reading: Reading): Promise<void>;
  /**
   * `append` without a promise, for the ingest path: `listener.committed(token,
   * undefined)` once the reading is committed, `listener.committed(token, error)` when
   * it is refused; always later, never from inside `write`, and in write order. The
   * store may keep `reading` (the object itself) until then: the caller must not change
   * it. What the index and subscribers see after the commit may be another object with
   * the same fields.
   */
  write<Token>(reading: Reading, listener: CommitListener<Token>, token: Token): void;
  latest(name: string): Reading | undefined;
  /** Latest reading of every known name, sorted by name. */
  list(): Reading[];
  /** Calls `listener` with each committed reading; returns the unsubscribe function. */
  subscribe(listener: ReadingListener): () => void;
}

/** Default bound on distinct names kept in memory (each costs roughly 200 bytes). */
export const DEFAULT_MAX_NAMES = 10_000;

/**
 * Latest reading per name plus committed-reading fan-out. "Latest" is by timestamp:
 * a sensor back-filling older readings does not hide the current value; on equal
 * timestamps the later write wins. Memory is bounded by `maxNames`: a reading for a
 * new name beyond it is refused (`accepts` tells, before the append).
 */
export class LatestIndex {
  private readonly latestByName = new Map<string, Reading>();
  private readonly listeners = new Set<ReadingListener>();
  /** The listeners as an array, made anew on (un)subscribe: commit() copies nothing. */
  private listenerSnapshot: readonly ReadingListener[] = [];

  constructor(readonly maxNames: number = DEFAULT_MAX_NAMES) {}

  get size(): number {
    return this.latestByName.size;
  }

  /** False when the reading would add a name beyond `maxNames`. */
  accepts(name: string): boolean {
    return this.latestByName.has(name) || this.latestByName.size < this.maxNames;
  }

  /**
   * Records a reading (replay: no listeners told). The index keeps the object itself,
   * not a copy (one allocation less per reading on the ingest path): a reading handed
   * to a store is never changed afterwards.
   */
  apply(reading: Reading): void {
    const current = this.latestByName.get(reading.name);
    if (current !== undefined && current.timestamp > reading.timestamp) return;
    if (current === undefined && this.latestByName.size >= this.maxNames) return;
    this.latestByName.set(reading.name, reading);
  }

  /** Records a newly committed reading and tells every subscriber (those subscribed when it began). */
  commit(reading: Reading): void {
    this.apply(reading);
    const listeners = this.listenerSnapshot;
    for (let i = 0; i < listeners.length; i++) listeners[i]!(reading);
  }

  latest(name: string): Reading | undefined {
    return this.latestByName.get(name);
  }

  list(): Reading[] {
    return [...this.latestByName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  subscribe(listener: ReadingListener): () => void {
    this.listeners.add(listener);
    this.listenerSnapshot = [...this.listeners];
    return () => {
      if (this.listeners.delete(listener)) this.listenerSnapshot = [...this.listeners];
    };
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }
}

/**
 * A store held in memory only, with commits under the caller's control: the
 * sensor service's tests use it to hold OKs back, release them, or fail them.
 * With `autoCommit`, appends commit on the next microtask.
 */
export class MemoryReadingStore implements ReadingStore {
  readonly index: LatestIndex;
  readonly committed: StoredReading[] = [];
  private pending: { reading: StoredReading; listener: CommitListener<unknown>; token: unknown }[] = [];
  private nextSequence = 1;
  /** When set, appends reject with this error (a failed disk). */
  failure: Error | undefined;

  constructor(private readonly options: { autoCommit?: boolean; maxNames?: number } = {}) {
    this.index = new LatestIndex(options.maxNames);
  }

  append(reading: Reading): Promise<void> {
    return appendByWrite(this, reading);
  }

  write<Token>(reading: Reading, listener: CommitListener<Token>, token: Token): void {
    if (this.failure) return refuseWrite(listener, token, this.failure);
    if (!this.index.accepts(reading.name)) return refuseWrite(listener, token, new StoreFullError(this.index.maxNames));
    this.pending.push({ reading: { ...reading, sequence: this.nextSequence++ }, listener: listener as CommitListener<unknown>, token });
    if (this.options.autoCommit && this.pending.length === 1) queueMicrotask(() => this.commit());
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  /** Commits every pending append (or fails them all when `failure` is set). */
  commit(): void {
    const batch = this.pending;
    this.pending = [];
    for (const entry of batch) {
      if (this.failure) {
        entry.listener.committed(entry.token, this.failure);
        continue;
      }
      this.committed.push(entry.reading);
      this.index.commit(entry.reading);
      entry.listener.committed(entry.token, undefined);
    }
  }

  latest(name: string): Reading | undefined {
    return this.index.latest(name);
  }
  list(): Reading[] {
    return this.index.list();
  }
  subscribe(listener: ReadingListener): () => void {
    return this.index.subscribe(listener);
  }
}

/** The store refused a reading because it would add a name beyond its bound. */
export class StoreFullError extends Error {
  readonly code = 'ESTOREFULL';
  constructor(maxNames: number) {
    super(`the store keeps at most ${maxNames} names`);
    this.name = 'StoreFullError';
  }
}
