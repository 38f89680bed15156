/**
 * Delivery rate estimation (draft-cheng-iccrg-delivery-rate-estimation-02, as Linux
 * net/ipv4/tcp_rate.c): the connection-wide counters and the rate sample of each ACK,
 * for BBR (bbr.ts). Only connections that run BBR have one; others pay nothing.
 *
 * State (§3.1): `delivered` bytes delivered so far (SACKed, or cumulatively
 * acknowledged without having been SACKed), `deliveredAt` when it last grew,
 * `firstSentAt` the send time of the packet that began the current send interval,
 * `appLimited` (0, or the value of `delivered` at which the application-limited
 * bubble has left the pipe). Per segment, the scoreboard (scoreboard.ts) keeps the
 * snapshot taken when it was (re)transmitted, in parallel typed arrays beside its
 * records: `delivered`, `deliveredAt`, `firstSentAt` and an APP_LIMITED mark.
 *
 * Call order per ACK: the scoreboard reports each newly delivered record with
 * `recordDelivered` (SACK blocks first, then the cumulative ACK); input.ts then calls
 * `generate` once, which yields the sample (§3.3): delivered = C.delivered −
 * P.delivered, interval = max(send interval, ACK interval) of the most recently sent
 * segment delivered by this ACK (P). A sample whose interval is shorter than the
 * minimum RTT is invalid (ACK compression, §3.3; Linux tcp_rate_gen).
 *
 * Units: bytes and the injected clock's milliseconds. Firmware's clock is
 * `performance.now()` (fractional ms, microsecond resolution or better), so intervals
 * are as fine as Linux's µs. On a clock that ticks in whole ms an interval can be 0 (no
 * sample: `interval > 0` is required) or too short by up to 1 ms; the min-RTT check
 * rejects the worst of those, and BBR's max filter takes the best of ten rounds, so a
 * coarse clock biases the estimate up by at most one tick per interval.
 */
import type { Instant } from '../time.ts';
import { DOUBLE_ZERO } from '../wire/bytes.ts';
import { seqGt } from './seq.ts';

/** One ACK's rate sample (draft §3.3; Linux struct rate_sample). Reused: valid until the next `generate`. */
export interface RateSample {
  /** Bytes delivered over the interval (−1: no valid sample). */
  delivered: number;
  /** The interval in ms (−1: no valid sample). */
  interval: number;
  /** Bytes newly delivered (SACKed or cumulatively acknowledged) by this ACK. */
  ackedSacked: number;
  /** Bytes newly marked lost while this ACK was processed. */
  losses: number;
  /** `delivered` (the connection's) when the sampled segment was sent. */
  priorDelivered: number;
  /** The sampled segment was sent while the sender was application-limited. */
  appLimited: boolean;
  /** RTT in ms of the most recently sent never-retransmitted segment this ACK delivered (−1: none). */
  rtt: number;
  /** Bytes in flight before this ACK was processed (set by the caller). */
  priorInFlight: number;
}

export class DeliveryRate {
  /** Bytes delivered so far (Linux tp->delivered, counted in bytes). */
  delivered = 0;
  /** When `delivered` last grew (delivered_mstamp). */
  deliveredAt: Instant = DOUBLE_ZERO;
  /** Send time of the most recently delivered segment: the start of the current send interval (first_tx_mstamp). */
  firstSentAt: Instant = DOUBLE_ZERO;
  /** 0, or the `delivered` value beyond which the application-limited period is over (tp->app_limited). */
  appLimited = 0;
  /** Bytes marked lost so far (the scoreboard counts them); a sample's losses are its growth. */
  lost = 0;
  readonly sample: RateSample = {
    delivered: -1,
    interval: -1,
    ackedSacked: 0,
    losses: 0,
    priorDelivered: 0,
    appLimited: false,
    rtt: -1,
    priorInFlight: 0,
  };
  // The ACK being processed: P, the most recently sent segment it delivered.
  private havePrior = false;
  private priorAt: Instant = DOUBLE_ZERO;
  private priorEndSeq = DOUBLE_ZERO;
  private sendInterval = DOUBLE_ZERO;
  private ackDelivered = 0;
  private lostAtLastSample = 0;

  /**
   * A segment leaves (draft §3.2 "Upon each packet transmission"); `flightEmpty`:
   * nothing was in flight before it, so the send and ACK intervals start now.
   */
  sending(flightEmpty: boolean, now: Instant): void {
    if (flightEmpty) {
      this.firstSentAt = now;
      this.deliveredAt = now;
    }
  }

  /**
   * `bytes` of a record were delivered by the ACK being processed (draft §3.2 "Upon
   * receiving an ACK", UpdateRateSample); the record's snapshot (taken when it was
   * last sent) follows. A record is reported once: when SACKed, or when cumulatively
   * acknowledged if it never was (a partly acknowledged one for the part).
   */
  recordDelivered(
    bytes: number,
    txDelivered: number,
    txDeliveredAt: Instant,
    txFirstSentAt: Instant,
    sentAt: Instant,
    endSeq: number,
    appLimited: boolean,
    retransmitted: boolean,
    now: Instant,
  ): void {
    this.delivered += bytes;
    this.ackDelivered += bytes;
    if (!retransmitted) {
      const rtt = now - sentAt;
      if (this.sample.rtt < 0 || rtt < this.sample.rtt) this.sample.rtt = rtt;
    }
    // The most recently sent segment delivered (ties: the higher sequence) is P.
    if (this.havePrior && !(sentAt > this.firstSentAt || (sentAt === this.firstSentAt && seqGt(endSeq, this.priorEndSeq)))) return;
    this.havePrior = true;
    this.sample.priorDelivered = txDelivered;
    this.priorAt = txDeliveredAt;
    this.sample.appLimited = appLimited;
    this.priorEndSeq = endSeq;
    this.firstSentAt = sentAt;
    this.sendInterval = sentAt - txFirstSentAt;
  }

  /**
   * The ACK has been processed: the rate sample (draft §3.3 GenerateRateSample; Linux
   * tcp_rate_gen). `minRtt`: the connection's minimum RTT (undefined before one).
   */
  generate(now: Instant, minRtt: number | undefined): RateSample {
    const sample = this.sample;
    if (this.appLimited !== 0 && this.delivered > this.appLimited) this.appLimited = 0;
    if (this.ackDelivered > 0) this.deliveredAt = now;
    sample.ackedSacked = this.ackDelivered;
    sample.losses = this.lost - this.lostAtLastSample;
    this.lostAtLastSample = this.lost;
    this.ackDelivered = 0;
    if (!this.havePrior) {
      sample.delivered = -1;
      sample.interval = -1;
      return sample;
    }
    this.havePrior = false;
    sample.delivered = this.delivered - sample.priorDelivered;
    const interval = Math.max(this.sendInterval, now - this.priorAt);
    // Shorter than the minimum RTT: ACK compression or a stretch ACK would inflate the rate.
    sample.interval = minRtt !== undefined && interval < minRtt ? -1 : interval;
    return sample;
  }

  /** Prepares for the next ACK (the sample's per-ACK fields start over). */
  beginAck(priorInFlight: number): void {
    this.sample.rtt = -1;
    this.sample.priorInFlight = priorInFlight;
  }

  /**
   * The sender has nothing more to send although cwnd would allow it (draft §3.4
   * CheckIfApplicationLimited, called by output.ts): samples taken until this bubble
   * has been delivered are marked application-limited.
   */
  markApplicationLimited(inFlight: number): void {
    this.appLimited = Math.max(this.delivered + inFlight, 1);
  }
}
