/**
 * TcpStack: the TCP layer of one interface address, a small facade over the modules
 * that each own one rule:
 *
 *   demux.ts      the connection table (RFC 9293 §3.10.7) and ephemeral ports (RFC 6056)
 *   listen.ts     listeners, the passive open (§3.10.7.2) and SYN cookies (RFC 4987)
 *   closed.ts     the RST for a segment that has no connection (§3.10.7.1)
 *   time-wait.ts  TIME-WAIT bounds, recycling and early reopening (§3.4.2, RFC 6191)
 *   limits.ts     resource limits (`resource_limit`) and rate limits (RFC 5961 §7)
 *   scheduler.ts  the entry-point discipline (deferred output and callbacks) and the
 *                 deadline queue of connection timers
 *   connection.ts input.ts output.ts timers.ts tcb.ts: one connection
 *
 * Entry points are input(), poll() and the application calls on TcpConnection (each
 * runs through the scheduler). Segments are parsed with src/wire/tcp.ts, checksum
 * verified, and sent through the interface layer's `sendIpv4` (emitter.ts).
 *
 * Limits (SPEC section 2): synBacklog half-open connections per listener (then SYN
 * cookies); maxConnections (the oldest TIME-WAIT connection is recycled to make room,
 * else the SYN is dropped silently and counted: the client retransmits and may get in
 * later); timeWaitMax (optional). Each limit hit is reported as `resource_limit`.
 */
import { BufferBudget } from './buffer-budget.ts';
import type { Clock, Instant, Pollable } from '../time.ts';
import type { CounterHandle, Counters } from '../stats.ts';
import type { EventSink } from '../events.ts';
import type { RandomSource } from '../random.ts';
import type { Ipv4Address } from '../net/address.ts';
import { ErrorCode, NetError } from '../errors.ts';
import { parseTcpInto, reusableTcpRepr, type TcpRepr } from '../wire/tcp.ts';
import type { ConnectionSettings, TcpConfig } from './config.ts';
import { TcpConnection, type ConnectionContext } from './connection.ts';
import { segmentArrives } from './input.ts';
import { timersExpired } from './timers.ts';
import { Rfc6528Isn, type IsnSource } from './isn.ts';
import { SynCookies } from './syn-cookie.ts';
import { SegmentEmitter, type IpSender } from './emitter.ts';
import { ConnectionTable, freeEphemeralPort, isUnicast } from './demux.ts';
import { Listeners, type ListenOptions, type TcpListener } from './listen.ts';
import { resetNoConnection } from './closed.ts';
import { TimeWaitTable } from './time-wait.ts';
import { StackLimits } from './limits.ts';
import { Scheduler } from './scheduler.ts';
import { BufferPool } from '../storage/buffer-pool.ts';
import { RecordStoragePool } from './scoreboard.ts';
import type { IcmpErrorReport } from '../net/icmp-error.ts';
import { readUint16, readUint32 } from '../wire/bytes.ts';
import { icmpErrorArrives } from './icmp-error.ts';
import { PathMtuCache } from './path-mtu-cache.ts';
import { KeyedTimestampOffsets, type TimestampOffsets } from './timestamps.ts';

export type { IpSender, IpSendResult } from './emitter.ts';
export type { TcpConnection } from './connection.ts';
export type { ListenOptions, TcpListener } from './listen.ts';
export { CHALLENGE_ACKS_PER_SECOND, RESETS_PER_SECOND, LIMIT_REPORT_INTERVAL_MS } from './limits.ts';

/**
 * Drained send and receive buffers kept for reuse (BufferPool): enough for bursts on a
 * few dozen connections without garbage; beyond it they go back to the collector.
 */
const POOLED_BUFFER_BYTES = 1024 * 1024;
/**
 * Scoreboard record storage kept for reuse (RecordStoragePool): a default connection's
 * is 32 records (544 bytes, 16 KiB of 1,460-byte segments), so this keeps some 240.
 */
const POOLED_RECORD_BYTES = 128 * 1024;

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
  /** RFC 7323 timestamp offsets; default a keyed hash of the address pair. Tests inject fixed ones. */
  timestampOffsets?: TimestampOffsets;
}

export interface ConnectOptions extends ConnectionSettings {
  localPort?: number;
  /** ms for the handshake to complete before the connection fails with ETIMEDOUT. */
  timeout?: number;
}

export class TcpStack implements Pollable {
  private readonly localAddress: Ipv4Address;
  private readonly config: TcpConfig;
  private readonly random: RandomSource;
  private readonly counters: Counters;
  private readonly isn: IsnSource;
  private readonly timestampOffsets: TimestampOffsets;
  private readonly emitter: SegmentEmitter;
  private readonly limits: StackLimits;
  private readonly table = new ConnectionTable();
  /** Buffer capacity above the defaults, stack-wide (buffer-budget.ts). */
  readonly bufferBudget: BufferBudget;
  private readonly timeWaits: TimeWaitTable;
  private readonly listeners: Listeners;
  private readonly scheduler: Scheduler;
  private readonly context: ConnectionContext;
  /** Orphans, oldest first (Linux tcp_max_orphans). */
  private readonly orphans = new Set<TcpConnection>();
  /** The segment being handled: parsed into one reused repr (no allocation per segment). */
  private readonly rxSegment = reusableTcpRepr();
  private dispatching = false;
  private readonly rxSegments: CounterHandle;
  /** Path MTUs learned from ICMP (RFC 1191 §6.3), per destination, bounded. */
  readonly pathMtu = new PathMtuCache();
  private nextId = 1;

  constructor(options: TcpStackOptions) {
    this.localAddress = options.localAddress >>> 0;
    this.config = options.config;
    this.random = options.random;
    this.counters = options.counters;
    this.rxSegments = options.counters.handle('tcp.rx.segments');
    this.isn = options.isn ?? new Rfc6528Isn(options.random);
    this.timestampOffsets = options.timestampOffsets ?? new KeyedTimestampOffsets(options.random);
    this.emitter = new SegmentEmitter(options.ip, this.localAddress, this.counters);
    this.limits = new StackLimits(options.events, options.random);
    this.bufferBudget = new BufferBudget(this.config.bufferBudget);
    this.timeWaits = new TimeWaitTable({
      counters: this.counters,
      emitter: this.emitter,
      lifetime: 2 * this.config.msl,
      bound: this.config.timeWaitMax,
      allowChallengeAck: (now) => this.limits.challengeAcks.allow(now),
    });
    this.scheduler = new Scheduler(options.clock, this.counters, options.events, options.requestPoll ?? (() => undefined), (connection) =>
      this.listeners.deliverAccept(connection),
    );
    this.listeners = new Listeners({
      localAddress: this.localAddress,
      config: this.config,
      counters: this.counters,
      events: options.events,
      emitter: this.emitter,
      limits: this.limits,
      isn: this.isn,
      cookies: new SynCookies(options.random),
      timestampOffsets: this.timestampOffsets,
      roomForConnection: (port, now) => this.roomForConnection(port, now),
      createConnection: (localPort, remoteAddress, remotePort, iss, now, settings) =>
        this.createConnection(localPort, remoteAddress, remotePort, false, iss, now, settings),
      connectionsOn: (port) => this.table.onLocalPort(port),
      resetNoConnection: (source, segment) =>
        resetNoConnection(this.emitter, this.limits.closedPortResets, this.counters, this.scheduler.now, source, segment),
    });
    const scheduler = this.scheduler;
    this.context = {
      get now() {
        return scheduler.now;
      },
      config: this.config,
      counters: this.counters,
      events: options.events,
      emitter: this.emitter,
      buffers: new BufferPool(POOLED_BUFFER_BYTES),
      recordStorage: new RecordStoragePool(POOLED_RECORD_BYTES),
      bufferBudget: this.bufferBudget,
      appCall: (run) => scheduler.appCall(run),
      enterApp: () => scheduler.enterApp(),
      leaveApp: (outermost) => scheduler.leaveApp(outermost),
      touch: (connection) => scheduler.touch(connection),
      get receiveBatchOpen() {
        return scheduler.receiveBatchOpen;
      },
      outputNow: (connection, readFirst) => scheduler.outputNow(connection, readFirst),
      established: (connection) => {
        if (connection.active) return;
        this.listeners.leaveBacklog(connection);
        scheduler.accepted(connection);
      },
      released: (connection) => {
        this.bufferBudget.release(connection.reservedBufferBytes);
        connection.reservedBufferBytes = 0;
        scheduler.forget(connection);
        this.orphans.delete(connection);
        this.table.remove(connection);
        this.listeners.leaveBacklog(connection);
      },
      enteredTimeWait: (connection) => {
        const handle = this.timeWaits.add({
          localPort: connection.localPort,
          remoteAddress: connection.remoteAddress,
          remotePort: connection.remotePort,
          sndNxt: connection.tcb.sndMax,
          rcvNxt: connection.tcb.rcvNxt,
          window: connection.receiveWindow() / (1 << connection.tcb.rcvShift),
          timestamps: connection.tcb.timestamps,
          tsOffset: connection.tcb.tsOffset,
          tsRecent: connection.tcb.tsRecent,
          tsRecentAt: connection.tcb.tsRecentAt,
          expiresAt: scheduler.now + 2 * this.config.msl,
        });
        return () => this.timeWaits.holds(handle);
      },
      orphaned: (connection) => {
        this.orphans.add(connection);
        if (this.orphans.size <= this.config.maxOrphans) return;
        const oldest = this.orphans.values().next();
        if (oldest.done === true) return;
        this.counters.increment('tcp.orphans.reset');
        oldest.value.abortNow();
      },
      allowChallengeAck: (now) => this.limits.challengeAcks.allow(now),
      pathMtu: this.pathMtu,
    };
  }

  // ---- entry points ------------------------------------------------------------------------

  /** A TCP segment (the IPv4 payload) from `source` to `destination`. Never throws. */
  input(source: Ipv4Address, destination: Ipv4Address, ipPayload: Uint8Array, now: Instant): void {
    this.inputRange(source, destination, ipPayload, 0, ipPayload.length, now);
  }

  /**
   * `input` of the segment `bytes[start, end)`: the interface's per-packet path, no view of
   * the IP payload. `checksumGood`: the device verified the segment's checksum already.
   */
  inputRange(source: Ipv4Address, destination: Ipv4Address, bytes: Uint8Array, start: number, end: number, now: Instant, checksumGood = false): void {
    // `scheduler.run` spelled out: no closure per segment.
    this.scheduler.enter(now);
    try {
      this.rxSegments.value++; // tcp.rx.segments
      this.dispatch(source >>> 0, destination >>> 0, bytes, start, end, now, checksumGood);
    } catch (error) {
      this.scheduler.internalError('input', error);
    } finally {
      this.scheduler.leave();
    }
  }

  /**
   * Opens a receive batch at `now` (NetStack.beginBatch): the segments up to endBatch()
   * are input at that instant, and what they cause runs once at its end (scheduler.ts).
   */
  beginBatch(now: Instant): void {
    this.scheduler.beginReceiveBatch(now);
  }

  /** The open receive batch goes on at `now` (NetStack.continueBatch): later input and its end run then. */
  continueBatch(now: Instant): void {
    this.scheduler.advanceReceiveBatch(now);
  }

  /** Ends the receive batch: stretch ACKs, output, timers and callbacks. Never throws. */
  endBatch(): void {
    try {
      this.scheduler.endReceiveBatch();
    } catch (error) {
      this.scheduler.internalError('batch', error);
    }
  }

  /**
   * An ICMP error quoting a TCP segment we sent (the interface checked that it came from
   * our address; src/net/icmp-error.ts). Counted in exactly one `tcp.icmp.*` counter
   * (icmp-error.ts lists them). Never throws.
   */
  icmpError(report: IcmpErrorReport, now: Instant): void {
    this.scheduler.run(now, () => {
      try {
        this.counters.increment(this.icmpErrorOutcome(report, now));
      } catch (error) {
        this.scheduler.internalError('icmp', error);
      }
    });
  }

  pollAt(): Instant | undefined {
    const connections = this.scheduler.pollAt();
    const timeWaits = this.timeWaits.pollAt();
    if (connections === undefined) return timeWaits;
    return timeWaits === undefined ? connections : Math.min(connections, timeWaits);
  }

  /** Runs the timers due at `now`. Deadlines that become due during this call wait for the next poll. */
  poll(now: Instant): void {
    this.scheduler.run(now, () => {
      this.timeWaits.poll(now);
      for (let connection = this.scheduler.takeDue(now); connection !== undefined; connection = this.scheduler.takeDue(now)) {
        if (connection.released) continue;
        try {
          timersExpired(connection, now);
        } catch (error) {
          this.scheduler.internalError('timer', error);
        }
        this.scheduler.touch(connection);
      }
    });
  }

  /**
   * Listens on `port` (0 picks a free ephemeral port). Accepted connections are handed
   * to `onAccept` once ESTABLISHED; set their handler there.
   */
  listen(port: number, options: ListenOptions, onAccept: (connection: TcpConnection) => void): TcpListener {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new NetError(ErrorCode.EINVAL, `bad port ${port}`);
    let chosen = port;
    if (port === 0) {
      const free = freeEphemeralPort(this.random, (candidate) => !this.listeners.has(candidate) && !this.table.usesLocalPort(candidate));
      if (free === undefined) throw new NetError(ErrorCode.EADDRINUSE, 'no free ephemeral port');
      chosen = free;
    }
    return this.listeners.listen(chosen, options, onAccept);
  }

  /** Active open (RFC 9293 §3.10.1): returns the connection in SYN-SENT, its SYN sent. */
  connect(remoteAddress: Ipv4Address, remotePort: number, options: ConnectOptions = {}): TcpConnection {
    return this.scheduler.appCall((now) => {
      const remote = remoteAddress >>> 0;
      // RFC 9293 MUST-46: an OPEN to a broadcast or multicast (or unspecified, class E) address is an error.
      if (!isUnicast(remote)) throw new NetError(ErrorCode.EINVAL, 'bad remote address: not unicast');
      if (!Number.isInteger(remotePort) || remotePort < 1 || remotePort > 65535) {
        throw new NetError(ErrorCode.EINVAL, `bad remote port ${remotePort}`);
      }
      if (!this.roomForConnection(0, now)) {
        this.counters.increment('tcp.connect.connection-limit');
        throw new NetError(ErrorCode.ENOBUFS, 'connection limit reached');
      }
      let localPort = options.localPort ?? 0;
      if (localPort === 0) {
        localPort = this.table.freeConnectPort(
          this.random,
          remote,
          remotePort,
          (port) => this.listeners.has(port) || this.timeWaits.lookup(port, remote, remotePort) !== -1,
        );
      } else if (!Number.isInteger(localPort) || localPort < 1 || localPort > 65535) {
        throw new NetError(ErrorCode.EINVAL, `bad local port ${localPort}`);
      } else if (this.table.lookup(localPort, remote, remotePort) !== undefined || this.timeWaits.lookup(localPort, remote, remotePort) !== -1) {
        throw new NetError(ErrorCode.EADDRINUSE, `${localPort} is already connected to that peer`);
      }
      const iss = this.isn.next(this.localAddress, localPort, remote, remotePort, now);
      const connection = this.createConnection(localPort, remote, remotePort, true, iss, now, options);
      connection.setState('SYN-SENT');
      if (options.timeout !== undefined && options.timeout > 0) connection.connectDeadline = now + options.timeout;
      return connection;
    });
  }

  connections(): Iterable<TcpConnection> {
    return this.table.values();
  }

  /** Tuples held in TIME-WAIT (compact records, not connections). */
  get timeWaitCount(): number {
    return this.timeWaits.size;
  }

  /** Connections the application has let go of that are still closing. */
  get orphanCount(): number {
    return this.orphans.size;
  }

  // ---- segment demultiplexing -----------------------------------------------------------------

  private dispatch(source: Ipv4Address, destination: Ipv4Address, bytes: Uint8Array, start: number, end: number, now: Instant, checksumGood: boolean): void {
    // One repr reused for every segment (parseTcpInto). No path reads its segment after
    // an emission today, but a segment arriving during another's dispatch (an IP layer
    // that delivers synchronously, as a loopback would) still gets its own repr, so a
    // later change cannot make one segment's handling read another's fields.
    const segment = this.dispatching ? reusableTcpRepr() : this.rxSegment;
    const error = parseTcpInto(bytes, source, destination, segment, !checksumGood, start, end);
    if (error !== undefined) {
      this.counters.increment(`tcp.drop.${error}`);
      return;
    }
    const outer = this.dispatching;
    this.dispatching = true;
    try {
      this.dispatchSegment(source, destination, segment, now);
    } finally {
      this.dispatching = outer;
    }
  }

  private dispatchSegment(source: Ipv4Address, destination: Ipv4Address, segment: TcpRepr, now: Instant): void {
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
    const connection = this.table.lookup(segment.destinationPort, source, segment.sourcePort);
    if (connection !== undefined) {
      segmentArrives(connection, segment, now);
      return;
    }
    let minimumIss: number | undefined;
    const timeWait = this.timeWaits.lookup(segment.destinationPort, source, segment.sourcePort);
    if (timeWait !== -1) {
      // A new incarnation (RFC 6191) gets a minimum ISS; anything else was handled there.
      minimumIss = this.timeWaits.segmentArrives(timeWait, segment, this.listeners.acceptsWithState(segment.destinationPort), now);
      if (minimumIss === undefined) return;
    }
    if (this.listeners.arrives(source, segment, now, minimumIss)) return;
    this.counters.increment('tcp.drop.no-listener');
    resetNoConnection(this.emitter, this.limits.closedPortResets, this.counters, now, source, segment);
  }

  /** RFC 1122 §4.2.3.9, RFC 5927: the quoted header names the connection (RFC 792: its first 8 bytes are quoted). */
  private icmpErrorOutcome(report: IcmpErrorReport, now: Instant): string {
    const quoted = report.quotedTransport;
    if (quoted.length < 8) return 'tcp.icmp.drop.truncated';
    if (report.quotedSource >>> 0 !== this.localAddress) return 'tcp.icmp.drop.not-local';
    const localPort = readUint16(quoted, 0);
    const remotePort = readUint16(quoted, 2);
    const connection = this.table.lookup(localPort, report.quotedDestination >>> 0, remotePort);
    // Listeners, TIME-WAIT records and closed ports have nothing in flight (Linux ignores them too).
    if (connection === undefined || connection.released) return 'tcp.icmp.drop.no-connection';
    return icmpErrorArrives(connection, report, readUint32(quoted, 4) >>> 0, this.pathMtu, now);
  }

  // ---- connection table ---------------------------------------------------------------------

  /**
   * Room for one more connection: below maxConnections, or the oldest TIME-WAIT entry
   * recycled to make it. Otherwise the limit is reported (`resource_limit`): false.
   */
  private roomForConnection(port: number, now: Instant): boolean {
    if (this.table.size + this.timeWaits.size < this.config.maxConnections || this.timeWaits.recycleOldest()) return true;
    this.limits.reached('connections', port, now, `connection limit of ${this.config.maxConnections} reached`);
    return false;
  }

  private createConnection(
    localPort: number,
    remoteAddress: Ipv4Address,
    remotePort: number,
    active: boolean,
    iss: number,
    now: Instant,
    settings: ConnectionSettings | undefined,
  ): TcpConnection {
    const connection = new TcpConnection(this.context, this.nextId++, this.localAddress, localPort, remoteAddress, remotePort, {
      active,
      iss,
      now,
      settings,
    });
    connection.tcb.tsOffset = this.timestampOffsets.offset(this.localAddress, remoteAddress);
    this.table.insert(connection);
    return connection;
  }
}
