/**
 * Section 5: two complete piwire stacks (Ethernet, ARP, IPv4, TCP) joined by a perfect
 * memory wire, in one process, no syscalls: the upper bound that the frame I/O path is
 * compared with. Time on the stacks' clock is virtual (a ManualClock that jumps from
 * deadline to deadline); the figure is bytes over WALL-clock seconds, i.e. how fast the
 * stack code itself moves data on this CPU.
 */
import { performance } from 'node:perf_hooks';
import { MemoryWire } from '../../hal/link/memory.ts';
import { NetStack } from '../../src/stack.ts';
import { nullEventSink } from '../../src/events.ts';
import { SeededRandom } from '../../src/random.ts';
import { ManualClock, type Pollable } from '../../src/time.ts';
import { parseIpv4, parseMac } from '../../src/net/address.ts';
import { noopHandler, type TcpConnection } from '../../src/tcp/connection.ts';

export interface StackOnlyResult {
  mtu: number;
  bytes: number;
  wallSeconds: number;
  gbitPerSecond: number;
  /** TCP segments sent by both stacks (data one way, ACKs the other) per wall second. */
  segmentsPerSecond: number;
  dataSegments: number;
  ackSegments: number;
}

const SERVER_PORT = 9;

export function runStackOnly(mtu: number, bytes: number): StackOnlyResult {
  const clock = new ManualClock(0);
  const deviceMac = parseMac('02:00:00:00:00:02')!;
  const peerMac = parseMac('02:00:00:00:00:01')!;
  const deviceAddress = parseIpv4('198.18.0.2')!;
  const wire = new MemoryWire({ clock, random: new SeededRandom(1), mtu, macA: deviceMac, macB: peerMac });
  // Keepalive off: a benchmark of moving data, not of idle timers.
  const tcp = { keepalive: { enabled: false, idle: 10_000, interval: 2_000, count: 3 }, rcvBuf: 64 * 1024, sndBuf: 64 * 1024 };
  const device = new NetStack(wire.a, { mac: deviceMac, address: deviceAddress, prefixLength: 24, mtu, tcp }, { clock, random: new SeededRandom(2), events: nullEventSink });
  const peer = new NetStack(wire.b, { mac: peerMac, address: parseIpv4('198.18.0.1')!, prefixLength: 24, mtu, tcp }, { clock, random: new SeededRandom(3), events: nullEventSink });
  wire.a.setReceiver((frame) => device.receiveFrame(frame), device);
  wire.b.setReceiver((frame) => peer.receiveFrame(frame), peer);
  const components: Pollable[] = [wire, device, peer];
  device.start();
  peer.start();

  let received = 0;
  let finished = false;
  device.tcp.listen(SERVER_PORT, {}, (connection) => {
    connection.handler = {
      ...noopHandler(),
      onReadable: () => {
        for (let chunk = connection.read(1 << 20); chunk; chunk = connection.read(1 << 20)) received += chunk.length;
      },
      onRemoteFin: () => {
        finished = true;
        connection.shutdown();
      },
    };
  });
  const block = new Uint8Array(64 * 1024).fill(0x5a);
  const client: TcpConnection = peer.tcp.connect(deviceAddress, SERVER_PORT);
  let sent = 0;
  const pump = (): void => {
    while (sent < bytes) {
      const accepted = client.send(block.subarray(0, Math.min(block.length, bytes - sent)));
      if (accepted === 0) return;
      sent += accepted;
    }
    client.shutdown();
  };
  client.handler = { ...noopHandler(), onEstablished: pump, onWritable: pump };

  const started = performance.now();
  // Run the virtual world: poll whatever is due, else jump to the next deadline.
  for (let step = 0; step < 50_000_000 && !finished; step++) {
    const now = clock.now();
    let polled = false;
    let next = Infinity;
    for (const component of components) {
      const due = component.pollAt();
      if (due === undefined) continue;
      if (due <= now) {
        component.poll(now);
        polled = true;
      } else if (due < next) next = due;
    }
    if (!polled) {
      if (next === Infinity) break;
      clock.set(next);
    }
  }
  const wallSeconds = (performance.now() - started) / 1000;
  if (!finished || received !== bytes) throw new Error(`stack-only run at MTU ${mtu} did not complete: ${received} of ${bytes} bytes`);
  const dataSegments = peer.counters.get('tcp.tx.segments');
  const ackSegments = device.counters.get('tcp.tx.segments');
  return {
    mtu,
    bytes,
    wallSeconds,
    gbitPerSecond: (bytes * 8) / wallSeconds / 1e9,
    segmentsPerSecond: (dataSegments + ackSegments) / wallSeconds,
    dataSegments,
    ackSegments,
  };
}
