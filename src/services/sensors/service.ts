/**
 * The sensor line protocol service (SPEC §4) on the device's own TCP: one
 * `SensorSession` per connection, wired to the socket with backpressure both ways.
 *
 * Limits (per connection unless said otherwise), all configurable here:
 * - `maxLine` (config `services.sensors.maxLine`, default 512 bytes): longer lines
 *   get `ERR 413 line too long` and are skipped up to the next LF;
 * - `maxPendingReplies` (default 1024): pipelined requests whose replies are not out
 *   yet; past it the socket is paused, so the TCP window closes on the peer;
 * - `subscriberOutputLimit` (default 64 KiB): VAL output queued beyond the socket's
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
import type { Server } from '../../socket/server.ts';
import type { Socket } from '../../socket/socket.ts';
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
  server: Server;
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
  const sessions = new Map<Socket, SocketSensorSession>();
  const shared: ServiceShared = {
    ...sessionEnvironment({ store: options.store, clock: options.clock, wallClock: options.wallClock, limits, counters: options.counters }),
    events: options.events,
    graceMs: options.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS,
    sessions,
    listeners: sensorListeners(sessions),
  };
  // allowHalfOpen: a sensor that sends its requests and then FIN still gets every reply.
  const server = options.api.createServer({ allowHalfOpen: true }, (socket) => serveSensor(socket, shared));
  server.listen(options.port ?? SENSOR_PORT);
  return {
    server,
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
      server.close();
      for (const socket of sessions.keys()) socket.destroy();
    },
  };
}

/** What the service's connections share: one object per service (their sessions' environment too). */
interface ServiceShared extends SessionEnvironment {
  events: EventSink;
  graceMs: number;
  /** The open connections and their sessions (the socket listeners find theirs here). */
  sessions: Map<Socket, SocketSensorSession>;
  listeners: SensorListeners;
}

/**
 * A session bound to its socket: the session object is the socket's output, and the
 * socket's listeners are functions shared by all the service's connections that find
 * the session in the service's map, so an idle connection costs one object and a map
 * entry, not a closure per listener and per callback (idle memory, issue 13).
 */
class SocketSensorSession extends SensorSessionBase<ServiceShared> {
  constructor(
    private readonly socket: Socket,
    shared: ServiceShared,
  ) {
    super(shared);
  }

  protected write(text: string): boolean {
    return this.socket.write(text);
  }
  protected queuedBytes(): number {
    return this.socket.writableLength;
  }
  protected endOutput(): void {
    const socket = this.socket;
    socket.end();
    // A peer that never reads would hold the socket open forever: reset it after the
    // grace time (the socket's idle timer runs on the stack's clock). destroy() would
    // close gracefully and leave an orphan probing a window that never opens; the reset
    // is what is meant here (issue "bounded for a year").
    socket.setTimeout(this.environment.graceMs, () => socket.resetAndDestroy());
  }
  protected resumeInput(): void {
    this.socket.resume();
  }
  protected sessionEnded(reason: SessionEndReason): void {
    if (reason === 'too_slow') {
      this.environment.events.emit('sensor_too_slow', { remote: `${this.socket.remoteAddress}:${this.socket.remotePort}` });
    }
  }
  protected defaultSource(): string | undefined {
    return this.socket.remoteAddress;
  }
}

/**
 * The socket listeners of one service, shared by all its connections (`this` is the
 * socket; its session is found in the service's map).
 */
interface SensorListeners {
  data(this: Socket, chunk: Buffer): void;
  drain(this: Socket): void;
  end(this: Socket): void;
  close(this: Socket): void;
}

function sensorListeners(sessions: Map<Socket, SocketSensorSession>): SensorListeners {
  return {
    data(chunk) {
      const session = sessions.get(this);
      if (session === undefined) return;
      session.receive(chunk);
      if (!session.acceptingInput) this.pause();
    },
    drain() {
      sessions.get(this)?.outputDrained();
    },
    end() {
      sessions.get(this)?.endOfInput();
    },
    close() {
      const session = sessions.get(this);
      sessions.delete(this);
      session?.close();
    },
  };
}

function serveSensor(socket: Socket, shared: ServiceShared): void {
  socket.setKeepAlive(true);
  socket.setNoDelay(true);
  shared.sessions.set(socket, new SocketSensorSession(socket, shared));
  const listeners = shared.listeners;
  socket.on('data', listeners.data);
  socket.on('drain', listeners.drain);
  socket.on('end', listeners.end);
  socket.on('close', listeners.close);
  // Resets and timeouts end the connection; the 'close' that follows cleans up.
  socket.on('error', destroyOnError);
}

function destroyOnError(this: Socket): void {
  this.destroy();
}
