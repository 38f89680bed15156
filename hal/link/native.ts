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
 * callback per readable wakeup; each frame is a view into that batch's fresh buffer.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { MacAddress } from '../../src/net/address.ts';
import { Counters } from '../../src/stats.ts';
import { packagePath } from '../package-root.ts';
import { acceptForTransmit, ETHERNET_HEADER_BYTES, type CarrierHandler, type FrameHandler, type Link } from './link.ts';

/** An open packet socket or tap descriptor, owned by the addon. Opaque to TypeScript. */
export interface NativeHandle {
  /** The interface name (for a tap, the kernel's expansion of a `%d` template). */
  readonly name: string;
  readonly ifindex: number;
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
 * One call per readable wakeup: `data` holds the kept frames back to back, `lengths` their
 * sizes. Counted but not in `data`: `ownFrames`, frames this host sends out of the
 * interface (PACKET_OUTGOING: the kernel's or another socket's; a socket never sees its own);
 * `truncated`, frames longer than a receive slot; `vlanTagged`, 802.1Q frames (the kernel
 * strips the tag before packet sockets see them, so they would pass for untagged ones).
 */
export type NativeFramesCallback = (data: Buffer, lengths: Uint32Array, ownFrames: number, truncated: number, vlanTagged: number) => void;
/** A receive error; `fatal` means the addon stopped polling (the link can no longer receive). */
export type NativeErrorCallback = (error: NativeLinkError, fatal: boolean) => void;

export const OFFLOAD_FEATURES = ['tso', 'gso', 'gro', 'sg', 'tx', 'lro'] as const;
export type OffloadFeature = (typeof OFFLOAD_FEATURES)[number];
/** Per feature: `'off'`, or the errno name of why it could not be switched off. */
export type OffloadReport = Record<OffloadFeature, string>;

export interface NativeAddon {
  openPacket(
    interfaceName: string,
    slotSize: number,
    batchSize: number,
    promiscuous: boolean,
    onFrames: NativeFramesCallback,
    onError: NativeErrorCallback,
  ): NativeHandle;
  /** `name` may be a template such as `pw%d`; the handle carries the actual name. */
  openTap(name: string, batchSize: number, onFrames: NativeFramesCallback, onError: NativeErrorCallback): NativeHandle;
  send(handle: NativeHandle, frames: readonly Uint8Array[]): NativeSendResult;
  /** Idempotent. */
  close(handle: NativeHandle): void;
  /** Frames the kernel dropped for want of receive buffer since the last call (packet only; 0 otherwise). */
  kernelDrops(handle: NativeHandle): number;
  /** Administratively up and running (IFF_UP and IFF_RUNNING). */
  carrier(interfaceName: string): boolean;
  mac(interfaceName: string): Buffer;
  mtu(interfaceName: string): number;
  /** Best effort: every feature is tried, none failing stops the others. */
  disableOffloads(interfaceName: string): OffloadReport;
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
 * link.rx.errors, and one `link.drop.<reason>` per dropped frame: own-frame, truncated, vlan,
 * no-receiver, rx-overflow (inbound, the last counted by the kernel); runt, oversize,
 * closed, tx-full, link-down, tx-error (outbound).
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
  private receiver: FrameHandler | undefined;
  private readonly carrierHandlers: CarrierHandler[] = [];
  private pending: Uint8Array[] = [];
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
  }

  get carrier(): boolean {
    return this.carrierUp;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  setReceiver(handler: FrameHandler): void {
    this.receiver = handler;
  }

  onCarrierChange(handler: CarrierHandler): void {
    this.carrierHandlers.push(handler);
  }

  /** Queues the frame (ownership passes to the link); sends the batch once it is full. */
  transmit(frame: Uint8Array): void {
    // Over the link's MTU (which may be below the interface's, so the kernel would not
    // notice) is refused here, with the reason named.
    if (!acceptForTransmit(frame, this.mtu, this.closed, this.counters)) return;
    this.pending.push(frame);
    if (this.pending.length >= this.batchSize) this.flush();
  }

  flush(): void {
    if (this.pending.length === 0 || this.handle === undefined) return;
    const frames = this.pending;
    this.pending = [];
    const result = this.addon.send(this.handle, frames);
    this.counters.increment('link.tx.batches');
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
    this.handle = open(this.receiveBatch, this.receiveError);
    return this.handle;
  }

  /** Takes over a descriptor opened before construction, whose callbacks forward to receiveBatch/receiveError. */
  protected adopt(handle: NativeHandle): void {
    this.handle = handle;
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
    const drops = this.addon.kernelDrops(this.handle);
    if (drops > 0) this.counters.increment('link.drop.rx-overflow', drops);
  }

  /** Subclass hook: a receive error hinted that the carrier may have changed. */
  protected refreshCarrier(): void {}

  /** Subclass hook: stop timers before the descriptor goes. */
  protected beforeClose(): void {}

  protected readonly receiveBatch: NativeFramesCallback = (data, lengths, ownFrames, truncated, vlanTagged) => {
    if (ownFrames > 0) this.counters.increment('link.drop.own-frame', ownFrames);
    if (truncated > 0) this.counters.increment('link.drop.truncated', truncated);
    if (vlanTagged > 0) this.counters.increment('link.drop.vlan', vlanTagged);
    if (lengths.length === 0) return;
    this.counters.increment('link.rx.batches');
    this.counters.increment('link.rx.frames', lengths.length);
    this.counters.increment('link.rx.bytes', data.length);
    let offset = 0;
    for (let index = 0; index < lengths.length; index++) {
      const length = lengths[index] ?? 0;
      const frame = data.subarray(offset, offset + length);
      offset += length;
      // The receiver may close the link (or drop its handler) in the middle of a batch.
      const receiver = this.receiver;
      if (this.closed || receiver === undefined) {
        this.counters.increment(this.closed ? 'link.drop.closed' : 'link.drop.no-receiver');
        continue;
      }
      receiver(frame);
    }
  };

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
