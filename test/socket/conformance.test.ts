/**
 * node:net conformance of the piwire Socket and Server (issue 14), on two stacks on a
 * memory wire and virtual time. Each case is what Node 20/22 does over the Linux
 * kernel, in the spirit of Node's own test/parallel/test-net-*.js (our own code): the
 * event order, the segments on the wire (FIN or RST), the error shapes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createStackPair, DEVICE_IP, PEER_IP, type StackPair } from '../support/stack-pair.ts';
import { TcpFlag, type TcpRepr } from '../../src/wire/tcp.ts';
import type { Socket } from '../../src/socket/socket.ts';
import type { Server } from '../../src/socket/server.ts';

interface SeenSegment {
  to: 'device' | 'peer';
  flags: number;
  payload: Buffer;
  at: number;
}

/** A pair with a listening device server on `port`, every TCP segment recorded. */
function setup(port: number, serverOptions: Parameters<StackPair['device']['net']['createServer']>[0] = {}) {
  const pair = createStackPair();
  const segments: SeenSegment[] = [];
  pair.observeTcp((segment: TcpRepr, to) => {
    segments.push({ to, flags: segment.flags, payload: Buffer.from(segment.payload), at: pair.world.now });
  });
  const accepted: Socket[] = [];
  const server: Server = pair.device.net.createServer(serverOptions as object, (socket) => accepted.push(socket));
  server.listen(port);
  const resets = (to: 'device' | 'peer'): number => segments.filter((s) => s.to === to && (s.flags & TcpFlag.RST) !== 0).length;
  const fins = (to: 'device' | 'peer'): number => segments.filter((s) => s.to === to && (s.flags & TcpFlag.FIN) !== 0).length;
  return { ...pair, segments, accepted, server, resets, fins };
}

async function connected(pair: ReturnType<typeof setup>, port: number): Promise<{ client: Socket; serverSide: Socket }> {
  const client = pair.peer.net.connect({ host: DEVICE_IP, port });
  assert.ok(await pair.world.runUntilDone(() => pair.accepted.length > 0 && !client.connecting, 5_000), 'connected');
  return { client, serverSide: pair.accepted[0]! };
}

describe('node:net conformance: writing', () => {
  it('sends corked writes as one segment, with no delayed-ACK stall before the reply', async () => {
    const pair = setup(7100);
    const { client, serverSide } = await connected(pair, 7100);
    let request = '';
    serverSide.on('data', (chunk: Buffer) => {
      request += chunk.toString();
      if (request.length === 4) {
        serverSide.cork();
        serverSide.write('wx');
        serverSide.write('yz');
        process.nextTick(() => serverSide.uncork());
      }
    });
    let reply = '';
    client.on('data', (chunk: Buffer) => (reply += chunk.toString()));
    const sentAt = pair.world.now;
    pair.segments.length = 0;
    client.cork();
    client.write('ab');
    client.write('cd');
    client.uncork();
    assert.ok(await pair.world.runUntilDone(() => reply.length === 4, 1_000));
    assert.equal(reply, 'wxyz');
    const data = pair.segments.filter((s) => s.payload.length > 0);
    assert.deepEqual(
      data.map((s) => [s.to, s.payload.toString()]),
      [
        ['device', 'abcd'],
        ['peer', 'wxyz'],
      ],
    );
    // On a zero-delay wire the exchange takes no virtual time: nothing waited for the 40 ms delayed ACK.
    assert.equal(pair.world.now - sentAt, 0);
  });

  it('queued writes beyond the send buffer go out whole and in order, chunk by chunk, with bytesWritten exact meanwhile', async () => {
    const pair = setup(7102);
    const client = pair.peer.net.connect({ host: DEVICE_IP, port: 7102, sndBuf: 4_096 });
    assert.ok(await pair.world.runUntilDone(() => pair.accepted.length > 0 && !client.connecting, 5_000), 'connected');
    const received: Buffer[] = [];
    pair.accepted[0]!.on('data', (chunk: Buffer) => received.push(chunk));
    // 40 writes of 1..40 × 100 bytes, each of its own byte value: the first fills most of
    // the 4 KiB buffer, the rest queue in the Writable and reach _writev together.
    const writes = Array.from({ length: 40 }, (_, index) => Buffer.alloc((index + 1) * 100, index + 1));
    const total = writes.reduce((sum, chunk) => sum + chunk.length, 0);
    for (const chunk of writes) client.write(chunk);
    assert.equal(client.bytesWritten, total);
    assert.ok(await pair.world.runUntilDone(() => received.reduce((sum, chunk) => sum + chunk.length, 0) === total, 10_000));
    assert.deepEqual(Buffer.concat(received), Buffer.concat(writes));
    assert.equal(client.bytesWritten, total);
    assert.equal(client.writableLength, 0);
  });

  it('counts queued bytes in bytesWritten and bufferSize, and sends them after the handshake', async () => {
    const pair = setup(7101);
    const client = pair.peer.net.connect({ host: DEVICE_IP, port: 7101 });
    client.write(Buffer.alloc(3_000, 1));
    client.write('xyz');
    assert.equal(client.connecting, true);
    assert.equal(client.bytesWritten, 3_003);
    assert.equal(client.bufferSize, 3_003);
    let received = 0;
    assert.ok(await pair.world.runUntilDone(() => pair.accepted.length > 0, 5_000));
    pair.accepted[0]!.on('data', (chunk: Buffer) => (received += chunk.length));
    assert.ok(await pair.world.runUntilDone(() => received === 3_003, 5_000));
    assert.equal(client.bytesWritten, 3_003);
    assert.equal(client.bufferSize, 0);
  });

  it('fails a write after the peer ended (allowHalfOpen false) with EPIPE to its callback, as node:net', async () => {
    // Checked against node:net on loopback: a write a turn after 'end' returns false and
    // its callback gets EPIPE ("This socket has been ended by the other party").
    const pair = setup(7102);
    const { client, serverSide } = await connected(pair, 7102);
    client.resume();
    const errorEvents: unknown[] = [];
    client.on('error', (e) => errorEvents.push(e));
    let accepted: boolean | undefined;
    let callbackError: NodeJS.ErrnoException | null | undefined;
    client.on('end', () =>
      setImmediate(() => {
        accepted = client.write('too late', (error) => (callbackError = error));
      }),
    );
    serverSide.end();
    assert.ok(await pair.world.runUntilDone(() => callbackError !== undefined, 5_000));
    assert.equal(accepted, false);
    assert.equal(callbackError?.code, 'EPIPE');
    assert.equal(callbackError?.message, 'This socket has been ended by the other party');
    assert.deepEqual(errorEvents, []);
  });

  it('restarts the inactivity timer on every write; setTimeout(0) leaves timeout at 0', async () => {
    const pair = setup(7103);
    const { client } = await connected(pair, 7103);
    assert.equal(client.timeout, undefined);
    const timeouts: number[] = [];
    client.on('timeout', () => timeouts.push(pair.world.now));
    const start = pair.world.now;
    client.setTimeout(100);
    for (let i = 1; i <= 5; i++) {
      await pair.world.runUntil(start + i * 60);
      client.write('.');
    }
    assert.deepEqual(timeouts, [], 'writes every 60 ms keep a 100 ms timer from firing');
    const lastWrite = pair.world.now;
    await pair.world.runFor(500);
    assert.equal(timeouts.length, 1);
    assert.ok(timeouts[0]! >= lastWrite + 100, `timeout at +${timeouts[0]! - lastWrite} ms after the last write`);
    assert.equal(client.destroyed, false, "'timeout' leaves the socket usable");
    client.setTimeout(0);
    assert.equal(client.timeout, 0);
  });
});

describe('node:net conformance: ending and closing', () => {
  it("ends a socket that is never read when the peer closes: 'end', 'close', server.close(cb)", async () => {
    const pair = setup(7110);
    const { client, serverSide } = await connected(pair, 7110);
    const events: string[] = [];
    serverSide.on('end', () => events.push('end'));
    serverSide.on('close', () => events.push('close'));
    let serverClosed = false;
    pair.server.close(() => (serverClosed = true));
    client.end();
    assert.ok(await pair.world.runUntilDone(() => serverClosed, 5_000), 'server.close(cb) called back');
    assert.deepEqual(events, ['end', 'close']);
    assert.notEqual(serverSide.tcp.state, 'CLOSE-WAIT');
  });

  it("emits 'close' a turn after 'end', so await once(end) then once(close) works", async () => {
    const pair = setup(7111);
    const { client, serverSide } = await connected(pair, 7111);
    client.resume();
    const sequence = (async () => {
      await once(client, 'end');
      const [hadError] = (await once(client, 'close')) as [boolean];
      return hadError;
    })();
    serverSide.end();
    let hadError: boolean | undefined;
    void sequence.then((value) => (hadError = value));
    assert.ok(await pair.world.runUntilDone(() => hadError !== undefined, 5_000));
    assert.equal(hadError, false);
  });

  it("passes hadError true to 'close' after a reset", async () => {
    const pair = setup(7112);
    const { client, serverSide } = await connected(pair, 7112);
    const seen: unknown[] = [];
    client.on('error', (error: NodeJS.ErrnoException) => seen.push(error.code));
    client.on('close', (hadError: boolean) => seen.push(hadError));
    serverSide.resetAndDestroy();
    assert.ok(await pair.world.runUntilDone(() => seen.length === 2, 5_000));
    assert.deepEqual(seen, ['ECONNRESET', true]);
  });

  it('destroy(err) with nothing unread closes with FIN: the peer sees end, not ECONNRESET', async () => {
    const pair = setup(7113);
    const { client, serverSide } = await connected(pair, 7113);
    let peerError: unknown;
    let peerEnded = false;
    client.on('error', (error) => (peerError = error));
    client.on('end', () => (peerEnded = true));
    client.resume();
    client.write('last words');
    // The for-await pattern: the loop reads, then leaves, which destroys the socket with an AbortError.
    const loop = (async () => {
      for await (const chunk of serverSide) {
        assert.equal(String(chunk), 'last words');
        break;
      }
    })();
    assert.ok(await pair.world.runUntilDone(() => peerEnded, 5_000));
    await loop;
    assert.equal(peerError, undefined);
    assert.equal(pair.resets('peer'), 0, 'no RST went to the peer');
    assert.equal(pair.fins('peer'), 1);
  });

  it('destroy() with unread data resets, and resetAndDestroy() always resets', async () => {
    const pair = setup(7114);
    const { client, serverSide } = await connected(pair, 7114);
    client.write('never read');
    assert.ok(await pair.world.runUntilDone(() => serverSide.tcp.readableLength > 0, 5_000));
    let clientError: NodeJS.ErrnoException | undefined;
    client.on('error', (error: NodeJS.ErrnoException) => (clientError = error));
    serverSide.destroy();
    assert.ok(await pair.world.runUntilDone(() => clientError !== undefined, 5_000));
    assert.equal(clientError?.code, 'ECONNRESET');
    assert.equal(pair.resets('peer'), 1);

    const second = setup(7115);
    const pairTwo = await connected(second, 7115);
    pairTwo.client.on('error', () => undefined);
    pairTwo.serverSide.resetAndDestroy();
    await second.world.runFor(10);
    assert.equal(second.resets('peer'), 1);
  });

  it('connect() then end() before the handshake: the server sees the connection, then FIN', async () => {
    const pair = setup(7116);
    let serverEnded = false;
    pair.server.on('connection', (socket: Socket) => {
      socket.resume();
      socket.on('end', () => (serverEnded = true));
    });
    const client = pair.peer.net.connect({ host: DEVICE_IP, port: 7116 });
    client.resume();
    client.end();
    assert.equal(client.connecting, true);
    let closed = false;
    client.on('close', () => (closed = true));
    assert.ok(await pair.world.runUntilDone(() => serverEnded && closed, 5_000));
    assert.equal(pair.resets('device') + pair.resets('peer'), 0, 'no RST either way');
    assert.equal(pair.accepted.length, 1);
  });

  it('destroySoon() sends what is queued, then closes', async () => {
    const pair = setup(7117);
    const { client, serverSide } = await connected(pair, 7117);
    let received = '';
    serverSide.on('data', (chunk: Buffer) => (received += chunk.toString()));
    let closed = false;
    client.on('close', () => (closed = true));
    client.write('queued');
    client.destroySoon();
    assert.ok(await pair.world.runUntilDone(() => closed && received === 'queued', 5_000));
    assert.equal(pair.resets('device'), 0);
  });
});

describe('node:net conformance: opening and the API surface', () => {
  it('opens a new api.Socket() with connect(port, host) and the api with connect(port, host, cb)', async () => {
    const pair = setup(7120);
    const socket = new pair.peer.net.Socket();
    assert.equal(socket.connecting, false);
    assert.deepEqual(socket.address(), {});
    let first = false;
    socket.connect(7120, DEVICE_IP, () => (first = true));
    assert.equal(socket.connecting, true);
    let second = false;
    pair.peer.net.connect(7120, DEVICE_IP, () => (second = true));
    assert.ok(await pair.world.runUntilDone(() => first && second, 5_000));
    assert.equal(socket.remoteAddress, DEVICE_IP);
    assert.equal(socket.localAddress, PEER_IP);
    assert.equal(socket.readyState, 'open');
  });

  it('listens with listen({ port }) and listen(port, host, cb)', async () => {
    const pair = createStackPair();
    const one = pair.device.net.createServer().listen({ port: 7121 });
    let listening = false;
    pair.device.net.createServer().listen(7122, DEVICE_IP, () => (listening = true));
    assert.ok(await pair.world.runUntilDone(() => listening, 1_000));
    assert.deepEqual(one.address(), { address: DEVICE_IP, family: 'IPv4', port: 7121 });
    assert.throws(() => pair.device.net.createServer().listen({ port: 70_000 }), { code: 'ERR_SOCKET_BAD_PORT' });
    assert.throws(() => pair.peer.net.connect(0, DEVICE_IP), { code: 'ERR_SOCKET_BAD_PORT' });
  });

  it('raises errors shaped as node:net: connect ECONNREFUSED, listen EADDRINUSE, ERR_SERVER_NOT_RUNNING', async () => {
    const pair = setup(7123);
    const client = pair.peer.net.connect({ host: DEVICE_IP, port: 7999 });
    let refused: (Error & Record<string, unknown>) | undefined;
    client.on('error', (error: Error & Record<string, unknown>) => (refused = error));
    let inUse: (Error & Record<string, unknown>) | undefined;
    pair.device.net.createServer().on('error', (error: Error & Record<string, unknown>) => (inUse = error)).listen(7123);
    let notRunning: (Error & Record<string, unknown>) | undefined;
    pair.device.net.createServer().close((error) => (notRunning = error as Error & Record<string, unknown>));
    assert.ok(await pair.world.runUntilDone(() => refused !== undefined && inUse !== undefined && notRunning !== undefined, 5_000));
    assert.equal(refused!.message, `connect ECONNREFUSED ${DEVICE_IP}:7999`);
    assert.deepEqual(
      [refused!['code'], refused!['errno'], refused!['syscall'], refused!['address'], refused!['port']],
      ['ECONNREFUSED', -111, 'connect', DEVICE_IP, 7999],
    );
    assert.equal(inUse!.message, `listen EADDRINUSE: address already in use ${DEVICE_IP}:7123`);
    assert.deepEqual([inUse!['code'], inUse!['errno'], inUse!['syscall'], inUse!['port']], ['EADDRINUSE', -98, 'listen', 7123]);
    assert.equal(notRunning!['code'], 'ERR_SERVER_NOT_RUNNING');
    assert.equal(notRunning!.message, 'Server is not running.');
  });

  it("turns away connections beyond maxConnections with 'drop' and a FIN", async () => {
    const pair = setup(7124);
    pair.server.maxConnections = 1;
    const drops: Record<string, unknown>[] = [];
    pair.server.on('drop', (info: Record<string, unknown>) => drops.push(info));
    await connected(pair, 7124);
    const extra = pair.peer.net.connect({ host: DEVICE_IP, port: 7124 });
    extra.resume();
    let extraClosed = false;
    extra.on('close', () => (extraClosed = true));
    assert.ok(await pair.world.runUntilDone(() => extraClosed, 5_000));
    assert.equal(drops.length, 1);
    assert.deepEqual(drops[0], {
      localAddress: DEVICE_IP,
      localPort: 7124,
      localFamily: 'IPv4',
      remoteAddress: PEER_IP,
      remotePort: extra.localPort,
      remoteFamily: 'IPv4',
    });
    assert.equal(pair.accepted.length, 1);
    assert.equal(pair.resets('peer'), 0);
  });

  it('pauseOnConnect holds data unread (the window closes) until resume()', async () => {
    const pair = setup(7125, { pauseOnConnect: true });
    const { client, serverSide } = await connected(pair, 7125);
    let received = 0;
    serverSide.on('data', (chunk: Buffer) => (received += chunk.length));
    client.write(Buffer.alloc(1_000));
    await pair.world.runFor(100);
    assert.equal(received, 0, 'a paused accepted socket does not flow when a data listener is added');
    assert.equal(serverSide.tcp.readableLength, 1_000);
    serverSide.resume();
    assert.ok(await pair.world.runUntilDone(() => received === 1_000, 1_000));
  });

  it('applies the noDelay option: two writes go out at once as two segments', async () => {
    const pair = setup(7126);
    const client = pair.peer.net.connect({ host: DEVICE_IP, port: 7126, noDelay: true });
    assert.ok(await pair.world.runUntilDone(() => !client.connecting, 5_000));
    pair.segments.length = 0;
    client.write('a');
    await pair.world.runFor(0);
    client.write('b');
    await pair.world.runFor(0);
    const sent = pair.segments.filter((s) => s.to === 'device' && s.payload.length > 0);
    assert.deepEqual(
      sent.map((s) => s.payload.toString()),
      ['a', 'b'],
    );
    assert.equal(sent[1]!.at, sent[0]!.at, 'the second did not wait for an ACK (Nagle off)');
  });
});
