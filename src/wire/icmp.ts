/**
 * ICMP messages (RFC 792): type, code, checksum, four "rest of header" bytes, data.
 *
 * The rest-of-header bytes are carried as two 16-bit halves, `identifier` (bytes 4..5)
 * and `sequence` (bytes 6..7), which is what they mean for echo and echo reply;
 * for other types they are whatever the type defines (unused zeros for port
 * unreachable, the next-hop MTU in `sequence` for "fragmentation needed", RFC 1191 §4),
 * so parse and emit round-trip every message type unchanged.
 *
 * The checksum covers the whole message (RFC 792, "Checksum"); `parseIcmp` rejects a
 * wrong one as 'bad-checksum', and `emitIcmp` fills it.
 */
import { checkField, placePayload, readUint16, writeUint16 } from './bytes.ts';
import { foldChecksum, sumWordRange, sumWords } from './checksum.ts';
import { fail, ok } from './result.ts';
import type { Parsed, WireError } from './result.ts';

export const IcmpType = {
  ECHO_REPLY: 0,
  DESTINATION_UNREACHABLE: 3,
  ECHO_REQUEST: 8,
  TIME_EXCEEDED: 11,
  PARAMETER_PROBLEM: 12,
} as const;
export type IcmpType = (typeof IcmpType)[keyof typeof IcmpType];

/** Destination-unreachable codes (RFC 792; 4 from RFC 1191). */
export const IcmpUnreachableCode = {
  NETWORK: 0,
  HOST: 1,
  PROTOCOL: 2,
  PORT: 3,
  FRAGMENTATION_NEEDED: 4,
  SOURCE_ROUTE_FAILED: 5,
  /** RFC 1122 §3.2.2.1 (6..12), RFC 1812 §5.2.7.1 (13..15). */
  NETWORK_UNKNOWN: 6,
  HOST_UNKNOWN: 7,
  SOURCE_HOST_ISOLATED: 8,
  NETWORK_PROHIBITED: 9,
  HOST_PROHIBITED: 10,
  NETWORK_UNREACHABLE_FOR_TOS: 11,
  HOST_UNREACHABLE_FOR_TOS: 12,
  COMMUNICATION_PROHIBITED: 13,
  HOST_PRECEDENCE_VIOLATION: 14,
  PRECEDENCE_CUTOFF: 15,
} as const;

export const ICMP_HEADER_LENGTH = 8;

const Field = { TYPE: 0, CODE: 1, CHECKSUM: 2, IDENTIFIER: 4, SEQUENCE: 6, PAYLOAD: 8 } as const;

/** A view over the bytes of an ICMP message (the whole IPv4 payload). */
export class IcmpPacket {
  constructor(readonly bytes: Uint8Array) {}

  /** After this returns undefined, every accessor reads inside the message. */
  check(): WireError | undefined {
    return this.bytes.length < ICMP_HEADER_LENGTH ? 'truncated' : undefined;
  }

  get type(): number {
    return this.bytes[Field.TYPE]!;
  }
  set type(value: number) {
    this.bytes[Field.TYPE] = value;
  }
  get code(): number {
    return this.bytes[Field.CODE]!;
  }
  set code(value: number) {
    this.bytes[Field.CODE] = value;
  }
  get checksum(): number {
    return readUint16(this.bytes, Field.CHECKSUM);
  }
  set checksum(value: number) {
    writeUint16(this.bytes, Field.CHECKSUM, value);
  }
  get identifier(): number {
    return readUint16(this.bytes, Field.IDENTIFIER);
  }
  set identifier(value: number) {
    writeUint16(this.bytes, Field.IDENTIFIER, value);
  }
  get sequence(): number {
    return readUint16(this.bytes, Field.SEQUENCE);
  }
  set sequence(value: number) {
    writeUint16(this.bytes, Field.SEQUENCE, value);
  }
  get payload(): Uint8Array {
    return this.bytes.subarray(Field.PAYLOAD);
  }

  verifyChecksum(): boolean {
    return foldChecksum(sumWords(this.bytes)) === 0;
  }

  /** Fills the checksum over the first `length` bytes (the message, when the buffer is longer). */
  fillChecksum(length = this.bytes.length): void {
    this.checksum = 0;
    this.checksum = foldChecksum(sumWordRange(this.bytes, 0, length));
  }
}

export interface IcmpRepr {
  type: number;
  code: number;
  /** Bytes 4..5: the echo identifier. */
  identifier: number;
  /** Bytes 6..7: the echo sequence number (the next-hop MTU for "fragmentation needed"). */
  sequence: number;
  payload: Uint8Array;
}

export interface IcmpParseOptions {
  /** Default true. */
  verifyChecksum?: boolean;
}

/** `bytes` is the whole ICMP message: the IPv4 payload, already trimmed of padding. */
export function parseIcmp(bytes: Uint8Array, options?: IcmpParseOptions): Parsed<IcmpRepr> {
  const view = new IcmpPacket(bytes);
  const error = view.check();
  if (error !== undefined) return fail(error);
  if (options?.verifyChecksum !== false && !view.verifyChecksum()) return fail('bad-checksum');
  return ok({
    type: view.type,
    code: view.code,
    identifier: view.identifier,
    sequence: view.sequence,
    payload: view.payload,
  });
}

export function icmpLength(repr: IcmpRepr): number {
  return ICMP_HEADER_LENGTH + repr.payload.length;
}

/**
 * Writes the message at the start of `buf` (at least `icmpLength(repr)` bytes),
 * copying the payload unless it is already in place, and fills the checksum.
 */
export function emitIcmp(repr: IcmpRepr, buf: Uint8Array): void {
  const length = icmpLength(repr);
  if (buf.length < length) throw new RangeError(`ICMP message needs ${length} bytes, got ${buf.length}`);
  checkField('ICMP type', repr.type, 0xff);
  checkField('ICMP code', repr.code, 0xff);
  checkField('ICMP identifier', repr.identifier, 0xffff);
  checkField('ICMP sequence', repr.sequence, 0xffff);
  const view = new IcmpPacket(buf);
  placePayload(buf, ICMP_HEADER_LENGTH, repr.payload);
  view.type = repr.type;
  view.code = repr.code;
  view.identifier = repr.identifier;
  view.sequence = repr.sequence;
  view.fillChecksum(length);
}

const UNREACHABLE_TEXT: Record<number, string> = {
  [IcmpUnreachableCode.NETWORK]: 'net unreachable',
  [IcmpUnreachableCode.HOST]: 'host unreachable',
  [IcmpUnreachableCode.PROTOCOL]: 'protocol unreachable',
  [IcmpUnreachableCode.PORT]: 'port unreachable',
  [IcmpUnreachableCode.FRAGMENTATION_NEEDED]: 'need to frag',
  [IcmpUnreachableCode.SOURCE_ROUTE_FAILED]: 'source route failed',
};

/** tcpdump style: `ICMP echo request, id 7239, seq 1, length 24`. */
export function formatIcmp(repr: IcmpRepr): string {
  const length = icmpLength(repr);
  switch (repr.type) {
    case IcmpType.ECHO_REQUEST:
      return `ICMP echo request, id ${repr.identifier}, seq ${repr.sequence}, length ${length}`;
    case IcmpType.ECHO_REPLY:
      return `ICMP echo reply, id ${repr.identifier}, seq ${repr.sequence}, length ${length}`;
    case IcmpType.DESTINATION_UNREACHABLE: {
      const text = UNREACHABLE_TEXT[repr.code] ?? `code ${repr.code}`;
      const mtu = repr.code === IcmpUnreachableCode.FRAGMENTATION_NEEDED ? ` (mtu ${repr.sequence})` : '';
      return `ICMP destination unreachable, ${text}${mtu}, length ${length}`;
    }
    case IcmpType.TIME_EXCEEDED:
      return `ICMP time exceeded ${repr.code === 0 ? 'in-transit' : 'in-reassembly'}, length ${length}`;
    default:
      return `ICMP type ${repr.type}, code ${repr.code}, length ${length}`;
  }
}
