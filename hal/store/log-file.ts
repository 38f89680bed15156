/**
 * The readings log on disk (SPEC §4): append-only segment files of checksummed
 * records (format in src/storage/readings.ts) under `<state-dir>/readings/`.
 *
 * Durability contract: `append()` resolves only after the record's bytes were
 * written and `fdatasync`ed (and, for a new segment file, after its directory entry
 * was fsynced too), so a reading that got OK survives kill -9 and a power cut.
 *
 * Group commit: appends made while a commit is in flight or within `commitMs` of the
 * previous commit's start are gathered into one write + one fdatasync, so there is
 * at most one fsync every `commitMs` (default 50 ms) however many sensors write.
 * `commitMs` 0 commits as soon as the event loop turns.
 *
 * Start-up (`openLogStore`): every segment is read in order and decoded; the latest
 * value per name goes to the in-memory index. A segment whose tail does not decode
 * (a torn append after a crash, or damage) is truncated to its valid prefix and
 * fsynced: counted as `store.drop.<problem>` + `store.truncated-bytes` and logged as
 * `store_truncated`. Nothing past the first bad record is ever read as a reading.
 *
 * Retention: when the segments add up to more than `maxBytes`, the oldest are
 * deleted first (never the one being written), counted in
 * `store.retention.segments-dropped` and logged as `store_retention`. The in-memory
 * latest values are kept; after a restart a name whose every reading was dropped is
 * no longer known.
 *
 * Failure: a failed write or fsync makes the store unavailable for good (after a
 * failed fsync the page cache can no longer be trusted to hold what was written:
 * "fsyncgate"); the pending and all later appends reject (ERR 503 to the sensor),
 * `onHealthChange(false, text)` is called (the firmware raises fault 5) and
 * `store_error` is logged. A restart replays whatever did reach the disk.
 *
 * This is hal/: it does file I/O and owns its one commit timer.
 */
import { mkdir, open, readdir, readFile, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Counters } from '../../src/stats.ts';
import type { EventSink } from '../../src/events.ts';
import {
  LatestIndex,
  StoreFullError,
  appendByWrite,
  decodeRecords,
  encodeRecordInto,
  recordEndAt,
  recordLength,
  recordTimestampAt,
  recordValueAt,
  refuseWrite,
  type CommitListener,
  type Reading,
  type ReadingListener,
  type ReadingStore,
} from '../../src/storage/readings.ts';

export interface LogStoreOptions {
  /** The log's own directory, e.g. `<stateDir>/readings`; created if missing. */
  directory: string;
  /** Group-commit window (config `store.commitMs`, default 50). */
  commitMs?: number;
  /** Total size of the segments before the oldest are dropped (config `store.maxBytes`, default 64 MiB). */
  maxBytes?: number;
  /** A segment is closed and a new one started past this size (default: maxBytes / 8, 4 KiB..4 MiB). */
  segmentBytes?: number;
  /** Distinct names kept in memory (default 10,000). */
  maxNames?: number;
  counters?: Counters;
  events?: EventSink;
  /** Told when the store stops (false) working; the firmware maps it to fault 5. */
  onHealthChange?: (healthy: boolean, text: string) => void;
}

export const DEFAULT_COMMIT_MS = 50;
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
const MIN_SEGMENT_BYTES = 4 * 1024;
const MAX_SEGMENT_BYTES = 4 * 1024 * 1024;

const SEGMENT_NAME = /^segment-(\d{16})\.log$/;

/** Segment files are named by the sequence number of their first record, zero-padded to sort. */
export function segmentFileName(firstSequence: number): string {
  return `segment-${String(firstSequence).padStart(16, '0')}.log`;
}

/** The store cannot take readings (a failed write or fsync, or it was closed). */
export class StoreUnavailableError extends Error {
  readonly code = 'ESTOREUNAVAILABLE';
  constructor(message: string) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}

interface Segment {
  name: string;
  path: string;
  size: number;
}

/**
 * One group commit being gathered: the records packed in one buffer, and per record
 * its name and source and who to tell (parallel arrays: nothing allocated per reading
 * once the arrays have grown). Two of these take turns: one fills while the other is
 * written.
 *
 * No `Reading` object is kept per pending write: value and timestamp are read back from
 * the encoded record at commit, names and sources are the caller's (interned) strings.
 * A pending reading lives through the commit window and the fdatasync, tens of
 * milliseconds, so each held object outlived young-generation collections and was
 * copied, then promoted (the allocation profile of the ingest run, issue 13); the
 * reading the index and the subscribers get is made at the commit and dies young
 * unless it is a name's latest.
 */
class Batch {
  bytes: Uint8Array;
  view: DataView;
  length = 0;
  readonly names: string[] = [];
  readonly sources: string[] = [];
  readonly listeners: CommitListener<unknown>[] = [];
  readonly tokens: unknown[] = [];

  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity);
    this.view = new DataView(this.bytes.buffer);
  }

  get count(): number {
    return this.names.length;
  }

  /** Room for `needed` more bytes; grows by doubling (the number of pending writes bounds it). */
  reserve(needed: number): void {
    if (this.length + needed <= this.bytes.length) return;
    let capacity = this.bytes.length * 2;
    while (capacity < this.length + needed) capacity *= 2;
    const bytes = new Uint8Array(capacity);
    bytes.set(this.bytes.subarray(0, this.length));
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer);
  }

  /** Empties it for reuse; a batch that grew past `keepCapacity` gives its memory back. */
  reset(keepCapacity: number): void {
    this.length = 0;
    this.names.length = 0;
    this.sources.length = 0;
    this.listeners.length = 0;
    this.tokens.length = 0;
    if (this.bytes.length > keepCapacity) {
      this.bytes = new Uint8Array(keepCapacity);
      this.view = new DataView(this.bytes.buffer);
    }
  }
}

/** A batch buffer's size to start with and to shrink back to: ~800 typical records. */
const BATCH_CAPACITY = 64 * 1024;

export interface ReplaySummary {
  segments: number;
  readings: number;
  truncatedBytes: number;
}

export async function openLogStore(options: LogStoreOptions): Promise<LogStore> {
  const store = new LogStore(options);
  await store.start();
  return store;
}

export class LogStore implements ReadingStore {
  readonly index: LatestIndex;
  private readonly commitMs: number;
  private readonly maxBytes: number;
  private readonly segmentBytes: number;
  private segments: Segment[] = [];
  private handle: FileHandle | undefined;
  private nextSequence = 1;
  /** The batch being gathered, and the other one (written by the commit in flight, or idle). */
  private batch = new Batch(BATCH_CAPACITY);
  private spare = new Batch(BATCH_CAPACITY);
  private timer: NodeJS.Timeout | undefined;
  private committing: Promise<void> | undefined;
  private lastCommitStart = -Infinity;
  private failure: Error | undefined;
  private closed = false;
  replay: ReplaySummary = { segments: 0, readings: 0, truncatedBytes: 0 };

  constructor(private readonly options: LogStoreOptions) {
    this.commitMs = options.commitMs ?? DEFAULT_COMMIT_MS;
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.segmentBytes = options.segmentBytes ?? Math.min(MAX_SEGMENT_BYTES, Math.max(MIN_SEGMENT_BYTES, Math.floor(this.maxBytes / 8)));
    this.index = new LatestIndex(options.maxNames);
  }

  get healthy(): boolean {
    return this.failure === undefined && !this.closed;
  }

  /** Sequence number the next append gets; acknowledged ids are below it. */
  get sequence(): number {
    return this.nextSequence;
  }

  /** Bytes in all segments on disk (committed data only). */
  get totalBytes(): number {
    return this.segments.reduce((sum, segment) => sum + segment.size, 0);
  }

  get segmentNames(): string[] {
    return this.segments.map((segment) => segment.name);
  }

  /** Replays the directory and opens the segment to append to. */
  async start(): Promise<void> {
    const { directory } = this.options;
    await mkdir(directory, { recursive: true });
    const names = (await readdir(directory)).filter((name) => SEGMENT_NAME.test(name)).sort();
    let lastSequence = 0;
    for (const name of names) {
      const path = join(directory, name);
      const bytes = await readFile(path);
      const decoded = decodeRecords(bytes, this.options.counters);
      for (const record of decoded.records) {
        // A record that passed its CRC but does not move the sequence on cannot come
        // from this writer (a copied-in file?): it is skipped, not trusted.
        if (record.sequence <= lastSequence) {
          this.options.counters?.increment('store.drop.out-of-order');
          continue;
        }
        lastSequence = record.sequence;
        this.index.apply({ name: record.name, value: record.value, timestamp: record.timestamp, source: record.source });
        this.replay.readings++;
      }
      if (decoded.tailProblem !== undefined) {
        const dropped = bytes.length - decoded.validLength;
        await truncateFile(path, decoded.validLength);
        this.replay.truncatedBytes += dropped;
        this.options.counters?.increment('store.truncated-bytes', dropped);
        this.options.events?.emit('store_truncated', { segment: name, offset: decoded.validLength, droppedBytes: dropped, problem: decoded.tailProblem });
      }
      this.segments.push({ name, path, size: decoded.validLength });
    }
    this.replay.segments = names.length;
    this.nextSequence = lastSequence + 1;
    const last = this.segments.at(-1);
    if (last !== undefined && last.size < this.segmentBytes) {
      this.handle = await open(last.path, 'a');
    } else {
      await this.startSegment();
    }
    await this.enforceRetention();
    this.options.events?.emit('store_open', { directory, ...this.replay, names: this.index.size });
  }

  append(reading: Reading): Promise<void> {
    return appendByWrite(this, reading);
  }

  write<Token>(reading: Reading, listener: CommitListener<Token>, token: Token): void {
    if (this.failure) return refuseWrite(listener, token, this.failure);
    if (this.closed) return refuseWrite(listener, token, new StoreUnavailableError('the readings store is closed'));
    if (!this.index.accepts(reading.name)) return refuseWrite(listener, token, new StoreFullError(this.index.maxNames));
    const batch = this.batch;
    batch.reserve(recordLength(reading));
    try {
      batch.length = encodeRecordInto(batch.bytes, batch.view, batch.length, reading, this.nextSequence);
    } catch (error) {
      return refuseWrite(listener, token, error instanceof Error ? error : new Error(String(error)));
    }
    this.nextSequence++;
    batch.names.push(reading.name);
    batch.sources.push(reading.source);
    batch.listeners.push(listener as CommitListener<unknown>);
    batch.tokens.push(token);
    this.scheduleCommit();
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

  /** Commits whatever is pending now, without waiting for the window. */
  async flush(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.committing || this.batch.count > 0) {
      if (this.committing) await this.committing;
      else await this.commit();
    }
  }

  /** Commits what is pending and closes the file; later appends reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    await this.handle?.close();
    this.handle = undefined;
  }

  // ---- group commit ---------------------------------------------------------------------

  private scheduleCommit(): void {
    if (this.timer !== undefined || this.committing) return;
    const delay = Math.max(0, this.lastCommitStart + this.commitMs - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.commit();
    }, delay);
  }

  private commit(): Promise<void> {
    const batch = this.batch;
    if (batch.count === 0) return Promise.resolve();
    // The spare is idle: at most one commit is in flight, and this is not it.
    this.batch = this.spare;
    this.spare = batch;
    this.lastCommitStart = performance.now();
    this.committing = this.runCommit(batch).finally(() => {
      batch.reset(BATCH_CAPACITY);
      this.committing = undefined;
      if (this.batch.count > 0 && !this.closed) this.scheduleCommit();
    });
    return this.committing;
  }

  private async runCommit(batch: Batch): Promise<void> {
    try {
      await this.writeBatch(batch);
    } catch (error) {
      this.fail(error, batch);
      return;
    }
    // Durable now: OK to the sensors, then the index and the subscribers.
    const { names, sources, listeners, tokens, view } = batch;
    let at = 0;
    for (let i = 0; i < names.length; i++) {
      this.index.commit({ name: names[i]!, value: recordValueAt(view, at), timestamp: recordTimestampAt(view, at), source: sources[i]! });
      at = recordEndAt(view, at);
      listeners[i]!.committed(tokens[i], undefined);
    }
    try {
      if (this.segments.at(-1)!.size >= this.segmentBytes) {
        await this.handle?.close();
        this.handle = undefined;
        await this.startSegment();
        await this.enforceRetention();
      }
    } catch (error) {
      this.fail(error, undefined);
    }
  }

  private async writeBatch(batch: Batch): Promise<void> {
    if (this.failure) throw this.failure;
    const handle = this.handle;
    if (!handle) throw new StoreUnavailableError('no open segment');
    const data = batch.bytes;
    let written = 0;
    while (written < batch.length) {
      const { bytesWritten } = await handle.write(data, written, batch.length - written);
      written += bytesWritten;
    }
    await handle.datasync();
    this.segments.at(-1)!.size += batch.length;
    this.options.counters?.increment('store.commits');
    this.options.counters?.increment('store.records', batch.count);
  }

  private fail(error: unknown, inFlight: Batch | undefined): void {
    const cause = error instanceof Error ? error.message : String(error);
    const firstFailure = this.failure === undefined;
    const failure = (this.failure ??= new StoreUnavailableError(`the readings log failed: ${cause}`));
    for (const batch of inFlight === undefined ? [this.batch] : [inFlight, this.batch]) {
      const { listeners, tokens } = batch;
      for (let i = 0; i < listeners.length; i++) listeners[i]!.committed(tokens[i], failure);
    }
    this.batch.reset(BATCH_CAPACITY);
    if (firstFailure) {
      this.options.counters?.increment('store.failures');
      this.options.events?.emit('store_error', { text: failure.message });
      this.options.onHealthChange?.(false, failure.message);
    }
  }

  // ---- segments -------------------------------------------------------------------------

  private async startSegment(): Promise<void> {
    const name = segmentFileName(this.nextSequence);
    const path = join(this.options.directory, name);
    this.handle = await open(path, 'a');
    // The new file's directory entry must be durable before any OK depends on it.
    await syncDirectory(this.options.directory);
    const size = (await stat(path)).size;
    const last = this.segments.at(-1);
    if (last?.name === name) last.size = size;
    else this.segments.push({ name, path, size });
  }

  private async enforceRetention(): Promise<void> {
    // Room is kept for the segment being written to fill up, so the log stays within
    // maxBytes (give or take one commit's batch) until the next rotation.
    let total = this.totalBytes;
    const current = this.segments.at(-1);
    const headroom = current === undefined ? 0 : Math.max(0, this.segmentBytes - current.size);
    while (total + headroom > this.maxBytes && this.segments.length > 1) {
      const oldest = this.segments.shift()!;
      await unlink(oldest.path);
      total -= oldest.size;
      this.options.counters?.increment('store.retention.segments-dropped');
      this.options.counters?.increment('store.retention.bytes-dropped', oldest.size);
      this.options.events?.emit('store_retention', { segment: oldest.name, bytes: oldest.size, totalBytes: total, maxBytes: this.maxBytes });
    }
  }
}

async function truncateFile(path: string, length: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.truncate(length);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
