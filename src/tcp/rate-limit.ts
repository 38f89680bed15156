/**
 * A fixed-window rate limiter on injected time: at most `budget` events per `periodMs`.
 * Used for the stack-wide challenge-ACK budget (RFC 5961 §7), RSTs to closed ports and
 * resource-limit reports. With `random`, each period's budget is drawn from
 * [budget/2, budget·3/2) so an off-path observer cannot learn how much of it others used
 * (the CVE-2016-5696 side channel; Linux randomizes its challenge-ACK count the same way).
 */
import type { RandomSource } from '../random.ts';
import type { Instant } from '../time.ts';

export class RateLimiter {
  private periodStart = -Infinity;
  private remaining = 0;

  constructor(
    private readonly budget: number,
    private readonly periodMs: number,
    private readonly random?: RandomSource,
  ) {}

  /** True (and one unit spent) if another event is allowed at `now`. */
  allow(now: Instant): boolean {
    if (now - this.periodStart >= this.periodMs) {
      this.periodStart = now;
      this.remaining =
        this.random === undefined ? this.budget : Math.floor(this.budget / 2) + (this.random.uint32() % Math.max(1, this.budget));
    }
    if (this.remaining <= 0) return false;
    this.remaining--;
    return true;
  }
}
