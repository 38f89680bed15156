/**
 * Two complete piwire stacks joined by a memory wire in a virtual world: the
 * standard fixture for socket-level tests. "device" is 198.18.0.2, "peer" 198.18.0.1.
 */
import { MemoryWire, type WireFaults } from '../../hal/link/memory.ts';
import { NetStack } from '../../src/stack.ts';
import { RecordingEventSink } from '../../src/events.ts';
import { SeededRandom } from '../../src/random.ts';
import { parseIpv4, parseMac } from '../../src/net/address.ts';
import type { TcpConfig } from '../../src/tcp/config.ts';
import { noopHandler, type TcpConnection } from '../../src/tcp/connection.ts';
import { parseEthernet } from '../../src/wire/ethernet.ts';
import { IpProtocol, parseIpv4 as parseIpv4Packet } from '../../src/wire/ipv4.ts';
import { parseTcp, type TcpRepr } from '../../src/wire/tcp.ts';
import { VirtualWorld } from './virtual-world.ts';

export const DEVICE_IP = '198.18.0.2';
export const PEER_IP = '198.18.0.1';

export interface StackPairOptions {
  mtu?: number;
  seed?: number;
  faults?: Partial<WireFaults>;
  deviceTcp?: Partial<TcpConfig>;
  peerTcp?: Partial<TcpConfig>;
  /**
   * Each stack takes the frames of one wire poll as one receive batch (the default, as
   * on a native link); false delivers every frame as its own entry point, as a link that
   * cannot tell batches does.
   */
  receiveBatches?: boolean;
  /** The device's end emulates segmentation offload up to this IPv4 packet size (MemoryWire `segmentOffloadA`). */
  deviceSegmentOffload?: number;
}

export interface StackPair {
  world: VirtualWorld;
  wire: MemoryWire;
  device: NetStack;
  peer: NetStack;
  deviceEvents: RecordingEventSink;
  peerEvents: RecordingEventSink;
  /** Calls `observer` with every frame delivered, either way, before the stack sees it. */
  observe(observer: (frame: Uint8Array, to: 'device' | 'peer') => void): void;
  /** Like `observe`, for the TCP segments among those frames (parsed; views valid during the call). */
  observeTcp(observer: (segment: TcpRepr, to: 'device' | 'peer') => void): void;
  /** Loses every TCP segment sent towards `to` that `predicate` picks (MemoryWire `dropWhen`); `undefined` stops. */
  dropTcp(to: 'device' | 'peer', predicate: ((segment: TcpRepr) => boolean) | undefined): void;
}

export function createStackPair(options: StackPairOptions = {}): StackPair {
  const mtu = options.mtu ?? 1500;
  const world = new VirtualWorld();
  const random = new SeededRandom(options.seed ?? 1);
  const deviceMac = parseMac('02:00:00:00:00:02')!;
  const peerMac = parseMac('02:00:00:00:00:01')!;
  const wire = new MemoryWire({
    clock: world.clock,
    random,
    mtu,
    macA: deviceMac,
    macB: peerMac,
    poisonAfterDelivery: true,
    segmentOffloadA: options.deviceSegmentOffload,
  });
  if (options.faults) wire.setFaults('both', options.faults);
  const observers: ((frame: Uint8Array, to: 'device' | 'peer') => void)[] = [];
  const deviceEvents = new RecordingEventSink();
  const peerEvents = new RecordingEventSink();
  const device = new NetStack(
    wire.a,
    { mac: deviceMac, address: parseIpv4(DEVICE_IP)!, prefixLength: 24, mtu, tcp: options.deviceTcp },
    { clock: world.clock, random: new SeededRandom((options.seed ?? 1) + 100), events: deviceEvents },
  );
  const peer = new NetStack(
    wire.b,
    { mac: peerMac, address: parseIpv4(PEER_IP)!, prefixLength: 24, mtu, tcp: options.peerTcp },
    { clock: world.clock, random: new SeededRandom((options.seed ?? 1) + 200), events: peerEvents },
  );
  const batches = options.receiveBatches ?? true;
  wire.a.setReceiver((frame) => {
    for (const observer of observers) observer(frame, 'device');
    device.receiveFrame(frame);
  }, batches ? device : undefined);
  wire.b.setReceiver((frame) => {
    for (const observer of observers) observer(frame, 'peer');
    peer.receiveFrame(frame);
  }, batches ? peer : undefined);
  world.add(wire);
  world.add(device);
  world.add(peer);
  device.start();
  peer.start();
  const observe = (observer: (frame: Uint8Array, to: 'device' | 'peer') => void): void => {
    observers.push(observer);
  };
  const observeTcp = (observer: (segment: TcpRepr, to: 'device' | 'peer') => void): void =>
    observe((frame, to) => {
      const segment = tcpSegmentOf(frame);
      if (segment !== undefined) observer(segment, to);
    });
  const dropTcp = (to: 'device' | 'peer', predicate: ((segment: TcpRepr) => boolean) | undefined): void => {
    wire.dropWhen(to === 'peer' ? 'a-to-b' : 'b-to-a', predicate === undefined ? undefined : (frame) => {
      const segment = tcpSegmentOf(frame);
      return segment !== undefined && predicate(segment);
    });
  };
  return { world, wire, device, peer, deviceEvents, peerEvents, observe, observeTcp, dropTcp };
}

/** The TCP segment a frame carries, parsed (views into the frame), or undefined. */
function tcpSegmentOf(frame: Uint8Array): TcpRepr | undefined {
  const ethernet = parseEthernet(frame);
  if (!ethernet.ok) return undefined;
  const ip = parseIpv4Packet(ethernet.value.payload);
  if (!ip.ok || ip.value.protocol !== IpProtocol.TCP) return undefined;
  const tcp = parseTcp(ip.value.payload, ip.value.source, ip.value.destination);
  return tcp.ok ? tcp.value : undefined;
}

/**
 * Listens on `port` of `stack` with a reader that takes every byte as it arrives (raw
 * TCP API, no socket); returns a function giving the bytes read so far.
 */
export function listenAndCount(stack: NetStack, port: number): () => number {
  let received = 0;
  stack.tcp.listen(port, {}, (connection) => {
    connection.handler = {
      ...noopHandler(),
      onReadable: () => {
        for (let chunk = connection.read(65_536); chunk; chunk = connection.read(65_536)) received += chunk.length;
      },
    };
  });
  return () => received;
}

/**
 * Makes `connection` (an active open) send all of `data` as its buffer takes it, from
 * ESTABLISHED on, then half-close: the bulk sender of the transfer tests and benches.
 */
export function sendAllThenClose(connection: TcpConnection, data: Uint8Array): void {
  let offset = 0;
  const pump = (): void => {
    while (offset < data.length) {
      const accepted = connection.send(data.subarray(offset));
      if (accepted === 0) return;
      offset += accepted;
    }
    connection.shutdown();
  };
  connection.handler = { ...noopHandler(), onEstablished: pump, onWritable: pump };
}
