/**
 * SYN cookies (RFC 4987 §3.6): when a listener's half-open backlog is full, the SYN-ACK
 * carries all the state the connection needs in its initial sequence number, and no
 * state is kept. The final ACK (SEG.ACK − 1 = the cookie, SEG.SEQ − 1 = the peer's ISN)
 * rebuilds the connection if the cookie checks out. This is what Linux does with
 * net.ipv4.tcp_syncookies = 1: a SYN flood from spoofed addresses fills the backlog, and
 * legitimate clients still connect.
 *
 * Layout (32 bits):
 *
 *   | 31 30 | 29 28 27 |  26 … 21  |              20 … 0               |
 *   | count | mssIndex |    tag    |               seal                |
 *
 * `count` is a counter ticking every COOKIE_PERIOD_MS (64 s), kept mod 4, so a cookie is
 * valid for 2–3 periods; `mssIndex` encodes the peer's MSS (COOKIE_MSS_TABLE). The tag
 * is a MAC of the tuple and the full count; the seal a MAC of the tuple, count, MSS
 * index and the peer's ISN. An attacker who does not see our SYN-ACK must guess the 27
 * MAC bits (Linux's layout: 24 bits and a few counts and MSS indexes).
 *
 * Why two MACs, not Linux's one (secure_tcp_syn_cookie adds the peer's ISN and the MSS
 * index into a hash sum, and its check subtracts them back out):
 *
 * - The peer's ISN comes back only as SEG.SEQ − 1 of the *first* segment after the SYN.
 *   When that segment (the final ACK, often with the first data after it) is lost, the
 *   next one (more data, or the FIN of a short request) has SEG.SEQ = ISN + 1 + n. In
 *   Linux's layout n then moves the decoded MSS index by n: for n up to the index the
 *   check passes with a wrong MSS and a receive sequence n bytes ahead (the peer's
 *   first n bytes acknowledged and never delivered), and beyond it the ACK is answered
 *   with RST, killing a live connection for one lost frame. Here the seal binds the
 *   exact ISN: any n ≠ 0 fails it (the result is 'wrong-sequence').
 * - The tag does not depend on the ISN, so such a segment is still recognisably an ACK
 *   of a cookie SYN-ACK we sent to this tuple: the listener drops it without RST, and
 *   the peer's retransmission from ISN + 1 rebuilds the connection. An ACK that is no
 *   cookie of ours (a stale connection) still gets its RST (RFC 9293 §3.10.7.2).
 *
 * The other options (RFC 7323 window scale, SACK-permitted) do not fit in the ISS. As
 * Linux's cookie_init_timestamp() does, they ride in the low 6 bits of our TSval on the
 * cookie SYN-ACK when the SYN carried timestamps, and come back as the ACK's TSecr
 * (`encodeCookieOptions`, `decodeCookieOptions`): bits 0-3 the peer's window scale
 * (15 = none), bit 4 SACK-permitted (bit 5, ECN in Linux, unused). What a cookie
 * connection loses: the MSS precision (rounded down to the table); without timestamps
 * (the peer's or ours switched off) also window scaling and SACK.
 */
import { createHmac } from 'node:crypto';
import type { Ipv4Address } from '../net/address.ts';
import type { RandomSource } from '../random.ts';
import type { Instant } from '../time.ts';

/**
 * Peer MSS values a cookie can carry (3 bits), smallest first; the peer's MSS is rounded
 * down. The four of Linux's IPv4 msstab (536, 1300, 1440, 1460: what real peers send,
 * Ethernet, PPPoE-ish and tunnelled paths) plus 1380 (common behind VPNs), the
 * small-MTU sizes this device is built for (MTU 296 → 256) and two floors (128, and 64,
 * the smallest MSS we accept) so a tiny MSS is never rounded up.
 */
export const COOKIE_MSS_TABLE: readonly number[] = [64, 128, 256, 536, 1300, 1380, 1440, 1460];
export const COOKIE_PERIOD_MS = 64_000;
/** Counter ticks a cookie stays valid after it was made (Linux MAX_SYNCOOKIE_AGE). */
const MAX_AGE_PERIODS = 2;

const COUNT_SHIFT = 30;
const COUNT_MASK = 0x3;
const MSS_SHIFT = 27;
const MSS_MASK = 0x7;
const TAG_SHIFT = 21;
const TAG_MASK = 0x3f;
const SEAL_MASK = 0x1f_ffff;

/** Which MAC a hash input is for. */
const TAG = 0;
const SEAL = 1;

/**
 * What the ACK of a cookie SYN-ACK proves: the peer MSS of a valid cookie for this
 * sequence number; 'wrong-sequence' for a fresh cookie of ours for this tuple whose seal
 * does not match SEG.SEQ − 1 (a segment after a lost first one); undefined for no
 * cookie of ours, or an expired one.
 */
export type CookieCheck = number | 'wrong-sequence' | undefined;

export class SynCookies {
  private readonly secret: Uint8Array;
  private readonly message = new Uint8Array(22);
  private readonly messageView = new DataView(this.message.buffer);

  constructor(random: RandomSource) {
    this.secret = random.bytes(32);
  }

  /** The ISS for a SYN-ACK answering `peerIsn` with MSS option `peerMss` (536 when absent). */
  make(
    localAddress: Ipv4Address,
    localPort: number,
    remoteAddress: Ipv4Address,
    remotePort: number,
    peerIsn: number,
    peerMss: number,
    now: Instant,
  ): number {
    const count = counter(now);
    let mssIndex = 0;
    for (let i = COOKIE_MSS_TABLE.length - 1; i >= 0; i--) {
      if ((COOKIE_MSS_TABLE[i] ?? Infinity) <= peerMss) {
        mssIndex = i;
        break;
      }
    }
    const tag = this.hash(localAddress, localPort, remoteAddress, remotePort, TAG, count, 0, 0) & TAG_MASK;
    const seal = this.hash(localAddress, localPort, remoteAddress, remotePort, SEAL, count, mssIndex, peerIsn) & SEAL_MASK;
    return (((count & COUNT_MASK) << COUNT_SHIFT) | (mssIndex << MSS_SHIFT) | (tag << TAG_SHIFT) | seal) >>> 0;
  }

  /** What `cookie` (SEG.ACK − 1) proves for a peer whose ISN would be `peerIsn` (SEG.SEQ − 1). */
  check(
    localAddress: Ipv4Address,
    localPort: number,
    remoteAddress: Ipv4Address,
    remotePort: number,
    peerIsn: number,
    cookie: number,
    now: Instant,
  ): CookieCheck {
    const current = counter(now);
    const age = (current - (cookie >>> COUNT_SHIFT)) & COUNT_MASK;
    if (age > MAX_AGE_PERIODS) return undefined;
    const count = current - age;
    const tag = this.hash(localAddress, localPort, remoteAddress, remotePort, TAG, count, 0, 0) & TAG_MASK;
    if (tag !== ((cookie >>> TAG_SHIFT) & TAG_MASK)) return undefined;
    const mssIndex = (cookie >>> MSS_SHIFT) & MSS_MASK;
    const seal = this.hash(localAddress, localPort, remoteAddress, remotePort, SEAL, count, mssIndex, peerIsn) & SEAL_MASK;
    if (seal !== (cookie & SEAL_MASK)) return 'wrong-sequence';
    return COOKIE_MSS_TABLE[mssIndex];
  }

  private hash(
    localAddress: Ipv4Address,
    localPort: number,
    remoteAddress: Ipv4Address,
    remotePort: number,
    which: number,
    count: number,
    mssIndex: number,
    peerIsn: number,
  ): number {
    const view = this.messageView;
    view.setUint32(0, localAddress >>> 0);
    view.setUint16(4, localPort);
    view.setUint32(6, remoteAddress >>> 0);
    view.setUint16(10, remotePort);
    view.setUint8(12, which);
    view.setUint32(13, count >>> 0);
    view.setUint8(17, mssIndex);
    view.setUint32(18, peerIsn >>> 0);
    return createHmac('sha256', this.secret).update(this.message).digest().readUInt32BE(0);
  }
}

/** The cookie counter: COOKIE_PERIOD_MS ticks since the clock's origin (hashed in full, carried mod 4). */
function counter(now: Instant): number {
  return Math.floor(now / COOKIE_PERIOD_MS) >>> 0;
}

/** The TSval low bits that carry a cookie's options (Linux TS_OPT_MASK). */
const COOKIE_OPTION_BITS = 6;
const COOKIE_OPTION_MASK = (1 << COOKIE_OPTION_BITS) - 1;
const NO_WINDOW_SCALE = 0xf;
const SACK_BIT = 0x10;

/**
 * The TSval of a cookie SYN-ACK: the clock `tsNow` with its low 6 bits replaced by the
 * options, never ahead of the clock (64 ms back if it would be), so later TSvals do not
 * go backwards.
 */
export function encodeCookieOptions(tsNow: number, options: { windowScale: number | undefined; sackPermitted: boolean }): number {
  const bits = (options.windowScale ?? NO_WINDOW_SCALE) | (options.sackPermitted ? SACK_BIT : 0);
  let value = ((tsNow & ~COOKIE_OPTION_MASK) | bits) >>> 0;
  if (((value - tsNow) | 0) > 0) value = (value - (COOKIE_OPTION_MASK + 1)) >>> 0;
  return value;
}

/** The options a cookie SYN-ACK's TSval carried, from the ACK's TSecr. */
export function decodeCookieOptions(echo: number): { windowScale: number | undefined; sackPermitted: boolean } {
  const shift = echo & 0xf;
  // 15 means none; 14 is the largest shift there is (RFC 7323 §2.3), so 15 is never a value.
  return { windowScale: shift === NO_WINDOW_SCALE ? undefined : Math.min(shift, 14), sackPermitted: (echo & SACK_BIT) !== 0 };
}
