/**
 * The output side of TCP: the one place where a connection's segments are built and
 * the decision when to send them (CONVENTIONS 12; smoltcp's `dispatch`).
 *
 * Input processing (input.ts), the timers (timers.ts) and the application calls only
 * record what must go out on the connection (`ackNow`, `resetNow`, `resetReplySeq`,
 * `synResend`, `retransmitNow`, `keepaliveProbeNow`, `lossProbeNow`, `recoveryProbeNow`); `output(connection,
 * now)` runs at the end of every entry point for each touched connection and sends, in
 * this order: an RST (also for a connection that has just reached CLOSED), the handshake
 * segment, a retransmission of the first unacknowledged segment, a keepalive probe, a
 * tail loss probe (RFC 8985 §7.3) or recovery probe (recovery.ts), then either, in SACK
 * recovery, the RFC 6675 pipe loop (lost holes, then new data, while pipe < the recovery
 * window: PRR's, RFC 6937, or cwnd) or as much queued data as the windows
 * (with RFC 3042 limited transmit), Nagle and sender SWS avoidance allow (RFC 9293
 * §3.7.4, §3.8.6.2.1), a FIN once the data is out, and a pure ACK if one is still owed.
 * It then arms the retransmission or persist timer, and the PTO (recovery.ts). The
 * persist timer's zero-window probe (`persistExpired`) is built here too.
 *
 * Every connection segment goes through `transmit`, which fills in ports, ACK and
 * window; the sequence number of pure ACKs and RSTs is chosen in one function,
 * `controlSequence`. `SegmentEmitter.emit` (emitter.ts) writes it into the frame.
 *
 * Sequence variables: `sndNxt` is the next sequence number to send and drops back to
 * `sndUna` after an RTO (go-back-N, as BSD does; with SACK it skips SACKed ranges);
 * `sndMax` is the highest ever sent, the RFC's SND.NXT for acceptability checks; every
 * advance of it goes through `advanceSndMax`, which records the new segment on the
 * scoreboard when SACK is in use.
 */
import type { Instant } from '../time.ts';
import { TCP_HEADER_LENGTH, TCP_MAX_HEADER_LENGTH, TcpFlag, tcpHeaderLength } from '../wire/tcp.ts';
import { DOUBLE_ZERO } from '../wire/bytes.ts';
import type { TcpConnection } from './connection.ts';
import type { SegmentFields } from './emitter.ts';
import { MAX_UNSCALED_WINDOW } from './config.ts';
import { seqAdd, seqDiff, seqGt, seqLe, seqLt, seqMax, seqMin } from './seq.ts';
import { armLossProbe, frtoNoNewData, prrGoverns, recoverySendWindow } from './recovery.ts';
import { SegmentMark } from './scoreboard.ts';
import type { Pacer } from './pacing.ts';
import { bytesInNetwork } from './bbr-ack.ts';

/** Scratch fields for connection segments (one stack runs on one thread). */
const scratch: SegmentFields = {
  remoteAddress: DOUBLE_ZERO,
  sourcePort: 0,
  destinationPort: 0,
  sequenceNumber: DOUBLE_ZERO,
  acknowledgmentNumber: DOUBLE_ZERO,
  flags: 0,
  window: 0,
};

/** The reused TSopt of connection segments. */
const timestampOption = { value: DOUBLE_ZERO, echo: DOUBLE_ZERO };

/**
 * Sends one segment of `connection` at `now` (the entry point's time, passed down rather
 * than read from the context per segment), filling in ports, ACK and window. Every
 * segment carrying ACK also settles any owed or delayed ACK and records the advertised edge.
 */
function transmit(
  connection: TcpConnection,
  now: Instant,
  sequenceNumber: number,
  flags: number,
  dataOffset = 0,
  dataLength = 0,
  segmentSize = 0,
): void {
  const isSyn = (flags & TcpFlag.SYN) !== 0;
  const hasAck = (flags & TcpFlag.ACK) !== 0;
  const isRst = (flags & TcpFlag.RST) !== 0;
  const tcb = connection.tcb;
  const config = connection.context.config;
  // RFC 7323 §2.2: the window of a SYN is never scaled; every other one is sent as
  // RCV.WND >> Rcv.Wind.Shift (receiveWindow() is a multiple of 2^shift, so exact).
  const window = isSyn ? Math.min(connection.receiveBuffer.free, MAX_UNSCALED_WINDOW) : isRst ? 0 : connection.receiveWindow();
  const offering = isSyn && connection.state === 'SYN-SENT';
  scratch.remoteAddress = connection.remoteAddress;
  scratch.sourcePort = connection.localPort;
  scratch.destinationPort = connection.remotePort;
  scratch.sequenceNumber = sequenceNumber;
  scratch.acknowledgmentNumber = hasAck ? tcb.rcvNxt : 0;
  scratch.flags = flags;
  scratch.window = isSyn ? window : Math.min(MAX_UNSCALED_WINDOW, window / (1 << tcb.rcvShift));
  scratch.mss = isSyn ? config.mss : undefined;
  // RFC 2018 §2: SACK-permitted on our SYN when configured, on our SYN-ACK when agreed.
  scratch.sackPermitted = isSyn && (offering ? connection.offers.sack : tcb.sackPermitted);
  scratch.sackBlocks = hasAck && !isSyn ? connection.sackBlocks() : undefined;
  // RFC 7323 §2.2: the window scale option on our SYN when configured, on our SYN-ACK
  // only when the peer's SYN carried one (then negotiated: tcb.rcvShift is ours).
  scratch.windowScale = isSyn && (offering ? connection.offers.windowScale : tcb.windowScaling)
    ? connection.offeredShift
    : undefined;
  // RFC 7323 §3.2: TSopt on our SYN when configured (TSecr 0: nothing to echo yet), and
  // on every non-RST segment once both SYNs carried it; TSecr = TS.Recent.
  if ((offering && connection.offers.timestamps) || (tcb.timestamps && !isRst)) {
    timestampOption.value = connection.timestampNow(now);
    timestampOption.echo = offering ? 0 : tcb.tsRecent;
    scratch.timestamps = timestampOption;
  } else {
    scratch.timestamps = undefined;
  }
  connection.context.emitter.emit(scratch, connection.sendBuffer, dataOffset, dataLength, segmentSize);
  connection.segmentsOut += segmentSize > 0 ? Math.ceil(dataLength / segmentSize) : 1;
  // A paced (BBR) connection's data moves the next burst's release time on (pacing.ts).
  if (dataLength > 0 && connection.pacer !== undefined) connection.pacer.sent(dataLength, now);
  if (hasAck) {
    tcb.rcvAdvertisedEdge = seqMax(tcb.rcvAdvertisedEdge, seqAdd(tcb.rcvNxt, window));
    tcb.lastAckSent = tcb.rcvNxt;
    connection.ackNow = false;
    connection.unackedSegments = 0;
    connection.delayedAckAt = undefined;
    // RFC 2883 §4: a D-SACK block reports one duplicate, once.
    connection.dsackStart = undefined;
  }
}

/**
 * SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED), first transmission or a resend. A resend is
 * counted as a retransmission unless `countRetransmit` is false (the SYN-ACK of a
 * simultaneous open reuses our SYN's sequence number but is a new segment); either way
 * the handshake RTT can no longer be measured unambiguously (Karn).
 */
function sendSyn(connection: TcpConnection, now: Instant, countRetransmit = true): void {
  const flags = connection.state === 'SYN-SENT' ? TcpFlag.SYN : TcpFlag.SYN | TcpFlag.ACK;
  const first = connection.tcb.sndMax === connection.tcb.iss;
  transmit(connection, now, connection.tcb.iss, flags);
  if (first) {
    connection.tcb.sndNxt = seqAdd(connection.tcb.iss, 1);
    connection.tcb.sndMax = connection.tcb.sndNxt;
    connection.rttSeq = connection.tcb.sndMax;
    connection.rttStart = now;
  } else if (countRetransmit) {
    noteRetransmit(connection);
  } else {
    connection.rttSeq = undefined;
  }
  if (connection.retransmitAt === undefined) connection.retransmitAt = now + connection.rtt.rto;
}

/**
 * The sequence number of a pure ACK or an RST on a synchronized connection, chosen here
 * and nowhere else: <SEQ=SND.NXT> (RFC 9293 §3.10.7.4, §3.10.5), SND.NXT being the
 * highest sent, unless that lies beyond the peer's window, as it does while a
 * zero-window probe octet is outstanding (SND.NXT = SND.UNA + 1, SND.WND = 0). A peer
 * with a closed window accepts a zero-length segment only at exactly RCV.NXT, so the
 * segment then carries the window's right edge, SND.UNA + SND.WND, or the peer would
 * drop our ACKs and RSTs (Linux tcp_acceptable_seq()).
 */
function controlSequence(connection: TcpConnection): number {
  const tcb = connection.tcb;
  const windowEnd = seqAdd(tcb.sndUna, tcb.sndWnd);
  return seqLe(tcb.sndMax, windowEnd) ? tcb.sndMax : windowEnd;
}

/** A pure ACK: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> (RFC 9293 §3.10.7.4). */
function sendAck(connection: TcpConnection, now: Instant): void {
  transmit(connection, now, controlSequence(connection), TcpFlag.ACK);
}

/** An RST for an open connection: <SEQ=SND.NXT><CTL=RST> (RFC 9293 §3.10.5). */
function sendReset(connection: TcpConnection, now: Instant): void {
  transmit(connection, now, controlSequence(connection), TcpFlag.RST);
}

/**
 * A keepalive probe: <SEQ=SND.UNA−1><CTL=ACK>, no data. The sequence number is always
 * below the peer's window, so it answers with its current ACK and window
 * (RFC 1122 §4.2.3.6 allows SEG.SEQ = SND.NXT − 1 without data; Linux
 * tcp_xmit_probe_skb does the same).
 */
function sendKeepaliveProbe(connection: TcpConnection, now: Instant): void {
  transmit(connection, now, seqAdd(connection.tcb.sndUna, -1), TcpFlag.ACK);
}

/**
 * A zero-window probe per RFC 9293 §3.8.6.1 and RFC 1122 §4.2.2.17: one octet of data
 * at SND.UNA beyond the closed window. The first probe is new data (SND.MAX advances by
 * one); later probes resend that same octet, so every probe is "one byte at the next
 * expected sequence number while the receiver's window is zero" (what tshark labels a
 * ZeroWindowProbe). A receiver whose window is still closed drops the octet and ACKs
 * with its window; one whose window opened keeps it as ordinary data. With only a FIN
 * left to send, the FIN is the probe.
 *
 * The octet is not timed (Karn: its ACK may be held by the receiver) and not counted as
 * a retransmission: the persist timer, not the retransmission timer, owns it (see
 * armSendTimers). SND.NXT is left just past it, so when the window opens the rest
 * follows (input.ts rewinds SND.NXT to SND.UNA if the window opens without the octet
 * having been acknowledged). Returns false if there is nothing to probe with.
 */
function sendZeroWindowProbe(connection: TcpConnection, now: Instant): boolean {
  const offset = seqDiff(connection.tcb.sndUna, connection.tcb.sendBufferSeq);
  const buffered = connection.sendBuffer.length - offset;
  let flags: number = TcpFlag.ACK;
  let length = 0;
  if (offset >= 0 && buffered > 0) {
    length = 1;
    flags |= TcpFlag.PSH;
  } else if (connection.tcb.finQueued && connection.tcb.sndUna === connection.finSeq()) {
    flags |= TcpFlag.FIN;
  } else {
    return false;
  }
  if (connection.tcb.sndMax === connection.tcb.sndUna && connection.unackedSince === undefined) connection.unackedSince = now;
  transmit(connection, now, connection.tcb.sndUna, flags, Math.max(0, offset), length);
  const end = seqAdd(connection.tcb.sndUna, 1);
  if (seqGt(end, connection.tcb.sndMax)) advanceSndMax(connection, end, now);
  connection.tcb.sndNxt = end;
  connection.rttSeq = undefined;
  connection.zeroWindowProbes++;
  connection.unansweredProbes++;
  if (connection.unansweredProbeSince === undefined) connection.unansweredProbeSince = now;
  connection.context.counters.increment('tcp.tx.zero-window-probes');
  return true;
}

/**
 * Retransmits the first unacknowledged segment, ignoring the windows (the data was
 * inside them when first sent). Used by the RTO (after rewinding sndNxt) and by fast
 * retransmit / NewReno partial ACKs (RFC 5681 §3.2, RFC 6582 §3.2).
 */
function retransmitFirst(connection: TcpConnection, now: Instant): void {
  retransmitFrom(connection, connection.tcb.sndUna, connection.tcb.sndMax, now);
}

/**
 * Resends one segment's worth of [start, end) (data, and the FIN if it lies there and
 * was sent), ignoring the windows; returns the sequence space resent (0: nothing).
 */
function retransmitFrom(connection: TcpConnection, start: number, end: number, now: Instant): number {
  const tcb = connection.tcb;
  const offset = seqDiff(start, tcb.sendBufferSeq);
  const buffered = Math.max(0, connection.sendBuffer.length - offset);
  const length = Math.max(0, Math.min(segmentRoom(connection), buffered, seqDiff(end, start)));
  const fin = connection.finSent() && seqAdd(start, length) === connection.finSeq() && seqGt(end, connection.finSeq());
  if ((length <= 0 && !fin) || offset < 0) return 0;
  transmit(connection, now, start, TcpFlag.ACK | (fin ? TcpFlag.FIN : 0) | (length > 0 ? TcpFlag.PSH : 0), offset, length);
  noteRetransmit(connection);
  const sent = length + (fin ? 1 : 0);
  const segmentEnd = seqAdd(start, sent);
  connection.scoreboard?.retransmitted(start, segmentEnd, now);
  if (seqLe(start, tcb.sndNxt) && seqLt(tcb.sndNxt, segmentEnd)) tcb.sndNxt = segmentEnd;
  return sent;
}

/** SND.MAX advances to `end`: new sequence space is in flight (the scoreboard records it). */
function advanceSndMax(connection: TcpConnection, end: number, now: Instant): void {
  connection.scoreboard?.sent(connection.tcb.sndMax, end, now);
  connection.tcb.sndMax = end;
  connection.probeRearm = true;
}

/**
 * Payload bytes that fit in one segment: the send MSS less the option bytes the segment
 * will carry (RFC 9293 §3.7.1: the MSS does not count options; timestamps take 12
 * bytes of every segment, as in Linux's tcp_current_mss, and SACK blocks take room
 * while data is held out of order).
 */
function segmentRoom(connection: TcpConnection): number {
  const blocks = connection.tcb.sackPermitted ? connection.sackBlocks() : undefined;
  const timestamps = connection.tcb.timestamps;
  if (blocks === undefined) return connection.fullSegmentPayload();
  const options = tcpHeaderLength(timestamps ? { sackBlocks: blocks, timestamps: timestampOption } : { sackBlocks: blocks }) - TCP_HEADER_LENGTH;
  return Math.max(1, connection.tcb.sendMss - options);
}

/** States in which data and FIN segments may be sent. */
function sendsData(connection: TcpConnection): boolean {
  switch (connection.state) {
    case 'ESTABLISHED':
    case 'CLOSE-WAIT':
    case 'FIN-WAIT-1':
    case 'CLOSING':
    case 'LAST-ACK':
      return true;
    default:
      return false;
  }
}

/** Unsent bytes in the send buffer (from sndNxt on). */
function unsentBytes(connection: TcpConnection): number {
  return Math.max(0, connection.sendBuffer.length - seqDiff(connection.tcb.sndNxt, connection.tcb.sendBufferSeq));
}

/** The FIN still has to be (re)sent from sndNxt. */
function finPending(connection: TcpConnection): boolean {
  return connection.tcb.finQueued && seqLe(connection.tcb.sndNxt, connection.finSeq());
}

/**
 * Sends one data/FIN segment from sndNxt if the rules allow; returns whether it did.
 * `force` (persist timer, the SWS override of RFC 9293 §3.8.6.2.1) skips Nagle and SWS.
 * `congestionRoom`, when given, replaces the congestion window's limit: the bytes that
 * may still enter the network (RFC 6675 cwnd − pipe during SACK recovery, one segment
 * for a tail loss probe); the peer's window applies either way.
 */
function sendDataSegment(connection: TcpConnection, now: Instant, force: boolean, congestionRoom?: number): boolean {
  if (!sendsData(connection)) return false;
  const tcb = connection.tcb;
  const scoreboard = connection.scoreboard;
  let sackedFrom: number | undefined;
  if (scoreboard !== undefined && seqLt(tcb.sndNxt, tcb.sndMax)) {
    // Go-back-N after an RTO skips what the peer SACKed (RFC 6675 §5.1).
    tcb.sndNxt = scoreboard.skipSacked(tcb.sndNxt, tcb.sndMax);
    sackedFrom = scoreboard.sackedFrom;
  }
  const offset = seqDiff(tcb.sndNxt, tcb.sendBufferSeq);
  const unsent = unsentBytes(connection);
  // A retransmission stops where SACKed data begins; the FIN only rides on the true end.
  const available = sackedFrom === undefined ? unsent : Math.min(unsent, Math.max(0, seqDiff(sackedFrom, tcb.sndNxt)));
  const fin = finPending(connection) && available === unsent;
  if (available === 0 && !fin) return false;
  const peerUsable = seqDiff(seqAdd(tcb.sndUna, tcb.sndWnd), tcb.sndNxt);
  const usable = Math.max(
    0,
    congestionRoom === undefined
      ? Math.min(peerUsable, seqDiff(seqAdd(tcb.sndUna, connection.congestion.congestionWindow + limitedTransmitRoom(connection)), tcb.sndNxt))
      : Math.min(peerUsable, congestionRoom),
  );
  const room = segmentRoom(connection);
  const length = Math.min(available, room, usable);
  // The FIN rides on the last data segment and needs one unit of window.
  const withFin = fin && length === available && usable > length;
  if (length === 0 && !withFin) return false;
  const retransmission = seqLt(connection.tcb.sndNxt, connection.tcb.sndMax);
  if (!force && !retransmission && !withFin && length < room) {
    // Nagle (RFC 9293 §3.7.4) in Minshall's form, as Linux (tcp_minshall_check): hold a
    // small segment only while an earlier small segment is unacknowledged, unless
    // disabled. Strict Nagle would hold the tail of every response longer than one
    // segment until the peer's delayed ACK (40 ms). Sender SWS avoidance (§3.8.6.2.1):
    // send a short segment only if it empties the queue or fills at least half the
    // largest window the peer offered.
    const pushAllowed = connection.noDelay || !seqGt(connection.tcb.sndSmall, connection.tcb.sndUna);
    const worthIt = length === available || length >= connection.tcb.maxSndWnd / 2;
    if (!pushAllowed || !worthIt) return false;
  }
  let flags = TcpFlag.ACK;
  if (withFin) flags |= TcpFlag.FIN;
  if (length > 0 && length === available) flags |= TcpFlag.PSH;
  if (connection.tcb.sndMax === connection.tcb.sndUna) connection.unackedSince = now;
  if (!retransmission && congestionRoom === undefined && seqGt(seqAdd(tcb.sndNxt, length), seqAdd(tcb.sndUna, connection.congestion.congestionWindow))) {
    connection.context.counters.increment('tcp.tx.limited-transmit');
  }
  const start = connection.tcb.sndNxt;
  transmit(connection, now, start, flags, offset, length);
  const end = seqAdd(start, length + (withFin ? 1 : 0));
  if (length < room) connection.tcb.sndSmall = end;
  if (retransmission) {
    noteRetransmit(connection);
    scoreboard?.retransmitted(start, seqMin(end, tcb.sndMax), now);
  } else if (connection.rttSeq === undefined) {
    connection.rttSeq = end;
    connection.rttStart = now;
  }
  connection.tcb.sndNxt = end;
  if (seqGt(end, connection.tcb.sndMax)) advanceSndMax(connection, end, now);
  if (connection.retransmitAt === undefined) connection.retransmitAt = now + connection.rtt.rto;
  return true;
}

/**
 * Segmentation offload (the device's, src/net/device.ts; Linux's TSO/GSO): sends as one
 * super-segment the run of full segments that `sendDataSegment` would send next, one
 * after the other at this instant, when there are at least two; returns whether it did.
 * `offloadBytes`: the emitter's `segmentOffloadBytes`, read once per output.
 * `congestionRoom`, when given, replaces the congestion window's limit as in
 * `sendDataSegment` (RFC 6675 cwnd − pipe: new data sent during SACK recovery, rule 2 of
 * NextSeg, leaves in super-segments as Linux's tcp_write_xmit sends it in TSO skbs).
 * Only the ordinary send path and recovery's new data call it (SND.NXT = SND.MAX): no
 * retransmission, probe or F-RTO send, no SYN, FIN or RST, none while
 * limited transmit or a D-SACK block (sent once, on one segment) is pending. The pieces
 * the device cuts are the segments the stack would have sent, bit for bit: the same
 * windows (cwnd and the peer's, whole segments of `segmentRoom` each), the same options
 * in each (one TSval: same instant), PSH only on the last and only when it empties the
 * queue, the segment that would carry the FIN left to `sendDataSegment`. The bookkeeping
 * is per piece as well: one scoreboard record per segment (SACK marks, RACK and the
 * pipe see segments, never the super-segment), the RTT timed on the first piece.
 */
function sendSuperSegment(connection: TcpConnection, now: Instant, offloadBytes: number, congestionRoom?: number): boolean {
  if (!sendsData(connection)) return false;
  const tcb = connection.tcb;
  if (tcb.sndNxt !== tcb.sndMax || connection.dsackStart !== undefined || limitedTransmitRoom(connection) > 0) return false;
  const room = segmentRoom(connection);
  const available = unsentBytes(connection);
  const peerUsable = seqDiff(seqAdd(tcb.sndUna, tcb.sndWnd), tcb.sndNxt);
  const usable = Math.min(peerUsable, congestionRoom ?? seqDiff(seqAdd(tcb.sndUna, connection.congestion.congestionWindow), tcb.sndNxt));
  // The largest TCP header (60 bytes) leaves room for any options the pieces carry.
  let pieces = Math.min(Math.floor(available / room), Math.floor(usable / room), Math.floor((offloadBytes - TCP_MAX_HEADER_LENGTH) / room));
  // The segment that empties the queue carries the FIN when it fits: sendDataSegment's.
  if (pieces * room === available && finPending(connection)) pieces--;
  if (pieces < 2) return false;
  const length = pieces * room;
  const flags = length === available ? TcpFlag.ACK | TcpFlag.PSH : TcpFlag.ACK;
  if (tcb.sndMax === tcb.sndUna) connection.unackedSince = now;
  const start = tcb.sndNxt;
  transmit(connection, now, start, flags, seqDiff(start, tcb.sendBufferSeq), length, room);
  if (connection.rttSeq === undefined) {
    connection.rttSeq = seqAdd(start, room);
    connection.rttStart = now;
  }
  for (let piece = 1; piece <= pieces; piece++) advanceSndMax(connection, seqAdd(start, piece * room), now);
  tcb.sndNxt = tcb.sndMax;
  if (connection.retransmitAt === undefined) connection.retransmitAt = now + connection.rtt.rto;
  return true;
}

/**
 * RFC 3042 limited transmit: on the first and second duplicate ACK, one and two
 * segments of new data beyond cwnd (the receiver's window still applies), keeping the
 * ACK clock going while a small window gives too few duplicate ACKs.
 */
function limitedTransmitRoom(connection: TcpConnection): number {
  const duplicates = connection.duplicateAcks;
  if (duplicates <= 0 || duplicates >= 3 || connection.congestion.inRecovery) return 0;
  return duplicates * connection.tcb.sendMss;
}

/** Counts a retransmission and stops RTT timing (Karn's rule, RFC 6298 §3). */
function noteRetransmit(connection: TcpConnection): void {
  connection.retransmits++;
  // The first retransmission of an episode (or of a loss probe) sets its undo marker.
  if (connection.undoRetransmits === 0) connection.undoMarker = connection.tcb.sndUna;
  connection.undoRetransmits++;
  connection.context.counters.increment('tcp.tx.retransmits');
  connection.rttSeq = undefined;
  // In recovery the recovery probe's timer restarts from the last transmission (recovery.ts).
  connection.probeRearm = true;
}

/** The persist interval: RTO backed off exponentially, capped at persistMax. */
export function persistInterval(connection: TcpConnection): number {
  const interval = connection.rtt.rto * 2 ** Math.min(connection.persistBackoff, 30);
  return Math.min(connection.context.config.persistMax, interval);
}

/**
 * Sends what was recorded for the connection and whatever it may send now, then arms
 * the retransmission timer while data is in flight, or the persist timer while data
 * waits on the peer's window.
 */
export function output(connection: TcpConnection, now: Instant): void {
  if (connection.resetReplySeq !== undefined) {
    transmit(connection, now, connection.resetReplySeq, TcpFlag.RST);
    connection.resetReplySeq = undefined;
  }
  if (connection.resetNow) {
    connection.resetNow = false;
    sendReset(connection, now);
  }
  switch (connection.state) {
    case 'CLOSED':
    case 'LISTEN':
      return;
    case 'SYN-SENT':
    case 'SYN-RECEIVED': {
      const resend = connection.synResend;
      connection.synResend = undefined;
      if (connection.tcb.sndMax === connection.tcb.iss) sendSyn(connection, now);
      else if (resend !== undefined) sendSyn(connection, now, resend === 'retransmission');
      else if (connection.ackNow && connection.state === 'SYN-RECEIVED') sendAck(connection, now);
      return;
    }
    case 'TIME-WAIT':
      if (connection.ackNow) sendAck(connection, now);
      return;
    default:
      break;
  }
  if (connection.retransmitNow) {
    connection.retransmitNow = false;
    retransmitFirst(connection, now);
  }
  if (connection.keepaliveProbeNow) {
    connection.keepaliveProbeNow = false;
    sendKeepaliveProbe(connection, now);
  }
  if (connection.lossProbeNow) {
    connection.lossProbeNow = false;
    sendLossProbe(connection, now);
  }
  if (connection.recoveryProbeNow) {
    connection.recoveryProbeNow = false;
    sendRecoveryProbe(connection, now);
  }
  if (connection.tlpFollowUpNow) {
    connection.tlpFollowUpNow = false;
    sendTlpFollowUp(connection, now);
  }
  // Segmentation offload is a property of the device: asked once, not per segment.
  const offloadBytes = connection.context.emitter.segmentOffloadBytes;
  if (connection.scoreboard !== undefined && connection.congestion.inRecovery) {
    recoveryTransmit(connection, now, offloadBytes);
  } else {
    if (connection.frtoSendNew) sendFrtoNewData(connection, now);
    // In F-RTO's step 3 the segments marked lost at the RTO are not resent: the next ACK
    // says whether they were lost at all (recovery.ts `frtoAck`).
    else if (connection.rtoRecoveryPoint !== undefined && connection.frtoStep !== 3) resendLostAfterTimeout(connection, now);
    const pacer = connection.pacer;
    if (pacer === undefined) {
      while ((offloadBytes > 0 && sendSuperSegment(connection, now, offloadBytes)) || sendDataSegment(connection, now, false)) {
        // Keep filling the window.
      }
    } else {
      pacedSend(connection, now, pacer, offloadBytes);
    }
  }
  if (connection.ackNow) sendAck(connection, now);
  if (connection.pacer !== undefined) pacedOutputDone(connection, connection.pacer);
  armSendTimers(connection, now);
}

/**
 * The ordinary send loop of a paced (BBR) connection: as the unpaced one, but each
 * segment or super-segment only while the pacer allows it, and a super-segment no
 * larger than what is left of the burst (pacing.ts).
 */
function pacedSend(connection: TcpConnection, now: Instant, pacer: Pacer, offloadBytes: number): void {
  const bbr = connection.bbr;
  // Sending again after an idle, application-limited period (Linux CA_EVENT_TX_START).
  if (bbr !== undefined && connection.bytesInFlight() === 0 && connection.rate !== undefined && connection.rate.appLimited !== 0 && unsentBytes(connection) > 0) {
    bbr.restartFromIdle(now);
    pacer.rate = bbr.pacingRate;
  }
  while (
    pacer.allows(now) &&
    ((offloadBytes > 0 && sendSuperSegment(connection, now, burstOffloadBytes(pacer, offloadBytes))) || sendDataSegment(connection, now, false))
  ) {
    // Keep filling the window, burst by burst.
  }
}

/** The largest super-segment (IPv4 payload) a paced connection may send now: no more than what is left of its burst. */
function burstOffloadBytes(pacer: Pacer, offloadBytes: number): number {
  return Math.min(offloadBytes, TCP_MAX_HEADER_LENGTH + pacer.burstRoom);
}

/**
 * After an output pass of a paced connection: the pacing timer for the next burst if the
 * pacer held something back, and the application-limited check of
 * draft-cheng-iccrg-delivery-rate-estimation §3.4: less than a segment left to send,
 * nothing held by the pacer (lost segments waiting would have been resent unless it
 * held them), and room in cwnd: rate samples until this is delivered are
 * application-limited.
 */
function pacedOutputDone(connection: TcpConnection, pacer: Pacer): void {
  const blocked = pacer.takeBlocked();
  connection.pacingAt = blocked ? pacer.releaseAt : undefined;
  const rate = connection.rate;
  if (blocked || rate === undefined || unsentBytes(connection) >= connection.fullSegmentPayload()) return;
  const inFlight = bytesInNetwork(connection);
  if (inFlight < connection.congestion.congestionWindow) rate.markApplicationLimited(inFlight);
}

/**
 * RFC 6675 §5 step (C): while pipe < cwnd, send what NextSeg() chooses: a hole marked
 * lost and not yet retransmitted (rule 1), else new data the peer's window allows
 * (rule 2). Rules 3 and 4 (unmarked holes below the highest SACK, the rescue
 * retransmission) are left to RACK and the tail loss probe. With PRR (RFC 6937) the
 * window is PRR's pipe + sndcnt of the last ACK instead of cwnd (recovery.ts).
 */
function recoveryTransmit(connection: TcpConnection, now: Instant, offloadBytes: number): void {
  const scoreboard = connection.scoreboard;
  if (scoreboard === undefined) return;
  const cwnd = recoverySendWindow(connection);
  // PRR's sndcnt is rounded up to whole segments (Linux counts it in packets, with a
  // ceiling): new data leaves in full segments while pipe < window. RFC 6675 alone waits
  // for a full SMSS of room (§5 (C): cwnd − pipe ≥ 1 SMSS).
  const wholeSegments = prrGoverns(connection);
  let pipe = scoreboard.pipe();
  const pacer = connection.pacer;
  // Records before `from` are not lost-and-unsent any more: each pass scans on from there.
  let from = 0;
  for (let budget = scoreboard.capacity + 64; pipe < cwnd && budget > 0; budget--) {
    // A paced connection resends and sends within its bursts too (Linux tcp_pacing_check
    // in tcp_xmit_retransmit_queue).
    if (pacer !== undefined && !pacer.allows(now)) break;
    const index = scoreboard.nextLost(from);
    if (index >= 0) {
      const sent = retransmitFrom(connection, scoreboard.startOf(index), scoreboard.endOf(index), now);
      if (sent <= 0) break;
      connection.context.counters.increment('tcp.tx.sack-retransmits');
      pipe += sent;
      from = index + 1;
      continue;
    }
    from = scoreboard.count;
    const before = connection.tcb.sndMax;
    // The whole segments cwnd − pipe leaves room for go as one super-segment, as the
    // loop would send them one by one at this instant; the rest (PRR's rounding up, a
    // short tail) as before.
    const sent =
      (offloadBytes > 0 && sendSuperSegment(connection, now, pacer === undefined ? offloadBytes : burstOffloadBytes(pacer, offloadBytes), cwnd - pipe)) ||
      sendDataSegment(connection, now, false, wholeSegments ? Math.max(cwnd - pipe, segmentRoom(connection)) : cwnd - pipe);
    if (!sent) break;
    pipe += Math.max(0, seqDiff(connection.tcb.sndMax, before));
  }
}

/**
 * After an RTO, until the cumulative ACK passes what was outstanding when it fired (RFC
 * 6675 §5.1 and RFC 6582 keep the sender out of fast recovery meanwhile): a go-back-N
 * retransmission that RACK or DupThresh has found lost again (a lost record below
 * SND.NXT) is resent at once while pipe < cwnd, instead of waiting for the next,
 * backed-off RTO (200 + 400 ms: the 602 ms stalls of bench/BASELINE.md). Linux does the
 * same in its Loss state (`tcp_xmit_retransmit_queue`). Records from SND.NXT on are
 * go-back-N's to send.
 */
function resendLostAfterTimeout(connection: TcpConnection, now: Instant): void {
  const scoreboard = connection.scoreboard;
  if (scoreboard === undefined) return;
  const cwnd = connection.congestion.congestionWindow;
  let pipe = -1;
  let from = 0;
  const pacer = connection.pacer;
  for (let budget = scoreboard.capacity + 64; budget > 0; budget--) {
    const index = scoreboard.nextLost(from);
    if (index < 0 || !seqLt(scoreboard.startOf(index), connection.tcb.sndNxt)) return;
    if (pacer !== undefined && !pacer.allows(now)) return;
    if (pipe < 0) pipe = scoreboard.pipe();
    if (pipe >= cwnd) return;
    const sent = retransmitFrom(connection, scoreboard.startOf(index), scoreboard.endOf(index), now);
    if (sent <= 0) return;
    connection.context.counters.increment('tcp.tx.rto-lost-retransmits');
    pipe += sent;
    from = index + 1;
  }
}

/**
 * F-RTO step 2b (RFC 5682 §3.1): after the first ACK that advanced SND.UNA since an RTO,
 * up to two new segments (never sent before; the peer's window applies, cwnd does not)
 * instead of going on back N. With nothing new to send, conventional RTO recovery goes
 * on (recovery.ts `frtoNoNewData`).
 */
function sendFrtoNewData(connection: TcpConnection, now: Instant): void {
  connection.frtoSendNew = false;
  const tcb = connection.tcb;
  const resume = tcb.sndNxt;
  tcb.sndNxt = tcb.sndMax;
  let sent = 0;
  while (sent < 2 && sendDataSegment(connection, now, true, segmentRoom(connection))) sent++;
  if (sent > 0) {
    connection.frtoResume = resume;
    connection.context.counters.increment('tcp.frto.new-data');
    return;
  }
  tcb.sndNxt = resume;
  frtoNoNewData(connection);
}

/**
 * The tail loss probe (RFC 8985 §7.3): the last segment sent that is not SACKed, sent
 * again, so that a lost tail draws a SACK (and recovery) instead of an RTO; one segment
 * of new data instead if every segment in flight is SACKed, or first if there is some
 * and `tcp.lossProbeNewData` is on. The RTO was set when the probe was recorded
 * (recovery.ts `retransmitDeadlineAfterProbe`).
 *
 * Resending by default is a deliberate difference from §7.3 and Linux, which send new
 * data first when there is some: a PTO with data waiting usually means that the peer's one ACK for the whole
 * flight was lost, not the data (a peer that reads at once ACKs a burst once: Linux
 * delays its ACK while the application has not read, RFC 1122 §4.2.3.2). A new-data
 * probe then reaches the peer as one in-order full-sized segment after its last ACK,
 * which it may hold for its delayed-ACK timer (Linux: 40 ms, TCP_DELACK_MIN); a segment
 * it already holds is acknowledged at once (RFC 5681 §4.2, with a D-SACK, RFC 2883,
 * which §7.4 reads as "nothing was lost"). At 3% loss each way into Linux this halved
 * the time of a 4 MiB chargen transfer (bench/BASELINE.md, "what bounds goodput under
 * loss"). If the tail was lost, the resent last segment draws a SACK just as new data would.
 */
function sendLossProbe(connection: TcpConnection, now: Instant): void {
  const scoreboard = connection.scoreboard;
  if (scoreboard === undefined || connection.bytesInFlight() <= 0) return;
  const tcb = connection.tcb;
  const newDataFirst = connection.context.config.lossProbeNewData;
  let retransmitted = false;
  if (!newDataFirst || !sendDataSegment(connection, now, true, segmentRoom(connection))) {
    // The last segment not SACKed; new data only when every segment in flight is SACKed
    // (and it was not tried just above).
    let index = scoreboard.count - 1;
    while (index >= 0 && (scoreboard.marksOf(index) & SegmentMark.SACKED) !== 0) index--;
    if (index >= 0) {
      if (retransmitFrom(connection, scoreboard.startOf(index), scoreboard.endOf(index), now) <= 0) return;
      retransmitted = true;
    } else if (newDataFirst || !sendDataSegment(connection, now, true, segmentRoom(connection))) {
      return;
    }
  }
  connection.context.counters.increment('tcp.tx.loss-probes');
  connection.tlpEndSeq = tcb.sndMax;
  connection.tlpVerdictPoint = tcb.sndMax;
  connection.tlpRetransmitted = retransmitted;
  connection.tlpDsack = false;
  connection.tlpFollowUps = 0;
  connection.probeAt = undefined;
}

/**
 * The tail probe's follow-up (recovery.ts `tlpFollowUpTimeout` says why): the segment at
 * SND.UNA again, outside the window, to draw an immediate ACK; the RTO is left running
 * where it was. It counts as the probe episode's retransmission for RFC 8985 §7.4: a
 * D-SACK for it says it only repeated data, no D-SACK that it repaired a loss.
 */
function sendTlpFollowUp(connection: TcpConnection, now: Instant): void {
  const scoreboard = connection.scoreboard;
  if (connection.tlpEndSeq === undefined || connection.congestion.inRecovery || scoreboard === undefined || scoreboard.count === 0) return;
  const end = scoreboard.endOf(0);
  if (!resendFirstUnacknowledged(connection, now)) return;
  connection.tlpVerdictPoint = end;
  connection.tlpRetransmitted = true;
  connection.tlpDsack = false;
  connection.context.counters.increment('tcp.tx.tlp-follow-ups');
}

/**
 * The recovery probe (recovery.ts `recoveryProbeTimeout` says why): the segment at SND.UNA
 * again, outside the window (as the fast retransmission is), to draw an immediate ACK.
 * The RTO is left running where it was.
 */
function sendRecoveryProbe(connection: TcpConnection, now: Instant): void {
  if (!connection.congestion.inRecovery || !resendFirstUnacknowledged(connection, now)) return;
  connection.context.counters.increment('tcp.tx.recovery-probes');
}

/** The scoreboard's first segment (at SND.UNA) again, outside the window; false when nothing left. */
function resendFirstUnacknowledged(connection: TcpConnection, now: Instant): boolean {
  const scoreboard = connection.scoreboard;
  if (scoreboard === undefined || scoreboard.count === 0) return false;
  // SND.UNA is never SACKed (a SACK below the cumulative ACK is a D-SACK).
  return retransmitFrom(connection, scoreboard.startOf(0), scoreboard.endOf(0), now) > 0;
}

/** The peer's window is closed while we have something to send: the persist timer owns the connection. */
export function windowClosed(connection: TcpConnection): boolean {
  if (connection.tcb.sndWnd !== 0 || !sendsData(connection)) return false;
  return connection.bytesInFlight() > 0 || unsentBytes(connection) > 0 || finPending(connection);
}

/**
 * Persist timer expiry (RFC 9293 §3.8.6.1). With a closed window: a zero-window probe,
 * and the next one after an exponentially backed-off interval capped at persistMax.
 * With an open window too small for sender SWS avoidance: the override of
 * RFC 9293 §3.8.6.2.1, sending what fits.
 */
export function persistExpired(connection: TcpConnection, now: Instant): void {
  connection.persistAt = undefined;
  if (!sendsData(connection)) return;
  if (connection.tcb.sndWnd > 0) {
    if (sendDataSegment(connection, now, true)) {
      connection.persistBackoff = 0;
      connection.context.counters.increment('tcp.tx.sws-overrides');
    }
  } else if (windowClosed(connection) && sendZeroWindowProbe(connection, now)) {
    connection.persistBackoff++;
    connection.persistAt = now + persistInterval(connection);
  }
  armSendTimers(connection, now);
}

/**
 * One of the two send timers runs while there is something to send or acknowledge:
 * - the window is closed: the persist timer (never the retransmission timer, so a
 *   peer that keeps its window shut is probed for as long as it answers and is never
 *   cut off by the retransmission limit; Linux tcp_retransmit_timer makes the same
 *   exception for a zero window);
 * - data or FIN in flight: the retransmission timer (RFC 6298 §5.1);
 * - data waiting on a window too small to use (sender SWS): the persist timer.
 */
function armSendTimers(connection: TcpConnection, now: Instant): void {
  if (windowClosed(connection)) {
    connection.retransmitAt = undefined;
    connection.probeAt = undefined;
    if (connection.persistAt === undefined) connection.persistAt = now + persistInterval(connection);
    return;
  }
  if (connection.bytesInFlight() > 0) {
    if (connection.retransmitAt === undefined) connection.retransmitAt = now + connection.rtt.rto;
    connection.persistAt = undefined;
    armLossProbe(connection, now);
    return;
  }
  connection.probeAt = undefined;
  connection.retransmitAt = undefined;
  connection.unackedSince = undefined;
  const waiting = sendsData(connection) && (unsentBytes(connection) > 0 || finPending(connection));
  if (!waiting) {
    connection.persistAt = undefined;
    connection.persistBackoff = 0;
  } else if (connection.persistAt === undefined) {
    connection.persistAt = now + persistInterval(connection);
  }
}
