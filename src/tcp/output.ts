/**
 * The output side of TCP: building segments and deciding when to send them.
 *
 * - `SegmentEmitter` writes a segment straight into the IP payload that the interface
 *   layer hands to `fill` (emitTcp into the frame; data copied once, from the send ring
 *   buffer into the frame). One emitter per stack; it reuses its scratch repr.
 * - `output(connection, now)` is called after every event that may allow sending: it
 *   sends the handshake segment, as much queued data as the windows, Nagle and sender SWS
 *   avoidance allow (RFC 9293 §3.7.4, §3.8.6.2.1), a FIN once the data is out, and a pure
 *   ACK if one is owed. It then arms the retransmission or persist timer.
 * - Control segments sent outside `output`: RST (`sendReset`), keepalive probes
 *   (`sendProbe`), zero-window probes (`sendZeroWindowProbe`), and retransmission of the first unacknowledged segment
 *   (`retransmitFirst`, for RTO and fast retransmit).
 *
 * Sequence variables: `sndNxt` is the next sequence number to send and drops back to
 * `sndUna` after an RTO (go-back-N, as BSD does); `sndMax` is the highest ever sent, the
 * RFC's SND.NXT for acceptability checks and for the sequence number of pure ACKs.
 */
import type { Ipv4Address } from '../net/address.ts';
import type { Counters } from '../stats.ts';
import type { Instant } from '../time.ts';
import type { RingBuffer } from '../storage/ring-buffer.ts';
import { emitTcp, tcpHeaderLength, TcpFlag, type TcpOptions, type TcpRepr } from '../wire/tcp.ts';
import type { TcpConnection } from './connection.ts';
import { MAX_UNSCALED_WINDOW } from './config.ts';
import { seqAdd, seqDiff, seqGt, seqLe, seqLt, seqMax } from './seq.ts';

export type IpSendResult = 'sent' | 'queued' | 'no-route' | 'dropped';

/** The interface layer's IPv4 sender (src/net/interface.ts implements it). */
export interface IpSender {
  sendIpv4(destination: Ipv4Address, protocol: number, payloadLength: number, fill: (payload: Uint8Array) => void): IpSendResult;
}

const TCP_PROTOCOL = 6;
const NO_OPTIONS: TcpOptions = Object.freeze({});
const EMPTY = new Uint8Array(0);

/** One segment to emit; `data` bytes come from `dataSource` at `dataOffset`. */
export interface SegmentFields {
  remoteAddress: Ipv4Address;
  sourcePort: number;
  destinationPort: number;
  sequenceNumber: number;
  acknowledgmentNumber: number;
  flags: number;
  window: number;
  /** MSS option value (SYN and SYN-ACK only). */
  mss?: number;
}

export class SegmentEmitter {
  private readonly repr: TcpRepr = {
    sourcePort: 0,
    destinationPort: 0,
    sequenceNumber: 0,
    acknowledgmentNumber: 0,
    flags: 0,
    window: 0,
    urgentPointer: 0,
    options: NO_OPTIONS,
    payload: EMPTY,
  };
  private dataSource: RingBuffer | undefined;
  private dataOffset = 0;
  private dataLength = 0;
  private headerLength = 0;
  private remoteAddress: Ipv4Address = 0;

  // Bound once: the interface layer calls it with the IP payload view of the frame.
  private readonly fill = (payload: Uint8Array): void => {
    const data = payload.subarray(this.headerLength, this.headerLength + this.dataLength);
    if (this.dataSource !== undefined && this.dataLength > 0) this.dataSource.copyOut(this.dataOffset, data);
    // The payload is already in place, so emitTcp only writes the header and checksum.
    this.repr.payload = data;
    emitTcp(this.repr, payload.subarray(0, this.headerLength + this.dataLength), this.localAddress, this.remoteAddress);
  };

  constructor(
    private readonly ip: IpSender,
    readonly localAddress: Ipv4Address,
    private readonly counters: Counters,
  ) {}

  emit(fields: SegmentFields, dataSource?: RingBuffer, dataOffset = 0, dataLength = 0): IpSendResult {
    const repr = this.repr;
    repr.sourcePort = fields.sourcePort;
    repr.destinationPort = fields.destinationPort;
    repr.sequenceNumber = fields.sequenceNumber >>> 0;
    repr.acknowledgmentNumber = fields.acknowledgmentNumber >>> 0;
    repr.flags = fields.flags;
    repr.window = fields.window;
    repr.options = fields.mss !== undefined ? { mss: fields.mss } : NO_OPTIONS;
    repr.payload = EMPTY;
    this.dataSource = dataSource;
    this.dataOffset = dataOffset;
    this.dataLength = dataSource !== undefined ? dataLength : 0;
    this.headerLength = tcpHeaderLength(repr.options);
    this.remoteAddress = fields.remoteAddress;
    const result = this.ip.sendIpv4(fields.remoteAddress, TCP_PROTOCOL, this.headerLength + this.dataLength, this.fill);
    this.dataSource = undefined;
    this.repr.payload = EMPTY;
    this.counters.increment('tcp.tx.segments');
    if (fields.flags & TcpFlag.RST) this.counters.increment('tcp.tx.rst');
    if (result === 'no-route' || result === 'dropped') this.counters.increment(`tcp.tx.${result}`);
    return result;
  }
}

/** Scratch fields for connection segments (one stack runs on one thread). */
const scratch: SegmentFields = {
  remoteAddress: 0,
  sourcePort: 0,
  destinationPort: 0,
  sequenceNumber: 0,
  acknowledgmentNumber: 0,
  flags: 0,
  window: 0,
};

/**
 * Sends one segment of `connection`, filling in ports, ACK and window. Every segment
 * carrying ACK also settles any owed or delayed ACK and records the advertised edge.
 */
function transmit(connection: TcpConnection, sequenceNumber: number, flags: number, dataOffset = 0, dataLength = 0): void {
  const isSyn = (flags & TcpFlag.SYN) !== 0;
  const hasAck = (flags & TcpFlag.ACK) !== 0;
  // RFC 7323 §2.2: the window of a SYN is never scaled; ours never is anyway.
  const window = isSyn
    ? Math.min(connection.receiveBuffer.free, MAX_UNSCALED_WINDOW)
    : (flags & TcpFlag.RST) !== 0
      ? 0
      : connection.receiveWindow();
  scratch.remoteAddress = connection.remoteAddress;
  scratch.sourcePort = connection.localPort;
  scratch.destinationPort = connection.remotePort;
  scratch.sequenceNumber = sequenceNumber;
  scratch.acknowledgmentNumber = hasAck ? connection.rcvNxt : 0;
  scratch.flags = flags;
  scratch.window = window;
  scratch.mss = isSyn ? connection.context.config.mss : undefined;
  connection.context.emitter.emit(scratch, connection.sendBuffer, dataOffset, dataLength);
  connection.segmentsOut++;
  if (hasAck) {
    connection.rcvAdvertisedEdge = seqMax(connection.rcvAdvertisedEdge, seqAdd(connection.rcvNxt, window));
    connection.ackNow = false;
    connection.unackedSegments = 0;
    connection.delayedAckAt = undefined;
  }
}

/**
 * SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED), first transmission or a resend. A resend is
 * counted as a retransmission unless `countRetransmit` is false (the SYN-ACK of a
 * simultaneous open reuses our SYN's sequence number but is a new segment); either way
 * the handshake RTT can no longer be measured unambiguously (Karn).
 */
export function sendSyn(connection: TcpConnection, now: Instant, countRetransmit = true): void {
  const flags = connection.currentState === 'SYN-SENT' ? TcpFlag.SYN : TcpFlag.SYN | TcpFlag.ACK;
  const first = connection.sndMax === connection.iss;
  transmit(connection, connection.iss, flags);
  if (first) {
    connection.sndNxt = seqAdd(connection.iss, 1);
    connection.sndMax = connection.sndNxt;
    connection.rttSeq = connection.sndMax;
    connection.rttStart = now;
  } else if (countRetransmit) {
    noteRetransmit(connection);
  } else {
    connection.rttSeq = undefined;
  }
  if (connection.retransmitAt === undefined) connection.retransmitAt = now + connection.rtt.rto;
}

/** A pure ACK: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> (RFC 9293 §3.10.7.4). */
export function sendAck(connection: TcpConnection): void {
  transmit(connection, connection.sndMax, TcpFlag.ACK);
}

/** An RST for an open connection: <SEQ=SND.NXT><CTL=RST> (RFC 9293 §3.10.5). */
export function sendReset(connection: TcpConnection): void {
  transmit(connection, connection.sndMax, TcpFlag.RST);
}

/** An RST with a given sequence number, e.g. <SEQ=SEG.ACK><CTL=RST> for an unacceptable ACK. */
export function sendResetAt(connection: TcpConnection, sequenceNumber: number): void {
  transmit(connection, sequenceNumber, TcpFlag.RST);
}

/**
 * A keepalive probe: <SEQ=SND.UNA−1><CTL=ACK>, no data. The sequence number is always
 * below the peer's window, so it answers with its current ACK and window
 * (RFC 1122 §4.2.3.6 allows SEG.SEQ = SND.NXT − 1 without data; Linux
 * tcp_xmit_probe_skb does the same).
 */
export function sendProbe(connection: TcpConnection): void {
  transmit(connection, seqAdd(connection.sndUna, -1), TcpFlag.ACK);
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
export function sendZeroWindowProbe(connection: TcpConnection, now: Instant): boolean {
  const offset = seqDiff(connection.sndUna, connection.sendBufferSeq);
  const buffered = connection.sendBuffer.length - offset;
  let flags: number = TcpFlag.ACK;
  let length = 0;
  if (offset >= 0 && buffered > 0) {
    length = 1;
    flags |= TcpFlag.PSH;
  } else if (connection.finQueued && connection.sndUna === connection.finSeq()) {
    flags |= TcpFlag.FIN;
  } else {
    return false;
  }
  if (connection.sndMax === connection.sndUna && connection.unackedSince === undefined) connection.unackedSince = now;
  transmit(connection, connection.sndUna, flags, Math.max(0, offset), length);
  const end = seqAdd(connection.sndUna, 1);
  if (seqGt(end, connection.sndMax)) connection.sndMax = end;
  connection.sndNxt = end;
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
export function retransmitFirst(connection: TcpConnection): void {
  const offset = seqDiff(connection.sndUna, connection.sendBufferSeq);
  const inFlight = connection.bytesInFlight();
  const buffered = Math.max(0, connection.sendBuffer.length - offset);
  const length = Math.min(connection.sendMss, buffered, inFlight);
  const finSent = connection.finQueued && seqGt(connection.sndMax, connection.finSeq());
  const fin = finSent && seqAdd(connection.sndUna, length) === connection.finSeq();
  if (length <= 0 && !fin) return;
  transmit(connection, connection.sndUna, TcpFlag.ACK | (fin ? TcpFlag.FIN : 0) | (length > 0 ? TcpFlag.PSH : 0), offset, length);
  noteRetransmit(connection);
  const end = seqAdd(connection.sndUna, length + (fin ? 1 : 0));
  if (seqLt(connection.sndNxt, end)) connection.sndNxt = end;
}

/** States in which data and FIN segments may be sent. */
function sendsData(connection: TcpConnection): boolean {
  switch (connection.currentState) {
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
  return Math.max(0, connection.sendBuffer.length - seqDiff(connection.sndNxt, connection.sendBufferSeq));
}

/** The FIN still has to be (re)sent from sndNxt. */
function finPending(connection: TcpConnection): boolean {
  return connection.finQueued && seqLe(connection.sndNxt, connection.finSeq());
}

/**
 * Sends one data/FIN segment from sndNxt if the rules allow; returns whether it did.
 * `force` (persist timer, the SWS override of RFC 9293 §3.8.6.2.1) skips Nagle and SWS.
 */
function sendDataSegment(connection: TcpConnection, now: Instant, force: boolean): boolean {
  if (!sendsData(connection)) return false;
  const offset = seqDiff(connection.sndNxt, connection.sendBufferSeq);
  const available = unsentBytes(connection);
  const fin = finPending(connection);
  if (available === 0 && !fin) return false;
  const window = Math.min(connection.sndWnd, connection.congestion.congestionWindow);
  const usable = Math.max(0, seqDiff(seqAdd(connection.sndUna, window), connection.sndNxt));
  const length = Math.min(available, connection.sendMss, usable);
  // The FIN rides on the last data segment and needs one unit of window.
  const withFin = fin && length === available && usable > length;
  if (length === 0 && !withFin) return false;
  const retransmission = seqLt(connection.sndNxt, connection.sndMax);
  if (!force && !retransmission && !withFin && length < connection.sendMss) {
    // Nagle (RFC 9293 §3.7.4): hold a small segment while data is unacknowledged,
    // unless disabled. Sender SWS avoidance (§3.8.6.2.1): send a short segment only if it
    // empties the queue or fills at least half the largest window the peer offered.
    const pushAllowed = connection.noDelay || connection.sndMax === connection.sndUna;
    const worthIt = length === available || length >= connection.maxSndWnd / 2;
    if (!pushAllowed || !worthIt) return false;
  }
  let flags = TcpFlag.ACK;
  if (withFin) flags |= TcpFlag.FIN;
  if (length > 0 && length === available) flags |= TcpFlag.PSH;
  if (connection.sndMax === connection.sndUna) connection.unackedSince = now;
  transmit(connection, connection.sndNxt, flags, offset, length);
  const end = seqAdd(connection.sndNxt, length + (withFin ? 1 : 0));
  if (retransmission) {
    noteRetransmit(connection);
  } else if (connection.rttSeq === undefined) {
    connection.rttSeq = end;
    connection.rttStart = now;
  }
  connection.sndNxt = end;
  if (seqGt(end, connection.sndMax)) connection.sndMax = end;
  if (connection.retransmitAt === undefined) connection.retransmitAt = now + connection.rtt.rto;
  return true;
}

/** Counts a retransmission and stops RTT timing (Karn's rule, RFC 6298 §3). */
function noteRetransmit(connection: TcpConnection): void {
  connection.retransmits++;
  connection.context.counters.increment('tcp.tx.retransmits');
  connection.rttSeq = undefined;
}

/** The persist interval: RTO backed off exponentially, capped at persistMax. */
export function persistInterval(connection: TcpConnection): number {
  const interval = connection.rtt.rto * 2 ** Math.min(connection.persistBackoff, 30);
  return Math.min(connection.context.config.persistMax, interval);
}

/**
 * Sends whatever the connection may send now, then arms the retransmission timer while
 * data is in flight, or the persist timer while data waits on the peer's window.
 */
export function output(connection: TcpConnection, now: Instant): void {
  switch (connection.currentState) {
    case 'CLOSED':
    case 'LISTEN':
      return;
    case 'SYN-SENT':
    case 'SYN-RECEIVED':
      if (connection.sndMax === connection.iss) sendSyn(connection, now);
      else if (connection.ackNow && connection.currentState === 'SYN-RECEIVED') sendAck(connection);
      return;
    case 'TIME-WAIT':
      if (connection.ackNow) sendAck(connection);
      return;
    default:
      break;
  }
  while (sendDataSegment(connection, now, false)) {
    // Keep filling the window.
  }
  if (connection.ackNow) sendAck(connection);
  armSendTimers(connection, now);
}

/** The peer's window is closed while we have something to send: the persist timer owns the connection. */
export function windowClosed(connection: TcpConnection): boolean {
  if (connection.sndWnd !== 0 || !sendsData(connection)) return false;
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
  if (connection.sndWnd > 0) {
    if (sendDataSegment(connection, now, true)) connection.persistBackoff = 0;
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
    if (connection.persistAt === undefined) connection.persistAt = now + persistInterval(connection);
    return;
  }
  if (connection.bytesInFlight() > 0) {
    if (connection.retransmitAt === undefined) connection.retransmitAt = now + connection.rtt.rto;
    connection.persistAt = undefined;
    return;
  }
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
