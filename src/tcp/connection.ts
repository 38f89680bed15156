/**
 * One TCP connection: the transmission control block (RFC 9293 §3.3.1) and the
 * application-facing side that src/socket wraps.
 *
 * The protocol logic is split by direction, lwIP style:
 *   input.ts   segment arrival (RFC 9293 §3.10.7), called by TcpStack.input
 *   output.ts  segmentation, Nagle/SWS, ACKs, RST, retransmission
 *   timers.ts  RTO, persist, delayed ACK, keepalive, TIME-WAIT, user/connect/idle timeouts
 * This file holds the state those modules share, the single `setState()` through which
 * every transition goes, and the application calls.
 *
 * Re-entrancy: application callbacks (ConnectionHandler) are never invoked in the middle
 * of segment processing. Events are recorded as pending notifications and delivered by
 * the stack once the current entry point (input, poll or an application call) has
 * finished its work; output and timer re-arming are deferred the same way (`touch`).
 *
 * The sequence spaces live in the TCB record (`tcb`, tcb.ts). The protocol fields below
 * are internal to src/tcp (read and written by input.ts, output.ts and timers.ts); the
 * state, the notifications and the close report are private to this file, changed
 * only through `setState` and `notify`. Applications use only the documented methods
 * (src/socket sees the `Connection` interface of api.ts).
 */
import type { Ipv4Address } from '../net/address.ts';
import { formatIpv4 } from '../net/address.ts';
import { ErrorCode, NetError } from '../errors.ts';
import type { Counters } from '../stats.ts';
import type { EventSink } from '../events.ts';
import type { Instant } from '../time.ts';
import { RingBuffer, type BufferAllocator } from '../storage/ring-buffer.ts';
import { Assembler } from '../storage/assembler.ts';
import type { ProportionalRateReduction } from './prr.ts';
import { DEFAULT_SEND_MSS, MAX_UNSCALED_WINDOW, connectionBuffers, connectionOffers, type ConnectionSettings, type OptionOffers, type TcpConfig } from './config.ts';
import type { CloseReason, TcpState } from './state.ts';
import { isSynchronized } from './state.ts';
import { RttEstimator } from './rtt.ts';
import { NewReno, type CongestionControl } from './congestion.ts';
import { Cubic } from './cubic.ts';
import { Bbr } from './bbr.ts';
import type { DeliveryRate } from './delivery-rate.ts';
import type { Pacer } from './pacing.ts';
import type { ConnectionInfo } from './info.ts';
import { DOUBLE_ZERO } from '../wire/bytes.ts';
import { seqAdd, seqDiff, seqGt } from './seq.ts';
import type { SegmentEmitter } from './emitter.ts';
import { Tcb } from './tcb.ts';
import type { BufferBudget } from './buffer-budget.ts';
import type { PathMtuCache } from './path-mtu-cache.ts';
import type { RecordStorageAllocator, Scoreboard } from './scoreboard.ts';
import { timestampValue, windowShiftFor } from './timestamps.ts';


export type { CloseReason, TcpState } from './state.ts';
export type { ConnectionInfo } from './info.ts';

/** Application callbacks. Each is guarded: an exception is counted, never propagated into the stack. */
export interface ConnectionHandler {
  /** An active open reached ESTABLISHED. (Passive opens are announced by the listener's onAccept.) */
  onEstablished(): void;
  /** New data can be read. */
  onReadable(): void;
  /** Send-buffer space was freed after a send() that could not take everything. */
  onWritable(): void;
  /** The peer sent FIN: no more data will arrive once the buffer is drained. */
  onRemoteFin(): void;
  /** No data moved for the time set with setIdleTimeout (the connection stays usable). */
  onIdleTimeout(): void;
  /** The connection ended; called exactly once. `error` is set for abnormal ends. */
  onClose(reason: CloseReason, error?: NetError): void;
}

/** One shared handler that ignores everything (a connection's handler until an owner sets one). */
const NOOP_HANDLER: ConnectionHandler = Object.freeze({
  onEstablished: () => undefined,
  onReadable: () => undefined,
  onWritable: () => undefined,
  onRemoteFin: () => undefined,
  onIdleTimeout: () => undefined,
  onClose: () => undefined,
});

/** The shared no-op handler: frozen, so spread it (`{ ...noopHandler(), onReadable }`) to override. */
export function noopHandler(): ConnectionHandler {
  return NOOP_HANDLER;
}

/** What a connection needs from its stack. */
export interface ConnectionContext {
  /** The instant of the entry point running now (TSval of the segments it sends). */
  readonly now: Instant;
  readonly config: TcpConfig;
  readonly counters: Counters;
  readonly events: EventSink;
  readonly emitter: SegmentEmitter;
  /** Where the send and receive rings take their memory (a bounded pool in the stack). */
  readonly buffers: BufferAllocator;
  /** Where the scoreboards take their record arrays (a bounded pool in the stack). */
  readonly recordStorage: RecordStorageAllocator;
  /** The stack-wide bound on buffer capacity above the default sizes (buffer-budget.ts). */
  readonly bufferBudget: BufferBudget;
  /** Runs an application call as a stack entry point; deferred work is flushed afterwards. */
  appCall<T>(run: (now: Instant) => T): T;
  /** `appCall` without a closure: returns whether it is the outermost call, to be given to `leaveApp` in a finally. */
  enterApp(): boolean;
  leaveApp(outermost: boolean): void;
  /** Output, timers or notifications of this connection changed: handle at the end of the entry point. */
  touch(connection: TcpConnection): void;
  /** A receive batch is being processed (scheduler.ts): output waits for its end unless sent with outputNow. */
  readonly receiveBatchOpen: boolean;
  /** Runs output for this connection now, in the middle of a receive batch (an ACK that must not be merged: ack-policy.ts); `readFirst`: the application reads before it. */
  outputNow(connection: TcpConnection, readFirst?: boolean): void;
  /** The connection reached ESTABLISHED (a passive one goes to its listener's onAccept). */
  established(connection: TcpConnection): void;
  /** The connection reached CLOSED: remove it from the tables. */
  released(connection: TcpConnection): void;
  /**
   * The connection entered TIME-WAIT: the stack keeps a compact record of it
   * (time-wait.ts) and releases the connection itself. The returned function tells
   * whether that record is still in TIME-WAIT.
   */
  enteredTimeWait(connection: TcpConnection): () => boolean;
  /** The application let go of the connection (the stack bounds how many orphans it keeps). */
  orphaned(connection: TcpConnection): void;
  /**
   * The stack-wide budget for challenge ACKs and out-of-window ACKs (RFC 5961 §7), on top
   * of the per-connection limit; true when one more may be sent at `now`.
   */
  allowChallengeAck(now: Instant): boolean;
  /** Path MTUs learned per destination (RFC 1191 §6.3; path-mtu.ts). */
  readonly pathMtu: PathMtuCache;
}

/** Pending application notifications (bit set). */
export const Notify = {
  ESTABLISHED: 1,
  READABLE: 2,
  REMOTE_FIN: 4,
  WRITABLE: 8,
  IDLE: 16,
  CLOSE: 32,
} as const;

/** The handler callback each notification calls (named in `handler_error` events). */
const NOTIFY_CALLBACK: Readonly<Record<number, string>> = {
  [Notify.ESTABLISHED]: 'onEstablished',
  [Notify.READABLE]: 'onReadable',
  [Notify.REMOTE_FIN]: 'onRemoteFin',
  [Notify.WRITABLE]: 'onWritable',
  [Notify.IDLE]: 'onIdleTimeout',
  [Notify.CLOSE]: 'onClose',
};

/** A deadline-queue entry's reference to its connection, emptied when the connection is released. */
export interface TimerHandle {
  connection: TcpConnection | undefined;
}

/** `TcpConnection.scheduledAt` when the scheduler holds no entry for the connection. */
export const NOT_SCHEDULED = Number.POSITIVE_INFINITY;

/** SACK blocks per ACK: four fit in the 40 option bytes without timestamps (RFC 2018 §3). */
export const MAX_SACK_BLOCKS = 4;
/** With timestamps (NOP, NOP, TSopt: 12 bytes) only three fit (RFC 2018 §3). */
export const MAX_SACK_BLOCKS_WITH_TIMESTAMPS = 3;
/** NOP, NOP, TSopt (RFC 7323 appendix A's layout): what timestamps take from every segment. */
export const TIMESTAMP_OPTION_BYTES = 12;

/** Out-of-order ranges the reassembler tracks per connection. */
const MAX_REASSEMBLY_RANGES = 16;
/** `send`'s reused one-chunk list (one stack runs on one thread). */
const NO_DATA = new Uint8Array(0);
const ONE_CHUNK: Uint8Array[] = [NO_DATA];

export class TcpConnection {
  handler: ConnectionHandler = noopHandler();

  /** The sequence spaces (RFC 9293 §3.3.1); written by input.ts, output.ts and timers.ts. */
  readonly tcb: Tcb;
  // The addresses as int32 bit patterns, read back as uint32 (as Tcb's sequence numbers):
  // a small integer to V8 instead of a heap number per address (idle memory, issue 13).
  private readonly localAddressBits: number;
  private readonly remoteAddressBits: number;
  get localAddress(): Ipv4Address {
    return this.localAddressBits >>> 0;
  }
  get remoteAddress(): Ipv4Address {
    return this.remoteAddressBits >>> 0;
  }
  /** Opened by connect() (else accepted from a listener). */
  readonly active: boolean;
  readonly sendBuffer: RingBuffer;
  readonly receiveBuffer: RingBuffer;
  readonly assembler = new Assembler(MAX_REASSEMBLY_RANGES);
  /**
   * First sequence numbers of the most recently received out-of-order segments, most
   * recent first (at most MAX_SACK_BLOCKS): the order of the SACK blocks (RFC 2018 §4).
   */
  readonly recentOutOfOrder: number[] = [];

  // ---- owned by the stack (listen.ts, scheduler.ts) -----------------------------------------
  /** SYN-RECEIVED connections count against this listener's backlog. */
  listenerPort: number | undefined;
  /**
   * The scheduler's queue holds an entry for this connection at this instant
   * (NOT_SCHEDULED: none). Always a number, so V8 keeps it a double field updated in
   * place: a field that alternated with undefined boxed a new heap number at every
   * re-arm, and those lived until the keepalive came round (bench/BASELINE.md).
   */
  scheduledAt: Instant = NOT_SCHEDULED;
  /** What the queue's entries hold instead of the connection (emptied on release). */
  timerHandle: TimerHandle | undefined;
  /** In the scheduler's list of connections touched by the entry point in progress. */
  touched = false;

  // ---- what output must send (recorded by input.ts, timers.ts and the application calls;
  //      output.ts is the one place that builds the segments, CONVENTIONS 12) ----------------
  /** An ACK must go out at the next output. */
  ackNow = false;
  /**
   * In a receive batch, the last segment was a bare ACK of ours: what it lets us send
   * leaves before the next segment is processed (ack-policy.ts, segmentArriving).
   */
  ackClocked = false;
  /**
   * In a receive batch, the last segment filled a hole and made held data readable: the
   * application reads before that segment's ACK leaves (ack-policy.ts, segmentArriving).
   */
  holeFilled = false;
  /** <SEQ=(acceptable)><CTL=RST> for this connection (abort, keepalive give-up). */
  resetNow = false;
  /** <SEQ=SEG.ACK><CTL=RST>: the answer to an unacceptable ACK in SYN-SENT or SYN-RECEIVED. */
  resetReplySeq: number | undefined;
  /** The SYN or SYN-ACK must be sent again: a retransmission, or a new segment (simultaneous open). */
  synResend: 'retransmission' | 'new-segment' | undefined;
  /** Retransmit the first unacknowledged segment (fast retransmit, partial ACK, RTO). */
  retransmitNow = false;
  /** A keepalive probe is due. */
  keepaliveProbeNow = false;
  /** A tail loss probe is due (RFC 8985 §7.3; recovery.ts records it). */
  lossProbeNow = false;
  /** A D-SACK block [start, end) to lead the SACK blocks of our next ACK (RFC 2883 §4), or undefined. */
  dsackStart: number | undefined;
  // As int32 bits read back as uint32 (see undoMarker): no heap number per connection.
  private dsackEndBits = 0;
  get dsackEnd(): number {
    return this.dsackEndBits >>> 0;
  }
  set dsackEnd(value: number) {
    this.dsackEndBits = value | 0;
  }

  // ---- ACK generation ---------------------------------------------------------------
  /** In-order data segments received since our last ACK (ack-policy.ts: every second one, or a stretch ACK per batch). */
  unackedSegments = 0;

  // ---- retransmission ---------------------------------------------------------------
  readonly rtt: RttEstimator;
  /**
   * The congestion-control algorithm (tcp.congestion, or the listener's or connect()'s
   * choice). Replaced only at establishment, when BBR was chosen and the peer does not
   * do SACK (input.ts: BBR's rate samples need the scoreboard; CUBIC takes over).
   */
  congestion: CongestionControl;
  /** The same object as `congestion` when it is BBR (bbr.ts), else undefined: BBR's own calls without a cast. */
  bbr: Bbr | undefined;
  /** Delivery rate estimation (delivery-rate.ts), only for a BBR connection, from establishment on. */
  rate: DeliveryRate | undefined;
  /** The pacer (pacing.ts), only for a BBR connection, from establishment on. */
  pacer: Pacer | undefined;
  /** Sequence number whose ACK completes the RTT measurement in progress (Karn). */
  rttSeq: number | undefined;
  rttStart: Instant = DOUBLE_ZERO;
  /** Consecutive RTO expiries without progress. */
  backoffCount = 0;
  /** Of those RTOs' doublings, how many ICMP unreachables undid (RFC 6069, icmp-error.ts); reset with backoffCount. */
  rtoReverts = 0;
  /** The SYN or SYN-ACK had to be retransmitted. */
  handshakeRetransmitted = false;
  /** Since when the oldest in-flight data has waited for an ACK (user timeout, RFC 5482). */
  unackedSince: Instant | undefined;
  /** Duplicate ACKs in a row (RFC 5681 §2; with SACK, RFC 6675 §2): limited transmit, recovery entry. */
  duplicateAcks = 0;

  // ---- SACK loss recovery (recovery.ts; only while tcb.sackPermitted) --------------------
  /** The sender's scoreboard (RFC 6675 §3), created when a connection using SACK is established. */
  scoreboard: Scoreboard | undefined;
  /** The PTO must be re-armed: new data left or was acknowledged (RFC 8985 §7.2). */
  probeRearm = false;
  /** RFC 8985 §7: SND.MAX after the outstanding loss probe; undefined when none is out. */
  tlpEndSeq: number | undefined;
  /** The outstanding probe was a retransmission (not new data). */
  tlpRetransmitted = false;
  /** A D-SACK reported the probe's retransmission as a duplicate (§7.4.1). */
  tlpDsack = false;
  /**
   * Where an ACK decides the episode's verdict (RFC 8985 §7.4.2: above it): TLP.end_seq
   * for the probe, as Linux's `tlp_high_seq`; after a follow-up, the end of its segment.
   */
  tlpVerdictPoint = 0;
  /**
   * TLP.end_seq of a retransmitted probe whose episode an ACK of exactly that point ended
   * without a D-SACK (recovery.ts `cumulativeAck`): the verdict waits for the probe's
   * D-SACK (no loss) or an ACK above it (a repaired loss, RFC 8985 §7.4.2).
   */
  tlpVerdictSeq: number | undefined;
  /** Follow-ups of the outstanding tail loss probe sent (recovery.ts, bounded by MAX_TLP_FOLLOW_UPS). */
  tlpFollowUps = 0;
  /** A follow-up of the tail loss probe is due (recovery.ts records it, output.ts sends it). */
  tlpFollowUpNow = false;
  /** The window was reduced for the current loss episode (undone if D-SACK proves it spurious). */
  reducedForLoss = false;
  /** Retransmissions of the current loss episode not yet reported duplicate by D-SACK (Linux undo_retrans). */
  undoRetransmits = 0;
  // undoMarker and frtoResume as int32 bit patterns read back as uint32, as the TCB's
  // sequence numbers (tcb.ts): small integers to V8, in the object itself, where a double
  // field costs a 16-byte heap number per connection even while it is never used.
  private undoMarkerBits = 0;
  private frtoResumeBits = 0;
  /** SND.UNA when the episode began (Linux undo_marker): only D-SACKs above it concern its retransmissions. */
  get undoMarker(): number {
    return this.undoMarkerBits >>> 0;
  }
  set undoMarker(value: number) {
    this.undoMarkerBits = value | 0;
  }
  /** RFC 6937 Proportional Rate Reduction state (prr.ts), created at the first recovery when `tcp.prr` is on. */
  prr: ProportionalRateReduction | undefined;
  /** Recovery probes sent in the current episode (recovery.ts, bounded by MAX_RECOVERY_PROBES). */
  recoveryProbes = 0;
  /** A recovery probe is due (recovery.ts records it, output.ts sends it). */
  recoveryProbeNow = false;
  /**
   * SND.MAX when the last RTO fired, until the cumulative ACK passes it (recovery.ts):
   * meanwhile a go-back-N retransmission found lost again is resent (output.ts).
   */
  rtoRecoveryPoint: number | undefined;
  /**
   * F-RTO (RFC 5682 §3, recovery.ts) after the last RTO: 2 waits for the first ACK that
   * advances SND.UNA, 3 has sent new data and waits for the next ACK; 0 when off.
   */
  frtoStep: 0 | 2 | 3 = 0;
  /** Step 2b: output.ts sends up to two new segments instead of going back N. */
  frtoSendNew = false;
  /** Where go-back-N stood when step 2b jumped to new data: resumed if the loss is real. */
  get frtoResume(): number {
    return this.frtoResumeBits >>> 0;
  }
  set frtoResume(value: number) {
    this.frtoResumeBits = value | 0;
  }

  // ---- path MTU and ICMP errors (path-mtu.ts, icmp-error.ts) -------------------------
  /** The send MSS the handshake agreed on (RFC 9293 §3.7.1); 0 until established. */
  negotiatedMss = 0;
  /** Send MSS cap from ICMP "fragmentation needed" (RFC 1191) or the PMTU cache. */
  pathMss: number | undefined;
  /** Send MSS cap from black-hole detection (RFC 4821 §7.6). */
  probedMss: number | undefined;
  /** When the caps age out and full-sized segments are tried again (RFC 1191 §6.3). */
  pathMssExpiresAt: Instant | undefined;
  /**
   * The last soft ICMP error (RFC 1122 §4.2.3.9; Linux sk_err_soft), cleared when new
   * data is acknowledged: a connection that then times out reports it as the cause.
   */
  softError: { code: ErrorCode; text: string } | undefined;

  // ---- timers (absolute instants; undefined = not armed) -----------------------------
  retransmitAt: Instant | undefined;
  persistAt: Instant | undefined;
  /** Tail loss probe timer, PTO (RFC 8985 §7.2). */
  probeAt: Instant | undefined;
  /** RACK reorder timer (RFC 8985 §6.3). */
  reorderAt: Instant | undefined;
  /** Pacing timer (pacing.ts): the release time of the next burst a paced sender waits for. */
  pacingAt: Instant | undefined;
  /** Zero-window probes sent without the window opening (persist back-off exponent). */
  persistBackoff = 0;
  /**
   * When the first zero-window probe that nothing has answered since was sent
   * (undefined once any segment arrives): the persist user timeout counts from here, as
   * Linux's icsk_probes_tstamp does, so a peer that answers is never given up.
   */
  unansweredProbeSince: Instant | undefined;
  /** Zero-window probes sent that no segment has answered yet (Linux icsk_probes_out). */
  unansweredProbes = 0;
  /** Last challenge ACK or out-of-window ACK sent (RFC 5961 §7 per-connection limit). */
  lastChallengeAckAt: Instant | undefined;
  delayedAckAt: Instant | undefined;
  connectDeadline: Instant | undefined;
  // Instants written per segment or per keepalive round: DOUBLE_ZERO makes them double
  // fields, written in place. Declared without a value they were tagged fields (undefined
  // first), and each write boxed a new 16-byte heap number that lived until the next
  // round, ~10 s on an idle connection: promoted, for the full collections to find
  // (bench/BASELINE.md, "heap numbers an idle round promoted").
  lastReceivedAt: Instant = DOUBLE_ZERO;
  keepaliveEnabled: boolean;
  keepaliveIdle: number;
  /** Unanswered keepalive probes. */
  keepaliveSent = 0;
  // Instants (fractional ms on a real clock): DOUBLE_ZERO keeps them double fields from
  // the first connection on (field-representation.test.ts).
  lastKeepaliveAt: Instant = DOUBLE_ZERO;
  keepaliveEnabledAt: Instant = DOUBLE_ZERO;
  /** Idle timeout in ms (0 = off), and the last data activity. */
  idleTimeout = 0;
  lastActivityAt: Instant = DOUBLE_ZERO;
  idleReported = false;

  /** An orphan in FIN-WAIT-2 ends at this instant (finTimeout). */
  finWait2Deadline: Instant | undefined;

  // ---- application side ---------------------------------------------------------------
  /**
   * The application has let go (Linux: the socket was closed and the connection is an
   * orphan): no callbacks any more, data arriving is answered with RST, and the close
   * handshake is bounded by finTimeout and orphanRetries.
   */
  orphaned = false;
  noDelay = false;
  /** Send() could not take all its data; report onWritable when space frees. */
  writeBlocked = false;

  // ---- statistics ----------------------------------------------------------------------------
  retransmits = 0;
  zeroWindowProbes = 0;
  /** Zero-window probes followed by an answer from the peer. */
  zeroWindowProbesAnswered = 0;
  keepaliveProbes = 0;
  segmentsIn = 0;
  segmentsOut = 0;

  constructor(
    readonly context: ConnectionContext,
    readonly id: number,
    localAddress: Ipv4Address,
    readonly localPort: number,
    remoteAddress: Ipv4Address,
    readonly remotePort: number,
    options: { active: boolean; iss: number; now: Instant; settings?: ConnectionSettings | undefined },
  ) {
    this.localAddressBits = localAddress | 0;
    this.remoteAddressBits = remoteAddress | 0;
    const config = context.config;
    this.active = options.active;
    this.visible = options.active;
    this.tcb = new Tcb(options.iss, Math.min(config.mss, DEFAULT_SEND_MSS));
    const requested = connectionBuffers(config, options.settings);
    let sizes = requested;
    const extra = Math.max(0, requested.rcvBuf - config.rcvBuf) + Math.max(0, requested.sndBuf - config.sndBuf);
    if (extra > 0) {
      if (context.bufferBudget.reserve(extra)) {
        this.reservedBufferBytes = extra;
      } else {
        // The stack's budget for large buffers is spent: this one gets the defaults.
        sizes = { rcvBuf: Math.min(requested.rcvBuf, config.rcvBuf), sndBuf: Math.min(requested.sndBuf, config.sndBuf) };
        context.counters.increment('tcp.buffers.over-budget');
      }
    }
    this.offers = connectionOffers(config, options.settings);
    const algorithm = options.settings?.congestion ?? config.congestion;
    if (algorithm === 'bbr') {
      this.bbr = new Bbr(options.iss);
      this.congestion = this.bbr;
    } else {
      this.congestion = algorithm === 'reno' ? new NewReno() : new Cubic();
    }
    this.sendBuffer = new RingBuffer(sizes.sndBuf, context.buffers);
    this.receiveBuffer = new RingBuffer(sizes.rcvBuf, context.buffers);
    // The shift follows what was asked for, whatever the budget gave: a cookie SYN-ACK
    // has promised it already (listen.ts), and a larger shift only coarsens the window.
    this.offeredShift = windowShiftFor(requested.rcvBuf);
    this.rtt = new RttEstimator(config);
    this.lastReceivedAt = options.now;
    this.lastActivityAt = options.now;
    this.keepaliveEnabled = config.keepalive.enabled;
    this.keepaliveIdle = config.keepalive.idle;
  }

  // ---- application API -------------------------------------------------------------------------

  get state(): TcpState {
    // In TIME-WAIT the stack holds only the compact record; it says when TIME-WAIT ended.
    if (this.inTimeWait !== undefined && !this.inTimeWait()) return 'CLOSED';
    return this.currentState;
  }

  /** Reached CLOSED and removed from the stack's tables. */
  get released(): boolean {
    return this.releasedFromStack;
  }

  /** Free space in the send buffer, or 0 once no more data may be sent. */
  get sendBufferSpace(): number {
    return this.acceptsSend() ? this.sendBuffer.free : 0;
  }

  /** Bytes waiting to be read. */
  get readableLength(): number {
    return this.receiveBuffer.length;
  }

  /**
   * Copies as much of `data` as fits into the send buffer and returns the count; 0 once
   * the connection is closing or closed (the socket layer reports EPIPE itself).
   * Data given before the handshake completes is sent once it does (RFC 9293 §3.10.2).
   */
  send(data: Uint8Array): number {
    // A shared one-element list rather than a new one per call; sendChunks has read it
    // by the time callbacks (which may send again) run, and it is emptied afterwards.
    ONE_CHUNK[0] = data;
    try {
      return this.sendChunks(ONE_CHUNK, 0, 0);
    } finally {
      ONE_CHUNK[0] = NO_DATA;
    }
  }

  /**
   * `send` for a list of chunks, from `chunks[index]` at byte `offset` on, in order, in one
   * entry point (so what fits one segment leaves as one, as one `send` of their
   * concatenation would); returns the bytes taken. The socket layer's write path: no
   * concatenated copy of queued writes, no closure or view per write.
   */
  sendChunks(chunks: readonly Uint8Array[], index: number, offset: number): number {
    const context = this.context;
    const outermost = context.enterApp();
    try {
      if (!this.acceptsSend()) return 0;
      let accepted = 0;
      let blocked = false;
      for (let i = index, from = offset; i < chunks.length; i++, from = 0) {
        const chunk = chunks[i]!;
        const taken = this.sendBuffer.writeFrom(chunk, from);
        accepted += taken;
        if (taken < chunk.length - from) {
          blocked = true;
          break;
        }
      }
      if (blocked) this.writeBlocked = true;
      if (accepted > 0) this.noteActivity(context.now);
      context.touch(this);
      return accepted;
    } finally {
      context.leaveApp(outermost);
    }
  }

  /**
   * Moves up to `max` received bytes out (a fresh array), or undefined if none. Freeing
   * buffer space may open the window: an update is sent when it grows by at least
   * min(MSS, rcvBuf/2) (receiver SWS avoidance, RFC 9293 §3.8.6.2.2).
   */
  read(max: number): Uint8Array | undefined {
    const count = Math.min(Math.max(0, Math.floor(max)), this.receiveBuffer.length);
    if (count === 0) return undefined;
    const data = new Uint8Array(count);
    this.readInto(data);
    return data;
  }

  /**
   * `read` into the caller's memory: moves min(target.length, readableLength) bytes to
   * the start of `target` and returns how many (the socket reads into a Node Buffer it
   * pushes as is: no zero-filled array and no Buffer wrapper per chunk).
   */
  readInto(target: Uint8Array): number {
    return this.context.appCall(() => {
      if (this.receiveBuffer.length === 0 || target.length === 0) return 0;
      const count = this.receiveBuffer.read(target);
      this.releaseDrainedBuffers();
      if (isSynchronized(this.currentState) && !this.tcb.remoteFinReceived && this.windowUpdateDue()) this.ackNow = true;
      this.context.touch(this);
      return count;
    });
  }

  /** Half-close: a FIN follows the queued data (RFC 9293 §3.10.4); receiving goes on. */
  shutdown(): void {
    this.context.appCall(() => this.shutdownNow());
  }

  private shutdownNow(): void {
    switch (this.currentState) {
      case 'SYN-SENT':
        // RFC 9293 §3.10.4: nothing was sent yet that the peer knows of.
        this.setState('CLOSED', 'aborted');
        break;
      case 'SYN-RECEIVED':
        // The FIN goes out once ESTABLISHED is reached (input.ts moves to FIN-WAIT-1).
        this.tcb.finQueued = true;
        break;
      case 'ESTABLISHED':
        this.tcb.finQueued = true;
        this.setState('FIN-WAIT-1');
        break;
      case 'CLOSE-WAIT':
        this.tcb.finQueued = true;
        this.setState('LAST-ACK');
        break;
      default:
        // Already closing or closed.
        break;
    }
    this.context.touch(this);
  }

  /** Reset the connection (RFC 9293 §3.10.5): RST to the peer, queued data discarded. */
  abort(): void {
    this.context.appCall(() => this.abortNow());
  }

  /** RFC 9293 §3.10.5 from inside the stack (orphan limits, data for an orphan). */
  abortNow(): void {
    if (this.currentState === 'CLOSED' || this.releasedFromStack) return;
    // The RST goes out with the connection's last output (output.ts sends it even in CLOSED).
    if (isSynchronized(this.currentState) && this.currentState !== 'TIME-WAIT') this.resetNow = true;
    this.setState('CLOSED', 'aborted');
    this.context.touch(this);
  }

  /**
   * The application lets go of the connection, as close(2) does to a kernel socket:
   * no callback is made any more; the connection finishes its close on its own, within
   * the orphan bounds (a FIN-WAIT-2 orphan ends after finTimeout, one that keeps
   * retransmitting or probing gives up after orphanRetries back-offs, at most
   * maxOrphans are kept). Like close(2): a FIN follows the queued data if none was
   * queued yet; unread data means the peer's data was lost: RST, as Linux does.
   */
  orphan(): void {
    this.context.appCall((now) => {
      if (this.orphaned) return;
      this.orphaned = true;
      this.handler = noopHandler();
      if (this.currentState === 'CLOSED' || this.currentState === 'TIME-WAIT') return;
      if (this.receiveBuffer.length > 0 || !isSynchronized(this.currentState)) {
        this.abortNow();
        return;
      }
      this.shutdownNow();
      if (this.currentState === 'FIN-WAIT-2') this.finWait2Deadline = now + this.context.config.finTimeout;
      this.context.orphaned(this);
      this.context.touch(this);
    });
  }

  /** Disables (true) or enables (false) Nagle's algorithm (RFC 9293 §3.7.4). */
  setNoDelay(on: boolean): void {
    this.context.appCall(() => {
      this.noDelay = on;
      this.context.touch(this);
    });
  }

  /** Keepalive on/off (RFC 1122 §4.2.3.6); `idleMs` overrides the configured idle time. */
  setKeepAlive(on: boolean, idleMs?: number): void {
    this.context.appCall((now) => {
      this.keepaliveEnabled = on;
      if (idleMs !== undefined && idleMs > 0) this.keepaliveIdle = idleMs;
      this.keepaliveSent = 0;
      // Idle time counts from now or from the last segment received, whichever is later.
      this.keepaliveEnabledAt = now;
      this.context.touch(this);
    });
  }

  /** onIdleTimeout after `ms` without data moving (0 = off); the connection stays open. */
  setIdleTimeout(ms: number): void {
    this.context.appCall((now) => {
      this.idleTimeout = Math.max(0, ms);
      this.noteActivity(now);
      this.context.touch(this);
    });
  }

  info(): ConnectionInfo {
    return {
      id: this.id,
      state: this.currentState,
      localAddress: this.localAddress,
      localPort: this.localPort,
      remoteAddress: this.remoteAddress,
      remotePort: this.remotePort,
      srtt: this.rtt.srtt,
      rttvar: this.rtt.rttvar,
      rto: this.rtt.rto,
      mss: this.fullSegmentPayload(),
      congestion: this.congestion.algorithm,
      ...(this.bbr === undefined
        ? {}
        : {
            bbr: {
              mode: this.bbr.mode,
              bandwidth: Math.round(this.bbr.bottleneckBandwidth * 1000),
              minRtt: Number.isFinite(this.bbr.minRtt) ? this.bbr.minRtt : undefined,
              pacingRate: Math.round(this.bbr.pacingRate * 1000),
            },
          }),
      cwnd: this.congestion.congestionWindow,
      ssthresh: this.congestion.slowStartThreshold,
      sendWindow: this.tcb.sndWnd,
      receiveWindow: this.receiveWindow(),
      bytesInFlight: this.bytesInFlight(),
      retransmits: this.retransmits,
      zeroWindowProbes: this.zeroWindowProbes,
      zeroWindowProbesAnswered: this.zeroWindowProbesAnswered,
      keepaliveProbes: this.keepaliveProbes,
      segmentsIn: this.segmentsIn,
      segmentsOut: this.segmentsOut,
      negotiated: {
        sack: this.tcb.sackPermitted,
        timestamps: this.tcb.timestamps,
        windowScale: this.tcb.windowScaling ? { receive: this.tcb.rcvShift, send: this.tcb.sndShift } : undefined,
      },
    };
  }

  /**
   * The error a timeout (connect, retransmission, user timeout) ends the connection
   * with: the soft ICMP error that came meanwhile, if any, as Linux's tcp_write_err
   * reports sk_err_soft (a connect to an unreachable host fails EHOSTUNREACH, not
   * ETIMEDOUT); else the reason's own error.
   */
  timeoutError(reason: CloseReason): NetError | undefined {
    const soft = this.softError;
    if (soft === undefined) return closeError(reason);
    const what = reason === 'connect_timeout' ? 'connection attempt timed out' : 'connection timed out';
    return new NetError(soft.code, `${what} after ${soft.text}`);
  }

  toString(): string {
    return `#${this.id} ${formatIpv4(this.localAddress)}:${this.localPort} > ${formatIpv4(this.remoteAddress)}:${this.remotePort} ${this.currentState}`;
  }

  // ---- shared by input / output / timers ---------------------------------------------------------

  /**
   * The one place where the state changes: counts the transition, logs conn_open and
   * conn_close, and queues the application notifications. Entering TIME-WAIT or CLOSED
   * ends the connection for the application (`reason` required); CLOSED also releases it
   * from the stack.
   */
  setState(next: TcpState, reason?: CloseReason, error?: NetError): void {
    const previous = this.currentState;
    if (previous === next) return;
    this.currentState = next;
    this.context.counters.increment(`tcp.state.${next.toLowerCase()}`);
    if (next === 'ESTABLISHED' && (previous === 'SYN-SENT' || previous === 'SYN-RECEIVED')) {
      this.visible = true;
      this.context.events.emit('conn_open', { id: this.id, local: this.localEndpoint(), remote: this.remoteEndpoint() });
      if (this.active) this.pendingNotifications |= Notify.ESTABLISHED;
      this.context.established(this);
    }
    if (next === 'TIME-WAIT' || next === 'CLOSED') {
      this.reportClose(reason ?? 'fin', error);
      // Nothing more will be reassembled; unread in-order data stays readable. (Unsent
      // data of an aborted connection goes with the connection object.)
      this.assembler.clear();
      this.recentOutOfOrder.length = 0;
      this.releaseDrainedBuffers();
      this.retransmitAt = undefined;
      this.persistAt = undefined;
      this.probeAt = undefined;
      this.reorderAt = undefined;
      this.pacingAt = undefined;
      this.unansweredProbeSince = undefined;
      this.delayedAckAt = undefined;
      this.connectDeadline = undefined;
      this.unackedSince = undefined;
      this.finWait2Deadline = undefined;
    }
    if (next === 'TIME-WAIT') {
      this.inTimeWait = this.context.enteredTimeWait(this);
      this.releasedFromStack = true;
      this.context.released(this);
    }
    if (next === 'CLOSED' && !this.releasedFromStack) {
      this.releasedFromStack = true;
      this.context.released(this);
    }
    this.context.touch(this);
  }

  /** Queues notifications for the application (delivered after the current entry point). */
  notify(flags: number): void {
    this.pendingNotifications |= flags;
    this.context.touch(this);
  }

  /**
   * Delivers a pending READABLE before output (scheduler.ts), when it is the only
   * notification pending on a connection the application holds, so that onReadable can
   * read and the ACK for the data carries the reopened window. Otherwise the ACK leaves
   * first with the window the unread data left (closed, or under one MSS when the
   * receive buffer is small), the window update after the read is a second segment, and
   * if only that one is lost the sender waits for its persist timer (at least the 200 ms
   * RTO floor, RFC 9293 §3.8.6.1): bench/BASELINE.md "lost window updates". lwIP orders
   * it the same way (tcp_input calls the recv callback, where the application calls
   * tcp_recved, before tcp_output). A handler that reads later loses nothing: the
   * window update follows its read as before.
   */
  deliverReadable(): void {
    if (this.pendingNotifications !== Notify.READABLE || !this.visible || this.closeReported === 'delivered') return;
    this.pendingNotifications = 0;
    if (this.receiveBuffer.length > 0) this.invoke(Notify.READABLE);
  }

  /** Delivers pending notifications; called by the stack outside protocol processing. */
  deliverNotifications(): void {
    while (this.pendingNotifications !== 0 && this.closeReported !== 'delivered') {
      const pending = this.pendingNotifications;
      this.pendingNotifications = 0;
      if (pending & Notify.ESTABLISHED) this.invoke(Notify.ESTABLISHED);
      if (pending & Notify.READABLE && this.receiveBuffer.length > 0) this.invoke(Notify.READABLE);
      if (pending & Notify.REMOTE_FIN) this.invoke(Notify.REMOTE_FIN);
      if (pending & Notify.WRITABLE) this.invoke(Notify.WRITABLE);
      if (pending & Notify.IDLE) this.invoke(Notify.IDLE);
      if (pending & Notify.CLOSE) {
        this.closeReported = 'delivered';
        this.invoke(Notify.CLOSE);
      }
    }
  }

  /**
   * The window to advertise now (in bytes, a multiple of 2^Rcv.Wind.Shift so that the
   * scaled field says exactly this), applying receiver SWS avoidance
   * (RFC 9293 §3.8.6.2.2).
   */
  receiveWindow(): number {
    const current = Math.max(0, seqDiff(this.tcb.rcvAdvertisedEdge, this.tcb.rcvNxt));
    // Shifts rather than `2 **` (which V8 computes with pow() on this path): rcvShift is 0..14.
    const granule = 1 << this.tcb.rcvShift;
    const space = this.windowSpace();
    const available = space - (space % granule);
    if (available - current >= this.windowUpdateThreshold()) return available;
    // Keep the right edge where it was: never shrink (RFC 1122 §4.2.2.16), never
    // open by less than the threshold. `current` never exceeds the free buffer: in-order
    // data advances RCV.NXT exactly as much as it fills the buffer, and no edge is ever
    // advertised past it. Scaled, the field cannot say `current` exactly: it is rounded
    // up (RFC 7323 §2.4, Linux tcp_select_window's ALIGN) while that still fits the
    // buffer. Where it would not, it is rounded down: the field retracts by less than
    // 2^shift bytes (RFC 7323 appendix F; Linux's tcp_shrink_window), since rounding
    // up at every ACK creeps the edge past the buffer (a sender filling the window to
    // its edge then lost its segment's last bytes, resent only after its RTO). The edge
    // segments are accepted against (tcb.rcvAdvertisedEdge) is the largest one sent, and
    // everything below it fits, so nothing the peer was offered is refused.
    const roundedUp = roundUp(current, granule);
    return roundedUp <= this.receiveBuffer.free ? roundedUp : current - (current % granule);
  }

  /** The receive window's bound now: free buffer, and what the (scaled) field can carry. */
  private windowSpace(): number {
    return Math.min(this.receiveBuffer.free, MAX_UNSCALED_WINDOW * (1 << this.tcb.rcvShift));
  }

  /** The window scale we offer on our SYN or SYN-ACK (RFC 7323 §2.3), from this connection's receive buffer. */
  readonly offeredShift: number;
  /** Buffer capacity above the defaults reserved in the stack's budget (given back when released). */
  reservedBufferBytes = 0;

  /** SACK-permitted, window scale and timestamps: offered on our SYN, accepted on the peer's (per connection). */
  readonly offers: Readonly<Required<OptionOffers>>;

  /** TSval for a segment sent at `now` (RFC 7323 §3.2). */
  timestampNow(now: Instant): number {
    return timestampValue(now, this.tcb.tsOffset);
  }

  /**
   * Payload of a full-sized segment: the send MSS less the options every segment carries
   * (RFC 9293 §3.7.1; timestamps: NOP, NOP, TSopt = 12 bytes), as Linux's mss_cache. The
   * congestion window counts in these, so a window of n segments is n full segments.
   */
  fullSegmentPayload(): number {
    return Math.max(1, this.tcb.sendMss - (this.tcb.timestamps ? TIMESTAMP_OPTION_BYTES : 0));
  }

  /** SACK blocks that fit beside this connection's other options on an ACK (RFC 2018 §3). */
  maxSackBlocks(): number {
    return this.tcb.timestamps ? MAX_SACK_BLOCKS_WITH_TIMESTAMPS : MAX_SACK_BLOCKS;
  }

  /**
   * True when reading opened the window enough to be worth an ACK of its own: by the
   * SWS threshold (RFC 9293 §3.8.6.2.2) and, as Linux's tcp_cleanup_rbuf decides, to at
   * least twice what the peer sees now. A peer that still sees a large window needs no
   * extra segment: the next regular (delayed) ACK carries the new right edge. Without
   * the doubling rule a fast reader answers every data segment with a window update.
   */
  windowUpdateDue(): boolean {
    const current = Math.max(0, seqDiff(this.tcb.rcvAdvertisedEdge, this.tcb.rcvNxt));
    const space = this.windowSpace();
    const available = space - (space % (1 << this.tcb.rcvShift));
    return available - current >= this.windowUpdateThreshold() && available >= 2 * current;
  }

  /**
   * The SACK blocks for our next ACK (RFC 2018 §4): a D-SACK block first if a
   * duplicate segment arrived (RFC 2883 §4), then the block holding the most recently
   * received out-of-order segment, then the blocks of the next most recent ones, then
   * any other held range; at most maxSackBlocks() (three beside timestamps). Undefined when SACK is not in use or
   * there is nothing to report. A FIN held out of order is part of the block its data ends
   * (the right edge after the FIN's sequence number), as Linux reports it: a Linux sender
   * splits no one-segment skb for a block that stops short of its FIN, so without it that
   * segment never counts as SACKed.
   */
  sackBlocks(): [number, number][] | undefined {
    if (!this.tcb.sackPermitted) return undefined;
    if (this.assembler.isEmpty && this.dsackStart === undefined) return undefined;
    const rcvNxt = this.tcb.rcvNxt;
    const limit = this.maxSackBlocks();
    const ranges = this.assembler.ranges();
    const blocks: [number, number][] = [];
    if (this.dsackStart !== undefined) blocks.push([this.dsackStart, this.dsackEnd]);
    const finSeq = this.tcb.remoteFinSeq;
    const heldFin = finSeq !== undefined && !this.tcb.remoteFinReceived && seqGt(finSeq, rcvNxt) ? finSeq : undefined;
    const used = new Set<number>();
    const take = (index: number): void => {
      if (used.has(index) || blocks.length >= limit) return;
      const range = ranges[index]!;
      used.add(index);
      const end = seqAdd(rcvNxt, range[1]);
      blocks.push([seqAdd(rcvNxt, range[0]), end === heldFin ? seqAdd(end, 1) : end]);
    };
    for (const seq of this.recentOutOfOrder) {
      const offset = seqDiff(seq, rcvNxt);
      const index = ranges.findIndex(([start, end]) => offset >= start && offset < end);
      if (index >= 0) take(index);
    }
    for (let index = 0; index < ranges.length; index++) take(index);
    return blocks;
  }

  /**
   * Gives the rings' memory back while they are empty (an idle connection holds no
   * buffer): the send ring once everything sent is acknowledged, the receive ring once
   * read and nothing is held out of order.
   */
  releaseDrainedBuffers(): void {
    if (this.sendBuffer.length === 0) this.sendBuffer.releaseStorage();
    this.scoreboard?.releaseStorage();
    if (this.receiveBuffer.length === 0 && this.assembler.isEmpty) this.receiveBuffer.releaseStorage();
  }

  /** Bytes of sequence space sent and not yet acknowledged. */
  bytesInFlight(): number {
    return seqDiff(this.tcb.sndMax, this.tcb.sndUna);
  }

  /** Sequence number the FIN occupies (meaningful once finQueued). */
  finSeq(): number {
    return seqAdd(this.tcb.sendBufferSeq, this.sendBuffer.length);
  }

  /** Our FIN has been sent (SND.MAX is past it), acknowledged or not. */
  finSent(): boolean {
    return this.tcb.finQueued && seqGt(this.tcb.sndMax, this.finSeq());
  }

  /** Our FIN has been sent and acknowledged. */
  finAcknowledged(): boolean {
    return this.tcb.finQueued && this.tcb.sndUna === seqAdd(this.finSeq(), 1);
  }

  noteActivity(now: Instant): void {
    this.lastActivityAt = now;
    this.idleReported = false;
  }

  localEndpoint(): string {
    return `${formatIpv4(this.localAddress)}:${this.localPort}`;
  }

  remoteEndpoint(): string {
    return `${formatIpv4(this.remoteAddress)}:${this.remotePort}`;
  }

  // ---- private ---------------------------------------------------------------------------------

  private currentState: TcpState = 'CLOSED';
  /** The application knows about this connection (conn_open/conn_close are logged). */
  private visible: boolean;
  private pendingNotifications = 0;
  private closeReason: CloseReason | undefined;
  private closeError: NetError | undefined;
  private closeReported: 'no' | 'queued' | 'delivered' = 'no';
  private releasedFromStack = false;
  private inTimeWait: (() => boolean) | undefined;

  private acceptsSend(): boolean {
    const state = this.currentState;
    const open = state === 'SYN-SENT' || state === 'SYN-RECEIVED' || state === 'ESTABLISHED' || state === 'CLOSE-WAIT';
    return open && !this.tcb.finQueued;
  }

  private windowUpdateThreshold(): number {
    return Math.max(1, Math.min(this.context.config.mss, Math.floor(this.receiveBuffer.capacity / 2)));
  }

  private reportClose(reason: CloseReason, error: NetError | undefined): void {
    if (this.closeReported !== 'no') return;
    this.closeReported = 'queued';
    this.closeReason = reason;
    this.closeError = error;
    this.pendingNotifications |= Notify.CLOSE;
    if (this.visible) {
      this.context.events.emit('conn_close', {
        id: this.id,
        reason,
        local: this.localEndpoint(),
        remote: this.remoteEndpoint(),
        ...(error ? { code: error.code } : {}),
      });
    }
  }

  /** Calls the handler's callback for one notification (no closure per call: one per ACK or read on a busy connection). */
  private invoke(notification: number): void {
    const handler = this.handler;
    try {
      switch (notification) {
        case Notify.ESTABLISHED:
          handler.onEstablished();
          break;
        case Notify.READABLE:
          handler.onReadable();
          break;
        case Notify.REMOTE_FIN:
          handler.onRemoteFin();
          break;
        case Notify.WRITABLE:
          handler.onWritable();
          break;
        case Notify.IDLE:
          handler.onIdleTimeout();
          break;
        case Notify.CLOSE:
          handler.onClose(this.closeReason ?? 'aborted', this.closeError);
          break;
        default:
          break;
      }
    } catch (error) {
      this.context.counters.increment('tcp.handler-error');
      this.context.events.emit('handler_error', { id: this.id, callback: NOTIFY_CALLBACK[notification] ?? String(notification), error: String(error) });
    }
  }
}

/** `value` rounded up to a multiple of `unit`. */
function roundUp(value: number, unit: number): number {
  return Math.ceil(value / unit) * unit;
}

/** Errors that end a connection abnormally, with Node-style codes. */
export function closeError(reason: CloseReason): NetError | undefined {
  switch (reason) {
    case 'rst':
      return new NetError(ErrorCode.ECONNRESET, 'connection reset by peer');
    case 'refused':
      return new NetError(ErrorCode.ECONNREFUSED, 'connection refused');
    case 'connect_timeout':
      return new NetError(ErrorCode.ETIMEDOUT, 'connection attempt timed out');
    case 'retransmit_timeout':
      return new NetError(ErrorCode.ETIMEDOUT, 'retransmission limit reached');
    case 'user_timeout':
      return new NetError(ErrorCode.ETIMEDOUT, 'data unacknowledged for the user timeout');
    case 'keepalive_timeout':
      return new NetError(ErrorCode.ETIMEDOUT, 'peer stopped answering keepalive probes');
    case 'fin':
    case 'aborted':
      return undefined;
  }
}
