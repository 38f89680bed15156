/**
 * Section `libraries` (issue 14): the same library code on piwire sockets and on the
 * kernel's, measured the same way.
 *
 * - piwire: two piwire stacks on a perfect memory wire, on the firmware's real-time
 *   loop, in this process (test/support/realtime-pair.ts);
 * - kernel: node:net over the loopback interface of a namespace of the bench's own
 *   topology (bench/clients/libraries.ts, run inside it).
 *
 * Metrics: an aedes broker with an mqtt client, QoS 1 publish→PUBACK round trip
 * (median and p99 of sequential publishes); node:http GET requests per second over one
 * kept-alive connection (sequential: a request/response latency figure); a corked
 * 4-byte request/response round trip (the delayed-ACK stall issue 14 removed).
 */
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import * as http from 'node:http';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { createRealtimePair, DEVICE_IP } from '../../test/support/realtime-pair.ts';

export interface LibrariesResult {
  mqttPubackMedianMs: number;
  mqttPubackP99Ms: number;
  httpRequestsPerSecond: number;
  corkedRoundTripMedianMs: number;
}

interface Transport {
  host: string;
  listen(port: number, onConnection: (socket: Duplex) => void): Promise<{ close(): void }>;
  connect(port: number): Duplex;
}

function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN;
}

async function mqttRoundTrips(transport: Transport, count: number): Promise<number[]> {
  const broker = await Aedes.createBroker();
  const server = await transport.listen(18830, (socket) => broker.handle(socket));
  const client = new mqtt.MqttClient(() => transport.connect(18830), { clientId: 'bench', protocolVersion: 4, reconnectPeriod: 0 });
  await new Promise((resolve) => client.once('connect', resolve));
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await client.publishAsync('bench/rtt', 'payload', { qos: 1 });
    times.push(performance.now() - started);
  }
  await client.endAsync();
  await new Promise<void>((resolve) => broker.close(() => resolve()));
  server.close();
  return times;
}

async function httpRate(transport: Transport, count: number): Promise<number> {
  const httpServer = http.createServer((_request, response) => response.end('ok'));
  const server = await transport.listen(18080, (socket) => httpServer.emit('connection', socket));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  (agent as unknown as { createConnection: () => Duplex }).createConnection = () => transport.connect(18080);
  const get = (): Promise<void> =>
    new Promise((resolve, reject) => {
      http
        .get({ host: transport.host, port: 18080, path: '/', agent }, (response) => {
          response.resume();
          response.on('end', resolve);
        })
        .on('error', reject);
    });
  await get();
  const started = performance.now();
  for (let i = 0; i < count; i++) await get();
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  httpServer.close();
  server.close();
  return count / seconds;
}

async function corkedRoundTrips(transport: Transport, count: number): Promise<number[]> {
  const server = await transport.listen(18031, (socket) => {
    let pending = 0;
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.length;
      for (; pending >= 4; pending -= 4) {
        socket.cork();
        socket.write('wx');
        socket.write('yz');
        process.nextTick(() => socket.uncork());
      }
    });
  });
  const client = transport.connect(18031);
  await once(client, 'connect');
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    client.cork();
    client.write('ab');
    client.write('cd');
    client.uncork();
    for (let got = 0; got < 4; ) got += ((await once(client, 'data')) as [Buffer])[0].length;
    times.push(performance.now() - started);
  }
  client.destroy();
  server.close();
  return times;
}

export async function measureLibraries(kind: 'piwire' | 'kernel', quick = false): Promise<LibrariesResult> {
  const pair = kind === 'piwire' ? createRealtimePair() : undefined;
  const transport: Transport = pair
    ? {
        host: DEVICE_IP,
        listen: async (port, onConnection) => {
          const server = pair.device.net.createServer(onConnection);
          await new Promise<void>((resolve) => server.listen(port, resolve));
          return server;
        },
        connect: (port) => pair.peer.net.connect({ host: DEVICE_IP, port }),
      }
    : {
        host: '127.0.0.1',
        listen: async (port, onConnection) => {
          const server = net.createServer(onConnection);
          await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
          return server;
        },
        connect: (port) => net.connect(port, '127.0.0.1'),
      };
  try {
    const rtts = await mqttRoundTrips(transport, quick ? 200 : 1000);
    const rate = await httpRate(transport, quick ? 500 : 3000);
    const corked = await corkedRoundTrips(transport, quick ? 200 : 1000);
    return {
      mqttPubackMedianMs: percentile(rtts, 0.5),
      mqttPubackP99Ms: percentile(rtts, 0.99),
      httpRequestsPerSecond: rate,
      corkedRoundTripMedianMs: percentile(corked, 0.5),
    };
  } finally {
    pair?.close();
  }
}
