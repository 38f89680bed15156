/**
 * A token bucket on an injected monotonic clock: `rate` tokens per second refill a
 * bucket of `burst` tokens; each request takes one. Used per connection for ERR 429
 * (SPEC §4). Idle connections cost nothing: the refill is computed on demand, and a
 * session takes its bucket only with its first request (a full bucket then is what the
 * bucket made at connection time would hold: it can only have refilled to the burst).
 */
import type { Clock } from '../../time.ts';
import { DOUBLE_ZERO } from '../../wire/bytes.ts';

export interface RateLimit {
  /** Sustained requests per second. */
  rate: number;
  /** Requests allowed at once after an idle spell. */
  burst: number;
}

/** 1000 requests/s sustained, bursts of 2000: far above any sensor, far below a flood. */
export const DEFAULT_RATE_LIMIT: RateLimit = { rate: 1000, burst: 2000 };

/** Throws a RangeError unless `rate` > 0 and `burst` >= 1 (checked where a bucket is configured, not first used). */
export function checkRateLimit(limit: RateLimit): void {
  if (!(limit.rate > 0) || !(limit.burst >= 1)) throw new RangeError('rate limit: rate must be > 0 and burst >= 1');
}

export class TokenBucket {
  /**
   * Fractions and clock readings: double fields from the first store (DOUBLE_ZERO,
   * wire/bytes.ts), written in place by `take`. Declared without a value they started
   * as tagged fields, and every request's `take` boxed two new heap numbers (the heap
   * profile of the ingest run, issue 13).
   */
  private tokens = DOUBLE_ZERO;
  private updatedAt = DOUBLE_ZERO;

  /** Full at `now` (the clock's reading unless given). */
  constructor(
    private readonly limit: RateLimit,
    private readonly clock: Clock,
    now: number = clock.now(),
  ) {
    checkRateLimit(limit);
    this.tokens = limit.burst;
    this.updatedAt = now;
  }

  /** Takes one token if there is one; `now` lets a caller read the clock once for a batch of requests. */
  take(now: number = this.clock.now()): boolean {
    const elapsed = Math.max(0, now - this.updatedAt);
    this.updatedAt = now;
    this.tokens = Math.min(this.limit.burst, this.tokens + (elapsed * this.limit.rate) / 1000);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
