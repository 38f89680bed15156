/**
 * The stack's bounds on what the network can make it do.
 *
 * - Resource limits (SPEC §2: `maxConnections`, `synBacklog`): each kind is reported
 *   as the cause event `resource_limit` {limit, port, text} at most once per
 *   LIMIT_REPORT_INTERVAL_MS; the diagnostics layer (src/diag/faults.ts) turns it into
 *   fault 7. The core emits causes, never fault codes.
 * - Replies that an off-path sender can trigger at will are rate limited: challenge ACKs
 *   (a randomized stack-wide budget on top of the per-connection limit in input.ts,
 *   RFC 5961 §7) and RSTs for closed ports (RESETS_PER_SECOND, like FreeBSD's
 *   net.inet.tcp.icmp_lim / badport_bandlim; Linux does not limit them).
 */
import type { EventSink } from '../events.ts';
import type { RandomSource } from '../random.ts';
import type { Instant } from '../time.ts';
import { RateLimiter } from './rate-limit.ts';

/** Stack-wide challenge ACKs per second (randomized ±50%; Linux tcp_challenge_ack_limit is 1000). */
export const CHALLENGE_ACKS_PER_SECOND = 1000;
/** RSTs per second for segments to closed ports (FreeBSD's default badport_bandlim is 200). */
export const RESETS_PER_SECOND = 1000;
/** One challenge ACK per connection (or TIME-WAIT entry) per this many ms (Linux tcp_invalid_ratelimit). */
export const CHALLENGE_ACK_INTERVAL_MS = 500;
/** A resource limit is reported at most this often per kind. */
export const LIMIT_REPORT_INTERVAL_MS = 10_000;

export type ResourceLimit = 'connections' | 'syn_backlog';

export class StackLimits {
  readonly challengeAcks: RateLimiter;
  readonly closedPortResets = new RateLimiter(RESETS_PER_SECOND, 1000);
  private readonly reportedAt = new Map<ResourceLimit, Instant>();

  constructor(
    private readonly events: EventSink,
    random: RandomSource,
  ) {
    this.challengeAcks = new RateLimiter(CHALLENGE_ACKS_PER_SECOND, 1000, random);
  }

  /** Reports that `limit` was hit (at most once per LIMIT_REPORT_INTERVAL_MS per kind). */
  reached(limit: ResourceLimit, port: number, now: Instant, text: string): void {
    const last = this.reportedAt.get(limit);
    if (last !== undefined && now - last < LIMIT_REPORT_INTERVAL_MS) return;
    this.reportedAt.set(limit, now);
    this.events.emit('resource_limit', { limit, port, text });
  }
}
