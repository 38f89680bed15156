/**
 * Real libraries, unchanged, on piwire sockets (SPEC §3, §9; issue 14): two complete
 * stacks on a memory wire driven by the firmware's real-time loop, since these
 * libraries use Node's own timers. Each case is code a Node developer writes for
 * `node:net`, given a piwire socket instead:
 *   tls.TLSSocket both ways (SHA-256 of a bulk transfer), readline, stream.pipeline,
 *   node:http (GET, a 2 MiB POST, keep-alive reuse of one connection), an aedes MQTT
 *   broker with an mqtt client (QoS 0/1/2, 1,000 messages in order), ws (WebSocket).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable, pipeline } from 'node:stream';
import { promisify } from 'node:util';
import { createInterface } from 'node:readline';
import * as http from 'node:http';
import * as tls from 'node:tls';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { WebSocket, WebSocketServer } from 'ws';
import { createRealtimePair, DEVICE_IP, type RealtimePair } from '../support/realtime-pair.ts';
import { loadOrCreateShellCertificate, type ShellCertificate } from '../../firmware/shell-certificate.ts';
import { SeededRandom } from '../../src/random.ts';
import type { Socket } from '../../src/socket/socket.ts';

const pipelineAsync = promisify(pipeline);
const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** A deterministic source of `total` bytes in 16 KiB chunks, its digest computed as it goes. */
function source(total: number, seed: number): { stream: Readable; digest: () => string } {
  const random = new SeededRandom(seed);
  const hash = createHash('sha256');
  let left = total;
  const stream = new Readable({
    read() {
      if (left === 0) {
        this.push(null);
        return;
      }
      const chunk = Buffer.from(random.bytes(Math.min(16 * 1024, left)));
      left -= chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}

/** A sink that hashes what it receives and records the largest amount buffered upstream. */
function sink(): { stream: Writable; digest: () => string; bytes: () => number } {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      // A slow consumer: every chunk takes a turn of the event loop.
      setImmediate(callback);
    },
  });
  return { stream, digest: () => hash.digest('hex'), bytes: () => bytes };
}

describe('real libraries on piwire sockets (two stacks in memory, real-time loop)', () => {
  let pair: RealtimePair;
  let stateDir: string;
  let certificate: ShellCertificate;

  before(async () => {
    pair = createRealtimePair({ tcp: { rcvBuf: 64 * 1024, sndBuf: 64 * 1024 } });
    stateDir = mkdtempSync(join(tmpdir(), 'piwire-libs-'));
    certificate = await loadOrCreateShellCertificate({ stateDir, commonName: DEVICE_IP });
  });
  after(() => {
    pair.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('tls.TLSSocket both ways: 4 MiB each way, SHA-256 equal', async () => {
    const size = 4 * 1024 * 1024;
    const toClient = source(size, 1);
    const fromClient = sink();
    const server = pair.device.net.createServer((raw) => {
      const secure = new tls.TLSSocket(raw, { isServer: true, cert: certificate.cert, key: certificate.key });
      secure.on('error', () => undefined);
      secure.pipe(fromClient.stream);
      toClient.stream.pipe(secure);
    });
    server.listen(8443);
    const raw = pair.peer.net.connect({ host: DEVICE_IP, port: 8443 });
    const client = tls.connect({ socket: raw, ca: certificate.cert, servername: 'piwire', checkServerIdentity: () => undefined });
    const toServer = source(size, 2);
    const atClient = sink();
    await once(client, 'secureConnect');
    assert.equal(client.authorized, true, String(client.authorizationError));
    await Promise.all([pipelineAsync(toServer.stream, client), pipelineAsync(client, atClient.stream), once(fromClient.stream, 'finish')]);
    assert.equal(atClient.bytes(), size);
    assert.equal(atClient.digest(), toClient.digest());
    assert.equal(fromClient.bytes(), size);
    assert.equal(fromClient.digest(), toServer.digest());
    server.close();
  });

  it('stream.pipeline to a slow consumer keeps memory bounded by the windows and highWaterMarks', async () => {
    const size = 8 * 1024 * 1024;
    let peakBuffered = 0;
    let serverSocket: Socket | undefined;
    const server = pair.device.net.createServer((socket) => {
      serverSocket = socket;
      const sent = source(size, 3);
      void pipelineAsync(sent.stream, socket);
    });
    server.listen(8001);
    const client = pair.peer.net.connect({ host: DEVICE_IP, port: 8001 });
    const slow = sink();
    const sample = setInterval(() => {
      const buffered = client.readableLength + (serverSocket?.writableLength ?? 0);
      peakBuffered = Math.max(peakBuffered, buffered);
    }, 1);
    await pipelineAsync(client, slow.stream);
    clearInterval(sample);
    assert.equal(slow.bytes(), size);
    // Stream buffers (16 KiB highWaterMarks, one 64 KiB read) plus one send chunk: far below the 8 MiB sent.
    assert.ok(peakBuffered <= 160 * 1024, `peak buffered ${peakBuffered} bytes`);
    server.close();
  });

  it('readline reads lines from a piwire socket, CRLF and split lines included', async () => {
    const server = pair.device.net.createServer((socket) => {
      socket.write('alpha\r\nbe');
      setTimeout(() => socket.end('ta\ngamma\n'), 5);
    });
    server.listen(8002);
    const client = pair.peer.net.connect({ host: DEVICE_IP, port: 8002 });
    const lines: string[] = [];
    for await (const line of createInterface({ input: client, crlfDelay: Infinity })) lines.push(line);
    assert.deepEqual(lines, ['alpha', 'beta', 'gamma']);
    server.close();
  });

  it('node:http: GET, a 2 MiB POST and keep-alive reuse of one connection', async () => {
    const connections: Socket[] = [];
    const httpServer = http.createServer((request, response) => {
      if (request.method === 'GET') {
        response.setHeader('content-type', 'text/plain');
        response.end(`hello ${request.url}`);
        return;
      }
      const hash = createHash('sha256');
      let bytes = 0;
      request.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
      });
      request.on('end', () => response.end(JSON.stringify({ bytes, sha256: hash.digest('hex') })));
    });
    const server = pair.device.net.createServer((socket) => {
      connections.push(socket);
      httpServer.emit('connection', socket);
    });
    server.listen(8080);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    (agent as unknown as { createConnection: () => Socket }).createConnection = () => pair.peer.net.connect({ host: DEVICE_IP, port: 8080 });
    const request = (method: string, path: string, body?: Buffer): Promise<{ status: number; text: string }> =>
      new Promise((resolve, reject) => {
        const outgoing = http.request({ host: DEVICE_IP, port: 8080, method, path, agent }, (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        });
        outgoing.on('error', reject);
        outgoing.end(body);
      });
    const first = await request('GET', '/one');
    assert.deepEqual(first, { status: 200, text: 'hello /one' });
    const body = Buffer.from(new SeededRandom(5).bytes(2 * 1024 * 1024));
    const posted = await request('POST', '/upload', body);
    assert.equal(posted.status, 200);
    assert.deepEqual(JSON.parse(posted.text), { bytes: body.length, sha256: sha256(body) });
    const third = await request('GET', '/three');
    assert.equal(third.text, 'hello /three');
    assert.equal(connections.length, 1, 'all three requests went over one kept-alive connection');
    agent.destroy();
    // The server's close waits for the kept-alive connection to end (it does, once the agent closes it).
    await new Promise<void>((resolve) => server.close(() => resolve()));
    httpServer.close();
  });

  it('aedes broker and mqtt client: QoS 0, 1 and 2, 1,000 messages in order', async () => {
    const broker = await Aedes.createBroker();
    const server = pair.device.net.createServer((socket) => broker.handle(socket));
    server.listen(1883);
    const connect = (clientId: string): mqtt.MqttClient =>
      new mqtt.MqttClient(() => pair.peer.net.connect({ host: DEVICE_IP, port: 1883 }), { clientId, protocolVersion: 4, reconnectPeriod: 0 });
    const subscriber = connect('subscriber');
    const publisher = connect('publisher');
    const errors: Error[] = [];
    for (const client of [subscriber, publisher]) client.on('error', (error) => errors.push(error));
    await Promise.all([subscriber, publisher].map((client) => new Promise((resolve) => client.once('connect', resolve))));
    const received: Record<string, string[]> = { '0': [], '1': [], '2': [] };
    subscriber.on('message', (topic, payload) => received[topic.split('/')[1]!]!.push(payload.toString()));
    await subscriber.subscribeAsync('q/#', { qos: 2 });
    const count = 1_000;
    for (const qos of [0, 1, 2] as const) {
      const sends: Promise<unknown>[] = [];
      for (let i = 0; i < count; i++) sends.push(publisher.publishAsync(`q/${qos}`, String(i), { qos }));
      await Promise.all(sends);
    }
    const expected = Array.from({ length: count }, (_, i) => String(i));
    const deadline = Date.now() + 30_000; // hang guard only
    while (Object.values(received).some((list) => list.length < count) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(received['0'], expected);
    assert.deepEqual(received['1'], expected);
    assert.deepEqual(received['2'], expected);
    await Promise.all([subscriber.endAsync(), publisher.endAsync()]);
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    assert.deepEqual(errors, [], 'no stray ECONNRESET when the clients disconnect');
  });

  it('ws: a WebSocket server on piwire http, a client on a piwire socket, text and binary both ways', async () => {
    const httpServer = http.createServer((_request, response) => response.end('no websocket'));
    const wss = new WebSocketServer({ server: httpServer });
    wss.on('connection', (socket) => socket.on('message', (data, isBinary) => socket.send(isBinary ? data : `echo ${String(data)}`, { binary: isBinary })));
    const server = pair.device.net.createServer((socket) => httpServer.emit('connection', socket));
    server.listen(8081);
    const client = new WebSocket(`ws://${DEVICE_IP}:8081/live`, {
      createConnection: () => pair.peer.net.connect({ host: DEVICE_IP, port: 8081 }) as never,
    });
    await once(client, 'open');
    const replies: (string | Buffer)[] = [];
    client.on('message', (data, isBinary) => replies.push(isBinary ? Buffer.from(data as Buffer) : String(data)));
    const binary = Buffer.from(new SeededRandom(8).bytes(200_000));
    client.send('hello');
    client.send(binary);
    const deadline = Date.now() + 10_000; // hang guard only
    while (replies.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(replies[0], 'echo hello');
    assert.ok(Buffer.isBuffer(replies[1]) && sha256(replies[1]) === sha256(binary), 'binary frame echoed byte-exact');
    client.close(1000, 'done');
    const [code] = (await once(client, 'close')) as [number];
    assert.equal(code, 1000);
    wss.close();
    httpServer.close();
    server.close();
  });
});
