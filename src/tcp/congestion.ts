/**
 * Congestion control, behind a small interface so that the connection only reports
 * events (new ACK, duplicate ACK, retransmission timeout) and asks for the window.
 *
 * What every algorithm shares lives in `CongestionControlBase`: slow start by byte
 * counting up to ssthresh (RFC 3465 §2.2, as Linux's tcp_slow_start) and RFC 5681
 * duplicate-ACK counting (fast retransmit on the third), the NewReno fast-recovery
 * bookkeeping of RFC 6582 (partial ACKs retransmit the next hole and keep recovery going
 * until `recover`), SACK recovery entry and exit (RFC 6675 §5: cwnd = ssthresh after the
 * reduction, no inflation or deflation; the pipe, paced by PRR in recovery.ts/prr.ts,
 * decides what leaves), the tail-loss
 * reduction (RFC 8985 §7.4.2), the D-SACK undo (RFC 2883) and the application-limited
 * rule (no growth unless cwnd limited the sender, Linux tcp_is_cwnd_limited). An
 * algorithm supplies only its window policy: how far a congestion event reduces
 * (`reductionThreshold`) and how cwnd grows in congestion avoidance (`avoid`).
 *
 *   NewReno  below: halving (RFC 5681 eq. 4) and one SMSS per window (RFC 5681 §3.1).
 *   Cubic    cubic.ts: RFC 9438 (β = 0.7, the cubic function of time, the Reno-friendly
 *            region, fast convergence), the default as in Linux (`tcp.congestion`).
 *
 * All windows are in bytes; times are the injected `now` in ms; sequence numbers are
 * compared with seq.ts arithmetic. Nothing here allocates per ACK.
 */
import type { Instant } from '../time.ts';
import type { CongestionAlgorithm } from './config.ts';
import { seqAdd, seqGe, seqGt } from './seq.ts';

/** What the sender must do after an ACK event. */
export type CongestionAction = 'none' | 'retransmit';

export interface CongestionControl {
  readonly algorithm: CongestionAlgorithm;
  /** cwnd in bytes. */
  readonly congestionWindow: number;
  /** ssthresh in bytes. */
  readonly slowStartThreshold: number;
  readonly inRecovery: boolean;
  /**
   * Called when the connection is established: the send MSS is known.
   * `handshakeLost` is true if the SYN or SYN-ACK was retransmitted (RFC 5681 §3.1).
   */
  start(mss: number, highestSent: number, handshakeLost: boolean): void;
  /**
   * SND.UNA advanced to `ackNumber` at `now`, acknowledging `acked` new bytes;
   * `flightSizeAfter` is SND.MAX − SND.UNA after it, `srtt` the smoothed RTT in ms
   * (undefined before the first sample).
   */
  onAck(ackNumber: number, acked: number, flightSizeAfter: number, now: Instant, srtt: number | undefined): CongestionAction;
  /** A duplicate ACK as RFC 5681 §2 defines it. */
  onDuplicateAck(ackNumber: number, flightSize: number, highestSent: number): CongestionAction;
  /**
   * The retransmission timer expired (RFC 5681 §3.1 eq. 4, RFC 6582 §3.2 step 4).
   * `repeated`: the segment had already been retransmitted by the timer with no ACK of
   * new data since (a backed-off RTO): ssthresh is held (RFC 5681 §3.1), and the window
   * from before the first timeout stays the one an undo restores.
   */
  onRetransmitTimeout(flightSize: number, highestSent: number, repeated?: boolean): void;
  /**
   * SACK-based loss recovery begins (RFC 6675 §5 step 4): ssthresh = cwnd = FlightSize/2,
   * RecoveryPoint = `highestSent`; false (nothing changes) while `ackNumber` has not
   * passed the previous RecoveryPoint (§5 step 2, §5.1). Partial ACKs then change
   * nothing: the scoreboard chooses what to resend, the pipe what may leave.
   */
  enterRecovery(ackNumber: number, flightSize: number, highestSent: number): boolean;
  /** A tail loss probe repaired a real loss (RFC 8985 §7.4.2): reduce as for one loss. */
  onTailLossRepaired(flightSize: number): void;
  /**
   * D-SACKs showed every retransmission of the last loss episode to be spurious
   * (RFC 2883 §4, Linux tcp_try_undo_dsack): restore the window from before it.
   */
  undoReduction(): void;
}

/** The "infinite" initial ssthresh (RFC 5681 §3.1: arbitrarily high). */
const INITIAL_SSTHRESH = 0x3fff_ffff;
/** The bound on cwnd (application-limited flows do not grow it at all: see `cwndLimited`). */
const MAX_CWND = 0x3fff_ffff;
const DUPLICATE_ACK_THRESHOLD = 3;

/**
 * RFC 6928 §2: IW = min(10·MSS, max(2·MSS, 14600)) bytes: ten segments at MSS 1460 or
 * less (so a small MTU gets a small window in bytes: 2560 at MSS 256), fewer above.
 * One segment when the SYN or SYN-ACK had to be retransmitted (RFC 6928 §2, RFC 5681 §3.1).
 */
export function initialWindow(mss: number, handshakeLost: boolean): number {
  if (handshakeLost) return mss;
  return Math.min(10 * mss, Math.max(2 * mss, 14_600));
}

/**
 * The machinery every window-based algorithm shares (see the module comment). The
 * subclass is the window policy: `reductionThreshold` (the new ssthresh on a congestion
 * event) and `avoid` (growth in congestion avoidance), with hooks for the timeout, the
 * application-limited pause and the undo of its own state.
 */
export abstract class CongestionControlBase implements CongestionControl {
  abstract readonly algorithm: CongestionAlgorithm;
  protected mss = 536;
  protected cwnd = 536;
  protected ssthresh = INITIAL_SSTHRESH;
  private duplicateAcks = 0;
  private recovering = false;
  /** The recovery in progress is SACK-based (RFC 6675): partial ACKs deflate nothing. */
  private sackRecovery = false;
  /** The reduction of the recovery in progress was undone (D-SACK): its end keeps the restored cwnd. */
  private undone = false;
  /** cwnd and ssthresh before the last reduction, for `undoReduction`. */
  private priorCwnd = 0;
  private priorSsthresh = INITIAL_SSTHRESH;
  // `recover` and `roundEnd` are kept as int32 bit patterns and read back as uint32, as
  // the TCB's sequence numbers (tcb.ts): an int32 is a small integer to V8, stored in the
  // object itself, where a double field (started at DOUBLE_ZERO so that a value at or
  // above 2^31 changes no map) holds a 16-byte heap number per field and connection.
  private recoverBits = 0;
  private roundEndBits = 0;
  /**
   * RFC 6582 `recover`, stored as SND.MAX (one past the highest sequence number sent)
   * when the last recovery or RTO began: an ACK at or beyond it covers all of that data.
   */
  private get recover(): number {
    return this.recoverBits >>> 0;
  }
  private set recover(value: number) {
    this.recoverBits = value | 0;
  }
  /**
   * The current round (one window of data, Linux cwnd_usage_seq): it ends when SND.UNA
   * reaches `roundEnd`; `roundFlight` is the largest flight seen before an ACK in it.
   */
  private get roundEnd(): number {
    return this.roundEndBits >>> 0;
  }
  private set roundEnd(value: number) {
    this.roundEndBits = value | 0;
  }
  private roundFlight = 0;
  /** When the last new ACK arrived (-1: none yet) and the flight it left. */
  // -Infinity (a double) rather than -1 for "none yet": the field takes fractional instants.
  private lastAckAt: Instant = Number.NEGATIVE_INFINITY;
  private lastFlightAfter = 0;

  get congestionWindow(): number {
    return this.cwnd;
  }

  get slowStartThreshold(): number {
    return this.ssthresh;
  }

  get inRecovery(): boolean {
    return this.recovering;
  }

  start(mss: number, highestSent: number, handshakeLost: boolean): void {
    this.mss = mss;
    this.cwnd = initialWindow(mss, handshakeLost);
    this.recover = highestSent;
    this.roundEnd = highestSent;
  }

  onAck(ackNumber: number, acked: number, flightSizeAfter: number, now: Instant, srtt: number | undefined): CongestionAction {
    const sinceLastAck = this.lastAckAt < 0 ? 0 : now - this.lastAckAt;
    const wasIdle = this.lastFlightAfter === 0;
    this.lastAckAt = now;
    this.lastFlightAfter = flightSizeAfter;
    if (this.recovering) {
      if (seqGe(ackNumber, this.recover)) {
        // Full ACK: leave recovery. NewReno deflates (RFC 6582 §3.2 step 3, option 1).
        // SACK recovery never inflated cwnd (the pipe governed it), so it ends with
        // cwnd = ssthresh as set at entry (RFC 6675 §5 step 4.2 and (A); RFC 6937 §3;
        // Linux tcp_end_cwnd_reduction). Deflating to FlightSize + SMSS here would drop
        // cwnd to 2·SMSS whenever the repair was the last segment sent, and a window that
        // small ends the next recovery with a lone retransmission whose ACK, if lost,
        // leaves only the RTO.
        // After an undo cwnd is already the window from before the episode (and ssthresh
        // may be the initial "infinite" one), so it stays.
        if (!this.undone) this.cwnd = this.sackRecovery ? this.ssthresh : Math.min(this.ssthresh, Math.max(flightSizeAfter, this.mss) + this.mss);
        this.undone = false;
        this.recovering = false;
        this.sackRecovery = false;
        this.duplicateAcks = 0;
        this.roundEnd = seqAdd(ackNumber, flightSizeAfter);
        this.roundFlight = flightSizeAfter + acked;
        return 'none';
      }
      if (this.sackRecovery) return 'none';
      // Partial ACK (RFC 6582 §3.2 step 3): retransmit the next hole, deflate by the
      // amount acknowledged, add back one MSS if at least one MSS was acknowledged.
      this.cwnd = Math.max(this.mss, this.cwnd - acked + (acked >= this.mss ? this.mss : 0));
      return 'retransmit';
    }
    this.duplicateAcks = 0;
    // Keep `recover` within 2^31 of SND.UNA: compared in sequence space, a `recover`
    // left behind by more than 2^31 bytes without a loss would look ahead of every
    // ACK and block fast retransmit for good. Moving it up to the ACK changes nothing
    // else: a duplicate ACK repeats an ACK at or beyond it.
    if (seqGt(ackNumber, this.recover)) this.recover = ackNumber;
    const flightBefore = flightSizeAfter + acked;
    if (seqGe(ackNumber, this.roundEnd)) {
      this.roundEnd = seqAdd(ackNumber, flightSizeAfter);
      this.roundFlight = flightBefore;
    } else if (flightBefore > this.roundFlight) {
      this.roundFlight = flightBefore;
    }
    const slowStart = this.cwnd < this.ssthresh;
    if (!this.cwndLimited(slowStart)) {
      // RFC 9438 §5.8, RFC 7661: the application, not cwnd, limited the sender: a window
      // it never filled has not been validated by the network and does not grow.
      this.applicationLimited(sinceLastAck);
      return 'none';
    }
    // The pipe was empty since the last ACK (the sender was idle): that gap is no time
    // of growth either (RFC 9438 §4.2, Linux CA_EVENT_TX_START).
    if (wasIdle) this.applicationLimited(sinceLastAck);
    let remaining = acked;
    if (slowStart) {
      // Slow start by byte counting (RFC 3465 §2.2), every byte the ACK covers, up to
      // ssthresh, as Linux's tcp_slow_start: a receiver that acknowledges a whole receive
      // batch at once (a stretch ACK, as piwire's and a GRO receiver's are) must not slow
      // the window's growth. RFC 5681 eq. 2 (min(N, SMSS) per ACK) and RFC 3465's L =
      // 2·SMSS count per ACK, which a stretch ACK every 16 segments would make 8–16×
      // slower. What passes ssthresh goes on to congestion avoidance, as in Linux.
      const growth = Math.min(remaining, Math.max(0, this.ssthresh - this.cwnd));
      this.cwnd = Math.min(MAX_CWND, this.cwnd + growth);
      remaining -= growth;
    }
    if (remaining > 0 && this.cwnd >= this.ssthresh) {
      this.avoid(remaining, now, srtt ?? 0);
      if (this.cwnd > MAX_CWND) this.cwnd = MAX_CWND;
    }
    return 'none';
  }

  onDuplicateAck(ackNumber: number, flightSize: number, highestSent: number): CongestionAction {
    if (this.recovering) {
      // RFC 5681 §3.2 step 4: each further duplicate ACK means a segment left the network.
      this.cwnd = Math.min(MAX_CWND, this.cwnd + this.mss);
      return 'none';
    }
    this.duplicateAcks++;
    if (this.duplicateAcks !== DUPLICATE_ACK_THRESHOLD) return 'none';
    // RFC 6582 §3.2 step 2: only if the ACK covers more than `recover`, so one loss
    // event (or the tail of an RTO recovery) does not trigger several fast retransmits.
    if (!seqGe(ackNumber, this.recover)) return 'none';
    this.reduce(flightSize);
    this.recover = highestSent;
    // RFC 5681 §3.2 step 3: inflate by the three segments that left the network.
    this.cwnd = this.ssthresh + DUPLICATE_ACK_THRESHOLD * this.mss;
    this.recovering = true;
    return 'retransmit';
  }

  onRetransmitTimeout(flightSize: number, highestSent: number, repeated = false): void {
    // RFC 5681 §3.1 eq. 4 (with the algorithm's factor) and the "loss window" of one
    // segment; "the value of ssthresh is held constant" when the timer fires again for a
    // segment it already retransmitted (Linux tcp_enter_loss likewise keeps prior_ssthresh).
    if (!repeated) {
      this.reduce(flightSize);
      this.timedOut();
    }
    this.cwnd = this.mss;
    this.undone = false;
    this.recovering = false;
    this.sackRecovery = false;
    this.duplicateAcks = 0;
    this.recover = highestSent;
  }

  enterRecovery(ackNumber: number, flightSize: number, highestSent: number): boolean {
    if (this.recovering || !seqGe(ackNumber, this.recover)) return false;
    // RFC 6675 §5 step 4.2: ssthresh from FlightSize (RFC 5681 eq. 4, or RFC 9438 §4.6), cwnd = ssthresh.
    this.reduce(flightSize);
    this.cwnd = this.ssthresh;
    this.recover = highestSent;
    this.recovering = true;
    this.sackRecovery = true;
    this.undone = false;
    this.duplicateAcks = 0;
    return true;
  }

  onTailLossRepaired(flightSize: number): void {
    if (this.recovering) return;
    this.reduce(Math.max(flightSize, this.cwnd));
    this.cwnd = this.ssthresh;
  }

  undoReduction(): void {
    if (this.priorCwnd === 0) return;
    // RFC 9438 §4.9: the algorithm's own state comes back only while cwnd is below what
    // it was; a window that has grown past it since keeps the newer state.
    if (this.cwnd < this.priorCwnd) this.restoreUndo();
    this.cwnd = Math.max(this.cwnd, this.priorCwnd);
    this.ssthresh = Math.max(this.ssthresh, this.priorSsthresh);
    this.priorCwnd = 0;
    if (this.recovering) this.undone = true;
  }

  /**
   * Did cwnd limit the sender in this round (Linux tcp_is_cwnd_limited)? In slow start,
   * while cwnd is below twice the largest flight (it may double per round); in
   * congestion avoidance, when the flight came within one segment of cwnd.
   */
  private cwndLimited(slowStart: boolean): boolean {
    return slowStart ? this.cwnd < 2 * this.roundFlight : this.roundFlight + this.mss > this.cwnd;
  }

  /** A congestion event: remember the window for undo, let the policy set ssthresh (at least 2·SMSS). */
  private reduce(flightSize: number): void {
    this.priorCwnd = this.cwnd;
    this.priorSsthresh = this.ssthresh;
    this.saveUndo();
    this.ssthresh = Math.max(this.reductionThreshold(flightSize), 2 * this.mss);
  }

  /** The new ssthresh after a congestion event, before the 2·SMSS floor; cwnd is still the window before it. */
  protected abstract reductionThreshold(flightSize: number): number;
  /** Congestion avoidance: grow `cwnd` for `acked` bytes acknowledged at `now` (cwnd-limited, not in recovery). */
  protected abstract avoid(acked: number, now: Instant, srtt: number): void;
  /** The congestion event was a retransmission timeout (after `reductionThreshold`). */
  protected timedOut(): void {}
  /** `elapsed` ms in which the sender was not cwnd-limited: not time to grow in. */
  protected applicationLimited(_elapsed: number): void {}
  /** Keep the policy's state before a reduction, for `restoreUndo`. */
  protected saveUndo(): void {}
  /** D-SACK proved the reduction spurious: the policy's state from before it. */
  protected restoreUndo(): void {}
}

/**
 * NewReno's window policy: RFC 5681 halving (eq. 4: ssthresh = FlightSize / 2) and
 * congestion avoidance by byte counting, one SMSS per cwnd of acknowledged data
 * (RFC 5681 §3.1, the eq. 3 alternative; RFC 3465). Recovery is the base's (RFC 6582).
 */
export class NewReno extends CongestionControlBase {
  readonly algorithm = 'reno';
  /** Bytes acknowledged since cwnd last grew in congestion avoidance. */
  private avoidanceBytes = 0;

  protected reductionThreshold(flightSize: number): number {
    this.avoidanceBytes = 0;
    return Math.floor(flightSize / 2);
  }

  protected avoid(acked: number): void {
    this.avoidanceBytes += acked;
    if (this.avoidanceBytes >= this.cwnd) {
      this.avoidanceBytes -= this.cwnd;
      this.cwnd += this.mss;
    }
  }
}
