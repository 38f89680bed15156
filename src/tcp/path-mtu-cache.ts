/**
 * The path MTU cache (RFC 1191 §6.3): path MTUs below the first hop's, per destination,
 * learned from ICMP "fragmentation needed" (path-mtu.ts). Bounded: at most `capacity`
 * destinations, the oldest evicted first; each entry ages out after `lifetime` (Linux's
 * mtu_expires, 10 minutes), after which full-sized datagrams are tried again. Pure: time
 * comes in as `now`.
 */
import type { Instant } from '../time.ts';
import type { Ipv4Address } from '../net/address.ts';

/** RFC 1191 §6.3: a lowered estimate is raised again after about 10 minutes (Linux mtu_expires). */
export const PMTU_LIFETIME_MS = 10 * 60_000;
/** Destinations whose path MTU is remembered (a small device talks to few peers). */
export const PMTU_CACHE_ENTRIES = 64;

export interface CacheEntry {
  mtu: number;
  expiresAt: Instant;
}

/** Path MTUs below the first hop's, per destination: bounded (oldest evicted), each aging out. */
export class PathMtuCache {
  /** In insertion order: the first entry is the oldest. */
  private readonly entries = new Map<Ipv4Address, CacheEntry>();

  constructor(
    readonly capacity = PMTU_CACHE_ENTRIES,
    readonly lifetime = PMTU_LIFETIME_MS,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The remembered path MTU to `destination` and until when it holds, or undefined. */
  lookup(destination: Ipv4Address, now: Instant): Readonly<CacheEntry> | undefined {
    const entry = this.entries.get(destination);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > now) return entry;
    this.entries.delete(destination);
    return undefined;
  }

  /** Records a lower path MTU to `destination`, valid for `lifetime` from `now`. */
  lower(destination: Ipv4Address, mtu: number, now: Instant): CacheEntry {
    this.entries.delete(destination);
    const entry = { mtu, expiresAt: now + this.lifetime };
    this.entries.set(destination, entry);
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.capacity) break;
      this.entries.delete(oldest);
    }
    return entry;
  }
}

