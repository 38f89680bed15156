/**
 * The AF_PACKET link: piwire owns a real Ethernet interface (a dedicated NIC or a macvlan)
 * at the frame level. The kernel must not interfere: the device's IP address is not
 * configured on that interface (the kernel would answer ARP and reset TCP connections it
 * knows nothing about), and checksum/segmentation/receive offloads are switched off so the
 * stack sees frames exactly as they cross the wire (SPEC section 7).
 *
 * Receive: through a PACKET_MMAP ring the kernel writes frames into (`receiveMode`, default
 * DEFAULT_RECEIVE_MODE), one addon callback per wakeup with views straight into the ring,
 * handed back to the kernel when the callback returns; no receive system call, no copy in
 * this process. A ring the kernel refuses leaves the link on recvmmsg (copied into slots),
 * which `receiveMode`/`ringFallback` and the `link.rx.ring-fallback` counter report.
 * Receive offload (`receiveOffload`, default on): GRO stays as the interface has it, and
 * when the kernel merges received segments (GRO or LRO active, which a macvlan cannot even
 * switch off: its parent merges before it sees the frame) the link receives with recvmsg,
 * each read with room for a whole IPv4 packet, since a ring's fixed frames would cut a
 * merged one (`link.drop.truncated`, its data lost). A merged frame is one TCP segment of
 * up to 64 KiB to the stack (`link.rx.merged-frames`), its checksum vouched for by the
 * kernel, which verified every segment before merging them: the stack's work per byte
 * falls by the number of segments merged, as the kernel's own TCP does with GRO. Frames
 * then differ from the wire's in one way: a packet capture shows the merged frame. The
 * addon also merges what the kernel did not (`coalesce`, default with receiveOffload): each
 * run of a flow's in-order segments in one receive batch becomes one frame, by GRO's rules
 * (`link.rx.coalesced-frames` counts the segments merged away). An ETH_P_ALL socket
 * is also offered every frame other senders on this host put out of the interface (the
 * kernel's, a second process's, the link's own transmit-only socket's): the socket has
 * PACKET_IGNORE_OUTGOING (`ignoreOutgoing`, default on), so the kernel clones none of them
 * for it. Refused (Linux before 4.20), the link says so (`outgoingFallback`,
 * `link.rx.outgoing-fallback`) and drops them as `link.drop.own-frame`. 802.1Q-tagged frames arrive with the tag already stripped by the
 * kernel, so they are recognised from PACKET_AUXDATA and dropped (`link.drop.vlan`): the
 * stack lives on the untagged LAN only.
 * Transmit: queued, sent with sendmmsg on flush() or when a batch fills; a full queue
 * drops (counted `link.drop.tx-full`) rather than blocking the event loop. With segmentation
 * offload (`segmentOffload`, default on) every frame goes through a second, transmit-only
 * socket with PACKET_VNET_HDR, and the stack may hand over TCP super-segments of up to 64 KiB
 * that the kernel cuts into MSS-sized segments and checksums (hal/native/piwire_link.c).
 * Carrier: read at open, then every `carrierPollMs` (default 500 ms) on an unref'd timer,
 * and at once when the socket reports ENETDOWN. The same timer collects the kernel's count
 * of frames dropped on a full socket buffer (`link.drop.rx-overflow`).
 */
import { macEquals, type MacAddress } from '../../src/net/address.ts';
import {
  copyMac,
  DEFAULT_BATCH_SIZE,
  ETHERNET_HEADER_BYTES,
  loadNativeAddon,
  MINIMUM_IPV4_MTU,
  NativeLink,
  VLAN_TAG_BYTES,
  type NativeAddon,
  type OffloadReport,
  type ReceiveMode,
} from './native.ts';

export interface PacketLinkOptions {
  interfaceName: string;
  /** IP MTU; defaults to the interface's. Cannot exceed it. */
  mtu?: number;
  /** Source address; defaults to the interface's. Another address puts the socket in promiscuous mode. */
  mac?: MacAddress;
  /** Switch off tx checksum, sg, tso, gso, gro and lro (best effort; see `offloads`). Default true. */
  disableOffloads?: boolean;
  /**
   * Keep GRO (not switched off by disableOffloads) and take merged frames whole: without an
   * explicit `receiveMode`, the link receives with recvmsg when the interface merges
   * (`mergesReceived`), else with DEFAULT_RECEIVE_MODE. Default true.
   */
  receiveOffload?: boolean;
  /**
   * Receive coalescing (with receiveOffload): the addon merges each run of a flow's
   * in-order segments in a receive batch into one frame, as GRO does (piwire_link.c
   * `coalesce_batch`), so TCP handles one segment where the wire carried many. Default:
   * receiveOffload. A capture wants it off, to show the segments as they came.
   */
  coalesce?: boolean;
  /** Frames per receive wakeup and per send batch. Default 64. */
  batchSize?: number;
  /** Carrier re-check interval. Default 500 ms. */
  carrierPollMs?: number;
  /** How frames are received (see ReceiveMode). Default DEFAULT_RECEIVE_MODE. */
  receiveMode?: ReceiveMode;
  /**
   * Offer transmit segmentation offload to the stack (TCP super-segments the kernel cuts:
   * src/net/device.ts `SegmentOffload`). Default true; when the kernel refuses it the link
   * runs without (`segmentOffloadFallback`, `link.tx.offload-unavailable`).
   */
  segmentOffload?: boolean;
  /**
   * Ask the kernel not to offer the receive socket frames this host sends out of the
   * interface (PACKET_IGNORE_OUTGOING). Default true; false only to observe them (tests).
   */
  ignoreOutgoing?: boolean;
}

/** The largest super-frame offered: a whole IPv4 packet (RFC 791 total length). */
export const SEGMENT_OFFLOAD_MAX_PACKET_BYTES = 65_535;

export const DEFAULT_CARRIER_POLL_MS = 500;
/**
 * TPACKET_V2: a frame is the process's as soon as the kernel has written it (one wakeup per
 * frame while idle, batches of up to batchSize while busy). V3 costs less per frame (whole
 * blocks per wakeup) but holds a lone frame until its block's timer fires (1 ms at least):
 * measured here, PING p50 went from 127 µs to 751 µs (bench/BASELINE.md, "the packet link's receive ring").
 */
export const DEFAULT_RECEIVE_MODE: ReceiveMode = 'tpacket-v2';

export class PacketLink extends NativeLink {
  readonly interfaceName: string;
  /** What disableOffloads achieved per feature, or undefined when it was not asked for. */
  readonly offloads: OffloadReport | undefined;
  /** Whether the socket receives every frame on the wire (a MAC other than the interface's). */
  readonly promiscuous: boolean;
  /** How frames are received: the mode asked for (or chosen, see receiveOffload), or recvmmsg if its ring could not be set up. */
  readonly receiveMode: ReceiveMode;
  /** The interface's kernel merged received segments when the link opened (GRO or LRO active). */
  readonly mergesReceived: boolean;
  /** Why the ring asked for is not in use (the failed call and errno); undefined when it is. */
  readonly ringFallback: string | undefined;
  /** Why segmentation offload was asked for and is not on (the failed call and errno); undefined otherwise. */
  readonly segmentOffloadFallback: string | undefined;
  /** Why PACKET_IGNORE_OUTGOING was asked for and is not on (the failed call and errno); undefined otherwise. */
  readonly outgoingFallback: string | undefined;
  private readonly carrierTimer: NodeJS.Timeout;

  constructor(options: PacketLinkOptions, addon: NativeAddon = loadNativeAddon()) {
    const interfaceName = options.interfaceName;
    const interfaceMtu = addon.mtu(interfaceName);
    const interfaceMac = new Uint8Array(addon.mac(interfaceName));
    const mtu = options.mtu ?? interfaceMtu;
    if (!Number.isInteger(mtu) || mtu < MINIMUM_IPV4_MTU || mtu > interfaceMtu) {
      throw new RangeError(
        `piwire: packet link ${interfaceName}: mtu ${mtu} must be an integer in ${MINIMUM_IPV4_MTU}..${interfaceMtu} (the interface MTU)`,
      );
    }
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    const mac = options.mac ? copyMac(options.mac) : interfaceMac;
    super(addon, { name: `packet:${interfaceName}`, mtu, mac, batchSize });
    this.interfaceName = interfaceName;
    this.promiscuous = !macEquals(mac, interfaceMac);
    // Offloads go off before the socket opens, so no merged or checksum-less frame queued
    // under the old settings reaches the stack.
    const receiveOffload = options.receiveOffload !== false;
    this.offloads = options.disableOffloads === false ? undefined : addon.disableOffloads(interfaceName, receiveOffload);
    // Whatever was asked: a macvlan reads "on [requested off]" while its parent merges.
    this.mergesReceived = addon.mergesReceived(interfaceName);
    const receiveMode = options.receiveMode ?? (receiveOffload && this.mergesReceived ? 'recvmsg' : DEFAULT_RECEIVE_MODE);
    // A receive slot holds the largest frame the interface can pass up, whatever MTU the
    // stack uses: a peer with a larger MTU still gets its frames seen (and dropped above).
    const slotSize = roundUp(interfaceMtu + ETHERNET_HEADER_BYTES + VLAN_TAG_BYTES, 64);
    const handle = this.attach((onFrames, onError) =>
      addon.openPacket(
        interfaceName,
        slotSize,
        batchSize,
        this.promiscuous,
        options.ignoreOutgoing !== false,
        receiveMode,
        onFrames,
        onError,
        options.coalesce ?? receiveOffload,
      ),
    );
    this.receiveMode = handle.receiveMode === 'read' ? 'recvmmsg' : handle.receiveMode;
    this.ringFallback = handle.ringFallback;
    // Not silent: a ring that could not be had is a counter (and the reason is on the link).
    if (this.ringFallback !== undefined) this.counters.increment('link.rx.ring-fallback');
    // Nor this: without the option every outgoing frame is cloned for the socket and
    // dropped here (more system time per frame sent, bench/BASELINE.md "Outgoing frames").
    this.outgoingFallback = handle.outgoingFallback;
    if (this.outgoingFallback !== undefined) this.counters.increment('link.rx.outgoing-fallback');
    // Segmentation offload, as gVisor's fdbased endpoint has it: the kernel cuts and
    // checksums our super-segments in software (the interface's own offloads stay off).
    // Refused (an old kernel, a seccomp filter, no SO_MARK right): a real capability
    // difference, counted and named, and the stack sends segment by segment.
    if (options.segmentOffload !== false) {
      this.segmentOffloadFallback = addon.enableSegmentOffload(handle);
      if (this.segmentOffloadFallback === undefined) this.offerSegmentOffload(SEGMENT_OFFLOAD_MAX_PACKET_BYTES);
      else this.counters.increment('link.tx.offload-unavailable');
    }
    try {
      this.setCarrier(addon.carrier(interfaceName));
    } catch (error) {
      addon.close(handle); // the interface went away while opening
      throw error;
    }
    const pollMs = options.carrierPollMs ?? DEFAULT_CARRIER_POLL_MS;
    // Unref'd: a link waiting for its cable must not by itself keep the process alive.
    this.carrierTimer = setInterval(() => {
      this.refreshCarrier();
      this.collectKernelDrops();
    }, pollMs);
    this.carrierTimer.unref();
  }

  protected override refreshCarrier(): void {
    if (this.isClosed) return;
    let up: boolean;
    try {
      up = this.addon.carrier(this.interfaceName);
    } catch {
      // The interface is gone (ENODEV) or unreadable: no carrier.
      this.counters.increment('link.carrier.errors');
      up = false;
    }
    this.setCarrier(up);
  }

  protected override beforeClose(): void {
    clearInterval(this.carrierTimer);
  }
}

/** Opens an AF_PACKET link on an existing interface (needs CAP_NET_RAW; switching an offload that is still on needs CAP_NET_ADMIN). */
export function openPacketLink(options: PacketLinkOptions): PacketLink {
  return new PacketLink(options);
}

function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}
