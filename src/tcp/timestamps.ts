/**
 * RFC 7323 timestamps and window scaling: the rules that do not belong to one
 * direction of a connection.
 *
 * - The timestamp clock (§5.4, §7.1): TSval = milliseconds of the injected `now` plus a
 *   per-connection offset. The offset is a keyed hash of the address pair, as Linux's
 *   `secure_tcp_ts_off()`: unpredictable from outside (a peer cannot read our uptime
 *   from TSval), stable for one pair of hosts so that TIME-WAIT reuse (RFC 6191) and a
 *   SYN cookie (computed without state) see the same clock. Ticks are 1 ms: within
 *   RFC 7323 §5.4's 1 ms..1 s, and the 24-day PAWS idle limit below follows from it.
 * - TS.Recent (§4.3): updated from a segment whose SEG.SEQ <= Last.ACK.sent (the ACK
 *   number we last sent) and whose TSval is not older, so a delayed ACK echoes the
 *   earliest unacknowledged segment and an ACK after a hole echoes the segment that
 *   filled it.
 * - PAWS (§5.3 R1): a non-RST segment whose TSval is older than TS.Recent is a
 *   duplicate from an earlier wrap of the sequence space; it is dropped and ACKed. As in
 *   Linux, one tick of slack (PAWS_WINDOW_TICKS) and, for a pure duplicate ACK, up to one
 *   RTO (the caller's `tolerance`, Linux tcp_disordered_ack): reordered ACKs are not old
 *   duplicates. After 24 days without an update TS.Recent is stale (§5.5) and no segment
 *   is rejected.
 * - Window scale (§2.3): our shift is the smallest that lets the receive buffer fit the
 *   16-bit field (Linux `tcp_select_initial_window`), at most 14.
 */
import type { Ipv4Address } from '../net/address.ts';
import type { RandomSource } from '../random.ts';
import type { Instant } from '../time.ts';
import { TCP_MAX_WINDOW_SCALE } from '../wire/tcp.ts';
import { MAX_UNSCALED_WINDOW } from './config.ts';
import { KeyedHash } from './keyed-hash.ts';

/** RFC 7323 §5.5: TS.Recent older than this (24 days of 1 ms ticks, below 2^31) is invalid. */
export const PAWS_IDLE_LIMIT_MS = 24 * 24 * 3600 * 1000;

/** The per-connection timestamp offset (RFC 7323 §5.4, §7.1). */
export interface TimestampOffsets {
  offset(localAddress: Ipv4Address, remoteAddress: Ipv4Address): number;
}

/** Linux's secure_tcp_ts_off(): a keyed hash (here HMAC-SHA-256) of the address pair. */
export class KeyedTimestampOffsets implements TimestampOffsets {
  private readonly hash: KeyedHash;
  private readonly pair = new Uint8Array(8);
  private readonly pairView = new DataView(this.pair.buffer);

  constructor(random: RandomSource) {
    this.hash = new KeyedHash(random);
  }

  offset(localAddress: Ipv4Address, remoteAddress: Ipv4Address): number {
    this.pairView.setUint32(0, localAddress >>> 0);
    this.pairView.setUint32(4, remoteAddress >>> 0);
    return this.hash.hash32(this.pair);
  }
}

/** A fixed offset (tests: TSval = now in ms + offset). */
export class FixedTimestampOffsets implements TimestampOffsets {
  constructor(private readonly value: number) {}
  offset(): number {
    return this.value >>> 0;
  }
}

/** TSval at `now` for a connection with this offset: 1 ms ticks, modulo 2^32. */
export function timestampValue(now: Instant, offset: number): number {
  return (Math.floor(now) + offset) >>> 0;
}

/** `a` is older than `b` in the 32-bit timestamp space (RFC 7323 §5.3: "SEG.TSval < TS.Recent"). */
export function timestampBefore(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** The per-connection timestamp state (RFC 7323 §3.2, §4.3). */
export interface TimestampState {
  /** Both SYNs carried TSopt: every non-RST segment carries it too. */
  timestamps: boolean;
  tsOffset: number;
  /** TS.Recent: the TSval to echo. */
  tsRecent: number;
  /** When TS.Recent was last set (the 24-day rule, §5.5). */
  tsRecentAt: Instant;
}

/**
 * TSvals this many ticks older than TS.Recent still pass PAWS (Linux TCP_PAWS_WINDOW):
 * a sender's TSvals need not be strictly ordered across segments built at different
 * moments (Linux stamps data at its departure time under pacing, pure ACKs at the clock).
 */
export const PAWS_WINDOW_TICKS = 1;

/** RFC 7323 §5.3 R1: true when the segment's TSval proves it an old duplicate (PAWS). */
export function pawsRejects(state: TimestampState, segmentTsval: number, now: Instant, tolerance = PAWS_WINDOW_TICKS): boolean {
  if (((state.tsRecent - segmentTsval) | 0) <= tolerance) return false;
  // §5.5: after 24 days idle TS.Recent may have wrapped; it no longer judges anything.
  return now - state.tsRecentAt <= PAWS_IDLE_LIMIT_MS;
}

/** RFC 7323 §4.3 (and §5.3 R3): record SEG.TSval in TS.Recent when the rules allow. */
export function updateTsRecent(state: TimestampState, segmentTsval: number, segmentSeqNotBeyondLastAck: boolean, now: Instant): void {
  if (!segmentSeqNotBeyondLastAck) return;
  const stale = now - state.tsRecentAt > PAWS_IDLE_LIMIT_MS;
  if (stale || !timestampBefore(segmentTsval, state.tsRecent)) {
    state.tsRecent = segmentTsval >>> 0;
    state.tsRecentAt = now;
  }
}

/**
 * RFC 7323 §2.3: the shift we offer for a receive buffer of `bytes`: the smallest one
 * that makes the buffer fit the 16-bit window field, at most 14 (Linux
 * tcp_select_initial_window does the same with its buffer limit).
 */
export function windowShiftFor(bytes: number): number {
  let shift = 0;
  while (shift < TCP_MAX_WINDOW_SCALE && bytes > MAX_UNSCALED_WINDOW * 2 ** shift) shift++;
  return shift;
}
