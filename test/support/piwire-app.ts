/**
 * A small Node application on piwire's own stack, for the namespace suite: it owns
 * `packet:IFNAME` in the device namespace, runs one piwire stack on the firmware's
 * real-time loop, and uses real libraries on its sockets, as a user's program would.
 * It speaks JSON lines on stdout (`{"ts","level","event",...}`) so that
 * test/support/firmware-process.ts can start and watch it like the firmware.
 *
 *   piwire-app.ts run --link IFNAME --ip CIDR --mode mqtt --broker IP:PORT [--count N]
 *       mqtt client on a piwire socket against a kernel broker (mosquitto): subscribes
 *       to t/#, publishes N messages at QoS 1 and N at QoS 2 one after the other, and
 *       logs `mqtt_result` (messages received in order, PUBACK round trips), then exits.
 *   piwire-app.ts run --link IFNAME --ip CIDR --mode http --port P
 *       node:http server on a piwire listener (GET /hello, POST /sha256), logs `ready`
 *       and serves until SIGTERM.
 */
import { parseArgs } from 'node:util';
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import * as http from 'node:http';
import mqtt from 'mqtt';
import { RealtimeLoop } from '../../firmware/loop.ts';
import { CryptoRandom } from '../../firmware/random.ts';
import { attachStack } from '../../firmware/device.ts';
import { openPacketLink } from '../../hal/link/packet.ts';
import { parseCidr } from '../../src/net/address.ts';
import type { EventFields } from '../../src/events.ts';

const { values: flags } = parseArgs({
  allowPositionals: true,
  options: {
    link: { type: 'string' },
    ip: { type: 'string' },
    mode: { type: 'string' },
    broker: { type: 'string' },
    port: { type: 'string', default: '8080' },
    count: { type: 'string', default: '200' },
  },
});

function log(event: string, fields: EventFields = {}): void {
  process.stdout.write(`${JSON.stringify({ ts: Date.now(), level: 'info', event, ...fields })}\n`);
}

const cidr = parseCidr(flags.ip ?? '');
if (!flags.link || !cidr) {
  process.stderr.write('usage: piwire-app.ts run --link IFNAME --ip CIDR --mode mqtt|http ...\n');
  process.exit(2);
}
const loop = new RealtimeLoop();
const link = openPacketLink({ interfaceName: flags.link, disableOffloads: true });
const { stack } = attachStack(
  link,
  { mac: link.mac, address: cidr.address, prefixLength: cidr.prefixLength, mtu: link.mtu },
  { loop, random: new CryptoRandom(), events: { emit: (event, fields) => log(event, fields) } },
);
const shutdown = (status: number): void => {
  loop.stop();
  link.close();
  process.exit(status);
};
process.on('SIGTERM', () => shutdown(0));

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function runMqtt(): Promise<void> {
  const [host, port] = (flags.broker ?? '').split(':');
  const count = Number(flags.count);
  const client = new mqtt.MqttClient(() => stack.net.connect({ host: host ?? '', port: Number(port) }), {
    clientId: 'piwire-app',
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
  const errors: string[] = [];
  client.on('error', (error) => errors.push(String(error)));
  await new Promise((resolve) => client.once('connect', resolve));
  log('ready', { ip: flags.ip, mac: '', mtu: link.mtu, ports: {} });
  const received: Record<string, string[]> = { '1': [], '2': [] };
  client.on('message', (topic, payload) => received[topic.split('/')[1] ?? '']?.push(payload.toString()));
  await client.subscribeAsync('t/#', { qos: 2 });
  const roundTrips: Record<string, number[]> = { '1': [], '2': [] };
  for (const qos of [1, 2] as const) {
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      await client.publishAsync(`t/${qos}`, String(i), { qos });
      roundTrips[String(qos)]!.push(performance.now() - started);
    }
  }
  const deadline = Date.now() + 10_000; // hang guard
  while ((received['1']!.length < count || received['2']!.length < count) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const inOrder = (list: string[]): boolean => list.length === count && list.every((value, index) => value === String(index));
  await client.endAsync();
  log('mqtt_result', {
    count,
    qos1InOrder: inOrder(received['1']!),
    qos2InOrder: inOrder(received['2']!),
    received1: received['1']!.length,
    received2: received['2']!.length,
    pubackMedianMs: median(roundTrips['1']!),
    pubcompMedianMs: median(roundTrips['2']!),
    errors,
  });
  // Let the DISCONNECT and FIN go out before the process ends.
  setTimeout(() => shutdown(0), 200);
}

function runHttp(): void {
  const port = Number(flags.port);
  const server = http.createServer((request, response) => {
    if (request.method === 'GET' && request.url === '/hello') {
      response.setHeader('content-type', 'text/plain');
      response.end('hello from piwire\n');
      return;
    }
    if (request.method === 'POST' && request.url === '/sha256') {
      const hash = createHash('sha256');
      let bytes = 0;
      request.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
      });
      request.on('end', () => response.end(`${bytes} ${hash.digest('hex')}\n`));
      return;
    }
    response.statusCode = 404;
    response.end('not found\n');
  });
  const listener = stack.net.createServer((socket) => server.emit('connection', socket));
  listener.listen(port, () => log('ready', { ip: flags.ip, mac: '', mtu: link.mtu, ports: { http: port } }));
}

if (flags.mode === 'mqtt') {
  runMqtt().catch((error: unknown) => {
    log('app_error', { error: String(error) });
    shutdown(1);
  });
} else if (flags.mode === 'http') {
  runHttp();
} else {
  process.stderr.write(`unknown --mode ${String(flags.mode)}\n`);
  shutdown(2);
}
