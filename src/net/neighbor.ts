/**
 * The ARP cache (RFC 826, RFC 1122 §2.3.2): IPv4 address → MAC address for on-link
 * neighbors, with the packets that wait for a resolution.
 *
 * Contract. The interface calls `send(nextHop, frame, now)` with a complete frame whose
 * Ethernet header is still blank; the cache either hands it straight back through
 * `link.transmit(frame, mac)`, or keeps it until the neighbor answers. ARP packets the
 * interface receives become `update()` calls (RFC 826 merge). `poll(now)` at `pollAt()`
 * drives retries and expiry. The cache never builds ARP packets itself: it asks the
 * interface with `link.sendRequest(address, unicastTo)`.
 *
 * Entry life cycle:
 *
 *   (absent) --send--> incomplete --ARP from it--> reachable --(lifetime end - refresh window)--> stale
 *                        |  request at once, then every requestIntervalMs,            |   used as is; the first send every
 *                        |  requestRetries more times; one interval after the         |   requestIntervalMs also polls the
 *                        |  last one: queued frames dropped, entry removed            |   neighbor by unicast (RFC 1122 §2.3.2.1)
 *                        v                                                            v
 *                     (absent)                                        ARP from it --> reachable again
 *                                                                     lifetime end --> (absent)
 *
 * So an entry lives exactly `reachableMs` after its last confirmation, and a neighbor
 * that carries traffic is re-confirmed before that (as lwIP does) instead of stalling
 * every flow for one ARP round trip each lifetime. A neighbor that falls silent
 * disappears at the end of its lifetime and the next packet to it starts over with a
 * broadcast request.
 *
 * Bounds: `maxEntries` entries (the least recently confirmed is evicted to make room),
 * `pendingPerNeighbor` frames per unresolved neighbor and `pendingTotal` over all of
 * them; past a bound the oldest waiting frame is dropped (`arp.drop.queue-full`), so
 * the newest data survives, as RFC 1122 §2.3.2.2 asks ("at least one (the latest)
 * packet" of each unresolved destination).
 *
 * Deadlines: `pollAt()` is a lower bound kept without scanning (every new deadline can
 * only pull it earlier); `poll()` scans the entries only when it is due and then
 * recomputes it exactly. A confirmed entry costs nothing until its lifetime ends.
 */
import type { Counters } from '../stats.ts';
import type { Instant } from '../time.ts';
import type { Ipv4Address, MacAddress } from './address.ts';

export interface NeighborSettings {
  /** Lifetime of a mapping after its last confirmation. */
  reachableMs: number;
  /** Spacing of ARP requests for one neighbor (RFC 1122 §2.3.2.1: at most one per second is the rule). */
  requestIntervalMs: number;
  /** Requests sent after the first one before an unresolved neighbor is given up. */
  requestRetries: number;
  pendingPerNeighbor: number;
  pendingTotal: number;
  maxEntries: number;
}

export const DEFAULT_NEIGHBOR_SETTINGS: Readonly<NeighborSettings> = Object.freeze({
  reachableMs: 60_000,
  requestIntervalMs: 1000,
  requestRetries: 3,
  pendingPerNeighbor: 16,
  pendingTotal: 256,
  maxEntries: 512,
});

export type NeighborState = 'reachable' | 'incomplete' | 'stale';

/** A snapshot of one cache entry, for the shell's `arp` command. */
export interface NeighborEntry {
  address: Ipv4Address;
  /** A copy of the cached MAC address; undefined while the neighbor is unresolved. */
  mac: MacAddress | undefined;
  state: NeighborState;
  /** Resolved entries: when the mapping lapses unless confirmed again. Incomplete: when it is given up. */
  expiresAt: Instant;
}

/** What the cache needs from the interface. */
export interface NeighborLink {
  /**
   * Sends an ARP request for `address`: broadcast when `unicastTo` is undefined (resolution),
   * unicast to the cached MAC when it is given (re-validation, RFC 1122 §2.3.2.1 "unicast poll").
   */
  sendRequest(address: Ipv4Address, unicastTo: MacAddress | undefined): void;
  /** Writes the Ethernet header of `frame` for `mac` and transmits it (takes ownership). */
  transmit(frame: Uint8Array, mac: MacAddress): void;
}

export type NeighborSendResult = 'sent' | 'queued' | 'dropped';

/** Counter names for frames the cache drops (transmit side: they never reached the wire). */
export const NeighborDrop = {
  QUEUE_FULL: 'arp.drop.queue-full',
  UNRESOLVED: 'arp.drop.unresolved',
  EVICTED: 'arp.drop.evicted',
  CARRIER_DOWN: 'arp.drop.carrier-down',
  ADDRESS_CHANGE: 'arp.drop.address-change',
} as const;
export type NeighborDrop = (typeof NeighborDrop)[keyof typeof NeighborDrop];

interface PendingFrame {
  readonly frame: Uint8Array;
  /** Global arrival order, to find the oldest waiting frame across neighbors. */
  readonly order: number;
}

interface CacheEntry {
  readonly address: Ipv4Address;
  /** Undefined while incomplete. Always our own copy: frames are only valid during a receive call. */
  mac: MacAddress | undefined;
  /** Resolved: end of the lifetime. */
  expiresAt: Instant;
  /** Resolved: from here on the entry is stale and use of it polls the neighbor. */
  staleAt: Instant;
  /** Incomplete: requests sent so far. */
  requestsSent: number;
  /** Incomplete: next retry (or the give-up instant after the last one). Stale: earliest next unicast poll. */
  nextRequestAt: Instant;
  pending: PendingFrame[];
}

export class NeighborCache {
  /** Insertion order = order of last confirmation (re-confirmed entries move to the end): the eviction order. */
  private readonly entries = new Map<Ipv4Address, CacheEntry>();
  /** Incomplete entries that hold frames, for the global queue bound. */
  private readonly waiting = new Set<CacheEntry>();
  private pendingCount = 0;
  private pendingOrder = 0;
  /** A lower bound of the earliest deadline of any entry (Infinity for none). */
  private nextDeadline = Infinity;
  private readonly settings: NeighborSettings;
  /** The stale window: the time one full re-validation takes, at most half the lifetime. */
  private readonly refreshWindowMs: number;

  constructor(
    settings: Partial<NeighborSettings>,
    private readonly link: NeighborLink,
    private readonly counters: Counters,
  ) {
    this.settings = resolveNeighborSettings(settings);
    this.refreshWindowMs = Math.min(
      this.settings.requestIntervalMs * (this.settings.requestRetries + 1),
      this.settings.reachableMs / 2,
    );
  }

  get size(): number {
    return this.entries.size;
  }

  /** Frames waiting for a resolution, over all neighbors. */
  get pendingFrames(): number {
    return this.pendingCount;
  }

  /**
   * Transmits `frame` to the on-link neighbor `address` (its Ethernet header written once
   * the MAC is known), or keeps it until the neighbor is resolved.
   */
  send(address: Ipv4Address, frame: Uint8Array, now: Instant): NeighborSendResult {
    const mac = this.resolvedMac(address, now);
    if (mac !== undefined) {
      this.link.transmit(frame, mac);
      return 'sent';
    }
    let entry = this.entries.get(address);
    if (entry === undefined) {
      entry = this.createIncomplete(address, now);
      const result = this.enqueue(entry, frame);
      // RFC 826: the first request goes out at once; retries come from poll().
      this.link.sendRequest(address, undefined);
      return result;
    }
    return this.enqueue(entry, frame);
  }

  /**
   * The MAC of `address` when it is resolved (asking again, unicast, once the entry is
   * stale), else undefined: what `send` transmits to at once. The send path of a frame
   * that cannot wait in the queue (a super-frame, interface.ts) asks first.
   */
  resolvedMac(address: Ipv4Address, now: Instant): MacAddress | undefined {
    const entry = this.entries.get(address);
    if (entry?.mac === undefined) return undefined;
    if (now >= entry.expiresAt) {
      // Lapsed but not yet swept (poll runs late): treat it as gone.
      this.entries.delete(address);
      return undefined;
    }
    if (now >= entry.staleAt && now >= entry.nextRequestAt) {
      entry.nextRequestAt = now + this.settings.requestIntervalMs;
      this.link.sendRequest(address, entry.mac);
    }
    return entry.mac;
  }

  /**
   * Records that `address` is at `mac` (an ARP packet from it). RFC 826 merge rule: an
   * existing entry is always updated; a new one is created only when `create` (the
   * packet was for us). Frames waiting on the neighbor are sent, in order.
   * Returns whether an entry now holds the mapping.
   */
  update(address: Ipv4Address, mac: MacAddress, now: Instant, create: boolean): boolean {
    let entry = this.entries.get(address);
    if (entry === undefined) {
      if (!create) return false;
      this.makeRoom();
      entry = this.newEntry(address);
    } else {
      // Re-insert: the Map's order is the order of last confirmation.
      this.entries.delete(address);
    }
    this.entries.set(address, entry);
    if (entry.mac === undefined || !sameMac(entry.mac, mac)) entry.mac = Uint8Array.from(mac);
    entry.expiresAt = now + this.settings.reachableMs;
    entry.staleAt = entry.expiresAt - this.refreshWindowMs;
    entry.requestsSent = 0;
    entry.nextRequestAt = now;
    this.noteDeadline(entry.expiresAt);
    if (entry.pending.length > 0) {
      const frames = entry.pending;
      entry.pending = [];
      this.pendingCount -= frames.length;
      this.waiting.delete(entry);
      // Our own copy of the MAC: a transmit that re-enters the cache cannot change it under us.
      const resolved = entry.mac;
      for (const pending of frames) this.link.transmit(pending.frame, resolved);
    }
    return true;
  }

  /** Whether `address` has an entry (resolved or not). */
  has(address: Ipv4Address): boolean {
    return this.entries.has(address);
  }

  /** Forgets everything (the link went away); waiting frames are counted under `reason`. */
  clear(reason: NeighborDrop): void {
    for (const entry of this.waiting) this.counters.increment(reason, entry.pending.length);
    this.waiting.clear();
    this.entries.clear();
    this.pendingCount = 0;
    this.nextDeadline = Infinity;
  }

  list(now: Instant): NeighborEntry[] {
    const result: NeighborEntry[] = [];
    for (const entry of this.entries.values()) {
      if (entry.mac === undefined) {
        const remaining = this.settings.requestRetries + 1 - entry.requestsSent;
        result.push({
          address: entry.address,
          mac: undefined,
          state: 'incomplete',
          expiresAt: entry.nextRequestAt + remaining * this.settings.requestIntervalMs,
        });
      } else if (now < entry.expiresAt) {
        result.push({
          address: entry.address,
          mac: Uint8Array.from(entry.mac),
          state: now < entry.staleAt ? 'reachable' : 'stale',
          expiresAt: entry.expiresAt,
        });
      }
    }
    return result;
  }

  pollAt(): Instant | undefined {
    return this.nextDeadline === Infinity ? undefined : this.nextDeadline;
  }

  poll(now: Instant): void {
    if (now < this.nextDeadline) return;
    let next = Infinity;
    for (const entry of this.entries.values()) {
      if (entry.mac !== undefined) {
        if (now >= entry.expiresAt) {
          this.entries.delete(entry.address);
          continue;
        }
        next = Math.min(next, entry.expiresAt);
        continue;
      }
      if (now >= entry.nextRequestAt) {
        if (entry.requestsSent > this.settings.requestRetries) {
          // The neighbor never answered: nobody is left to send what waited on it.
          this.giveUp(entry, NeighborDrop.UNRESOLVED);
          continue;
        }
        entry.requestsSent++;
        entry.nextRequestAt = now + this.settings.requestIntervalMs;
        this.link.sendRequest(entry.address, undefined);
      }
      next = Math.min(next, entry.nextRequestAt);
    }
    // Sending requests never adds entries, so `next` covers all of them; a re-entrant
    // update() may have lowered nextDeadline meanwhile, so keep the lower of the two.
    this.nextDeadline = Math.min(next, this.nextDeadline > now ? this.nextDeadline : Infinity);
  }

  private createIncomplete(address: Ipv4Address, now: Instant): CacheEntry {
    this.makeRoom();
    const entry = this.newEntry(address);
    entry.requestsSent = 1;
    entry.nextRequestAt = now + this.settings.requestIntervalMs;
    this.entries.set(address, entry);
    this.noteDeadline(entry.nextRequestAt);
    return entry;
  }

  private newEntry(address: Ipv4Address): CacheEntry {
    return { address, mac: undefined, expiresAt: 0, staleAt: 0, requestsSent: 0, nextRequestAt: 0, pending: [] };
  }

  /** Evicts the least recently confirmed entry when the cache is full. */
  private makeRoom(): void {
    while (this.entries.size >= this.settings.maxEntries) {
      const oldest = this.entries.values().next();
      if (oldest.done === true) return;
      this.giveUp(oldest.value, NeighborDrop.EVICTED);
    }
  }

  private giveUp(entry: CacheEntry, reason: NeighborDrop): void {
    if (entry.pending.length > 0) {
      this.counters.increment(reason, entry.pending.length);
      this.pendingCount -= entry.pending.length;
      entry.pending = [];
      this.waiting.delete(entry);
    }
    this.entries.delete(entry.address);
  }

  private enqueue(entry: CacheEntry, frame: Uint8Array): NeighborSendResult {
    if (this.settings.pendingPerNeighbor === 0 || this.settings.pendingTotal === 0) {
      this.counters.increment(NeighborDrop.QUEUE_FULL);
      return 'dropped';
    }
    if (entry.pending.length >= this.settings.pendingPerNeighbor) {
      this.dropOldest(entry);
    } else if (this.pendingCount >= this.settings.pendingTotal) {
      this.dropOldestAnywhere();
    }
    entry.pending.push({ frame, order: this.pendingOrder++ });
    this.pendingCount++;
    this.waiting.add(entry);
    return 'queued';
  }

  private dropOldest(entry: CacheEntry): void {
    if (entry.pending.shift() === undefined) return;
    this.pendingCount--;
    this.counters.increment(NeighborDrop.QUEUE_FULL);
    if (entry.pending.length === 0) this.waiting.delete(entry);
  }

  /** Rare (only at the global bound), so a scan of the waiting neighbors is fine. */
  private dropOldestAnywhere(): void {
    let oldest: CacheEntry | undefined;
    let oldestOrder = Infinity;
    for (const entry of this.waiting) {
      const head = entry.pending[0];
      if (head !== undefined && head.order < oldestOrder) {
        oldest = entry;
        oldestOrder = head.order;
      }
    }
    if (oldest !== undefined) this.dropOldest(oldest);
  }

  private noteDeadline(deadline: Instant): void {
    if (deadline < this.nextDeadline) this.nextDeadline = deadline;
  }
}

/** Fills in defaults and rejects settings no caller should pass (a programmer error). */
export function resolveNeighborSettings(settings: Partial<NeighborSettings>): NeighborSettings {
  const resolved: NeighborSettings = {
    reachableMs: settings.reachableMs ?? DEFAULT_NEIGHBOR_SETTINGS.reachableMs,
    requestIntervalMs: settings.requestIntervalMs ?? DEFAULT_NEIGHBOR_SETTINGS.requestIntervalMs,
    requestRetries: settings.requestRetries ?? DEFAULT_NEIGHBOR_SETTINGS.requestRetries,
    pendingPerNeighbor: settings.pendingPerNeighbor ?? DEFAULT_NEIGHBOR_SETTINGS.pendingPerNeighbor,
    pendingTotal: settings.pendingTotal ?? DEFAULT_NEIGHBOR_SETTINGS.pendingTotal,
    maxEntries: settings.maxEntries ?? DEFAULT_NEIGHBOR_SETTINGS.maxEntries,
  };
  requirePositive('arp.reachableMs', resolved.reachableMs);
  requirePositive('arp.requestIntervalMs', resolved.requestIntervalMs);
  requireCount('arp.requestRetries', resolved.requestRetries);
  requireCount('arp.pendingPerNeighbor', resolved.pendingPerNeighbor);
  requireCount('arp.pendingTotal', resolved.pendingTotal);
  requireCount('arp.maxEntries', resolved.maxEntries);
  if (resolved.maxEntries < 1) throw new RangeError('arp.maxEntries must be at least 1');
  return resolved;
}

function requirePositive(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number, got ${value}`);
}

function requireCount(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
}

function sameMac(a: MacAddress, b: MacAddress): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}
