/**
 * The frame device the interface layer sends through: the core's view of a link.
 * hal/link/* implement it (memory wire, TAP, AF_PACKET).
 *
 * Ownership: `transmit` takes ownership of `frame` (the caller allocates a fresh
 * buffer per frame and never touches it again), so a link may batch frames until
 * `flush()`. Frames handed *to* the stack on receive are only valid during the
 * call: the stack copies whatever it keeps.
 */
import type { MacAddress } from './address.ts';

export interface FrameDevice {
  /** IP MTU of the link (bytes of IPv4 packet per frame, without the 14-byte Ethernet header). */
  readonly mtu: number;
  /** The hardware address frames are sent from. */
  readonly mac: MacAddress;
  transmit(frame: Uint8Array): void;
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
