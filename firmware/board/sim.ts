/**
 * The simulated board (SPEC section 8): no root, no hardware. The device's stack runs
 * on a memory wire whose other end is a second piwire stack playing the LAN, and the
 * device's service ports are bridged to localhost, so `nc localhost 7070` reaches the
 * device through its own user-space TCP (host socket → LAN stack → wire → device).
 *
 * Host ports: a device port ≥ 1024 is bridged to the same localhost port; a
 * privileged one (echo 7, discard 9, chargen 19) to 7000 + port (7007, 7009, 7019).
 */
import { createServer, type Server as HostServer, type Socket as HostSocket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { MemoryWire } from '../../hal/link/memory.ts';
import type { Link } from '../../hal/link/link.ts';
import type { EventSink } from '../../src/events.ts';
import type { RandomSource } from '../../src/random.ts';
import { NetStack } from '../../src/stack.ts';
import { formatIpv4, type Ipv4Address, type MacAddress } from '../../src/net/address.ts';
import type { Socket } from '../../src/socket/socket.ts';
import type { RealtimeLoop } from '../loop.ts';

export const SIM_DEVICE_CIDR = '198.18.0.2/24';
export const SIM_LAN_ADDRESS = '198.18.0.1';
export const SIM_DEVICE_MAC = '02:00:5e:12:00:02';
export const SIM_LAN_MAC = '02:00:5e:12:00:01';

export function hostPortFor(devicePort: number): number {
  return devicePort >= 1024 ? devicePort : 7000 + devicePort;
}

export interface SimulatedLan {
  /** The device's end of the wire: the firmware attaches its stack here. */
  deviceLink: Link;
  wire: MemoryWire;
  lan: NetStack;
  /** Bridges localhost:hostPortFor(port) to the device's port; resolves once listening. */
  bridge(devicePort: number): Promise<number>;
  close(): Promise<void>;
}

export interface SimulatedLanOptions {
  loop: RealtimeLoop;
  random: RandomSource;
  events: EventSink;
  mtu: number;
  deviceAddress: Ipv4Address;
  deviceMac: MacAddress;
  lanAddress: Ipv4Address;
  lanMac: MacAddress;
  prefixLength: number;
  /** Host interface the bridges listen on. */
  bridgeHost?: string;
}

export function createSimulatedLan(options: SimulatedLanOptions): SimulatedLan {
  const { loop } = options;
  const wire = new MemoryWire({ clock: loop.clock, random: options.random, mtu: options.mtu, macA: options.deviceMac, macB: options.lanMac });
  const lan = new NetStack(
    wire.b,
    { mac: options.lanMac, address: options.lanAddress, prefixLength: options.prefixLength, mtu: options.mtu },
    { clock: loop.clock, random: options.random, events: options.events, onWork: loop.wake },
  );
  wire.b.setReceiver((frame) => lan.receiveFrame(frame));
  loop.add(wire);
  loop.add(lan);
  loop.addLink(wire.b);
  lan.start();

  const servers: HostServer[] = [];
  const deviceHost = formatIpv4(options.deviceAddress);

  const bridge = (devicePort: number): Promise<number> => {
    const hostPort = hostPortFor(devicePort);
    const server = createServer((host: HostSocket) => {
      const device: Socket = lan.net.connect({ host: deviceHost, port: devicePort });
      host.pipe(device);
      device.pipe(host);
      host.on('error', () => device.destroy());
      device.on('error', () => host.destroy());
      host.on('close', () => device.destroy());
      device.on('close', () => host.destroy());
    });
    servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(hostPort, options.bridgeHost ?? '127.0.0.1', () => resolve(hostPort));
    });
  };

  return {
    deviceLink: wire.a,
    wire,
    lan,
    bridge,
    close: async () => {
      await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    },
  };
}

/** A locally administered MAC for a device that was given none. */
export function randomLocalMac(): MacAddress {
  const mac = randomBytes(6);
  mac[0] = ((mac[0] ?? 0) & 0xfe) | 0x02;
  return mac;
}
