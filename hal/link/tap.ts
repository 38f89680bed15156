/**
 * The TAP link: a virtual Ethernet interface whose other side is the local kernel, for
 * development and integration tests (the kernel's ARP, IP and TCP are the peer).
 *
 * The tap's own MAC belongs to the kernel's end of the interface. The stack is a separate
 * host on that segment, so it gets an address of its own: a random locally administered
 * unicast MAC (IEEE 802 "U/L" bit set, group bit clear) unless one is given.
 *
 * Carrier is up while the link is open: the descriptor is the cable. Frames are read one
 * per read() and delivered in batches; transmit queues until flush() (or a full batch),
 * then writes one frame per write().
 */
import { randomBytes } from 'node:crypto';
import type { MacAddress } from '../../src/net/address.ts';
import { copyMac, DEFAULT_BATCH_SIZE, loadNativeAddon, MINIMUM_IPV4_MTU, NativeLink, type NativeAddon } from './native.ts';

export interface TapLinkOptions {
  /** Interface name, or a template such as `pw%d` the kernel completes; see `interfaceName`. */
  name: string;
  /** IP MTU; defaults to the tap interface's (1500 unless changed). */
  mtu?: number;
  /** The stack's MAC; defaults to a random locally administered address. */
  mac?: MacAddress;
  /** Frames per receive wakeup and per send batch. Default 64. */
  batchSize?: number;
}

export class TapLink extends NativeLink {
  /** The actual interface name (a `%d` template expanded by the kernel). */
  readonly interfaceName: string;

  constructor(options: TapLinkOptions, addon: NativeAddon = loadNativeAddon()) {
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    // The interface only exists once the descriptor is open, and the base class needs its
    // MTU, so the tap is opened first and its receive callbacks forwarded once constructed
    // (receiving is asynchronous: nothing can arrive before the constructor returns).
    const forward: { link?: TapLink } = {};
    const handle = addon.openTap(
      options.name,
      batchSize,
      (count, ownFrames, truncated, vlanTagged, merged, coalesced, more) => forward.link?.receiveBatch(count, ownFrames, truncated, vlanTagged, merged, coalesced, more),
      (error, fatal) => forward.link?.receiveError(error, fatal),
    );
    let mtu: number;
    try {
      mtu = options.mtu ?? addon.mtu(handle.name);
      if (!Number.isInteger(mtu) || mtu < MINIMUM_IPV4_MTU || mtu > 65535) {
        throw new RangeError(`piwire: tap link ${handle.name}: mtu ${mtu} must be an integer in ${MINIMUM_IPV4_MTU}..65535`);
      }
    } catch (error) {
      addon.close(handle);
      throw error;
    }
    let mac: MacAddress;
    try {
      mac = options.mac ? copyMac(options.mac) : randomLocalMac();
    } catch (error) {
      addon.close(handle);
      throw error;
    }
    super(addon, { name: `tap:${handle.name}`, mtu, mac, batchSize });
    this.interfaceName = handle.name;
    this.adopt(handle);
    forward.link = this;
    this.setCarrier(true);
  }
}

/** Opens (creating) a tap interface; needs CAP_NET_ADMIN. Remove it by closing the link. */
export function openTapLink(options: TapLinkOptions): TapLink {
  return new TapLink(options);
}

/** A random unicast MAC with the locally administered bit set (IEEE 802-2014 §8.2.2). */
export function randomLocalMac(): MacAddress {
  const mac = new Uint8Array(randomBytes(6));
  mac[0] = ((mac[0] ?? 0) & 0xfe) | 0x02;
  return mac;
}
