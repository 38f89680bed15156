/**
 * Initial sequence numbers per RFC 6528 §3:
 *
 *   ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
 *
 * M is a timer ticking every 4 µs (RFC 9293 §3.4.1), taken from the injected `now`;
 * F is HMAC-SHA-256 keyed with a 16-byte secret drawn once from the RandomSource when
 * the stack is built, truncated to 32 bits. Different 4-tuples get unrelated offsets,
 * so an off-path attacker cannot predict one connection's ISN from another's, while
 * one tuple's ISNs keep increasing with time (which protects TIME-WAIT reuse).
 */
import type { Ipv4Address } from '../net/address.ts';
import type { RandomSource } from '../random.ts';
import type { Instant } from '../time.ts';
import { KeyedHash } from './keyed-hash.ts';

export interface IsnSource {
  next(localAddress: Ipv4Address, localPort: number, remoteAddress: Ipv4Address, remotePort: number, now: Instant): number;
}

/** 4 µs ticks per millisecond. */
const TICKS_PER_MS = 250;

export class Rfc6528Isn implements IsnSource {
  private readonly hash: KeyedHash;
  private readonly tuple = new Uint8Array(12);
  private readonly tupleView = new DataView(this.tuple.buffer);

  constructor(random: RandomSource) {
    this.hash = new KeyedHash(random);
  }

  next(localAddress: Ipv4Address, localPort: number, remoteAddress: Ipv4Address, remotePort: number, now: Instant): number {
    this.tupleView.setUint32(0, localAddress >>> 0);
    this.tupleView.setUint16(4, localPort);
    this.tupleView.setUint32(6, remoteAddress >>> 0);
    this.tupleView.setUint16(10, remotePort);
    const offset = this.hash.hash32(this.tuple);
    const ticks = Math.floor(now * TICKS_PER_MS) % 0x1_0000_0000;
    return (ticks + offset) >>> 0;
  }
}

/** Fixed ISNs, for tests that need exact sequence numbers (e.g. just below 2^32). */
export class FixedIsn implements IsnSource {
  constructor(private readonly value: number) {}
  next(): number {
    return this.value >>> 0;
  }
}
