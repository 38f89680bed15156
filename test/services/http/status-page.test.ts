/**
 * The status page service (SPEC §5a) on two piwire stacks in memory: node:http on the
 * device's listener, node:http's client on the peer's socket. Login with a shell user
 * (stored form), the shell's lockout, read-only methods, the JSON snapshot and the
 * server-sent event stream (ticks driven by the test through the injected `every`).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { createRealtimePair, DEVICE_IP, type RealtimePair } from '../../support/realtime-pair.ts';
import { SeededRandom } from '../../../src/random.ts';
import { RecordingEventSink } from '../../../src/events.ts';
import { ManualClock } from '../../../src/time.ts';
import { createStoredSecret, formatStoredSecret } from '../../../src/services/shell/auth.ts';
import { LoginLockout } from '../../../src/services/shell/lockout.ts';
import { VerificationQueue } from '../../../src/services/shell/verification-queue.ts';
import { stackShellContext } from '../../../src/services/shell/context.ts';
import { startStatusPage, type StatusPage, type StatusSource } from '../../../src/services/http/status-page.ts';
import type { Socket } from '../../../src/socket/socket.ts';

const FAST = { N: 1024, r: 8, p: 1 };
const PORT = 8080;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

describe('status page service on piwire sockets', () => {
  let pair: RealtimePair;
  let page: StatusPage;
  let ticks: (() => void)[];
  const leds = [
    { led: 'status', pattern: 'heartbeat', code: null },
    { led: 'link', pattern: 'solid', code: null },
    { led: 'fault', pattern: 'off', code: null },
  ];
  const faults: string[] = [];
  const events = new RecordingEventSink();
  const clock = new ManualClock(0);

  const request = (method: string, path: string, options: { cookie?: string; body?: string } = {}): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const outgoing = http.request(
        {
          method,
          path,
          host: DEVICE_IP,
          port: PORT,
          createConnection: () => pair.peer.net.connect({ host: DEVICE_IP, port: PORT }) as never,
          headers: {
            ...(options.cookie ? { cookie: options.cookie } : {}),
            ...(options.body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
          },
        },
        (response) => {
          let body = '';
          response.on('data', (chunk: Buffer) => (body += chunk.toString()));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
        },
      );
      outgoing.on('error', reject);
      outgoing.end(options.body);
    });

  const login = async (user: string, password: string): Promise<Reply> =>
    request('POST', '/login', { body: new URLSearchParams({ user, password }).toString() });

  before(async () => {
    pair = createRealtimePair();
    const secret = formatStoredSecret(await createStoredSecret('s3cret', Buffer.alloc(16, 7), FAST));
    const network = stackShellContext({ stack: pair.device, clock: pair.loop.clock, delay: () => Promise.resolve() });
    const source: StatusSource = {
      status: () => ({ ...network.networkStatus(), faults: [...faults] }),
      leds: () => leds.map((led) => ({ ...led })),
      connections: network.connections,
      counters: network.counters,
      sensors: () => [{ name: 'tank.level', source: 'tank-1', value: 72, at: 1_700_000_000_000 }],
      readings: () => [
        { at: 1_700_000_000_000, value: 71 },
        { at: 1_700_000_001_000, value: 72 },
      ],
    };
    ticks = [];
    page = startStatusPage({
      api: pair.device.net,
      port: PORT,
      users: { tech: secret },
      source,
      clock,
      wallClock: { now: () => 1_700_000_002_000 },
      random: new SeededRandom(3),
      events,
      lockout: new LoginLockout({ clock, events }),
      verifications: new VerificationQueue(),
      every: (_ms, tick) => {
        ticks.push(tick);
        return () => ticks.splice(ticks.indexOf(tick), 1);
      },
      assets: { uPlotScript: '/* uPlot */', uPlotStyle: '/* uPlot css */' },
      deviceName: DEVICE_IP,
    });
  });
  after(() => {
    page.close();
    pair.close();
  });

  it('shows the login form and nothing else without a session', async () => {
    const root = await request('GET', '/');
    assert.equal(root.status, 200);
    assert.match(root.body, /<form method="post" action="\/login">/);
    assert.doesNotMatch(root.body, /id="leds"/);
    assert.match(String(root.headers['content-security-policy']), /default-src 'self'/);
    assert.equal((await request('GET', '/api/status')).status, 401);
    assert.equal((await request('GET', '/events')).status, 401);
    assert.equal((await request('GET', '/style.css')).status, 200, 'the login form needs its stylesheet');
  });

  it('refuses a wrong password and an unknown user alike, counting towards the shell lockout', async () => {
    const before = events.named('auth_fail').length;
    const wrong = await login('tech', 'guess');
    const unknown = await login('nobody', 's3cret');
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    assert.match(wrong.body, /Wrong user or password/);
    assert.equal(wrong.headers['set-cookie'], undefined);
    assert.equal(events.named('auth_fail').length, before + 2);
    assert.equal(events.named('auth_fail').at(-1)?.['address'], '198.18.0.1');
  });

  it('logs in with the shell user, then serves the page, the snapshot and the live stream', async () => {
    const ok = await login('tech', 's3cret');
    assert.equal(ok.status, 303);
    const cookie = String(ok.headers['set-cookie']).split(';')[0]!;
    assert.match(String(ok.headers['set-cookie']), /HttpOnly; SameSite=Strict/);
    const root = await request('GET', '/', { cookie });
    assert.match(root.body, /id="leds"/);
    assert.match(root.body, /<script src="\/uPlot.iife.min.js">/);

    const snapshot = JSON.parse((await request('GET', '/api/status', { cookie })).body) as Record<string, unknown>;
    assert.deepEqual(snapshot['leds'], leds);
    assert.deepEqual(snapshot['series'], { 'tank.level': [{ at: 1_700_000_000_000, value: 71 }, { at: 1_700_000_001_000, value: 72 }] });
    const connections = snapshot['connections'] as { localPort: number; state: string }[];
    assert.ok(connections.some((c) => c.localPort === PORT && c.state === 'ESTABLISHED'), 'the conns table holds this very request');

    // The live stream: one snapshot at once, then one per tick of the injected timer.
    const frames: string[] = [];
    let socket: Socket | undefined;
    const stream = http.get(
      { path: '/events', host: DEVICE_IP, port: PORT, headers: { cookie }, createConnection: () => (socket = pair.peer.net.connect({ host: DEVICE_IP, port: PORT })) as never },
      (response) => {
        assert.equal(response.headers['content-type'], 'text/event-stream');
        let text = '';
        response.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
            const frame = text.slice(0, end);
            text = text.slice(end + 2);
            if (frame.includes('event: snapshot')) frames.push(frame);
          }
        });
      },
    );
    const waitFor = async (condition: () => boolean): Promise<void> => {
      for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.ok(condition());
    };
    await waitFor(() => frames.length === 1 && page.streams === 1);
    assert.equal(ticks.length, 1, 'one timer for every open stream');
    leds[2] = { led: 'fault', pattern: 'blink-code 3', code: 3 as never };
    faults.push('3 sensor peer lost');
    ticks[0]!();
    await waitFor(() => frames.length === 2);
    const latest = JSON.parse(frames[1]!.split('data: ')[1]!) as { leds: { led: string; pattern: string }[]; faults: string[] };
    assert.equal(latest.leds.find((led) => led.led === 'fault')?.pattern, 'blink-code 3');
    assert.deepEqual(latest.faults, ['3 sensor peer lost']);
    stream.destroy();
    socket?.destroy();
    await waitFor(() => page.streams === 0);
    assert.equal(ticks.length, 0, 'the timer stops with the last stream');
  });

  it('is read-only: other methods get 405', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      const reply = await request(method, '/');
      assert.equal(reply.status, 405);
      assert.equal(reply.headers['allow'], 'GET, HEAD');
    }
    assert.equal((await request('POST', '/api/status')).status, 405);
  });

  it('locks an address out after five failures, right password or not', async () => {
    for (let i = 0; i < 5; i++) await login('tech', `wrong-${i}`);
    const locked = await login('tech', 's3cret');
    assert.equal(locked.status, 429);
    assert.match(locked.body, /Too many failed logins/);
    assert.ok(events.named('auth_lockout').length >= 1);
  });
});
