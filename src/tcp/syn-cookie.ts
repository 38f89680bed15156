/**
 * SYN cookies (RFC 4987 §3.6): when a listener's half-open backlog is full, the SYN-ACK
 * carries all the state the connection needs in its initial sequence number, and no
 * state is kept. The final ACK (SEG.ACK − 1 = the cookie) rebuilds the connection if
 * the cookie checks out. This is what Linux does with net.ipv4.tcp_syncookies = 1: a SYN
 * flood from spoofed addresses fills the backlog, and legitimate clients still connect.
 *
 * Layout, as in Linux's secure_tcp_syn_cookie (32 bits, sequence-space arithmetic):
 *
 *   cookie = H1(tuple) + peerIsn + (count << 24) + ((H2(tuple, count) + mssIndex) mod 2^24)
 *
 * `count` is a counter ticking every COOKIE_PERIOD_MS (64 s), so a cookie is valid for 2–3
 * periods; `mssIndex` encodes the peer's MSS in 3 bits (COOKIE_MSS_TABLE); H1 and H2 are
 * HMAC-SHA-256 under a secret drawn once per stack (per boot), truncated to 32 bits.
 * An attacker who does not see our SYN-ACK must guess 24 bits (for each of a few counts
 * and MSS indexes) to complete a connection.
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

export class SynCookies {
  private readonly secret: Uint8Array;
  private readonly message = new Uint8Array(14);
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
    const h1 = this.hash(localAddress, localPort, remoteAddress, remotePort, 0, 0);
    const h2 = this.hash(localAddress, localPort, remoteAddress, remotePort, 1, count);
    return (h1 + peerIsn + count * 0x100_0000 + ((h2 + mssIndex) & 0xff_ffff)) >>> 0;
  }

  /** The peer MSS encoded in a valid, fresh cookie, or undefined. */
  check(
    localAddress: Ipv4Address,
    localPort: number,
    remoteAddress: Ipv4Address,
    remotePort: number,
    peerIsn: number,
    cookie: number,
    now: Instant,
  ): number | undefined {
    const h1 = this.hash(localAddress, localPort, remoteAddress, remotePort, 0, 0);
    const value = (cookie - h1 - peerIsn) >>> 0;
    const count = value >>> 24;
    const age = (counter(now) - count) & 0xff;
    if (age > MAX_AGE_PERIODS) return undefined;
    const h2 = this.hash(localAddress, localPort, remoteAddress, remotePort, 1, count);
    const mssIndex = (value - h2) & 0xff_ffff;
    return COOKIE_MSS_TABLE[mssIndex];
  }

  private hash(
    localAddress: Ipv4Address,
    localPort: number,
    remoteAddress: Ipv4Address,
    remotePort: number,
    which: number,
    count: number,
  ): number {
    const view = this.messageView;
    view.setUint32(0, localAddress >>> 0);
    view.setUint16(4, localPort);
    view.setUint32(6, remoteAddress >>> 0);
    view.setUint16(10, remotePort);
    view.setUint8(12, which);
    view.setUint8(13, count & 0xff);
    return createHmac('sha256', this.secret).update(this.message).digest().readUInt32BE(0);
  }
}

function counter(now: Instant): number {
  return Math.floor(now / COOKIE_PERIOD_MS) & 0xff;
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
