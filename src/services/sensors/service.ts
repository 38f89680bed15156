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
import { DEFAULT_SESSION_LIMITS, SensorSession, type SessionLimits, type WallClock } from './session.ts';

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
  const sockets = new Set<Socket>();
  // allowHalfOpen: a sensor that sends its requests and then FIN still gets every reply.
  const server = options.api.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    serveSensor(socket, options, limits);
  });
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
      return sockets.size;
    },
    close: () => {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}

function serveSensor(socket: Socket, options: SensorServiceOptions, limits: SessionLimits): void {
  const graceMs = options.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
  socket.setKeepAlive(true);
  socket.setNoDelay(true);
  const session = new SensorSession({
    store: options.store,
    clock: options.clock,
    wallClock: options.wallClock,
    limits,
    counters: options.counters,
    defaultSource: socket.remoteAddress,
    output: {
      write: (text) => socket.write(text),
      get queuedBytes() {
        return socket.writableLength;
      },
      end: () => {
        socket.end();
        // A peer that never reads would hold the socket open forever: reset it
        // after the grace time (the socket's idle timer runs on the stack's clock).
        // destroy() would close gracefully and leave an orphan probing a window that never
        // opens; the reset is what is meant here (issue "bounded for a year").
        socket.setTimeout(graceMs, () => socket.resetAndDestroy());
      },
    },
    resumeInput: () => socket.resume(),
    onEnd: (reason) => {
      if (reason === 'too_slow') {
        options.events.emit('sensor_too_slow', { remote: `${socket.remoteAddress}:${socket.remotePort}` });
      }
    },
  });
  socket.on('data', (chunk: Buffer) => {
    session.receive(chunk);
    if (!session.acceptingInput) socket.pause();
  });
  socket.on('drain', () => session.outputDrained());
  socket.on('end', () => session.endOfInput());
  socket.on('close', () => session.close());
  // Resets and timeouts end the connection; the 'close' that follows cleans up.
  socket.on('error', () => socket.destroy());
}
