/**
 * The socket API end to end: two full piwire stacks (Ethernet, ARP, IPv4, TCP) on a
 * memory wire, on virtual time. These are the walking skeleton's memory-wire tests:
 * handshake, data both ways, both close orders, RST to a closed port, MSS clamping at
 * MTU 296, and a 1 MiB transfer through loss and reordering arriving byte-exact.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createStackPair, DEVICE_IP, PEER_IP } from '../support/stack-pair.ts';
import { SeededRandom } from '../../src/random.ts';
import type { Socket } from '../../src/socket/socket.ts';

function collect(socket: Socket): { chunks: Buffer[]; ended: boolean; bytes(): Buffer } {
  const state = {
    chunks: [] as Buffer[],
    ended: false,
    bytes: () => Buffer.concat(state.chunks),
  };
  socket.on('data', (chunk: Buffer) => state.chunks.push(chunk));
  socket.on('end', () => {
    state.ended = true;
  });
  return state;
}

describe('socket API over two stacks on a memory wire', () => {
  it('completes the three-way handshake and reports addresses', async () => {
    const { world, device, peer, deviceEvents } = createStackPair();
    let accepted: Socket | undefined;
    device.net.createServer((socket) => (accepted = socket)).listen(7000);
    const client = peer.net.connect({ host: DEVICE_IP, port: 7000 });
    let connected = false;
    client.on('connect', () => (connected = true));
    assert.ok(await world.runUntilDone(() => connected && accepted !== undefined, 5_000));
    assert.equal(client.remoteAddress, DEVICE_IP);
    assert.equal(client.remotePort, 7000);
    assert.equal(client.localAddress, PEER_IP);
    assert.equal(accepted!.remoteAddress, PEER_IP);
    assert.equal(accepted!.remotePort, client.localPort);
    assert.equal(accepted!.tcp.state, 'ESTABLISHED');
    assert.equal(client.tcp.state, 'ESTABLISHED');
    assert.equal(deviceEvents.named('conn_open').length, 1);
  });

  it('carries data both ways, byte-exact', async () => {
    const { world, device, peer } = createStackPair();
    const random = new SeededRandom(7);
    const toDevice = Buffer.from(random.bytes(100_000));
    const toPeer = Buffer.from(random.bytes(70_000));
    let serverSide: ReturnType<typeof collect> | undefined;
    device.net
      .createServer((socket) => {
        serverSide = collect(socket);
        socket.end(toPeer);
      })
      .listen(7001);
    const client = peer.net.connect({ host: DEVICE_IP, port: 7001 });
    const clientSide = collect(client);
    client.end(toDevice);
    assert.ok(await world.runUntilDone(() => clientSide.ended && serverSide?.ended === true, 60_000));
    assert.ok(serverSide!.bytes().equals(toDevice));
    assert.ok(clientSide.bytes().equals(toPeer));
  });

  for (const closer of ['client', 'server'] as const) {
    it(`closes gracefully when the ${closer} closes first`, async () => {
      const { world, device, peer, deviceEvents, peerEvents } = createStackPair();
      let serverSocket: Socket | undefined;
      device.net.createServer((socket) => (serverSocket = socket)).listen(7002);
      const client = peer.net.connect({ host: DEVICE_IP, port: 7002 });
      assert.ok(await world.runUntilDone(() => serverSocket !== undefined, 5_000));
      const closes: string[] = [];
      client.on('close', () => closes.push('client'));
      serverSocket!.on('close', () => closes.push('server'));
      client.resume();
      serverSocket!.resume();
      const [first, second] = closer === 'client' ? [client, serverSocket!] : [serverSocket!, client];
      first.end();
      // The other side sees 'end' and (allowHalfOpen false) ends too.
      assert.ok(await world.runUntilDone(() => closes.length === 2, 10_000));
      assert.equal(second.readableEnded, true);
      // The side that closed first holds TIME-WAIT (RFC 9293 §3.6); the other is CLOSED.
      assert.equal(first.tcp.state, 'TIME-WAIT');
      assert.equal(second.tcp.state, 'CLOSED');
      const reasons = [...deviceEvents.named('conn_close'), ...peerEvents.named('conn_close')].map((f) => f.reason);
      assert.ok(reasons.length >= 1);
      assert.ok(reasons.every((r) => r === 'fin'), `close reasons: ${reasons.join(',')}`);
    });
  }

  it('keeps a half-closed connection sending (CLOSE-WAIT)', async () => {
    const { world, device, peer } = createStackPair();
    let serverSocket: Socket | undefined;
    device.net.createServer({ allowHalfOpen: true }, (socket) => (serverSocket = socket)).listen(7003);
    const client = peer.net.connect({ host: DEVICE_IP, port: 7003, allowHalfOpen: true });
    const clientSide = collect(client);
    assert.ok(await world.runUntilDone(() => serverSocket !== undefined, 5_000));
    const serverSide = collect(serverSocket!);
    client.end('request');
    assert.ok(await world.runUntilDone(() => serverSide.ended, 5_000));
    assert.equal(serverSocket!.tcp.state, 'CLOSE-WAIT');
    serverSocket!.end('reply after the peer closed its side');
    assert.ok(await world.runUntilDone(() => clientSide.ended, 5_000));
    assert.equal(serverSide.bytes().toString(), 'request');
    assert.equal(clientSide.bytes().toString(), 'reply after the peer closed its side');
  });

  it('refuses a connection to a closed port with RST (ECONNREFUSED)', async () => {
    const { world, peer } = createStackPair();
    const client = peer.net.connect({ host: DEVICE_IP, port: 7999 });
    let error: NodeJS.ErrnoException | undefined;
    client.on('error', (e: NodeJS.ErrnoException) => (error = e));
    assert.ok(await world.runUntilDone(() => error !== undefined, 5_000));
    assert.equal(error!.code, 'ECONNREFUSED');
    assert.equal(peer.counters.get('tcp.rx.rst') + peer.counters.get('tcp.rx.segments') > 0, true);
  });

  it('reports a reset by the peer as ECONNRESET', async () => {
    const { world, device, peer } = createStackPair();
    let serverSocket: Socket | undefined;
    device.net.createServer((socket) => (serverSocket = socket)).listen(7004);
    const client = peer.net.connect({ host: DEVICE_IP, port: 7004 });
    assert.ok(await world.runUntilDone(() => serverSocket !== undefined, 5_000));
    let error: NodeJS.ErrnoException | undefined;
    client.on('error', (e: NodeJS.ErrnoException) => (error = e));
    serverSocket!.resetAndDestroy();
    assert.ok(await world.runUntilDone(() => error !== undefined, 5_000));
    assert.equal(error!.code, 'ECONNRESET');
  });

  it('clamps every segment to the MSS of a 296-byte MTU', async () => {
    const { world, observeTcp, device, peer } = createStackPair({ mtu: 296 });
    const seen: number[] = [];
    const mssOptions: number[] = [];
    observeTcp((segment) => {
      seen.push(segment.payload.length);
      if (segment.options.mss !== undefined) mssOptions.push(segment.options.mss);
    });
    const payload = Buffer.from(new SeededRandom(3).bytes(20_000));
    let received: ReturnType<typeof collect> | undefined;
    device.net.createServer((socket) => (received = collect(socket))).listen(7005);
    const client = peer.net.connect({ host: DEVICE_IP, port: 7005 });
    client.end(payload);
    assert.ok(await world.runUntilDone(() => received?.ended === true, 60_000));
    assert.ok(received!.bytes().equals(payload));
    assert.deepEqual(mssOptions, [256, 256], 'both SYNs advertise MSS = 296 - 40');
    // RFC 7323 timestamps are negotiated: every segment carries 12 option bytes, which
    // count against the MSS (RFC 9293 §3.7.1), so a full segment holds 256 − 12.
    assert.ok(seen.length > 20_000 / 256);
    assert.ok(Math.max(...seen) <= 256 - 12, `largest segment ${Math.max(...seen)}`);
    assert.equal(Math.max(...seen), 256 - 12, 'full-sized segments are used');
  });

  it('moves 1 MiB through 5% loss and reordering, byte-exact', async (t) => {
    const { world, device, peer, wire } = createStackPair({
      seed: 42,
      faults: { lossRate: 0.05, reorderRate: 0.05, delayMs: 1, reorderDelayMs: 3 },
    });
    const payload = Buffer.from(new SeededRandom(9).bytes(1024 * 1024));
    let received: ReturnType<typeof collect> | undefined;
    device.net.createServer((socket) => (received = collect(socket))).listen(7006);
    const client = peer.net.connect({ host: DEVICE_IP, port: 7006 });
    client.end(payload);
    assert.ok(await world.runUntilDone(() => received?.ended === true, 600_000), 'transfer finished');
    const digest = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    assert.equal(digest(received!.bytes()), digest(payload));
    const retransmits = peer.counters.get('tcp.tx.retransmits');
    assert.ok(retransmits > 0, 'losses were repaired by retransmission');
    t.diagnostic(`virtual time ${world.now.toFixed(0)} ms, retransmits ${retransmits}, wire ${JSON.stringify(wire.stats('a-to-b'))}`);
  });
});
