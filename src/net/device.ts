/**
 * The frame device the interface layer sends through: the core's view of a link.
 * hal/link/* implement it (memory wire, TAP, AF_PACKET).
 *
 * Ownership: `transmit` takes ownership of `frame` (the caller allocates a fresh
 * buffer per frame and never touches it again), so a link may batch frames until
 * `flush()`. Frames handed *to* the stack on receive are only valid during the
 * call: the stack copies whatever it keeps. A device may lend its own transmit memory
 * instead (`TransmitSlots`): a frame built there is the device's from the start.
 */
import type { MacAddress } from './address.ts';

export interface FrameDevice {
  /** IP MTU of the link (bytes of IPv4 packet per frame, without the 14-byte Ethernet header). */
  readonly mtu: number;
  /** The hardware address frames are sent from. */
  readonly mac: MacAddress;
  transmit(frame: Uint8Array): void;
  /** Present only on a device that cuts TCP/IPv4 super-frames into segments itself (see SegmentOffload). */
  readonly segmentOffload?: SegmentOffload | undefined;
  /** Present only on a device that lends its own transmit memory for ordinary frames (see TransmitSlots). */
  readonly transmitSlots?: TransmitSlots | undefined;
}

/**
 * Transmit memory a device lends for ordinary frames, as a driver's transmit ring: the
 * native links keep one slot per frame of a send batch, each a view made once, free again
 * when the batch is sent (the kernel copies at `sendmmsg`). A frame built in a slot costs
 * the send path no object (a fresh view per frame was a third of what an idle device's
 * keepalive probes allocated). For a frame the device will send at its next flush
 * (the next hop resolved): one that may wait (an ARP queue) takes fresh memory instead.
 */
export interface TransmitSlots {
  /**
   * The slot the next frame queued will occupy, its first `length` bytes zeroed (at least
   * `length` long, usually longer: the frame's length travels with `transmitSlot`), or
   * undefined when none is free (`length` over the MTU, the batch full, the device closed).
   * The caller builds the frame and hands it to `transmitSlot`, or drops it, before
   * anything else is transmitted.
   */
  slot(length: number): Uint8Array | undefined;
  /** Queues the frame built in `slot`'s first `length` bytes, as `transmit` queues a frame. */
  transmitSlot(slot: Uint8Array, length: number): void;
}

/**
 * Transmit segmentation offload (Linux's GSO/TSO, virtio's VIRTIO_NET_HDR_GSO_TCPV4): the
 * device takes one Ethernet + IPv4 + TCP frame whose payload spans several segments and
 * puts on the wire what the stack would have sent segment by segment, as Linux's
 * tcp_gso_segment cuts it: every piece `segmentSize` payload bytes (the last one the rest),
 * the headers copied (TCP options included), SEG.SEQ advanced by the bytes before it,
 * IPv4 total length and checksum rewritten, the IPv4 identification incremented per piece,
 * FIN and PSH only on the last piece, CWR only on the first, and the TCP checksum computed
 * per piece from the seed the frame carries in its checksum field: the pseudo-header sum
 * (RFC 9293 §3.1) over the super-frame's whole TCP length, folded, not complemented (what
 * virtio's VIRTIO_NET_HDR_F_NEEDS_CSUM asks for). `transmitSegmented` takes ownership of
 * the frame, as `transmit` does; the frame's IPv4 packet is at most `maxPacketBytes` long.
 *
 * Super-frames live in the device's own transmit memory (`superFrame`), as a driver's
 * transmit ring does, not in fresh buffers as ordinary frames: at bulk rates fresh 64 KiB
 * buffers were hundreds of megabytes a second for V8 to collect (hal/link/super-frame-ring.ts).
 */
export interface SegmentOffload {
  /** The longest IPv4 packet (header included) one super-frame may carry; at most 65535. */
  readonly maxPacketBytes: number;
  /**
   * A buffer of `length` bytes (Ethernet header included) for the next super-frame, its
   * headers' bytes zeroed; the caller writes every byte and hands it to
   * `transmitSegmented`, or drops it, before it asks for another.
   */
  superFrame(length: number): Uint8Array;
  transmitSegmented(frame: Uint8Array, segmentSize: number): void;
}

/**
 * An IP-level device (`--link ip:IFNAME`, hal/link/ip.ts): it carries whole IPv4 packets,
 * no Ethernet header, and the kernel below it does ARP (a Wi-Fi interface the kernel
 * keeps). `transmitPacket` takes ownership of `packet` as `transmit` does; the MAC is
 * only a label (all zeros), never put on the wire.
 */
export interface PacketDevice {
  readonly kind: 'ip';
  /** IP MTU of the link. */
  readonly mtu: number;
  transmitPacket(packet: Uint8Array): void;
}

export function isPacketDevice(device: FrameDevice | PacketDevice): device is PacketDevice {
  return (device as Partial<PacketDevice>).kind === 'ip';
}
