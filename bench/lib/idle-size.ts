/**
 * Memory per idle connection, measured in-process with the collector (issue 13: ≤ 4 KiB
 * per idle connection, everything included): two piwire stacks on a perfect memory wire
 * in virtual time (test/support/stack-pair.ts), COUNT connections from the peer held
 * open and idle, heap plus ArrayBuffer memory after full GCs. The peer's side of each
 * connection is a bare `TcpConnection` (no socket), the same in every variant; the
 * device's side is one of:
 *
 *   - `sensor`: the sensor service (socket, session, its wiring), as deployed;
 *   - `sensor-used`: the same after one exchange (HELLO, TIME, PING and their replies;
 *     no PUT, whose reading the test store would keep per connection), as a sensor that reported once and went quiet: what its first use took
 *     and kept (framer, token bucket, reply queue, socket and TCP state of a flow);
 *   - `socket`: a socket server whose connections only read (the socket layer alone);
 *   - `tcp`: a bare `TcpConnection` with a no-op handler (the TCP state alone).
 *
 * Each figure is per connection PAIR. Both sides of `tcp` are the same object kind, so
 * half of it is one `TcpConnection`, and the device's whole cost per connection in the
 * other variants is the pair's figure minus that half. Run it bundled, as
 * the firmware is deployed: tsx's `keepNames` gives every closure its own property
 * store (BASELINE.md section 3) and overstates closures.
 *
 * The bench's `stack` section runs it bundled (`measureIdleSizesBundled`). By hand:
 *   npx esbuild bench/lib/idle-size.ts --bundle --platform=node --format=esm --outfile=/tmp/idle-size.mjs
 *   node /tmp/idle-size.mjs [--count 2000] [--variant sensor --snapshot FILE]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeHeapSnapshot } from 'node:v8';
import { parseArgs } from 'node:util';
import { MemoryWire } from '../../hal/link/memory.ts';
import { NetStack } from '../../src/stack.ts';
import { nullEventSink } from '../../src/events.ts';
import { SeededRandom } from '../../src/random.ts';
import { parseMac } from '../../src/net/address.ts';
import { VirtualWorld } from '../../test/support/virtual-world.ts';
import { startSensorService } from '../../src/services/sensors/service.ts';
import { MemoryReadingStore } from '../../src/storage/readings.ts';
import { ManualClock } from '../../src/time.ts';
import { parseIpv4 } from '../../src/net/address.ts';
import { noopHandler, type TcpConnection } from '../../src/tcp/connection.ts';
import type { Socket } from '../../src/socket/socket.ts';
import { settledMemory } from './state-size.ts';


export type IdleVariant = 'sensor' | 'sensor-used' | 'socket' | 'tcp';
const VARIANTS: readonly IdleVariant[] = ['tcp', 'socket', 'sensor', 'sensor-used'];

const PORT = 7070;
const DEVICE_IP = '198.18.0.2';

/**
 * The device (198.18.0.2) and the peer on a memory wire, as test/support/stack-pair.ts
 * builds them but with events dropped (that fixture records every event, which would be
 * counted here); the peer sends no keepalives.
 */
function stackPair(count: number): { world: VirtualWorld; device: NetStack; peer: NetStack } {
  const world = new VirtualWorld();
  const deviceMac = parseMac('02:00:00:00:00:02')!;
  const peerMac = parseMac('02:00:00:00:00:01')!;
  const wire = new MemoryWire({ clock: world.clock, random: new SeededRandom(1), mtu: 1500, macA: deviceMac, macB: peerMac });
  const device = new NetStack(
    wire.a,
    { mac: deviceMac, address: parseIpv4(DEVICE_IP)!, prefixLength: 24, mtu: 1500, tcp: { maxConnections: count + 16 } },
    { clock: world.clock, random: new SeededRandom(2), events: nullEventSink },
  );
  const peer = new NetStack(
    wire.b,
    {
      mac: peerMac,
      address: parseIpv4('198.18.0.1')!,
      prefixLength: 24,
      mtu: 1500,
      tcp: { maxConnections: count + 16, keepalive: { enabled: false, idle: 10_000, interval: 2_000, count: 3 } },
    },
    { clock: world.clock, random: new SeededRandom(3), events: nullEventSink },
  );
  wire.a.setReceiver((frame) => device.receiveFrame(frame), device);
  wire.b.setReceiver((frame) => peer.receiveFrame(frame), peer);
  world.add(wire);
  world.add(device);
  world.add(peer);
  device.start();
  peer.start();
  return { world, device, peer };
}

/** COUNT idle connections of `variant`, established and past their first timers; returns what keeps them alive. */
async function build(variant: IdleVariant, count: number): Promise<unknown> {
  const pair = stackPair(count);
  const kept: unknown[] = [];
  let accepted = 0;
  let service: { readonly connections: number } | undefined;
  if (variant === 'sensor' || variant === 'sensor-used') {
    service = startSensorService({
      api: pair.device.net,
      port: PORT,
      store: new MemoryReadingStore({ autoCommit: true }),
      clock: pair.world.clock,
      wallClock: new ManualClock(1_700_000_000_000),
      events: nullEventSink,
      counters: pair.device.counters,
    });
  } else if (variant === 'socket') {
    pair.device.net
      .createServer({ allowHalfOpen: true }, (socket: Socket) => {
        accepted++;
        socket.on('data', () => undefined);
      })
      .listen(PORT);
  } else {
    pair.device.tcp.listen(PORT, {}, (connection) => {
      accepted++;
      kept.push(connection);
    });
  }
  const device = parseIpv4(DEVICE_IP)!;
  const peers: TcpConnection[] = [];
  for (let i = 0; i < count; i++) {
    const connection = pair.peer.tcp.connect(device, PORT);
    connection.handler = noopHandler();
    peers.push(connection);
  }
  const established = (): boolean => peers.every((connection) => connection.state === 'ESTABLISHED');
  if (!(await pair.world.runUntilDone(established, 60_000))) throw new Error(`idle-size: ${variant}: connections did not establish`);
  if (variant === 'sensor-used') {
    const request = new TextEncoder().encode('HELLO s\nTIME\nPING\n');
    const replyBytes = 'OK hello s\nTIME 1700000000000\nPONG\n'.length;
    const received = new Array<number>(count).fill(0);
    peers.forEach((connection, i) => {
      connection.handler = {
        ...noopHandler(),
        onReadable: () => {
          for (let chunk = connection.read(4096); chunk; chunk = connection.read(4096)) received[i]! += chunk.length;
        },
      };
      connection.send(request);
    });
    if (!(await pair.world.runUntilDone(() => received.every((bytes) => bytes >= replyBytes), 60_000))) {
      throw new Error('idle-size: sensor-used: not every sensor got its replies');
    }
    for (const connection of peers) connection.handler = noopHandler();
  }
  // Past the handshake's timers and delayed ACKs, well before keepalive (10 s).
  await pair.world.runFor(3_000);
  if (service !== undefined) accepted = service.connections;
  if (accepted !== count) throw new Error(`idle-size: ${variant}: ${accepted} of ${count} accepted`);
  return { pair, peers, kept };
}

/**
 * Bytes per connection pair of one variant, in this process: warmed up by a smaller
 * run first, then measured from a clean baseline. Each variant runs in a process of its
 * own (`measureIdleSizes`), so nothing of one is collected during another's figure.
 */
export async function measureVariant(variant: IdleVariant, count: number, snapshot?: string): Promise<number> {
  await build(variant, Math.min(count, 500));
  const before = settledMemory();
  const world = await build(variant, count);
  const bytes = (settledMemory() - before) / count;
  if (snapshot !== undefined) writeHeapSnapshot(snapshot);
  if (world === undefined) throw new Error('unreachable');
  return bytes;
}

export interface IdleSizes {
  count: number;
  /** Bytes per connection pair, heap + ArrayBuffers after GC. */
  pair: Record<IdleVariant, number>;
  /** The device's side alone: the pair minus one bare TcpConnection (half of `tcp`). */
  device: Record<IdleVariant, number>;
}

/**
 * Every variant, each in a child process running `script` (this module: bundled, or
 * under tsx as this process runs).
 */
export function measureIdleSizes(count: number, script = fileURLToPath(import.meta.url), nodeArguments = process.execArgv): IdleSizes {
  const pair: Record<IdleVariant, number> = { tcp: 0, socket: 0, sensor: 0, 'sensor-used': 0 };
  for (const variant of VARIANTS) {
    const run = spawnSync(process.execPath, [...nodeArguments, script, '--variant', variant, '--count', String(count)], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`idle-size ${variant} failed: ${run.stderr.slice(-2000)}`);
    pair[variant] = Number(run.stdout.trim());
  }
  const half = pair.tcp / 2;
  const device = { ...pair };
  for (const variant of VARIANTS) device[variant] = variant === 'tcp' ? half : pair[variant] - half;
  return { count, pair, device };
}

/** `measureIdleSizes` on this module bundled with esbuild, as the firmware is deployed (no tsx `keepNames`). */
export async function measureIdleSizesBundled(count: number): Promise<IdleSizes> {
  const directory = mkdtempSync(join(tmpdir(), 'pw-bench-idle-'));
  try {
    const script = join(directory, 'idle-size.mjs');
    // Imported here and left out of the bundle: the bundled child never builds.
    const { build } = await import('esbuild');
    await build({ entryPoints: [fileURLToPath(import.meta.url)], bundle: true, platform: 'node', format: 'esm', outfile: script, external: ['esbuild'], logLevel: 'warning' });
    return measureIdleSizes(count, script, []);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { count: { type: 'string', default: '2000' }, variant: { type: 'string' }, snapshot: { type: 'string' } } });
  const count = Number(values.count);
  if (values.variant === undefined) {
    process.stdout.write(`${JSON.stringify(measureIdleSizes(count))}\n`);
  } else {
    process.stdout.write(`${await measureVariant(values.variant as IdleVariant, count, values.snapshot)}\n`);
  }
}
