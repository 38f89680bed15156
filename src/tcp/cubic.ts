/**
 * CUBIC congestion control (RFC 9438), the window policy Linux uses by default, on the
 * machinery every algorithm shares (congestion.ts: slow start, duplicate ACKs, NewReno
 * and SACK recovery, undo, the application-limited rule).
 *
 *   - Multiplicative decrease (§4.6): ssthresh = FlightSize·β_cubic, β_cubic = 0.7.
 *   - Fast convergence (§4.7): a congestion event below the last W_max lowers it to
 *     cwnd·(1 + β)/2, so a flow that lost bandwidth to a newcomer gives up more.
 *   - Window growth in congestion avoidance (§4.2): W_cubic(t) = C·(t − K)³ + W_max,
 *     C = 0.4, t the seconds since the congestion-avoidance stage began (t_epoch, the
 *     first ACK after recovery), K = ∛((W_max − cwnd_epoch)/C). Each new ACK moves cwnd
 *     toward target = W_cubic(t + RTT), within [cwnd, 1.5·cwnd], by
 *     (target − cwnd)/cwnd per segment acknowledged (§4.4, §4.5).
 *   - Reno-friendly region (§4.3): W_est starts at cwnd_epoch and grows by
 *     α_cubic = 3(1 − β)/(1 + β) segments per window acknowledged (1 once it has reached
 *     cwnd_prior); while W_cubic(t) < W_est, cwnd follows W_est.
 *   - Timeout (§4.8): cwnd = 1 segment as Reno, ssthresh as above; the first
 *     congestion-avoidance stage after it uses K = 0 and W_max = cwnd_epoch (as does a
 *     stage that begins at or above W_max, Linux bictcp_update).
 *   - Spurious loss (§4.9): the base's D-SACK undo restores W_max, K, t_epoch, W_est
 *     and cwnd_prior with cwnd and ssthresh.
 *   - Application-limited periods (§5.8) are left out of t: the base reports them.
 *
 * Slow start is RFC 5681's (HyStart++, RFC 9406, is not implemented). Windows are in
 * segments (floating point) inside the policy, as in the RFC, and cwnd in bytes in the
 * base; the cube root is taken once per congestion-avoidance stage, never per ACK.
 */
import type { Instant } from '../time.ts';
import { DOUBLE_ZERO } from '../wire/bytes.ts';
import { CongestionControlBase } from './congestion.ts';

/** `epochStart` when no epoch is running (negative, so `epochStart < 0` tests it). */
const NO_EPOCH = Number.NEGATIVE_INFINITY;

/** RFC 9438 §4.6: the multiplicative decrease factor. */
export const BETA_CUBIC = 0.7;
/** RFC 9438 §5.1: the aggressiveness constant, segments/s³. */
export const C_CUBIC = 0.4;
/** RFC 9438 §4.3: the Reno-friendly additive increase, 3(1 − β)/(1 + β) segments per RTT. */
export const ALPHA_CUBIC = (3 * (1 - BETA_CUBIC)) / (1 + BETA_CUBIC);
/** RFC 9438 §4.2: target is at most 1.5·cwnd (growth never faster than slow start). */
const MAX_TARGET_FACTOR = 1.5;

export class Cubic extends CongestionControlBase {
  readonly algorithm = 'cubic';
  /** W_max in segments; 0 before the first congestion event. */
  private wMax = DOUBLE_ZERO;
  /** K in seconds, for the current congestion-avoidance stage. */
  private k = DOUBLE_ZERO;
  /** t_epoch: when the current congestion-avoidance stage began; −1 until its first ACK. */
  // NO_EPOCH (-Infinity, a double) rather than -1: the field takes fractional instants.
  private epochStart: Instant = NO_EPOCH;
  /** W_est in segments (§4.3). */
  private wEst = DOUBLE_ZERO;
  /** cwnd_prior in segments: cwnd just before the last reduction. */
  private cwndPrior = DOUBLE_ZERO;
  /** The last congestion event was a retransmission timeout (§4.8). */
  private afterTimeout = false;
  /** Growth below one byte carried to the next ACK. */
  private carry = DOUBLE_ZERO;
  // §4.9: the state before the last reduction.
  private undoWMax = DOUBLE_ZERO;
  private undoK = DOUBLE_ZERO;
  private undoEpochStart: Instant = NO_EPOCH;
  private undoWEst = DOUBLE_ZERO;
  private undoCwndPrior = DOUBLE_ZERO;
  private undoAfterTimeout = false;

  /** W_max in segments (0 before any congestion event). */
  get maxWindow(): number {
    return this.wMax;
  }

  /** K in seconds of the current congestion-avoidance stage. */
  get timeToMaxWindow(): number {
    return this.k;
  }

  /** t_epoch, or undefined while no congestion-avoidance stage has begun since the last event. */
  get epochStartedAt(): Instant | undefined {
    return this.epochStart < 0 ? undefined : this.epochStart;
  }

  /** W_est in segments. */
  get renoEstimate(): number {
    return this.wEst;
  }

  protected reductionThreshold(flightSize: number): number {
    const cwnd = this.cwnd / this.mss;
    // §4.7: below the previous saturation point, release more bandwidth.
    this.wMax = cwnd < this.wMax ? (cwnd * (1 + BETA_CUBIC)) / 2 : cwnd;
    this.cwndPrior = cwnd;
    this.epochStart = NO_EPOCH;
    // §4.6 Figure 5 (the 2-segment floor is the base's).
    return Math.floor(flightSize * BETA_CUBIC);
  }

  protected override timedOut(): void {
    this.afterTimeout = true;
  }

  protected avoid(acked: number, now: Instant, srtt: number): void {
    if (this.epochStart < 0) this.beginEpoch(now);
    const cwnd = this.cwnd / this.mss;
    // §4.3 Figure 4: segments_acked / cwnd = acked bytes / cwnd bytes.
    this.wEst += ((this.wEst >= this.cwndPrior ? 1 : ALPHA_CUBIC) * acked) / this.cwnd;
    const t = (now - this.epochStart) / 1000 - this.k;
    if (C_CUBIC * t * t * t + this.wMax < this.wEst) {
      // Reno-friendly region: cwnd follows W_est.
      const estimate = Math.floor(this.wEst * this.mss);
      if (estimate > this.cwnd) this.cwnd = estimate;
      return;
    }
    // §4.2: target = W_cubic(t + RTT), within [cwnd, 1.5·cwnd]; §4.4, §4.5: grow by
    // (target − cwnd)/cwnd segments per segment acknowledged.
    const ahead = t + srtt / 1000;
    const target = Math.min(C_CUBIC * ahead * ahead * ahead + this.wMax, MAX_TARGET_FACTOR * cwnd);
    if (target <= cwnd) return;
    this.carry += (acked * (target - cwnd)) / cwnd;
    const whole = Math.floor(this.carry);
    this.carry -= whole;
    this.cwnd += whole;
  }

  protected override applicationLimited(elapsed: number): void {
    // §4.2, §5.8: t must not include time the application, not cwnd, limited the sender.
    if (this.epochStart >= 0) this.epochStart += elapsed;
  }

  protected override saveUndo(): void {
    this.undoWMax = this.wMax;
    this.undoK = this.k;
    this.undoEpochStart = this.epochStart;
    this.undoWEst = this.wEst;
    this.undoCwndPrior = this.cwndPrior;
    this.undoAfterTimeout = this.afterTimeout;
  }

  protected override restoreUndo(): void {
    this.wMax = this.undoWMax;
    this.k = this.undoK;
    this.epochStart = this.undoEpochStart;
    this.wEst = this.undoWEst;
    this.cwndPrior = this.undoCwndPrior;
    this.afterTimeout = this.undoAfterTimeout;
  }

  /** The first ACK of a congestion-avoidance stage: t_epoch, cwnd_epoch, K and W_est (§4.2, §4.3, §4.8). */
  private beginEpoch(now: Instant): void {
    this.epochStart = now;
    this.carry = 0;
    const cwndEpoch = this.cwnd / this.mss;
    this.wEst = cwndEpoch;
    if (this.afterTimeout || this.wMax <= cwndEpoch) {
      this.k = 0;
      this.wMax = cwndEpoch;
    } else {
      this.k = Math.cbrt((this.wMax - cwndEpoch) / C_CUBIC);
    }
    this.afterTimeout = false;
  }
}
