/**
 * The native frame-link addon (hal/native/piwire_link.c), loaded and typed, and the
 * batching Link that both native links (packet.ts, tap.ts) are built on.
 *
 * The addon is optional at install time (the simulated board needs none), so it is loaded
 * lazily, on the first open of a packet or tap link, and a missing or broken build fails
 * that open with a message saying what is missing and how to build it.
 *
 * NativeLink call order: construct (a subclass opens the descriptor through the addon) →
 * setReceiver/onCarrierChange → transmit* → flush (once per event-loop turn; also
 * automatic when a batch fills) → close. Received frames arrive in batches, one addon
 * callback per readable wakeup, bracketed by the receiver's ReceiveBatch (link.ts); each
 * frame is a view into the addon's receive memory (the
 * packet socket's PACKET_MMAP ring, or the recvmmsg slots / tap arena), valid only during
 * the receiver's call, as the Link contract says: the addon hands those bytes back to the
 * kernel as soon as the callback returns. Everything above keeps that contract: the stack
 * parses in place and copies what it keeps (TCP payload into its receive ring, MACs into
 * the neighbour cache), and the memory wire's `poisonAfterDelivery` checks it. Once the
 * link is closed the receive memory is detached, so a view kept against the contract
 * reads as empty, never as freed memory. A receiver whose ReceiveBatch has
 * `receiveFrameAt` gets each frame of the batch as its range of that memory instead, no
 * view per frame. On the send side the link lends transmit slots (src/net/device.ts
 * `TransmitSlots`): one per frame of a batch, views made once, free again after each flush
 * (the kernel copies at sendmmsg), and `send` takes each queued frame's length.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { MacAddress } from '../../src/net/address.ts';
import type { SegmentOffload, TransmitSlots } from '../../src/net/device.ts';
import { Counters } from '../../src/stats.ts';
import { packagePath } from '../package-root.ts';
import { SuperFrameRing } from './super-frame-ring.ts';
import { acceptForTransmit, acceptLengthForTransmit, ETHERNET_HEADER_BYTES, type CarrierHandler, type FrameHandler, type Link, type ReceiveBatch } from './link.ts';

/** The length in a frame-table entry; bit 31 is FRAME_TCP_CHECKSUM_GOOD, bit 30 FRAME_IN_MERGE_MEMORY (piwire_link.c). */
export const FRAME_LENGTH_MASK = 0x3fff_ffff;
/** Bit 30 of a frame-table length: the frame is in the handle's mergeMemory (receive coalescing), not its memory. */
export const FRAME_IN_MERGE_MEMORY = 0x4000_0000;
/** Bit 31: the frame's TCP checksum is right. */
export const FRAME_TCP_CHECKSUM_GOOD = 0x8000_0000;

/**
 * How a packet link receives: a PACKET_MMAP ring (TPACKET_V3 blocks, TPACKET_V2 frames),
 * recvmmsg into fixed slots, or recvmsg into an arena with room for a whole IPv4 packet
 * per frame (for an interface whose kernel merges received segments: GRO hands over up to
 * 64 KiB in one frame); a tap reads.
 */
export type ReceiveMode = 'tpacket-v3' | 'tpacket-v2' | 'recvmmsg' | 'recvmsg';

/** An open packet socket or tap descriptor, owned by the addon. */
export interface NativeHandle {
  /** The interface name (for a tap, the kernel's expansion of a `%d` template). */
  readonly name: string;
  readonly ifindex: number;
  /** The receive memory every batch's frames are views into (detached once closed). */
  readonly memory: ArrayBuffer;
  /**
   * Per batch: frame i is memory[frameOffsets[i], frameOffsets[i] + (frameLengths[i] & FRAME_LENGTH_MASK)),
   * or mergeMemory's when frameLengths[i] has FRAME_IN_MERGE_MEMORY; bit 31 says the
   * frame's TCP checksum is right (the addon summed it, or the kernel vouched for it:
   * piwire_link.c, "Checksums").
   */
  readonly frameOffsets: Uint32Array<ArrayBuffer>;
  readonly frameLengths: Uint32Array<ArrayBuffer>;
  /** With receive coalescing: where merged frames are built (frames whose length has FRAME_IN_MERGE_MEMORY). */
  readonly mergeMemory?: ArrayBuffer;
  readonly receiveMode: ReceiveMode | 'read';
  /** Set when a ring was asked for and could not be had: the failed call and errno. */
  readonly ringFallback?: string;
  /** Packet: set when PACKET_IGNORE_OUTGOING was asked for and refused: the failed call and errno. */
  readonly outgoingFallback?: string;
}

/** What one send() did with a batch: frames are sent, dropped as `full`, or `failed`. */
export interface NativeSendResult {
  sent: number;
  /** Bytes of the frames sent. */
  bytes: number;
  /** Dropped because the socket or device queue was full (EAGAIN, ENOBUFS): never blocks. */
  full: number;
  /** Dropped for any other error (`error` names the last errno). */
  failed: number;
  error: string | undefined;
}

/** An error from a system call: `code` is the errno name. */
export interface NativeLinkError extends Error {
  code: string;
  errno?: number;
  syscall?: string;
  interfaceName?: string;
}

/**
 * One call per read: `count` frames, located by the handle's frame table. `more`: the
 * addon reads again in the same wakeup (this read came back full), and the next call's
 * frames belong to the same receive batch; that call may have no frames, only to end it.
 * Counted but not in the table: `ownFrames`, frames this host sends out of the interface
 * (PACKET_OUTGOING: the kernel's or another socket's; a socket never sees its own; none
 * when the socket has PACKET_IGNORE_OUTGOING);
 * `truncated`, frames longer than a receive slot; `vlanTagged`, 802.1Q frames (the kernel
 * strips the tag before packet sockets see them, so they would pass for untagged ones).
 * Among the `count`: `merged`, TCP frames merged from several segments (by the kernel's
 * GRO, or the addon's receive coalescing); `coalesced`, frames the addon merged into the
 * frame before them (not in `count`).
 */
export type NativeFramesCallback = (count: number, ownFrames: number, truncated: number, vlanTagged: number, merged: number, coalesced: number, more?: boolean) => void;
/** A receive error; `fatal` means the addon stopped polling (the link can no longer receive). */
export type NativeErrorCallback = (error: NativeLinkError, fatal: boolean) => void;

export const OFFLOAD_FEATURES = ['tso', 'gso', 'gro', 'sg', 'tx', 'lro'] as const;
export type OffloadFeature = (typeof OFFLOAD_FEATURES)[number];
/** Per feature: `'off'`, the errno name of why it could not be switched off, or (GRO asked to stay) `'kept'`. */
export type OffloadReport = Record<OffloadFeature, string>;

export interface NativeAddon {
  openPacket(
    interfaceName: string,
    slotSize: number,
    batchSize: number,
    promiscuous: boolean,
    /** PACKET_IGNORE_OUTGOING: the kernel offers the socket no frame sent out of the interface. */
    ignoreOutgoing: boolean,
    receiveMode: ReceiveMode,
    onFrames: NativeFramesCallback,
    onError: NativeErrorCallback,
    /** Receive coalescing: runs of a flow's in-order segments in a batch merged into one frame (piwire_link.c). */
    coalesce?: boolean,
  ): NativeHandle;
  /** `name` may be a template such as `pw%d`; the handle carries the actual name. */
  openTap(name: string, batchSize: number, onFrames: NativeFramesCallback, onError: NativeErrorCallback): NativeHandle;
  /**
   * The number of frames sent when all of them went (no result object per flush), else the
   * details. `segmentSizes` (a link with segmentation offload on): entry i > 0 makes frame i
   * a TCP/IPv4 super-frame the kernel cuts into segments of that many payload bytes.
   * `frameLengths`: entry i > 0 sends only the first that many bytes of frame i (a frame
   * built in a transmit slot longer than it); 0, or no array: the whole view.
   */
  send(handle: NativeHandle, frames: readonly Uint8Array[], segmentSizes?: Uint16Array, frameLengths?: Uint32Array): number | NativeSendResult;
  /**
   * Packet links: turns on segmentation offload (a transmit-only PACKET_VNET_HDR socket;
   * piwire_link.c says how). Undefined once on, else the call that failed and its errno name.
   */
  enableSegmentOffload(handle: NativeHandle): string | undefined;
  /** Idempotent. */
  close(handle: NativeHandle): void;
  /**
   * Since the last call (packet only; zeros otherwise): `drops`, frames the kernel dropped
   * for want of room (socket buffer or ring); `freezes`, times a TPACKET_V3 ring was full.
   */
  kernelStatistics(handle: NativeHandle): { drops: number; freezes: number };
  /** Administratively up and running (IFF_UP and IFF_RUNNING). */
  carrier(interfaceName: string): boolean;
  mac(interfaceName: string): Buffer;
  mtu(interfaceName: string): number;
  /** Best effort: every feature is tried, none failing stops the others; `keepGro` leaves GRO as it is. */
  disableOffloads(interfaceName: string, keepGro?: boolean): OffloadReport;
  /** The kernel merges the interface's received segments (GRO or LRO active; a macvlan follows its parent). */
  mergesReceived(interfaceName: string): boolean;
  /** One sd_notify(3) datagram to `socketPath` (`@name`: abstract); undefined when sent, else the errno name. */
  notify(socketPath: string, message: string): string | undefined;
}

/** Where node-gyp puts the addon (`npm install` → hal/native/build.mjs → binding.gyp). */
export const NATIVE_ADDON_PATH = packagePath('build', 'Release', 'piwire_link.node');

let loaded: NativeAddon | undefined;

/** The addon, loaded once. Throws an Error that says what is missing and how to build it. */
export function loadNativeAddon(): NativeAddon {
  if (loaded) return loaded;
  if (!existsSync(NATIVE_ADDON_PATH)) throw addonUnavailable(`${NATIVE_ADDON_PATH} is not built`);
  try {
    loaded = createRequire(import.meta.url)(NATIVE_ADDON_PATH) as NativeAddon;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw addonUnavailable(`${NATIVE_ADDON_PATH} failed to load: ${reason}`, error);
  }
  return loaded;
}

function addonUnavailable(detail: string, cause?: unknown): Error {
  return new Error(
    `piwire: native link addon not available (${detail}): run \`npm install\` with a C compiler ` +
      '(python3, make, g++) present; the sim link works without it',
    cause === undefined ? undefined : { cause },
  );
}

export { ETHERNET_HEADER_BYTES };
/** Room for an 802.1Q tag a peer may send on top of a full-size frame. */
export const VLAN_TAG_BYTES = 4;
/** The smallest IPv4 MTU every link must carry (RFC 791, "every internet module must be able to forward a datagram of 68 octets"). */
export const MINIMUM_IPV4_MTU = 68;
export const DEFAULT_BATCH_SIZE = 64;

/** A private copy of a configured MAC; anything but 6 bytes is a configuration error. */
export function copyMac(mac: MacAddress): MacAddress {
  if (mac.length !== 6) throw new RangeError(`piwire: a MAC address has 6 bytes, got ${mac.length}`);
  return Uint8Array.from(mac);
}

export interface NativeLinkSettings {
  name: string;
  mtu: number;
  mac: MacAddress;
  batchSize: number;
}

/**
 * The link logic shared by packet and tap: transmit batching, per-batch receive dispatch,
 * carrier handlers and counters. Subclasses open the descriptor and call `attach`.
 *
 * Counters (`stats()`): link.rx.frames/bytes/batches, link.tx.frames/bytes/batches,
 * link.rx.errors, link.rx.ring-freezes (TPACKET_V3: every block was waiting for us),
 * link.rx.merged-frames (frames merged from several TCP segments: the kernel's GRO or
 * the addon's coalescing), link.rx.coalesced-frames (frames the addon merged into the one
 * before them; link.rx.frames counts what reached the receiver),
 * link.tx.super-frames (segmentation offload: super-frames queued; link.tx.frames counts
 * what the addon sent, a super-frame as one), and one
 * `link.drop.<reason>` per dropped frame: own-frame, truncated, vlan, no-receiver,
 * rx-overflow (inbound, the last counted by the kernel); runt, oversize, closed, tx-full,
 * link-down, tx-error (outbound).
 */
export abstract class NativeLink implements Link {
  readonly name: string;
  readonly mtu: number;
  readonly mac: MacAddress;
  /** The last receive error, for diagnostics (undefined while all is well). */
  lastError: NativeLinkError | undefined;
  protected readonly counters = new Counters();
  protected readonly addon: NativeAddon;
  private readonly batchSize: number;
  private handle: NativeHandle | undefined;
  /** The handle's receive memory, frame table: what receiveBatch reads each batch from. */
  private receiveBytes: Uint8Array = new Uint8Array(0);
  /** Where the addon's receive coalescing builds merged frames (empty without it). */
  private mergeBytes: Uint8Array = new Uint8Array(0);
  private frameOffsets = new Uint32Array(0);
  private frameLengths = new Uint32Array(0);
  private receiver: FrameHandler | undefined;
  private batch: ReceiveBatch | undefined;
  /** The batch begun by a read that said `more`: the next read's frames go on in it. */
  private openBatch: ReceiveBatch | undefined;
  private readonly carrierHandlers: CarrierHandler[] = [];
  /** Frames queued for the next flush, and their bytes; the array is reused (the addon keeps no reference). */
  private readonly pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** With segmentation offload: per queued frame, its segment size (0: an ordinary frame). */
  private segmentSizes: Uint16Array | undefined;
  /** Set by a subclass whose descriptor segments super-frames (the packet link, when the kernel lets it). */
  segmentOffload: SegmentOffload | undefined;
  /** The super-frames' transmit memory (with `segmentOffload`): free again after each flush. */
  private superFrames: SuperFrameRing | undefined;
  /** Per queued frame, the bytes to send (a transmit slot is longer than its frame). */
  private readonly sendLengths: Uint32Array;
  /**
   * One transmit slot per frame of a batch (src/net/device.ts `TransmitSlots`), views made
   * once over one buffer, each 2 bytes past a 4-byte boundary (NET_IP_ALIGN, as FrameSlab):
   * the frame queued at index i of `pending` may be built in slot i, free again after the
   * flush that sends it.
   */
  private readonly slots: Uint8Array[];
  readonly transmitSlots: TransmitSlots;
  private carrierUp = false;
  private closed = false;
  /** The addon stopped receiving (a fatal error): the carrier stays down from then on. */
  private receiveFailed = false;

  protected constructor(addon: NativeAddon, settings: NativeLinkSettings) {
    this.addon = addon;
    this.name = settings.name;
    this.mtu = settings.mtu;
    this.mac = settings.mac;
    this.batchSize = settings.batchSize;
    this.sendLengths = new Uint32Array(settings.batchSize);
    const slotBytes = (settings.mtu + ETHERNET_HEADER_BYTES + 2 + 3) & ~3;
    const memory = new ArrayBuffer(slotBytes * settings.batchSize);
    this.slots = Array.from({ length: settings.batchSize }, (_, index) => new Uint8Array(memory, index * slotBytes + 2, slotBytes - 2));
    this.transmitSlots = {
      slot: (length) => {
        const slot = this.slots[this.pending.length];
        if (slot === undefined || length > slot.length || this.closed) return undefined;
        slot.fill(0, 0, length);
        return slot;
      },
      transmitSlot: (slot, length) => {
        if (!acceptLengthForTransmit(length, this.mtu, this.closed, this.counters)) return;
        this.queue(slot, 0, length);
      },
    };
  }

  get carrier(): boolean {
    return this.carrierUp;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  setReceiver(handler: FrameHandler, batch?: ReceiveBatch): void {
    this.receiver = handler;
    this.batch = batch;
  }

  onCarrierChange(handler: CarrierHandler): void {
    this.carrierHandlers.push(handler);
  }

  /** Queues the frame (ownership passes to the link); sends the batch once it is full. */
  transmit(frame: Uint8Array): void {
    // Over the link's MTU (which may be below the interface's, so the kernel would not
    // notice) is refused here, with the reason named.
    if (!acceptForTransmit(frame, this.mtu, this.closed, this.counters)) return;
    this.queue(frame, 0, frame.length);
  }

  /**
   * Turns segmentation offload on for this link (the subclass's descriptor takes super-frames
   * with segment sizes): from then on `segmentOffload` is offered to the stack.
   */
  protected offerSegmentOffload(maxPacketBytes: number): void {
    this.segmentSizes = new Uint16Array(this.batchSize);
    // The kernel copies every frame at sendmmsg, so a flush frees all super-frame buffers.
    const ring = new SuperFrameRing(maxPacketBytes + ETHERNET_HEADER_BYTES, () => this.flush());
    this.superFrames = ring;
    this.segmentOffload = {
      maxPacketBytes,
      superFrame: (length) => ring.take(length),
      transmitSegmented: (frame, segmentSize) => {
        // A super-frame passes the MTU by design (the offload's limit applies instead);
        // the kernel checks its headers.
        if (!acceptForTransmit(frame, maxPacketBytes, this.closed, this.counters)) return;
        if (segmentSize < 1 || segmentSize > 0xffff) {
          this.counters.increment('link.drop.oversize');
          return;
        }
        this.counters.increment('link.tx.super-frames');
        this.queue(frame, segmentSize, frame.length);
      },
    };
  }

  /** Queues `length` bytes of `frame` (all of it, except for a transmit slot). */
  private queue(frame: Uint8Array, segmentSize: number, length: number): void {
    if (this.segmentSizes !== undefined) this.segmentSizes[this.pending.length] = segmentSize;
    this.sendLengths[this.pending.length] = length;
    this.pending.push(frame);
    this.pendingBytes += length;
    if (this.pending.length >= this.batchSize) this.flush();
  }

  flush(): void {
    if (this.pending.length === 0 || this.handle === undefined) return;
    const bytes = this.pendingBytes;
    let result: number | NativeSendResult;
    try {
      result = this.addon.send(this.handle, this.pending, this.segmentSizes, this.sendLengths);
    } finally {
      this.pending.length = 0;
      this.pendingBytes = 0;
      this.superFrames?.released();
    }
    this.counters.increment('link.tx.batches');
    if (typeof result === 'number') {
      this.counters.increment('link.tx.frames', result);
      this.counters.increment('link.tx.bytes', bytes);
      return;
    }
    if (result.sent > 0) {
      this.counters.increment('link.tx.frames', result.sent);
      this.counters.increment('link.tx.bytes', result.bytes);
    }
    if (result.full > 0) this.counters.increment('link.drop.tx-full', result.full);
    if (result.failed > 0) {
      // The interface is down or gone (a detached tap answers EBADFD).
      const downErrors = ['ENETDOWN', 'ENXIO', 'ENODEV', 'EIO', 'EBADFD'];
      const reason = downErrors.includes(result.error ?? '') ? 'link.drop.link-down' : 'link.drop.tx-error';
      this.counters.increment(reason, result.failed);
    }
  }

  /** Sends what is queued, then releases the descriptor. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.beforeClose();
    if (this.handle !== undefined) this.addon.close(this.handle);
    this.handle = undefined;
    // Closing is not a cable event: the handlers are not called, the state just reads down.
    this.carrierUp = false;
  }

  stats(): Record<string, number> {
    this.collectKernelDrops();
    return this.counters.snapshot();
  }

  /** Opens the descriptor through `open`, which gets the receive callbacks to pass on. */
  protected attach(open: (onFrames: NativeFramesCallback, onError: NativeErrorCallback) => NativeHandle): NativeHandle {
    const handle = open(this.receiveBatch, this.receiveError);
    this.adopt(handle);
    return handle;
  }

  /** Takes over a descriptor opened before construction, whose callbacks forward to receiveBatch/receiveError. */
  protected adopt(handle: NativeHandle): void {
    this.handle = handle;
    this.receiveBytes = new Uint8Array(handle.memory);
    this.mergeBytes = handle.mergeMemory === undefined ? new Uint8Array(0) : new Uint8Array(handle.mergeMemory);
    this.frameOffsets = handle.frameOffsets;
    this.frameLengths = handle.frameLengths;
  }

  /** Records a carrier state and tells the handlers when it changed. */
  protected setCarrier(reportedUp: boolean): void {
    const up = reportedUp && !this.receiveFailed;
    if (up === this.carrierUp) return;
    this.carrierUp = up;
    for (const handler of this.carrierHandlers) handler(up);
  }

  /**
   * Counts the frames the kernel dropped before the link could read them (socket buffer
   * full while the event loop was busy): `link.drop.rx-overflow`. Called by stats() and by
   * the packet link's periodic timer.
   */
  protected collectKernelDrops(): void {
    if (this.handle === undefined) return;
    const { drops, freezes } = this.addon.kernelStatistics(this.handle);
    if (drops > 0) this.counters.increment('link.drop.rx-overflow', drops);
    if (freezes > 0) this.counters.increment('link.rx.ring-freezes', freezes);
  }

  /** Subclass hook: a receive error hinted that the carrier may have changed. */
  protected refreshCarrier(): void {}

  /** Subclass hook: stop timers before the descriptor goes. */
  protected beforeClose(): void {}

  protected readonly receiveBatch: NativeFramesCallback = (count, ownFrames, truncated, vlanTagged, merged, coalesced, more = false) => {
    if (ownFrames > 0) this.counters.increment('link.drop.own-frame', ownFrames);
    if (merged > 0) this.counters.increment('link.rx.merged-frames', merged);
    if (coalesced > 0) this.counters.increment('link.rx.coalesced-frames', coalesced);
    if (truncated > 0) this.counters.increment('link.drop.truncated', truncated);
    if (vlanTagged > 0) this.counters.increment('link.drop.vlan', vlanTagged);
    if (count === 0) {
      if (!more) this.endOpenBatch();
      return;
    }
    this.counters.increment('link.rx.batches');
    this.counters.increment('link.rx.frames', count);
    const offsets = this.frameOffsets;
    const lengths = this.frameLengths;
    let total = 0;
    // One wakeup is one receive batch (link.ts), however many reads it took: the stack
    // answers it as a whole, after every frame that waited.
    const batch = this.receiver === undefined ? undefined : this.batch;
    if (this.openBatch !== undefined && this.openBatch !== batch) this.endOpenBatch();
    if (this.openBatch === undefined) batch?.beginBatch();
    else batch?.continueBatch?.();
    this.openBatch = batch;
    let completed = false;
    try {
      for (let index = 0; index < count; index++) {
        const offset = offsets[index] ?? 0;
        // Bit 31 of the length: the frame's TCP checksum is right (link.ts FrameHandler);
        // bit 30: a frame the addon merged, in the merge memory.
        const tagged = lengths[index] ?? 0;
        const length = tagged & FRAME_LENGTH_MASK;
        const bytes = (tagged & FRAME_IN_MERGE_MEMORY) !== 0 ? this.mergeBytes : this.receiveBytes;
        const checksumGood = tagged >= FRAME_TCP_CHECKSUM_GOOD;
        total += length;
        // The receiver may close the link (or drop its handler) in the middle of a batch:
        // from then on the receive memory is gone, so the rest are only counted.
        const receiver = this.receiver;
        if (this.closed || receiver === undefined) {
          this.counters.increment(this.closed ? 'link.drop.closed' : 'link.drop.no-receiver');
          continue;
        }
        // In place when the batch begun takes ranges (and is still the receiver's): no view per frame.
        if (batch?.receiveFrameAt !== undefined && batch === this.batch) batch.receiveFrameAt(bytes, offset, offset + length, checksumGood);
        else receiver(bytes.subarray(offset, offset + length), checksumGood);
      }
      completed = true;
    } finally {
      // A receiver that threw ends the batch here (link.ts: endBatch also then).
      if (!more || !completed || this.closed) this.endOpenBatch();
    }
    this.counters.increment('link.rx.bytes', total);
  };

  private endOpenBatch(): void {
    const open = this.openBatch;
    this.openBatch = undefined;
    open?.endBatch();
  }

  protected readonly receiveError: NativeErrorCallback = (error, fatal) => {
    this.counters.increment('link.rx.errors');
    this.lastError = error;
    if (fatal) {
      // The addon stopped polling: the link cannot receive any more, which to the stack
      // above is the same as a pulled cable.
      this.counters.increment('link.rx.fatal-errors');
      this.receiveFailed = true;
      this.setCarrier(false);
      return;
    }
    // A packet socket reports ENETDOWN once when its interface goes down: look now rather
    // than at the next carrier poll.
    this.refreshCarrier();
  };
}
