/**
 * Login failures per source address, and the lockout that follows (SPEC §5, fault 6).
 *
 * Policy:
 * - Each failed login from an address counts (`auth_fail` {address, user}).
 * - The 5th failure in a row locks the address out for BASE_LOCKOUT_MS; every further
 *   failure after a lockout has run out doubles the lockout, up to MAX_LOCKOUT_MS
 *   (`auth_lockout` {address, durationMs}; faults.ts maps it to fault 6, held for the
 *   lockout's length). While locked out, no attempt is even evaluated, so a locked-out
 *   address cannot go on guessing, and a right password does not get in either.
 * - A successful login clears the address's record.
 * - Records are forgotten FORGET_AFTER_MS after the last failure, and the table is
 *   bounded (MAX_TRACKED): the oldest record goes first, so a scan from many addresses
 *   costs bounded memory.
 *
 * Time comes from the injected Clock; nothing here sets a timer.
 */
import type { EventSink } from '../../events.ts';
import type { Clock, Instant } from '../../time.ts';

export const FAILURES_BEFORE_LOCKOUT = 5;
export const BASE_LOCKOUT_MS = 30_000;
export const MAX_LOCKOUT_MS = 60 * 60_000;
export const FORGET_AFTER_MS = 24 * 60 * 60_000;
export const MAX_TRACKED = 1024;

export interface LockoutOptions {
  clock: Clock;
  events: EventSink;
  failuresBeforeLockout?: number;
  baseLockoutMs?: number;
  maxLockoutMs?: number;
}

interface Record {
  failures: number;
  lastFailure: Instant;
  lockedUntil: Instant;
}

export class LoginLockout {
  private readonly clock: Clock;
  private readonly events: EventSink;
  private readonly threshold: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  /** Insertion order is age order: a record is re-inserted on every failure. */
  private readonly records = new Map<string, Record>();

  constructor(options: LockoutOptions) {
    this.clock = options.clock;
    this.events = options.events;
    this.threshold = options.failuresBeforeLockout ?? FAILURES_BEFORE_LOCKOUT;
    this.baseMs = options.baseLockoutMs ?? BASE_LOCKOUT_MS;
    this.maxMs = options.maxLockoutMs ?? MAX_LOCKOUT_MS;
  }

  /** Milliseconds the address stays locked out; 0 when it may try. */
  lockedFor(address: string): number {
    const record = this.current(address);
    if (!record) return 0;
    return Math.max(0, record.lockedUntil - this.clock.now());
  }

  /** Consecutive failures recorded for the address. */
  failures(address: string): number {
    return this.current(address)?.failures ?? 0;
  }

  /** Records a failed login; returns the lockout it started in ms (0 for none). */
  recordFailure(address: string, user: string): number {
    const now = this.clock.now();
    const record = this.current(address) ?? { failures: 0, lastFailure: now, lockedUntil: 0 };
    record.failures += 1;
    record.lastFailure = now;
    this.records.delete(address);
    this.records.set(address, record);
    this.evictOverflow();
    this.events.emit('auth_fail', { address, user, failures: record.failures });
    if (record.failures < this.threshold) return 0;
    const doublings = record.failures - this.threshold;
    const durationMs = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(doublings, 30));
    record.lockedUntil = now + durationMs;
    this.events.emit('auth_lockout', { address, durationMs, failures: record.failures });
    return durationMs;
  }

  recordSuccess(address: string): void {
    this.records.delete(address);
  }

  private current(address: string): Record | undefined {
    const record = this.records.get(address);
    if (record && this.clock.now() - record.lastFailure >= FORGET_AFTER_MS && record.lockedUntil <= this.clock.now()) {
      this.records.delete(address);
      return undefined;
    }
    return record;
  }

  private evictOverflow(): void {
    while (this.records.size > MAX_TRACKED) {
      const oldest = this.records.keys().next();
      if (oldest.done) return;
      this.records.delete(oldest.value);
    }
  }
}
