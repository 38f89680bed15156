/**
 * Path MTU for TCP: what the send MSS may be on the path to a peer.
 *
 * - Path MTU discovery (RFC 1191): every datagram goes out with DF set; a router that
 *   cannot forward it answers "fragmentation needed" with its next-hop MTU (icmp-error.ts
 *   validates the message and calls `pathMtuReported`). The connection's send MSS drops
 *   to that MTU − 40 at once, and the destination's MTU is kept in a small `PathMtuCache`
 *   (path-mtu-cache.ts) so that the next connection starts with it. A router
 *   that predates RFC 1191 reports MTU 0: the estimate then steps down the plateau table
 *   of RFC 1191 §7 below the quoted datagram's length.
 * - Black-hole detection (RFC 4821 §7.6 in the form of Linux's tcp_mtu_probing=1): when
 *   the ICMP never comes (filtered), full-sized segments vanish while nothing is wrong
 *   with the peer. After BLACK_HOLE_RETRIES retransmission timeouts in a row of a segment
 *   larger than the next step, the send MSS steps down: to BLACK_HOLE_BASE_MSS (Linux
 *   tcp_base_mss), then to BLACK_HOLE_FLOOR_MSS (RFC 9293 §3.7.1's 536, what every IPv4
 *   path must carry: a 576-byte datagram). Switched by `TcpConfig.mtuProbing`.
 * - Both caps expire after PMTU_LIFETIME_MS; the connection then sends full-sized
 *   segments again (RFC 1191 §6.3's periodic increase; RFC 4821's upward probing in its
 *   simplest form), and the path lowers them again if it must.
 *
 * The send MSS is always `min(negotiated, pathMss, probedMss)`, recomputed only by
 * `syncSendMss`. Pure: time comes in as `now`.
 */
import type { Instant } from '../time.ts';
import type { TcpConnection } from './connection.ts';
import { PMTU_LIFETIME_MS, type PathMtuCache } from './path-mtu-cache.ts';

export { PMTU_LIFETIME_MS } from './path-mtu-cache.ts';

/** IPv4 header (20) + TCP header (20) without options: MSS = MTU − 40 (RFC 9293 §3.7.1). */
export const TCP_IP_HEADERS = 40;
/** The least path MTU believed from an ICMP message: lower values are raised to it (Linux min_pmtu, 512 + 40). */
export const PMTU_FLOOR = 552;
/** RTOs in a row of a full-sized segment before the path is suspected of being a black hole (Linux tcp_retries1). */
export const BLACK_HOLE_RETRIES = 3;
/** The first step down on a suspected black hole (Linux tcp_base_mss). */
export const BLACK_HOLE_BASE_MSS = 1024;
/** The last step: RFC 9293 §3.7.1's default send MSS, a 576-byte datagram. */
export const BLACK_HOLE_FLOOR_MSS = 536;

/** RFC 1191 §7, table 7-1: the MTU plateaus, highest first. */
export const MTU_PLATEAUS: readonly number[] = Object.freeze([65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68]);

/** RFC 1191 §5, §7: the largest plateau below a datagram of `length` bytes that did not fit. */
export function plateauBelow(length: number): number {
  for (const plateau of MTU_PLATEAUS) if (plateau < length) return plateau;
  return MTU_PLATEAUS[MTU_PLATEAUS.length - 1]!;
}

/** The send MSS the connection would use now (before establishment: our own MSS). */
export function effectiveMss(connection: TcpConnection): number {
  let mss = connection.negotiatedMss > 0 ? connection.negotiatedMss : connection.context.config.mss;
  if (connection.pathMss !== undefined) mss = Math.min(mss, connection.pathMss);
  if (connection.probedMss !== undefined) mss = Math.min(mss, connection.probedMss);
  return Math.max(1, mss);
}

/** Sets the TCB's send MSS from the negotiated one and the path caps (once established). */
export function syncSendMss(connection: TcpConnection): void {
  if (connection.negotiatedMss > 0) connection.tcb.sendMss = effectiveMss(connection);
}

/**
 * The handshake is done and `tcb.sendMss` holds the negotiated MSS: apply what is known
 * of the path (an earlier connection's PMTU, or an ICMP that came during the handshake).
 */
export function pathMtuAtEstablishment(connection: TcpConnection, cache: PathMtuCache, now: Instant): void {
  connection.negotiatedMss = connection.tcb.sendMss;
  const cached = cache.lookup(connection.remoteAddress, now);
  if (cached !== undefined) {
    connection.pathMss = Math.min(connection.pathMss ?? Infinity, cached.mtu - TCP_IP_HEADERS);
    connection.pathMssExpiresAt = Math.min(connection.pathMssExpiresAt ?? Infinity, cached.expiresAt);
  }
  syncSendMss(connection);
}

/**
 * RFC 1191 §3, §6.1: a validated "fragmentation needed" for data in flight. Returns the
 * outcome counter's name. A lower MTU caps the send MSS, is remembered for the
 * destination, and what is in flight is sent again at once in segments of the new size
 * (Linux tcp_simple_retransmit: the segments that were too big are lost, no RTO should
 * be waited for, and cwnd and the RTO are left alone: nothing says the path is congested).
 */
export function pathMtuReported(
  connection: TcpConnection,
  nextHopMtu: number,
  quotedLength: number,
  cache: PathMtuCache,
  now: Instant,
): 'tcp.icmp.pmtu-lowered' | 'tcp.icmp.pmtu-not-lower' {
  // RFC 1191 §5: a router that does not know RFC 1191 sends 0; a reported MTU that the
  // quoted datagram would have fitted is no information either. Estimate from the table.
  let mtu = nextHopMtu === 0 || nextHopMtu >= quotedLength ? plateauBelow(quotedLength) : nextHopMtu;
  // A forged or broken tiny MTU must not shrink segments to a few bytes (Linux min_pmtu).
  mtu = Math.max(mtu, PMTU_FLOOR);
  if (mtu >= effectiveMss(connection) + TCP_IP_HEADERS) return 'tcp.icmp.pmtu-not-lower';
  const entry = cache.lower(connection.remoteAddress, mtu, now);
  connection.pathMss = mtu - TCP_IP_HEADERS;
  connection.pathMssExpiresAt = entry.expiresAt;
  syncSendMss(connection);
  const tcb = connection.tcb;
  if (connection.negotiatedMss > 0 && tcb.sndNxt !== tcb.sndUna) {
    // Go back to SND.UNA: output resends everything in flight in new-sized segments.
    tcb.sndNxt = tcb.sndUna;
    connection.context.counters.increment('tcp.tx.pmtu-resends');
  }
  connection.context.touch(connection);
  return 'tcp.icmp.pmtu-lowered';
}

/**
 * Called at a retransmission timeout of data, before the back-off is counted
 * (`connection.backoffCount` RTOs in a row so far). After BLACK_HOLE_RETRIES of them, if
 * the segment that keeps vanishing is larger than the next step, the send MSS steps down
 * (RFC 4821 §7.6); true when it did. Each further timeout takes one more step, to the floor.
 */
export function blackHoleSuspected(connection: TcpConnection, now: Instant): boolean {
  if (!connection.context.config.mtuProbing || connection.backoffCount < BLACK_HOLE_RETRIES) return false;
  const mss = effectiveMss(connection);
  const step = mss > BLACK_HOLE_BASE_MSS ? BLACK_HOLE_BASE_MSS : BLACK_HOLE_FLOOR_MSS;
  const vanishing = Math.min(connection.bytesInFlight(), mss);
  if (vanishing <= step) return false;
  connection.probedMss = step;
  connection.pathMssExpiresAt = now + PMTU_LIFETIME_MS;
  syncSendMss(connection);
  connection.context.counters.increment('tcp.mtu.black-hole-steps');
  return true;
}

/** RFC 1191 §6.3: the lowered estimate has aged; full-sized segments are tried again. */
export function pathMssExpired(connection: TcpConnection): void {
  connection.pathMssExpiresAt = undefined;
  connection.pathMss = undefined;
  connection.probedMss = undefined;
  syncSendMss(connection);
  connection.context.counters.increment('tcp.mtu.raised');
}
