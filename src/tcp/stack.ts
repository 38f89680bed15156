/**
 * TcpStack: the TCP layer of one interface address.
 *
 * - Demultiplexes incoming segments (parsed with src/wire/tcp.ts, checksum verified) to
 *   connections by (local port, remote address, remote port), else to a listener, else
 *   answers with RST (RFC 9293 §3.10.7.1).
 * - Creates connections: passive from a listener's SYN (§3.10.7.2), active from connect().
 * - Keeps every connection timer in one deadline heap with lazy invalidation: pollAt()
 *   is the heap's top, poll(now) runs the due connections; idle connections have no entry.
 * - Sends through the interface layer's `sendIpv4`, emitting straight into the frame.
 *
 * Entry points are input(), poll() and the application calls on TcpConnection. Each
 * one runs the protocol work, then (once, at the outermost level) flushes deferred work
 * for the connections it touched: output, timer re-arming, then application callbacks
 * (onAccept and ConnectionHandler), which may call back into the stack safely. An
 * application call made outside input()/poll() ends with requestPoll(), so the owner
 * flushes the link and re-arms its timer.
 *
 * Limits (SPEC section 2), each reported once per LIMIT_REPORT_INTERVAL_MS as `fault`
 * {code: 7} (SPEC §6) and `resource_limit` {limit, port}:
 * - synBacklog half-open connections on a listener: further SYNs are answered with SYN
 *   cookies (syn-cookie.ts, RFC 4987 §3.6) and get no state until their final ACK, as
 *   Linux does with tcp_syncookies = 1; a spoofed SYN flood cannot lock clients out.
 * - maxConnections: the oldest TIME-WAIT connection is recycled to make room; if there
 *   is none, the SYN is dropped silently (counted): the client retransmits and may get
 *   in later, and no state is spent on it.
 * - timeWaitMax (optional): entering TIME-WAIT beyond it recycles the oldest one.
 * Replies that an off-path sender can trigger at will are rate limited: challenge ACKs
 * (a randomized stack-wide budget on top of the per-connection limit in input.ts,
 * RFC 5961 §7) and RSTs for closed ports (RESETS_PER_SECOND, like FreeBSD's
 * net.inet.tcp.icmp_lim / badport_bandlim; Linux does not limit them).
 */
import type { Clock, Instant, Pollable } from '../time.ts';
import type { Counters } from '../stats.ts';
import type { EventSink } from '../events.ts';
import type { RandomSource } from '../random.ts';
import type { Ipv4Address } from '../net/address.ts';
import { ErrorCode, NetError } from '../errors.ts';
import { DeadlineHeap } from '../storage/deadline-heap.ts';
import { parseTcp, TcpFlag, type TcpRepr } from '../wire/tcp.ts';
import type { TcpConfig } from './config.ts';
import { TcpConnection, type ConnectionContext } from './connection.ts';
import { segmentArrives, negotiatedMss } from './input.ts';
import { output, SegmentEmitter, type IpSender } from './output.ts';
import { nextDeadline, timersExpired } from './timers.ts';
import { Rfc6528Isn, type IsnSource } from './isn.ts';
import { seqAdd, seqGt } from './seq.ts';
import { COOKIE_PERIOD_MS, SynCookies } from './syn-cookie.ts';
import { RateLimiter } from './rate-limit.ts';
import { DEFAULT_SEND_MSS, MAX_UNSCALED_WINDOW } from './config.ts';

export type { IpSender, IpSendResult } from './output.ts';
export type { TcpConnection } from './connection.ts';

export interface TcpListener {
  readonly port: number;
  close(): void;
}

export interface TcpStackOptions {
  ip: IpSender;
  localAddress: Ipv4Address;
  config: TcpConfig;
  clock: Clock;
  random: RandomSource;
  counters: Counters;
  events: EventSink;
  /** Called after an application call produced work outside input()/poll(). */
  requestPoll?: () => void;
  /** Initial sequence numbers; default RFC 6528 keyed by a secret from `random`. Tests inject fixed ones. */
  isn?: IsnSource;
}

export interface ConnectOptions {
  localPort?: number;
  /** ms for the handshake to complete before the connection fails with ETIMEDOUT. */
  timeout?: number;
}

/** RFC 6335 §6: the dynamic (ephemeral) port range. */
const EPHEMERAL_FIRST = 49152;
const EPHEMERAL_COUNT = 65536 - EPHEMERAL_FIRST;

/** Stack-wide challenge ACKs per second (randomized ±50%; Linux tcp_challenge_ack_limit is 1000). */
export const CHALLENGE_ACKS_PER_SECOND = 1000;
/** RSTs per second for segments to closed ports (FreeBSD's default badport_bandlim is 200). */
export const RESETS_PER_SECOND = 1000;
/** A resource limit (fault 7) is reported at most this often per kind. */
export const LIMIT_REPORT_INTERVAL_MS = 10_000;
/** Cookie ACKs are only looked at this long after a listener last overflowed (Linux tcp_synq_no_recent_overflow). */
const COOKIE_ACCEPT_WINDOW_MS = 3 * COOKIE_PERIOD_MS;
/** BSD's ISS increment: a reopened TIME-WAIT tuple starts this far past the old SND.NXT (RFC 9293 §3.10.7.4). */
const TIME_WAIT_ISS_INCREMENT = 128_000;

class Listener implements TcpListener {
  /** SYN-RECEIVED connections created by this listener. */
  halfOpen = 0;
  closed = false;
  /** When a SYN last found the backlog full (and got a cookie). */
  lastOverflowAt: Instant | undefined;

  constructor(
    private readonly stack: TcpStack,
    readonly port: number,
    readonly backlog: number,
    readonly onAccept: (connection: TcpConnection) => void,
  ) {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stack.removeListener(this);
  }
}

export class TcpStack implements Pollable {
  private readonly ip: IpSender;
  private readonly localAddress: Ipv4Address;
  private readonly config: TcpConfig;
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly counters: Counters;
  private readonly events: EventSink;
  private readonly requestPoll: () => void;
  private readonly isn: IsnSource;
  private readonly cookies: SynCookies;
  private readonly challengeLimiter: RateLimiter;
  private readonly resetLimiter: RateLimiter;
  private readonly limitReportedAt = new Map<string, Instant>();
  /** TIME-WAIT connections, oldest first (insertion order). */
  private readonly timeWaits = new Set<TcpConnection>();
  private readonly emitter: SegmentEmitter;
  private readonly context: ConnectionContext;

  private readonly listeners = new Map<number, Listener>();
  /** local port → (remote address · 65536 + remote port) → connection. */
  private readonly table = new Map<number, Map<number, TcpConnection>>();
  private connectionCount = 0;
  private nextId = 1;
  private readonly timers = new DeadlineHeap<TcpConnection>(
    (connection, deadline) => !connection.released && connection.scheduledAt === deadline,
  );

  // Deferred work of the current entry point.
  private depth = 0;
  private currentTime: Instant = 0;
  private readonly dirty = new Set<TcpConnection>();
  private readonly batch: TcpConnection[] = [];
  private readonly accepts: TcpConnection[] = [];

  constructor(options: TcpStackOptions) {
    this.ip = options.ip;
    this.localAddress = options.localAddress >>> 0;
    this.config = options.config;
    this.clock = options.clock;
    this.random = options.random;
    this.counters = options.counters;
    this.events = options.events;
    this.requestPoll = options.requestPoll ?? (() => undefined);
    this.isn = options.isn ?? new Rfc6528Isn(options.random);
    this.cookies = new SynCookies(options.random);
    this.challengeLimiter = new RateLimiter(CHALLENGE_ACKS_PER_SECOND, 1000, options.random);
    this.resetLimiter = new RateLimiter(RESETS_PER_SECOND, 1000);
    this.emitter = new SegmentEmitter(this.ip, this.localAddress, this.counters);
    this.context = {
      config: this.config,
      counters: this.counters,
      events: this.events,
      emitter: this.emitter,
      appCall: (run) => this.appCall(run),
      touch: (connection) => {
        this.dirty.add(connection);
      },
      established: (connection) => this.connectionEstablished(connection),
      released: (connection) => this.release(connection),
      enteredTimeWait: (connection) => this.enteredTimeWait(connection),
      allowChallengeAck: (now) => this.challengeLimiter.allow(now),
    };
  }

  // ---- entry points ------------------------------------------------------------------------

  /** A TCP segment (the IPv4 payload) from `source` to `destination`. Never throws. */
  input(source: Ipv4Address, destination: Ipv4Address, ipPayload: Uint8Array, now: Instant): void {
    this.enter(now);
    try {
      this.counters.increment('tcp.rx.segments');
      this.dispatch(source >>> 0, destination >>> 0, ipPayload, now);
    } catch (error) {
      this.internalError('input', error);
    } finally {
      this.leave();
    }
  }

  pollAt(): Instant | undefined {
    return this.timers.peekDeadline();
  }

  /** Runs the timers due at `now`. Deadlines that become due during this call wait for the next poll. */
  poll(now: Instant): void {
    this.enter(now);
    try {
      const due: TcpConnection[] = [];
      for (let connection = this.timers.popDue(now); connection !== undefined; connection = this.timers.popDue(now)) {
        connection.scheduledAt = undefined;
        due.push(connection);
      }
      for (const connection of due) {
        if (connection.released) continue;
        try {
          timersExpired(connection, now);
        } catch (error) {
          this.internalError('timer', error);
        }
        this.dirty.add(connection);
      }
    } finally {
      this.leave();
    }
  }

  /**
   * Listens on `port` (0 picks a free ephemeral port). Accepted connections are handed
   * to `onAccept` once ESTABLISHED; set their handler there.
   */
  listen(port: number, options: { backlog?: number }, onAccept: (connection: TcpConnection) => void): TcpListener {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new NetError(ErrorCode.EINVAL, `bad port ${port}`);
    const chosen = port === 0 ? this.freeListenPort() : port;
    if (this.listeners.has(chosen)) throw new NetError(ErrorCode.EADDRINUSE, `port ${chosen} is already listening`);
    const requested = options.backlog !== undefined && options.backlog > 0 ? Math.floor(options.backlog) : this.config.synBacklog;
    const listener = new Listener(this, chosen, Math.min(requested, this.config.synBacklog), onAccept);
    this.listeners.set(chosen, listener);
    return listener;
  }

  /** Active open (RFC 9293 §3.10.1): returns the connection in SYN-SENT, its SYN sent. */
  connect(remoteAddress: Ipv4Address, remotePort: number, options: ConnectOptions = {}): TcpConnection {
    return this.appCall((now) => {
      const remote = remoteAddress >>> 0;
      if (remote === 0 || remote === 0xffffffff) throw new NetError(ErrorCode.EINVAL, 'bad remote address');
      if (!Number.isInteger(remotePort) || remotePort < 1 || remotePort > 65535) {
        throw new NetError(ErrorCode.EINVAL, `bad remote port ${remotePort}`);
      }
      if (this.connectionCount >= this.config.maxConnections && !this.recycleTimeWait()) {
        this.counters.increment('tcp.connect.connection-limit');
        this.limitReached('connections', 0, now, `connection limit of ${this.config.maxConnections} reached`);
        throw new NetError(ErrorCode.ENOBUFS, 'connection limit reached');
      }
      let localPort = options.localPort ?? 0;
      if (localPort === 0) {
        localPort = this.freeConnectPort(remote, remotePort);
      } else if (!Number.isInteger(localPort) || localPort < 1 || localPort > 65535) {
        throw new NetError(ErrorCode.EINVAL, `bad local port ${localPort}`);
      } else if (this.lookup(localPort, remote, remotePort) !== undefined) {
        throw new NetError(ErrorCode.EADDRINUSE, `${localPort} is already connected to that peer`);
      }
      const iss = this.isn.next(this.localAddress, localPort, remote, remotePort, now);
      const connection = this.createConnection(localPort, remote, remotePort, true, iss, now);
      connection.setState('SYN-SENT');
      if (options.timeout !== undefined && options.timeout > 0) connection.connectDeadline = now + options.timeout;
      this.dirty.add(connection);
      return connection;
    });
  }

  *connections(): Iterable<TcpConnection> {
    for (const byRemote of this.table.values()) yield* byRemote.values();
  }

  // ---- used by Listener --------------------------------------------------------------------

  /** @internal */
  removeListener(listener: Listener): void {
    if (this.listeners.get(listener.port) !== listener) return;
    this.listeners.delete(listener.port);
    // Half-open connections of a closed listener have nobody to accept them: reset them.
    const pending: TcpConnection[] = [];
    for (const connection of this.table.get(listener.port)?.values() ?? []) {
      if (connection.listenerPort === listener.port && connection.state === 'SYN-RECEIVED') pending.push(connection);
    }
    for (const connection of pending) connection.abort();
  }

  // ---- segment demultiplexing -----------------------------------------------------------------

  private dispatch(source: Ipv4Address, destination: Ipv4Address, ipPayload: Uint8Array, now: Instant): void {
    const parsed = parseTcp(ipPayload, source, destination, { verifyChecksum: true });
    if (!parsed.ok) {
      this.counters.increment(`tcp.drop.${parsed.error}`);
      return;
    }
    const segment = parsed.value;
    // RFC 1122 §4.2.3.10: segments to or from a broadcast or multicast address, or
    // from an unspecified one, get no connection and no reply.
    if (destination !== this.localAddress) {
      this.counters.increment('tcp.drop.not-local');
      return;
    }
    if (!isUnicast(source)) {
      this.counters.increment('tcp.drop.bad-source');
      return;
    }
    if (segment.sourcePort === 0 || segment.destinationPort === 0) {
      this.counters.increment('tcp.drop.bad-port');
      return;
    }
    let connection = this.lookup(segment.destinationPort, source, segment.sourcePort);
    let minimumIss: number | undefined;
    if (connection !== undefined && connection.state === 'TIME-WAIT' && this.reopensTimeWait(connection, segment)) {
      // RFC 9293 §3.10.7.4 / RFC 6191: a new SYN with a higher sequence number may end
      // TIME-WAIT early and start a new incarnation; it then goes to the listener. The new
      // ISS must lie beyond anything the old incarnation sent (RFC 1122 §4.2.2.13).
      this.counters.increment('tcp.rx.time-wait-reuse');
      minimumIss = seqAdd(connection.sndMax, TIME_WAIT_ISS_INCREMENT);
      connection.setState('CLOSED', 'fin');
      connection = undefined;
    }
    if (connection !== undefined) {
      segmentArrives(connection, segment, now);
      return;
    }
    const listener = this.listeners.get(segment.destinationPort);
    if (listener !== undefined) {
      this.listenArrives(listener, source, segment, now, minimumIss);
      return;
    }
    this.counters.increment('tcp.drop.no-listener');
    this.resetNoConnection(source, segment);
  }

  private reopensTimeWait(connection: TcpConnection, segment: TcpRepr): boolean {
    const control = segment.flags & (TcpFlag.SYN | TcpFlag.ACK | TcpFlag.RST);
    return control === TcpFlag.SYN && seqGt(segment.sequenceNumber, connection.rcvNxt) && this.listeners.has(segment.destinationPort);
  }

  /** RFC 9293 §3.10.7.2: LISTEN. */
  private listenArrives(listener: Listener, source: Ipv4Address, segment: TcpRepr, now: Instant, minimumIss?: number): void {
    const flags = segment.flags;
    if (flags & TcpFlag.RST) {
      this.counters.increment('tcp.drop.listen-rst');
      return;
    }
    if (flags & TcpFlag.ACK) {
      if ((flags & TcpFlag.SYN) === 0 && this.cookieArrives(listener, source, segment, now)) return;
      // <SEQ=SEG.ACK><CTL=RST>
      this.counters.increment('tcp.drop.listen-ack');
      this.sendReset(source, segment, segment.acknowledgmentNumber, 0, TcpFlag.RST);
      return;
    }
    if ((flags & TcpFlag.SYN) === 0) {
      this.counters.increment('tcp.drop.listen-no-syn');
      return;
    }
    if (this.connectionCount >= this.config.maxConnections && !this.recycleTimeWait()) {
      this.counters.increment('tcp.drop.connection-limit');
      this.limitReached('connections', listener.port, now, `connection limit of ${this.config.maxConnections} reached`);
      return;
    }
    if (listener.halfOpen >= listener.backlog) {
      this.sendCookie(listener, source, segment, now);
      return;
    }
    let iss = this.isn.next(this.localAddress, listener.port, source, segment.sourcePort, now);
    if (minimumIss !== undefined && !seqGt(iss, minimumIss)) iss = minimumIss;
    const connection = this.createConnection(listener.port, source, segment.sourcePort, false, iss, now);
    connection.listenerPort = listener.port;
    listener.halfOpen++;
    connection.irs = segment.sequenceNumber;
    connection.rcvNxt = seqAdd(segment.sequenceNumber, 1);
    connection.rcvAdvertisedEdge = connection.rcvNxt;
    connection.sendMss = negotiatedMss(connection, segment);
    connection.sndWnd = segment.window;
    connection.maxSndWnd = segment.window;
    connection.sndWl1 = segment.sequenceNumber;
    connection.sndWl2 = iss;
    // Data on the SYN is not kept (no TCP Fast Open); the peer retransmits it.
    connection.setState('SYN-RECEIVED');
    output(connection, now);
  }

  /** The backlog is full: answer with a SYN cookie SYN-ACK and keep nothing (RFC 4987 §3.6). */
  private sendCookie(listener: Listener, source: Ipv4Address, segment: TcpRepr, now: Instant): void {
    listener.lastOverflowAt = now;
    this.counters.increment('tcp.tx.syn-cookies');
    this.limitReached('syn_backlog', listener.port, now, `SYN backlog of port ${listener.port} full (${listener.backlog}); answering with SYN cookies`);
    const peerMss = segment.options.mss ?? DEFAULT_SEND_MSS;
    const cookie = this.cookies.make(this.localAddress, listener.port, source, segment.sourcePort, segment.sequenceNumber, peerMss, now);
    this.emitter.emit({
      remoteAddress: source,
      sourcePort: listener.port,
      destinationPort: segment.sourcePort,
      sequenceNumber: cookie,
      acknowledgmentNumber: seqAdd(segment.sequenceNumber, 1),
      flags: TcpFlag.SYN | TcpFlag.ACK,
      window: Math.min(this.config.rcvBuf, MAX_UNSCALED_WINDOW),
      mss: this.config.mss,
    });
  }

  /**
   * An ACK for a listener: the final ACK of a cookie handshake? Only looked at shortly
   * after the listener overflowed, so ordinary stray ACKs cost no hash and cannot be used
   * to guess cookies at leisure. A valid cookie rebuilds the connection in SYN-RECEIVED
   * and the ACK (with any data on it) is processed as usual; returns false otherwise.
   */
  private cookieArrives(listener: Listener, source: Ipv4Address, segment: TcpRepr, now: Instant): boolean {
    if (listener.lastOverflowAt === undefined || now - listener.lastOverflowAt > COOKIE_ACCEPT_WINDOW_MS) return false;
    const iss = seqAdd(segment.acknowledgmentNumber, -1);
    const irs = seqAdd(segment.sequenceNumber, -1);
    const peerMss = this.cookies.check(this.localAddress, listener.port, source, segment.sourcePort, irs, iss, now);
    if (peerMss === undefined) {
      this.counters.increment('tcp.rx.syn-cookie-invalid');
      return false;
    }
    if (this.connectionCount >= this.config.maxConnections && !this.recycleTimeWait()) {
      this.counters.increment('tcp.drop.connection-limit');
      this.limitReached('connections', listener.port, now, `connection limit of ${this.config.maxConnections} reached`);
      return true;
    }
    this.counters.increment('tcp.rx.syn-cookie-valid');
    const connection = this.createConnection(listener.port, source, segment.sourcePort, false, iss, now);
    connection.irs = irs;
    connection.rcvNxt = segment.sequenceNumber;
    // The window our cookie SYN-ACK advertised.
    connection.rcvAdvertisedEdge = seqAdd(connection.rcvNxt, Math.min(this.config.rcvBuf, MAX_UNSCALED_WINDOW));
    connection.sndNxt = seqAdd(iss, 1);
    connection.sndMax = connection.sndNxt;
    connection.sendMss = Math.max(1, Math.min(this.config.mss, peerMss));
    connection.sndWl1 = irs;
    connection.sndWl2 = iss;
    connection.setState('SYN-RECEIVED');
    segmentArrives(connection, segment, now);
    return true;
  }

  /** Reports a resource limit (fault 7), at most once per LIMIT_REPORT_INTERVAL_MS per kind. */
  private limitReached(limit: string, port: number, now: Instant, text: string): void {
    const last = this.limitReportedAt.get(limit);
    if (last !== undefined && now - last < LIMIT_REPORT_INTERVAL_MS) return;
    this.limitReportedAt.set(limit, now);
    // `fault` first: the diagnostics sink then takes the cause event as already announced.
    this.events.emit('fault', { code: 7, text });
    this.events.emit('resource_limit', { limit, port });
  }

  /** Ends the oldest TIME-WAIT connection to make room; false if there is none. */
  private recycleTimeWait(): boolean {
    const oldest = this.timeWaits.values().next();
    if (oldest.done === true) return false;
    this.counters.increment('tcp.time-wait.recycled');
    oldest.value.setState('CLOSED', 'fin');
    return true;
  }

  private enteredTimeWait(connection: TcpConnection): void {
    this.timeWaits.add(connection);
    const bound = this.config.timeWaitMax;
    if (bound !== undefined && this.timeWaits.size > bound) this.recycleTimeWait();
  }

  /** RFC 9293 §3.10.7.1: a segment for no connection gets an RST, unless it is one. */
  private resetNoConnection(source: Ipv4Address, segment: TcpRepr): void {
    if (segment.flags & TcpFlag.RST) return;
    if (segment.flags & TcpFlag.ACK) {
      this.sendReset(source, segment, segment.acknowledgmentNumber, 0, TcpFlag.RST);
      return;
    }
    const length = segment.payload.length + (segment.flags & TcpFlag.SYN ? 1 : 0) + (segment.flags & TcpFlag.FIN ? 1 : 0);
    this.sendReset(source, segment, 0, seqAdd(segment.sequenceNumber, length), TcpFlag.RST | TcpFlag.ACK);
  }

  private sendReset(source: Ipv4Address, segment: TcpRepr, sequenceNumber: number, acknowledgmentNumber: number, flags: number): void {
    if (!this.resetLimiter.allow(this.currentTime)) {
      this.counters.increment('tcp.tx.rst-rate-limited');
      return;
    }
    this.emitter.emit({
      remoteAddress: source,
      sourcePort: segment.destinationPort,
      destinationPort: segment.sourcePort,
      sequenceNumber,
      acknowledgmentNumber,
      flags,
      window: 0,
    });
  }

  // ---- connection table ---------------------------------------------------------------------

  private lookup(localPort: number, remoteAddress: Ipv4Address, remotePort: number): TcpConnection | undefined {
    return this.table.get(localPort)?.get(remoteAddress * 65536 + remotePort);
  }

  private createConnection(
    localPort: number,
    remoteAddress: Ipv4Address,
    remotePort: number,
    active: boolean,
    iss: number,
    now: Instant,
  ): TcpConnection {
    const connection = new TcpConnection(this.context, this.nextId++, this.localAddress, localPort, remoteAddress, remotePort, {
      active,
      iss,
      now,
    });
    let byRemote = this.table.get(localPort);
    if (byRemote === undefined) {
      byRemote = new Map();
      this.table.set(localPort, byRemote);
    }
    byRemote.set(remoteAddress * 65536 + remotePort, connection);
    this.connectionCount++;
    return connection;
  }

  private release(connection: TcpConnection): void {
    const byRemote = this.table.get(connection.localPort);
    const key = connection.remoteAddress * 65536 + connection.remotePort;
    if (byRemote?.get(key) === connection) {
      byRemote.delete(key);
      if (byRemote.size === 0) this.table.delete(connection.localPort);
      this.connectionCount--;
    }
    this.timeWaits.delete(connection);
    this.leaveBacklog(connection);
  }

  private connectionEstablished(connection: TcpConnection): void {
    if (connection.active) return;
    this.leaveBacklog(connection);
    this.accepts.push(connection);
  }

  private leaveBacklog(connection: TcpConnection): void {
    if (connection.listenerPort === undefined) return;
    const listener = this.listeners.get(connection.listenerPort);
    if (listener !== undefined && listener.halfOpen > 0) listener.halfOpen--;
    connection.listenerPort = undefined;
  }

  private portInUse(port: number): boolean {
    return this.listeners.has(port) || this.table.has(port);
  }

  /** A random free port in the ephemeral range (RFC 6056 §3.3.1: random start, linear probe). */
  private freeListenPort(): number {
    const start = this.random.uint32() % EPHEMERAL_COUNT;
    for (let i = 0; i < EPHEMERAL_COUNT; i++) {
      const port = EPHEMERAL_FIRST + ((start + i) % EPHEMERAL_COUNT);
      if (!this.portInUse(port)) return port;
    }
    throw new NetError(ErrorCode.EADDRINUSE, 'no free ephemeral port');
  }

  private freeConnectPort(remoteAddress: Ipv4Address, remotePort: number): number {
    const start = this.random.uint32() % EPHEMERAL_COUNT;
    for (let i = 0; i < EPHEMERAL_COUNT; i++) {
      const port = EPHEMERAL_FIRST + ((start + i) % EPHEMERAL_COUNT);
      if (!this.listeners.has(port) && this.lookup(port, remoteAddress, remotePort) === undefined) return port;
    }
    throw new NetError(ErrorCode.EADDRNOTAVAIL, 'no free ephemeral port');
  }

  // ---- deferred work ---------------------------------------------------------------------------

  private appCall<T>(run: (now: Instant) => T): T {
    const outermost = this.depth === 0;
    this.enter(outermost ? this.clock.now() : this.currentTime);
    try {
      return run(this.currentTime);
    } finally {
      this.leave();
      if (outermost) this.requestPoll();
    }
  }

  private enter(now: Instant): void {
    if (this.depth === 0) this.currentTime = now;
    this.depth++;
  }

  private leave(): void {
    try {
      if (this.depth === 1) this.flush();
    } finally {
      this.depth--;
    }
  }

  /**
   * Output and timer re-arming for touched connections, then application callbacks.
   * Callbacks may touch connections again; the loop runs until nothing is left.
   */
  private flush(): void {
    const now = this.currentTime;
    while (this.dirty.size > 0 || this.accepts.length > 0) {
      const batch = this.batch;
      batch.length = 0;
      for (const connection of this.dirty) batch.push(connection);
      this.dirty.clear();
      for (const connection of batch) {
        try {
          if (!connection.released) output(connection, now);
          this.schedule(connection);
        } catch (error) {
          this.internalError('output', error);
        }
      }
      const accepted = this.accepts.splice(0);
      for (const connection of accepted) this.deliverAccept(connection);
      for (const connection of batch) connection.deliverNotifications();
    }
  }

  private deliverAccept(connection: TcpConnection): void {
    const listener = this.listeners.get(connection.localPort);
    if (listener === undefined || connection.released) {
      // The listener closed during the handshake.
      if (!connection.released) connection.abort();
      return;
    }
    try {
      listener.onAccept(connection);
    } catch (error) {
      this.counters.increment('tcp.handler-error');
      this.events.emit('handler_error', { id: connection.id, callback: 'onAccept', error: String(error) });
    }
  }

  /** Re-arms the connection's heap entry if its earliest deadline moved earlier. */
  private schedule(connection: TcpConnection): void {
    if (connection.released) return;
    const next = nextDeadline(connection);
    if (next === undefined) return;
    if (connection.scheduledAt === undefined || next < connection.scheduledAt) {
      connection.scheduledAt = next;
      this.timers.push(next, connection);
    }
  }

  private internalError(where: string, error: unknown): void {
    this.counters.increment('tcp.drop.internal-error');
    this.events.emit('tcp_internal_error', { where, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
}

/** Not 0.0.0.0, not limited broadcast, not multicast (224/4) or reserved class E (240/4). */
function isUnicast(address: Ipv4Address): boolean {
  return address !== 0 && address >>> 28 < 0xe;
}
