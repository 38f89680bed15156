/**
 * ARP (RFC 826) for IPv4 over Ethernet, the only pairing this stack speaks:
 * hardware type 1, protocol type 0x0800, address lengths 6 and 4. Anything else is
 * 'unsupported' (well formed, perhaps, but not ours). Bytes after the 28-byte packet
 * (Ethernet padding) are ignored.
 *
 * The operation is returned as the number on the wire: RFC 826 defines request and
 * reply; RARP and InARP codes are the interface's to count and drop.
 * Hardware addresses in a parsed repr are views into the frame: the neighbor cache
 * copies what it keeps.
 */
import { formatIpv4, formatMac, MAC_ZERO, macEquals } from '../net/address.ts';
import type { Ipv4Address, MacAddress } from '../net/address.ts';
import { checkField, readUint16, readUint32, writeMac, writeUint16, writeUint32 } from './bytes.ts';
import { EtherType } from './ethernet.ts';
import { fail, ok } from './result.ts';
import type { Parsed, WireError } from './result.ts';

export const ArpOperation = { REQUEST: 1, REPLY: 2 } as const;
export type ArpOperation = (typeof ArpOperation)[keyof typeof ArpOperation];

export const ARP_PACKET_LENGTH = 28;

/** RFC 826 "ar$hrd" for Ethernet (IANA ARP parameters: hardware type 1). */
const HARDWARE_TYPE_ETHERNET = 1;

const Field = {
  HARDWARE_TYPE: 0,
  PROTOCOL_TYPE: 2,
  HARDWARE_LENGTH: 4,
  PROTOCOL_LENGTH: 5,
  OPERATION: 6,
  // The address fields below sit here only for hardware length 6, protocol length 4.
  SENDER_HARDWARE_ADDR: 8,
  SENDER_PROTOCOL_ADDR: 14,
  TARGET_HARDWARE_ADDR: 18,
  TARGET_PROTOCOL_ADDR: 24,
} as const;

/** The fixed part every ARP packet has, whatever its address types. */
const FIXED_LENGTH = 8;

/** A view over an Ethernet/IPv4 ARP packet. */
export class ArpPacket {
  constructor(readonly bytes: Uint8Array) {}

  /** After this returns undefined, every accessor reads inside the packet. */
  check(): WireError | undefined {
    if (this.bytes.length < FIXED_LENGTH) return 'truncated';
    if (
      this.hardwareType !== HARDWARE_TYPE_ETHERNET ||
      this.protocolType !== EtherType.IPV4 ||
      this.hardwareLength !== 6 ||
      this.protocolLength !== 4
    ) {
      return 'unsupported';
    }
    if (this.bytes.length < ARP_PACKET_LENGTH) return 'truncated';
    return undefined;
  }

  get hardwareType(): number {
    return readUint16(this.bytes, Field.HARDWARE_TYPE);
  }
  set hardwareType(value: number) {
    writeUint16(this.bytes, Field.HARDWARE_TYPE, value);
  }
  get protocolType(): number {
    return readUint16(this.bytes, Field.PROTOCOL_TYPE);
  }
  set protocolType(value: number) {
    writeUint16(this.bytes, Field.PROTOCOL_TYPE, value);
  }
  get hardwareLength(): number {
    return this.bytes[Field.HARDWARE_LENGTH]!;
  }
  set hardwareLength(value: number) {
    this.bytes[Field.HARDWARE_LENGTH] = value;
  }
  get protocolLength(): number {
    return this.bytes[Field.PROTOCOL_LENGTH]!;
  }
  set protocolLength(value: number) {
    this.bytes[Field.PROTOCOL_LENGTH] = value;
  }
  get operation(): number {
    return readUint16(this.bytes, Field.OPERATION);
  }
  set operation(value: number) {
    writeUint16(this.bytes, Field.OPERATION, value);
  }
  get senderHardwareAddr(): MacAddress {
    return this.bytes.subarray(Field.SENDER_HARDWARE_ADDR, Field.SENDER_HARDWARE_ADDR + 6);
  }
  set senderHardwareAddr(mac: MacAddress) {
    writeMac(this.bytes, Field.SENDER_HARDWARE_ADDR, mac);
  }
  get senderProtocolAddr(): Ipv4Address {
    return readUint32(this.bytes, Field.SENDER_PROTOCOL_ADDR);
  }
  set senderProtocolAddr(address: Ipv4Address) {
    writeUint32(this.bytes, Field.SENDER_PROTOCOL_ADDR, address);
  }
  get targetHardwareAddr(): MacAddress {
    return this.bytes.subarray(Field.TARGET_HARDWARE_ADDR, Field.TARGET_HARDWARE_ADDR + 6);
  }
  set targetHardwareAddr(mac: MacAddress) {
    writeMac(this.bytes, Field.TARGET_HARDWARE_ADDR, mac);
  }
  get targetProtocolAddr(): Ipv4Address {
    return readUint32(this.bytes, Field.TARGET_PROTOCOL_ADDR);
  }
  set targetProtocolAddr(address: Ipv4Address) {
    writeUint32(this.bytes, Field.TARGET_PROTOCOL_ADDR, address);
  }
}

export interface ArpRepr {
  operation: number;
  senderHardwareAddr: MacAddress;
  senderProtocolAddr: Ipv4Address;
  targetHardwareAddr: MacAddress;
  targetProtocolAddr: Ipv4Address;
}

export function parseArp(bytes: Uint8Array): Parsed<ArpRepr> {
  const view = new ArpPacket(bytes);
  const error = view.check();
  if (error !== undefined) return fail(error);
  return ok({
    operation: view.operation,
    senderHardwareAddr: view.senderHardwareAddr,
    senderProtocolAddr: view.senderProtocolAddr,
    targetHardwareAddr: view.targetHardwareAddr,
    targetProtocolAddr: view.targetProtocolAddr,
  });
}

/** Writes the 28-byte packet at the start of `buf`. */
export function emitArp(repr: ArpRepr, buf: Uint8Array): void {
  if (buf.length < ARP_PACKET_LENGTH) throw new RangeError(`ARP needs ${ARP_PACKET_LENGTH} bytes, got ${buf.length}`);
  checkField('ARP operation', repr.operation, 0xffff);
  const view = new ArpPacket(buf);
  view.hardwareType = HARDWARE_TYPE_ETHERNET;
  view.protocolType = EtherType.IPV4;
  view.hardwareLength = 6;
  view.protocolLength = 4;
  view.operation = repr.operation;
  view.senderHardwareAddr = repr.senderHardwareAddr;
  view.senderProtocolAddr = repr.senderProtocolAddr;
  view.targetHardwareAddr = repr.targetHardwareAddr;
  view.targetProtocolAddr = repr.targetProtocolAddr;
}

/** tcpdump style: `ARP, Request who-has 198.18.0.2 tell 198.18.0.1, length 28`. */
export function formatArp(repr: ArpRepr): string {
  const target = formatIpv4(repr.targetProtocolAddr);
  const sender = formatIpv4(repr.senderProtocolAddr);
  switch (repr.operation) {
    case ArpOperation.REQUEST: {
      // tcpdump names the target hardware address only when the asker filled it in.
      const known = macEquals(repr.targetHardwareAddr, MAC_ZERO) ? '' : ` (${formatMac(repr.targetHardwareAddr)})`;
      return `ARP, Request who-has ${target}${known} tell ${sender}, length ${ARP_PACKET_LENGTH}`;
    }
    case ArpOperation.REPLY:
      return `ARP, Reply ${sender} is-at ${formatMac(repr.senderHardwareAddr)}, length ${ARP_PACKET_LENGTH}`;
    default:
      return (
        `ARP, Unknown operation (${repr.operation}) ${sender} (${formatMac(repr.senderHardwareAddr)}) > ` +
        `${target} (${formatMac(repr.targetHardwareAddr)}), length ${ARP_PACKET_LENGTH}`
      );
  }
}
