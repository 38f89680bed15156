/**
 * TCP segments (RFC 9293 §3.1) and the options this stack understands:
 * MSS (RFC 9293 §3.2, §3.7.1), window scale and timestamps (RFC 7323 §2, §3),
 * SACK-permitted and SACK (RFC 2018 §2, §3).
 *
 * `parseTcp(bytes, source, destination)` takes the whole segment (the IPv4 payload,
 * padding already trimmed) and the IPv4 addresses for the pseudo header. It checks,
 * in order: fewer than 20 bytes → 'truncated'; data offset < 5 words or past the
 * segment → 'bad-data-offset'; checksum over pseudo header + segment →
 * 'bad-checksum'; then the options (→ 'bad-option'). It never throws, and the
 * payload is a view into the segment.
 *
 * Option parsing follows RFC 9293 §3.2: End of Option List stops parsing, NOP is one
 * byte, every other kind carries a length that counts its kind and length bytes.
 * Unknown kinds are skipped by that length (MUST-6: ignore options not implemented).
 * An illegal length (MUST-7: "be prepared to handle an illegal option length") —
 * below 2, running past the header, or wrong for a known kind — makes the segment
 * 'bad-option': the caller drops and counts it, as nothing else in a header whose
 * option framing is broken can be trusted. (Linux keeps such a segment: it stops
 * parsing at a broken length and ignores a known option of the wrong size. Dropping
 * is the conservative reading of the same rule, and what this stack's contract asks.)
 * A window scale above 14 is used as 14 (RFC 7323 §2.3). For a repeated option the
 * last one wins.
 *
 * `emitTcp` writes options in Linux's order and alignment, so every 32-bit field
 * lands on a 32-bit boundary: MSS; SACK-permitted + timestamps (or NOP NOP +
 * timestamps, or NOP NOP + SACK-permitted); NOP + window scale; NOP NOP + SACK
 * blocks. Only if that aligned form would not fit in 40 bytes (an odd combination
 * no sane sender asks for, but a parsed repr can hold) are the options packed
 * back to back and padded with zeros (End of Option List) to a 32-bit boundary.
 */
import { formatIpv4 } from '../net/address.ts';
import type { Ipv4Address } from '../net/address.ts';
import { checkField, placePayload, readUint16, readUint32, DOUBLE_ZERO, writeUint16, writeUint32 } from './bytes.ts';
import { foldChecksum, pseudoHeaderSum, sumWordRange } from './checksum.ts';
import { IpProtocol } from './ipv4.ts';
import { fail, ok } from './result.ts';
import type { Parsed, WireError } from './result.ts';

export const TcpFlag = { FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16, URG: 32, ECE: 64, CWR: 128 } as const;
export type TcpFlag = (typeof TcpFlag)[keyof typeof TcpFlag];

/** Option kinds (IANA "TCP Option Kind Numbers"). */
export const TcpOptionKind = {
  END_OF_OPTIONS: 0,
  NO_OPERATION: 1,
  MAXIMUM_SEGMENT_SIZE: 2,
  WINDOW_SCALE: 3,
  SACK_PERMITTED: 4,
  SACK: 5,
  TIMESTAMPS: 8,
} as const;

export const TCP_HEADER_LENGTH = 20;
/** The data offset is 4 bits of 32-bit words: at most 60 bytes, 40 of options. */
export const TCP_MAX_HEADER_LENGTH = 60;
export const TCP_MAX_OPTIONS_LENGTH = TCP_MAX_HEADER_LENGTH - TCP_HEADER_LENGTH;
/** RFC 7323 §2.3: a larger shift would let the window wrap past half the sequence space. */
export const TCP_MAX_WINDOW_SCALE = 14;
/** RFC 2018 §3: 40 option bytes hold at most four 8-byte blocks. */
export const TCP_MAX_SACK_BLOCKS = 4;

const OptionLength = { MSS: 4, WINDOW_SCALE: 3, SACK_PERMITTED: 2, TIMESTAMPS: 10, SACK_BASE: 2, SACK_BLOCK: 8 } as const;

const Field = {
  SOURCE_PORT: 0,
  DESTINATION_PORT: 2,
  SEQUENCE_NUMBER: 4,
  ACKNOWLEDGMENT_NUMBER: 8,
  DATA_OFFSET: 12,
  FLAGS: 13,
  WINDOW: 14,
  CHECKSUM: 16,
  URGENT_POINTER: 18,
  OPTIONS: 20,
} as const;

/** A view over the bytes of a TCP segment. */
export class TcpPacket {
  constructor(readonly bytes: Uint8Array) {}

  /**
   * After this returns undefined, every accessor (options and payload included)
   * reads inside the segment. Does not look at the checksum or inside the options.
   */
  check(): WireError | undefined {
    if (this.bytes.length < TCP_HEADER_LENGTH) return 'truncated';
    const headerLength = this.headerLength;
    if (headerLength < TCP_HEADER_LENGTH || headerLength > this.bytes.length) return 'bad-data-offset';
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
  get sequenceNumber(): number {
    return readUint32(this.bytes, Field.SEQUENCE_NUMBER);
  }
  /** Taken modulo 2^32, like all sequence arithmetic. */
  set sequenceNumber(value: number) {
    writeUint32(this.bytes, Field.SEQUENCE_NUMBER, value);
  }
  get acknowledgmentNumber(): number {
    return readUint32(this.bytes, Field.ACKNOWLEDGMENT_NUMBER);
  }
  set acknowledgmentNumber(value: number) {
    writeUint32(this.bytes, Field.ACKNOWLEDGMENT_NUMBER, value);
  }
  /** Header length in bytes (the data offset counts 32-bit words). */
  get headerLength(): number {
    return (this.bytes[Field.DATA_OFFSET]! >>> 4) * 4;
  }
  /** Also clears the reserved bits (RFC 9293 §3.1: "must be zero in generated segments"). */
  set headerLength(length: number) {
    this.bytes[Field.DATA_OFFSET] = (length >>> 2) << 4;
  }
  /** The eight control bits CWR..FIN (see TcpFlag). */
  get flags(): number {
    return this.bytes[Field.FLAGS]!;
  }
  set flags(value: number) {
    this.bytes[Field.FLAGS] = value;
  }
  get window(): number {
    return readUint16(this.bytes, Field.WINDOW);
  }
  set window(value: number) {
    writeUint16(this.bytes, Field.WINDOW, value);
  }
  get checksum(): number {
    return readUint16(this.bytes, Field.CHECKSUM);
  }
  set checksum(value: number) {
    writeUint16(this.bytes, Field.CHECKSUM, value);
  }
  get urgentPointer(): number {
    return readUint16(this.bytes, Field.URGENT_POINTER);
  }
  set urgentPointer(value: number) {
    writeUint16(this.bytes, Field.URGENT_POINTER, value);
  }
  /** The raw option bytes, padding included. */
  get options(): Uint8Array {
    return this.bytes.subarray(Field.OPTIONS, this.headerLength);
  }
  get payload(): Uint8Array {
    return this.bytes.subarray(this.headerLength);
  }

  /** RFC 9293 §3.1: the sum over pseudo header, header and data folds to 0 when correct. */
  verifyChecksum(source: Ipv4Address, destination: Ipv4Address, length = this.bytes.length): boolean {
    const initial = pseudoHeaderSum(source, destination, IpProtocol.TCP, length);
    return foldChecksum(sumWordRange(this.bytes, 0, length, initial)) === 0;
  }

  /** Fills the checksum over the first `length` bytes (the segment, when the buffer is longer). */
  fillChecksum(source: Ipv4Address, destination: Ipv4Address, length = this.bytes.length): void {
    this.checksum = 0;
    const initial = pseudoHeaderSum(source, destination, IpProtocol.TCP, length);
    this.checksum = foldChecksum(sumWordRange(this.bytes, 0, length, initial));
  }
}

export interface TcpOptions {
  mss?: number;
  /** Shift count, 0..14 (a received value above 14 reads as 14). */
  windowScale?: number;
  sackPermitted?: boolean;
  timestamps?: { value: number; echo: number };
  /** [left edge, right edge) pairs, 1..4 of them. */
  sackBlocks?: [number, number][];
}

export interface TcpRepr {
  sourcePort: number;
  destinationPort: number;
  sequenceNumber: number;
  acknowledgmentNumber: number;
  /** OR of TcpFlag bits. */
  flags: number;
  /** The raw 16-bit field: unscaled. */
  window: number;
  urgentPointer: number;
  options: TcpOptions;
  payload: Uint8Array;
}

export interface TcpParseOptions {
  /** Default true. */
  verifyChecksum?: boolean;
}

export function parseTcp(
  bytes: Uint8Array,
  source: Ipv4Address,
  destination: Ipv4Address,
  parseOptions?: TcpParseOptions,
): Parsed<TcpRepr> {
  const view = new TcpPacket(bytes);
  const error = view.check();
  if (error !== undefined) return fail(error);
  if (parseOptions?.verifyChecksum !== false && !view.verifyChecksum(source, destination)) return fail('bad-checksum');
  const options: TcpOptions = {};
  if (view.headerLength > TCP_HEADER_LENGTH) {
    const optionError = readOptions(bytes, Field.OPTIONS, view.headerLength, options, undefined);
    if (optionError !== undefined) return fail(optionError);
  }
  return ok({
    sourcePort: view.sourcePort,
    destinationPort: view.destinationPort,
    sequenceNumber: view.sequenceNumber,
    acknowledgmentNumber: view.acknowledgmentNumber,
    flags: view.flags,
    window: view.window,
    urgentPointer: view.urgentPointer,
    options,
    payload: view.payload,
  });
}

/**
 * A repr that `parseTcpInto` fills again and again (the stack's receive path keeps one):
 * its options object, timestamp pair and SACK block tuples are reused too.
 */
export interface ReusableTcpRepr extends TcpRepr {
  readonly scratch: OptionScratch;
}

/** The objects a reused repr's options point into. */
interface OptionScratch {
  readonly timestamps: { value: number; echo: number };
  /** `blockLists[n]` holds the first n of the four reused block tuples. */
  readonly blockLists: readonly [number, number][][];
}

const EMPTY_PAYLOAD = new Uint8Array(0);

/** A repr with every field zero, no options and no payload: for the reused ones of the hot paths. */
export function emptyTcpRepr(): TcpRepr {
  return {
    sourcePort: 0,
    destinationPort: 0,
    sequenceNumber: DOUBLE_ZERO,
    acknowledgmentNumber: DOUBLE_ZERO,
    flags: 0,
    window: 0,
    urgentPointer: 0,
    options: {},
    payload: EMPTY_PAYLOAD,
  };
}

export function reusableTcpRepr(): ReusableTcpRepr {
  const tuples: [number, number][] = [];
  for (let index = 0; index < TCP_MAX_SACK_BLOCKS; index++) tuples.push([DOUBLE_ZERO, DOUBLE_ZERO]);
  const blockLists: [number, number][][] = [];
  for (let count = 0; count <= TCP_MAX_SACK_BLOCKS; count++) blockLists.push(tuples.slice(0, count));
  return {
    ...emptyTcpRepr(),
    options: { mss: undefined, windowScale: undefined, sackPermitted: undefined, timestamps: undefined, sackBlocks: undefined },
    scratch: { timestamps: { value: DOUBLE_ZERO, echo: DOUBLE_ZERO }, blockLists },
  };
}

/**
 * `parseTcp` into a reused repr, for the receive path: the same checks in the same
 * order and the same values, but the fields are read at their offsets and the options
 * land in `into`'s own objects (an absent option reads `undefined`), so a segment costs
 * one view (the payload). Everything in `into` is overwritten by the next call: a
 * caller keeps values, never the repr, its options or their objects. Returns the error,
 * or undefined with `into` filled. The segment is `bytes[start, end)` (default: all of
 * it), so the IP layer needs no view of its payload (`ProtocolHandler.inputRange`).
 */
export function parseTcpInto(
  bytes: Uint8Array,
  source: Ipv4Address,
  destination: Ipv4Address,
  into: ReusableTcpRepr,
  verifyChecksum: boolean,
  start = 0,
  end = bytes.length,
): WireError | undefined {
  const length = end - start;
  if (length < TCP_HEADER_LENGTH) return 'truncated';
  const headerLength = (bytes[start + Field.DATA_OFFSET]! >>> 4) * 4;
  if (headerLength < TCP_HEADER_LENGTH || headerLength > length) return 'bad-data-offset';
  if (verifyChecksum) {
    const initial = pseudoHeaderSum(source, destination, IpProtocol.TCP, length);
    if (foldChecksum(sumWordRange(bytes, start, end, initial)) !== 0) return 'bad-checksum';
  }
  const options = into.options;
  options.mss = undefined;
  options.windowScale = undefined;
  options.sackPermitted = undefined;
  options.timestamps = undefined;
  options.sackBlocks = undefined;
  if (headerLength > TCP_HEADER_LENGTH) {
    const optionError = readOptions(bytes, start + Field.OPTIONS, start + headerLength, options, into.scratch);
    if (optionError !== undefined) return optionError;
  }
  into.sourcePort = readUint16(bytes, start + Field.SOURCE_PORT);
  into.destinationPort = readUint16(bytes, start + Field.DESTINATION_PORT);
  into.sequenceNumber = readUint32(bytes, start + Field.SEQUENCE_NUMBER);
  into.acknowledgmentNumber = readUint32(bytes, start + Field.ACKNOWLEDGMENT_NUMBER);
  into.flags = bytes[start + Field.FLAGS]!;
  into.window = readUint16(bytes, start + Field.WINDOW);
  into.urgentPointer = readUint16(bytes, start + Field.URGENT_POINTER);
  into.payload = headerLength === length ? EMPTY_PAYLOAD : bytes.subarray(start + headerLength, end);
  return undefined;
}

/** Parses the option bytes of a header (`TcpPacket.options`) on their own. */
export function parseTcpOptions(optionBytes: Uint8Array): Parsed<TcpOptions> {
  const options: TcpOptions = {};
  const error = readOptions(optionBytes, 0, optionBytes.length, options, undefined);
  return error === undefined ? ok(options) : fail(error);
}

/**
 * Reads the options in `bytes[start, end)` into `options`: into fresh objects, or with
 * `scratch` into the reused ones of a `ReusableTcpRepr`.
 */
function readOptions(bytes: Uint8Array, start: number, end: number, options: TcpOptions, scratch: OptionScratch | undefined): WireError | undefined {
  let at = start;
  while (at < end) {
    const kind = bytes[at]!;
    if (kind === TcpOptionKind.END_OF_OPTIONS) break;
    if (kind === TcpOptionKind.NO_OPERATION) {
      at += 1;
      continue;
    }
    if (at + 1 >= end) return 'bad-option'; // the length byte itself is past the header
    const length = bytes[at + 1]!;
    if (length < 2 || at + length > end) return 'bad-option';
    const value = at + 2;
    switch (kind) {
      case TcpOptionKind.MAXIMUM_SEGMENT_SIZE:
        if (length !== OptionLength.MSS) return 'bad-option';
        options.mss = readUint16(bytes, value);
        break;
      case TcpOptionKind.WINDOW_SCALE:
        if (length !== OptionLength.WINDOW_SCALE) return 'bad-option';
        // RFC 7323 §2.3: "MUST use 14 instead of the specified value".
        options.windowScale = Math.min(bytes[value]!, TCP_MAX_WINDOW_SCALE);
        break;
      case TcpOptionKind.SACK_PERMITTED:
        if (length !== OptionLength.SACK_PERMITTED) return 'bad-option';
        options.sackPermitted = true;
        break;
      case TcpOptionKind.SACK: {
        const blockBytes = length - OptionLength.SACK_BASE;
        if (
          blockBytes === 0 ||
          blockBytes % OptionLength.SACK_BLOCK !== 0 ||
          blockBytes > TCP_MAX_SACK_BLOCKS * OptionLength.SACK_BLOCK
        ) {
          return 'bad-option';
        }
        if (scratch !== undefined) {
          const blocks = scratch.blockLists[blockBytes / OptionLength.SACK_BLOCK]!;
          for (let index = 0, block = value; index < blocks.length; index++, block += OptionLength.SACK_BLOCK) {
            const tuple = blocks[index]!;
            tuple[0] = readUint32(bytes, block);
            tuple[1] = readUint32(bytes, block + 4);
          }
          options.sackBlocks = blocks;
          break;
        }
        const blocks: [number, number][] = [];
        for (let block = value; block < at + length; block += OptionLength.SACK_BLOCK) {
          blocks.push([readUint32(bytes, block), readUint32(bytes, block + 4)]);
        }
        options.sackBlocks = blocks;
        break;
      }
      case TcpOptionKind.TIMESTAMPS:
        if (length !== OptionLength.TIMESTAMPS) return 'bad-option';
        if (scratch !== undefined) {
          scratch.timestamps.value = readUint32(bytes, value);
          scratch.timestamps.echo = readUint32(bytes, value + 4);
          options.timestamps = scratch.timestamps;
        } else {
          options.timestamps = { value: readUint32(bytes, value), echo: readUint32(bytes, value + 4) };
        }
        break;
      default:
        break; // unknown kind: skipped by its length
    }
    at += length;
  }
  return undefined;
}

/** Option bytes in Linux's aligned layout (see the module comment). */
function alignedOptionsLength(options: TcpOptions): number {
  let length = 0;
  if (options.mss !== undefined) length += 4;
  if (options.timestamps !== undefined) length += 12; // SACK-permitted (or NOP NOP) + timestamps
  else if (options.sackPermitted === true) length += 4; // NOP NOP + SACK-permitted
  if (options.windowScale !== undefined) length += 4; // NOP + window scale
  const blocks = options.sackBlocks?.length ?? 0;
  if (blocks > 0) length += 4 + blocks * OptionLength.SACK_BLOCK; // NOP NOP + SACK
  return length;
}

/** Option bytes packed back to back, padded to a 32-bit boundary. */
function packedOptionsLength(options: TcpOptions): number {
  let length = 0;
  if (options.mss !== undefined) length += OptionLength.MSS;
  if (options.sackPermitted === true) length += OptionLength.SACK_PERMITTED;
  if (options.timestamps !== undefined) length += OptionLength.TIMESTAMPS;
  if (options.windowScale !== undefined) length += OptionLength.WINDOW_SCALE;
  const blocks = options.sackBlocks?.length ?? 0;
  if (blocks > 0) length += OptionLength.SACK_BASE + blocks * OptionLength.SACK_BLOCK;
  return (length + 3) & ~3;
}

/**
 * Header length in bytes for these options: 20 plus the options padded to 32 bits.
 * Throws RangeError if they cannot fit in 40 bytes (our own emit asked for too much).
 */
export function tcpHeaderLength(options: TcpOptions): number {
  const aligned = alignedOptionsLength(options);
  if (aligned <= TCP_MAX_OPTIONS_LENGTH) return TCP_HEADER_LENGTH + aligned;
  const packed = packedOptionsLength(options);
  if (packed <= TCP_MAX_OPTIONS_LENGTH) return TCP_HEADER_LENGTH + packed;
  throw new RangeError(`TCP options need ${packed} bytes, at most ${TCP_MAX_OPTIONS_LENGTH} fit`);
}

function checkOptions(options: TcpOptions): void {
  if (options.mss !== undefined) checkField('TCP MSS', options.mss, 0xffff);
  if (options.windowScale !== undefined) checkField('TCP window scale', options.windowScale, TCP_MAX_WINDOW_SCALE);
  const blocks = options.sackBlocks?.length ?? 0;
  if (blocks > TCP_MAX_SACK_BLOCKS) throw new RangeError(`at most ${TCP_MAX_SACK_BLOCKS} SACK blocks, got ${blocks}`);
}

/** Writes the options at `buf[base + TCP_HEADER_LENGTH]`, `optionsLength` bytes in all. */
function writeOptions(buf: Uint8Array, options: TcpOptions, optionsLength: number, base: number): void {
  const aligned = alignedOptionsLength(options) === optionsLength;
  const end = base + TCP_HEADER_LENGTH + optionsLength;
  let at = base + TCP_HEADER_LENGTH;
  if (options.mss !== undefined) {
    buf[at] = TcpOptionKind.MAXIMUM_SEGMENT_SIZE;
    buf[at + 1] = OptionLength.MSS;
    writeUint16(buf, at + 2, options.mss);
    at += OptionLength.MSS;
  }
  const sackPermitted = options.sackPermitted === true;
  const timestamps = options.timestamps;
  if (aligned && (sackPermitted !== (timestamps !== undefined))) {
    // Two NOPs stand in for whichever of SACK-permitted and timestamps is missing,
    // so the pair always takes 12 (or the one alone 4) aligned bytes.
    buf[at] = TcpOptionKind.NO_OPERATION;
    buf[at + 1] = TcpOptionKind.NO_OPERATION;
    at += 2;
  }
  if (sackPermitted) {
    buf[at] = TcpOptionKind.SACK_PERMITTED;
    buf[at + 1] = OptionLength.SACK_PERMITTED;
    at += OptionLength.SACK_PERMITTED;
  }
  if (timestamps !== undefined) {
    buf[at] = TcpOptionKind.TIMESTAMPS;
    buf[at + 1] = OptionLength.TIMESTAMPS;
    writeUint32(buf, at + 2, timestamps.value);
    writeUint32(buf, at + 6, timestamps.echo);
    at += OptionLength.TIMESTAMPS;
  }
  if (options.windowScale !== undefined) {
    if (aligned) buf[at++] = TcpOptionKind.NO_OPERATION;
    buf[at] = TcpOptionKind.WINDOW_SCALE;
    buf[at + 1] = OptionLength.WINDOW_SCALE;
    buf[at + 2] = options.windowScale;
    at += OptionLength.WINDOW_SCALE;
  }
  const blocks = options.sackBlocks;
  if (blocks !== undefined && blocks.length > 0) {
    if (aligned) {
      buf[at] = TcpOptionKind.NO_OPERATION;
      buf[at + 1] = TcpOptionKind.NO_OPERATION;
      at += 2;
    }
    buf[at] = TcpOptionKind.SACK;
    buf[at + 1] = OptionLength.SACK_BASE + blocks.length * OptionLength.SACK_BLOCK;
    at += OptionLength.SACK_BASE;
    for (let index = 0; index < blocks.length; index++) {
      const block = blocks[index]!;
      writeUint32(buf, at, block[0]);
      writeUint32(buf, at + 4, block[1]);
      at += OptionLength.SACK_BLOCK;
    }
  }
  // RFC 9293 §3.1: "The padding is composed of zeros" (End of Option List).
  while (at < end) buf[at++] = TcpOptionKind.END_OF_OPTIONS;
}

/**
 * Writes the segment into `buf`, which holds exactly header + payload
 * (`tcpHeaderLength(repr.options) + repr.payload.length` bytes; a longer buffer
 * is accepted and only that prefix is written and checksummed). The payload is
 * copied unless it already sits at `buf[headerLength]`. Sequence, acknowledgment,
 * timestamp and SACK values are taken modulo 2^32; other fields out of range throw
 * RangeError (a bug in the caller, not untrusted input).
 */
export function emitTcp(repr: TcpRepr, buf: Uint8Array, source: Ipv4Address, destination: Ipv4Address): void {
  checkHeaderFields(repr);
  const headerLength = tcpHeaderLength(repr.options);
  const length = headerLength + repr.payload.length;
  if (buf.length < length) throw new RangeError(`TCP segment needs ${length} bytes, got ${buf.length}`);
  placePayload(buf, headerLength, repr.payload);
  writeHeader(repr, headerLength, length, buf, source, destination, 0, false);
}

/**
 * `emitTcp` for a payload of `payloadLength` bytes that the caller has already put at
 * `buf[offset + tcpHeaderLength(header.options)]` (the send path copies it from the send
 * ring straight into the frame): writes header and options at `buf[offset]` and fills the
 * checksum over both and the payload. `header.payload` is not read. Same checks as
 * `emitTcp`. The offset lets the send path write into the frame itself, with no view
 * object per segment. `partialChecksum`: the checksum field gets only the pseudo-header
 * sum (folded, not complemented) and the device sums the segment (VIRTIO_NET_HDR_F_NEEDS_CSUM;
 * the super-segments of segmentation offload, src/net/device.ts).
 */
export function emitTcpHeader(
  header: Omit<TcpRepr, 'payload'>,
  payloadLength: number,
  buf: Uint8Array,
  source: Ipv4Address,
  destination: Ipv4Address,
  offset = 0,
  partialChecksum = false,
): void {
  checkHeaderFields(header);
  const headerLength = tcpHeaderLength(header.options);
  const length = headerLength + payloadLength;
  if (buf.length < offset + length) throw new RangeError(`TCP segment needs ${length} bytes at ${offset}, got ${buf.length}`);
  writeHeader(header, headerLength, length, buf, source, destination, offset, partialChecksum);
}

function checkHeaderFields(header: Omit<TcpRepr, 'payload'>): void {
  checkField('TCP source port', header.sourcePort, 0xffff);
  checkField('TCP destination port', header.destinationPort, 0xffff);
  checkField('TCP flags', header.flags, 0xff);
  checkField('TCP window', header.window, 0xffff);
  checkField('TCP urgent pointer', header.urgentPointer, 0xffff);
  checkOptions(header.options);
}

/** The fields at their offsets from `base` (no view object), the options, then the checksum over `length` bytes. */
function writeHeader(
  header: Omit<TcpRepr, 'payload'>,
  headerLength: number,
  length: number,
  buf: Uint8Array,
  source: Ipv4Address,
  destination: Ipv4Address,
  base: number,
  partialChecksum: boolean,
): void {
  writeUint16(buf, base + Field.SOURCE_PORT, header.sourcePort);
  writeUint16(buf, base + Field.DESTINATION_PORT, header.destinationPort);
  writeUint32(buf, base + Field.SEQUENCE_NUMBER, header.sequenceNumber);
  writeUint32(buf, base + Field.ACKNOWLEDGMENT_NUMBER, header.acknowledgmentNumber);
  // Also clears the reserved bits (RFC 9293 §3.1: "must be zero in generated segments").
  buf[base + Field.DATA_OFFSET] = (headerLength >>> 2) << 4;
  buf[base + Field.FLAGS] = header.flags;
  writeUint16(buf, base + Field.WINDOW, header.window);
  writeUint16(buf, base + Field.CHECKSUM, 0);
  writeUint16(buf, base + Field.URGENT_POINTER, header.urgentPointer);
  if (headerLength > TCP_HEADER_LENGTH) writeOptions(buf, header.options, headerLength - TCP_HEADER_LENGTH, base);
  const initial = pseudoHeaderSum(source, destination, IpProtocol.TCP, length);
  // A partial checksum leaves the sum over the segment to the device (segmentation offload,
  // src/net/device.ts): the field holds the pseudo-header sum, folded and not complemented.
  const checksum = partialChecksum ? ~foldChecksum(initial) & 0xffff : foldChecksum(sumWordRange(buf, base, base + length, initial));
  writeUint16(buf, base + Field.CHECKSUM, checksum);
}

/** tcpdump's flag letters, in tcpdump's order ("S." is SYN-ACK, "." a bare ACK). */
const FLAG_LETTERS: readonly [number, string][] = [
  [TcpFlag.FIN, 'F'],
  [TcpFlag.SYN, 'S'],
  [TcpFlag.RST, 'R'],
  [TcpFlag.PSH, 'P'],
  [TcpFlag.ACK, '.'],
  [TcpFlag.URG, 'U'],
  [TcpFlag.ECE, 'E'],
  [TcpFlag.CWR, 'W'],
];

export function formatTcpFlags(flags: number): string {
  let text = '';
  for (const [flag, letter] of FLAG_LETTERS) if ((flags & flag) !== 0) text += letter;
  return text === '' ? 'none' : text;
}

function formatOptions(options: TcpOptions): string {
  const parts: string[] = [];
  if (options.mss !== undefined) parts.push(`mss ${options.mss}`);
  if (options.sackPermitted === true) parts.push('sackOK');
  if (options.timestamps !== undefined) parts.push(`TS val ${options.timestamps.value} ecr ${options.timestamps.echo}`);
  if (options.windowScale !== undefined) parts.push(`wscale ${options.windowScale}`);
  if (options.sackBlocks !== undefined && options.sackBlocks.length > 0) {
    const blocks = options.sackBlocks.map(([left, right]) => `{${left >>> 0}:${right >>> 0}}`).join('');
    parts.push(`sack ${options.sackBlocks.length} ${blocks}`);
  }
  return parts.join(',');
}

/**
 * tcpdump -S style (absolute sequence numbers):
 * `Flags [S.], seq 516143967, ack 3629301971, win 65160, options [mss 1460,sackOK,TS val 1 ecr 2,wscale 10], length 0`.
 * Unlike tcpdump, the sequence number is shown on pure ACKs too (keepalives and
 * challenge ACKs are told apart by it); with data it is the range `first:next`.
 * Options appear in a fixed order without NOP padding.
 */
export function formatTcp(repr: TcpRepr): string {
  const length = repr.payload.length;
  const sequence = repr.sequenceNumber >>> 0;
  let text = `Flags [${formatTcpFlags(repr.flags)}], seq ${sequence}`;
  if (length > 0) text += `:${(sequence + length) >>> 0}`;
  if ((repr.flags & TcpFlag.ACK) !== 0) text += `, ack ${repr.acknowledgmentNumber >>> 0}`;
  text += `, win ${repr.window}`;
  if ((repr.flags & TcpFlag.URG) !== 0) text += `, urg ${repr.urgentPointer}`;
  const options = formatOptions(repr.options);
  if (options !== '') text += `, options [${options}]`;
  return `${text}, length ${length}`;
}

/** The address part of a tcpdump line: `198.18.0.1.58096 > 198.18.0.2.7070`. */
export function formatTcpEndpoints(source: Ipv4Address, destination: Ipv4Address, repr: TcpRepr): string {
  return `${formatIpv4(source)}.${repr.sourcePort} > ${formatIpv4(destination)}.${repr.destinationPort}`;
}
