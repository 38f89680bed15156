/**
 * Two complete piwire stacks on a perfect memory wire, driven by the firmware's
 * real-time loop (firmware/loop.ts): the fixture for running real libraries (http, tls,
 * mqtt, ws) on piwire sockets where they use Node's own timers, and for benchmarks that
 * report wall-clock round trips. "device" is 198.18.0.2, "peer" 198.18.0.1.
 *
 * Deterministic protocol tests belong on the VirtualWorld (stack-pair.ts); this one is
 * for code that cannot run on a virtual clock. `close()` stops the loop.
 */
import { MemoryWire } from '../../hal/link/memory.ts';
import { NetStack } from '../../src/stack.ts';
import { RecordingEventSink } from '../../src/events.ts';
import { SeededRandom } from '../../src/random.ts';
import { parseIpv4, parseMac } from '../../src/net/address.ts';
import type { TcpConfig } from '../../src/tcp/config.ts';
import { RealtimeLoop } from '../../firmware/loop.ts';

export const DEVICE_IP = '198.18.0.2';
export const PEER_IP = '198.18.0.1';

export interface RealtimePair {
  loop: RealtimeLoop;
  wire: MemoryWire;
  device: NetStack;
  peer: NetStack;
  deviceEvents: RecordingEventSink;
  peerEvents: RecordingEventSink;
  close(): void;
}

export function createRealtimePair(options: { mtu?: number; tcp?: Partial<TcpConfig> } = {}): RealtimePair {
  const mtu = options.mtu ?? 1500;
  const loop = new RealtimeLoop();
  const deviceMac = parseMac('02:00:00:00:00:02')!;
  const peerMac = parseMac('02:00:00:00:00:01')!;
  const wire = new MemoryWire({ clock: loop.clock, random: new SeededRandom(1), mtu, macA: deviceMac, macB: peerMac });
  const deviceEvents = new RecordingEventSink();
  const peerEvents = new RecordingEventSink();
  const stack = (end: MemoryWire['a'], mac: Uint8Array, address: string, seed: number, events: RecordingEventSink): NetStack => {
    const created = new NetStack(
      end,
      { mac, address: parseIpv4(address)!, prefixLength: 24, mtu, tcp: options.tcp },
      { clock: loop.clock, random: new SeededRandom(seed), events, onWork: loop.wake },
    );
    end.setReceiver((frame) => {
      created.receiveFrame(frame);
      loop.wake();
    }, created);
    return created;
  };
  const device = stack(wire.a, deviceMac, DEVICE_IP, 2, deviceEvents);
  const peer = stack(wire.b, peerMac, PEER_IP, 3, peerEvents);
  loop.add(wire);
  loop.add(device);
  loop.add(peer);
  loop.addLink(wire.a);
  loop.addLink(wire.b);
  device.start();
  peer.start();
  return { loop, wire, device, peer, deviceEvents, peerEvents, close: () => loop.stop() };
}
