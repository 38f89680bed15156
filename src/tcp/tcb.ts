/**
 * The transmission control block's sequence spaces (RFC 9293 §3.3.1): the send and
 * receive variables of one connection, and the only places where a connection's
 * sequence spaces are set up.
 *
 * A TCB comes to life in one of three ways, each a method here:
 *   - active open: the constructor (ISS chosen, nothing known of the peer);
 *   - passive open from a SYN in LISTEN (`initFromSyn`, RFC 9293 §3.10.7.2);
 *   - passive open from the final ACK of a SYN-cookie handshake (`initFromCookie`,
 *     RFC 4987 §3.6): the SYN was answered without state, so the TCB is rebuilt from
 *     what the cookie and the ACK carry;
 * and the active opener learns the peer's sequence space from its SYN or SYN-ACK
 * (`initFromPeerSyn`, RFC 9293 §3.10.7.3). The send window moves only through
 * `updateSendWindow` (RFC 9293 §3.10.7.4, SND.WL1/SND.WL2).
 *
 * The variables are written by the protocol modules of src/tcp (input.ts, output.ts,
 * timers.ts); nothing outside src/tcp sees them (the application side is
 * `TcpConnection`'s methods).
 */
import { seqAdd, seqDiff } from './seq.ts';
import { DOUBLE_ZERO } from '../wire/bytes.ts';

export class Tcb {
  // The sequence numbers (and the RFC 7323 values, also 32-bit) are kept as int32 bit
  // patterns and read back as uint32: an int32 is a small integer to V8 (on 64-bit
  // builds without pointer compression, Node's default), stored in the object itself,
  // where a uint32 above 2^31 is a heap number of 16 bytes per field and connection
  // (idle memory, issue 13). The accessors take and give uint32, as the fields did.
  private issBits = 0;
  private sndUnaBits = 0;
  private sndNxtBits = 0;
  private sndMaxBits = 0;
  private sndWl1Bits = 0;
  private sndWl2Bits = 0;
  private sendBufferSeqBits = 0;
  private sndSmallBits = 0;
  private tsOffsetBits = 0;
  private tsRecentBits = 0;
  private irsBits = 0;
  private rcvNxtBits = 0;
  private rcvAdvertisedEdgeBits = 0;
  private lastAckSentBits = 0;

  // ---- send sequence space ----------------------------------------------------------
  /** Initial send sequence number. */
  get iss(): number {
    return this.issBits >>> 0;
  }
  get sndUna(): number {
    return this.sndUnaBits >>> 0;
  }
  set sndUna(value: number) {
    this.sndUnaBits = value | 0;
  }
  /** Next sequence number to send; below sndMax while retransmitting (go-back-N after RTO). */
  get sndNxt(): number {
    return this.sndNxtBits >>> 0;
  }
  set sndNxt(value: number) {
    this.sndNxtBits = value | 0;
  }
  /** One past the highest sequence number ever sent (the RFC's SND.NXT for ACK acceptability). */
  get sndMax(): number {
    return this.sndMaxBits >>> 0;
  }
  set sndMax(value: number) {
    this.sndMaxBits = value | 0;
  }
  sndWnd = 0;
  get sndWl1(): number {
    return this.sndWl1Bits >>> 0;
  }
  set sndWl1(value: number) {
    this.sndWl1Bits = value | 0;
  }
  get sndWl2(): number {
    return this.sndWl2Bits >>> 0;
  }
  set sndWl2(value: number) {
    this.sndWl2Bits = value | 0;
  }
  /** Largest window the peer has offered (RFC 9293 §3.8.6.2.1, RFC 5961 §5.2). */
  maxSndWnd = 0;
  /** The MSS we send with: min(our MSS, the peer's MSS option or 536). */
  sendMss: number;
  /** Sequence number of the first byte held in the send buffer. */
  get sendBufferSeq(): number {
    return this.sendBufferSeqBits >>> 0;
  }
  set sendBufferSeq(value: number) {
    this.sendBufferSeqBits = value | 0;
  }
  /** The application called shutdown(); a FIN follows the queued data. */
  finQueued = false;
  /** End of the last segment sent shorter than the MSS (Nagle in Minshall's form). */
  get sndSmall(): number {
    return this.sndSmallBits >>> 0;
  }
  set sndSmall(value: number) {
    this.sndSmallBits = value | 0;
  }
  /** Both ends offered SACK-permitted (RFC 2018 §2): our ACKs carry SACK blocks. */
  sackPermitted = false;
  /** Both SYNs carried the window scale option (RFC 7323 §2.2). */
  windowScaling = false;
  /** Snd.Wind.Shift (RFC 7323 §2.2): incoming windows (except on SYNs) are SEG.WND << this; 0 unless negotiated. */
  sndShift = 0;

  // ---- RFC 7323 timestamps (TimestampState, timestamps.ts) ----------------------------
  /** Both SYNs carried TSopt: every non-RST segment carries it (§3.2). */
  timestamps = false;
  /** Added to the clock for TSval (§5.4, §7.1). */
  get tsOffset(): number {
    return this.tsOffsetBits >>> 0;
  }
  set tsOffset(value: number) {
    this.tsOffsetBits = value | 0;
  }
  /** TS.Recent (§4.3), echoed as TSecr. */
  get tsRecent(): number {
    return this.tsRecentBits >>> 0;
  }
  set tsRecent(value: number) {
    this.tsRecentBits = value | 0;
  }
  /** When TS.Recent was last set (PAWS idle rule, §5.5); a fractional instant, so a double field from the start. */
  tsRecentAt: number = DOUBLE_ZERO;

  // ---- receive sequence space -------------------------------------------------------
  get irs(): number {
    return this.irsBits >>> 0;
  }
  set irs(value: number) {
    this.irsBits = value | 0;
  }
  get rcvNxt(): number {
    return this.rcvNxtBits >>> 0;
  }
  set rcvNxt(value: number) {
    this.rcvNxtBits = value | 0;
  }
  /** RCV.NXT + RCV.WND as last advertised; never moves left (RFC 9293 §3.8.6.2.2). */
  get rcvAdvertisedEdge(): number {
    return this.rcvAdvertisedEdgeBits >>> 0;
  }
  set rcvAdvertisedEdge(value: number) {
    this.rcvAdvertisedEdgeBits = value | 0;
  }
  /** Rcv.Wind.Shift (RFC 7323 §2.2): our windows (except on SYNs) are sent as RCV.WND >> this. */
  rcvShift = 0;
  /** Last.ACK.sent (RFC 7323 §4.3): the ACK number of our last segment. */
  get lastAckSent(): number {
    return this.lastAckSentBits >>> 0;
  }
  set lastAckSent(value: number) {
    this.lastAckSentBits = value | 0;
  }
  /** Sequence number of a FIN that arrived ahead of a hole. */
  remoteFinSeq: number | undefined;
  /** The peer's FIN has been received in order. */
  remoteFinReceived = false;

  /** Active open: our ISS is chosen, the peer's sequence space is unknown. */
  constructor(iss: number, sendMss: number) {
    this.issBits = iss | 0;
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.sndMax = this.iss;
    this.sndSmall = this.iss;
    this.sendBufferSeq = seqAdd(this.iss, 1);
    this.sendMss = sendMss;
  }

  /**
   * LISTEN receives a SYN (RFC 9293 §3.10.7.2): RCV.NXT = SEG.SEQ + 1, IRS = SEG.SEQ,
   * the send window from the SYN; our SYN-ACK is still to be sent. Nothing has been
   * advertised yet, so the advertised edge starts at RCV.NXT.
   */
  initFromSyn(syn: { sequenceNumber: number; window: number }, sendMss: number): void {
    this.irs = syn.sequenceNumber >>> 0;
    this.rcvNxt = seqAdd(this.irs, 1);
    this.rcvAdvertisedEdge = this.rcvNxt;
    this.lastAckSent = this.rcvNxt;
    this.sendMss = sendMss;
    this.sndWnd = syn.window;
    this.maxSndWnd = syn.window;
    this.sndWl1 = this.irs;
    this.sndWl2 = this.iss;
  }

  /**
   * A valid SYN-cookie ACK (RFC 4987 §3.6): our SYN-ACK with ISS = the cookie was sent
   * statelessly, advertising `advertisedWindow`; the peer's IRS and MSS come back from
   * the cookie. The TCB is the one the SYN-ACK would have left, in SYN-RECEIVED; the
   * ACK itself is then processed as usual (and sets the send window).
   */
  initFromCookie(irs: number, sendMss: number, advertisedWindow: number): void {
    this.irs = irs >>> 0;
    this.rcvNxt = seqAdd(this.irs, 1);
    this.rcvAdvertisedEdge = seqAdd(this.rcvNxt, advertisedWindow);
    this.lastAckSent = this.rcvNxt;
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = this.sndNxt;
    this.sendMss = sendMss;
    this.sndWl1 = this.irs;
    this.sndWl2 = this.iss;
  }

  /** SYN-SENT receives the peer's SYN or SYN-ACK (RFC 9293 §3.10.7.3, fourth check). */
  initFromPeerSyn(syn: { sequenceNumber: number; acknowledgmentNumber: number; window: number }, sendMss: number): void {
    this.irs = syn.sequenceNumber >>> 0;
    this.rcvNxt = seqAdd(this.irs, 1);
    this.lastAckSent = this.rcvNxt;
    this.sendMss = sendMss;
    this.updateSendWindow(syn.sequenceNumber, syn.acknowledgmentNumber, syn.window);
  }

  /**
   * Negotiates RFC 7323 from the peer's SYN (or SYN-ACK), given what we offer: window
   * scaling only when both SYNs carry the option (§2.2, §2.3: the peer's shift above 14
   * is used as 14 by the parser), timestamps likewise (§3.2); TS.Recent starts at the
   * SYN's TSval.
   */
  negotiateRfc7323(
    peer: { windowScale?: number | undefined; timestamps?: { value: number; echo: number } | undefined },
    offer: { windowScale: boolean; timestamps: boolean; rcvShift: number },
    now: number,
  ): void {
    const scaling = offer.windowScale && peer.windowScale !== undefined;
    this.windowScaling = scaling;
    this.sndShift = scaling ? (peer.windowScale ?? 0) : 0;
    this.rcvShift = scaling ? offer.rcvShift : 0;
    this.timestamps = offer.timestamps && peer.timestamps !== undefined;
    if (this.timestamps && peer.timestamps !== undefined) {
      this.tsRecent = peer.timestamps.value >>> 0;
      this.tsRecentAt = now;
    }
  }

  /** SND.WND, SND.WL1, SND.WL2 from an acceptable segment (RFC 9293 §3.10.7.4, fifth check). */
  updateSendWindow(sequenceNumber: number, acknowledgmentNumber: number, window: number): void {
    this.sndWnd = window;
    this.sndWl1 = sequenceNumber >>> 0;
    this.sndWl2 = acknowledgmentNumber >>> 0;
    if (window > this.maxSndWnd) this.maxSndWnd = window;
  }

  /** Bytes of sequence space sent and not yet acknowledged. */
  bytesInFlight(): number {
    return seqDiff(this.sndMax, this.sndUna);
  }

  /** The window we advertised last: RCV.WND = the advertised edge − RCV.NXT (never negative). */
  advertisedWindow(): number {
    return Math.max(0, seqDiff(this.rcvAdvertisedEdge, this.rcvNxt));
  }
}
