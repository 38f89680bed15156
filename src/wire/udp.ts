/**
 * UDP datagrams (RFC 768): source port, destination port, length, checksum, data.
 *
 * The checksum covers the RFC 768 pseudo header (source, destination, zero, protocol 17,
 * UDP length), the header and the data. A transmitted checksum of zero means "none"
 * (RFC 768, RFC 1122 §4.1.3.4: a receiver MUST accept it); a computed checksum of zero
 * is sent as 0xffff. `parseUdp` checks the length field against the bytes it is given
 * (the IPv4 payload, already trimmed to the IPv4 total length) and trims the payload to
 * it, so trailing bytes never reach an application.
 */
import type { Ipv4Address } from '../net/address.ts';
import { checkField, placePayload, readUint16, writeUint16 } from './bytes.ts';
import { foldChecksum, pseudoHeaderSum, sumWordRange } from './checksum.ts';
import { IpProtocol } from './ipv4.ts';
import { fail, ok } from './result.ts';
import type { Parsed, WireError } from './result.ts';

export const UDP_HEADER_LENGTH = 8;

const Field = { SOURCE_PORT: 0, DESTINATION_PORT: 2, LENGTH: 4, CHECKSUM: 6, PAYLOAD: 8 } as const;

/** A view over the bytes of a UDP datagram (the IPv4 payload). */
export class UdpPacket {
  constructor(readonly bytes: Uint8Array) {}

  /** After this returns undefined, every accessor reads inside the datagram. */
  check(): WireError | undefined {
    if (this.bytes.length < UDP_HEADER_LENGTH) return 'truncated';
    const length = this.length;
    if (length < UDP_HEADER_LENGTH) return 'bad-length';
    if (length > this.bytes.length) return 'truncated';
    return undefined;
  }

  get sourcePort(): number {
    return readUint16(this.bytes, Field.SOURCE_PORT);
  }
  set sourcePort(value: number) {
    writeUint16(this.bytes, Field.SOURCE_PORT, value);
  }
  get destinationPort(): number {
    return readUint16(this.bytes, Field.DESTINATION_PORT);
  }
  set destinationPort(value: number) {
    writeUint16(this.bytes, Field.DESTINATION_PORT, value);
  }
  /** Header + data, in bytes. */
  get length(): number {
    return readUint16(this.bytes, Field.LENGTH);
  }
  set length(value: number) {
    writeUint16(this.bytes, Field.LENGTH, value);
  }
  get checksum(): number {
    return readUint16(this.bytes, Field.CHECKSUM);
  }
  set checksum(value: number) {
    writeUint16(this.bytes, Field.CHECKSUM, value);
  }
  get payload(): Uint8Array {
    return this.bytes.subarray(Field.PAYLOAD, this.length);
  }

  /** True for a correct checksum or none at all (zero, RFC 768). */
  verifyChecksum(source: Ipv4Address, destination: Ipv4Address): boolean {
    if (this.checksum === 0) return true;
    const length = this.length;
    const sum = sumWordRange(this.bytes, 0, length, pseudoHeaderSum(source, destination, IpProtocol.UDP, length));
    return foldChecksum(sum) === 0;
  }

  fillChecksum(source: Ipv4Address, destination: Ipv4Address): void {
    const length = this.length;
    this.checksum = 0;
    const checksum = foldChecksum(sumWordRange(this.bytes, 0, length, pseudoHeaderSum(source, destination, IpProtocol.UDP, length)));
    // RFC 768: an all-zero computed checksum is transmitted as all ones.
    this.checksum = checksum === 0 ? 0xffff : checksum;
  }
}

export interface UdpRepr {
  sourcePort: number;
  destinationPort: number;
  payload: Uint8Array;
}

export interface UdpParseOptions {
  /** Default true. */
  verifyChecksum?: boolean;
}

/** `bytes` is the IPv4 payload; `source`/`destination` are the IPv4 addresses (pseudo header). */
export function parseUdp(
  bytes: Uint8Array,
  source: Ipv4Address,
  destination: Ipv4Address,
  options?: UdpParseOptions,
): Parsed<UdpRepr> {
  const view = new UdpPacket(bytes);
  const error = view.check();
  if (error !== undefined) return fail(error);
  if (options?.verifyChecksum !== false && !view.verifyChecksum(source, destination)) return fail('bad-checksum');
  return ok({ sourcePort: view.sourcePort, destinationPort: view.destinationPort, payload: view.payload });
}

export function udpLength(repr: UdpRepr): number {
  return UDP_HEADER_LENGTH + repr.payload.length;
}

/**
 * Writes the datagram at the start of `buf` (at least `udpLength(repr)` bytes), copying
 * the payload unless it is already in place, and fills the checksum.
 */
export function emitUdp(repr: UdpRepr, buf: Uint8Array, source: Ipv4Address, destination: Ipv4Address): void {
  const length = udpLength(repr);
  if (buf.length < length) throw new RangeError(`UDP datagram needs ${length} bytes, got ${buf.length}`);
  checkField('UDP source port', repr.sourcePort, 0xffff);
  checkField('UDP destination port', repr.destinationPort, 0xffff);
  checkField('UDP length', length, 0xffff);
  placePayload(buf, UDP_HEADER_LENGTH, repr.payload);
  const view = new UdpPacket(buf);
  view.sourcePort = repr.sourcePort;
  view.destinationPort = repr.destinationPort;
  view.length = length;
  view.fillChecksum(source, destination);
}

/** tcpdump style: `UDP, 68 > 67, length 300`. */
export function formatUdp(repr: UdpRepr): string {
  return `UDP, ${repr.sourcePort} > ${repr.destinationPort}, length ${repr.payload.length}`;
}
