/**
 * Congestion control, behind a small interface so that the connection only reports
 * events (new ACK, duplicate ACK, retransmission timeout) and asks for the window.
 *
 * `NewReno` implements RFC 5681 (slow start, congestion avoidance, fast retransmit on
 * the third duplicate ACK) with the NewReno fast-recovery modification of RFC 6582
 * (partial ACKs retransmit the next hole and keep recovery going until `recover`).
 * With a SACK peer, recovery.ts starts recovery through `enterRecovery` instead (RFC 6675
 * §5: cwnd = ssthresh = FlightSize/2, no inflation or deflation; the pipe decides what
 * leaves); `onTailLossRepaired` (RFC 8985 §7.4.2) and `undoReduction` (D-SACK, RFC 2883)
 * complete it. All windows are in bytes; sequence numbers are compared with seq.ts
 * arithmetic.
 */
import { seqGe, seqGt } from './seq.ts';

/** What the sender must do after an ACK event. */
export type CongestionAction = 'none' | 'retransmit';

export interface CongestionControl {
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
  /** SND.UNA advanced to `ackNumber`, acknowledging `acked` new bytes. */
  onAck(ackNumber: number, acked: number, flightSizeAfter: number): CongestionAction;
  /** A duplicate ACK as RFC 5681 §2 defines it. */
  onDuplicateAck(ackNumber: number, flightSize: number, highestSent: number): CongestionAction;
  /** The retransmission timer expired (RFC 5681 §3.1 eq. 4, RFC 6582 §3.2 step 4). */
  onRetransmitTimeout(flightSize: number, highestSent: number): void;
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
/** Keeps cwnd from growing without bound on application-limited flows. */
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

export class NewReno implements CongestionControl {
  private mss = 536;
  private cwnd = 536;
  private ssthresh = INITIAL_SSTHRESH;
  private duplicateAcks = 0;
  private recovering = false;
  /** The recovery in progress is SACK-based (RFC 6675): partial ACKs deflate nothing. */
  private sackRecovery = false;
  /** cwnd and ssthresh before the last reduction, for `undoReduction`. */
  private priorCwnd = 0;
  private priorSsthresh = INITIAL_SSTHRESH;
  /**
   * RFC 6582 `recover`, stored as SND.MAX (one past the highest sequence number sent)
   * when the last recovery or RTO began: an ACK at or beyond it covers all of that data.
   */
  private recover = 0;
  /** Bytes acknowledged since cwnd last grew in congestion avoidance (RFC 5681 §3.1, eq. 3 alternative). */
  private avoidanceBytes = 0;

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
  }

  onAck(ackNumber: number, acked: number, flightSizeAfter: number): CongestionAction {
    if (this.recovering) {
      if (seqGe(ackNumber, this.recover)) {
        // Full ACK: leave recovery. NewReno deflates (RFC 6582 §3.2 step 3, option 1).
        // SACK recovery never inflated cwnd (the pipe governed it), so it ends with
        // cwnd = ssthresh as set at entry (RFC 6675 §5 step 4.2 and (A); RFC 6937 §3;
        // Linux tcp_end_cwnd_reduction). Deflating to FlightSize + SMSS here would drop
        // cwnd to 2·SMSS whenever the repair was the last segment sent, and a window that
        // small ends the next recovery with a lone retransmission whose ACK, if lost,
        // leaves only the RTO.
        this.cwnd = this.sackRecovery ? this.ssthresh : Math.min(this.ssthresh, Math.max(flightSizeAfter, this.mss) + this.mss);
        this.recovering = false;
        this.sackRecovery = false;
        this.duplicateAcks = 0;
        this.avoidanceBytes = 0;
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
    if (this.cwnd < this.ssthresh) {
      // Slow start (RFC 5681 §3.1, eq. 2): at most one MSS per ACK (RFC 3465 L = 1).
      this.cwnd = Math.min(MAX_CWND, this.cwnd + Math.min(acked, this.mss));
    } else {
      // Congestion avoidance by byte counting: one MSS per cwnd of acknowledged data.
      this.avoidanceBytes += acked;
      if (this.avoidanceBytes >= this.cwnd) {
        this.avoidanceBytes -= this.cwnd;
        this.cwnd = Math.min(MAX_CWND, this.cwnd + this.mss);
      }
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
    this.remember();
    this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.mss);
    this.recover = highestSent;
    this.cwnd = this.ssthresh + DUPLICATE_ACK_THRESHOLD * this.mss;
    this.recovering = true;
    return 'retransmit';
  }

  onRetransmitTimeout(flightSize: number, highestSent: number): void {
    // RFC 5681 §3.1 eq. 4 and "loss window" of one segment.
    this.remember();
    this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.mss);
    this.cwnd = this.mss;
    this.recovering = false;
    this.sackRecovery = false;
    this.duplicateAcks = 0;
    this.avoidanceBytes = 0;
    this.recover = highestSent;
  }

  enterRecovery(ackNumber: number, flightSize: number, highestSent: number): boolean {
    if (this.recovering || !seqGe(ackNumber, this.recover)) return false;
    this.remember();
    // RFC 6675 §5 step 4.2 with RFC 5681 eq. 4: cwnd = ssthresh = FlightSize / 2.
    this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.mss);
    this.cwnd = this.ssthresh;
    this.recover = highestSent;
    this.recovering = true;
    this.sackRecovery = true;
    this.duplicateAcks = 0;
    this.avoidanceBytes = 0;
    return true;
  }

  onTailLossRepaired(flightSize: number): void {
    if (this.recovering) return;
    this.remember();
    this.ssthresh = Math.max(Math.floor(Math.max(flightSize, this.cwnd) / 2), 2 * this.mss);
    this.cwnd = this.ssthresh;
    this.avoidanceBytes = 0;
  }

  undoReduction(): void {
    if (this.priorCwnd === 0) return;
    this.cwnd = Math.max(this.cwnd, this.priorCwnd);
    this.ssthresh = Math.max(this.ssthresh, this.priorSsthresh);
    this.priorCwnd = 0;
  }

  /** Keeps the window from before a reduction (Linux prior_cwnd / prior_ssthresh). */
  private remember(): void {
    this.priorCwnd = this.cwnd;
    this.priorSsthresh = this.ssthresh;
  }
}
