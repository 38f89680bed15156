/**
 * The sensor line protocol service (SPEC §4) on the device's own TCP: one
 * `SensorSession` per connection, on the bare TCP connection (no socket stream: idle
 * memory, issue 13) with backpressure both ways.
 *
 * Limits (per connection unless said otherwise), all configurable here:
 * - `maxLine` (config `services.sensors.maxLine`, default 512 bytes): longer lines
 *   get `ERR 413 line too long` and are skipped up to the next LF;
 * - `maxPendingReplies` (default 1024): pipelined requests whose replies are not out
 *   yet; past it input is no longer read, so the TCP window closes on the peer;
 * - `subscriberOutputLimit` (default 64 KiB): VAL output queued beyond the TCP
 *   send buffer; past it `ERR 507 too slow` and the connection is closed (FIN, then a
 *   reset if the peer has not taken the data after `closeGraceMs`, default 5 s);
 * - `rateLimit` (config `services.sensors.rateLimit.rate`/`.burst`, default 1000
 *   requests/s, burst 2000): past it `ERR 429 rate limited`;
 * - `maxSubscriptions` (default 16 globs; UNSUB drops them all).
 * Every connection gets TCP keepalive (SPEC §2 `tcp.keepalive.*`), so a sensor on a
 * pulled cable is noticed within seconds.
 *
 * `publish(reading)` is how the firmware stores local readings (I2C, source `i2c`):
 * they go through the same store, so GET, LIST and SUB see them alike.
 */
import type { SocketApi } from '../../socket/net.ts';
import type { ConnectionHandler, TcpConnection } from '../../tcp/connection.ts';
import { formatIpv4 } from '../../net/address.ts';
import type { Clock } from '../../time.ts';
import type { Counters } from '../../stats.ts';
import type { EventSink } from '../../events.ts';
import { isIdentifier, type Reading, type ReadingStore } from '../../storage/readings.ts';
import type { RateLimit } from './rate-limiter.ts';
import { DEFAULT_SESSION_LIMITS, SensorSessionBase, sessionEnvironment, type SessionEndReason, type SessionEnvironment, type SessionLimits, type WallClock } from './session.ts';

export const SENSOR_PORT = 7070;
export const DEFAULT_CLOSE_GRACE_MS = 5_000;

export interface SensorServiceOptions {
  api: SocketApi;
  /** TCP port (config `services.sensors.port`, default 7070); 0 picks a free one. */
  port?: number;
  /** Longest request line in bytes (config `services.sensors.maxLine`). */
  maxLine?: number;
  store: ReadingStore;
  /** Monotonic clock (rate limiting). */
  clock: Clock;
  /** Unix-ms clock (TIME, timestamps of PUTs without one). */
  wallClock: WallClock;
  events: EventSink;
  counters?: Counters;
  rateLimit?: RateLimit;
  maxPendingReplies?: number;
  subscriberOutputLimit?: number;
  maxSubscriptions?: number;
  closeGraceMs?: number;
}

export interface SensorService {
  /** The port it listens on. */
  readonly port: number;
  /** Stores a reading made on the device (I2C); resolves once committed. */
  publish(reading: Reading): Promise<void>;
  /** Open sensor connections. */
  readonly connections: number;
  close(): void;
}

export function startSensorService(options: SensorServiceOptions): SensorService {
  const limits: SessionLimits = {
    maxLine: options.maxLine ?? DEFAULT_SESSION_LIMITS.maxLine,
    maxPendingReplies: options.maxPendingReplies ?? DEFAULT_SESSION_LIMITS.maxPendingReplies,
    subscriberOutputLimit: options.subscriberOutputLimit ?? DEFAULT_SESSION_LIMITS.subscriberOutputLimit,
    maxSubscriptions: options.maxSubscriptions ?? DEFAULT_SESSION_LIMITS.maxSubscriptions,
    rateLimit: options.rateLimit ?? DEFAULT_SESSION_LIMITS.rateLimit,
  };
  const sessions = new Set<ConnectionSensorSession>();
  const shared: ServiceShared = {
    ...sessionEnvironment({ store: options.store, clock: options.clock, wallClock: options.wallClock, limits, counters: options.counters }),
    events: options.events,
    graceMs: options.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS,
    sessions,
  };
  const listener = options.api.listenConnections(options.port ?? SENSOR_PORT, {}, (connection) => serveSensor(connection, shared));
  return {
    port: listener.port,
    publish: (reading) => {
      if (!isIdentifier(reading.name) || !isIdentifier(reading.source) || !Number.isFinite(reading.value)) {
        return Promise.reject(new RangeError(`publish: invalid reading ${JSON.stringify(reading)}`));
      }
      return options.store.append(reading);
    },
    get connections() {
      return sessions.size;
    },
    close: () => {
      listener.close();
      for (const session of [...sessions]) session.closeByService();
    },
  };
}

/** What the service's connections share: one object per service (their sessions' environment too). */
interface ServiceShared extends SessionEnvironment {
  events: EventSink;
  graceMs: number;
  /** The open connections' sessions. */
  sessions: Set<ConnectionSensorSession>;
}

/** Largest chunk taken from the receive buffer in one read. */
const READ_CHUNK = 64 * 1024;
/**
 * Output queued beyond the TCP send buffer at which `write` asks the session to wait for
 * `outputDrained()`: the socket's writable high-water mark it replaces (node:stream's 16 KiB).
 */
const OUTPUT_HIGH_WATER = 16 * 1024;
const NO_OUTPUT: Uint8Array[] = [];
const ENCODER = new TextEncoder();

/** The transport's yes/no state, one small integer (`ConnectionSensorSession.transport`). */
const Transport = {
  /** `write` returned false: `outputDrained()` is owed once the queue empties. */
  DRAIN_OWED: 1,
  /** The session asked to close (`endOutput`): FIN once the queue is empty. */
  END_REQUESTED: 2,
  /** The FIN was queued (`shutdown`). */
  FIN_QUEUED: 4,
  /** The peer's FIN arrived. */
  REMOTE_FIN: 8,
  /** `endOfInput()` was given to the session. */
  INPUT_END_DELIVERED: 16,
  /** The connection closed (or the service let go of it): nothing more is read or written. */
  CLOSED: 32,
  /** Inside `pumpInput` (a reply written there may resume input re-entrantly). */
  READING: 64,
  /** The session ended itself (QUIT, ERR 507, end of input): what still arrives is read and dropped. */
  DISCARDING: 128,
} as const;

/**
 * A session on a bare TCP connection: the session is the connection's handler, so an idle
 * sensor costs the connection, this object and a set entry, with no stream, no listener
 * arrays and no closures (idle memory, issue 13). What a socket did for the service:
 *   - input: read from the receive buffer only while the session accepts input, so
 *     pipelined requests beyond `maxPendingReplies` close the TCP window on the peer;
 *   - output: into the send buffer; what it cannot take waits here (`queuedBytes`, the
 *     socket's writableLength), and `write` says "wait" past OUTPUT_HIGH_WATER;
 *   - end: FIN after the queued output, then a reset if no data has moved for the grace
 *     time (the connection's idle timer runs on the stack's clock), so a peer that never
 *     reads cannot hold the connection open forever (issue "bounded for a year").
 * With allowHalfOpen, as the socket was: a sensor that sends its requests and then FIN
 * still gets every reply.
 */
class ConnectionSensorSession extends SensorSessionBase<ServiceShared> implements ConnectionHandler {
  /** Output the send buffer could not take yet, oldest first; `NO_OUTPUT` while empty. */
  private output = NO_OUTPUT;
  /** Bytes of `output[0]` already sent. */
  private outputOffset = 0;
  private outputBytes = 0;
  private transport = 0;

  constructor(
    readonly connection: TcpConnection,
    shared: ServiceShared,
  ) {
    super(shared);
  }

  // ---- the session's output ------------------------------------------------------------

  protected write(text: string): boolean {
    if ((this.transport & Transport.CLOSED) !== 0) return true;
    const bytes = ENCODER.encode(text);
    let taken = 0;
    if (this.outputBytes === 0) taken = this.connection.send(bytes);
    if (taken < bytes.length) {
      if (this.output === NO_OUTPUT) this.output = [];
      this.output.push(taken === 0 ? bytes : bytes.subarray(taken));
      this.outputBytes += bytes.length - taken;
    }
    if (this.outputBytes < OUTPUT_HIGH_WATER) return true;
    this.transport |= Transport.DRAIN_OWED;
    return false;
  }

  protected queuedBytes(): number {
    return this.outputBytes;
  }

  protected endOutput(): void {
    if ((this.transport & Transport.CLOSED) !== 0) return;
    this.transport |= Transport.END_REQUESTED;
    this.finishOutput();
    // A peer that never reads would hold the connection open forever: reset it once no
    // data has moved for the grace time (onIdleTimeout).
    this.connection.setIdleTimeout(this.environment.graceMs);
  }

  protected resumeInput(): void {
    this.pumpInput();
  }

  protected sessionEnded(reason: SessionEndReason): void {
    if (reason === 'too_slow') {
      this.environment.events.emit('sensor_too_slow', { remote: `${formatIpv4(this.connection.remoteAddress)}:${this.connection.remotePort}` });
    }
    // As the socket did: input after the end is read and dropped, so the window stays open
    // and the peer's close is not held up by data nobody will read.
    this.transport |= Transport.DISCARDING;
    this.pumpInput();
  }

  protected defaultSource(): string | undefined {
    return formatIpv4(this.connection.remoteAddress);
  }

  // ---- the connection's events (ConnectionHandler) ------------------------------------

  onEstablished(): void {
    // Passive opens are announced by the listener's onAccept.
  }

  onReadable(): void {
    this.pumpInput();
  }

  onWritable(): void {
    this.pumpOutput();
  }

  onRemoteFin(): void {
    this.transport |= Transport.REMOTE_FIN;
    this.pumpInput();
  }

  onIdleTimeout(): void {
    // Only endOutput sets the idle timer: the grace time is over.
    this.connection.abort();
  }

  onClose(): void {
    this.release();
  }

  /** The service closes: let go of the connection as a socket's destroy() did (FIN, or RST with unread data). */
  closeByService(): void {
    if ((this.transport & Transport.CLOSED) !== 0) return;
    this.release();
    this.connection.orphan();
  }

  private release(): void {
    if ((this.transport & Transport.CLOSED) !== 0) return;
    this.transport |= Transport.CLOSED;
    this.output = NO_OUTPUT;
    this.outputBytes = 0;
    this.environment.sessions.delete(this);
    this.close();
  }

  // ---- data movement ---------------------------------------------------------------------

  /** Reads while the session takes input; the end of input once the peer's FIN and its data are in. */
  private pumpInput(): void {
    const transport = this.transport;
    if ((transport & (Transport.CLOSED | Transport.READING)) !== 0) return;
    this.transport = transport | Transport.READING;
    try {
      const connection = this.connection;
      while ((this.acceptingInput || (this.transport & Transport.DISCARDING) !== 0) && (this.transport & Transport.CLOSED) === 0) {
        const chunk = connection.read(READ_CHUNK);
        if (chunk === undefined) break;
        this.receive(chunk);
      }
    } finally {
      this.transport &= ~Transport.READING;
    }
    const ended = Transport.REMOTE_FIN | Transport.INPUT_END_DELIVERED | Transport.CLOSED;
    if ((this.transport & ended) === Transport.REMOTE_FIN && this.connection.readableLength === 0) {
      this.transport |= Transport.INPUT_END_DELIVERED;
      this.endOfInput();
    }
  }

  /** Hands queued output to the send buffer; `outputDrained()` and the FIN once it is all taken. */
  private pumpOutput(): void {
    if (this.outputBytes === 0 || (this.transport & Transport.CLOSED) !== 0) return;
    const taken = this.connection.sendChunks(this.output, 0, this.outputOffset);
    this.outputBytes -= taken;
    let left = taken;
    while (left > 0) {
      const rest = this.output[0]!.length - this.outputOffset;
      if (left < rest) {
        this.outputOffset += left;
        break;
      }
      left -= rest;
      this.output.shift();
      this.outputOffset = 0;
    }
    if (this.outputBytes > 0) return;
    this.output = NO_OUTPUT;
    this.outputOffset = 0;
    this.finishOutput();
    if ((this.transport & Transport.DRAIN_OWED) !== 0) {
      this.transport &= ~Transport.DRAIN_OWED;
      this.outputDrained();
    }
  }

  /** The FIN, once the session asked for it and its output is all in the send buffer. */
  private finishOutput(): void {
    if ((this.transport & (Transport.END_REQUESTED | Transport.FIN_QUEUED)) !== Transport.END_REQUESTED || this.outputBytes > 0) return;
    this.transport |= Transport.FIN_QUEUED;
    this.connection.shutdown();
  }
}

function serveSensor(connection: TcpConnection, shared: ServiceShared): void {
  const session = new ConnectionSensorSession(connection, shared);
  shared.sessions.add(session);
  connection.handler = session;
  connection.setKeepAlive(true);
  connection.setNoDelay(true);
  // Data that arrived with the handshake's last ACK is already waiting.
  if (connection.readableLength > 0) session.onReadable();
}
