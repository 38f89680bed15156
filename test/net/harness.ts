/**
 * Test harness for the interface layer: a fake FrameDevice that records what is
 * transmitted, a ManualClock, and frame builders written byte by byte, independently
 * of src/wire, so a bug in the codecs cannot hide a bug in the interface (and the other
 * way round). The checksum here is a plain RFC 1071 loop, not the stack's.
 */
import assert from 'node:assert/strict';
import { Counters } from '../../src/stats.ts';
import { RecordingEventSink } from '../../src/events.ts';
import { ManualClock } from '../../src/time.ts';
import { parseIpv4, parseMac } from '../../src/net/address.ts';
import type { Ipv4Address, MacAddress } from '../../src/net/address.ts';
import type { FrameDevice } from '../../src/net/device.ts';
import { NetworkInterface } from '../../src/net/interface.ts';
import type { InterfaceConfig } from '../../src/net/interface.ts';

export function ip(text: string): Ipv4Address {
  const address = parseIpv4(text);
  if (address === undefined) throw new Error(`bad test address ${text}`);
  return address;
}

export function mac(text: string): MacAddress {
  const address = parseMac(text);
  if (address === undefined) throw new Error(`bad test MAC ${text}`);
  return address;
}

export const OUR_MAC = mac('02:00:00:00:00:02');
export const OUR_IP = ip('198.18.0.2');
export const PEER_MAC = mac('02:00:00:00:00:01');
export const PEER_IP = ip('198.18.0.1');
export const OTHER_MAC = mac('02:00:00:00:00:03');
export const OTHER_IP = ip('198.18.0.3');
export const GATEWAY_MAC = mac('02:00:00:00:00:fe');
export const GATEWAY_IP = ip('198.18.0.254');
export const BROADCAST_MAC = mac('ff:ff:ff:ff:ff:ff');
export const ZERO_MAC = mac('00:00:00:00:00:00');

/** "ff ff 02 00" (whitespace and comments after '#' ignored) → bytes. */
export function hex(text: string): Uint8Array {
  const digits = text
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .join('')
    .replace(/\s+/g, '');
  if (digits.length % 2 !== 0 || /[^0-9a-f]/i.test(digits)) throw new Error(`bad hex fixture: ${text}`);
  return Uint8Array.from({ length: digits.length / 2 }, (_, i) => parseInt(digits.slice(i * 2, i * 2 + 2), 16));
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join(' ');
}

export class FakeDevice implements FrameDevice {
  readonly sent: Uint8Array[] = [];
  constructor(
    readonly mac: MacAddress = OUR_MAC,
    readonly mtu = 1500,
  ) {}
  transmit(frame: Uint8Array): void {
    this.sent.push(frame);
  }
  /** The frames sent since the last call. */
  take(): Uint8Array[] {
    return this.sent.splice(0, this.sent.length);
  }
}

/**
 * A device that lends transmit slots (src/net/device.ts `TransmitSlots`) as the native
 * links do: one slot reused after every frame, dirty from the last one (0xee at first), so
 * a frame built there must write or zero every byte. `sent` gets a copy of each slot frame.
 */
export class SlotDevice extends FakeDevice {
  /** How many frames went through a slot, and what `slot` was asked for (the length, or undefined: refused). */
  slotted = 0;
  lend = true;
  private readonly memory = new Uint8Array(1514 + 40).fill(0xee);
  readonly transmitSlots = {
    slot: (length: number): Uint8Array | undefined => {
      if (!this.lend || length > this.memory.length) return undefined;
      this.memory.fill(0, 0, length);
      return this.memory;
    },
    transmitSlot: (slot: Uint8Array, length: number): void => {
      assert.equal(slot, this.memory, 'the slot lent');
      this.slotted++;
      this.sent.push(slot.slice(0, length));
      slot.fill(0xee);
    },
  };
}

export interface Harness {
  iface: NetworkInterface;
  device: FakeDevice;
  clock: ManualClock;
  counters: Counters;
  events: RecordingEventSink;
  /** Moves the clock to `instant`, polling at every deadline on the way (as the loop does). */
  runUntil(instant: number): void;
}

export function createHarness(overrides: Partial<InterfaceConfig> = {}, deviceMtu = 1500, device = new FakeDevice(OUR_MAC, deviceMtu)): Harness {
  const clock = new ManualClock(0);
  const counters = new Counters();
  const events = new RecordingEventSink();
  const config: InterfaceConfig = { mac: OUR_MAC, address: OUR_IP, prefixLength: 24, mtu: 1500, ...overrides };
  const iface = new NetworkInterface(device, config, { clock, counters, events });
  const runUntil = (instant: number): void => {
    for (;;) {
      const due = iface.pollAt();
      if (due === undefined || due > instant) break;
      clock.set(Math.max(due, clock.now()));
      iface.poll(clock.now());
    }
    clock.set(instant);
  };
  return { iface, device, clock, counters, events, runUntil };
}

// ------------------------------------------------------------------ builders

export function ethernetFrame(destination: MacAddress, source: MacAddress, etherType: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(14 + payload.length);
  frame.set(destination, 0);
  frame.set(source, 6);
  frame[12] = etherType >>> 8;
  frame[13] = etherType & 0xff;
  frame.set(payload, 14);
  return frame;
}

export function arpPacket(fields: {
  operation: number;
  senderMac: MacAddress;
  senderIp: Ipv4Address;
  targetMac: MacAddress;
  targetIp: Ipv4Address;
}): Uint8Array {
  const packet = new Uint8Array(28);
  const view = new DataView(packet.buffer);
  view.setUint16(0, 1); // hardware type: Ethernet
  view.setUint16(2, 0x0800); // protocol type: IPv4
  packet[4] = 6;
  packet[5] = 4;
  view.setUint16(6, fields.operation);
  packet.set(fields.senderMac, 8);
  view.setUint32(14, fields.senderIp);
  packet.set(fields.targetMac, 18);
  view.setUint32(24, fields.targetIp);
  return packet;
}

/** An ARP frame from `senderMac`, to broadcast unless `to` is given. */
export function arpFrame(
  fields: { operation: number; senderMac: MacAddress; senderIp: Ipv4Address; targetMac?: MacAddress; targetIp: Ipv4Address },
  to: MacAddress = BROADCAST_MAC,
): Uint8Array {
  return ethernetFrame(to, fields.senderMac, 0x0806, arpPacket({ targetMac: ZERO_MAC, ...fields }));
}

/** RFC 1071, the textbook way: 16-bit words, carries folded as we go. */
export function referenceChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    const word = ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0);
    sum += word;
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  return ~sum & 0xffff;
}

export interface Ipv4Fields {
  source: Ipv4Address;
  destination: Ipv4Address;
  protocol: number;
  payload: Uint8Array;
  ttl?: number;
  identification?: number;
  /** The 16-bit flags + fragment offset field (default 0x4000: DF). */
  flagsAndOffset?: number;
  /** Corrupts the header checksum. */
  badChecksum?: boolean;
}

export function ipv4Packet(fields: Ipv4Fields): Uint8Array {
  const packet = new Uint8Array(20 + fields.payload.length);
  const view = new DataView(packet.buffer);
  packet[0] = 0x45;
  view.setUint16(2, packet.length);
  view.setUint16(4, fields.identification ?? 0x1234);
  view.setUint16(6, fields.flagsAndOffset ?? 0x4000);
  packet[8] = fields.ttl ?? 64;
  packet[9] = fields.protocol;
  view.setUint32(12, fields.source);
  view.setUint32(16, fields.destination);
  view.setUint16(10, referenceChecksum(packet.subarray(0, 20)) ^ (fields.badChecksum === true ? 0x0101 : 0));
  packet.set(fields.payload, 20);
  return packet;
}

export function ipv4Frame(fields: Ipv4Fields, ethernet: { to?: MacAddress; from?: MacAddress } = {}): Uint8Array {
  return ethernetFrame(ethernet.to ?? OUR_MAC, ethernet.from ?? PEER_MAC, 0x0800, ipv4Packet(fields));
}

export function icmpMessage(type: number, code: number, identifier: number, sequence: number, data: Uint8Array): Uint8Array {
  const message = new Uint8Array(8 + data.length);
  const view = new DataView(message.buffer);
  message[0] = type;
  message[1] = code;
  view.setUint16(4, identifier);
  view.setUint16(6, sequence);
  message.set(data, 8);
  view.setUint16(2, referenceChecksum(message));
  return message;
}

// ------------------------------------------------------------------ readers

export function readUint16(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] ?? 0) << 8) | (bytes[offset + 1] ?? 0);
}

export function readUint32(bytes: Uint8Array, offset: number): number {
  return (readUint16(bytes, offset) * 0x10000 + readUint16(bytes, offset + 2)) >>> 0;
}

export function ethernetDestination(frame: Uint8Array): Uint8Array {
  return frame.subarray(0, 6);
}

export function etherTypeOf(frame: Uint8Array): number {
  return readUint16(frame, 12);
}
