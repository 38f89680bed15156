/**
 * Loss recovery of a sender whose peer agreed to SACK (tcb.sackPermitted): the
 * decisions, not the segments (CONVENTIONS 12: output.ts sends what is recorded here).
 *
 *   - SACK blocks of each ACK update the scoreboard (scoreboard.ts, RFC 2018 §3);
 *     D-SACKs (RFC 2883 §4) are counted as spurious retransmissions, and when every
 *     retransmission of a loss episode was spurious the window reduction is undone
 *     (as Linux tcp_try_undo_dsack does).
 *   - Loss marking: RFC 6675 IsLost (DupThresh SACKed segments or more than
 *     2·SMSS SACKed bytes above a hole) and RACK (RFC 8985 §6.2: sent before a segment
 *     that was delivered, and older than RACK.rtt + reordering window), with the RACK
 *     reorder timer (§6.3) for segments not yet old enough.
 *   - Recovery entry (RFC 6675 §5): on DupThresh duplicate ACKs or any segment marked
 *     lost, once the cumulative ACK has passed the previous RecoveryPoint; output.ts
 *     then runs the NextSeg/pipe loop (`recoveryTransmit` there) until the ACK covers
 *     RecoveryPoint.
 *   - What leaves during recovery: with `tcp.prr` (default), Proportional Rate
 *     Reduction (RFC 6937/9937, prr.ts) sets the window output.ts fills on each ACK
 *     (`recoverySendWindow`); without it, and always with BBR (whose cwnd in recovery is
 *     its own packet conservation, bbr.ts), RFC 6675's pipe < cwnd.
 *   - Tail loss probe (RFC 8985 §7): the PTO is armed when new data leaves or new
 *     data is acknowledged; when it fires the probe is recorded (`lossProbeNow`) and
 *     output.ts sends new data or resends the last segment. The RTO stays where it
 *     stood, at least one PTO after the probe (a deliberate difference from §7.3's
 *     restart, reasoning at `retransmitDeadlineAfterProbe`). An ACK covering the probe
 *     without a D-SACK for it says the probe repaired a real loss (§7.4.2).
 *   - The probe's follow-up (`tcp.tlpFollowUp`, a deliberate addition to RFC 8985 and
 *     Linux, reasoning at `tlpFollowUpTimeout`): when the tail loss probe draws no ACK for
 *     max(2·SRTT, 10 ms) (`twoRoundTrips`), the segment at SND.UNA is resent (`tlpFollowUpNow`), at most
 *     MAX_TLP_FOLLOW_UPS times without an ACK that advances SND.UNA in between (each such
 *     ACK restarts the wait), each unanswered one doubling the wait; the RTO stays where
 *     it was.
 *   - Recovery probe (`tcp.recoveryProbe`, a deliberate addition to RFC 8985 and Linux,
 *     reasoning at `recoveryProbeTimeout`): in recovery, when nothing has been heard for
 *     max(2·SRTT, 10 ms) (`twoRoundTrips`) since the last ACK or transmission, the segment at SND.UNA is
 *     resent (`recoveryProbeNow`), at most MAX_RECOVERY_PROBES times without an ACK that
 *     reports delivery in between, each unanswered one doubling the wait; the RTO stays
 *     where it was.
 *   - F-RTO (`tcp.frto`, RFC 5682 §3, SACK-enhanced): after an RTO, the first ACK that
 *     advances SND.UNA sends new data instead of going back N (`frtoSendNew`), and the
 *     next one tells a spurious timeout (undone: `frtoSpurious`) from a real one
 *     (go-back-N resumes: `frtoReal`); see `frtoAck`.
 *
 * Peers without SACK keep NewReno (congestion.ts, RFC 6582) on the input.ts path.
 */
import type { Instant } from '../time.ts';
import type { TcpConnection } from './connection.ts';
import { ProportionalRateReduction } from './prr.ts';
import { DUP_THRESH, Scoreboard, type RecordStorageAllocator } from './scoreboard.ts';
import type { DeliveryRate } from './delivery-rate.ts';
import { seqGe, seqGt, seqLt } from './seq.ts';

/** RFC 8985 §7.2: the PTO before any RTT sample. */
export const INITIAL_PTO_MS = 1000;
/** RFC 8985 §7.2 WCDelAckT: the peer's worst-case delayed ACK, added when one segment is in flight. */
export const WORST_CASE_DELAYED_ACK_MS = 200;
/**
 * `tcp.ptoFloor` on (the default): the probe timeouts are at least this (the first TLP's
 * floor, Linux before 4.14), so a sub-millisecond LAN RTT does not probe every ACK.
 */
export const MIN_PTO_MS = 10;
/**
 * `tcp.ptoFloor` off: the slack added to 2·SRTT instead, Linux's
 * TCP_TIMEOUT_MIN (2 jiffies, 2 ms at HZ=1000) in tcp_schedule_loss_probe since 4.14
 * ("tcp: adjust tail loss probe timeout": the 10 ms floor was too large for short RTTs).
 */
export const PTO_SLACK_MS = 2;
/**
 * Recovery probes at most without an ACK reporting delivery in between; then the RTO, as
 * without them. (Per episode, as first built, a long episode at 3% loss spent its two
 * early and a later lost answer waited for the RTO: bench/BASELINE.md.) Each waits twice
 * as long as the one before (`recoveryProbeTimeout`): on a LAN 10, 20, 40 and 80 ms, all
 * before a 200 ms RTO. Two at a fixed interval left about one transfer in a hundred at 3%
 * loss each way with an RTO: the last ACK of a burst lost, then both probes or their
 * answers (bench/BASELINE.md, "the probes' backoff").
 */
export const MAX_RECOVERY_PROBES = 4;
/**
 * Follow-ups of a tail loss probe at most without an ACK advancing SND.UNA in between; then
 * the RTO. Each waits twice as long as the one before (`tlpFollowUpTimeout`), as the
 * recovery probes do and for the same reason: two at a fixed interval still lost the
 * flight's ACK, the probe and both follow-ups or their answers now and then at 3% loss
 * (bench/BASELINE.md, "the probes' backoff").
 */
export const MAX_TLP_FOLLOW_UPS = 4;
/** Bounds of the scoreboard's record ring per connection. */
const MIN_SCOREBOARD_RECORDS = 16;
const MAX_SCOREBOARD_RECORDS = 1024;

/**
 * The scoreboard for a connection that uses SACK, sized for a full send buffer of MSS
 * segments (twice, for splits); with `rate` (BBR) its records keep rate snapshots.
 */
export function createScoreboard(sendBuffer: number, mss: number, storage?: RecordStorageAllocator, rate?: DeliveryRate): Scoreboard {
  const segments = Math.ceil(sendBuffer / Math.max(1, mss));
  return new Scoreboard(Math.min(MAX_SCOREBOARD_RECORDS, Math.max(MIN_SCOREBOARD_RECORDS, 2 * segments + 8)), storage, rate);
}

/**
 * The SACK blocks of an acceptable ACK, before SND.UNA moves (RFC 6675 §5 Update()).
 * Returns true if they SACKed new data (RFC 6675 §2: this makes the ACK a duplicate).
 */
export function sackArrives(connection: TcpConnection, blocks: readonly (readonly [number, number])[], ack: number, now: Instant): boolean {
  const scoreboard = connection.scoreboard;
  if (scoreboard === undefined) return false;
  const counters = connection.context.counters;
  const tcb = connection.tcb;
  const result = scoreboard.applySack(blocks, ack, tcb.sndMax, tcb.maxSndWnd, now);
  if (result.invalid > 0) counters.increment('tcp.rx.sack-invalid', result.invalid);
  if (result.dsack) {
    counters.increment('tcp.rx.dsack');
    scoreboard.noteDsack(tcb.sndUna, tcb.sndMax);
    if (connection.tlpEndSeq !== undefined && connection.tlpRetransmitted) connection.tlpDsack = true;
    // The probe's D-SACK after the original's ACK: nothing was lost (RFC 8985 §7.4.1).
    if (connection.tlpVerdictSeq !== undefined && seqGe(result.dsackEnd, connection.tlpVerdictSeq)) connection.tlpVerdictSeq = undefined;
    if (connection.undoRetransmits > 0 && seqGt(result.dsackEnd, connection.undoMarker)) {
      // RFC 2883 §4: the peer got a segment twice; ours was a needless retransmission.
      counters.increment('tcp.tx.spurious-retransmits');
      connection.undoRetransmits--;
      if (connection.undoRetransmits === 0 && connection.reducedForLoss) {
        connection.congestion.undoReduction();
        connection.reducedForLoss = false;
        counters.increment('tcp.undo.dsack');
      }
    }
  }
  return result.newlySacked > 0;
}

/**
 * The reordering window of RACK (RFC 8985 §6.2 step 4): min_RTT / 4 times the
 * multiplier that D-SACKs raise, at most SRTT. (The RFC's zero window before any
 * reordering has been seen is not used: a path that reorders shows it only once a
 * segment has been taken for lost.)
 */
export function reorderWindow(connection: TcpConnection): number {
  const scoreboard = connection.scoreboard;
  const minRtt = scoreboard?.minRtt ?? connection.rtt.srtt ?? 0;
  const multiplier = scoreboard?.reorderMultiplier ?? 1;
  return Math.min((multiplier * minRtt) / 4, connection.rtt.srtt ?? minRtt);
}

/** Fast recovery ended on a full ACK, or an RTO started a new episode: RACK's window may shrink back. */
export function recoveryEnded(connection: TcpConnection): void {
  connection.scoreboard?.recoveryEnded();
}

/**
 * After an ACK (or the reorder timer): mark losses, arm or stop the reorder timer,
 * and begin recovery if there is a loss to repair (RFC 6675 §5 steps 3-4, RFC 8985 §6.2).
 */
export function detectLoss(connection: TcpConnection, now: Instant): void {
  const scoreboard = connection.scoreboard;
  if (scoreboard === undefined) return;
  const counters = connection.context.counters;
  // RFC 6937 DeliveredData of this ACK (0 for the reorder timer), taken on every call so
  // that the ACK which starts recovery counts only its own.
  const unaAdvanced = scoreboard.unaAdvanced;
  const delivered = scoreboard.takeDelivered();
  if (scoreboard.count === 0) {
    connection.reorderAt = undefined;
    return;
  }
  const inRecovery = connection.congestion.inRecovery;
  // The common case of a clean cumulative ACK costs no scan (rackScanNeeded says why).
  if (scoreboard.sackedBytes === 0 && !scoreboard.rackScanNeeded && connection.reorderAt === undefined && !inRecovery && connection.duplicateAcks === 0) return;
  let newlyLost = 0;
  if (scoreboard.sackedBytes > 0) newlyLost += scoreboard.markLostByDupThresh(connection.tcb.sendMss);
  if (connection.context.config.rack) {
    const rackLost = scoreboard.rackDetectLoss(reorderWindow(connection), now);
    if (rackLost > 0) counters.increment('tcp.rack.lost-bytes', rackLost);
    newlyLost += rackLost;
    connection.reorderAt = scoreboard.timeout > 0 ? now + scoreboard.timeout : undefined;
  }
  if (inRecovery) {
    // RFC 9937 safe ACK: SND.UNA advanced and no further loss indicated.
    recoveryAck(connection, scoreboard, delivered, unaAdvanced && newlyLost === 0);
    return;
  }
  const dupThresh = connection.duplicateAcks >= DUP_THRESH;
  if (!dupThresh && !scoreboard.hasLost()) return;
  const tcb = connection.tcb;
  const flightSize = connection.bytesInFlight();
  if (!connection.congestion.enterRecovery(tcb.sndUna, flightSize, tcb.sndMax)) return;
  // RFC 6675 §5 step 4.3: the segment at HighACK + 1 is presumed lost and resent at
  // once; step (C) then sends as the pipe allows (with PRR: as prr.ts allows, and the
  // ACK that starts recovery always allows this first retransmission).
  scoreboard.markLost(tcb.sndUna);
  connection.retransmitNow = true;
  connection.reducedForLoss = true;
  connection.undoRetransmits = 0;
  connection.undoMarker = tcb.sndUna;
  connection.probeAt = undefined;
  connection.tlpEndSeq = undefined;
  connection.tlpVerdictSeq = undefined;
  connection.recoveryProbes = 0;
  if (connection.context.config.prr) {
    // One object per connection, made at its first recovery (nothing per ACK).
    const prr = (connection.prr ??= new ProportionalRateReduction());
    prr.start(flightSize, scoreboard.transmittedBytes);
  }
  recoveryAck(connection, scoreboard, delivered, false);
  counters.increment('tcp.sack.recoveries');
  counters.increment('tcp.tx.fast-retransmits');
}

/**
 * An ACK of the recovery episode (the one that starts it included) after its losses
 * are marked: PRR's send window for it (prr.ts), and the recovery probe restarts if the
 * peer reported anything delivered.
 */
function recoveryAck(connection: TcpConnection, scoreboard: Scoreboard, delivered: number, safeAck: boolean): void {
  if (delivered > 0) {
    connection.probeRearm = true;
    connection.recoveryProbes = 0;
  }
  const prr = connection.prr;
  if (!connection.context.config.prr || prr === undefined) return;
  prr.onAck(delivered, scoreboard.pipe(), connection.congestion.slowStartThreshold, scoreboard.transmittedBytes, safeAck, connection.fullSegmentPayload());
}

/**
 * The window output.ts fills during SACK recovery (RFC 6675 §5 (C): while pipe < it):
 * PRR's pipe + sndcnt of the last ACK with `tcp.prr`, else cwnd.
 */
export function recoverySendWindow(connection: TcpConnection): number {
  // BBR sets its own window in recovery (packet conservation, bbr.ts), as Linux's
  // cong_control algorithms do instead of tcp_cwnd_reduction.
  if (connection.bbr !== undefined) return connection.congestion.congestionWindow;
  const prr = connection.prr;
  return connection.context.config.prr && prr !== undefined ? prr.window : connection.congestion.congestionWindow;
}

/** PRR governs what leaves in this connection's recoveries (`tcp.prr`, and it has had one). */
export function prrGoverns(connection: TcpConnection): boolean {
  return connection.context.config.prr && connection.prr !== undefined && connection.bbr === undefined;
}

/** SND.UNA advanced to `ack`: the scoreboard drops what is acknowledged; TLP outcome (RFC 8985 §7.4). */
export function cumulativeAck(connection: TcpConnection, ack: number, now: Instant): void {
  const scoreboard = connection.scoreboard;
  if (scoreboard === undefined) return;
  scoreboard.acknowledge(ack, now);
  if (connection.rtoRecoveryPoint !== undefined && seqGe(ack, connection.rtoRecoveryPoint)) connection.rtoRecoveryPoint = undefined;
  // Like the send ring, the records' memory goes back once everything is acknowledged.
  if (scoreboard.count === 0 && connection.sendBuffer.length === 0) scoreboard.releaseStorage();
  connection.probeRearm = true;
  // The probe's follow-ups (`tlpFollowUpTimeout`) start again from an ACK that advanced.
  connection.tlpFollowUps = 0;
  if (scoreboard.reneged()) {
    // RFC 2018 §8: the receiver dropped data it had SACKed; resend it as un-SACKed.
    scoreboard.clearSacked();
    connection.context.counters.increment('tcp.rx.sack-reneging');
  }
  if (connection.tlpEndSeq !== undefined && seqGe(ack, connection.tlpEndSeq)) {
    if (connection.tlpRetransmitted && !connection.tlpDsack) {
      if (seqGt(ack, connection.tlpVerdictPoint)) tailLossRepaired(connection);
      // An ACK of exactly TLP.end_seq is the original's as likely as the probe's (a
      // receiver that held its ACK past the PTO: a Linux reader scheduled late, 2-5 ms on
      // a loaded host, up to 10 ms and more), and the probe's D-SACK may follow:
      // the verdict waits for it or for an ACK above TLP.end_seq (RFC 8985 §7.4.2, Linux
      // tcp_process_tlp_ack: a reduction only `after(ack, tlp_high_seq)`). Deciding here
      // cut cwnd for every probe that raced a late ACK (bench/BASELINE.md, branch h-pto).
      // After a follow-up the point is its segment's end: an ACK beyond it decides at once.
      else connection.tlpVerdictSeq = connection.tlpVerdictPoint;
    }
    connection.tlpEndSeq = undefined;
  } else if (connection.tlpVerdictSeq !== undefined && seqGt(ack, connection.tlpVerdictSeq)) {
    tailLossRepaired(connection);
  }
}

/** §7.4.2: the probe's retransmission repaired a lost segment: a congestion event. */
function tailLossRepaired(connection: TcpConnection): void {
  connection.tlpVerdictSeq = undefined;
  connection.congestion.onTailLossRepaired(connection.bytesInFlight());
  connection.reducedForLoss = true;
  connection.context.counters.increment('tcp.tlp.repaired');
}

/** The RACK reorder timer expired (RFC 8985 §6.3). */
export function reorderTimerExpired(connection: TcpConnection, now: Instant): void {
  connection.reorderAt = undefined;
  detectLoss(connection, now);
}

/**
 * The PTO expired (RFC 8985 §7.3): record the probe for output.ts. In recovery it was
 * the recovery probe's timer (`recoveryProbeTimeout`); an RTO due at the same instant wins.
 */
export function probeTimerExpired(connection: TcpConnection, now: Instant): void {
  connection.probeAt = undefined;
  if (connection.scoreboard === undefined || connection.bytesInFlight() <= 0) return;
  if (!connection.congestion.inRecovery) {
    if (connection.tlpEndSeq !== undefined) {
      // The probe's follow-up (`tlpFollowUpTimeout`); an RTO due at the same instant wins.
      if (connection.retransmitAt !== undefined && connection.retransmitAt <= now) return;
      connection.tlpFollowUps++;
      connection.tlpFollowUpNow = true;
      return;
    }
    connection.lossProbeNow = true;
    connection.retransmitAt = retransmitDeadlineAfterProbe(connection, now);
    return;
  }
  const retransmitAt = connection.retransmitAt;
  if (!connection.context.config.recoveryProbe || connection.recoveryProbes >= MAX_RECOVERY_PROBES) return;
  if (retransmitAt !== undefined && retransmitAt <= now) return;
  connection.recoveryProbes++;
  connection.recoveryProbeNow = true;
}

/**
 * The retransmission timer expired: recovery ends (RFC 6675 §5.1), no probe is
 * outstanding; with `tcp.frto`, F-RTO watches the timeout (`frtoStart`). `repeated`: a
 * backed-off RTO, no new data acknowledged since the last one.
 */
export function retransmitTimeoutRecovery(connection: TcpConnection, repeated = false): void {
  const previousRecoveryPoint = connection.rtoRecoveryPoint;
  recoveryEnded(connection);
  connection.duplicateAcks = 0;
  connection.probeAt = undefined;
  connection.recoveryProbeNow = false;
  connection.tlpEndSeq = undefined;
  connection.tlpVerdictSeq = undefined;
  connection.tlpFollowUpNow = false;
  connection.reorderAt = undefined;
  connection.reducedForLoss = true;
  connection.undoRetransmits = 0;
  connection.undoMarker = connection.tcb.sndUna;
  // RFC 6675 §5.1: SACKed data is not resent, unless the peer has reneged on it.
  if (connection.scoreboard?.reneged() === true) connection.scoreboard.clearSacked();
  connection.scoreboard?.markAllLost();
  // Until the ACK passes this, no fast recovery (RFC 6675 §5.1, RFC 6582 `recover`), but a
  // retransmission RACK finds lost again is resent (output.ts `resendLostAfterTimeout`).
  if (connection.scoreboard !== undefined) connection.rtoRecoveryPoint = connection.tcb.sndMax;
  frtoStart(connection, previousRecoveryPoint, repeated);
}

/**
 * F-RTO step 1 (RFC 5682 §3.1, SACK-enhanced): the RTO resends SND.UNA (timers.ts), and
 * RecoveryPoint is SND.MAX (`rtoRecoveryPoint`). Not while an earlier RTO recovery still
 * has data below its RecoveryPoint outstanding, unless this is the same segment timing
 * out again (§3.1 step 1, §3.2: a repeated timeout): what that recovery resent could be
 * taken for originals. Retransmitted data never counts as original anyway (the
 * scoreboard's EVER_RETRANSMITTED, as Linux's TCPCB_EVER_RETRANS), so an RTO during fast
 * recovery may use F-RTO, as in Linux.
 */
function frtoStart(connection: TcpConnection, previousRecoveryPoint: number | undefined, repeated: boolean): void {
  const scoreboard = connection.scoreboard;
  connection.frtoSendNew = false;
  const eligible =
    connection.context.config.frto &&
    scoreboard !== undefined &&
    (repeated || previousRecoveryPoint === undefined || !seqGe(previousRecoveryPoint, connection.tcb.sndUna));
  connection.frtoStep = eligible ? 2 : 0;
  if (scoreboard === undefined) return;
  scoreboard.originalMark = eligible ? connection.rtoRecoveryPoint : undefined;
  scoreboard.originalDelivered = false;
}

/** F-RTO ends: the scoreboard stops watching for originals. */
function frtoEnd(connection: TcpConnection): void {
  connection.frtoStep = 0;
  connection.frtoSendNew = false;
  const scoreboard = connection.scoreboard;
  if (scoreboard !== undefined) {
    scoreboard.originalMark = undefined;
    scoreboard.originalDelivered = false;
  }
}

/**
 * F-RTO steps 2 and 3 (RFC 5682 §3.1, SACK-enhanced version), for an acceptable ACK
 * after its SACK blocks and cumulative ACK were applied and before loss detection.
 * `duplicate`: a duplicate ACK (RFC 6675 §2: one that SACKs new data counts).
 *
 *   step 2  the first ACK that advances SND.UNA: if it covers RecoveryPoint, recovery
 *           is over (2a); else (2b) up to two new segments leave (output.ts
 *           `sendFrtoNewData`) instead of more go-back-N, or, with no new data the
 *           window allows, conventional RTO recovery goes on.
 *   step 3  the next ACK: it SACKs or acknowledges data beyond RecoveryPoint, or is a
 *           duplicate that reports nothing new below it: the loss was real (3a), go-back-N
 *           resumes where it stood. It acknowledges (cumulatively or by SACK) data below
 *           RecoveryPoint that was sent before the timeout and never retransmitted: the
 *           timeout was spurious (3b, `frtoSpurious`).
 *
 * Detection is the RFC's, in step 3 only. Linux also declares a timeout spurious in step
 * 2 when the first ACK covers never-retransmitted data; after a lost tail loss probe
 * that ACK is usually the repair of a real loss (the lone segment at SND.UNA lost, the
 * probe behind it delivered and its SACK lost), so piwire does not.
 */
export function frtoAck(connection: TcpConnection, duplicate: boolean): void {
  const scoreboard = connection.scoreboard;
  const recoveryPoint = scoreboard?.originalMark;
  if (connection.frtoStep === 0 || scoreboard === undefined || recoveryPoint === undefined) return;
  const unaAdvanced = scoreboard.unaAdvanced;
  const original = scoreboard.originalDelivered;
  scoreboard.originalDelivered = false;
  if (connection.frtoStep === 3) {
    // Other ACKs (a window update, data alone) are ignored (§3.1 step 3).
    if (!unaAdvanced && !duplicate) return;
    const beyond = seqGt(connection.tcb.sndUna, recoveryPoint) || (scoreboard.sackedBytes > 0 && seqGt(scoreboard.highestSacked, recoveryPoint));
    if (original && !beyond) frtoSpurious(connection);
    else frtoReal(connection, recoveryPoint);
    return;
  }
  // Step 2: only the ACK that advances SND.UNA moves on.
  if (!unaAdvanced) return;
  if (connection.rtoRecoveryPoint === undefined) {
    // 2a: RecoveryPoint is covered, nothing is left to resend; whether the timeout was
    // spurious only a D-SACK of the retransmission can tell now.
    frtoEnd(connection);
    return;
  }
  connection.frtoStep = 3;
  connection.frtoSendNew = true;
}

/** Step 2b without new data to send (none queued, or the peer's window full): conventional RTO recovery. */
export function frtoNoNewData(connection: TcpConnection): void {
  frtoEnd(connection);
  connection.context.counters.increment('tcp.frto.no-new-data');
}

/**
 * Step 3a: the timeout was genuine; conventional RTO recovery resumes: go-back-N from
 * where it stood, unless the cumulative ACK has passed RecoveryPoint (nothing sent
 * before the timeout is left to resend).
 */
function frtoReal(connection: TcpConnection, recoveryPoint: number): void {
  frtoEnd(connection);
  const tcb = connection.tcb;
  if (seqLt(tcb.sndUna, recoveryPoint) && seqLt(connection.frtoResume, tcb.sndNxt)) tcb.sndNxt = seqGt(connection.frtoResume, tcb.sndUna) ? connection.frtoResume : tcb.sndUna;
  connection.context.counters.increment('tcp.frto.real');
}

/**
 * Step 3b: the timeout was spurious (RFC 5682 §4 leaves the response open; Linux
 * `tcp_try_undo_loss` undoes it): cwnd and ssthresh return to their values before the
 * timeout, and the loss marks go: nothing more is resent unless RACK, which re-examines
 * every segment on the next ACK, finds one really lost.
 */
function frtoSpurious(connection: TcpConnection): void {
  frtoEnd(connection);
  connection.congestion.undoReduction();
  connection.reducedForLoss = false;
  connection.undoRetransmits = 0;
  // `rtoRecoveryPoint` stays until the ACK passes it: a segment RACK now finds really
  // lost is resent as after any RTO (output.ts `resendLostAfterTimeout`).
  connection.scoreboard?.clearLost();
  connection.context.counters.increment('tcp.frto.spurious');
}

/**
 * RFC 8985 §7.2: (re)arms the PTO after new data was sent or acknowledged, while
 * data is in flight, no recovery runs, no probe is outstanding and the RTO has not
 * fired: PTO = 2·SRTT (1 s before a sample), plus WCDelAckT with one segment in
 * flight, at most until the RTO would fire (the probe then replaces that RTO).
 * In recovery the same timer is the recovery probe's (`recoveryProbeTimeout`, doubled
 * for each probe sent without an answer), armed from the last ACK that reported delivery
 * or the last transmission (both set `probeRearm`), only before the RTO,
 * MAX_RECOVERY_PROBES times at most without an ACK that reports delivery in between.
 * With a probe outstanding it is the probe's follow-up (`tlpFollowUpTimeout`, doubled for
 * each follow-up sent without an answer), armed from the probe, the last follow-up or the
 * last ACK that advanced SND.UNA, only before the RTO, MAX_TLP_FOLLOW_UPS times at most
 * without such an ACK in between.
 */
export function armLossProbe(connection: TcpConnection, now: Instant): void {
  const recovering = connection.congestion.inRecovery;
  const config = connection.context.config;
  const retransmitAt = connection.retransmitAt;
  const eligible =
    connection.scoreboard !== undefined &&
    connection.bytesInFlight() > 0 &&
    connection.backoffCount === 0 &&
    retransmitAt !== undefined &&
    (recovering
      ? config.recoveryProbe && connection.recoveryProbes < MAX_RECOVERY_PROBES
      : config.rack && (connection.tlpEndSeq === undefined || (config.tlpFollowUp && connection.tlpFollowUps < MAX_TLP_FOLLOW_UPS)));
  if (!eligible) {
    connection.probeAt = undefined;
    connection.probeRearm = false;
    return;
  }
  if (!connection.probeRearm && connection.probeAt !== undefined) return;
  connection.probeRearm = false;
  if (recovering || connection.tlpEndSeq !== undefined) {
    const srtt = connection.rtt.srtt;
    const at = now + (recovering ? recoveryProbeTimeout(srtt, config.ptoFloor, connection.recoveryProbes) : tlpFollowUpTimeout(srtt, config.ptoFloor, connection.tlpFollowUps));
    connection.probeAt = at < retransmitAt ? at : undefined;
    return;
  }
  connection.probeAt = Math.min(now + lossProbeTimeout(connection), retransmitAt);
}

/**
 * RFC 8985 §7.2: PTO = 2·SRTT (1 s before a sample), plus WCDelAckT with one segment in
 * flight. RFC 8985 leaves the timer granularity to the implementation: 2·SRTT is at
 * least MIN_PTO_MS (`tcp.ptoFloor`), or gets PTO_SLACK_MS on top as in Linux since 4.14
 * (`twoRoundTrips`).
 * WCDelAckT allows for a receiver that delays its ACK of a lone segment. A lone segment
 * that carries our FIN waits 2·SRTT only: receivers ACK a FIN at once (piwire's
 * ack-policy.ts; Linux in the loss bench's captures, 25 µs after the FIN), and one that
 * did not would cost a single spurious probe at the end of the connection, answered by a
 * D-SACK without a window reduction (§7.4.1), where a lost last segment otherwise waits
 * for the RTO. A deliberate difference from Linux, which adds TCP_RTO_MIN whenever one
 * packet is out: a transfer whose last segment and FIN are lost stalls one RTO (the
 * kernel's own echo cells in the loss bench: 206–212 ms at the tail).
 */
function lossProbeTimeout(connection: TcpConnection): number {
  const srtt = connection.rtt.srtt;
  const pto = srtt === undefined ? INITIAL_PTO_MS : twoRoundTrips(srtt, connection.context.config.ptoFloor);
  const finInFlight = connection.finSent() && !connection.finAcknowledged();
  return connection.bytesInFlight() <= connection.tcb.sendMss && !finInFlight ? pto + WORST_CASE_DELAYED_ACK_MS : pto;
}

/**
 * 2·SRTT with the timer's allowance for this process's and the peer's scheduling:
 * max(2·SRTT, MIN_PTO_MS) (`tcp.ptoFloor`, the default; the first TLP, Linux 3.10-4.13) or
 * 2·SRTT + PTO_SLACK_MS (Linux since 4.14: `timeout = 2·srtt + TCP_TIMEOUT_MIN` while more
 * than one segment is in flight; its RACK reorder timer adds the same 2 jiffies).
 *
 * Why the floor stays the default (bench/BASELINE.md, branch h-pto, alternated runs on
 * the loss bench's path): on a LAN whose SRTT is 0.1-0.3 ms, Linux's form probes 2.2-2.6 ms
 * after the last ACK. At 3% loss each way that repaired a lost flight ACK ~8 ms sooner
 * and took chargen's 4 MiB from 87-172 to 53-95 ms; but a Linux receiver whose reader is
 * scheduled late ACKs a burst 1.5-5 ms after it arrived (it holds the ACK while the
 * window would shrink), so without loss and at 1% the probe mostly raced that ACK:
 * 1-2 needless probes per loss-free 4 MiB, 4-7× the probes and 5× the spurious
 * retransmissions at 1%, and 1% chargen 57-61 ms against 44-46. The floor never probes
 * before 10 ms; Linux's own timestamps make its SRTT include such ACK delays, ours too,
 * but the delays vary far more than SRTT + 2 ms covers.
 */
function twoRoundTrips(srtt: number, floor: boolean): number {
  return floor ? Math.max(MIN_PTO_MS, 2 * srtt) : 2 * srtt + PTO_SLACK_MS;
}

/**
 * The RTO after a tail loss probe: where it stood when the PTO fired (RFC 6298 §5.3: one
 * RTO after the last ACK of new data, or after the first transmission of the flight),
 * but never sooner than one PTO after the probe, and never later than one RTO after it.
 *
 * A deliberate difference from RFC 8985 §7.3 and from Linux: the RFC re-arms the RTO
 * after the probe, and Linux (tcp_send_loss_probe clears icsk_pending once a probe is
 * sent, so tcp_rearm_rto restarts the timer from now; only a probe that could not be
 * sent keeps the RTO where it stood, offset from the head's transmission by
 * tcp_rto_delta_us) restarts it from the probe. A lost probe, or its lost answer, then
 * costs PTO + RTO since the last ACK: on a LAN 10 + 200 ms, the stalls of 202-214 ms
 * over one RTO that bench/BASELINE.md measured (MTU 576, 3% loss: a Linux receiver's
 * one stretch ACK for a flight lost, and the probe's answer with it). Here the probe
 * does not push the last resort back: on a LAN the RTO (its 200 ms floor) still falls
 * 190 ms after the probe, a hundred round trips, so it is no more spurious than any RTO.
 * Where the PTO is close to the RTO (a long RTT, or one segment in flight, whose PTO
 * includes WCDelAckT and is capped by the RTO), the floor of one PTO after the probe
 * gives the probe the time any transmission is given to draw an ACK before a probe,
 * and one RTO after the probe, the RFC's instant, is the latest it can be.
 */
function retransmitDeadlineAfterProbe(connection: TcpConnection, now: Instant): Instant {
  const rto = connection.rtt.rto;
  const pending = connection.retransmitAt ?? now + rto;
  return Math.max(pending, now + Math.min(lossProbeTimeout(connection), rto));
}

/**
 * The recovery probe's timeout, max(2·SRTT, MIN_PTO_MS) (`twoRoundTrips`), armed while SACK recovery has
 * data in flight (`armLossProbe`). When it fires, output.ts resends the segment at
 * SND.UNA; cwnd, ssthresh and the RTO are left alone.
 *
 * Why, when RFC 8985 §7.2 and Linux (tcp_schedule_loss_probe: CA_Open and CA_CWR only)
 * arm no probe in recovery: in recovery the ACK clock normally runs, but when the
 * retransmissions are the last segments sent (at entry pipe ≥ cwnd, RFC 6675 §5 (C))
 * and the one ACK that answers them is lost, or a retransmission itself is, nothing
 * else in flight can draw an ACK or let RACK see the loss, and only the RTO (200 ms at
 * least, two thousand LAN round trips) gets out: bench/BASELINE.md measured this as
 * the cause of nearly every stall of piwire's sends into a Linux receiver under loss.
 *
 * Why it is safe: the segment at SND.UNA fills a hole, or repeats one the peer already
 * has, and a receiver ACKs either at once: RFC 5681 §4.2 (an ACK SHOULD be sent
 * immediately for a segment that fills in all or part of a gap; Linux sets ICSK_ACK_NOW
 * when its out-of-order queue empties), RFC 9293 §3.10.7.4 (a segment wholly below
 * RCV.NXT is unacceptable and answered with an ACK, with a D-SACK from a SACK
 * receiver, RFC 2883). So, unlike the tail loss probe, no delayed-ACK allowance
 * (WCDelAckT) is needed: an answer comes one RTT after the last thing sent, and 2·SRTT
 * leaves a full RTT for queueing and the receiver's SACK compression (Linux
 * tcp_comp_sack_delay_ns, 1 ms). The floor, MIN_PTO_MS (the older TLP floor; with
 * `tcp.ptoFloor` off, Linux's 2 ms slack instead), covers a LAN whose SRTT is far below a
 * millisecond, where 2·SRTT alone is shorter than the jitter of this process's event loop
 * and of the peer's scheduler. If the probe was needless, its cost is one segment: a D-SACK
 * reports it (counted as a spurious retransmission), the window is not reduced again
 * (recovery already reduced it once for the episode), and the RTO is not moved, so
 * the worst case is the RTO as without the probe.
 *
 * Resending SND.UNA rather than new data (RFC 8985 §7.3's first choice for a TLP):
 * new data sent after everything below it arrived is in order and may wait for the
 * peer's delayed ACK (under 500 ms by RFC 9293 §3.8.6.3, 40-200 ms in practice), and if the retransmission was
 * lost it draws a SACK that lets RACK find the loss only a reordering window later;
 * the segment at SND.UNA draws an immediate ACK either way and repairs the hole itself.
 *
 * `unanswered`, the probes sent since the last ACK that reported delivery, doubles the
 * wait each time (as the RTO and the persist timer back off): at random loss any probe
 * or answer may be lost, so up to MAX_RECOVERY_PROBES go before the RTO; on a burst of
 * loss or an outage (a Wi-Fi bridge's) they spread out instead of all going into it, and
 * into a dead path go four segments per RTO, not one per 10 ms.
 */
function recoveryProbeTimeout(srtt: number | undefined, floor: boolean, unanswered: number): number {
  // Before any RTT sample (rare in recovery) as the PTO: INITIAL_PTO_MS.
  return (srtt === undefined ? INITIAL_PTO_MS : twoRoundTrips(srtt, floor)) * 2 ** unanswered;
}

/**
 * The tail probe's follow-up (`tcp.tlpFollowUp`): while a tail loss probe is outstanding
 * (TLP.end_seq, RFC 8985 §7.3) and nothing has advanced SND.UNA for max(2·SRTT,
 * MIN_PTO_MS) (`twoRoundTrips`) since the probe, the last follow-up or the last ACK that did, the segment
 * at SND.UNA is resent (output.ts `sendTlpFollowUp`), at most MAX_TLP_FOLLOW_UPS times
 * without such an ACK in between; cwnd, ssthresh and the RTO are left alone. The timeout
 * is the recovery probe's (`recoveryProbeTimeout`, doubled for each unanswered follow-up), for the same reasons: the segment at
 * SND.UNA draws an immediate ACK (a duplicate: RFC 9293 §3.10.7.4 with a D-SACK, RFC 2883; a filled hole:
 * RFC 5681 §4.2).
 *
 * Why, when RFC 8985 §7.3 arms the RTO after the probe and Linux sends at most one probe
 * per flight (`tlp_high_seq`) and then waits for the RTO: on a LAN the PTO is 10 ms and the
 * RTO 200 ms, and the probe stands for a whole flight whose ACKs did not come. When the
 * probe or its answer is lost too, the RTO repairs it one RTO after the last ACK: the
 * receiving application sees a silence of one RTO plus the trips, the "stall over one
 * RTO" of the loss bench (bench/BASELINE.md: at 1-3% loss each way, 1-2 of 12 cells per
 * run at 201-207 ms, every one an RTO after a lost probe; with the follow-up, none in 20
 * transfers alternated with 20 without it, which had 5). And a probe of new data after
 * a lost stretch ACK arrives in order at a Linux receiver, which delays its ACK (40 ms,
 * TCP_ATO_MIN): the 40-57 ms silences. The follow-up resends the one segment a receiver
 * answers at once either way; a needless one costs one segment and shows as a D-SACK
 * (`tlpDsack`: the episode's last retransmission decides §7.4's congestion response,
 * so a follow-up that only repeated data is no congestion event, one that filled a hole
 * is).
 */
function tlpFollowUpTimeout(srtt: number | undefined, floor: boolean, unanswered: number): number {
  return recoveryProbeTimeout(srtt, floor, unanswered);
}
