/**
 * PcapLink: a transparent Link wrapper that records every frame in and out as a classic
 * libpcap capture, readable by tcpdump, tshark and Wireshark.
 *
 * Format (draft-ietf-opsawg-pcap, "PCAP Capture File Format"): a 24-byte file header —
 * magic 0xa1b2c3d4 (microsecond timestamps), version 2.4, reserved zeros, snap length,
 * link type 1 (LINKTYPE_ETHERNET) — then per frame a 16-byte record header (seconds,
 * microseconds, captured length, original length) and the captured bytes. Fields are
 * written little-endian; readers detect the byte order from the magic number.
 *
 * Timestamps come from the injected Clock plus `timeOriginMs`: a monotonic clock starts
 * near zero, so the firmware passes `performance.timeOrigin` to get wall-clock dates, and
 * tests on a ManualClock get exact, repeatable instants.
 *
 * Received frames are recorded before the receiver sees them; transmitted frames when
 * transmit() is called, before the inner link takes ownership. Records are buffered and
 * written by the sink on flush() (once per event-loop turn), close(), or every 64 KiB.
 * A capture is diagnostics: a write error stops the capture (see `sinkError`), never the link.
 */
import { closeSync, openSync, writevSync } from 'node:fs';
import { Counters } from '../../src/stats.ts';
import type { Clock } from '../../src/time.ts';
import { ReceiveBatchRelay, type CarrierHandler, type FrameHandler, type Link, type ReceiveBatch } from './link.ts';

export const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
export const LINKTYPE_ETHERNET = 1;
export const PCAP_DEFAULT_SNAP_LENGTH = 65535;
export const PCAP_FILE_HEADER_LENGTH = 24;
export const PCAP_RECORD_HEADER_LENGTH = 16;

/** Where capture bytes go. */
export interface PcapSink {
  write(bytes: Uint8Array): void;
  flush(): void;
  close(): void;
}

/** Buffers records and writes them to a file with one writev per flush. */
export class PcapFileSink implements PcapSink {
  /** The first write error; once set, nothing more is written. */
  error: Error | undefined;
  private descriptor: number | undefined;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  constructor(
    readonly path: string,
    private readonly flushThresholdBytes = 64 * 1024,
  ) {
    // Opening is configuration: a bad path fails loudly here, at start-up.
    this.descriptor = openSync(path, 'w');
  }

  write(bytes: Uint8Array): void {
    if (this.descriptor === undefined || this.error) return;
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    if (this.pendingBytes >= this.flushThresholdBytes) this.flush();
  }

  flush(): void {
    if (this.descriptor === undefined || this.pending.length === 0) return;
    const chunks = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    if (this.error) return;
    try {
      let remaining = chunks.reduce((total, chunk) => total + chunk.length, 0);
      // writev may write less than asked (a full disk, a signal): carry on from there.
      let views = chunks;
      while (remaining > 0) {
        const written = writevSync(this.descriptor, views);
        if (written <= 0) throw new Error(`PcapFileSink: ${this.path}: write made no progress`);
        remaining -= written;
        views = skipBytes(views, written);
      }
    } catch (error) {
      this.error = error instanceof Error ? error : new Error(String(error));
    }
  }

  close(): void {
    if (this.descriptor === undefined) return;
    this.flush();
    closeSync(this.descriptor);
    this.descriptor = undefined;
  }
}

export interface PcapLinkOptions {
  clock: Clock;
  /** A file to write (created or truncated); or give `sink`. */
  path?: string;
  sink?: PcapSink;
  /** Bytes kept of each frame (default 65535); the rest is counted in the original length. */
  snapLength?: number;
  /** Added to clock.now() for the timestamps (ms since the Unix epoch at clock zero). */
  timeOriginMs?: number;
}

export class PcapLink implements Link {
  readonly sink: PcapSink;
  private readonly clock: Clock;
  private readonly snapLength: number;
  private readonly timeOriginMs: number;
  private readonly counters = new Counters();
  private receiver: FrameHandler | undefined;
  /** The inner link's receive batches, passed on to this link's receiver (link.ts). */
  private readonly batchRelay = new ReceiveBatchRelay();
  private closed = false;

  constructor(
    readonly inner: Link,
    options: PcapLinkOptions,
  ) {
    if ((options.path === undefined) === (options.sink === undefined)) {
      throw new TypeError('PcapLink: give exactly one of `path` and `sink`');
    }
    this.clock = options.clock;
    this.snapLength = options.snapLength ?? PCAP_DEFAULT_SNAP_LENGTH;
    if (!Number.isInteger(this.snapLength) || this.snapLength < 1 || this.snapLength > 0x3fffffff) {
      throw new RangeError(`PcapLink: snapLength must be a positive integer, got ${this.snapLength}`);
    }
    this.timeOriginMs = options.timeOriginMs ?? 0;
    this.sink = options.sink ?? new PcapFileSink(options.path ?? '');
    this.sink.write(encodePcapFileHeader(this.snapLength));
    this.sink.flush();
    inner.setReceiver((frame) => {
      this.record(frame);
      const receiver = this.receiver;
      if (receiver === undefined) {
        this.counters.increment('link.drop.no-receiver');
        return;
      }
      receiver(frame);
    }, this.batchRelay);
  }

  get name(): string {
    return this.inner.name;
  }

  get mtu(): number {
    return this.inner.mtu;
  }

  get mac(): Uint8Array {
    return this.inner.mac;
  }

  get carrier(): boolean {
    return this.inner.carrier;
  }

  /** The sink's write error, when it is a file sink that failed. */
  get sinkError(): Error | undefined {
    return this.sink instanceof PcapFileSink ? this.sink.error : undefined;
  }

  setReceiver(handler: FrameHandler, batch?: ReceiveBatch): void {
    this.receiver = handler;
    this.batchRelay.target = batch;
  }

  onCarrierChange(handler: CarrierHandler): void {
    this.inner.onCarrierChange(handler);
  }

  transmit(frame: Uint8Array): void {
    // Recorded even if the inner link then refuses it: the capture shows what the stack sent.
    this.record(frame);
    this.inner.transmit(frame);
  }

  flush(): void {
    this.inner.flush();
    this.sink.flush();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.inner.close();
    this.sink.close();
  }

  stats(): Record<string, number> {
    return { ...this.inner.stats(), ...this.counters.snapshot() };
  }

  private record(frame: Uint8Array): void {
    if (this.closed) return;
    const captured = Math.min(frame.length, this.snapLength);
    const record = new Uint8Array(PCAP_RECORD_HEADER_LENGTH + captured);
    const view = new DataView(record.buffer);
    const microseconds = Math.max(0, Math.round((this.clock.now() + this.timeOriginMs) * 1000));
    const seconds = Math.floor(microseconds / 1_000_000);
    view.setUint32(0, seconds >>> 0, true);
    view.setUint32(4, microseconds - seconds * 1_000_000, true);
    view.setUint32(8, captured, true);
    view.setUint32(12, frame.length, true);
    record.set(frame.subarray(0, captured), PCAP_RECORD_HEADER_LENGTH);
    this.sink.write(record);
    this.counters.increment('pcap.records');
    this.counters.increment('pcap.bytes', record.length);
  }
}

/** The 24-byte pcap file header, little-endian. */
export function encodePcapFileHeader(snapLength: number = PCAP_DEFAULT_SNAP_LENGTH): Uint8Array {
  const header = new Uint8Array(PCAP_FILE_HEADER_LENGTH);
  const view = new DataView(header.buffer);
  view.setUint32(0, PCAP_MAGIC_MICROSECONDS, true);
  view.setUint16(4, PCAP_VERSION_MAJOR, true);
  view.setUint16(6, PCAP_VERSION_MINOR, true);
  view.setInt32(8, 0, true); // thiszone: GMT (reserved, always 0)
  view.setUint32(12, 0, true); // sigfigs (reserved, always 0)
  view.setUint32(16, snapLength, true);
  view.setUint32(20, LINKTYPE_ETHERNET, true);
  return header;
}

/** `chunks` without their first `count` bytes (for partial writes). */
function skipBytes(chunks: Uint8Array[], count: number): Uint8Array[] {
  let skip = count;
  let index = 0;
  while (index < chunks.length && skip >= (chunks[index]?.length ?? 0)) {
    skip -= chunks[index]?.length ?? 0;
    index++;
  }
  const rest = chunks.slice(index);
  const first = rest[0];
  if (first !== undefined && skip > 0) rest[0] = first.subarray(skip);
  return rest;
}
