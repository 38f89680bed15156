/**
 * Listeners and the passive open: RFC 9293 §3.10.7.2 (a segment for a LISTEN port)
 * and SYN cookies (RFC 4987 §3.6) once a listener's half-open backlog is full.
 *
 * - A SYN creates a connection in SYN-RECEIVED (its TCB from `Tcb.initFromSyn`) that
 *   counts against the listener's backlog until it is established or gone; output.ts
 *   sends the SYN-ACK.
 * - With the backlog full, the SYN is answered with a SYN-cookie SYN-ACK and no state
 *   is kept, as Linux does with tcp_syncookies = 1; a spoofed SYN flood cannot lock
 *   clients out. A later ACK whose cookie checks out rebuilds the connection
 *   (`Tcb.initFromCookie`) and is processed as usual; one that acknowledges a cookie of
 *   ours but follows a lost first segment (SEG.SEQ past the peer's ISN + 1) is dropped
 *   without RST, to be rebuilt from the peer's retransmission. Cookie ACKs are only looked at
 *   within COOKIE_ACCEPT_WINDOW_MS of an overflow (Linux tcp_synq_no_recent_overflow),
 *   so ordinary stray ACKs cost no hash and cookies cannot be guessed at leisure.
 * - Established passive connections are handed to the listener's onAccept.
 */
import type { Ipv4Address } from '../net/address.ts';
import type { Counters } from '../stats.ts';
import type { EventSink } from '../events.ts';
import type { Instant } from '../time.ts';
import { ErrorCode, NetError } from '../errors.ts';
import { TcpFlag, type TcpRepr } from '../wire/tcp.ts';
import { DEFAULT_SEND_MSS, MAX_UNSCALED_WINDOW, connectionBuffers, connectionOffers, type CongestionAlgorithm, type ConnectionSettings, type OptionOffers, type TcpConfig } from './config.ts';
import type { TcpConnection } from './connection.ts';
import type { SegmentEmitter } from './emitter.ts';
import type { IsnSource } from './isn.ts';
import { negotiate, negotiatedMss, segmentArrives } from './input.ts';
import type { StackLimits } from './limits.ts';
import { seqAdd, seqGt } from './seq.ts';
import { COOKIE_PERIOD_MS, decodeCookieOptions, encodeCookieOptions, type SynCookies } from './syn-cookie.ts';
import { timestampValue, windowShiftFor, type TimestampOffsets } from './timestamps.ts';

/** Cookie ACKs are only considered this long after a listener last overflowed. */
const COOKIE_ACCEPT_WINDOW_MS = 3 * COOKIE_PERIOD_MS;

export interface TcpListener {
  readonly port: number;
  close(): void;
}

/** What a listener asks for: its half-open backlog, its connections' buffers and options (per service). */
export interface ListenOptions extends ConnectionSettings {
  backlog?: number;
}

/** What the passive open needs from the stack. */
export interface PassiveOpenContext {
  readonly localAddress: Ipv4Address;
  readonly config: TcpConfig;
  readonly counters: Counters;
  readonly events: EventSink;
  readonly emitter: SegmentEmitter;
  readonly limits: StackLimits;
  readonly isn: IsnSource;
  readonly cookies: SynCookies;
  readonly timestampOffsets: TimestampOffsets;
  /** Room for one more connection (a TIME-WAIT entry may be recycled); false at the limit (reported). */
  roomForConnection(port: number, now: Instant): boolean;
  createConnection(localPort: number, remoteAddress: Ipv4Address, remotePort: number, iss: number, now: Instant, settings: ConnectionSettings): TcpConnection;
  connectionsOn(localPort: number): Iterable<TcpConnection>;
  /** RFC 9293 §3.10.7.1 reply (here: <SEQ=SEG.ACK><CTL=RST> to an ACK no listener state explains). */
  resetNoConnection(source: Ipv4Address, segment: TcpRepr): void;
}

class Listener implements TcpListener {
  /** SYN-RECEIVED connections created by this listener. */
  halfOpen = 0;
  closed = false;
  /** When a SYN last found the backlog full (and got a cookie). */
  lastOverflowAt: Instant | undefined;

  constructor(
    private readonly owner: Listeners,
    readonly port: number,
    readonly backlog: number,
    /** The buffers of this listener's connections (within the stack's bounds). */
    readonly buffers: { rcvBuf: number; sndBuf: number },
    /** The options its connections offer and accept. */
    readonly offers: Readonly<Required<OptionOffers>>,
    /** Its connections' congestion control. */
    readonly congestion: CongestionAlgorithm,
    readonly onAccept: (connection: TcpConnection) => void,
  ) {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.owner.remove(this);
  }
}

export class Listeners {
  private readonly byPort = new Map<number, Listener>();

  constructor(private readonly context: PassiveOpenContext) {}

  has(port: number): boolean {
    return this.byPort.has(port);
  }

  /**
   * A listener on `port` would give a SYN real state now (its backlog has room), not a
   * SYN cookie. Reopening a TIME-WAIT tuple needs that: a cookie's ISS cannot honour
   * the minimum ISS of the old incarnation (RFC 1122 §4.2.2.13).
   */
  acceptsWithState(port: number): boolean {
    const listener = this.byPort.get(port);
    return listener !== undefined && listener.halfOpen < listener.backlog;
  }

  /** Listens on `port`, which the caller has chosen (EADDRINUSE if taken). */
  listen(port: number, options: ListenOptions, onAccept: (connection: TcpConnection) => void): TcpListener {
    if (this.byPort.has(port)) throw new NetError(ErrorCode.EADDRINUSE, `port ${port} is already listening`);
    const limit = this.context.config.synBacklog;
    const requested = options.backlog !== undefined && options.backlog > 0 ? Math.floor(options.backlog) : limit;
    const buffers = connectionBuffers(this.context.config, options);
    const offers = connectionOffers(this.context.config, options);
    const congestion = options.congestion ?? this.context.config.congestion;
    const listener = new Listener(this, port, Math.min(requested, limit), buffers, offers, congestion, onAccept);
    this.byPort.set(port, listener);
    return listener;
  }

  /** @internal Listener.close(): half-open connections have nobody to accept them and are reset. */
  remove(listener: Listener): void {
    if (this.byPort.get(listener.port) !== listener) return;
    this.byPort.delete(listener.port);
    const pending: TcpConnection[] = [];
    for (const connection of this.context.connectionsOn(listener.port)) {
      if (connection.listenerPort === listener.port && connection.state === 'SYN-RECEIVED') pending.push(connection);
    }
    for (const connection of pending) connection.abort();
  }

  /** RFC 9293 §3.10.7.2: a segment for a LISTEN port. False when no listener has the port. */
  arrives(source: Ipv4Address, segment: TcpRepr, now: Instant, minimumIss: number | undefined): boolean {
    const listener = this.byPort.get(segment.destinationPort);
    if (listener === undefined) return false;
    const { counters } = this.context;
    const flags = segment.flags;
    if (flags & TcpFlag.RST) {
      counters.increment('tcp.drop.listen-rst');
      return true;
    }
    if (flags & TcpFlag.ACK) {
      if ((flags & TcpFlag.SYN) === 0 && this.cookieArrives(listener, source, segment, now)) return true;
      // <SEQ=SEG.ACK><CTL=RST>
      counters.increment('tcp.drop.listen-ack');
      this.context.resetNoConnection(source, segment);
      return true;
    }
    if ((flags & TcpFlag.SYN) === 0) {
      counters.increment('tcp.drop.listen-no-syn');
      return true;
    }
    if (!this.context.roomForConnection(listener.port, now)) {
      counters.increment('tcp.drop.connection-limit');
      return true;
    }
    if (listener.halfOpen >= listener.backlog) {
      this.sendCookie(listener, source, segment, now);
      return true;
    }
    let iss = this.context.isn.next(this.context.localAddress, listener.port, source, segment.sourcePort, now);
    if (minimumIss !== undefined && !seqGt(iss, minimumIss)) iss = minimumIss;
    const connection = this.context.createConnection(listener.port, source, segment.sourcePort, iss, now, { ...listener.buffers, ...listener.offers, congestion: listener.congestion });
    connection.listenerPort = listener.port;
    listener.halfOpen++;
    connection.tcb.initFromSyn(segment, negotiatedMss(this.context.config, segment));
    // RFC 2018 §2: SACK-permitted in our SYN-ACK only when the SYN carried it; RFC 7323
    // §2.2, §3.2 likewise for window scaling and timestamps.
    connection.tcb.sackPermitted = connection.offers.sack && segment.options.sackPermitted === true;
    negotiate(connection, segment, now);
    // Data on the SYN is not kept (no TCP Fast Open); the peer retransmits it.
    connection.setState('SYN-RECEIVED');
    return true;
  }

  /** The connection left SYN-RECEIVED (established or gone): it no longer counts against the backlog. */
  leaveBacklog(connection: TcpConnection): void {
    if (connection.listenerPort === undefined) return;
    const listener = this.byPort.get(connection.listenerPort);
    if (listener !== undefined && listener.halfOpen > 0) listener.halfOpen--;
    connection.listenerPort = undefined;
  }

  /** An established passive connection goes to its listener's onAccept (aborted if the listener closed meanwhile). */
  deliverAccept(connection: TcpConnection): void {
    const listener = this.byPort.get(connection.localPort);
    if (listener === undefined || connection.released) {
      if (!connection.released) connection.abort();
      return;
    }
    try {
      listener.onAccept(connection);
    } catch (error) {
      this.context.counters.increment('tcp.handler-error');
      this.context.events.emit('handler_error', { id: connection.id, callback: 'onAccept', error: String(error) });
    }
  }

  /** The backlog is full: answer with a SYN-cookie SYN-ACK and keep nothing (RFC 4987 §3.6). */
  private sendCookie(listener: Listener, source: Ipv4Address, segment: TcpRepr, now: Instant): void {
    const { config, counters, cookies, localAddress } = this.context;
    listener.lastOverflowAt = now;
    counters.increment('tcp.tx.syn-cookies');
    this.context.limits.reached(
      'syn_backlog',
      listener.port,
      now,
      `SYN backlog of port ${listener.port} full (${listener.backlog}); answering with SYN cookies`,
    );
    const peerMss = segment.options.mss ?? DEFAULT_SEND_MSS;
    const cookie = cookies.make(localAddress, listener.port, source, segment.sourcePort, segment.sequenceNumber, peerMss, now);
    // The other options survive only with timestamps: as Linux does, the low bits of our
    // TSval carry the peer's window scale and SACK-permitted, and come back as TSecr.
    const { offers } = listener;
    const peerTimestamp = offers.timestamps ? segment.options.timestamps : undefined;
    const sack = offers.sack && segment.options.sackPermitted === true;
    const peerShift = offers.windowScale ? segment.options.windowScale : undefined;
    let timestamps: { value: number; echo: number } | undefined;
    if (peerTimestamp !== undefined) {
      const clock = timestampValue(now, this.context.timestampOffsets.offset(localAddress, source));
      timestamps = { value: encodeCookieOptions(clock, { windowScale: peerShift, sackPermitted: sack }), echo: peerTimestamp.value };
    }
    this.context.emitter.emit({
      remoteAddress: source,
      sourcePort: listener.port,
      destinationPort: segment.sourcePort,
      sequenceNumber: cookie,
      acknowledgmentNumber: seqAdd(segment.sequenceNumber, 1),
      flags: TcpFlag.SYN | TcpFlag.ACK,
      window: cookieWindow(listener),
      mss: config.mss,
      sackPermitted: timestamps !== undefined && sack,
      windowScale: timestamps !== undefined && peerShift !== undefined ? windowShiftFor(listener.buffers.rcvBuf) : undefined,
      timestamps,
    });
  }

  /**
   * An ACK for a listener: the final ACK of a cookie handshake? A valid cookie rebuilds
   * the connection in SYN-RECEIVED and the ACK (with any data on it) is processed as
   * usual; returns false otherwise.
   */
  private cookieArrives(listener: Listener, source: Ipv4Address, segment: TcpRepr, now: Instant): boolean {
    if (listener.lastOverflowAt === undefined || now - listener.lastOverflowAt > COOKIE_ACCEPT_WINDOW_MS) return false;
    const { config, counters, cookies, localAddress } = this.context;
    const iss = seqAdd(segment.acknowledgmentNumber, -1);
    const irs = seqAdd(segment.sequenceNumber, -1);
    const peerMss = cookies.check(localAddress, listener.port, source, segment.sourcePort, irs, iss, now);
    if (peerMss === undefined) {
      counters.increment('tcp.rx.syn-cookie-invalid');
      return false;
    }
    if (peerMss === 'wrong-sequence') {
      // It acknowledges a cookie SYN-ACK we sent this peer, but its SEG.SEQ is not the ISN
      // + 1 the cookie was made for: the peer's first segment (the final ACK, and data
      // after it) was lost, and this is a later one. Its RST would kill a live connection
      // for one lost frame; dropped, the peer retransmits from ISN + 1, which checks out.
      counters.increment('tcp.drop.syn-cookie-sequence');
      return true;
    }
    if (!this.context.roomForConnection(listener.port, now)) {
      counters.increment('tcp.drop.connection-limit');
      return true;
    }
    counters.increment('tcp.rx.syn-cookie-valid');
    const connection = this.context.createConnection(listener.port, source, segment.sourcePort, iss, now, { ...listener.buffers, ...listener.offers, congestion: listener.congestion });
    connection.tcb.initFromCookie(irs, Math.max(1, Math.min(config.mss, peerMss)), cookieWindow(listener));
    // Options the cookie SYN-ACK agreed to come back in the ACK's TSecr (none without it).
    const timestamp = listener.offers.timestamps ? segment.options.timestamps : undefined;
    // The echo must be a TSval we could have sent for this cookie: not ahead of our clock
    // nor older than the cookie itself may be.
    const echoAge = timestamp === undefined ? -1 : (timestampValue(now, this.context.timestampOffsets.offset(localAddress, source)) - timestamp.echo) | 0;
    if (timestamp !== undefined && echoAge >= 0 && echoAge <= COOKIE_ACCEPT_WINDOW_MS) {
      const agreed = decodeCookieOptions(timestamp.echo);
      connection.tcb.sackPermitted = listener.offers.sack && agreed.sackPermitted;
      negotiate(connection, { ...segment, options: { timestamps: timestamp, windowScale: agreed.windowScale } }, now);
    }
    connection.setState('SYN-RECEIVED');
    segmentArrives(connection, segment, now);
    return true;
  }
}

/** The window a cookie SYN-ACK advertises (and the rebuilt TCB assumes); unscaled, as on every SYN. */
function cookieWindow(listener: Listener): number {
  return Math.min(listener.buffers.rcvBuf, MAX_UNSCALED_WINDOW);
}
