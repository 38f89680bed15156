/**
 * The shell end to end on two piwire stacks joined by a memory wire: the device runs
 * the service, the peer's own socket API is the client (the `piwire shell` protocol
 * functions, and Node's TLS client over a peer-stack socket for the TLS port).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { createStackPair, DEVICE_IP, type StackPair } from '../../support/stack-pair.ts';
import type { VirtualWorld } from '../../support/virtual-world.ts';
import { SeededRandom } from '../../../src/random.ts';
import { createStoredSecret, formatStoredSecret, type ScryptParameters } from '../../../src/services/shell/auth.ts';
import { startShellService, type ShellService, type ShellServiceOptions } from '../../../src/services/shell/server.ts';
import { stackShellContext } from '../../../src/services/shell/context.ts';
import { IDLE_TIMEOUT_MS, STATUS_OK, UNKNOWN_USER } from '../../../src/services/shell/session.ts';
import { LineReader, shellCommand, shellLogin, ShellClientError } from '../../../firmware/shell-client.ts';
import { loadOrCreateShellCertificate, type ShellCertificate } from '../../../firmware/shell-certificate.ts';
import { FakeContext } from './fake-context.ts';

const FAST: ScryptParameters = { N: 1024, r: 8, p: 1 };
const PLAIN_PORT = 2323;
const TLS_PORT = 2324;

/** Runs the virtual world in small steps until `promise` settles (scrypt runs on real threads). */
async function drive<T>(world: VirtualWorld, promise: Promise<T>, limitMs = 30_000): Promise<T> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  const end = world.now + limitMs;
  while (!settled && world.now < end) await world.runFor(1);
  assert.ok(settled, 'hang guard: the exchange did not finish in virtual time');
  return promise;
}

/** Everything received on a stream, as text. */
function collect(stream: Duplex): { text: () => string; bytes: () => Buffer; ended: () => boolean } {
  const chunks: Buffer[] = [];
  let ended = false;
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', () => (ended = true));
  stream.on('close', () => (ended = true));
  stream.on('error', () => (ended = true));
  return { text: () => Buffer.concat(chunks).toString('utf8'), bytes: () => Buffer.concat(chunks), ended: () => ended };
}

let certificate: ShellCertificate | undefined;
let certificateDirectory = '';

before(async () => {
  certificateDirectory = await mkdtemp(join(tmpdir(), 'pw-shell-cert-'));
  certificate = await loadOrCreateShellCertificate({ stateDir: certificateDirectory }).catch(() => undefined);
});
after(async () => {
  await rm(certificateDirectory, { recursive: true, force: true });
});

interface Fixture {
  pair: StackPair;
  service: ShellService;
  context: FakeContext;
}

async function setUp(overrides: Partial<Pick<ShellServiceOptions, 'verifications'>> = {}): Promise<Fixture> {
  const pair = createStackPair();
  const stored = await createStoredSecret('s3cret', Buffer.alloc(16, 1), FAST);
  const viewer = await createStoredSecret('v1ewer', Buffer.alloc(16, 2), FAST);
  const context = new FakeContext();
  const network = stackShellContext({ stack: pair.device, clock: pair.world.clock, delay: (ms) => pair.world.runFor(ms) });
  context.connections = () => network.connections();
  context.kill = (id) => network.kill(id);
  const service = startShellService({
    api: pair.device.net,
    port: PLAIN_PORT,
    tlsPort: TLS_PORT,
    users: { op: formatStoredSecret(stored), watcher: { secret: formatStoredSecret(viewer), role: 'viewer' } },
    context,
    clock: pair.world.clock,
    events: pair.deviceEvents,
    random: new SeededRandom(9),
    tls: certificate ? { cert: certificate.cert, key: certificate.key } : undefined,
    delay: (ms) => pair.world.runFor(ms),
    ...overrides,
  });
  await pair.world.runFor(10);
  return { pair, service, context };
}

async function plainClient(pair: StackPair) {
  const socket = pair.peer.net.connect({ host: DEVICE_IP, port: PLAIN_PORT });
  socket.on('error', () => undefined);
  const reader = new LineReader(socket);
  return { socket, reader };
}

describe('shell over the device stack: plain port', () => {
  it('piwire shell logs in, conns --json shows its own connection ESTABLISHED', async () => {
    const { pair } = await setUp();
    const { socket, reader } = await plainClient(pair);
    await drive(pair.world, shellLogin(socket, reader, 'op', 's3cret'));
    assert.deepEqual(pair.deviceEvents.named('shell_login'), [{ address: '198.18.0.1', user: 'op', role: 'admin', method: 'challenge', port: PLAIN_PORT }]);
    const lines: string[] = [];
    assert.equal(await drive(pair.world, shellCommand(socket, reader, 'conns --json', (line) => lines.push(line))), true);
    const connections = JSON.parse(lines.join('\n')) as { state: string; localPort: number; remotePort: number }[];
    const own = connections.find((connection) => connection.localPort === PLAIN_PORT && connection.remotePort === socket.localPort);
    assert.equal(own?.state, 'ESTABLISHED');
    assert.equal(await drive(pair.world, shellCommand(socket, reader, 'kill 99999', () => undefined)), false);
    assert.equal(await drive(pair.world, shellCommand(socket, reader, 'quit', () => undefined)), true);
    await pair.world.runFor(100);
    assert.equal(await reader.next(), undefined, 'quit closes the session');
  });

  it('a wrong secret never logs in, and the sixth attempt is locked out', async () => {
    const { pair } = await setUp();
    for (let attempt = 1; attempt <= 5; attempt++) {
      const { socket, reader } = await plainClient(pair);
      await assert.rejects(drive(pair.world, shellLogin(socket, reader, 'op', 'guess')), (error: unknown) => error instanceof ShellClientError && /login failed/.test(error.message));
    }
    assert.equal(pair.deviceEvents.named('auth_fail').length, 5);
    assert.equal(pair.deviceEvents.named('auth_lockout').length, 1);
    // Locked out: even the right secret is refused before it is looked at.
    const { socket, reader } = await plainClient(pair);
    await assert.rejects(drive(pair.world, shellLogin(socket, reader, 'op', 's3cret')), /too many failed logins/);
    assert.equal(pair.deviceEvents.named('shell_login').length, 0);
  });

  it("a viewer's kill is refused with a clear message and an auth_denied event; status works", async () => {
    const { pair, context } = await setUp();
    const { socket, reader } = await plainClient(pair);
    await drive(pair.world, shellLogin(socket, reader, 'watcher', 'v1ewer'));
    assert.equal(pair.deviceEvents.named('shell_login')[0]?.['role'], 'viewer');
    const lines: string[] = [];
    assert.equal(await drive(pair.world, shellCommand(socket, reader, 'kill 7', (line) => lines.push(line))), false);
    assert.deepEqual(lines, ['error: permission denied: kill needs the admin role (this user is a viewer)']);
    assert.deepEqual(context.killed, []);
    assert.deepEqual(pair.deviceEvents.named('auth_denied'), [{ address: '198.18.0.1', user: 'watcher', role: 'viewer', command: 'kill' }]);
    assert.equal(await drive(pair.world, shellCommand(socket, reader, 'status', () => undefined)), true);
  });

  it('an unknown user gets a challenge too, and fails like a wrong secret', async () => {
    const { pair } = await setUp();
    const { socket, reader } = await plainClient(pair);
    await assert.rejects(drive(pair.world, shellLogin(socket, reader, 'ghost', 's3cret')), /login failed/);
    // Logged without the name typed: it could have been a password.
    assert.deepEqual(pair.deviceEvents.named('auth_fail').map((fields) => fields['user']), [UNKNOWN_USER]);
  });

  it('a human with nc is told to use piwire shell; telnet negotiation is answered, not echoed', async () => {
    const { pair } = await setUp();
    const socket = pair.peer.net.connect({ host: DEVICE_IP, port: PLAIN_PORT });
    const received = collect(socket);
    socket.write(Uint8Array.from([255, 253, 3, 255, 251, 24]));
    socket.write('admin\r\n');
    await pair.world.runFor(200);
    const bytes = received.bytes();
    assert.match(received.text(), /use `piwire shell HOST`/);
    assert.match(received.text(), /TLS on port 2324/);
    assert.ok(bytes.includes(Buffer.from([255, 251, 3])), 'WILL SGA answers DO SGA');
    assert.ok(bytes.includes(Buffer.from([255, 254, 24])), 'DONT TERMINAL-TYPE answers WILL TERMINAL-TYPE');
    assert.equal(received.ended(), true);
    assert.equal(pair.deviceEvents.named('auth_fail').length, 0);
  });

  it('an idle session closes after 10 minutes', async () => {
    const { pair } = await setUp();
    const { socket, reader } = await plainClient(pair);
    await drive(pair.world, shellLogin(socket, reader, 'op', 's3cret'));
    let closedAt: number | undefined;
    socket.on('close', () => (closedAt ??= pair.world.now));
    const loggedInAt = pair.world.now;
    await pair.world.runFor(IDLE_TIMEOUT_MS - 1000);
    assert.equal(closedAt, undefined);
    await pair.world.runFor(5000);
    assert.ok(closedAt !== undefined, 'closed after the idle timeout');
    assert.ok(closedAt - loggedInAt >= IDLE_TIMEOUT_MS - 100, `closed at +${closedAt - loggedInAt} ms`);
  });
});

/** A Node TLS client over a peer-stack socket to the TLS port; `waitFor` drives the world until the text matches. */
function tlsClient(pair: StackPair) {
  const raw = pair.peer.net.connect({ host: DEVICE_IP, port: TLS_PORT });
  raw.on('error', () => undefined);
  const secure = tlsConnect({ socket: raw, rejectUnauthorized: false });
  const received = collect(secure);
  const waitFor = (pattern: RegExp) =>
    drive(pair.world, (async () => {
      while (!pattern.test(received.text())) await new Promise((resolve) => setImmediate(resolve));
    })());
  return { secure, received, waitFor };
}

describe('shell over the device stack: TLS port', () => {
  it('password login over Node TLS on the peer stack, then commands', async (t) => {
    if (!certificate) {
      t.skip('openssl is not available to make a certificate');
      return;
    }
    const { pair } = await setUp();
    const { secure, received, waitFor } = tlsClient(pair);
    await waitFor(/login: $/);
    secure.write('op\r\n');
    await waitFor(/password: $/);
    secure.write('wrong\r\n');
    await waitFor(/login incorrect\r\nlogin: $/);
    secure.write('op\npassword-is-next\n');
    await waitFor(/login incorrect\r\nlogin: .*login incorrect\r\nlogin: $/s);
    secure.write('op\r\ns3cret\r\n');
    await waitFor(/piwire> $/);
    secure.write('leds\r\n');
    await waitFor(/fault\s+code\s+6\r\npiwire> $/);
    assert.equal(received.text().includes(STATUS_OK), false, 'no framing on the interactive port');
    assert.equal(pair.deviceEvents.named('auth_fail').length, 2);
    assert.equal(pair.deviceEvents.named('shell_login')[0]?.['method'], 'password');
    secure.write('quit\r\n');
    await waitFor(/bye\r\n$/);
  });

  it('a password attempt beyond the verification bound is refused at once, derives nothing, and is no failure', async (t) => {
    if (!certificate) {
      t.skip('openssl is not available to make a certificate');
      return;
    }
    // No slot at all: every password attempt finds the queue full.
    const { pair, service } = await setUp({ verifications: { maxConcurrent: 0, maxQueued: 0 } });
    const { secure, waitFor } = tlsClient(pair);
    await waitFor(/login: $/);
    secure.write('op\r\ns3cret\r\n');
    await waitFor(/too many logins in progress: try again in a few seconds\r\n$/);
    assert.equal(service.verifications.refused, 1);
    assert.deepEqual(pair.deviceEvents.named('auth_busy'), [{ address: '198.18.0.1', port: TLS_PORT }]);
    assert.equal(pair.deviceEvents.named('auth_fail').length, 0);
    assert.equal(pair.deviceEvents.named('shell_login').length, 0);
  });
});
