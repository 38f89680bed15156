/**
 * Software segmentation of a TCP/IPv4 super-frame, cut exactly as Linux's GSO cuts one
 * (inet_gso_segment + tcp_gso_segment, what the kernel runs in validate_xmit_skb for a
 * packet socket's VIRTIO_NET_HDR_GSO_TCPV4 frame on a device without TSO): the contract is
 * `SegmentOffload` in device.ts. Used where the kernel is not below us: the memory wire's
 * emulation of the offload (hal/link/memory.ts), and the interface when a super-frame
 * must wait for ARP (the neighbor queue holds ordinary frames only).
 *
 * Per piece i of n: Ethernet, IPv4 and TCP headers (options included) copied; IPv4 total
 * length = the piece's, identification = the super-frame's + i, header checksum
 * recomputed (RFC 791 §3.1); SEG.SEQ + i·segmentSize; FIN and PSH only on the last piece,
 * CWR only on the first (tcp_gso_segment); the TCP checksum from the seed in the
 * super-frame's checksum field (the pseudo-header sum over its whole TCP length), moved to
 * the piece's length and summed over the piece (RFC 1071, RFC 9293 §3.1). A wrong seed
 * gives wrong checksums, as it would from the kernel. The caller's frames are its own:
 * the super-frame is read, never changed.
 */
import { foldChecksum, sumWordRange } from '../wire/checksum.ts';
import { readUint16, readUint32, writeUint16, writeUint32 } from '../wire/bytes.ts';
import { EtherType, ETHERNET_HEADER_LENGTH } from '../wire/ethernet.ts';
import { IpProtocol } from '../wire/ipv4.ts';
import { TcpFlag } from '../wire/tcp.ts';

const IP_TOTAL_LENGTH = 2;
const IP_IDENTIFICATION = 4;
const IP_PROTOCOL = 9;
const IP_CHECKSUM = 10;
const TCP_SEQUENCE = 4;
const TCP_DATA_OFFSET = 12;
const TCP_FLAGS = 13;
const TCP_CHECKSUM = 16;

/** Where the headers of an Ethernet + IPv4 + TCP frame end. */
export interface SuperFrameLayout {
  /** Offset of the TCP header. */
  tcpStart: number;
  /** Offset of the payload (Ethernet + IPv4 + TCP headers). */
  payloadStart: number;
}

/**
 * The layout of a super-frame, or a reason it is not one: not IPv4/TCP, headers that do
 * not fit, a total length that disagrees with the frame.
 */
export function superFrameLayout(frame: Uint8Array): SuperFrameLayout | string {
  if (frame.length < ETHERNET_HEADER_LENGTH + 40) return 'too short';
  if (readUint16(frame, 12) !== EtherType.IPV4) return 'not IPv4';
  const ip = ETHERNET_HEADER_LENGTH;
  if (frame[ip]! >>> 4 !== 4) return 'not IPv4';
  const ipHeaderLength = (frame[ip]! & 0x0f) * 4;
  if (frame[ip + IP_PROTOCOL] !== IpProtocol.TCP) return 'not TCP';
  if (readUint16(frame, ip + IP_TOTAL_LENGTH) !== frame.length - ETHERNET_HEADER_LENGTH) return 'IPv4 total length is not the frame';
  const tcpStart = ip + ipHeaderLength;
  if (ipHeaderLength < 20 || tcpStart + 20 > frame.length) return 'bad IPv4 header length';
  const tcpHeaderLength = (frame[tcpStart + TCP_DATA_OFFSET]! >>> 4) * 4;
  if (tcpHeaderLength < 20 || tcpStart + tcpHeaderLength > frame.length) return 'bad TCP data offset';
  return { tcpStart, payloadStart: tcpStart + tcpHeaderLength };
}

/**
 * Cuts `frame` into pieces of `segmentSize` payload bytes and hands each (a frame of its
 * own, from `take`) to `emit`, in sequence order; returns the number of pieces. Throws a
 * RangeError for a frame that is no TCP/IPv4 super-frame: only the stack builds them.
 */
export function segmentTcpFrame(
  frame: Uint8Array,
  segmentSize: number,
  take: (length: number) => Uint8Array,
  emit: (piece: Uint8Array) => void,
): number {
  const layout = superFrameLayout(frame);
  if (typeof layout === 'string') throw new RangeError(`piwire: not a TCP/IPv4 super-frame: ${layout}`);
  if (!Number.isInteger(segmentSize) || segmentSize < 1) throw new RangeError(`piwire: segment size ${segmentSize}`);
  const { tcpStart, payloadStart } = layout;
  const ip = ETHERNET_HEADER_LENGTH;
  const payloadLength = frame.length - payloadStart;
  const tcpLength = frame.length - tcpStart;
  const seed = readUint16(frame, tcpStart + TCP_CHECKSUM);
  const identification = readUint16(frame, ip + IP_IDENTIFICATION);
  const sequence = readUint32(frame, tcpStart + TCP_SEQUENCE);
  const flags = frame[tcpStart + TCP_FLAGS]!;
  const pieces = Math.max(1, Math.ceil(payloadLength / segmentSize));
  for (let index = 0; index < pieces; index++) {
    const from = index * segmentSize;
    const length = Math.min(segmentSize, payloadLength - from);
    const piece = take(payloadStart + length);
    piece.set(frame.subarray(0, payloadStart));
    piece.set(frame.subarray(payloadStart + from, payloadStart + from + length), payloadStart);
    writeUint16(piece, ip + IP_TOTAL_LENGTH, piece.length - ETHERNET_HEADER_LENGTH);
    writeUint16(piece, ip + IP_IDENTIFICATION, (identification + index) & 0xffff);
    writeUint16(piece, ip + IP_CHECKSUM, 0);
    writeUint16(piece, ip + IP_CHECKSUM, foldChecksum(sumWordRange(piece, ip, tcpStart)));
    writeUint32(piece, tcpStart + TCP_SEQUENCE, (sequence + from) >>> 0);
    let pieceFlags = flags;
    if (index < pieces - 1) pieceFlags &= ~(TcpFlag.FIN | TcpFlag.PSH);
    if (index > 0) pieceFlags &= ~TcpFlag.CWR;
    piece[tcpStart + TCP_FLAGS] = pieceFlags;
    // The seed covers the whole TCP length; one's complement arithmetic moves it to the
    // piece's (tcp_gso_segment's `delta`), then the piece is summed with the field zeroed.
    const pieceSeed = seed + (~tcpLength & 0xffff) + (piece.length - tcpStart);
    writeUint16(piece, tcpStart + TCP_CHECKSUM, 0);
    writeUint16(piece, tcpStart + TCP_CHECKSUM, foldChecksum(sumWordRange(piece, tcpStart, piece.length, pieceSeed)));
    emit(piece);
  }
  return pieces;
}
