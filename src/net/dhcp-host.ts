/**
 * Binds a DhcpClient (src/net/dhcp.ts) to one interface: its messages go out through
 * the UDP layer (port 68 → 67), its replies come in on port 68, its RFC 5227 probes go
 * out and the ARP packets it listens to come in through the interface, and the lease it
 * grants becomes the interface's address.
 *
 * `DhcpBootstrap` is the same client on an interface of its own that starts without
 * an address: the firmware runs it until the first lease is bound, then builds the
 * full stack (whose TCP is bound to one address for its lifetime) on that address and
 * lets a client attached there with `bindDhcpClient` + `resume()` carry the lease on.
 */
import type { Clock, Instant, Pollable } from '../time.ts';
import type { Counters } from '../stats.ts';
import type { EventSink } from '../events.ts';
import type { RandomSource } from '../random.ts';
import type { FrameDevice } from './device.ts';
import type { Ipv4Address, MacAddress } from './address.ts';
import { NetworkInterface } from './interface.ts';
import type { InterfaceAddress } from './interface.ts';
import { UdpLayer } from './udp.ts';
import { DhcpClient } from './dhcp.ts';
import type { DhcpLease, DhcpSettings } from './dhcp.ts';
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT, dhcpBufferLength, emitDhcp } from '../wire/dhcp.ts';
import { IpProtocol } from '../wire/ipv4.ts';

export type LeaseListener = (lease: DhcpLease | undefined, now: Instant) => void;

export interface DhcpBindingDependencies {
  random: RandomSource;
  counters: Counters;
  events: EventSink;
}

const UNCONFIGURED: InterfaceAddress = { address: 0, prefixLength: 0, gateway: undefined };

/** The interface address a lease stands for. */
export function leaseAddress(lease: DhcpLease | undefined): InterfaceAddress {
  if (!lease) return UNCONFIGURED;
  return { address: lease.address, prefixLength: lease.prefixLength, gateway: lease.router };
}

function sameAddress(a: Readonly<InterfaceAddress>, b: InterfaceAddress): boolean {
  return a.address === b.address && a.prefixLength === b.prefixLength && a.gateway === b.gateway;
}

/**
 * Creates a client on `iface`: port 68 bound on `udp`, the interface's ARP observer set.
 * Every lease change reconfigures the interface (a changed address is announced, RFC 5227
 * §2.3) before `onLease` hears of it.
 */
export function bindDhcpClient(
  iface: NetworkInterface,
  udp: UdpLayer,
  mac: MacAddress,
  deps: DhcpBindingDependencies,
  settings: Partial<DhcpSettings>,
  onLease: LeaseListener,
): DhcpClient {
  const client = new DhcpClient(
    {
      mac,
      send: (message, destination: Ipv4Address) => {
        const bytes = new Uint8Array(dhcpBufferLength(message));
        emitDhcp(message, bytes);
        udp.send(DHCP_CLIENT_PORT, destination, DHCP_SERVER_PORT, bytes);
      },
      sendArpProbe: (target) => iface.sendArpProbe(target),
      setLease: (lease, now) => {
        const next = leaseAddress(lease);
        if (!sameAddress(iface.addressConfig, next)) {
          iface.setAddress(next);
          iface.announce();
        }
        onLease(lease, now);
      },
    },
    deps,
    settings,
  );
  udp.bind(DHCP_CLIENT_PORT, (datagram, now) => {
    // RFC 2131 §4.1: servers answer from port 67 (relays too); anything else is not DHCP.
    if (datagram.sourcePort !== DHCP_SERVER_PORT) {
      deps.counters.increment('dhcp.drop.bad-port');
      return;
    }
    client.receive(datagram.payload, now);
  });
  iface.onArp((packet, now) => client.arpSeen(packet, now));
  return client;
}

export interface DhcpBootstrapOptions extends DhcpBindingDependencies {
  clock: Clock;
  mtu: number;
  settings?: Partial<DhcpSettings>;
}

/** An address-less interface with just UDP and the DHCP client, until the first lease. */
export class DhcpBootstrap implements Pollable {
  readonly interface: NetworkInterface;
  readonly client: DhcpClient;
  private bound: DhcpLease | undefined;
  private readonly listeners: ((lease: DhcpLease) => void)[] = [];
  private readonly clock: Clock;

  constructor(device: FrameDevice, options: DhcpBootstrapOptions) {
    this.clock = options.clock;
    this.interface = new NetworkInterface(
      device,
      { mac: device.mac, address: 0, prefixLength: 0, mtu: options.mtu },
      { clock: options.clock, counters: options.counters, events: options.events },
    );
    const udp = new UdpLayer(this.interface, options.counters);
    this.interface.registerProtocol(IpProtocol.UDP, udp);
    this.client = bindDhcpClient(this.interface, udp, device.mac, options, options.settings ?? {}, (lease) => {
      if (!lease || this.bound) return;
      this.bound = lease;
      for (const listener of this.listeners) listener(lease);
    });
  }

  /** INIT-REBOOT with `previousAddress` when given, else INIT. */
  start(now: Instant, previousAddress?: Ipv4Address): void {
    this.client.start(now, previousAddress);
  }

  /** Called once, with the first bound lease. */
  onBound(listener: (lease: DhcpLease) => void): void {
    this.listeners.push(listener);
  }

  get lease(): DhcpLease | undefined {
    return this.bound;
  }

  receiveFrame(frame: Uint8Array): void {
    this.interface.receiveFrame(frame);
  }

  setCarrier(up: boolean): void {
    if (this.interface.setCarrier(up) && up) this.client.linkUp(this.clock.now());
  }

  /** Stops the client (the stack's own client takes over). */
  stop(): void {
    this.client.stop();
    this.interface.onArp(undefined);
  }

  pollAt(): Instant | undefined {
    const a = this.interface.pollAt();
    const b = this.client.pollAt();
    if (a === undefined) return b;
    if (b === undefined) return a;
    return Math.min(a, b);
  }

  poll(now: Instant): void {
    this.interface.poll(now);
    this.client.poll(now);
  }
}
