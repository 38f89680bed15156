/**
 * BBR version 1 (draft-cardwell-iccrg-bbr-congestion-control-00; Linux mainline
 * net/ipv4/tcp_bbr.c): a model-based congestion control. It estimates the bottleneck
 * bandwidth (BtlBw: the windowed maximum of delivery rate samples over 10 round trips,
 * delivery-rate.ts) and the round-trip propagation time (RTprop: the minimum RTT over
 * 10 s), and sends at pacing_gain·BtlBw (pacing.ts) with at most cwnd_gain·BDP in
 * flight. Loss does not shape the model, so random loss does not shrink the window as
 * it does CUBIC's.
 *
 * The state machine (draft §4.3):
 *   STARTUP    pacing and cwnd gain 2/ln 2 ≈ 2.885 until the pipe is full: three rounds
 *              in a row without 25% growth of BtlBw (not counting application-limited
 *              samples; `fullBandwidthReached`);
 *   DRAIN      pacing gain 1/2.885 until what is in flight ≤ 1·BDP;
 *   PROBE_BW   the 8-phase pacing gain cycle 5/4, 3/4, 1, 1, 1, 1, 1, 1 (each phase one
 *              RTprop long; the 5/4 phase also lasts until in flight reaches 5/4·BDP or a
 *              loss, the 3/4 phase ends early once in flight ≤ BDP), entered at a
 *              pseudo-random phase other than 3/4; cwnd gain 2;
 *   PROBE_RTT  when RTprop has not been renewed for 10 s: cwnd 4 segments for at least
 *              200 ms and one round trip, then RTprop is renewed and the connection goes
 *              back to PROBE_BW (or STARTUP if the pipe was never full).
 * cwnd = cwnd_gain·BDP + 3 send quanta (the quantization budget, Linux
 * bbr_quantization_budget: room for the pacing bursts, pacing.ts) rounded up to an even
 * number of segments, +2 segments in the 5/4 phase; it grows towards that target by
 * what each ACK delivers (and only grows before the pipe is full), never below 4
 * segments. In recovery the window follows packet conservation for the first round
 * (cwnd = in flight + delivered) and is restored to the value before the loss when
 * recovery ends; losses reported by an ACK take as much off cwnd (Linux
 * bbr_set_cwnd_to_recover_or_restore). An RTO leaves cwnd at one segment (the base's
 * loss window) and treats the timeout as the end of a round.
 *
 * Not implemented: long-term bandwidth sampling (policer detection, Linux
 * bbr_lt_bw_sampling) and the ACK aggregation allowance (bbr_update_ack_aggregation,
 * added to Linux after the draft). Units: bytes, and bytes per ms for rates; the
 * caller passes the injected `now` in ms. Nothing here allocates per ACK.
 *
 * Call order (bbr-ack.ts): per ACK, after the scoreboard and loss marking have seen it,
 * `onRateSample(sample, inFlight, now)`; the pacing rate and cwnd are read after it.
 * The CongestionControl events (`onAck`, `enterRecovery`, `onRetransmitTimeout`, ...)
 * only track the recovery states, as Linux's icsk_ca_state is seen by BBR.
 */
import type { Instant } from '../time.ts';
import type { CongestionControl, CongestionAction } from './congestion.ts';
import { initialWindow } from './congestion.ts';
import type { RateSample } from './delivery-rate.ts';
import { seqGe, seqGt } from './seq.ts';
import { WindowedMaxFilter } from './windowed-filter.ts';
import { DOUBLE_ZERO } from '../wire/bytes.ts';

export const BbrMode = { STARTUP: 'STARTUP', DRAIN: 'DRAIN', PROBE_BW: 'PROBE_BW', PROBE_RTT: 'PROBE_RTT' } as const;
export type BbrMode = (typeof BbrMode)[keyof typeof BbrMode];

/** Draft §4.3.2.1: 2/ln 2, the smallest gain that doubles the sending rate each round (Linux: 2885/1000 + 1/256). */
export const BBR_HIGH_GAIN = 2 / Math.LN2;
/** Draft §4.3.3: the inverse of the startup gain, to drain the queue startup built. */
export const BBR_DRAIN_GAIN = 1 / BBR_HIGH_GAIN;
/** Draft §4.3.4.2: cwnd gain in PROBE_BW. */
export const BBR_CWND_GAIN = 2;
/** Draft §4.3.4.3: the pacing gain cycle of PROBE_BW. */
export const BBR_PACING_GAIN_CYCLE: readonly number[] = [5 / 4, 3 / 4, 1, 1, 1, 1, 1, 1];
/** Draft §4.1.1: BtlBw is the maximum over this many round trips. */
export const BBR_BANDWIDTH_WINDOW_ROUNDS = 10;
/** Draft §4.1.2: RTprop is the minimum over this many ms. */
export const BBR_MIN_RTT_WINDOW_MS = 10_000;
/** Draft §4.3.5: PROBE_RTT holds the small window at least this long. */
export const BBR_PROBE_RTT_MS = 200;
/** Draft §4.3.5: the window in PROBE_RTT and the floor of cwnd, in segments. */
export const BBR_MIN_CWND_SEGMENTS = 4;
/** Draft §4.3.2.2: BtlBw must grow by this factor per round for the pipe to be "not yet full"... */
export const BBR_FULL_BANDWIDTH_GROWTH = 5 / 4;
/** ...within this many rounds. */
export const BBR_FULL_BANDWIDTH_ROUNDS = 3;
/** Linux bbr_pacing_margin_percent: pace 1% below the estimate, so queues from the estimate's noise drain. */
const PACING_MARGIN = 0.99;
/** The pacing quantum's target duration (Linux: sk_pacing_shift 10, about 1 ms of pacing rate). */
export const PACING_QUANTUM_MS = 1;
/** The pacing quantum's cap in bytes (Linux: GSO_MAX_SIZE, 64 KiB). */
export const PACING_QUANTUM_MAX = 64 * 1024;
/** The RTT assumed before any sample, for the initial pacing rate (Linux: 1 ms). */
const DEFAULT_RTT_MS = 1;
/** ssthresh reported before the pipe is full ("infinite", as Linux's TCP_INFINITE_SSTHRESH). */
const INFINITE_SSTHRESH = 0x3fff_ffff;

/** Linux tcp_ca_state as BBR sees it: open, recovery (fast or SACK), loss (after an RTO). */
const CaState = { OPEN: 0, RECOVERY: 3, LOSS: 4 } as const;
type CaState = (typeof CaState)[keyof typeof CaState];

/**
 * The pacing quantum for a pacing `rate` (bytes per ms) and `mss`: about 1 ms of data, at
 * least 2 segments, at most 64 KiB (Linux bbr_tso_segs_goal and tcp_tso_autosize).
 */
export function pacingQuantum(rate: number, mss: number): number {
  return Math.min(PACING_QUANTUM_MAX, Math.max(2 * mss, rate * PACING_QUANTUM_MS));
}

export class Bbr implements CongestionControl {
  readonly algorithm = 'bbr';
  private mss = 536;
  private cwnd = 536;
  private ssthresh = INFINITE_SSTHRESH;
  // ---- recovery states (what Linux's icsk_ca_state tells BBR) ----
  private caState: CaState = CaState.OPEN;
  private previousCaState: CaState = CaState.OPEN;
  /** SND.MAX when the last recovery or RTO began: it ends when the cumulative ACK reaches it. */
  private recover = DOUBLE_ZERO;
  private priorCwnd = 0;
  private packetConservation = false;
  // ---- the model ----
  private readonly bandwidth = new WindowedMaxFilter(BBR_BANDWIDTH_WINDOW_ROUNDS);
  private minRttValue = Number.POSITIVE_INFINITY;
  private minRttStamp: Instant = DOUBLE_ZERO;
  private roundCount = 0;
  private roundStart = false;
  /** `delivered` at which the current round ends (draft next_round_delivered). */
  private nextRoundDelivered = 0;
  // ---- state machine ----
  private currentMode: BbrMode = BbrMode.STARTUP;
  private pacingGainValue = BBR_HIGH_GAIN;
  private cwndGainValue = BBR_HIGH_GAIN;
  private fullBandwidth = 0;
  private fullBandwidthCount = 0;
  private fullBandwidthReachedValue = false;
  private cycleIndex = 0;
  private cycleStamp: Instant = DOUBLE_ZERO;
  /** When data was last delivered (Linux delivered_mstamp): the gain cycle's clock. */
  private deliveredAt: Instant = DOUBLE_ZERO;
  private probeRttDoneStamp: Instant = 0;
  private probeRttRoundDone = false;
  private idleRestart = false;
  /** An RTT sample has set the initial pacing rate (Linux has_seen_rtt). */
  private seenRtt = false;
  /** Pacing rate in bytes per ms (0 until `start`). */
  private pacing = 0;
  /** A small xorshift state for the PROBE_BW entry phase (Linux: prandom), seeded per connection. */
  private randomState: number;

  /** `seed`: any 32-bit number that differs between connections (the ISS), for the random cycle phase. */
  constructor(seed = 1) {
    this.randomState = seed >>> 0 || 1;
  }

  get congestionWindow(): number {
    return this.cwnd;
  }

  get slowStartThreshold(): number {
    return this.ssthresh;
  }

  get inRecovery(): boolean {
    return this.caState === CaState.RECOVERY;
  }

  /** The state machine's mode. */
  get mode(): BbrMode {
    return this.currentMode;
  }

  /** BtlBw in bytes per ms (0 before a sample). */
  get bottleneckBandwidth(): number {
    return this.bandwidth.best;
  }

  /** RTprop in ms (Infinity before a sample). */
  get minRtt(): number {
    return this.minRttValue;
  }

  /** The pacing rate in bytes per ms. */
  get pacingRate(): number {
    return this.pacing;
  }

  get pacingGain(): number {
    return this.pacingGainValue;
  }

  get cwndGain(): number {
    return this.cwndGainValue;
  }

  /** The PROBE_BW phase (index into BBR_PACING_GAIN_CYCLE). */
  get cyclePhase(): number {
    return this.cycleIndex;
  }

  get fullBandwidthReached(): boolean {
    return this.fullBandwidthReachedValue;
  }

  /** Round trips counted so far (draft round_count). */
  get rounds(): number {
    return this.roundCount;
  }

  start(mss: number, highestSent: number, handshakeLost: boolean): void {
    this.mss = mss;
    this.cwnd = initialWindow(mss, handshakeLost);
    this.recover = highestSent;
  }

  /**
   * The initial pacing rate (draft §4.2.1 BBRInitPacingRate, Linux bbr_init_pacing_rate_from_rtt):
   * 2.885·cwnd per SRTT (1 ms without a sample). `now` starts the RTprop window.
   */
  init(srtt: number | undefined, now: Instant): void {
    this.seenRtt = srtt !== undefined && srtt > 0;
    const rtt = this.seenRtt ? srtt! : DEFAULT_RTT_MS;
    this.pacing = (BBR_HIGH_GAIN * this.cwnd * PACING_MARGIN) / rtt;
    // RTprop starts from the handshake's sample, if any (Linux bbr_init: tcp_min_rtt).
    if (this.seenRtt) this.minRttValue = srtt!;
    this.minRttStamp = now;
    this.cycleStamp = now;
    this.deliveredAt = now;
  }

  /** The send quantum for the current pacing rate (pacing.ts). */
  sendQuantum(): number {
    return pacingQuantum(this.pacing, this.mss);
  }

  onAck(ackNumber: number, _acked: number, _flightSizeAfter: number, _now: Instant, _srtt: number | undefined): CongestionAction {
    if (this.caState !== CaState.OPEN && seqGe(ackNumber, this.recover)) this.caState = CaState.OPEN;
    // Keep `recover` within 2^31 of SND.UNA (congestion.ts says why).
    if (this.caState === CaState.OPEN && seqGt(ackNumber, this.recover)) this.recover = ackNumber;
    return 'none';
  }

  onDuplicateAck(): CongestionAction {
    // BBR runs only with SACK (connection.ts falls back to CUBIC without): recovery.ts decides.
    return 'none';
  }

  onRetransmitTimeout(_flightSize: number, highestSent: number, repeated = false): void {
    if (!repeated) this.saveCwnd();
    this.ssthresh = INFINITE_SSTHRESH;
    // Linux tcp_enter_loss: cwnd = in flight (all marked lost) + 1; bbr_set_state: the
    // timeout ends the round and restarts the plateau check.
    this.cwnd = this.mss;
    this.caState = CaState.LOSS;
    this.previousCaState = CaState.LOSS;
    this.packetConservation = false;
    this.fullBandwidth = 0;
    this.fullBandwidthCount = 0;
    this.roundStart = true;
    this.recover = highestSent;
  }

  enterRecovery(ackNumber: number, _flightSize: number, highestSent: number): boolean {
    if (this.caState !== CaState.OPEN || !seqGe(ackNumber, this.recover)) return false;
    this.saveCwnd();
    this.caState = CaState.RECOVERY;
    this.recover = highestSent;
    return true;
  }

  onTailLossRepaired(): void {
    // Linux: the TLP's CWR episode sets cwnd to ssthresh, which BBR keeps infinite: no change.
  }

  undoReduction(): void {
    // Linux bbr_undo_cwnd: the plateau detection starts over; cwnd comes back to what it was.
    this.fullBandwidth = 0;
    this.fullBandwidthCount = 0;
    if (this.priorCwnd > this.cwnd) this.cwnd = this.priorCwnd;
    if (this.caState === CaState.LOSS) this.caState = CaState.OPEN;
  }

  /**
   * The sender starts again after an idle period while application-limited (Linux
   * CA_EVENT_TX_START, draft §4.3.4.4 "restarting from idle"): pace at BtlBw, not above.
   */
  restartFromIdle(now: Instant): void {
    this.idleRestart = true;
    if (this.currentMode === BbrMode.PROBE_BW) this.setPacingRate(1);
    else if (this.currentMode === BbrMode.PROBE_RTT) this.checkProbeRttDone(now);
  }

  /**
   * One ACK's rate sample (delivery-rate.ts) with `inFlight` bytes in flight after it
   * (the RFC 6675 pipe) and `delivered` the connection's delivered total: the model,
   * the state machine, the pacing rate and cwnd (draft §4.2, Linux bbr_main).
   * Returns whether the sender went application-limited by entering PROBE_RTT.
   */
  onRateSample(sample: RateSample, inFlight: number, delivered: number, now: Instant): boolean {
    if (sample.ackedSacked > 0) this.deliveredAt = now;
    this.updateBandwidth(sample, delivered);
    this.updateCyclePhase(sample);
    this.checkFullBandwidthReached(sample);
    this.checkDrain(inFlight);
    const appLimitedNow = this.updateMinRtt(sample, inFlight, delivered, now);
    this.updateGains();
    this.setPacingRate(this.pacingGainValue);
    this.setCwnd(sample, inFlight, delivered);
    return appLimitedNow;
  }

  /** BDP·gain in bytes (draft §4.2.3.2 BBRInflight without the quanta): the initial window before an RTT sample. */
  private bdp(gain: number): number {
    if (!Number.isFinite(this.minRttValue)) return initialWindow(this.mss, false);
    return Math.ceil(this.bandwidth.best * this.minRttValue * gain);
  }

  /** gain·BDP plus the quantization budget (Linux bbr_inflight and bbr_quantization_budget), in bytes. */
  inflightTarget(gain: number): number {
    let target = this.bdp(gain) + 3 * this.sendQuantum();
    // Round up to an even number of segments (Linux: delayed ACKs every other segment).
    const segments = Math.ceil(target / this.mss);
    target = (segments + (segments & 1)) * this.mss;
    if (this.currentMode === BbrMode.PROBE_BW && this.cycleIndex === 0) target += 2 * this.mss;
    return target;
  }

  /** Draft §4.1.1.5 and §4.1.1.3: round counting and the BtlBw filter (Linux bbr_update_bw). */
  private updateBandwidth(sample: RateSample, delivered: number): void {
    this.roundStart = false;
    if (sample.delivered < 0 || sample.interval <= 0) return;
    if (sample.priorDelivered >= this.nextRoundDelivered) {
      this.nextRoundDelivered = delivered;
      this.roundCount++;
      this.roundStart = true;
      this.packetConservation = false;
    }
    const rate = sample.delivered / sample.interval;
    // An application-limited sample only counts when it beats the estimate (draft §4.1.1.4).
    if (!sample.appLimited || rate >= this.bandwidth.best) this.bandwidth.update(this.roundCount, rate);
  }

  /** Draft §4.3.4.3 (Linux bbr_update_cycle_phase, bbr_is_next_cycle_phase). */
  private updateCyclePhase(sample: RateSample): void {
    if (this.currentMode !== BbrMode.PROBE_BW) return;
    // Phases are timed on delivery instants (Linux: delivered_mstamp).
    const fullLength = this.deliveredAt - this.cycleStamp > this.minRttValue;
    const gain = BBR_PACING_GAIN_CYCLE[this.cycleIndex]!;
    let next: boolean;
    if (gain === 1) next = fullLength;
    else if (gain > 1) next = fullLength && (sample.losses > 0 || sample.priorInFlight >= this.inflightTarget(gain));
    else next = fullLength || sample.priorInFlight <= this.inflightTarget(1);
    if (next) this.advanceCyclePhase();
  }

  private advanceCyclePhase(): void {
    this.cycleIndex = (this.cycleIndex + 1) % BBR_PACING_GAIN_CYCLE.length;
    this.cycleStamp = this.deliveredAt;
  }

  /** Draft §4.3.2.2 BBRCheckFullPipe (Linux bbr_check_full_bw_reached). */
  private checkFullBandwidthReached(sample: RateSample): void {
    if (this.fullBandwidthReachedValue || !this.roundStart || sample.appLimited) return;
    const best = this.bandwidth.best;
    if (best >= this.fullBandwidth * BBR_FULL_BANDWIDTH_GROWTH) {
      this.fullBandwidth = best;
      this.fullBandwidthCount = 0;
      return;
    }
    this.fullBandwidthCount++;
    this.fullBandwidthReachedValue = this.fullBandwidthCount >= BBR_FULL_BANDWIDTH_ROUNDS;
  }

  /** Draft §4.3.3 (Linux bbr_check_drain). */
  private checkDrain(inFlight: number): void {
    if (this.currentMode === BbrMode.STARTUP && this.fullBandwidthReachedValue) {
      this.currentMode = BbrMode.DRAIN;
      this.ssthresh = this.inflightTarget(1);
    }
    if (this.currentMode === BbrMode.DRAIN && inFlight <= this.inflightTarget(1)) this.enterProbeBandwidth();
  }

  /** Draft §4.3.4.1: PROBE_BW at a random phase other than 3/4 (Linux bbr_reset_probe_bw_mode). */
  private enterProbeBandwidth(): void {
    this.currentMode = BbrMode.PROBE_BW;
    // Phase 7 − rand(0..6), then advanced: one of 2..7 or 0, never the draining phase 1.
    this.cycleIndex = BBR_PACING_GAIN_CYCLE.length - 1 - (this.random() % (BBR_PACING_GAIN_CYCLE.length - 1));
    this.advanceCyclePhase();
  }

  /**
   * Draft §4.1.2.3 and §4.3.5 (Linux bbr_update_min_rtt): RTprop, and PROBE_RTT when it
   * has not been renewed for 10 s. Returns true while PROBE_RTT holds the sender
   * application-limited (its samples must not lower BtlBw).
   */
  private updateMinRtt(sample: RateSample, inFlight: number, delivered: number, now: Instant): boolean {
    const expired = now > this.minRttStamp + BBR_MIN_RTT_WINDOW_MS;
    // An equal sample renews RTprop too (Linux: rtt_us <= min_rtt_us). (Linux also skips
    // a sample of a delayed ACK for the expired case; piwire cannot tell those.)
    if (sample.rtt >= 0 && (sample.rtt <= this.minRttValue || expired)) {
      this.minRttValue = sample.rtt;
      this.minRttStamp = now;
    }
    if (expired && !this.idleRestart && this.currentMode !== BbrMode.PROBE_RTT) {
      this.currentMode = BbrMode.PROBE_RTT;
      this.saveCwnd();
      this.probeRttDoneStamp = 0;
    }
    let appLimited = false;
    if (this.currentMode === BbrMode.PROBE_RTT) {
      appLimited = true;
      if (this.probeRttDoneStamp === 0 && inFlight <= BBR_MIN_CWND_SEGMENTS * this.mss) {
        this.probeRttDoneStamp = now + BBR_PROBE_RTT_MS;
        this.probeRttRoundDone = false;
        this.nextRoundDelivered = delivered;
      } else if (this.probeRttDoneStamp !== 0) {
        if (this.roundStart) this.probeRttRoundDone = true;
        if (this.probeRttRoundDone) this.checkProbeRttDone(now);
      }
    }
    if (sample.delivered > 0) this.idleRestart = false;
    return appLimited;
  }

  /** Linux bbr_check_probe_rtt_done: 200 ms and a round trip at the small window, then back. */
  private checkProbeRttDone(now: Instant): void {
    if (this.probeRttDoneStamp === 0 || now <= this.probeRttDoneStamp) return;
    this.minRttStamp = now;
    this.cwnd = Math.max(this.cwnd, this.priorCwnd);
    if (this.fullBandwidthReachedValue) this.enterProbeBandwidth();
    else this.currentMode = BbrMode.STARTUP;
  }

  /** Draft §4.3 gains per mode (Linux bbr_update_gains). */
  private updateGains(): void {
    switch (this.currentMode) {
      case BbrMode.STARTUP:
        this.pacingGainValue = BBR_HIGH_GAIN;
        this.cwndGainValue = BBR_HIGH_GAIN;
        break;
      case BbrMode.DRAIN:
        this.pacingGainValue = BBR_DRAIN_GAIN;
        this.cwndGainValue = BBR_HIGH_GAIN;
        break;
      case BbrMode.PROBE_BW:
        this.pacingGainValue = BBR_PACING_GAIN_CYCLE[this.cycleIndex]!;
        this.cwndGainValue = BBR_CWND_GAIN;
        break;
      case BbrMode.PROBE_RTT:
        this.pacingGainValue = 1;
        this.cwndGainValue = 1;
        break;
    }
  }

  /**
   * Draft §4.2.1 BBRSetPacingRate (Linux bbr_set_pacing_rate): gain·BtlBw less the 1%
   * margin; before the pipe is full it only rises (so a first small sample does not
   * slow startup below the initial rate).
   */
  private setPacingRate(gain: number): void {
    if (!this.seenRtt && Number.isFinite(this.minRttValue) && this.minRttValue > 0) {
      // The first RTT sample: the initial rate again from it (Linux has_seen_rtt), not from 1 ms.
      this.seenRtt = true;
      this.pacing = (BBR_HIGH_GAIN * this.cwnd * PACING_MARGIN) / this.minRttValue;
    }
    const best = this.bandwidth.best;
    if (best <= 0) return;
    const rate = gain * best * PACING_MARGIN;
    if (this.fullBandwidthReachedValue || rate > this.pacing) this.pacing = rate;
  }

  /** Draft §4.2.3 BBRSetCwnd (Linux bbr_set_cwnd). */
  private setCwnd(sample: RateSample, inFlight: number, delivered: number): void {
    const acked = sample.ackedSacked;
    let cwnd = this.cwnd;
    if (acked > 0) {
      cwnd = this.recoverOrRestore(sample, inFlight, acked, delivered);
      if (!this.packetConservation) {
        const target = this.inflightTarget(this.cwndGainValue);
        if (this.fullBandwidthReachedValue) cwnd = Math.min(cwnd + acked, target);
        else if (cwnd < target || delivered < initialWindow(this.mss, false)) cwnd += acked;
        cwnd = Math.max(cwnd, BBR_MIN_CWND_SEGMENTS * this.mss);
      }
    }
    this.cwnd = cwnd;
    if (this.currentMode === BbrMode.PROBE_RTT) this.cwnd = Math.min(this.cwnd, BBR_MIN_CWND_SEGMENTS * this.mss);
  }

  /**
   * Draft §4.2.3.4 (Linux bbr_set_cwnd_to_recover_or_restore): losses come off cwnd; the
   * first round of recovery conserves packets (cwnd = in flight + delivered); leaving
   * recovery or loss restores the window from before it.
   */
  private recoverOrRestore(sample: RateSample, inFlight: number, acked: number, delivered: number): number {
    let cwnd = this.cwnd;
    if (sample.losses > 0) cwnd = Math.max(cwnd - sample.losses, this.mss);
    if (this.caState === CaState.RECOVERY && this.previousCaState !== CaState.RECOVERY) {
      this.packetConservation = true;
      // The round starts now: conservation lasts one round trip.
      this.nextRoundDelivered = delivered;
      cwnd = inFlight + acked;
    } else if (this.previousCaState >= CaState.RECOVERY && this.caState < CaState.RECOVERY) {
      cwnd = Math.max(cwnd, this.priorCwnd);
      this.packetConservation = false;
    }
    this.previousCaState = this.caState;
    if (this.packetConservation) return Math.max(cwnd, inFlight + acked);
    return cwnd;
  }

  /** Linux bbr_save_cwnd: the window to restore after recovery or PROBE_RTT. */
  private saveCwnd(): void {
    if (this.previousCaState < CaState.RECOVERY && this.currentMode !== BbrMode.PROBE_RTT) this.priorCwnd = this.cwnd;
    else this.priorCwnd = Math.max(this.priorCwnd, this.cwnd);
  }

  private random(): number {
    // xorshift32
    let x = this.randomState;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.randomState = x >>> 0;
    return this.randomState;
  }
}
