/**
 * The interface layer: one Ethernet interface with one IPv4 address. It owns a
 * FrameDevice and does Ethernet dispatch, ARP (RFC 826, conflict detection per
 * RFC 5227 §2.4), IPv4 input validation and dispatch (RFC 791, RFC 1122 §3.2.1),
 * next-hop choice (route.ts), ICMP echo (icmp-echo.ts) and ICMP errors to the transports
 * (icmp-error.ts).
 *
 * Call order (the owner: src/stack.ts, driven by firmware/loop.ts or a test):
 *   construct → registerProtocol(...) → announce() → then, in any order:
 *   receiveFrame(frame) for each frame from the link, sendIpv4(...) from transports,
 *   poll(now) whenever pollAt() is due, setCarrier(up) on carrier changes.
 *
 * Receive accounting. `ethernet.rx.frames` counts every frame handed to receiveFrame,
 * and every such frame ends in exactly one outcome counter, structurally: the receive
 * path returns the outcome's name and receiveFrame increments it once (a registered
 * protocol's delivered counter is incremented through its handle instead, the one
 * outcome of every data segment: no lookup by name per packet). Outcomes are
 *   delivered: `ethernet.rx.delivered.arp` (an ARP packet answered, learned from or
 *              merged into the cache), `ipv4.rx.delivered.<protocol>` (handed to a
 *              registered handler: `tcp`, `udp`, or the number), `icmp.rx.echo-request`,
 *              `icmp.rx.echo-reply`, `icmp.rx.error` (an ICMP error quoting one of our
 *              datagrams, handed to that protocol's `icmpError`: icmp-error.ts);
 *   dropped:   one `<layer>.drop.<reason>` counter for layers ethernet, arp, ipv4, icmp,
 *              or `stack.drop.internal-error` (an exception: a bug, reported as an
 *              `internal_error` event, never thrown out of receiveFrame).
 * So `ethernet.rx.frames == delivered + dropped`; `receiveAccounting(counters)` adds it up.
 * `ipv4.rx.delivered.tcp` counts handoffs to TCP: the TCP module counts its own parse
 * drops (`tcp.drop.*`) after that. The transmit path has drop counters of its own,
 * listed in TRANSMIT_DROP_COUNTERS, which are not receive outcomes.
 *
 * Send path (`sendIpv4`): one frame buffer of 14 + 20 + payloadLength is taken from a
 * slab (frame-slab.ts: owned by the device once sent, like a fresh allocation), or, when
 * the device lends transmit slots (device.ts `TransmitSlots`) and the next hop's MAC is
 * known, built in the slot the device sends at its next flush (no object per frame), the
 * IPv4 header written, the caller's `fill` writes the payload in place, then the
 * Ethernet header is written once the next hop's MAC is known: at once for broadcast,
 * multicast and cached neighbors, or later from the neighbor cache's queue. A TCP
 * super-segment (`segmentSize` > 0, only on a device with `segmentOffload`) is built in
 * the device's own transmit memory (`superFrame`) and goes to the device's offload when the next hop is resolved;
 * otherwise it is cut here (tcp-segmentation.ts) and its pieces wait like any frame.
 *
 * Address changes (DHCP, src/net/dhcp.ts). The address may be 0.0.0.0: the interface
 * is then *unconfigured* (RFC 2131 §4.1, RFC 1122 §3.3.6): it answers no ARP request,
 * learns no neighbor, sends nothing but limited broadcasts (source 0.0.0.0; anything
 * else is `ipv4.drop.no-address`) and accepts nothing but limited broadcasts
 * (`ipv4.drop.unconfigured`). `setAddress()` moves
 * between addresses; the neighbor cache is flushed on every change (its entries were
 * learned for the old prefix). `onArp()` lets a prober (RFC 5227 §2.1.1) watch every
 * well-formed ARP packet, and `sendArpProbe()` sends its probes.
 *
 * IP-level devices (`PacketDevice`, `--link ip:IFNAME`): the same interface without its
 * Ethernet half. `receivePacket(packet)` enters at the IPv4 layer (counted in
 * `ip.rx.packets` instead of `ethernet.rx.frames`), `sendIpv4` hands the IPv4 packet
 * (the frame buffer past its 14 unused header bytes) straight to the device, and ARP,
 * announcements and probes are the kernel's business, so they are never sent.
 *
 * Nothing here reads the OS clock: time comes from the injected Clock (receiveFrame
 * and sendIpv4 have no `now` parameter) and from poll(now).
 */
import type { EventSink } from '../events.ts';
import type { CounterHandle, Counters } from '../stats.ts';
import type { Clock, Instant, Pollable } from '../time.ts';
import { formatIpv4, formatMac, isMulticastMac, MAC_BROADCAST, MAC_ZERO, macEquals, sameSubnet } from './address.ts';
import type { Ipv4Address, MacAddress } from './address.ts';
import { isPacketDevice } from './device.ts';
import type { FrameDevice, PacketDevice, SegmentOffload } from './device.ts';
import type { IpSender, IpSendResult, PayloadFill } from './ip-sender.ts';
import { FrameSlab } from './frame-slab.ts';
import { segmentTcpFrame } from './tcp-segmentation.ts';
import { IcmpEcho } from './icmp-echo.ts';
import type { IcmpOutcome } from './icmp-echo.ts';
import { parseIcmpError, type IcmpErrorReport } from './icmp-error.ts';
import type { IcmpRepr } from '../wire/icmp.ts';
import type { EchoReplyHandler } from './icmp-echo.ts';
import { NeighborCache, NeighborDrop } from './neighbor.ts';
import type { NeighborEntry } from './neighbor.ts';
import { classifyAddress, isBroadcastKind, multicastMac, nextHopAddress } from './route.ts';
import type { RouteConfig } from './route.ts';
import { ARP_PACKET_LENGTH, ArpOperation, emitArp, parseArp } from '../wire/arp.ts';
import type { ArpRepr } from '../wire/arp.ts';
import { emitEthernetHeader, ETHERNET_HEADER_LENGTH, EthernetField, EtherType, macAt } from '../wire/ethernet.ts';
import { emitIpv4Header, emptyIpv4HeaderRepr, IpProtocol, IPV4_HEADER_LENGTH, IPV4_MAX_TOTAL_LENGTH, isFragment, parseIpv4HeaderInto } from '../wire/ipv4.ts';
import type { Ipv4Header, Ipv4HeaderRepr } from '../wire/ipv4.ts';
import { readUint16, DOUBLE_ZERO } from '../wire/bytes.ts';

export type { NeighborEntry, NeighborState } from './neighbor.ts';
export type { EchoReplyHandler } from './icmp-echo.ts';

export interface InterfaceConfig {
  mac: MacAddress;
  address: Ipv4Address;
  prefixLength: number;
  gateway?: Ipv4Address | undefined;
  /** IP MTU: the largest IPv4 packet sent (RFC 791 minimum 68). */
  mtu: number;
  arp?:
    | {
        /** Cache entry lifetime after the last confirmation (default 60 000 ms). */
        reachableMs?: number | undefined;
        /** Spacing of ARP requests for one neighbor (default 1000 ms). */
        requestIntervalMs?: number | undefined;
        /** Requests after the first before giving up (default 3). */
        requestRetries?: number | undefined;
        /** Frames kept per unresolved neighbor (default 16). */
        pendingPerNeighbor?: number | undefined;
        /** Frames kept over all unresolved neighbors (default 256). */
        pendingTotal?: number | undefined;
        /** Cache entries (default 512). */
        maxEntries?: number | undefined;
      }
    | undefined;
  /** TTL of the packets we originate (default 64, RFC 1700 / Linux ip_default_ttl). */
  ttl?: number | undefined;
}

export interface ProtocolHandler {
  /** `payload` is a view into the received frame, valid only during the call. */
  input(source: Ipv4Address, destination: Ipv4Address, payload: Uint8Array, now: Instant): void;
  /**
   * `input` of the payload `bytes[start, end)` (the received frame, valid only during the
   * call), if the protocol reads it in place: then the interface takes no view per
   * packet and calls this instead (TCP: every data segment comes this way).
   */
  inputRange?(source: Ipv4Address, destination: Ipv4Address, bytes: Uint8Array, start: number, end: number, now: Instant, tcpChecksumGood?: boolean): void;
  /**
   * An ICMP error quoting a datagram this protocol sent from our address (icmp-error.ts);
   * the report's views are valid only during the call. Protocols without it have such
   * errors counted as `icmp.drop.error-unhandled-protocol`.
   */
  icmpError?(report: IcmpErrorReport, now: Instant): void;
}

/** Sees every well-formed ARP packet before the interface acts on it (the RFC 5227 prober). */
export type ArpObserver = (packet: ArpRepr, now: Instant) => void;

/** The address part of the configuration, as `setAddress` takes it. */
export type InterfaceAddress = Pick<RouteConfig, 'address' | 'prefixLength' | 'gateway'>;

export interface InterfaceDependencies {
  clock: Clock;
  counters: Counters;
  events: EventSink;
}

/** Drop counters of the transmit path (packets we built that never reached the wire). */
export const TRANSMIT_DROP_COUNTERS: readonly string[] = Object.freeze([
  'ipv4.drop.too-big',
  'ipv4.drop.no-route',
  'ipv4.drop.loopback',
  'ipv4.drop.no-address',
  ...Object.values(NeighborDrop),
]);

/** Receive delivery counters are these, plus every `ipv4.rx.delivered.*`. */
const DELIVERED_COUNTERS = ['ethernet.rx.delivered.arp', 'icmp.rx.echo-request', 'icmp.rx.echo-reply', 'icmp.rx.error'] as const;
const RECEIVE_DROP_PREFIXES = ['ethernet.drop.', 'arp.drop.', 'ipv4.drop.', 'icmp.drop.', 'stack.drop.'] as const;

/**
 * Adds up the receive outcomes recorded in `counters`: for an interface that has been
 * the only one counting there, `frames === delivered + dropped` always holds.
 */
export function receiveAccounting(counters: Counters): { frames: number; delivered: number; dropped: number } {
  let delivered = counters.sum('ipv4.rx.delivered.');
  for (const name of DELIVERED_COUNTERS) delivered += counters.get(name);
  let dropped = 0;
  for (const prefix of RECEIVE_DROP_PREFIXES) dropped += counters.sum(prefix);
  for (const name of TRANSMIT_DROP_COUNTERS) dropped -= counters.get(name);
  return { frames: counters.get('ethernet.rx.frames') + counters.get('ip.rx.packets'), delivered, dropped };
}

type Layer = 'ethernet' | 'arp' | 'ipv4' | 'icmp';
/** The name of the one counter a received frame ends in. */
type ReceiveOutcome = `${Layer}.rx.${string}` | `${Layer}.drop.${string}` | 'stack.drop.internal-error' | typeof COUNTED;

/**
 * The outcome of a packet handed to a registered protocol: its `ipv4.rx.delivered.*`
 * counter was incremented through a handle already (no name lookup per packet), so
 * receiveFrame adds nothing.
 */
const COUNTED = 'counted';

interface RegisteredProtocol {
  handler: ProtocolHandler;
  /** `ipv4.rx.delivered.<protocol>`. */
  delivered: CounterHandle;
}
const NO_MAC = new Uint8Array(6);

/** RFC 5227 §2.3: ANNOUNCE_NUM announcements, ANNOUNCE_INTERVAL apart. */
const ANNOUNCE_COUNT = 2;
const ANNOUNCE_INTERVAL_MS = 2000;
/** RFC 5227 §1.1: DEFEND_INTERVAL, the least time between two defences of our address. */
const DEFEND_INTERVAL_MS = 10_000;
/** Internal-error events are rate limited so a bug hit by every frame cannot flood the log. */
const INTERNAL_ERROR_EVENT_INTERVAL_MS = 1000;
/** RFC 1112 §6.1: multicast goes no further than the local network unless asked otherwise. */
const MULTICAST_TTL = 1;
/** RFC 791: every host must accept 68-byte datagrams; the IPv4 total length caps the rest. */
const MINIMUM_MTU = 68;
const MAXIMUM_MTU = 0xffff;

const PROTOCOL_NAMES: Readonly<Record<number, string>> = { [IpProtocol.TCP]: 'tcp', [IpProtocol.UDP]: 'udp' };

export class NetworkInterface implements IpSender, Pollable {
  readonly config: Readonly<InterfaceConfig>;
  private readonly clock: Clock;
  private readonly counters: Counters;
  private readonly events: EventSink;
  private route: RouteConfig;
  private arpObserver: ArpObserver | undefined;
  private readonly mac: MacAddress;
  /** The effective IP MTU: the configured one, never more than the device carries. */
  private readonly mtu: number;
  private readonly ttl: number;
  private readonly neighborCache: NeighborCache;
  private readonly echo: IcmpEcho;
  /**
   * Handlers by IP protocol number (ICMP is ours), with their delivery counter: 256 slots,
   * an index and no Map lookup per packet.
   */
  private readonly protocols: (RegisteredProtocol | undefined)[] = new Array<RegisteredProtocol | undefined>(256).fill(undefined);
  /** RFC 6864 §4.1: for atomic (DF, unfragmented) datagrams any value is fine; a counter is cheap. */
  private identification = 0;
  /** Counters bumped for every frame, taken once (stats.ts handles). */
  private readonly rxFrames: CounterHandle;
  private readonly txPackets: CounterHandle;
  private readonly txFrames: CounterHandle;
  /** The received packet being handled (parseIpv4HeaderInto): one repr reused, nothing allocated per packet. */
  private readonly rxIpv4: Ipv4HeaderRepr = emptyIpv4HeaderRepr();
  /** Where sent frames come from (frame-slab.ts): no buffer allocation per frame. */
  private readonly frames = new FrameSlab();
  /** Reused for every packet sent: emitIpv4Header reads it and keeps nothing. */
  private readonly header: Ipv4Header;
  private announcementsLeft = 0;
  private nextAnnouncementAt: Instant | undefined;
  private lastDefenceAt: Instant | undefined;
  /** Carrier as last reported (a link starts with carrier until told otherwise). */
  private carrierUp = true;
  private lastInternalErrorEventAt: Instant | undefined;
  private suppressedInternalErrors = 0;
  /** Set for an IP-level device: no Ethernet, no ARP. */
  private readonly packetDevice: PacketDevice | undefined;
  private readonly device: FrameDevice;

  constructor(device: FrameDevice | PacketDevice, config: InterfaceConfig, deps: InterfaceDependencies) {
    if (isPacketDevice(device)) {
      this.packetDevice = device;
      this.device = { mtu: device.mtu, mac: NO_MAC, transmit: () => undefined };
    } else {
      this.device = device;
    }
    validateConfig(config);
    validateAddress(config);
    this.config = Object.freeze({ ...config, mac: Uint8Array.from(config.mac) });
    this.clock = deps.clock;
    this.counters = deps.counters;
    this.rxFrames = this.counters.handle('ethernet.rx.frames');
    this.txPackets = this.counters.handle('ipv4.tx.packets');
    this.txFrames = this.counters.handle('ethernet.tx.frames');
    this.events = deps.events;
    this.mac = this.config.mac;
    this.route = {
      address: config.address >>> 0,
      prefixLength: config.prefixLength,
      gateway: config.gateway === undefined ? undefined : config.gateway >>> 0,
    };
    this.mtu = Math.min(config.mtu, device.mtu);
    this.ttl = config.ttl ?? 64;
    this.header = { source: this.route.address, destination: DOUBLE_ZERO, protocol: 0, ttl: this.ttl, identification: 0, dontFragment: true };
    this.neighborCache = new NeighborCache(
      config.arp ?? {},
      {
        sendRequest: (address, unicastTo) => this.sendArpRequest(address, unicastTo),
        transmit: (frame, mac) => this.transmitFrame(frame, mac, EtherType.IPV4),
      },
      this.counters,
    );
    this.echo = new IcmpEcho(this, this.counters, (source, message, broadcast, now) =>
      this.receiveIcmpError(source, message, broadcast, now),
    );
  }

  // ---------------------------------------------------------------- receive

  /** Our address now; 0 (0.0.0.0) while unconfigured. */
  get address(): Ipv4Address {
    return this.route.address;
  }

  /** The address, prefix and gateway in use now. */
  get addressConfig(): Readonly<InterfaceAddress> {
    return this.route;
  }

  get configured(): boolean {
    return this.route.address !== 0;
  }

  /**
   * Takes a new address (0.0.0.0: none). The neighbor cache is flushed
   * (`arp.drop.address-change` for frames still waiting), pending announcements stop;
   * the caller announces the new address when it has probed it (`announce()`).
   * Programmer errors throw (an invalid prefix or gateway): callers validate first.
   */
  setAddress(address: InterfaceAddress): void {
    validateAddress(address);
    this.route = {
      address: address.address >>> 0,
      prefixLength: address.prefixLength,
      gateway: address.gateway === undefined ? undefined : address.gateway >>> 0,
    };
    this.header.source = this.route.address;
    this.neighborCache.clear(NeighborDrop.ADDRESS_CHANGE);
    this.announcementsLeft = 0;
    this.nextAnnouncementAt = undefined;
    this.lastDefenceAt = undefined;
  }

  /** One observer (the DHCP client's address prober); `undefined` removes it. */
  onArp(observer: ArpObserver | undefined): void {
    this.arpObserver = observer;
  }

  /**
   * RFC 5227 §2.1.1 ARP Probe for `target`: a broadcast request with our MAC as sender,
   * sender IP 0.0.0.0 (so no neighbor's cache is polluted), target MAC zero.
   */
  sendArpProbe(target: Ipv4Address): void {
    if (this.packetDevice) return;
    this.transmitArp(MAC_BROADCAST, {
      operation: ArpOperation.REQUEST,
      senderHardwareAddr: this.mac,
      senderProtocolAddr: 0,
      targetHardwareAddr: MAC_ZERO,
      targetProtocolAddr: target >>> 0,
    });
    this.counters.increment('arp.tx.probe');
  }

  /**
   * An IPv4 packet from an IP-level device (no Ethernet header). Never throws: every
   * packet ends delivered or in exactly one drop counter, as frames do.
   */
  receivePacket(packet: Uint8Array, now: Instant = this.clock.now()): void {
    this.counters.increment('ip.rx.packets');
    let outcome: ReceiveOutcome;
    try {
      outcome = this.receiveIpv4(packet, 0, packet.length, false, now, false);
    } catch (error) {
      outcome = 'stack.drop.internal-error';
      this.reportInternalError(error);
    }
    if (outcome !== COUNTED) this.counters.increment(outcome);
  }

  /**
   * Never throws: every frame ends delivered or in exactly one drop counter. `now` is
   * given by a caller that read the clock once for a batch of frames (NetStack).
   * `tcpChecksumGood`: the device verified the TCP checksum of the segment the frame
   * carries (receive checksum offload); TCP then does not sum it again.
   */
  receiveFrame(frame: Uint8Array, now: Instant = this.clock.now(), tcpChecksumGood = false): void {
    // receiveFrameAt's body, not a call to it: one call level less on the per-frame path
    // of the links that hand views (the memory wire: the stack-only instruction count).
    this.rxFrames.value++; // ethernet.rx.frames
    let outcome: ReceiveOutcome;
    try {
      outcome = this.receive(frame, 0, frame.length, now, tcpChecksumGood);
    } catch (error) {
      outcome = 'stack.drop.internal-error';
      this.reportInternalError(error);
    }
    if (outcome !== COUNTED) this.counters.increment(outcome);
  }

  /**
   * `receiveFrame` of the frame `bytes[start, end)`, read in place: a link whose frames
   * lie in one receive memory (the native links' ring) hands each as a range, so a frame
   * costs no view (hal/link/link.ts `ReceiveBatch.receiveFrameAt`). The bytes are valid
   * only during the call, as a frame is.
   */
  receiveFrameAt(bytes: Uint8Array, start: number, end: number, now: Instant = this.clock.now(), tcpChecksumGood = false): void {
    this.rxFrames.value++; // ethernet.rx.frames
    let outcome: ReceiveOutcome;
    try {
      outcome = this.receive(bytes, start, end, now, tcpChecksumGood);
    } catch (error) {
      outcome = 'stack.drop.internal-error';
      this.reportInternalError(error);
    }
    if (outcome !== COUNTED) this.counters.increment(outcome);
  }

  registerProtocol(protocol: number, handler: ProtocolHandler): void {
    if (!Number.isInteger(protocol) || protocol < 0 || protocol > 255) {
      throw new RangeError(`IP protocol must be an integer in 0..255, got ${protocol}`);
    }
    if (protocol === IpProtocol.ICMP) throw new RangeError('ICMP is handled by the interface itself');
    if (this.protocols[protocol] !== undefined) throw new RangeError(`IP protocol ${protocol} already has a handler`);
    this.protocols[protocol] = {
      handler,
      delivered: this.counters.handle(`ipv4.rx.delivered.${PROTOCOL_NAMES[protocol] ?? String(protocol)}`),
    };
  }

  /**
   * Ethernet (ethernet.ts's `parseEthernet`, read in place: the per-frame path takes no
   * view for the addresses; the outcomes are the same).
   */
  private receive(frame: Uint8Array, start: number, end: number, now: Instant, tcpChecksumGood: boolean): ReceiveOutcome {
    if (end - start < ETHERNET_HEADER_LENGTH) return 'ethernet.drop.truncated';
    // A packet socket hands us our own transmissions too.
    if (macAt(frame, start + EthernetField.SOURCE, this.mac)) return 'ethernet.drop.own-frame';
    // IEEE 802.3: a group address is never a valid source.
    if ((frame[start + EthernetField.SOURCE]! & 1) === 1) return 'ethernet.drop.bad-source';
    const linkGroup = (frame[start + EthernetField.DESTINATION]! & 1) === 1;
    if (!linkGroup && !macAt(frame, start + EthernetField.DESTINATION, this.mac)) return 'ethernet.drop.not-for-us';
    switch (readUint16(frame, start + EthernetField.ETHER_TYPE)) {
      case EtherType.ARP:
        return this.receiveArp(frame.subarray(start + ETHERNET_HEADER_LENGTH, end), now);
      case EtherType.IPV4:
        return this.receiveIpv4(frame, start + ETHERNET_HEADER_LENGTH, end, linkGroup, now, tcpChecksumGood);
      case EtherType.IPV6:
        return 'ethernet.drop.ipv6';
      default:
        return 'ethernet.drop.unknown-type';
    }
  }

  /** RFC 826 "Packet Reception", with RFC 5227 §2.4 conflict detection in front. */
  private receiveArp(payload: Uint8Array, now: Instant): ReceiveOutcome {
    const parsed = parseArp(payload);
    if (!parsed.ok) return `arp.drop.${parsed.error}`;
    const arp = parsed.value;
    if (arp.operation !== ArpOperation.REQUEST && arp.operation !== ArpOperation.REPLY) {
      return 'arp.drop.bad-operation';
    }
    const senderMac = arp.senderHardwareAddr;
    // A group or zero sender would poison the cache (frames to it would flood or vanish),
    // and our own MAC with another address is someone impersonating us.
    if (isMulticastMac(senderMac) || macEquals(senderMac, MAC_ZERO) || macEquals(senderMac, this.mac)) {
      return 'arp.drop.bad-sender';
    }
    this.arpObserver?.(arp, now);
    // Unconfigured: nothing to answer or defend, and no prefix to learn neighbors on.
    if (!this.configured) return this.arpObserver ? 'ethernet.rx.delivered.arp' : 'arp.drop.unconfigured';
    const sender = arp.senderProtocolAddr;
    if (sender === this.route.address) {
      // RFC 5227 §2.4: any ARP packet, request or reply, whose sender IP is ours but whose
      // sender MAC is not is a conflict, whatever its target.
      this.addressConflict(senderMac, now);
      return 'ethernet.rx.delivered.arp';
    }
    const forUs = arp.targetProtocolAddr === this.route.address;
    // Only plain on-link hosts are worth a cache entry: next hops are always on-link, and
    // 0.0.0.0 is an RFC 5227 probe's sender, not a host.
    const learnable = classifyAddress(sender, this.route) === 'unicast' && this.isOnLink(sender);
    // RFC 826: merge into an existing entry whatever the target; add one only when for us.
    const merged = learnable && this.neighborCache.update(sender, senderMac, now, forUs);
    if (!forUs) return merged ? 'ethernet.rx.delivered.arp' : 'arp.drop.not-for-us';
    if (arp.operation === ArpOperation.REQUEST) this.sendArpReply(arp);
    return 'ethernet.rx.delivered.arp';
  }

  /** The IPv4 packet at `bytes[start, end)` (past the Ethernet header, or 0 for a packet device). */
  private receiveIpv4(bytes: Uint8Array, start: number, end: number, linkGroup: boolean, now: Instant, tcpChecksumGood: boolean): ReceiveOutcome {
    const packet = this.rxIpv4;
    const error = parseIpv4HeaderInto(bytes, start, packet, true, end);
    if (error !== undefined) return `ipv4.drop.${error}`;
    const destinationKind = classifyAddress(packet.destination, this.route);
    const broadcast = isBroadcastKind(destinationKind);
    // RFC 2131 §4.1: before it has an address a client takes only broadcasts (it asks
    // servers for them with the BROADCAST flag); 0.0.0.0 is "local" to the classifier.
    if (!this.configured && destinationKind !== 'limited-broadcast') return 'ipv4.drop.unconfigured';
    // No multicast groups are joined, so multicast is not for us either.
    if (destinationKind !== 'local' && !broadcast) return 'ipv4.drop.not-for-us';
    // RFC 1122 §3.3.6: a datagram that came as a link-layer broadcast but is addressed to
    // one host SHOULD be discarded.
    if (linkGroup && !broadcast) return 'ipv4.drop.link-broadcast';
    // RFC 1122 §3.2.1.3: broadcast, multicast, "this network" and loopback sources are
    // invalid; our own address as source is a spoof or a conflict.
    if (classifyAddress(packet.source, this.route) !== 'unicast') return 'ipv4.drop.bad-source';
    // No reassembly (RFC 791 §3.2): the stack sends DF and advertises an MSS that fits.
    if (isFragment(packet)) return 'ipv4.drop.fragment';
    // The repr is reused by the next packet: its fields are passed by value, never kept.
    const protocol = packet.protocol;
    if (protocol === IpProtocol.ICMP) {
      return this.echo.input(packet.source, bytes.subarray(packet.payloadStart, packet.payloadEnd), broadcast, now);
    }
    const registered = this.protocols[protocol];
    // RFC 1122 §3.2.2.1 would have us send Protocol Unreachable here; we stay silent.
    if (registered === undefined) return 'ipv4.drop.unknown-protocol';
    // RFC 1122 §4.2.3.10: TCP has nothing to do with broadcast.
    if (broadcast && protocol === IpProtocol.TCP) return 'ipv4.drop.broadcast';
    const handler = registered.handler;
    if (handler.inputRange !== undefined) handler.inputRange(packet.source, packet.destination, bytes, packet.payloadStart, packet.payloadEnd, now, tcpChecksumGood);
    else handler.input(packet.source, packet.destination, bytes.subarray(packet.payloadStart, packet.payloadEnd), now);
    registered.delivered.value++;
    return COUNTED;
  }

  /**
   * An ICMP error message (RFC 1122 §3.2.2): reported to the protocol that sent the
   * quoted datagram, if that datagram came from our address. RFC 1122 §3.2.2 forbids
   * errors about broadcasts, so one sent to a broadcast address is not believed.
   */
  private receiveIcmpError(source: Ipv4Address, message: IcmpRepr, broadcast: boolean, now: Instant): IcmpOutcome {
    if (broadcast) return 'icmp.drop.broadcast-error';
    const parsed = parseIcmpError(source, message);
    if (!parsed.ok) return `icmp.drop.error-${parsed.error}`;
    const report = parsed.value;
    if (report.quotedSource !== this.route.address) return 'icmp.drop.error-not-ours';
    const handler = this.protocols[report.quotedProtocol]?.handler;
    if (handler?.icmpError === undefined) return 'icmp.drop.error-unhandled-protocol';
    handler.icmpError(report, now);
    return 'icmp.rx.error';
  }

  // ---------------------------------------------------------------- send

  /**
   * Builds one IPv4 packet (DF set, our TTL) whose payload `fill` writes in place, and
   * sends it to the next hop: the destination when on-link, else the gateway.
   * - 'sent': on the device; 'queued': waiting for ARP (it may still be dropped:
   *   `arp.drop.queue-full` / `arp.drop.unresolved`);
   * - 'dropped': too big for the MTU (`ipv4.drop.too-big`: the caller segments), our own
   *   address (`ipv4.drop.loopback`: there is no loopback path), or no queue room;
   * - 'no-route': off-link without a gateway, or an address no host has (`ipv4.drop.no-route`).
   * `fill` is called synchronously, only when the packet is actually built.
   */
  sendIpv4(destination: Ipv4Address, protocol: number, payloadLength: number, fill: PayloadFill, segmentSize = 0): IpSendResult {
    if (!Number.isInteger(payloadLength) || payloadLength < 0) {
      throw new RangeError(`payload length must be a non-negative integer, got ${payloadLength}`);
    }
    const segmented = segmentSize > 0;
    const offload = segmented ? this.superSegmentOffload(protocol, payloadLength) : undefined;
    if (!segmented && IPV4_HEADER_LENGTH + payloadLength > this.mtu) {
      this.counters.increment('ipv4.drop.too-big');
      return 'dropped';
    }
    const target = destination >>> 0;
    const kind = classifyAddress(target, this.route);
    if (!this.configured && kind !== 'limited-broadcast') {
      this.counters.increment('ipv4.drop.no-address');
      return 'no-route';
    }
    // Where the frame goes on the link: a MAC address now, or a neighbor to resolve.
    let via: MacAddress | Ipv4Address;
    switch (kind) {
      case 'limited-broadcast':
      case 'subnet-broadcast':
        via = MAC_BROADCAST;
        break;
      case 'multicast':
        via = multicastMac(target);
        break;
      case 'unicast': {
        const nextHop = nextHopAddress(target, this.route);
        if (nextHop === undefined) {
          this.counters.increment('ipv4.drop.no-route');
          return 'no-route';
        }
        via = nextHop;
        break;
      }
      case 'local':
        this.counters.increment('ipv4.drop.loopback');
        return 'dropped';
      case 'invalid':
        this.counters.increment('ipv4.drop.no-route');
        return 'no-route';
    }
    const frameLength = ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH + payloadLength;
    // A super-frame comes from the device's own transmit memory (device.ts `superFrame`); so
    // does a frame that leaves at the device's next flush when the device lends slots
    // (`transmitSlots`: the next hop's MAC known now), else a slab's fresh memory.
    let slotMac: MacAddress | undefined;
    let slot: Uint8Array | undefined;
    const slots = this.device.transmitSlots;
    if (offload === undefined && slots !== undefined) {
      slotMac = typeof via === 'number' ? this.neighborCache.resolvedMac(via, this.clock.now()) : via;
      if (slotMac !== undefined) slot = slots.slot(frameLength);
    }
    const frame = offload !== undefined ? offload.superFrame(frameLength) : slot ?? this.frames.take(frameLength);
    this.identification = (this.identification + 1) & 0xffff;
    const header = this.header;
    header.destination = target;
    header.protocol = protocol;
    header.ttl = kind === 'multicast' ? MULTICAST_TTL : this.ttl;
    header.identification = this.identification;
    emitIpv4Header(frame, header, payloadLength, ETHERNET_HEADER_LENGTH);
    fill(frame, ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH);
    if (offload !== undefined) return this.sendSegmented(frame, via, segmentSize, offload);
    this.txPackets.value++; // ipv4.tx.packets
    if (this.packetDevice) {
      // The kernel below resolves the next hop; the 14 header bytes just stay unused.
      this.packetDevice.transmitPacket(frame.subarray(ETHERNET_HEADER_LENGTH));
      return 'sent';
    }
    if (slot !== undefined && slotMac !== undefined && slots !== undefined) {
      emitEthernetHeader(slot, slotMac, this.mac, EtherType.IPV4);
      this.txFrames.value++; // ethernet.tx.frames
      slots.transmitSlot(slot, frameLength);
      return 'sent';
    }
    if (typeof via === 'number') return this.neighborCache.send(via, frame, this.clock.now());
    this.transmitFrame(frame, via, EtherType.IPV4);
    return 'sent';
  }

  /** The offload a super-segment goes to: TCP within the offload's size; anything else is a programmer error. */
  private superSegmentOffload(protocol: number, payloadLength: number): SegmentOffload {
    const offload = this.device.segmentOffload;
    if (offload !== undefined && protocol === IpProtocol.TCP && payloadLength <= this.segmentOffloadBytes) return offload;
    throw new RangeError(`a super-segment is TCP of at most ${this.segmentOffloadBytes} bytes, got protocol ${protocol}, ${payloadLength} bytes`);
  }

  /** The most IPv4 payload bytes a TCP super-segment may carry (IpSender); 0: the device has no segmentation offload. */
  get segmentOffloadBytes(): number {
    const offload = this.device.segmentOffload;
    if (offload === undefined || this.packetDevice) return 0;
    return Math.min(offload.maxPacketBytes, IPV4_MAX_TOTAL_LENGTH) - IPV4_HEADER_LENGTH;
  }

  /**
   * A TCP super-segment built by sendIpv4: to the device's segmentation offload when the
   * next hop is resolved, else cut here (tcp-segmentation.ts, as the device would) into
   * ordinary frames that wait for ARP like any other. The IPv4 identification advances
   * by the pieces, as the device numbers them (`ipv4.tx.packets` and `ethernet.tx.frames`
   * count pieces; `ipv4.tx.super-segments` the super-segments handed to the device).
   */
  private sendSegmented(frame: Uint8Array, via: MacAddress | Ipv4Address, segmentSize: number, offload: SegmentOffload): IpSendResult {
    // The TCP header's length from its data offset field (byte 12, RFC 9293 §3.1).
    const tcpStart = ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH;
    const payloadStart = tcpStart + ((frame[tcpStart + 12] ?? 0) >>> 4) * 4;
    const pieces = Math.max(1, Math.ceil((frame.length - payloadStart) / segmentSize));
    this.identification = (this.identification + pieces - 1) & 0xffff;
    this.txPackets.value += pieces; // ipv4.tx.packets
    const now = this.clock.now();
    const mac = typeof via === 'number' ? this.neighborCache.resolvedMac(via, now) : via;
    if (mac !== undefined) {
      emitEthernetHeader(frame, mac, this.mac, EtherType.IPV4);
      this.txFrames.value += pieces; // ethernet.tx.frames
      this.counters.increment('ipv4.tx.super-segments');
      offload.transmitSegmented(frame, segmentSize);
      return 'sent';
    }
    // The pieces need the EtherType to be recognised; their addresses come with the MAC.
    emitEthernetHeader(frame, MAC_ZERO, this.mac, EtherType.IPV4);
    let result: IpSendResult = 'sent';
    segmentTcpFrame(frame, segmentSize, (length) => this.frames.take(length), (piece) => {
      if (typeof via === 'number') result = this.neighborCache.send(via, piece, now);
      else this.transmitFrame(piece, via, EtherType.IPV4);
    });
    return result;
  }

  /**
   * Gratuitous ARP: an RFC 5227 §2.3 ARP Announcement (a request with sender and target
   * IP both ours, target MAC zero, broadcast), sent now and once more ANNOUNCE_INTERVAL
   * later, so that neighbors holding an old mapping for our address update it
   * (RFC 826 merge) and a host already using it shows itself as a conflict.
   */
  announce(): void {
    if (!this.configured || this.packetDevice) return;
    this.sendAnnouncement();
    this.announcementsLeft = ANNOUNCE_COUNT - 1;
    this.nextAnnouncementAt = this.announcementsLeft > 0 ? this.clock.now() + ANNOUNCE_INTERVAL_MS : undefined;
  }

  ping(destination: Ipv4Address, identifier: number, sequence: number, payload: Uint8Array): IpSendResult {
    return this.echo.ping(destination, identifier, sequence, payload);
  }

  onEchoReply(handler: EchoReplyHandler): void {
    this.echo.onEchoReply(handler);
  }

  neighbors(): NeighborEntry[] {
    return this.neighborCache.list(this.clock.now());
  }

  /**
   * Carrier up: announce again (the cable may now lead to another segment, or peers may
   * have aged us out). Carrier down: forget every neighbor, as Linux does
   * (neigh_carrier_down): the cable may come back on another segment, and frames waiting
   * on a resolution are dropped (`arp.drop.carrier-down`); transports retransmit.
   *
   * Returns whether the state changed; repeated reports of the same state change
   * nothing. The owner logs the change as the cause event `link` {carrier}, which the
   * diagnostics layer turns into fault 1 (SPEC §6): the interface emits no fault code.
   * Connections are not touched: a short pull costs retransmissions, not connections
   * (keepalive and the user timeout decide when a peer is really gone).
   */
  setCarrier(up: boolean): boolean {
    const changed = up !== this.carrierUp;
    this.carrierUp = up;
    if (up) {
      this.announce();
      return changed;
    }
    this.neighborCache.clear(NeighborDrop.CARRIER_DOWN);
    this.announcementsLeft = 0;
    this.nextAnnouncementAt = undefined;
    return changed;
  }

  pollAt(): Instant | undefined {
    const neighbors = this.neighborCache.pollAt();
    const announcement = this.nextAnnouncementAt;
    if (neighbors === undefined) return announcement;
    if (announcement === undefined) return neighbors;
    return Math.min(neighbors, announcement);
  }

  poll(now: Instant): void {
    this.neighborCache.poll(now);
    if (this.nextAnnouncementAt !== undefined && now >= this.nextAnnouncementAt) {
      this.sendAnnouncement();
      this.announcementsLeft--;
      this.nextAnnouncementAt = this.announcementsLeft > 0 ? now + ANNOUNCE_INTERVAL_MS : undefined;
    }
  }

  // ---------------------------------------------------------------- ARP output

  private sendArpRequest(address: Ipv4Address, unicastTo: MacAddress | undefined): void {
    this.transmitArp(unicastTo ?? MAC_BROADCAST, {
      operation: ArpOperation.REQUEST,
      senderHardwareAddr: this.mac,
      senderProtocolAddr: this.route.address,
      // RFC 826 leaves it unspecified; zero is what Linux and RFC 5227 use.
      targetHardwareAddr: unicastTo ?? MAC_ZERO,
      targetProtocolAddr: address,
    });
    this.counters.increment('arp.tx.request');
  }

  /** RFC 826: swap sender and target, fill in our addresses, send back to the asker. */
  private sendArpReply(request: ArpRepr): void {
    this.transmitArp(request.senderHardwareAddr, {
      operation: ArpOperation.REPLY,
      senderHardwareAddr: this.mac,
      senderProtocolAddr: this.route.address,
      targetHardwareAddr: request.senderHardwareAddr,
      targetProtocolAddr: request.senderProtocolAddr,
    });
    this.counters.increment('arp.tx.reply');
  }

  private sendAnnouncement(): void {
    this.transmitArp(MAC_BROADCAST, {
      operation: ArpOperation.REQUEST,
      senderHardwareAddr: this.mac,
      senderProtocolAddr: this.route.address,
      targetHardwareAddr: MAC_ZERO,
      targetProtocolAddr: this.route.address,
    });
    this.counters.increment('arp.tx.announcement');
  }

  /**
   * 42-byte frames: padding to the 60-byte Ethernet minimum is the NIC's job (Linux
   * sends its own ARP the same way), and the memory wire does not need it.
   */
  private transmitArp(destination: MacAddress, packet: ArpRepr): void {
    if (this.packetDevice) return;
    const frame = new Uint8Array(ETHERNET_HEADER_LENGTH + ARP_PACKET_LENGTH);
    emitArp(packet, frame.subarray(ETHERNET_HEADER_LENGTH));
    this.transmitFrame(frame, destination, EtherType.ARP);
  }

  private transmitFrame(frame: Uint8Array, destination: MacAddress, etherType: number): void {
    emitEthernetHeader(frame, destination, this.mac, etherType);
    this.txFrames.value++; // ethernet.tx.frames
    this.device.transmit(frame);
  }

  // ---------------------------------------------------------------- faults

  /**
   * RFC 5227 §2.4 (c): a device with a configured, well-known address defends it
   * indefinitely and never gives it up. Each conflicting packet is counted; at most once
   * per DEFEND_INTERVAL we broadcast one Announcement (the defence) and report the conflict,
   * so a peer that keeps claiming our address cannot make us flood the segment or the log.
   */
  private addressConflict(mac: MacAddress, now: Instant): void {
    this.counters.increment('arp.conflict');
    if (this.lastDefenceAt !== undefined && now - this.lastDefenceAt < DEFEND_INTERVAL_MS) return;
    this.lastDefenceAt = now;
    // The cause event; the diagnostics layer turns it into fault 2 (SPEC §6).
    this.events.emit('arp_conflict', { address: formatIpv4(this.route.address), mac: formatMac(mac) });
    this.sendAnnouncement();
  }

  /** Must not throw itself: it runs inside receiveFrame's catch. */
  private reportInternalError(error: unknown): void {
    try {
      const now = this.clock.now();
      if (
        this.lastInternalErrorEventAt !== undefined &&
        now - this.lastInternalErrorEventAt < INTERNAL_ERROR_EVENT_INTERVAL_MS
      ) {
        this.suppressedInternalErrors++;
        return;
      }
      this.lastInternalErrorEventAt = now;
      const suppressed = this.suppressedInternalErrors;
      this.suppressedInternalErrors = 0;
      const message = error instanceof Error ? error.message : String(error);
      const fields: Record<string, unknown> = { layer: 'interface', message };
      if (error instanceof Error && error.stack !== undefined) fields['stack'] = error.stack;
      if (suppressed > 0) fields['suppressed'] = suppressed;
      this.events.emit('internal_error', fields);
    } catch {
      // A failing clock or event sink must not turn one bad frame into a crash.
    }
  }

  /** On our prefix, or the gateway (which may be configured outside it). */
  private isOnLink(address: Ipv4Address): boolean {
    return sameSubnet(address, this.route.address, this.route.prefixLength) || address === this.route.gateway;
  }
}

/** Configuration errors are programmer errors here: firmware/config/schema.ts validates user input. */
function validateConfig(config: InterfaceConfig): void {
  if (config.mac.length !== 6) throw new RangeError(`interface MAC must be 6 bytes, got ${config.mac.length}`);
  if (isMulticastMac(config.mac)) throw new RangeError(`interface MAC ${formatMac(config.mac)} is a group address`);
  if (!Number.isInteger(config.mtu) || config.mtu < MINIMUM_MTU || config.mtu > MAXIMUM_MTU) {
    throw new RangeError(`MTU must be an integer in ${MINIMUM_MTU}..${MAXIMUM_MTU}, got ${config.mtu}`);
  }
  const ttl = config.ttl;
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 1 || ttl > 255)) {
    throw new RangeError(`TTL must be an integer in 1..255, got ${ttl}`);
  }
}

function validateAddress(config: InterfaceAddress): void {
  if (!Number.isInteger(config.prefixLength) || config.prefixLength < 0 || config.prefixLength > 32) {
    throw new RangeError(`prefix length must be an integer in 0..32, got ${config.prefixLength}`);
  }
  if (config.gateway !== undefined) {
    const kind = classifyAddress(config.gateway >>> 0, { address: config.address >>> 0, prefixLength: config.prefixLength });
    if (kind !== 'unicast') throw new RangeError(`gateway ${formatIpv4(config.gateway)} is not a unicast host address (${kind})`);
  }
}
