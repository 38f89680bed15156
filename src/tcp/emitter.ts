/**
 * The one function that builds every outgoing TCP segment: `SegmentEmitter.emit`.
 *
 * Connection segments reach it through output.ts (`transmit`, which chooses their
 * header fields); segments that belong to no connection (RST for a closed port,
 * SYN-ACK with a SYN cookie) come from the listener and demultiplexer code of the
 * stack. The emitter writes the segment straight into the IP payload that the
 * interface layer hands to `fill` (the frame and the payload's offset in it: the header
 * written in place; data copied once, from the send ring buffer into the frame) and reuses one scratch repr, so nothing is
 * allocated per segment. One emitter per stack.
 */
import type { Ipv4Address } from '../net/address.ts';
import type { IpSender, IpSendResult } from '../net/ip-sender.ts';
import type { CounterHandle, Counters } from '../stats.ts';
import type { RingBuffer } from '../storage/ring-buffer.ts';
import { DOUBLE_ZERO } from '../wire/bytes.ts';
import { IpProtocol } from '../wire/ipv4.ts';
import { emitTcpHeader, emptyTcpRepr, tcpHeaderLength, TcpFlag, type TcpOptions, type TcpRepr } from '../wire/tcp.ts';

export type { IpSender, IpSendResult } from '../net/ip-sender.ts';

/** The header fields of one segment to emit. */
export interface SegmentFields {
  remoteAddress: Ipv4Address;
  sourcePort: number;
  destinationPort: number;
  sequenceNumber: number;
  acknowledgmentNumber: number;
  flags: number;
  window: number;
  /** MSS option value (SYN and SYN-ACK only). */
  mss?: number;
  /** SACK-permitted option (SYN and SYN-ACK only, RFC 2018 §2). */
  sackPermitted?: boolean;
  /** SACK blocks, most recent first (RFC 2018 §3-4). */
  sackBlocks?: [number, number][] | undefined;
  /** Window scale option (SYN and SYN-ACK only, RFC 7323 §2.2). */
  windowScale?: number | undefined;
  /** TSopt: TSval and TSecr (RFC 7323 §3.2); the object is reused by the caller. */
  timestamps?: { value: number; echo: number } | undefined;
}

const NO_OPTIONS: TcpOptions = Object.freeze({});
const TIMESTAMPS_ONLY: TcpOptions = { timestamps: { value: DOUBLE_ZERO, echo: DOUBLE_ZERO } };

/** The options of a segment; the common case (none) allocates nothing. */
function optionsOf(fields: SegmentFields): TcpOptions {
  const blocks = fields.sackBlocks !== undefined && fields.sackBlocks.length > 0 ? fields.sackBlocks : undefined;
  if (fields.mss === undefined && fields.sackPermitted !== true && blocks === undefined && fields.windowScale === undefined) {
    if (fields.timestamps === undefined) return NO_OPTIONS;
    // The common case with RFC 7323: timestamps alone, in a reused options object.
    TIMESTAMPS_ONLY.timestamps = fields.timestamps;
    return TIMESTAMPS_ONLY;
  }
  const options: TcpOptions = {};
  if (fields.mss !== undefined) options.mss = fields.mss;
  if (fields.sackPermitted === true) options.sackPermitted = true;
  if (fields.timestamps !== undefined) options.timestamps = fields.timestamps;
  if (fields.windowScale !== undefined) options.windowScale = fields.windowScale;
  if (blocks !== undefined) options.sackBlocks = blocks;
  return options;
}

export class SegmentEmitter {
  private readonly repr: TcpRepr = emptyTcpRepr();
  private dataSource: RingBuffer | undefined;
  private dataOffset = 0;
  private dataLength = 0;
  private headerLength = 0;
  private remoteAddress: Ipv4Address = DOUBLE_ZERO;
  /** > 0 while a super-segment is being emitted: the device checksums and cuts it. */
  private segmentSize = 0;

  // Bound once: the interface layer calls it with the frame and the offset of the IP
  // payload in it (header + data long). The data goes from the send ring straight to its
  // place in the frame (one copy), then the header and checksum are written around it.
  private readonly fill = (frame: Uint8Array, offset: number): void => {
    if (this.dataSource !== undefined && this.dataLength > 0) {
      this.dataSource.copyOutAt(this.dataOffset, this.dataLength, frame, offset + this.headerLength);
    }
    emitTcpHeader(this.repr, this.dataLength, frame, this.localAddress, this.remoteAddress, offset, this.segmentSize > 0);
  };

  private readonly txSegments: CounterHandle;

  constructor(
    private readonly ip: IpSender,
    readonly localAddress: Ipv4Address,
    private readonly counters: Counters,
  ) {
    this.txSegments = counters.handle('tcp.tx.segments');
  }

  /**
   * The most payload + TCP header bytes one super-segment may carry (the device's
   * segmentation offload, src/net/device.ts); 0: none, every segment is emitted alone.
   */
  get segmentOffloadBytes(): number {
    return this.ip.segmentOffloadBytes ?? 0;
  }

  /**
   * Emits one segment; `dataLength` bytes of payload come from `dataSource` at `dataOffset`.
   * `segmentSize` > 0 (only with `segmentOffloadBytes`): a super-segment, the same header
   * for ⌈dataLength / segmentSize⌉ segments the device cuts and checksums (as Linux TSO:
   * the options are copied into every piece, FIN/PSH kept for the last); counted as that
   * many segments.
   */
  emit(fields: SegmentFields, dataSource?: RingBuffer, dataOffset = 0, dataLength = 0, segmentSize = 0): IpSendResult {
    const repr = this.repr;
    repr.sourcePort = fields.sourcePort;
    repr.destinationPort = fields.destinationPort;
    repr.sequenceNumber = fields.sequenceNumber >>> 0;
    repr.acknowledgmentNumber = fields.acknowledgmentNumber >>> 0;
    repr.flags = fields.flags;
    repr.window = fields.window;
    repr.options = optionsOf(fields);
    this.dataSource = dataSource;
    this.dataOffset = dataOffset;
    this.dataLength = dataSource !== undefined ? dataLength : 0;
    this.headerLength = tcpHeaderLength(repr.options);
    this.remoteAddress = fields.remoteAddress;
    this.segmentSize = segmentSize;
    let result: IpSendResult;
    try {
      result = this.ip.sendIpv4(fields.remoteAddress, IpProtocol.TCP, this.headerLength + this.dataLength, this.fill, segmentSize);
    } finally {
      this.dataSource = undefined;
      this.segmentSize = 0;
    }
    // tcp.tx.segments: a super-segment counts its pieces.
    this.txSegments.value += segmentSize > 0 ? Math.ceil(this.dataLength / segmentSize) : 1;
    if (fields.flags & TcpFlag.RST) this.counters.increment('tcp.tx.rst');
    if (result === 'no-route' || result === 'dropped') this.counters.increment(`tcp.tx.${result}`);
    return result;
  }
}
