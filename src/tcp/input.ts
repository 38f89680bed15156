/**
 * Segment arrival for an existing connection: RFC 9293 §3.10.7.3 (SYN-SENT) and
 * §3.10.7.4 (every other state), checks made in the RFC's order:
 *
 *   1. sequence number acceptability (the four cases), trimming to the window
 *   2. RST (exact match resets, in-window gets a challenge ACK: RFC 5961 §3.2)
 *   3. security (not implemented: no IP security options)
 *   4. SYN (challenge ACK: RFC 5961 §4.2)
 *   5. ACK (SYN-RECEIVED completion, SND.UNA/SND.WND update, RFC 5961 §5.2 limits,
 *      SACK blocks and loss detection (recovery.ts), duplicate ACKs for fast
 *      retransmit, FIN acknowledgement per state)
 *   6. URG (ignored: RFC 6093 discourages urgent data; the pointer is not tracked)
 *   7. segment text (in order into the receive buffer, out of order into the assembler)
 *   8. FIN
 *
 * LISTEN and "no connection" (§3.10.7.1, §3.10.7.2) are handled by the stack, which
 * owns the listeners. Nothing here throws on peer input, sends a segment or calls the
 * application: effects are recorded on the connection (what to send: ackNow,
 * resetReplySeq, synResend, retransmitNow; notifications; timers) and the stack runs
 * output.ts and delivers notifications afterwards.
 */
import { TcpFlag, type TcpRepr } from '../wire/tcp.ts';
import type { Instant } from '../time.ts';
import { DEFAULT_SEND_MSS, MAX_UNSCALED_WINDOW, type TcpConfig } from './config.ts';
import { MAX_SACK_BLOCKS, Notify, closeError, type TcpConnection } from './connection.ts';
import { canReceiveData } from './state.ts';
import { CHALLENGE_ACK_INTERVAL_MS } from './limits.ts';
import { seqAdd, seqDiff, seqGe, seqGt, seqInRange, seqLe, seqLt, seqMax, seqMin } from './seq.ts';
import { pathMtuAtEstablishment } from './path-mtu.ts';
import { createScoreboard, cumulativeAck, detectLoss, frtoAck, recoveryEnded, sackArrives } from './recovery.ts';
import { bbrAckArrives, bbrAckProcessed, bbrEstablished } from './bbr-ack.ts';
import { PAWS_WINDOW_TICKS, pawsRejects, updateTsRecent } from './timestamps.ts';
import { bareAckProcessed, holeFilled, inOrderDataArrived, segmentArriving } from './ack-policy.ts';

/** The smallest peer MSS we honour; smaller options are raised to it (Linux uses 88 with options). */
const MIN_PEER_MSS = 64;

export function segmentArrives(connection: TcpConnection, segment: TcpRepr, now: Instant): void {
  const state = connection.state;
  segmentArriving(connection);
  if (connection.state === 'CLOSED' && state !== 'CLOSED') {
    // The application, reading before the ACK that left in the middle of a receive
    // batch (ack-policy.ts), aborted the connection; its RST has left.
    connection.context.counters.increment('tcp.drop.closed-in-batch');
    return;
  }
  connection.segmentsIn++;
  if (connection.state === 'SYN-SENT') synSentArrives(connection, segment, now);
  else synchronizedArrives(connection, segment, now);
  if (segment.payload.length === 0 && (segment.flags & TcpFlag.ACK) !== 0) bareAckProcessed(connection);
  connection.context.touch(connection);
}

/**
 * An acceptable segment (sequence number in the window, ACK not beyond what we sent nor
 * too old) shows the peer is alive: the keepalive and persist liveness clocks restart.
 * Segments that fail validation do not count, so an off-path sender that knows the
 * 4-tuple cannot keep a dead peer "alive" (RFC 5961's threat model).
 */
function peerIsAlive(connection: TcpConnection, now: Instant): void {
  connection.lastReceivedAt = now;
  connection.keepaliveSent = 0;
  if (connection.unansweredProbes > 0) {
    // Whatever it says, the peer answered our zero-window probes.
    connection.zeroWindowProbesAnswered++;
    connection.unansweredProbes = 0;
    connection.unansweredProbeSince = undefined;
  }
}

/** RFC 9293 §3.10.7.3. */
function synSentArrives(connection: TcpConnection, segment: TcpRepr, now: Instant): void {
  const counters = connection.context.counters;
  const flags = segment.flags;
  const hasAck = (flags & TcpFlag.ACK) !== 0;
  // First: the ACK must acknowledge our SYN and nothing beyond it.
  if (hasAck && (seqLe(segment.acknowledgmentNumber, connection.tcb.iss) || seqGt(segment.acknowledgmentNumber, connection.tcb.sndMax))) {
    if ((flags & TcpFlag.RST) === 0) connection.resetReplySeq = segment.acknowledgmentNumber;
    counters.increment('tcp.drop.bad-ack');
    return;
  }
  if (hasAck) peerIsAlive(connection, now);
  // Second: RST. Only believable with an acceptable ACK (RFC 5961 §3.2, SYN-SENT).
  if (flags & TcpFlag.RST) {
    if (hasAck) connection.setState('CLOSED', 'refused', closeError('refused'));
    else counters.increment('tcp.drop.rst-without-ack');
    return;
  }
  // Fourth: SYN.
  if ((flags & TcpFlag.SYN) === 0) {
    counters.increment('tcp.drop.no-syn');
    return;
  }
  connection.tcb.initFromPeerSyn(segment, negotiatedMss(connection.context.config, segment));
  // We offered SACK-permitted if configured; it is in use if the peer offered it too.
  connection.tcb.sackPermitted = connection.offers.sack && segment.options.sackPermitted === true;
  // Likewise window scaling and timestamps (RFC 7323 §2.2, §3.2).
  negotiate(connection, segment, now);
  if (hasAck) {
    // Our SYN is acknowledged: ESTABLISHED. Data or FIN carried by the SYN-ACK is not
    // taken (the peer retransmits it); we acknowledge the SYN alone.
    acknowledge(connection, segment.acknowledgmentNumber, now, handshakeEcho(connection, segment));
    // The window our SYN advertised (nothing has been received since).
    connection.tcb.rcvAdvertisedEdge = seqAdd(connection.tcb.rcvNxt, Math.min(connection.receiveBuffer.free, MAX_UNSCALED_WINDOW));
    establish(connection, now, segment);
    connection.ackNow = true;
    return;
  }
  // Simultaneous open (RFC 9293 §3.5, figure 8): SYN-RECEIVED, send <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
  connection.setState('SYN-RECEIVED');
  connection.synResend = 'new-segment';
}

/** RFC 9293 §3.10.7.4: SYN-RECEIVED and every later state. */
function synchronizedArrives(connection: TcpConnection, segment: TcpRepr, now: Instant): void {
  const counters = connection.context.counters;
  const config = connection.context.config;
  const flags = segment.flags;
  const state = connection.state;
  const seq = segment.sequenceNumber;

  // Simultaneous open (RFC 9293 §3.5, figure 8): the peer's SYN-ACK answers our SYN while
  // we are in SYN-RECEIVED. Its SYN is the one we already took; the rest is the ACK that
  // completes the handshake (Linux tcp_validate_incoming lets exactly this through).
  if (
    state === 'SYN-RECEIVED' &&
    connection.active &&
    (flags & (TcpFlag.SYN | TcpFlag.ACK | TcpFlag.RST)) === (TcpFlag.SYN | TcpFlag.ACK) &&
    seq === connection.tcb.irs &&
    segment.acknowledgmentNumber === connection.tcb.sndMax
  ) {
    synchronizedArrives(connection, { ...segment, flags: flags & ~TcpFlag.SYN, sequenceNumber: seqAdd(seq, 1) }, now);
    return;
  }

  // A retransmitted SYN while our SYN-ACK is outstanding means the SYN-ACK was lost:
  // resend it at once rather than wait for our RTO (Linux tcp_check_req does the same).
  if (state === 'SYN-RECEIVED' && (flags & (TcpFlag.SYN | TcpFlag.ACK | TcpFlag.RST)) === TcpFlag.SYN && seq === connection.tcb.irs) {
    // RFC 7323 §4.3: SEG.SEQ (= IRS) ≤ Last.ACK.sent, so its TSval becomes TS.Recent and
    // the resent SYN-ACK echoes the SYN that got through. Echoing the first SYN's instead
    // hands the peer an RTT sample of a whole SYN timeout (1 s), which its RTO then
    // carries for a long while (bench/BASELINE.md, "what the remaining stalls are").
    const synTimestamp = connection.tcb.timestamps ? segment.options.timestamps : undefined;
    if (synTimestamp !== undefined) updateTsRecent(connection.tcb, synTimestamp.value, true, now);
    connection.synResend = 'retransmission';
    return;
  }

  const payloadLength = segment.payload.length;
  const segmentLength = payloadLength + (flags & TcpFlag.SYN ? 1 : 0) + (flags & TcpFlag.FIN ? 1 : 0);

  // ---- RFC 7323 §5.3 R1: PAWS, before the sequence number check. A TSval older than
  // TS.Recent marks an old duplicate: drop it and ACK (rate limited as the
  // out-of-window ACKs below; a SYN gets a challenge ACK). RSTs are exempt (§5.2:
  // "MUST be acceptable regardless of their timestamp"). ----
  const timestamp = connection.tcb.timestamps ? segment.options.timestamps : undefined;
  if (connection.tcb.timestamps && timestamp === undefined && (flags & TcpFlag.RST) === 0) counters.increment('tcp.rx.missing-timestamp');
  if (timestamp !== undefined && (flags & TcpFlag.RST) === 0 && pawsRejects(connection.tcb, timestamp.value, now, pawsTolerance(connection, segment))) {
    counters.increment('tcp.drop.paws');
    if (flags & TcpFlag.SYN) challengeAck(connection, now);
    else if (segmentLength > 0 || challengeAllowed(connection, now)) connection.ackNow = true;
    return;
  }

  // ---- first: sequence number acceptability ----
  const window = Math.max(0, seqDiff(connection.tcb.rcvAdvertisedEdge, connection.tcb.rcvNxt));
  const acceptable = isAcceptable(seq, segmentLength, connection.tcb.rcvNxt, window);
  // RFC 9293 §3.10.7.4: with a zero window no segment is acceptable, "but special
  // allowance should be made to accept valid ACKs, URGs, and RSTs": a segment exactly
  // at RCV.NXT is processed for its control bits, its text and FIN dropped.
  const zeroWindowAllowance = !acceptable && window === 0 && seq === connection.tcb.rcvNxt;
  const ackOfDuplicate = !acceptable && !zeroWindowAllowance && carriesFreshAck(connection, seq, segmentLength, flags);
  if (ackOfDuplicate) {
    // Its text and FIN are trimmed below (a D-SACK reports them, an ACK goes at once).
    connection.ackNow = true;
    counters.increment('tcp.rx.duplicate-ack-field');
  } else if (!acceptable && !zeroWindowAllowance) {
    if (flags & TcpFlag.SYN && (flags & TcpFlag.RST) === 0) {
      // RFC 5961 §4.2: a SYN anywhere in a synchronized state gets a challenge ACK.
      challengeAck(connection, now);
    } else if ((flags & TcpFlag.RST) === 0) {
      // RFC 9293 §3.10.7.4: ACK and drop. Segments that occupy sequence space (data, FIN:
      // a retransmission whose ACK was lost) are always answered, or the peer would
      // retransmit forever; bare ACKs share the challenge-ACK limit (RFC 5961 §7; Linux
      // tcp_oow_rate_limited), so two ends out of step cannot ACK each other in a loop.
      if (segmentLength > 0) {
        connection.ackNow = true;
        // Old data (not data beyond the window) is a duplicate: D-SACK it.
        if (seqLt(seq, connection.tcb.rcvNxt)) noteDuplicate(connection, seq, seqMin(seqAdd(seq, segmentLength), connection.tcb.rcvNxt));
      } else if (challengeAllowed(connection, now)) {
        connection.ackNow = true;
      }
    }
    counters.increment('tcp.drop.out-of-window');
    return;
  }

  // Trim to the window: drop what precedes RCV.NXT and what lies beyond the right edge.
  let start = seq;
  let data = segment.payload;
  let syn = (flags & TcpFlag.SYN) !== 0;
  let fin = (flags & TcpFlag.FIN) !== 0;
  if (seqLt(start, connection.tcb.rcvNxt)) {
    if (payloadLength > 0) noteDuplicate(connection, seqAdd(seq, syn ? 1 : 0), seqMin(seqAdd(seq, segmentLength), connection.tcb.rcvNxt));
    let skip = seqDiff(connection.tcb.rcvNxt, start);
    if (syn) {
      syn = false;
      skip -= 1;
    }
    if (skip > data.length) fin = false;
    data = data.subarray(Math.min(skip, data.length));
    start = connection.tcb.rcvNxt;
  }
  // The window's edge, and the buffer's (connection.receiveWindow() keeps every edge it
  // advertises inside the free buffer; the buffer is checked too, as the last word).
  const bufferRoom = connection.receiveBuffer.free - seqDiff(start, connection.tcb.rcvNxt);
  const room = zeroWindowAllowance ? 0 : Math.max(0, Math.min(seqDiff(connection.tcb.rcvAdvertisedEdge, start), bufferRoom));
  // A FIN right after data that fills the window exactly is kept: it takes no buffer
  // space, and dropping it would cost the sender a retransmission timeout (Linux
  // tcp_data_queue queues it too). Strictly its sequence number lies one past the window
  // (RFC 9293 §3.10.7.4 trims it); it matters most within a receive batch, where the
  // application reads only once the batch has been processed (ack-policy.ts). A FIN
  // alone against a closed window is still dropped, as the zero-window rule says.
  if (data.length > room || (fin && room === 0)) {
    // Part of the segment lies beyond the window: keep what fits, and ACK at once so
    // the sender learns where the window ends.
    data = data.subarray(0, room);
    fin = false;
    connection.ackNow = true;
    counters.increment('tcp.rx.trimmed');
  }

  // ---- second: RST (RFC 5961 §3.2) ----
  if (flags & TcpFlag.RST) {
    if (seq !== connection.tcb.rcvNxt) {
      challengeAck(connection, now);
      return;
    }
    resetArrives(connection);
    return;
  }

  // ---- fourth: SYN (RFC 5961 §4.2: any SYN in a synchronized state gets a challenge ACK) ----
  if (flags & TcpFlag.SYN) {
    challengeAck(connection, now);
    return;
  }

  // ---- RFC 7323 §4.3, §5.3 R3: TS.Recent from a segment at or before Last.ACK.sent ----
  if (timestamp !== undefined && !ackOfDuplicate) updateTsRecent(connection.tcb, timestamp.value, seqLe(seq, connection.tcb.lastAckSent), now);

  // ---- fifth: ACK ----
  if ((flags & TcpFlag.ACK) === 0) {
    counters.increment('tcp.drop.no-ack');
    return;
  }
  const ack = segment.acknowledgmentNumber;
  if (state === 'SYN-RECEIVED') {
    if (!(seqLt(connection.tcb.sndUna, ack) && seqLe(ack, connection.tcb.sndMax))) {
      connection.resetReplySeq = ack;
      counters.increment('tcp.drop.bad-ack');
      return;
    }
    connection.tcb.updateSendWindow(seq, ack, scaledWindow(connection, segment));
    acknowledge(connection, ack, now, handshakeEcho(connection, segment));
    establish(connection, now, segment);
    if (connection.tcb.finQueued) connection.setState('FIN-WAIT-1');
  }
  if (seqGt(ack, connection.tcb.sndMax)) {
    // RFC 9293 §3.10.7.4 / RFC 5961 §5.2: an ACK for something not yet sent: ACK (rate
    // limited, RFC 5961 §7) and drop.
    if (challengeAllowed(connection, now)) connection.ackNow = true;
    counters.increment('tcp.drop.ack-unsent');
    return;
  }
  if (seqLt(ack, seqAdd(connection.tcb.sndUna, -connection.tcb.maxSndWnd))) {
    // RFC 5961 §5.2: too old to be a legitimate duplicate: challenge ACK, drop.
    challengeAck(connection, now);
    return;
  }
  peerIsAlive(connection, now);
  // BBR (bbr-ack.ts): the rate sample of this ACK begins before the scoreboard sees it.
  const rate = connection.rate;
  if (rate !== undefined) bbrAckArrives(connection);
  // The ACK's TSecr tells RACK which transmission of a retransmitted segment it answers.
  if (connection.scoreboard !== undefined) connection.scoreboard.ackEcho = echoedTimestamp(connection, segment);
  // SACK blocks update the scoreboard before SND.UNA moves (RFC 6675 §5, Update()).
  const sackBlocks = segment.options.sackBlocks;
  const newSack = sackBlocks !== undefined && connection.scoreboard !== undefined && sackArrives(connection, sackBlocks, ack, now);
  // RFC 5681 §2 duplicate ACK. A closed window is excluded: the answers to zero-window
  // probes repeat SND.UNA and the zero window, and signal no loss. With SACK, an ACK
  // at SND.UNA that SACKs new data is one too (RFC 6675 §2, DupAck).
  const inFlight = ack === connection.tcb.sndUna && connection.bytesInFlight() > 0;
  const duplicate =
    (inFlight &&
      payloadLength === 0 &&
      (flags & (TcpFlag.SYN | TcpFlag.FIN)) === 0 &&
      scaledWindow(connection, segment) === connection.tcb.sndWnd &&
      segment.window !== 0) ||
    (inFlight && newSack);
  if (seqGt(ack, connection.tcb.sndUna)) {
    connection.duplicateAcks = 0;
    acknowledge(connection, ack, now, echoedTimestamp(connection, segment));
  } else if (duplicate) {
    connection.duplicateAcks++;
    if (connection.scoreboard === undefined && connection.congestion.onDuplicateAck(ack, connection.bytesInFlight(), connection.tcb.sndMax) === 'retransmit') {
      // RFC 5681 §3.2 fast retransmit.
      counters.increment('tcp.tx.fast-retransmits');
      connection.retransmitNow = true;
    }
  }
  // With SACK: F-RTO after an RTO (RFC 5682 §3), then mark losses (RFC 6675 IsLost,
  // RACK) and enter recovery if due.
  if (connection.scoreboard !== undefined) {
    if (connection.frtoStep !== 0) frtoAck(connection, duplicate);
    detectLoss(connection, now);
    if (rate !== undefined) bbrAckProcessed(connection, now);
  }
  // RFC 9293 §3.10.7.4: update the send window only from segments newer than the last
  // update (SND.WL1/SND.WL2), so an old reordered segment cannot shrink it.
  if (
    seqLe(connection.tcb.sndUna, ack) &&
    (seqLt(connection.tcb.sndWl1, seq) || (connection.tcb.sndWl1 === seq && seqLe(connection.tcb.sndWl2, ack)))
  ) {
    updateSendWindow(connection, segment, now);
  }
  switch (connection.state) {
    case 'FIN-WAIT-1':
      if (connection.finAcknowledged()) {
        connection.setState('FIN-WAIT-2');
        // Linux tcp_fin_timeout: an orphan does not wait for the peer's FIN forever.
        if (connection.orphaned) connection.finWait2Deadline = now + config.finTimeout;
      }
      break;
    case 'CLOSING':
      if (connection.finAcknowledged()) enterTimeWait(connection);
      break;
    case 'LAST-ACK':
      if (connection.finAcknowledged()) {
        connection.setState('CLOSED', 'fin');
        return;
      }
      break;
    default:
      break;
  }

  // ---- sixth: URG is ignored. seventh: segment text ----
  if (data.length > 0 && connection.orphaned) {
    // Nobody will read it: the peer must learn at once that its data is lost (Linux
    // tcp_rcv_state_process: "data received after close", reset).
    counters.increment('tcp.rx.data-for-orphan');
    connection.abortNow();
    return;
  }
  if (data.length > 0) {
    if (canReceiveData(connection.state) && !connection.tcb.remoteFinReceived) receiveText(connection, start, data, now);
    else counters.increment('tcp.rx.data-after-fin');
  }

  // ---- eighth: FIN ----
  if (fin && !connection.tcb.remoteFinReceived) {
    const finSeq = seqAdd(start, data.length);
    if (connection.tcb.remoteFinSeq === undefined) connection.tcb.remoteFinSeq = finSeq;
    if (seqGt(finSeq, connection.tcb.rcvNxt)) connection.ackNow = true; // out of order: duplicate ACK
  }
  if (connection.tcb.remoteFinSeq !== undefined && connection.tcb.remoteFinSeq === connection.tcb.rcvNxt && !connection.tcb.remoteFinReceived) {
    finArrives(connection);
  }
}

/**
 * How much older than TS.Recent a segment's TSval may be (timestamp ticks, ms). A pure
 * duplicate ACK (no data, nothing new: SEG.SEQ = RCV.NXT, SEG.ACK = SND.UNA, same
 * window) that was merely reordered gets up to one RTO, as Linux's tcp_disordered_ack;
 * everything else one tick (PAWS_WINDOW_TICKS).
 */
function pawsTolerance(connection: TcpConnection, segment: TcpRepr): number {
  const tcb = connection.tcb;
  const pureDuplicateAck =
    (segment.flags & (TcpFlag.ACK | TcpFlag.SYN | TcpFlag.FIN)) === TcpFlag.ACK &&
    segment.payload.length === 0 &&
    segment.sequenceNumber === tcb.rcvNxt &&
    segment.acknowledgmentNumber === tcb.sndUna &&
    scaledWindow(connection, segment) === tcb.sndWnd;
  return pureDuplicateAck ? Math.max(PAWS_WINDOW_TICKS, connection.rtt.rto) : PAWS_WINDOW_TICKS;
}

/**
 * A segment wholly below RCV.NXT (a retransmission of text or a FIN we hold) whose ACK
 * field is still processed, as 4.4BSD does ("drop any data, but keep on processing for
 * RST or ACK", Stevens vol. 2 p. 960; FreeBSD tcp_input) and Linux for one that ends
 * at or after the last RCV.NXT it advertised (`tcp_sequence`, rcv_wup), where RFC 9293
 * §3.10.7.4 would drop it whole. When the peer has nothing new to send (our window
 * closed, its application idle), the ACK for our data may ride only on such a
 * retransmission: dropped, that ACK is lost, and our tail waits for its RTO
 * (bench/BASELINE.md: echo at MTU 576 and 3% loss, the kernel's spurious resend of a
 * filled hole carried the one ACK of eight echoed segments; piwire's tail loss probe
 * was then lost and the RTO stalled the echo 202 ms).
 *
 * Bounded to one receive buffer below RCV.NXT (no window we advertised reached
 * further back), not SYN or RST, with ACK: a blind attacker needs a sequence number in
 * a range the size of an in-window one, and the ACK field is then checked as any
 * other (RFC 5961 §5.2). PAWS (RFC 7323 §5.3) has already turned away an old
 * duplicate of an earlier incarnation when timestamps are in use.
 */
function carriesFreshAck(connection: TcpConnection, seq: number, segmentLength: number, flags: number): boolean {
  if (segmentLength === 0 || (flags & (TcpFlag.SYN | TcpFlag.RST)) !== 0 || (flags & TcpFlag.ACK) === 0) return false;
  const rcvNxt = connection.tcb.rcvNxt;
  return seqLe(seqAdd(seq, segmentLength), rcvNxt) && seqGe(seq, seqAdd(rcvNxt, -connection.receiveBuffer.capacity));
}

/** RFC 9293 §3.10.7.4, first check: the four acceptability cases. */
export function isAcceptable(seq: number, length: number, rcvNxt: number, window: number): boolean {
  const edge = seqAdd(rcvNxt, window);
  // A zero-length segment exactly at the right edge is accepted too, as Linux's
  // tcp_sequence() does: a sender whose probe octet we dropped sends its ACKs there.
  if (length === 0) return window === 0 ? seq === rcvNxt : seqInRange(seq, rcvNxt, edge) || seq === edge;
  if (window === 0) return false;
  return seqInRange(seq, rcvNxt, edge) || seqInRange(seqAdd(seq, length - 1), rcvNxt, edge);
}

/**
 * One challenge ACK per connection per CHALLENGE_ACK_INTERVAL_MS (Linux
 * tcp_invalid_ratelimit, 500 ms), and within the stack-wide budget (RFC 5961 §7).
 * The per-connection limit comes first, so one attacker-owned connection cannot drain
 * the shared budget and read other connections' state from it (CVE-2016-5696).
 */
export { CHALLENGE_ACK_INTERVAL_MS };

function challengeAllowed(connection: TcpConnection, now: Instant): boolean {
  const last = connection.lastChallengeAckAt;
  if (last !== undefined && now - last < CHALLENGE_ACK_INTERVAL_MS) {
    connection.context.counters.increment('tcp.tx.challenge-ack-limited');
    return false;
  }
  if (!connection.context.allowChallengeAck(now)) {
    connection.context.counters.increment('tcp.tx.challenge-ack-limited');
    return false;
  }
  connection.lastChallengeAckAt = now;
  return true;
}

/** RFC 5961 §3.2, §4.2, §5.2: answer with <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> (rate limited, §7) and drop. */
function challengeAck(connection: TcpConnection, now: Instant): void {
  connection.context.counters.increment('tcp.drop.challenge-ack');
  if (challengeAllowed(connection, now)) connection.ackNow = true;
}

/** An acceptable RST (RFC 9293 §3.10.7.4, second check, per state). */
function resetArrives(connection: TcpConnection): void {
  const counters = connection.context.counters;
  counters.increment('tcp.rx.rst');
  switch (connection.state) {
    case 'SYN-RECEIVED':
      // Passive open: the half-open connection silently goes away (the listener stays).
      // Active open (simultaneous open): the connection was refused.
      if (connection.active) connection.setState('CLOSED', 'refused', closeError('refused'));
      else connection.setState('CLOSED', 'rst');
      return;
    case 'ESTABLISHED':
    case 'FIN-WAIT-1':
    case 'FIN-WAIT-2':
    case 'CLOSE-WAIT':
      connection.setState('CLOSED', 'rst', closeError('rst'));
      return;
    case 'CLOSING':
    case 'LAST-ACK':
      // The application already closed its side; nothing it sent is lost to it.
      connection.setState('CLOSED', 'rst');
      return;
    default:
      return;
  }
}

/**
 * SND.UNA advances to `ack` (SND.UNA < ack <= SND.MAX). `echo` is the ACK's TSecr when
 * timestamps are in use: RTTM (RFC 7323 §4) then takes a sample from every such ACK,
 * retransmissions included (the echo names the transmission it answers), weighted as
 * RFC 7323 appendix G says so that many samples per RTT do not collapse RTTVAR. Without
 * timestamps one segment per RTT is timed, and never a retransmitted one (RFC 6298 §3,
 * Karn: rttSeq is cleared whenever a timed segment is retransmitted).
 */
function acknowledge(connection: TcpConnection, ack: number, now: Instant, echo?: number): void {
  const acked = seqDiff(ack, connection.tcb.sndUna);
  const echoRtt = echo === undefined ? undefined : rttFromEcho(connection, echo, now);
  if (echoRtt !== undefined) {
    // Appendix G: ExpectedSamples = ceil(FlightSize / (2·SMSS)), FlightSize before this ACK.
    const expectedSamples = Math.max(1, Math.ceil(connection.bytesInFlight() / (2 * connection.tcb.sendMss)));
    connection.rtt.sample(echoRtt, expectedSamples);
    connection.rttSeq = undefined;
  } else if (connection.rttSeq !== undefined && seqGe(ack, connection.rttSeq)) {
    connection.rtt.sample(now - connection.rttStart);
    connection.rttSeq = undefined;
  }
  const dataAcked = Math.min(Math.max(0, seqDiff(ack, connection.tcb.sendBufferSeq)), connection.sendBuffer.length);
  connection.sendBuffer.discard(dataAcked);
  connection.tcb.sendBufferSeq = seqAdd(connection.tcb.sendBufferSeq, dataAcked);
  if (dataAcked > 0) connection.releaseDrainedBuffers();
  connection.tcb.sndUna = ack;
  cumulativeAck(connection, ack, now);
  // Keeps Nagle's marker inside [SND.UNA, SND.MAX], so it cannot look ahead after a wrap.
  if (seqLt(connection.tcb.sndSmall, ack)) connection.tcb.sndSmall = ack;
  connection.tcb.sndNxt = seqMax(connection.tcb.sndNxt, ack);
  connection.backoffCount = 0;
  connection.rtoReverts = 0;
  // Something got through: an earlier ICMP soft error is no longer the news (Linux tcp_ack).
  connection.softError = undefined;
  connection.persistBackoff = 0;
  // RFC 6298 §5.2, §5.3: stop the timer when all is acknowledged, else restart it.
  const outstanding = connection.bytesInFlight() > 0;
  connection.retransmitAt = outstanding ? now + connection.rtt.rto : undefined;
  connection.unackedSince = outstanding ? now : undefined;
  if (dataAcked > 0 && connection.writeBlocked) {
    connection.writeBlocked = false;
    connection.notify(Notify.WRITABLE);
  }
  if (dataAcked > 0 && connection.state !== 'SYN-RECEIVED' && connection.state !== 'SYN-SENT') {
    const recovering = connection.congestion.inRecovery;
    const action = connection.congestion.onAck(ack, dataAcked, connection.bytesInFlight(), now, connection.rtt.srtt);
    if (recovering && !connection.congestion.inRecovery) recoveryEnded(connection);
    if (action === 'retransmit' && outstanding) {
      // RFC 6582 §3.2: a partial ACK retransmits the next unacknowledged segment.
      connection.context.counters.increment('tcp.tx.fast-retransmits');
      connection.retransmitNow = true;
    }
  }
  if (acked > 0) connection.noteActivity(now);
}

/** SYN-SENT or SYN-RECEIVED → ESTABLISHED; `segment` is the one that completed the handshake. */
function establish(connection: TcpConnection, now: Instant, segment: TcpRepr): void {
  // RFC 6298 §5.7: a lost SYN leaves RTO at 3 s until the first sample.
  if (connection.handshakeRetransmitted) connection.rtt.resetAfterHandshakeLoss();
  pathMtuAtEstablishment(connection, connection.context.pathMtu, now);
  const handshakeLost = handshakeSegmentLost(connection, segment);
  connection.congestion.start(connection.fullSegmentPayload(), connection.tcb.sndMax, handshakeLost);
  // BBR (bbr-ack.ts): its rate estimator and pacer, or CUBIC instead for a peer without SACK.
  const rate = connection.bbr === undefined ? undefined : bbrEstablished(connection, now, handshakeLost);
  // RFC 6675: a sender whose peer agreed to SACK keeps a scoreboard (sized for this connection's send buffer).
  if (connection.tcb.sackPermitted) {
    connection.scoreboard = createScoreboard(connection.sendBuffer.capacity, connection.fullSegmentPayload(), connection.context.recordStorage, rate);
    connection.scoreboard.tsOffset = connection.tcb.tsOffset;
  }
  connection.connectDeadline = undefined;
  connection.setState('ESTABLISHED');
}

function updateSendWindow(connection: TcpConnection, segment: TcpRepr, now: Instant): void {
  if (connection.tcb.sndWnd === 0 && segment.window > 0) windowOpens(connection, now);
  connection.tcb.updateSendWindow(segment.sequenceNumber, segment.acknowledgmentNumber, scaledWindow(connection, segment));
}

/** SND.WND from a segment that is not a SYN: SEG.WND << Snd.Wind.Shift (RFC 7323 §2.3). */
function scaledWindow(connection: TcpConnection, segment: TcpRepr): number {
  // A shift, not `2 **`: V8 calls its pow() for `2 ** x` with x unknown (the shift is 0..14).
  return segment.window * (1 << connection.tcb.sndShift);
}

/** RFC 7323 §2.2, §3.2: window scaling and timestamps are in use when both SYNs offered them. */
export function negotiate(connection: TcpConnection, syn: TcpRepr, now: Instant): void {
  connection.tcb.negotiateRfc7323(
    syn.options,
    { windowScale: connection.offers.windowScale, timestamps: connection.offers.timestamps, rcvShift: connection.offeredShift },
    now,
  );
}

/** The ACK's TSecr when timestamps are in use and it echoes one (0: nothing echoed, as Linux treats it). */
function echoedTimestamp(connection: TcpConnection, segment: TcpRepr): number | undefined {
  if (!connection.tcb.timestamps || (segment.flags & TcpFlag.ACK) === 0) return undefined;
  const echo = segment.options.timestamps?.echo;
  return echo === undefined || echo === 0 ? undefined : echo;
}

/**
 * The TSecr of the ACK that completes the handshake, for an RTT sample: none when our SYN
 * or SYN-ACK was retransmitted. RFC 6298 §3 (Karn) takes no sample from a retransmitted
 * segment, and the echo does not lift the ambiguity here: by RFC 7323 §4.3 the peer
 * updates TS.Recent only from a segment whose sequence number is at or below
 * Last.ACK.sent, which a retransmitted SYN-ACK's is not (its SYN lies below the ACK the
 * peer already sent), so the peer's ACK answering the retransmission echoes the first
 * transmission's TSval, and the sample is the retransmission timeout (1 s), not the
 * path's RTT. Taken, it made SRTT 1 s on a LAN whose RTT is 0.2 ms; with RFC 7323
 * appendix G's small gains, the next few hundred ACKs left the PTO at hundreds of ms, so
 * the first loss of the transfer cost ~1.1 s (bench/BASELINE.md, branch h-pto: the
 * "unexplained" 1,141 ms silence of h-stallwire, after a lost third ACK of the
 * handshake). The RTO stays RFC 6298 §5.7's 3 s until the first data ACK's sample.
 * (Linux's tcp_synack_rtt_meas likewise takes no sequence-based sample of a
 * retransmitted SYN-ACK, `req->num_retrans`.)
 */
function handshakeEcho(connection: TcpConnection, segment: TcpRepr): number | undefined {
  return connection.handshakeRetransmitted ? undefined : echoedTimestamp(connection, segment);
}

/**
 * Whether our SYN or SYN-ACK may have been lost, for RFC 5681 §3.1's initial window of one
 * segment "if the SYN or SYN/ACK is lost". It was retransmitted; but when the segment
 * that completes the handshake echoes the TSval of its first transmission (RFC 7323
 * §4.3: the peer echoes the segment it answered), that first transmission arrived: what
 * was lost or late was the peer's answer, on the other direction, and the full initial
 * window stays. Without the echo the retransmission alone decides. (Linux undoes its
 * one-segment window on the same evidence, tcp_try_undo_spurious_syn; it also keeps
 * the full window after a single retransmission, which we do not: RFC 5681 says one.)
 * Taken at one segment after a lost handshake ACK, a lost ACK of that one segment cost
 * a whole RTO (bench/BASELINE.md, the burst study's 1.2 s stall).
 */
function handshakeSegmentLost(connection: TcpConnection, segment: TcpRepr): boolean {
  if (!connection.handshakeRetransmitted) return false;
  const echo = echoedTimestamp(connection, segment);
  // rttStart is still the first SYN's or SYN-ACK's sending instant: nothing else is
  // timed before ESTABLISHED, and a resend clears only rttSeq (output.ts noteRetransmit).
  return echo === undefined || echo !== connection.timestampNow(connection.rttStart);
}

/** RTT in ms from an echoed TSval, or undefined when the echo is from the future (a bogus TSecr). */
function rttFromEcho(connection: TcpConnection, echo: number, now: Instant): number | undefined {
  const elapsed = (connection.timestampNow(now) - echo) | 0;
  return elapsed < 0 ? undefined : elapsed;
}

/**
 * The peer's window opened after being closed. Anything sent beyond SND.UNA while it was
 * closed (the zero-window probe octet, or data the peer dropped when it shrank its
 * window) was not accepted, or this ACK would cover it: send again from SND.UNA at once
 * rather than wait for duplicate ACKs or an RTO. The persist back-off ends, and the
 * retransmission timer and user timeout start afresh for what is now in flight.
 */
function windowOpens(connection: TcpConnection, now: Instant): void {
  connection.persistBackoff = 0;
  connection.persistAt = undefined;
  if (seqGt(connection.tcb.sndNxt, connection.tcb.sndUna)) {
    connection.tcb.sndNxt = connection.tcb.sndUna;
    connection.retransmitAt = undefined;
  }
  connection.unackedSince = connection.bytesInFlight() > 0 ? now : undefined;
}

/** The send MSS: min(our MSS, the peer's MSS option or 536) (RFC 9293 §3.7.1). */
export function negotiatedMss(config: TcpConfig, segment: TcpRepr): number {
  const peer = segment.options.mss ?? DEFAULT_SEND_MSS;
  return Math.max(1, Math.min(config.mss, Math.max(MIN_PEER_MSS, peer)));
}

/** Seventh check: text at sequence `start` (>= RCV.NXT, inside the window). */
function receiveText(connection: TcpConnection, start: number, data: Uint8Array, now: Instant): void {
  const counters = connection.context.counters;
  const offset = seqDiff(start, connection.tcb.rcvNxt);
  connection.noteActivity(now);
  if (offset === 0) {
    const written = connection.receiveBuffer.writeAt(0, data);
    const contiguous = connection.assembler.deliver(written);
    connection.receiveBuffer.commit(contiguous);
    connection.tcb.rcvNxt = seqAdd(connection.tcb.rcvNxt, contiguous);
    // (A length store is a runtime call even when nothing changes: only when needed.)
    if (connection.assembler.isEmpty && connection.recentOutOfOrder.length !== 0) connection.recentOutOfOrder.length = 0;
    if (contiguous > written || !connection.assembler.isEmpty) {
      // RFC 5681 §4.2: ACK at once a segment that fills (part of) a gap.
      connection.ackNow = true;
      if (contiguous > written) holeFilled(connection);
    } else {
      // RFC 1122 §4.2.3.2 / RFC 5681 §4.2: every second segment, a stretch ACK per receive batch (ack-policy.ts).
      inOrderDataArrived(connection, written, now);
    }
    connection.notify(Notify.READABLE);
    return;
  }
  // Out of order: hold it and send a duplicate ACK at once (RFC 5681 §4.2), with this
  // segment's block first among the SACK blocks (RFC 2018 §4).
  counters.increment('tcp.rx.out-of-order');
  // RFC 2883 §4: a duplicate of held data leads with a D-SACK block; the block holding
  // it comes second (it leads the SACK blocks, as the latest arrival).
  if (connection.assembler.holds(offset, data.length)) noteDuplicate(connection, start, seqAdd(start, data.length));
  if (connection.assembler.add(offset, data.length)) {
    connection.receiveBuffer.writeAt(offset, data);
    noteOutOfOrder(connection, start);
  } else {
    counters.increment('tcp.rx.reassembly-full');
  }
  connection.ackNow = true;
}

/**
 * A segment (or part of one) arrived that was already received: with SACK in use, our
 * next ACK reports it in a D-SACK block (RFC 2883 §4), so the sender can tell a
 * needless retransmission. The latest duplicate is the one reported.
 */
function noteDuplicate(connection: TcpConnection, start: number, end: number): void {
  if (!connection.tcb.sackPermitted || !seqLt(start, end)) return;
  connection.dsackStart = start;
  connection.dsackEnd = end;
  connection.context.counters.increment('tcp.rx.duplicate-data');
}

/** Remembers the most recent out-of-order arrival for the SACK blocks' order. */
function noteOutOfOrder(connection: TcpConnection, start: number): void {
  const recent = connection.recentOutOfOrder;
  const existing = recent.indexOf(start);
  if (existing >= 0) recent.splice(existing, 1);
  recent.unshift(start);
  if (recent.length > MAX_SACK_BLOCKS) recent.length = MAX_SACK_BLOCKS; // the most any ACK carries
}

/** Eighth check: the peer's FIN, now in order. */
function finArrives(connection: TcpConnection): void {
  connection.tcb.rcvNxt = seqAdd(connection.tcb.rcvNxt, 1);
  connection.tcb.remoteFinReceived = true;
  connection.tcb.remoteFinSeq = undefined;
  connection.ackNow = true;
  connection.notify(Notify.REMOTE_FIN);
  switch (connection.state) {
    case 'SYN-RECEIVED':
    case 'ESTABLISHED':
      connection.setState('CLOSE-WAIT');
      break;
    case 'FIN-WAIT-1':
      if (connection.finAcknowledged()) enterTimeWait(connection);
      else connection.setState('CLOSING');
      break;
    case 'FIN-WAIT-2':
      enterTimeWait(connection);
      break;
    default:
      break;
  }
}

/**
 * TIME-WAIT for 2·MSL (RFC 9293 §3.4.2); the application sees the close now, and the
 * stack keeps a compact record of the tuple (time-wait.ts) from here on.
 */
export function enterTimeWait(connection: TcpConnection): void {
  connection.setState('TIME-WAIT', 'fin');
}
