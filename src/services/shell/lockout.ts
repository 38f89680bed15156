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
 * - A global failure budget (issue 17): more than GLOBAL_FAILURE_BUDGET failures from
 *   all addresses together within GLOBAL_FAILURE_WINDOW_MS means someone guesses from
 *   many addresses, which the per-address lockout does not stop. While the budget is
 *   exceeded, `slowdownMs()` is GLOBAL_SLOWDOWN_MS: the session waits that long before
 *   it evaluates any password (`auth_slowdown` once when the budget is first exceeded).
 *   The last BUDGET + 1 failure instants are kept in a ring: bounded, no per-address cost.
 * - Persistence: `records()` and `restore()` hand the table to the firmware, which keeps
 *   it under the state directory (firmware/lockout-store.ts), so a restart does not
 *   reset a lockout; `onChange` says when the table changed.
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
export const GLOBAL_FAILURE_BUDGET = 20;
export const GLOBAL_FAILURE_WINDOW_MS = 60_000;
export const GLOBAL_SLOWDOWN_MS = 3_000;

export interface LockoutOptions {
  clock: Clock;
  events: EventSink;
  failuresBeforeLockout?: number;
  baseLockoutMs?: number;
  maxLockoutMs?: number;
  globalFailureBudget?: number;
  globalWindowMs?: number;
  globalSlowdownMs?: number;
  /** Called after every change of the per-address table (for persistence). */
  onChange?: () => void;
}

/** One address's record; instants on the Clock's time line. */
export interface LockoutRecord {
  failures: number;
  lastFailure: Instant;
  lockedUntil: Instant;
}

type Record = LockoutRecord;

export class LoginLockout {
  private readonly clock: Clock;
  private readonly events: EventSink;
  private readonly threshold: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly budget: number;
  private readonly windowMs: number;
  private readonly slowdown: number;
  private readonly onChange: () => void;
  /** Insertion order is age order: a record is re-inserted on every failure. */
  private readonly table = new Map<string, Record>();
  /** The instants of the last `budget + 1` failures, any address (a ring). */
  private readonly recentFailures: Instant[] = [];
  private recentNext = 0;
  private slowdownAnnounced = false;

  constructor(options: LockoutOptions) {
    this.clock = options.clock;
    this.events = options.events;
    this.threshold = options.failuresBeforeLockout ?? FAILURES_BEFORE_LOCKOUT;
    this.baseMs = options.baseLockoutMs ?? BASE_LOCKOUT_MS;
    this.maxMs = options.maxLockoutMs ?? MAX_LOCKOUT_MS;
    this.budget = options.globalFailureBudget ?? GLOBAL_FAILURE_BUDGET;
    this.windowMs = options.globalWindowMs ?? GLOBAL_FAILURE_WINDOW_MS;
    this.slowdown = options.globalSlowdownMs ?? GLOBAL_SLOWDOWN_MS;
    this.onChange = options.onChange ?? (() => undefined);
  }

  /**
   * How long every password attempt waits before it is evaluated: GLOBAL_SLOWDOWN_MS
   * while more than the budget of failures (all addresses) fell in the last window.
   */
  slowdownMs(): number {
    const now = this.clock.now();
    const exceeded = this.recentFailures.length > this.budget && this.recentFailures.every((at) => now - at < this.windowMs);
    if (!exceeded) this.slowdownAnnounced = false;
    return exceeded ? this.slowdown : 0;
  }

  /** The per-address table, oldest first (for persistence). */
  records(): [string, LockoutRecord][] {
    return [...this.table].map(([address, record]) => [address, { ...record }]);
  }

  /** Adds saved records (oldest first), as if their failures had happened here; bounded like any other. */
  restore(records: Iterable<readonly [string, LockoutRecord]>): void {
    for (const [address, record] of records) {
      if (!Number.isFinite(record.failures) || !Number.isFinite(record.lastFailure) || !Number.isFinite(record.lockedUntil)) continue;
      this.table.delete(address);
      this.table.set(address, { failures: Math.max(0, Math.floor(record.failures)), lastFailure: record.lastFailure, lockedUntil: record.lockedUntil });
    }
    this.evictOverflow();
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
    this.table.delete(address);
    this.table.set(address, record);
    this.evictOverflow();
    this.countGlobalFailure(now);
    this.events.emit('auth_fail', { address, user, failures: record.failures });
    let durationMs = 0;
    if (record.failures >= this.threshold) {
      const doublings = record.failures - this.threshold;
      durationMs = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(doublings, 30));
      record.lockedUntil = now + durationMs;
      this.events.emit('auth_lockout', { address, durationMs, failures: record.failures });
    }
    this.onChange();
    return durationMs;
  }

  recordSuccess(address: string): void {
    if (this.table.delete(address)) this.onChange();
  }

  private countGlobalFailure(now: Instant): void {
    const size = this.budget + 1;
    if (this.recentFailures.length < size) this.recentFailures.push(now);
    else this.recentFailures[this.recentNext] = now;
    this.recentNext = (this.recentNext + 1) % size;
    if (!this.slowdownAnnounced && this.slowdownMs() > 0) {
      this.slowdownAnnounced = true;
      this.events.emit('auth_slowdown', { failures: size, windowMs: this.windowMs, delayMs: this.slowdown });
    }
  }

  private current(address: string): Record | undefined {
    const record = this.table.get(address);
    if (record && this.clock.now() - record.lastFailure >= FORGET_AFTER_MS && record.lockedUntil <= this.clock.now()) {
      this.table.delete(address);
      return undefined;
    }
    return record;
  }

  private evictOverflow(): void {
    while (this.table.size > MAX_TRACKED) {
      const oldest = this.table.keys().next();
      if (oldest.done) return;
      this.table.delete(oldest.value);
    }
  }
}
