/**
 * The IP-level link (`--link ip:IFNAME`): for boards whose only network is an interface
 * the kernel must keep (Wi-Fi on a Pi Zero W or 3A+). IPv4 packets go in and out through
 * two raw sockets of the npm `raw-socket` package (SOCK_RAW, IPPROTO_TCP and
 * IPPROTO_ICMP), both bound to IFNAME (SO_BINDTODEVICE), sending with IP_HDRINCL (the
 * stack writes the IPv4 header itself) and marked with SO_MARK = RST_GUARD_MARK.
 *
 * The kernel keeps ARP, the radio and the address: the device's address is the
 * interface's own (`address()`), the next hop is the kernel's business. Because the kernel
 * also sees every TCP segment for that address and answers the device's ports with RSTs,
 * an nftables rule (ip-guard.ts, installed by `deploy/install.sh --layout wifi`) drops
 * TCP RSTs leaving IFNAME that do not carry our mark; the firmware checks it at start-up.
 *
 * ICMP: the kernel answers echo requests to its address itself, so they are not handed
 * to the stack (`link.drop.kernel-echo`); echo replies (the shell's `ping`) and other
 * ICMP are. UDP is not carried (the kernel's own DHCP client configures the interface):
 * a packet the stack sends with another protocol is counted (`link.drop.protocol`).
 *
 * Call order: `openIpLink` → setReceiver/onCarrierChange → transmitPacket* → close.
 * Received packets are views into the socket's receive buffer, valid only during the call.
 */
import { createRequire } from 'node:module';
import { networkInterfaces } from 'node:os';
import { readFileSync } from 'node:fs';
import type { PacketDevice } from '../../src/net/device.ts';
import { Counters } from '../../src/stats.ts';
import { formatIpv4, parseIpv4 } from '../../src/net/address.ts';
import type { Ipv4Address } from '../../src/net/address.ts';
import type { CarrierHandler } from './link.ts';
import type * as RawSocketModule from 'raw-socket';
import { RST_GUARD_MARK } from './ip-guard.ts';

export type PacketHandler = (packet: Uint8Array) => void;

export interface InterfaceAddress {
  address: Ipv4Address;
  prefixLength: number;
  gateway: Ipv4Address | undefined;
}

export interface IpLink extends PacketDevice {
  readonly name: string;
  readonly carrier: boolean;
  /** The address the kernel holds on the interface: the device's own. */
  readonly address: InterfaceAddress;
  setReceiver(handler: PacketHandler): void;
  onCarrierChange(handler: CarrierHandler): void;
  /** Nothing is batched: packets go to the sockets' own queues at once. */
  flush(): void;
  close(): void;
  stats(): Record<string, number>;
}

export interface IpLinkOptions {
  interfaceName: string;
  /** The configured IP MTU; the interface's own MTU caps it. */
  mtu: number;
}

/** Packets waiting in the sockets' send queues; beyond it, a packet is dropped (`link.drop.queue-full`). */
const MAX_QUEUED_PACKETS = 1024;
const IPPROTO_TCP = 6;
const IPPROTO_ICMP = 1;
const ICMP_ECHO_REQUEST = 8;
const SO_MARK = 36;
/** Large enough for any IPv4 packet the interface can deliver (64 KiB − 1 with GRO). */
const RECEIVE_BUFFER_BYTES = 65_536;

/** Loads `raw-socket` (an optional dependency with a native build) or says why it cannot. */
function loadRawSocket(): typeof RawSocketModule {
  try {
    return createRequire(import.meta.url)('raw-socket') as typeof RawSocketModule;
  } catch (error) {
    const why = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new Error(`--link ip: needs the raw-socket package and its native build (npm install raw-socket): ${why}`);
  }
}

/** The kernel's IPv4 address, prefix and default gateway for `name`, or a clear error. */
export function readInterfaceAddress(name: string): InterfaceAddress {
  const entries = networkInterfaces()[name];
  if (entries === undefined) throw new Error(`--link ip:${name}: there is no interface ${name}`);
  const ipv4 = entries.find((entry) => entry.family === 'IPv4');
  const address = ipv4 === undefined ? undefined : parseIpv4(ipv4.address);
  const prefixLength = ipv4?.cidr ? Number(ipv4.cidr.split('/')[1]) : NaN;
  if (address === undefined || !Number.isInteger(prefixLength)) {
    throw new Error(`--link ip:${name}: ${name} has no IPv4 address; in IP mode the kernel holds the address (dhcpcd or NetworkManager configure it)`);
  }
  return { address, prefixLength, gateway: readDefaultGateway(name) };
}

/** /proc/net/route: the default route's gateway via `name` (little-endian hex), if any. */
function readDefaultGateway(name: string): Ipv4Address | undefined {
  let table: string;
  try {
    table = readFileSync('/proc/net/route', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of table.split('\n').slice(1)) {
    const [iface, destination, gateway] = line.trim().split(/\s+/);
    if (iface !== name || destination !== '00000000' || gateway === undefined) continue;
    const value = Number.parseInt(gateway, 16);
    if (!Number.isFinite(value) || value === 0) continue;
    // Bytes are in host (little-endian) order: swap them.
    return (((value & 0xff) << 24) | (((value >>> 8) & 0xff) << 16) | (((value >>> 16) & 0xff) << 8) | (value >>> 24)) >>> 0;
  }
  return undefined;
}

function readSysfs(name: string, attribute: string): string | undefined {
  try {
    return readFileSync(`/sys/class/net/${name}/${attribute}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function openIpLink(options: IpLinkOptions): IpLink {
  const raw = loadRawSocket();
  const name = options.interfaceName;
  const address = readInterfaceAddress(name);
  const interfaceMtu = Number(readSysfs(name, 'mtu'));
  const mtu = Number.isInteger(interfaceMtu) && interfaceMtu > 0 ? Math.min(options.mtu, interfaceMtu) : options.mtu;
  const carrier = readSysfs(name, 'carrier') !== '0';
  const counters = new Counters();
  let receiver: PacketHandler = () => undefined;
  let closed = false;
  let queued = 0;

  const open = (protocol: number): RawSocketModule.Socket => {
    const socket = raw.createSocket({ protocol, bufferSize: RECEIVE_BUFFER_BYTES });
    try {
      const device = Buffer.from(`${name}\0`);
      socket.setOption(raw.SocketLevel.SOL_SOCKET, raw.SocketOption.SO_BINDTODEVICE, device, device.length);
      socket.setOption(raw.SocketLevel.IPPROTO_IP, raw.SocketOption.IP_HDRINCL, 1);
      socket.setOption(raw.SocketLevel.SOL_SOCKET, SO_MARK, RST_GUARD_MARK);
    } catch (error) {
      socket.close();
      const why = error instanceof Error ? error.message : String(error);
      throw new Error(`--link ip:${name}: cannot set up a raw socket (needs CAP_NET_RAW and CAP_NET_ADMIN): ${why}`);
    }
    socket.on('error', (error) => {
      counters.increment('link.error');
      if (!closed) process.emitWarning(`ip:${name} raw socket: ${error.message}`);
    });
    return socket;
  };
  const tcp = open(IPPROTO_TCP);
  let icmp: RawSocketModule.Socket;
  try {
    icmp = open(IPPROTO_ICMP);
  } catch (error) {
    tcp.close();
    throw error;
  }

  const deliver = (buffer: Buffer): void => {
    if (closed) return;
    counters.increment('link.rx.packets');
    counters.increment('link.rx.bytes', buffer.length);
    receiver(buffer);
  };
  tcp.on('message', (buffer) => deliver(buffer));
  icmp.on('message', (buffer) => {
    // The kernel answers pings to its own address; a second answer from us would be a duplicate.
    const headerLength = ((buffer[0] ?? 0) & 0x0f) * 4;
    if (buffer[headerLength] === ICMP_ECHO_REQUEST) {
      counters.increment('link.drop.kernel-echo');
      return;
    }
    deliver(buffer);
  });

  const link: IpLink = {
    kind: 'ip',
    name: `ip:${name}`,
    mtu,
    carrier,
    address,
    setReceiver(handler) {
      receiver = handler;
    },
    onCarrierChange() {
      // Carrier changes of a Wi-Fi link are the kernel's to handle (it keeps the address).
    },
    transmitPacket(packet) {
      if (closed) {
        counters.increment('link.drop.closed');
        return;
      }
      if (packet.length < 20 || packet.length > mtu) {
        counters.increment('link.drop.oversize');
        return;
      }
      const protocol = packet[9];
      const socket = protocol === IPPROTO_TCP ? tcp : protocol === IPPROTO_ICMP ? icmp : undefined;
      if (!socket) {
        counters.increment('link.drop.protocol');
        return;
      }
      if (queued >= MAX_QUEUED_PACKETS) {
        counters.increment('link.drop.queue-full');
        return;
      }
      const destination = formatIpv4(((packet[16]! << 24) | (packet[17]! << 16) | (packet[18]! << 8) | packet[19]!) >>> 0);
      queued++;
      socket.send(Buffer.from(packet.buffer, packet.byteOffset, packet.length), 0, packet.length, destination, (error) => {
        queued--;
        if (error) {
          counters.increment('link.drop.send-error');
          return;
        }
        counters.increment('link.tx.packets');
        counters.increment('link.tx.bytes', packet.length);
      });
    },
    flush() {},
    close() {
      if (closed) return;
      closed = true;
      tcp.close();
      icmp.close();
    },
    stats() {
      return counters.snapshot();
    },
  };
  return link;
}
