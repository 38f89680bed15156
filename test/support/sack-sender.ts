/**
 * A SACK sender on the virtual clock for the loss-recovery tests (recovery.test.ts,
 * frto.test.ts): ESTABLISHED (passive) with the peer's MSS 1000 and SACK, SRTT = min_RTT
 * = 10 ms from the handshake and one timed 1000-byte segment (so the RTO is its 200 ms
 * floor, the PTO 20 ms, RACK's reordering window 2.5 ms), sequence numbers relative to
 * the test data, and the peer's SACKs built from them.
 *
 * The scenarios are timed on RFC 8985 §7.2's PTO of exactly 2·SRTT: `tcp.ptoFloor` (the
 * default), whose 10 ms floor never binds at SRTT 10 ms, not Linux's 2·SRTT + 2 ms
 * (recovery.ts `twoRoundTrips`; recovery-probe-wire.test.ts and recovery.test.ts test that one).
 */
import assert from 'node:assert/strict';
import type { TcpConnection } from '../../src/tcp/connection.ts';
import type { TcpConfig } from '../../src/tcp/config.ts';
import { LOCAL_ISS, TcpHarness, pattern } from './tcp-harness.ts';

export const MSS = 1000;
/** Sequence number of byte `n` of the test data (after the 1000-byte warm-up segment). */
export const S = (n: number): number => LOCAL_ISS + 1 + MSS + n;

export interface Setup {
  h: TcpHarness;
  c: TcpConnection;
  /** The instant the data under test was written. */
  t0: number;
}

/** ESTABLISHED with the peer's MSS 1000 (SACK unless `sack: false`), one segment timed at 10 ms, then `segments` written. */
export function setup(segments: number, options: { sack?: boolean; config?: Partial<TcpConfig> } = {}): Setup {
  const h = new TcpHarness({ config: { ptoFloor: true, ...options.config } });
  // The handshake's ACK comes 10 ms after the SYN-ACK: the first RTT sample is 10 ms too.
  h.synReceived(options.sack === false ? { mss: MSS } : { mss: MSS, sackPermitted: true });
  h.advance(10);
  h.send();
  const c = h.accepted[0]!;
  assert.equal(c.state, 'ESTABLISHED');
  c.send(pattern(MSS));
  h.recv({ seq: LOCAL_ISS + 1, payload: pattern(MSS) });
  h.advance(10);
  h.send({ ack: S(0) });
  h.recvNothing();
  assert.equal(c.info().srtt, 10);
  const t0 = h.clock.now();
  if (segments > 0) c.send(pattern(segments * MSS, 1));
  return { h, c, t0 };
}

/** Takes the data segments sent now and returns their sequence numbers relative to S(0). */
export function sentSeqs(h: TcpHarness): number[] {
  return h.drain().filter((segment) => segment.payload.length > 0).map((segment) => segment.seq - S(0));
}

/** The peer's ACK at SND.UNA = S(ack) with SACK blocks given relative to S(0). */
export function sack(h: TcpHarness, ack: number, blocks: [number, number][]): void {
  h.send({ ack: S(ack), options: { sackBlocks: blocks.map(([start, end]) => [S(start), S(end)] as [number, number]) } });
}
