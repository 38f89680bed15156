/**
 * Ethernet II framing (IEEE 802.3 with an EtherType, RFC 894 for IPv4 over it).
 *
 * `parseEthernet` splits a received frame into addresses, EtherType and a payload
 * view; it does not judge the EtherType (VLAN tags, IPv6, 802.3 length fields come
 * back as they are, and the interface counts what it does not handle). The frame
 * check sequence is not part of what links hand us, so it is not handled here.
 * Ethernet pads short frames to 60 bytes; the IPv4 parser trims that padding using
 * its total length.
 *
 * The repr's addresses and payload are views into the frame: valid only as long
 * as the frame is (the receive path copies what it keeps).
 */
import { formatMac } from '../net/address.ts';
import type { MacAddress } from '../net/address.ts';
import { readUint16, writeMac, writeUint16 } from './bytes.ts';
import { fail, ok } from './result.ts';
import type { Parsed, WireError } from './result.ts';

export const EtherType = { IPV4: 0x0800, ARP: 0x0806, IPV6: 0x86dd } as const;
export type EtherType = (typeof EtherType)[keyof typeof EtherType];

export const ETHERNET_HEADER_LENGTH = 14;

const Field = { DESTINATION: 0, SOURCE: 6, ETHER_TYPE: 12, PAYLOAD: 14 } as const;
/** Header field offsets, for the receive path's reads in place (`macAt`, `readUint16`). */
export const EthernetField = Field;

/**
 * Whether the 6 bytes at `frame[offset]` are `mac`: the receive path's address checks,
 * read in place instead of through a view per address. `frame` holds them (checked).
 */
export function macAt(frame: Uint8Array, offset: number, mac: MacAddress): boolean {
  return (
    frame[offset] === mac[0] &&
    frame[offset + 1] === mac[1] &&
    frame[offset + 2] === mac[2] &&
    frame[offset + 3] === mac[3] &&
    frame[offset + 4] === mac[4] &&
    frame[offset + 5] === mac[5]
  );
}

/** A view over the bytes of an Ethernet II frame. */
export class EthernetFrame {
  constructor(readonly bytes: Uint8Array) {}

  /** After this returns undefined, every accessor reads inside the frame. */
  check(): WireError | undefined {
    return this.bytes.length < ETHERNET_HEADER_LENGTH ? 'truncated' : undefined;
  }

  get destination(): MacAddress {
    return this.bytes.subarray(Field.DESTINATION, Field.DESTINATION + 6);
  }
  set destination(mac: MacAddress) {
    writeMac(this.bytes, Field.DESTINATION, mac);
  }

  get source(): MacAddress {
    return this.bytes.subarray(Field.SOURCE, Field.SOURCE + 6);
  }
  set source(mac: MacAddress) {
    writeMac(this.bytes, Field.SOURCE, mac);
  }

  get etherType(): number {
    return readUint16(this.bytes, Field.ETHER_TYPE);
  }
  set etherType(value: number) {
    writeUint16(this.bytes, Field.ETHER_TYPE, value);
  }

  get payload(): Uint8Array {
    return this.bytes.subarray(Field.PAYLOAD);
  }
}

export interface EthernetRepr {
  destination: MacAddress;
  source: MacAddress;
  etherType: number;
  payload: Uint8Array;
}

export function parseEthernet(frame: Uint8Array): Parsed<EthernetRepr> {
  const view = new EthernetFrame(frame);
  const error = view.check();
  if (error !== undefined) return fail(error);
  return ok({ destination: view.destination, source: view.source, etherType: view.etherType, payload: view.payload });
}

/** Writes bytes 0..13 of `frame`; the payload is the caller's (it is usually built in place). */
export function emitEthernetHeader(
  frame: Uint8Array,
  destination: MacAddress,
  source: MacAddress,
  etherType: number,
): void {
  if (frame.length < ETHERNET_HEADER_LENGTH) throw new RangeError(`frame of ${frame.length} bytes has no room for a header`);
  if (!Number.isInteger(etherType) || etherType < 0 || etherType > 0xffff) {
    throw new RangeError(`EtherType must be 16 bits, got ${etherType}`);
  }
  const view = new EthernetFrame(frame);
  view.destination = destination;
  view.source = source;
  view.etherType = etherType;
}

const ETHER_TYPE_NAMES: Record<number, string> = {
  [EtherType.IPV4]: 'IPv4',
  [EtherType.ARP]: 'ARP',
  [EtherType.IPV6]: 'IPv6',
  0x8100: '802.1Q',
  0x88cc: 'LLDP',
};

/** tcpdump -e style: `02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 74`. */
export function formatEthernet(repr: EthernetRepr): string {
  const type = repr.etherType.toString(16).padStart(4, '0');
  const kind = repr.etherType < 0x0600 ? '802.3 length' : `ethertype ${ETHER_TYPE_NAMES[repr.etherType] ?? 'Unknown'}`;
  return (
    `${formatMac(repr.source)} > ${formatMac(repr.destination)}, ${kind} (0x${type}), ` +
    `length ${ETHERNET_HEADER_LENGTH + repr.payload.length}`
  );
}
