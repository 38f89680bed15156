/**
 * IPv4 headers (RFC 791).
 *
 * `parseIpv4` validates in this order, so every malformed packet gets one reason:
 * fewer than 20 bytes → 'truncated'; version ≠ 4 → 'bad-version'; IHL < 5 →
 * 'bad-header-length'; total length < header length → 'bad-length'; fewer bytes than
 * the header or the total length → 'truncated'; header checksum (RFC 791 §3.1,
 * verified as fold(sum(header)) === 0) → 'bad-checksum'.
 *
 * Options are skipped (their bytes stay inside `headerLength`; RFC 1122 §3.2.1.8
 * lets a host ignore the ones it does not implement). Fragments parse fine and
 * `isFragment` says so: this stack does not reassemble, the interface drops and
 * counts them. The payload is trimmed to the total length, which removes Ethernet
 * padding (a 40-byte TCP RST rides in a 60-byte frame).
 *
 * `emitIpv4Header` writes the 20-byte header this stack sends: no options, no
 * fragmentation (DF as asked), checksum filled.
 */
import { formatIpv4 as formatIpv4Address } from '../net/address.ts';
import type { Ipv4Address } from '../net/address.ts';
import { checkField, readUint16, readUint32, DOUBLE_ZERO, writeUint16, writeUint32 } from './bytes.ts';
import { foldChecksum, sumWordRange } from './checksum.ts';
import { fail, ok } from './result.ts';
import type { Parsed, WireError } from './result.ts';

export const IpProtocol = { ICMP: 1, TCP: 6, UDP: 17 } as const;
export type IpProtocol = (typeof IpProtocol)[keyof typeof IpProtocol];

export const IPV4_HEADER_LENGTH = 20;
export const IPV4_MAX_TOTAL_LENGTH = 0xffff;

const Field = {
  VERSION_IHL: 0,
  DSCP_ECN: 1,
  TOTAL_LENGTH: 2,
  IDENTIFICATION: 4,
  FLAGS_FRAGMENT_OFFSET: 6,
  TTL: 8,
  PROTOCOL: 9,
  CHECKSUM: 10,
  SOURCE: 12,
  DESTINATION: 16,
} as const;

// Flags share a 16-bit field with the fragment offset (RFC 791 §3.1).
const FLAG_DONT_FRAGMENT = 0x4000;
const FLAG_MORE_FRAGMENTS = 0x2000;
const FRAGMENT_OFFSET_MASK = 0x1fff;

/** A view over the bytes of an IPv4 packet. */
export class Ipv4Packet {
  constructor(readonly bytes: Uint8Array) {}

  /**
   * Checks every length the header claims against the others and against the
   * bytes at hand. After undefined, all accessors (payload included) read inside
   * the packet. Does not look at the checksum: see `verifyChecksum`.
   */
  check(): WireError | undefined {
    if (this.bytes.length < IPV4_HEADER_LENGTH) return 'truncated';
    if (this.version !== 4) return 'bad-version';
    const headerLength = this.headerLength;
    if (headerLength < IPV4_HEADER_LENGTH) return 'bad-header-length';
    const totalLength = this.totalLength;
    if (totalLength < headerLength) return 'bad-length';
    if (this.bytes.length < headerLength || this.bytes.length < totalLength) return 'truncated';
    return undefined;
  }

  get version(): number {
    return this.bytes[Field.VERSION_IHL]! >>> 4;
  }
  /** Header length in bytes (the IHL field counts 32-bit words). */
  get headerLength(): number {
    return (this.bytes[Field.VERSION_IHL]! & 0x0f) * 4;
  }
  /** Sets version 4 and the IHL for a header of `length` bytes (a multiple of 4, 20..60). */
  setVersionAndHeaderLength(length: number): void {
    this.bytes[Field.VERSION_IHL] = 0x40 | (length >>> 2);
  }
  /** The former TOS byte: DSCP (6 bits) and ECN (2 bits), RFC 2474 and RFC 3168. */
  get dscpEcn(): number {
    return this.bytes[Field.DSCP_ECN]!;
  }
  set dscpEcn(value: number) {
    this.bytes[Field.DSCP_ECN] = value;
  }
  get totalLength(): number {
    return readUint16(this.bytes, Field.TOTAL_LENGTH);
  }
  set totalLength(value: number) {
    writeUint16(this.bytes, Field.TOTAL_LENGTH, value);
  }
  get identification(): number {
    return readUint16(this.bytes, Field.IDENTIFICATION);
  }
  set identification(value: number) {
    writeUint16(this.bytes, Field.IDENTIFICATION, value);
  }
  get dontFragment(): boolean {
    return (readUint16(this.bytes, Field.FLAGS_FRAGMENT_OFFSET) & FLAG_DONT_FRAGMENT) !== 0;
  }
  get moreFragments(): boolean {
    return (readUint16(this.bytes, Field.FLAGS_FRAGMENT_OFFSET) & FLAG_MORE_FRAGMENTS) !== 0;
  }
  /** Fragment offset in bytes (the field counts 8-byte units). */
  get fragmentOffset(): number {
    return (readUint16(this.bytes, Field.FLAGS_FRAGMENT_OFFSET) & FRAGMENT_OFFSET_MASK) * 8;
  }
  /** Writes flags and offset together; the reserved flag bit is always sent as zero (RFC 791 §3.1). */
  setFragmentation(dontFragment: boolean, moreFragments: boolean, offsetBytes: number): void {
    const value =
      (dontFragment ? FLAG_DONT_FRAGMENT : 0) | (moreFragments ? FLAG_MORE_FRAGMENTS : 0) | ((offsetBytes >>> 3) & FRAGMENT_OFFSET_MASK);
    writeUint16(this.bytes, Field.FLAGS_FRAGMENT_OFFSET, value);
  }
  get ttl(): number {
    return this.bytes[Field.TTL]!;
  }
  set ttl(value: number) {
    this.bytes[Field.TTL] = value;
  }
  get protocol(): number {
    return this.bytes[Field.PROTOCOL]!;
  }
  set protocol(value: number) {
    this.bytes[Field.PROTOCOL] = value;
  }
  get checksum(): number {
    return readUint16(this.bytes, Field.CHECKSUM);
  }
  set checksum(value: number) {
    writeUint16(this.bytes, Field.CHECKSUM, value);
  }
  get source(): Ipv4Address {
    return readUint32(this.bytes, Field.SOURCE);
  }
  set source(address: Ipv4Address) {
    writeUint32(this.bytes, Field.SOURCE, address);
  }
  get destination(): Ipv4Address {
    return readUint32(this.bytes, Field.DESTINATION);
  }
  set destination(address: Ipv4Address) {
    writeUint32(this.bytes, Field.DESTINATION, address);
  }
  /** The bytes between the header and the total length (trailing link padding excluded). */
  get payload(): Uint8Array {
    return this.bytes.subarray(this.headerLength, this.totalLength);
  }

  /** The header (options included) sums to 0xffff with a correct checksum, so it folds to 0. */
  verifyChecksum(): boolean {
    return foldChecksum(sumWordRange(this.bytes, 0, this.headerLength)) === 0;
  }

  fillChecksum(): void {
    this.checksum = 0;
    this.checksum = foldChecksum(sumWordRange(this.bytes, 0, this.headerLength));
  }
}

export interface Ipv4Repr {
  source: Ipv4Address;
  destination: Ipv4Address;
  protocol: number;
  ttl: number;
  identification: number;
  dscpEcn: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** In bytes. */
  fragmentOffset: number;
  /** In bytes, options included (20 when there are none). */
  headerLength: number;
  /** Trimmed to the total length: Ethernet padding removed. */
  payload: Uint8Array;
}

export interface Ipv4ParseOptions {
  /** Default true. False for frames whose checksum a NIC already checked. */
  verifyChecksum?: boolean;
}

export function parseIpv4(bytes: Uint8Array, options?: Ipv4ParseOptions): Parsed<Ipv4Repr> {
  const repr = emptyIpv4Repr();
  const error = parseIpv4Into(bytes, 0, repr, options?.verifyChecksum !== false);
  return error === undefined ? ok(repr) : fail(error);
}

/** A repr to parse into (`parseIpv4Into`): the receive path keeps one and reuses it. */
export function emptyIpv4Repr(): Ipv4Repr {
  return {
    source: DOUBLE_ZERO,
    destination: DOUBLE_ZERO,
    protocol: 0,
    ttl: 0,
    identification: 0,
    dscpEcn: 0,
    dontFragment: false,
    moreFragments: false,
    fragmentOffset: 0,
    headerLength: 0,
    payload: EMPTY,
  };
}

const EMPTY = new Uint8Array(0);

/**
 * An `Ipv4Repr` without the payload view: where the payload lies in the bytes parsed,
 * `[payloadStart, payloadEnd)` (trimmed to the total length, as `payload` is).
 */
export interface Ipv4HeaderRepr extends Omit<Ipv4Repr, 'payload'> {
  payloadStart: number;
  payloadEnd: number;
}

/** A repr to parse into (`parseIpv4HeaderInto`). */
export function emptyIpv4HeaderRepr(): Ipv4HeaderRepr {
  const { payload: _payload, ...header } = emptyIpv4Repr();
  return { ...header, payloadStart: 0, payloadEnd: 0 };
}

/**
 * `parseIpv4Into` without the payload view, for the per-frame receive path: a protocol
 * that reads its payload in place (TCP, `ProtocolHandler.inputRange`) costs no object at
 * this layer. The same checks in the same order; the payload's bounds instead of a view.
 */
export function parseIpv4HeaderInto(bytes: Uint8Array, start: number, into: Ipv4HeaderRepr, verifyChecksum: boolean, end = bytes.length): WireError | undefined {
  const totalLength = readHeaderInto(bytes, start, end, into, verifyChecksum);
  if (typeof totalLength === 'string') return totalLength;
  into.payloadStart = start + into.headerLength;
  into.payloadEnd = start + totalLength;
  return undefined;
}

/**
 * `parseIpv4` of the packet at `bytes[start..]` into `into`, for the receive path: the
 * same checks in the same order, but fields are read at their offsets and written into
 * a repr the caller reuses, so a packet costs one view (the payload) and nothing else.
 * Returns the error, or undefined with every field of `into` set.
 */
export function parseIpv4Into(bytes: Uint8Array, start: number, into: Ipv4Repr, verifyChecksum: boolean): WireError | undefined {
  const totalLength = readHeaderInto(bytes, start, bytes.length, into, verifyChecksum);
  if (typeof totalLength === 'string') return totalLength;
  // Trimmed to the total length: trailing link padding excluded.
  into.payload = bytes.subarray(start + into.headerLength, start + totalLength);
  return undefined;
}

/** The checks and header fields of both parse forms (the packet in `bytes[start, end)`); the total length, or the error. */
function readHeaderInto(bytes: Uint8Array, start: number, end: number, into: Omit<Ipv4Repr, 'payload'>, verifyChecksum: boolean): WireError | number {
  const available = end - start;
  if (available < IPV4_HEADER_LENGTH) return 'truncated';
  const versionIhl = bytes[start + Field.VERSION_IHL]!;
  if (versionIhl >>> 4 !== 4) return 'bad-version';
  const headerLength = (versionIhl & 0x0f) * 4;
  if (headerLength < IPV4_HEADER_LENGTH) return 'bad-header-length';
  const totalLength = readUint16(bytes, start + Field.TOTAL_LENGTH);
  if (totalLength < headerLength) return 'bad-length';
  if (available < headerLength || available < totalLength) return 'truncated';
  // The header (options included) sums to 0xffff with a correct checksum, so it folds to 0.
  if (verifyChecksum && foldChecksum(sumWordRange(bytes, start, start + headerLength)) !== 0) return 'bad-checksum';
  const fragmentation = readUint16(bytes, start + Field.FLAGS_FRAGMENT_OFFSET);
  into.source = readUint32(bytes, start + Field.SOURCE);
  into.destination = readUint32(bytes, start + Field.DESTINATION);
  into.protocol = bytes[start + Field.PROTOCOL]!;
  into.ttl = bytes[start + Field.TTL]!;
  into.identification = readUint16(bytes, start + Field.IDENTIFICATION);
  into.dscpEcn = bytes[start + Field.DSCP_ECN]!;
  into.dontFragment = (fragmentation & FLAG_DONT_FRAGMENT) !== 0;
  into.moreFragments = (fragmentation & FLAG_MORE_FRAGMENTS) !== 0;
  into.fragmentOffset = (fragmentation & FRAGMENT_OFFSET_MASK) * 8;
  into.headerLength = headerLength;
  return totalLength;
}

/** A fragment is any packet that is not a whole datagram: MF set or a non-zero offset (RFC 791 §2.3). */
export function isFragment(repr: Pick<Ipv4Repr, 'moreFragments' | 'fragmentOffset'>): boolean {
  return repr.moreFragments || repr.fragmentOffset !== 0;
}

/** The fields of a header this stack sends. An `Ipv4Repr` is one too (to answer in kind). */
export interface Ipv4Header {
  source: Ipv4Address;
  destination: Ipv4Address;
  protocol: number;
  ttl: number;
  /** Taken modulo 2^16, so a caller may keep a free-running counter. */
  identification: number;
  dontFragment: boolean;
  dscpEcn?: number;
}

/**
 * Writes a 20-byte header (no options) at `buf[offset]` (default the start), with total
 * length 20 + `payloadLength` and the checksum filled. The payload is the caller's: it
 * is normally already in `buf` after the header, and is not read here. Fields are
 * written at the offset directly, so a frame's header costs no view or subarray.
 */
export function emitIpv4Header(buf: Uint8Array, header: Ipv4Header, payloadLength: number, offset = 0): void {
  if (buf.length < offset + IPV4_HEADER_LENGTH) throw new RangeError(`IPv4 header needs 20 bytes, got ${buf.length - offset}`);
  checkField('IPv4 payload length', payloadLength, IPV4_MAX_TOTAL_LENGTH - IPV4_HEADER_LENGTH);
  checkField('IPv4 TTL', header.ttl, 0xff);
  checkField('IPv4 protocol', header.protocol, 0xff);
  const dscpEcn = header.dscpEcn ?? 0;
  checkField('IPv4 DSCP/ECN', dscpEcn, 0xff);
  const versionIhlDscp = ((0x40 | (IPV4_HEADER_LENGTH >>> 2)) << 8) | dscpEcn;
  const totalLength = IPV4_HEADER_LENGTH + payloadLength;
  const identification = header.identification & 0xffff;
  // RFC 791 §3.1: the reserved flag bit is sent as zero; no fragments are sent.
  const flagsFragment = header.dontFragment ? FLAG_DONT_FRAGMENT : 0;
  const ttlProtocol = (header.ttl << 8) | header.protocol;
  const source = header.source >>> 0;
  const destination = header.destination >>> 0;
  writeUint16(buf, offset + Field.VERSION_IHL, versionIhlDscp);
  writeUint16(buf, offset + Field.TOTAL_LENGTH, totalLength);
  writeUint16(buf, offset + Field.IDENTIFICATION, identification);
  writeUint16(buf, offset + Field.FLAGS_FRAGMENT_OFFSET, flagsFragment);
  writeUint16(buf, offset + Field.TTL, ttlProtocol);
  writeUint32(buf, offset + Field.SOURCE, source);
  writeUint32(buf, offset + Field.DESTINATION, destination);
  // RFC 1071: the sum of the header's ten 16-bit words (the checksum word counted as
  // zero), taken from the values just written rather than read back from the frame.
  const sum =
    versionIhlDscp + totalLength + identification + flagsFragment + ttlProtocol +
    (source >>> 16) + (source & 0xffff) + (destination >>> 16) + (destination & 0xffff);
  writeUint16(buf, offset + Field.CHECKSUM, foldChecksum(sum));
}

const PROTOCOL_NAMES: Record<number, string> = { [IpProtocol.ICMP]: 'ICMP', [IpProtocol.TCP]: 'TCP', [IpProtocol.UDP]: 'UDP' };

/**
 * tcpdump -v style: `IP (tos 0x0, ttl 64, id 28327, offset 0, flags [DF], proto TCP (6),
 * length 60) 198.18.0.1 > 198.18.0.2`. A tracer appends `: ` and the transport's text.
 */
export function formatIpv4(repr: Ipv4Repr): string {
  const flags = (repr.dontFragment ? 'DF' : '') + (repr.moreFragments ? '+' : '') || 'none';
  const name = PROTOCOL_NAMES[repr.protocol] ?? 'unknown';
  return (
    `IP (tos 0x${repr.dscpEcn.toString(16)}, ttl ${repr.ttl}, id ${repr.identification}, ` +
    `offset ${repr.fragmentOffset}, flags [${flags}], proto ${name} (${repr.protocol}), ` +
    `length ${repr.headerLength + repr.payload.length}) ` +
    `${formatIpv4Address(repr.source)} > ${formatIpv4Address(repr.destination)}`
  );
}
