/**
 * The status page (SPEC §5a): Node's own `http` server on the device's piwire
 * listener, for a technician's phone. Read-only; login with the shell's users.
 *
 *   GET  /              the page (or the login form without a session)
 *   POST /login         form user + password → session cookie (303 to /), or 401
 *   POST /logout        ends the session
 *   GET  /events        server-sent events: a `snapshot` now and every `updateMs`
 *   GET  /api/status    the same snapshot as JSON
 *   GET  /style.css, /app.js, /uPlot.iife.min.js, /uPlot.min.css   static, no login
 *
 * A snapshot: { at (unix ms), status, leds [{led, pattern, code}], faults [text],
 * connections [conns --json rows], counters {non-zero}, sensors [latest], series
 * {name: [{at, value}] (last SERIES_POINTS)} }.
 *
 * Login checks the password against the stored form as the shell's TLS port does
 * (scrypt, constant-time compare; an unknown user costs the same as a known one), and
 * shares the shell's LoginLockout (failures on either count towards the same lockout,
 * fault 6) and VerificationQueue (one bound on concurrent scrypt for both; 503 beyond). Plain HTTP carries the password in clear on the LAN: the page says
 * so in the README; the remote shell's TLS port is the protected way in.
 *
 * Bounds: sessions (sessions.ts), at most `maxStreams` event streams (503 beyond), a
 * stream whose client stopped reading is closed past STREAM_BACKLOG bytes, login
 * bodies past MAX_FORM_BYTES get 413, at most `maxConnections` TCP connections ('drop'
 * beyond), at most MAX_SERIES names charted. Timers come in as `every` (src has none).
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { EventSink } from '../../events.ts';
import type { RandomSource } from '../../random.ts';
import type { SocketApi } from '../../socket/net.ts';
import type { Server } from '../../socket/server.ts';
import type { Clock } from '../../time.ts';
import type { ShellContext } from '../shell/context.ts';
import { connectionJson } from '../shell/commands.ts';
import { decoySecret, parseStoredSecret, verifyPassword, type StoredSecret } from '../shell/auth.ts';
import type { LoginLockout } from '../shell/lockout.ts';
import { userEntry, type ShellUserEntry } from '../shell/roles.ts';
import type { VerificationQueue } from '../shell/verification-queue.ts';
import { SessionTable } from './sessions.ts';
import { loginPage, SCRIPT, statusPage, STYLE } from './page.ts';

export const DEFAULT_STATUS_PAGE_PORT = 8080;
export const SERIES_POINTS = 120;
export const MAX_SERIES = 16;
export const MAX_FORM_BYTES = 4096;
export const STREAM_BACKLOG = 256 * 1024;
const COOKIE = 'piwire_session';

export type StatusSource = Pick<ShellContext, 'status' | 'leds' | 'connections' | 'counters' | 'sensors' | 'readings'>;

export interface StatusPageOptions {
  api: SocketApi;
  /** Port on the device's stack (0 = ephemeral, for tests). */
  port: number;
  /** `services.shell.users`: both roles may look at the page (it is read-only). */
  users: Readonly<Record<string, ShellUserEntry>>;
  source: StatusSource;
  /** Monotonic clock (sessions). */
  clock: Clock;
  /** Unix-ms clock (snapshot timestamps). */
  wallClock: Clock;
  random: RandomSource;
  events: EventSink;
  /** The shell's lockout: one count of failures for both ways in. */
  lockout: LoginLockout;
  /** The shell's bound on concurrent scrypt verifications: one login cost for both. */
  verifications: VerificationQueue;
  /** Calls `tick` every `ms` until the returned function is called (firmware: setInterval). */
  every: (ms: number, tick: () => void) => () => void;
  /** The charting library (uPlot), read by the firmware from node_modules. */
  assets: { uPlotScript: string; uPlotStyle: string };
  /** Shown in the title: the device's address or name. */
  deviceName: string;
  updateMs?: number;
  maxStreams?: number;
  maxConnections?: number;
}

export interface StatusSnapshot {
  at: number;
  status: Record<string, unknown>;
  leds: ReturnType<StatusSource['leds']>;
  faults: string[];
  connections: Record<string, unknown>[];
  counters: Record<string, number>;
  sensors: ReturnType<StatusSource['sensors']>;
  series: Record<string, { at: number; value: number }[]>;
}

export interface StatusPage {
  readonly listener: Server;
  /** Event streams currently open. */
  readonly streams: number;
  snapshot(): StatusSnapshot;
  close(): void;
}

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export function startStatusPage(options: StatusPageOptions): StatusPage {
  const users = new Map<string, StoredSecret>();
  for (const [name, entry] of Object.entries(options.users)) {
    const secret = parseStoredSecret(userEntry(entry).form);
    if (secret) users.set(name, secret);
  }
  const decoyKey = options.random.bytes(32);
  const sessions = new SessionTable(options.clock, options.random);
  const streams = new Set<ServerResponse>();
  const maxStreams = options.maxStreams ?? 16;
  let stopTicking: (() => void) | undefined;
  const { source } = options;

  const snapshot = (): StatusSnapshot => {
    const status = source.status();
    const faults = Array.isArray(status['faults']) ? status['faults'].map(String) : [];
    const counters = Object.fromEntries(Object.entries(source.counters()).filter(([, value]) => value !== 0));
    const sensors = source.sensors();
    const series: StatusSnapshot['series'] = {};
    for (const name of [...new Set(sensors.map((reading) => reading.name))].sort().slice(0, MAX_SERIES)) {
      series[name] = source.readings(name, SERIES_POINTS);
    }
    return {
      at: options.wallClock.now(),
      status,
      leds: source.leds(),
      faults,
      connections: source.connections().map(connectionJson),
      counters,
      sensors,
      series,
    };
  };

  const send = (response: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void => {
    response.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': String(Buffer.byteLength(body)), ...headers });
    response.end(body);
  };

  const pushSnapshot = (): void => {
    if (streams.size === 0) return;
    const frame = `event: snapshot\ndata: ${JSON.stringify(snapshot())}\n\n`;
    for (const stream of streams) {
      // A client that stopped reading does not grow our memory: drop it.
      if (stream.writableLength > STREAM_BACKLOG) stream.destroy();
      else stream.write(frame);
    }
  };

  const openStream = (request: IncomingMessage, response: ServerResponse): void => {
    if (streams.size >= maxStreams) {
      send(response, 503, 'text/plain; charset=utf-8', 'too many live views\n', { 'retry-after': '10' });
      return;
    }
    response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream', connection: 'keep-alive' });
    streams.add(response);
    const closed = (): void => {
      streams.delete(response);
      if (streams.size === 0) {
        stopTicking?.();
        stopTicking = undefined;
      }
    };
    response.once('close', closed);
    request.socket.setTimeout(0);
    response.write(`retry: 2000\nevent: snapshot\ndata: ${JSON.stringify(snapshot())}\n\n`);
    stopTicking ??= options.every(options.updateMs ?? 1000, pushSnapshot);
  };

  const login = (request: IncomingMessage, response: ServerResponse): void => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_FORM_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    request.on('end', () => {
      if (tooLarge) {
        send(response, 413, 'text/plain; charset=utf-8', 'form too large\n');
        return;
      }
      void checkLogin(request, response, new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
    });
  };

  const checkLogin = async (request: IncomingMessage, response: ServerResponse, form: URLSearchParams): Promise<void> => {
    const address = request.socket.remoteAddress ?? '0.0.0.0';
    const user = (form.get('user') ?? '').slice(0, 64);
    const password = (form.get('password') ?? '').slice(0, 1024);
    const lockedFor = options.lockout.lockedFor(address);
    if (lockedFor > 0) {
      send(response, 429, 'text/html; charset=utf-8', loginPage(options.deviceName, `Too many failed logins: try again in ${Math.ceil(lockedFor / 1000)} s.`), {
        'retry-after': String(Math.ceil(lockedFor / 1000)),
      });
      return;
    }
    const secret = users.get(user);
    const verification = options.verifications.run(() => verifyPassword(secret ?? decoySecret(decoyKey, user), password));
    if (verification === undefined) {
      // Too many logins being checked at once (the device's CPU): nothing derived, try later.
      send(response, 503, 'text/html; charset=utf-8', loginPage(options.deviceName, 'Busy: try again in a few seconds.'), { 'retry-after': '5' });
      return;
    }
    const matches = await verification.catch(() => false);
    if (secret && matches) {
      options.lockout.recordSuccess(address);
      const token = sessions.open(user);
      options.events.emit('http_login', { user, address });
      response.writeHead(303, {
        ...SECURITY_HEADERS,
        location: '/',
        'set-cookie': `${COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict`,
        'content-length': '0',
      });
      response.end();
      return;
    }
    options.lockout.recordFailure(address, user);
    send(response, 401, 'text/html; charset=utf-8', loginPage(options.deviceName, 'Wrong user or password.'));
  };

  const handle = (request: IncomingMessage, response: ServerResponse): void => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const method = request.method ?? 'GET';
    const token = sessionToken(request.headers.cookie);
    const user = sessions.user(token);
    if (method === 'POST' && path === '/login') return login(request, response);
    if (method === 'POST' && path === '/logout') {
      sessions.close(token);
      response.writeHead(303, { ...SECURITY_HEADERS, location: '/', 'set-cookie': `${COOKIE}=; Path=/; Max-Age=0`, 'content-length': '0' });
      response.end();
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      // Read-only: nothing here changes the device.
      send(response, 405, 'text/plain; charset=utf-8', 'read-only\n', { allow: 'GET, HEAD' });
      return;
    }
    switch (path) {
      case '/style.css':
        return send(response, 200, 'text/css; charset=utf-8', STYLE);
      case '/app.js':
        return send(response, 200, 'text/javascript; charset=utf-8', SCRIPT);
      case '/uPlot.iife.min.js':
        return send(response, 200, 'text/javascript; charset=utf-8', options.assets.uPlotScript);
      case '/uPlot.min.css':
        return send(response, 200, 'text/css; charset=utf-8', options.assets.uPlotStyle);
      case '/':
        if (!user) return send(response, 200, 'text/html; charset=utf-8', loginPage(options.deviceName));
        return send(response, 200, 'text/html; charset=utf-8', statusPage(options.deviceName, user));
      case '/events':
        if (!user) return send(response, 401, 'text/plain; charset=utf-8', 'log in first\n');
        return openStream(request, response);
      case '/api/status':
        if (!user) return send(response, 401, 'application/json', '{"error":"log in first"}\n');
        return send(response, 200, 'application/json', `${JSON.stringify(snapshot())}\n`);
      default:
        return send(response, 404, 'text/plain; charset=utf-8', 'not found\n');
    }
  };

  const http = createHttpServer({ headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000, maxHeaderSize: 8192 }, handle);
  const listener = options.api.createServer({ keepAlive: true, noDelay: true }, (socket) => http.emit('connection', socket));
  listener.maxConnections = options.maxConnections ?? 32;
  listener.on('error', (error: Error) => options.events.emit('service_error', { service: 'http', port: options.port, message: error.message }));
  listener.listen(options.port);

  return {
    listener,
    get streams() {
      return streams.size;
    },
    snapshot,
    close: () => {
      stopTicking?.();
      stopTicking = undefined;
      for (const stream of streams) stream.destroy();
      listener.close();
      http.close();
    },
  };
}

function sessionToken(cookieHeader: string | undefined): string | undefined {
  if (!cookieHeader) return undefined;
  for (const part of cookieHeader.split(';')) {
    const [name, value] = part.trim().split('=', 2);
    if (name === COOKIE && value && /^[0-9a-f]{64}$/.test(value)) return value;
  }
  return undefined;
}
