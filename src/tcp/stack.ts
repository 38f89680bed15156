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
 * Limits (SPEC section 2): beyond maxConnections, or synBacklog half-open connections on
 * a listener, a SYN is dropped silently (counted), as Linux does when its queues are
 * full: the client retransmits and may get in later, and no state is spent on it.
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

class Listener implements TcpListener {
  /** SYN-RECEIVED connections created by this listener. */
  halfOpen = 0;
  closed = false;

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
      if (this.connectionCount >= this.config.maxConnections) {
        this.counters.increment('tcp.connect.connection-limit');
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
    if (connection !== undefined && connection.state === 'TIME-WAIT' && this.reopensTimeWait(connection, segment)) {
      // RFC 9293 §3.10.7.4 / RFC 6191: a new SYN with a higher sequence number may end
      // TIME-WAIT early and start a new incarnation; it then goes to the listener.
      this.counters.increment('tcp.rx.time-wait-reuse');
      connection.setState('CLOSED', 'fin');
      connection = undefined;
    }
    if (connection !== undefined) {
      segmentArrives(connection, segment, now);
      return;
    }
    const listener = this.listeners.get(segment.destinationPort);
    if (listener !== undefined) {
      this.listenArrives(listener, source, segment, now);
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
  private listenArrives(listener: Listener, source: Ipv4Address, segment: TcpRepr, now: Instant): void {
    const flags = segment.flags;
    if (flags & TcpFlag.RST) {
      this.counters.increment('tcp.drop.listen-rst');
      return;
    }
    if (flags & TcpFlag.ACK) {
      // <SEQ=SEG.ACK><CTL=RST>
      this.counters.increment('tcp.drop.listen-ack');
      this.sendReset(source, segment, segment.acknowledgmentNumber, 0, TcpFlag.RST);
      return;
    }
    if ((flags & TcpFlag.SYN) === 0) {
      this.counters.increment('tcp.drop.listen-no-syn');
      return;
    }
    if (this.connectionCount >= this.config.maxConnections) {
      this.counters.increment('tcp.drop.connection-limit');
      this.events.emit('tcp_limit', { limit: 'connections', port: listener.port });
      return;
    }
    if (listener.halfOpen >= listener.backlog) {
      this.counters.increment('tcp.drop.backlog-full');
      return;
    }
    const iss = this.isn.next(this.localAddress, listener.port, source, segment.sourcePort, now);
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
