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

/**
 * CUBIC's own state: the congestion-avoidance stage (W_max, K, t_epoch, W_est,
 * cwnd_prior, the carry) and its copy for the undo (§4.9). Created at a connection's
 * first congestion-avoidance ACK or first congestion event, not with the connection: the
 * windows are fractions, so their fields are double fields (started at `DOUBLE_ZERO`,
 * field-representation.test.ts), and V8 keeps each double field of an object in a heap
 * number of its own (16 bytes on 64-bit Node). An idle connection never leaves slow
 * start, so it carries one empty field instead of eleven boxed ones (~0.27 KB per
 * connection; bench/BASELINE.md, "JS heap per idle connection: the double fields").
 */
class CubicState {
  /** W_max in segments; 0 before the first congestion event. */
  wMax = DOUBLE_ZERO;
  /** K in seconds, for the current congestion-avoidance stage. */
  k = DOUBLE_ZERO;
  /** t_epoch: when the current congestion-avoidance stage began; NO_EPOCH until its first ACK. */
  // NO_EPOCH (-Infinity, a double) rather than -1: the field takes fractional instants.
  epochStart: Instant = NO_EPOCH;
  /** W_est in segments (§4.3). */
  wEst = DOUBLE_ZERO;
  /** cwnd_prior in segments: cwnd just before the last reduction. */
  cwndPrior = DOUBLE_ZERO;
  /** The last congestion event was a retransmission timeout (§4.8). */
  afterTimeout = false;
  /** Growth below one byte carried to the next ACK. */
  carry = DOUBLE_ZERO;
  // §4.9: the state before the last reduction.
  undoWMax = DOUBLE_ZERO;
  undoK = DOUBLE_ZERO;
  undoEpochStart: Instant = NO_EPOCH;
  undoWEst = DOUBLE_ZERO;
  undoCwndPrior = DOUBLE_ZERO;
  undoAfterTimeout = false;
}

export class Cubic extends CongestionControlBase {
  readonly algorithm = 'cubic';
  /** CUBIC's state, undefined until the first congestion-avoidance ACK or congestion event (all its values then are the initial ones). */
  private state: CubicState | undefined = undefined;

  /** W_max in segments (0 before any congestion event). */
  get maxWindow(): number {
    return this.state === undefined ? 0 : this.state.wMax;
  }

  /** K in seconds of the current congestion-avoidance stage. */
  get timeToMaxWindow(): number {
    return this.state === undefined ? 0 : this.state.k;
  }

  /** t_epoch, or undefined while no congestion-avoidance stage has begun since the last event. */
  get epochStartedAt(): Instant | undefined {
    const state = this.state;
    return state === undefined || state.epochStart < 0 ? undefined : state.epochStart;
  }

  /** W_est in segments. */
  get renoEstimate(): number {
    return this.state === undefined ? 0 : this.state.wEst;
  }

  /** The state, created on first use (once per connection, never per ACK). */
  private stateOf(): CubicState {
    let state = this.state;
    if (state === undefined) {
      state = new CubicState();
      this.state = state;
    }
    return state;
  }

  protected reductionThreshold(flightSize: number): number {
    const state = this.stateOf();
    const cwnd = this.cwnd / this.mss;
    // §4.7: below the previous saturation point, release more bandwidth.
    state.wMax = cwnd < state.wMax ? (cwnd * (1 + BETA_CUBIC)) / 2 : cwnd;
    state.cwndPrior = cwnd;
    state.epochStart = NO_EPOCH;
    // §4.6 Figure 5 (the 2-segment floor is the base's).
    return Math.floor(flightSize * BETA_CUBIC);
  }

  protected override timedOut(): void {
    this.stateOf().afterTimeout = true;
  }

  protected avoid(acked: number, now: Instant, srtt: number): void {
    const state = this.stateOf();
    if (state.epochStart < 0) this.beginEpoch(state, now);
    const cwnd = this.cwnd / this.mss;
    // §4.3 Figure 4: segments_acked / cwnd = acked bytes / cwnd bytes.
    state.wEst += ((state.wEst >= state.cwndPrior ? 1 : ALPHA_CUBIC) * acked) / this.cwnd;
    const t = (now - state.epochStart) / 1000 - state.k;
    if (C_CUBIC * t * t * t + state.wMax < state.wEst) {
      // Reno-friendly region: cwnd follows W_est.
      const estimate = Math.floor(state.wEst * this.mss);
      if (estimate > this.cwnd) this.cwnd = estimate;
      return;
    }
    // §4.2: target = W_cubic(t + RTT), within [cwnd, 1.5·cwnd]; §4.4, §4.5: grow by
    // (target − cwnd)/cwnd segments per segment acknowledged.
    const ahead = t + srtt / 1000;
    const target = Math.min(C_CUBIC * ahead * ahead * ahead + state.wMax, MAX_TARGET_FACTOR * cwnd);
    if (target <= cwnd) return;
    state.carry += (acked * (target - cwnd)) / cwnd;
    const whole = Math.floor(state.carry);
    state.carry -= whole;
    this.cwnd += whole;
  }

  protected override applicationLimited(elapsed: number): void {
    // §4.2, §5.8: t must not include time the application, not cwnd, limited the sender.
    const state = this.state;
    if (state !== undefined && state.epochStart >= 0) state.epochStart += elapsed;
  }

  protected override saveUndo(): void {
    const state = this.stateOf();
    state.undoWMax = state.wMax;
    state.undoK = state.k;
    state.undoEpochStart = state.epochStart;
    state.undoWEst = state.wEst;
    state.undoCwndPrior = state.cwndPrior;
    state.undoAfterTimeout = state.afterTimeout;
  }

  protected override restoreUndo(): void {
    // Without a state nothing was saved or changed: the initial values stand.
    const state = this.state;
    if (state === undefined) return;
    state.wMax = state.undoWMax;
    state.k = state.undoK;
    state.epochStart = state.undoEpochStart;
    state.wEst = state.undoWEst;
    state.cwndPrior = state.undoCwndPrior;
    state.afterTimeout = state.undoAfterTimeout;
  }

  /** The first ACK of a congestion-avoidance stage: t_epoch, cwnd_epoch, K and W_est (§4.2, §4.3, §4.8). */
  private beginEpoch(state: CubicState, now: Instant): void {
    state.epochStart = now;
    state.carry = 0;
    const cwndEpoch = this.cwnd / this.mss;
    state.wEst = cwndEpoch;
    if (state.afterTimeout || state.wMax <= cwndEpoch) {
      state.k = 0;
      state.wMax = cwndEpoch;
    } else {
      state.k = Math.cbrt((state.wMax - cwndEpoch) / C_CUBIC);
    }
    state.afterTimeout = false;
  }
}
