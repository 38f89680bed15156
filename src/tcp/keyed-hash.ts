/**
 * A secret-keyed 32-bit hash of a few header fields: HMAC-SHA-256 with a 16-byte secret
 * drawn once from the RandomSource, truncated to its first 32 bits. RFC 6528's F() for
 * initial sequence numbers (isn.ts) and the per-address-pair timestamp offset of
 * RFC 7323 §7.1 (timestamps.ts, Linux secure_tcp_ts_off) both use it, each with its own
 * secret, so knowing one value tells an off-path attacker nothing about another.
 */
import { createHmac } from 'node:crypto';
import type { RandomSource } from '../random.ts';

export class KeyedHash {
  private readonly secret: Uint8Array;

  constructor(random: RandomSource) {
    this.secret = random.bytes(16);
  }

  /** The first 32 bits (big-endian) of HMAC-SHA-256(secret, input). */
  hash32(input: Uint8Array): number {
    return createHmac('sha256', this.secret).update(input).digest().readUInt32BE(0);
  }
}
