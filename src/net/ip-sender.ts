/**
 * The IP layer's send contract: what the protocols above the interface (TCP, ICMP
 * echo) need from it, and what `NetworkInterface.sendIpv4` implements. It lives in
 * its own module so that a protocol depends on this contract, not on the interface
 * (and the interface, which owns the protocols, imports none of them back).
 *
 * `sendIpv4` asks the sender for `payloadLength` bytes and calls `fill` once with the
 * frame buffer and the offset in it where the payload goes (after the IPv4 header it
 * writes itself): the payload is `frame[offset, offset + payloadLength)`, and the buffer
 * is valid only during the call. An offset rather than a view of its own, so sending
 * creates no typed array per packet beyond the frame. The result says what became of the packet:
 * - `sent`: handed to the link;
 * - `queued`: waiting for ARP resolution of the next hop (bounded queue);
 * - `no-route`: no on-link destination and no gateway;
 * - `dropped`: refused (too big, queue full, loopback or invalid destination); the
 *   interface counted the reason.
 * A super-segment (`segmentSize`) is one result for all its pieces.
 */
import type { Ipv4Address } from './address.ts';

export type IpSendResult = 'sent' | 'queued' | 'no-route' | 'dropped';

export interface IpSender {
  /**
   * `segmentSize` > 0 (TCP only, and only when `segmentOffloadBytes` > 0): the payload is
   * a TCP super-segment, one header and several segments of data whose checksum field the
   * fill left partial (wire/tcp.ts `emitTcpHeader`); it leaves as segments of that many
   * payload bytes each (device.ts `SegmentOffload`), `payloadLength` may then pass the MTU.
   */
  sendIpv4(destination: Ipv4Address, protocol: number, payloadLength: number, fill: PayloadFill, segmentSize?: number): IpSendResult;
  /** The most IPv4 payload bytes a super-segment may carry; absent or 0: no segmentation offload. */
  readonly segmentOffloadBytes?: number;
}

/** Writes `payloadLength` bytes of payload into `frame` from `offset` on. */
export type PayloadFill = (frame: Uint8Array, offset: number) => void;
