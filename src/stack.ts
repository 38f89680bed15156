/**
 * One complete stack instance: interface layer (Ethernet, ARP, IPv4, ICMP) + UDP + TCP +
 * the node:net-like socket API, over one FrameDevice (or one IP-level PacketDevice); with `--ip dhcp`, the DHCP client
 * that keeps the lease the stack's address came from (`continueDhcp`).
 *
 * Call order for the owner of the event loop (firmware/loop.ts, or a test's virtual
 * world): construct → `start()` (gratuitous ARP) → for each received frame
 * `receiveFrame(frame)` → `poll(now)` whenever `pollAt()` is due → flush the link.
 * Frames a link delivers together go between `beginBatch()` and `endBatch()` (the
 * stack is the link's `ReceiveBatch`, hal/link/link.ts): the clock is read once, and
 * the TCP output (ACKs, the data they free), timer re-arming and the sockets' reads
 * run once per connection at the end of the batch (src/tcp/ack-policy.ts says which
 * ACKs still leave at once). Outside a batch every frame is its own.
 * `onWork` is called when an application call (a socket write, a close) produced work
 * outside of poll(), so the owner flushes the link and re-arms its timer.
 */
import type { Clock, Instant, Pollable } from './time.ts';
import type { EventSink } from './events.ts';
import type { RandomSource } from './random.ts';
import { isPacketDevice } from './net/device.ts';
import type { FrameDevice, PacketDevice } from './net/device.ts';
import type { Ipv4Address, MacAddress } from './net/address.ts';
import { Counters } from './stats.ts';
import { NetworkInterface, type InterfaceConfig } from './net/interface.ts';
import { TcpStack } from './tcp/stack.ts';
import { defaultTcpConfig, type TcpConfig } from './tcp/config.ts';
import { IpProtocol } from './wire/ipv4.ts';
import { SocketApi } from './socket/net.ts';
import { UdpLayer } from './net/udp.ts';
import { bindDhcpClient, type LeaseListener } from './net/dhcp-host.ts';
import type { DhcpClient, DhcpLease, DhcpSettings } from './net/dhcp.ts';

/** IPv4 header (20) + TCP header (20): MSS = MTU − 40 (RFC 9293 §3.7.1). */
export const TCP_IP_HEADER_OVERHEAD = 40;

export interface StackConfig {
  mac: MacAddress;
  address: Ipv4Address;
  prefixLength: number;
  gateway?: Ipv4Address;
  mtu: number;
  arp?: InterfaceConfig['arp'];
  tcp?: Partial<TcpConfig>;
}

export interface StackDependencies {
  clock: Clock;
  random: RandomSource;
  events: EventSink;
  counters?: Counters;
  onWork?: () => void;
}

/**
 * The device as the interface sees it: every transmit also tells the owner there is
 * work, so a frame sent outside a loop turn (a ping from a timer, a reply from a
 * promise) is flushed by the next turn instead of waiting in a link's batch.
 */
function wakingDevice(device: FrameDevice | PacketDevice, onWork: () => void): FrameDevice | PacketDevice {
  if (isPacketDevice(device)) {
    return {
      kind: 'ip',
      get mtu() {
        return device.mtu;
      },
      transmitPacket(packet: Uint8Array): void {
        device.transmitPacket(packet);
        onWork();
      },
    };
  }
  const offload = device.segmentOffload;
  const slots = device.transmitSlots;
  return {
    get mtu() {
      return device.mtu;
    },
    get mac() {
      return device.mac;
    },
    transmit(frame: Uint8Array): void {
      device.transmit(frame);
      onWork();
    },
    // The device's segmentation offload, if it has one, woken the same way.
    segmentOffload:
      offload === undefined
        ? undefined
        : {
            maxPacketBytes: offload.maxPacketBytes,
            superFrame: (length: number): Uint8Array => offload.superFrame(length),
            transmitSegmented(frame: Uint8Array, segmentSize: number): void {
              offload.transmitSegmented(frame, segmentSize);
              onWork();
            },
          },
    // And its transmit slots (src/net/device.ts `TransmitSlots`).
    transmitSlots:
      slots === undefined
        ? undefined
        : {
            slot: (length: number): Uint8Array | undefined => slots.slot(length),
            transmitSlot(slot: Uint8Array, length: number): void {
              slots.transmitSlot(slot, length);
              onWork();
            },
          },
  };
}

export class NetStack implements Pollable {
  readonly counters: Counters;
  readonly interface: NetworkInterface;
  readonly tcp: TcpStack;
  readonly udp: UdpLayer;
  readonly net: SocketApi;
  private dhcpClient: DhcpClient | undefined;
  private readonly clock: StackDependencies['clock'];
  private readonly random: RandomSource;
  private readonly events: EventSink;
  /** Receive batches open (begin without end yet; links do not nest them, but several links may share a stack). */
  private batchDepth = 0;
  /** The clock as read when the outermost batch began. */
  private batchNow: Instant = 0;

  constructor(
    device: FrameDevice | PacketDevice,
    readonly config: StackConfig,
    dependencies: StackDependencies,
  ) {
    this.counters = dependencies.counters ?? new Counters();
    const onWork = dependencies.onWork ?? (() => undefined);
    this.interface = new NetworkInterface(
      wakingDevice(device, onWork),
      {
        mac: config.mac,
        address: config.address,
        prefixLength: config.prefixLength,
        gateway: config.gateway,
        mtu: config.mtu,
        arp: config.arp,
      },
      { clock: dependencies.clock, counters: this.counters, events: dependencies.events },
    );
    const tcpConfig: TcpConfig = { ...defaultTcpConfig(config.mtu - TCP_IP_HEADER_OVERHEAD), ...config.tcp };
    this.tcp = new TcpStack({
      ip: this.interface,
      localAddress: config.address,
      config: tcpConfig,
      clock: dependencies.clock,
      random: dependencies.random,
      counters: this.counters,
      events: dependencies.events,
      requestPoll: onWork,
    });
    this.interface.registerProtocol(IpProtocol.TCP, this.tcp);
    this.udp = new UdpLayer(this.interface, this.counters);
    this.interface.registerProtocol(IpProtocol.UDP, this.udp);
    this.clock = dependencies.clock;
    this.random = dependencies.random;
    this.events = dependencies.events;
    this.net = new SocketApi(this.tcp, () => this.config.address, onWork);
  }

  /** Whether a socket or server on this stack keeps the process alive (node:net ref/unref). */
  hasRefs(): boolean {
    return this.net.hasRefs;
  }

  /** The DHCP client keeping this stack's lease, when the address came from DHCP. */
  get dhcp(): DhcpClient | undefined {
    return this.dhcpClient;
  }

  /**
   * Carries on the lease this stack's address came from (acquired by a DhcpBootstrap):
   * renewing at T1, rebinding at T2, and telling `onLease` when it changes or is lost.
   */
  continueDhcp(lease: DhcpLease, settings: Partial<DhcpSettings>, onLease: LeaseListener): DhcpClient {
    if (this.dhcpClient) throw new Error('the stack already has a DHCP client');
    const client = bindDhcpClient(
      this.interface,
      this.udp,
      this.config.mac,
      { random: this.random, counters: this.counters, events: this.events },
      settings,
      onLease,
    );
    client.resume(lease, this.clock.now());
    this.dhcpClient = client;
    return client;
  }

  /** Announces the address (gratuitous ARP, RFC 5227 §2.3). */
  start(): void {
    this.interface.announce();
  }

  /** `tcpChecksumGood`: the link verified the frame's TCP checksum (hal/link/link.ts FrameHandler). */
  receiveFrame(frame: Uint8Array, tcpChecksumGood = false): void {
    if (this.batchDepth > 0) this.interface.receiveFrame(frame, this.batchNow, tcpChecksumGood);
    else this.interface.receiveFrame(frame, undefined, tcpChecksumGood);
  }

  /** `receiveFrame` of the frame `bytes[start, end)`, read in place (hal/link/link.ts `ReceiveBatch.receiveFrameAt`). */
  receiveFrameAt(bytes: Uint8Array, start: number, end: number, tcpChecksumGood = false): void {
    if (this.batchDepth > 0) this.interface.receiveFrameAt(bytes, start, end, this.batchNow, tcpChecksumGood);
    else this.interface.receiveFrameAt(bytes, start, end, undefined, tcpChecksumGood);
  }

  /** An IPv4 packet from an IP-level device (`--link ip:IFNAME`). */
  receivePacket(packet: Uint8Array): void {
    if (this.batchDepth > 0) this.interface.receivePacket(packet, this.batchNow);
    else this.interface.receivePacket(packet);
  }

  /** The frames up to `endBatch()` arrived together: processed as one instant, answered once. */
  beginBatch(): void {
    if (this.batchDepth++ > 0) return;
    this.batchNow = this.clock.now();
    this.tcp.beginBatch(this.batchNow);
  }

  /**
   * The link read more frames of the open batch (hal/link/link.ts `continueBatch`): they
   * are input at the instant they were read, not the batch's first one, and what the
   * batch causes runs at its end, at that later instant.
   */
  continueBatch(): void {
    if (this.batchDepth !== 1) return;
    this.batchNow = this.clock.now();
    this.tcp.continueBatch(this.batchNow);
  }

  /** Ends the batch: output, timers and application callbacks for what it touched. Never throws. */
  endBatch(): void {
    if (this.batchDepth === 0) return;
    if (--this.batchDepth > 0) return;
    this.tcp.endBatch();
  }

  /** Tells the interface the carrier state; true when it changed (the owner logs `link`). */
  setCarrier(up: boolean): boolean {
    const changed = this.interface.setCarrier(up);
    // The cable may now lead to another network: DHCP verifies its lease (RFC 2131 §3.2).
    if (changed && up) this.dhcpClient?.linkUp(this.clock.now());
    return changed;
  }

  pollAt(): Instant | undefined {
    return earliestOf(earliestOf(this.interface.pollAt(), this.tcp.pollAt()), this.dhcpClient?.pollAt());
  }

  poll(now: Instant): void {
    this.interface.poll(now);
    this.dhcpClient?.poll(now);
    this.tcp.poll(now);
  }
}

function earliestOf(a: Instant | undefined, b: Instant | undefined): Instant | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}
