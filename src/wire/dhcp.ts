/**
 * DHCP messages (RFC 2131 §2, options RFC 2132): the BOOTP fixed part, the magic cookie,
 * then options. Only Ethernet clients are spoken (htype 1, hlen 6); anything else
 * parses as 'unsupported'.
 *
 *   op htype hlen hops | xid | secs flags | ciaddr | yiaddr | siaddr | giaddr
 *   | chaddr (16) | sname (64) | file (128) | 99.130.83.99 | options... 255
 *
 * Parsing is strict where a wrong value would mislead the client and lenient elsewhere:
 * a known option with the wrong length, an option running past the end of its field, or
 * a missing end option in a full field is 'bad-option' (the whole message is dropped:
 * a server that sends it is broken or hostile); unknown options are skipped. The
 * option-overload option (52, RFC 2132 §9.3) is honoured: options continue in `file`,
 * then `sname` (RFC 2131 §4.1). When an option appears twice, the first one wins
 * (RFC 3396 concatenation is for options we do not read).
 *
 * Emitting pads the message to the 300-byte BOOTP minimum (RFC 1542 §3.3: some relays
 * and servers drop shorter ones) and always ends the options with 255.
 */
import type { Ipv4Address, MacAddress } from '../net/address.ts';
import { formatIpv4, formatMac } from '../net/address.ts';
import { readUint16, readUint32, writeMac, writeUint16, writeUint32 } from './bytes.ts';
import { fail, ok } from './result.ts';
import type { Parsed, WireError } from './result.ts';

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;

export const BootpOp = { REQUEST: 1, REPLY: 2 } as const;

/** RFC 2132 §9.6. */
export const DhcpMessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;
export type DhcpMessageType = (typeof DhcpMessageType)[keyof typeof DhcpMessageType];

export const DhcpOption = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS_SERVER: 6,
  HOSTNAME: 12,
  REQUESTED_ADDRESS: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_IDENTIFIER: 54,
  PARAMETER_REQUEST_LIST: 55,
  MESSAGE: 56,
  MAX_MESSAGE_SIZE: 57,
  RENEWAL_TIME: 58,
  REBINDING_TIME: 59,
  CLIENT_IDENTIFIER: 61,
  END: 255,
} as const;

/** The fixed BOOTP part, before the magic cookie. */
export const BOOTP_FIXED_LENGTH = 236;
export const DHCP_MAGIC_COOKIE = 0x63825363;
/** RFC 1542 §3.3: the smallest BOOTP message relays must pass on. */
export const BOOTP_MINIMUM_LENGTH = 300;
/** RFC 2131 §2: htype 1 = 10 Mb Ethernet (every IEEE 802 MAC). */
const HARDWARE_TYPE_ETHERNET = 1;
const BROADCAST_FLAG = 0x8000;

const Field = {
  OP: 0,
  HTYPE: 1,
  HLEN: 2,
  HOPS: 3,
  XID: 4,
  SECS: 8,
  FLAGS: 10,
  CIADDR: 12,
  YIADDR: 16,
  SIADDR: 20,
  GIADDR: 24,
  CHADDR: 28,
  SNAME: 44,
  FILE: 108,
  COOKIE: 236,
  OPTIONS: 240,
} as const;
const SNAME_LENGTH = 64;
const FILE_LENGTH = 128;

/** A view over the fixed part of a BOOTP/DHCP message. */
export class DhcpPacket {
  constructor(readonly bytes: Uint8Array) {}

  /** After this returns undefined, every fixed-field accessor reads inside the message. */
  check(): WireError | undefined {
    if (this.bytes.length < Field.OPTIONS) return 'truncated';
    return undefined;
  }

  get op(): number {
    return this.bytes[Field.OP]!;
  }
  get hardwareType(): number {
    return this.bytes[Field.HTYPE]!;
  }
  get hardwareLength(): number {
    return this.bytes[Field.HLEN]!;
  }
  get hops(): number {
    return this.bytes[Field.HOPS]!;
  }
  get transactionId(): number {
    return readUint32(this.bytes, Field.XID);
  }
  get seconds(): number {
    return readUint16(this.bytes, Field.SECS);
  }
  get flags(): number {
    return readUint16(this.bytes, Field.FLAGS);
  }
  get clientAddress(): Ipv4Address {
    return readUint32(this.bytes, Field.CIADDR);
  }
  get yourAddress(): Ipv4Address {
    return readUint32(this.bytes, Field.YIADDR);
  }
  get serverAddress(): Ipv4Address {
    return readUint32(this.bytes, Field.SIADDR);
  }
  get relayAddress(): Ipv4Address {
    return readUint32(this.bytes, Field.GIADDR);
  }
  /** The first 6 bytes of chaddr (an Ethernet MAC; hlen is checked by the parser). */
  get clientHardwareAddress(): MacAddress {
    return this.bytes.subarray(Field.CHADDR, Field.CHADDR + 6);
  }
  get cookie(): number {
    return readUint32(this.bytes, Field.COOKIE);
  }
  get optionBytes(): Uint8Array {
    return this.bytes.subarray(Field.OPTIONS);
  }
  get fileField(): Uint8Array {
    return this.bytes.subarray(Field.FILE, Field.FILE + FILE_LENGTH);
  }
  get serverNameField(): Uint8Array {
    return this.bytes.subarray(Field.SNAME, Field.SNAME + SNAME_LENGTH);
  }
}

/** The options piwire reads or writes; everything else is skipped when parsing. */
export interface DhcpOptions {
  messageType?: number | undefined;
  serverIdentifier?: Ipv4Address | undefined;
  requestedAddress?: Ipv4Address | undefined;
  /** Seconds; 0xffffffff is infinite (RFC 2132 §9.2). */
  leaseTime?: number | undefined;
  renewalTime?: number | undefined;
  rebindingTime?: number | undefined;
  subnetMask?: Ipv4Address | undefined;
  routers?: Ipv4Address[] | undefined;
  dnsServers?: Ipv4Address[] | undefined;
  clientIdentifier?: Uint8Array | undefined;
  hostname?: string | undefined;
  parameterRequestList?: number[] | undefined;
  /** Option 56: a server's explanation (in a NAK), or ours (in a DECLINE). */
  message?: string | undefined;
  maxMessageSize?: number | undefined;
}

export interface DhcpRepr {
  op: number;
  transactionId: number;
  seconds: number;
  /** RFC 2131 §4.1: the client cannot receive unicast before it is configured. */
  broadcast: boolean;
  clientAddress: Ipv4Address;
  yourAddress: Ipv4Address;
  serverAddress: Ipv4Address;
  relayAddress: Ipv4Address;
  clientHardwareAddress: MacAddress;
  options: DhcpOptions;
}

/** `bytes` is the UDP payload. */
export function parseDhcp(bytes: Uint8Array): Parsed<DhcpRepr> {
  const view = new DhcpPacket(bytes);
  const error = view.check();
  if (error !== undefined) return fail(error);
  if (view.op !== BootpOp.REQUEST && view.op !== BootpOp.REPLY) return fail('unsupported');
  if (view.hardwareType !== HARDWARE_TYPE_ETHERNET || view.hardwareLength !== 6) return fail('unsupported');
  // Without the cookie it is plain BOOTP (RFC 951), which is not for a DHCP client.
  if (view.cookie !== DHCP_MAGIC_COOKIE) return fail('unsupported');
  const options: DhcpOptions = {};
  const state = { overload: 0 };
  if (!readOptions(view.optionBytes, options, state, false)) return fail('bad-option');
  // RFC 2131 §4.1: with overload, options go on in `file`, then in `sname`.
  if ((state.overload & 1) !== 0 && !readOptions(view.fileField, options, state, true)) return fail('bad-option');
  if ((state.overload & 2) !== 0 && !readOptions(view.serverNameField, options, state, true)) return fail('bad-option');
  return ok({
    op: view.op,
    transactionId: view.transactionId,
    seconds: view.seconds,
    broadcast: (view.flags & BROADCAST_FLAG) !== 0,
    clientAddress: view.clientAddress,
    yourAddress: view.yourAddress,
    serverAddress: view.serverAddress,
    relayAddress: view.relayAddress,
    clientHardwareAddress: view.clientHardwareAddress,
    options,
  });
}

/**
 * Reads one option field into `options`. Returns false for a malformed one. In the main
 * field a missing end option is tolerated when the data simply ends (many servers pad
 * to the end instead); in an overloaded field the padding rules are the same.
 */
function readOptions(field: Uint8Array, options: DhcpOptions, state: { overload: number }, overloaded: boolean): boolean {
  let offset = 0;
  while (offset < field.length) {
    const code = field[offset]!;
    if (code === DhcpOption.PAD) {
      offset++;
      continue;
    }
    if (code === DhcpOption.END) return true;
    if (offset + 1 >= field.length) return false;
    const length = field[offset + 1]!;
    const start = offset + 2;
    const end = start + length;
    if (end > field.length) return false;
    if (!readOption(code, field.subarray(start, end), options, state, overloaded)) return false;
    offset = end;
  }
  return true;
}

function readOption(code: number, value: Uint8Array, options: DhcpOptions, state: { overload: number }, overloaded: boolean): boolean {
  const address = (): Ipv4Address | undefined => (value.length === 4 ? readUint32(value, 0) : undefined);
  const seconds = address;
  const addressList = (): Ipv4Address[] | undefined => {
    if (value.length === 0 || value.length % 4 !== 0) return undefined;
    const list: Ipv4Address[] = [];
    for (let i = 0; i < value.length; i += 4) list.push(readUint32(value, i));
    return list;
  };
  switch (code) {
    case DhcpOption.MESSAGE_TYPE:
      if (value.length !== 1) return false;
      options.messageType ??= value[0]!;
      return true;
    case DhcpOption.OVERLOAD:
      // RFC 2132 §9.3: only meaningful in the main options field.
      if (value.length !== 1 || value[0]! < 1 || value[0]! > 3) return false;
      if (!overloaded) state.overload = value[0]!;
      return true;
    case DhcpOption.SERVER_IDENTIFIER:
      return set(options, 'serverIdentifier', address());
    case DhcpOption.REQUESTED_ADDRESS:
      return set(options, 'requestedAddress', address());
    case DhcpOption.SUBNET_MASK:
      return set(options, 'subnetMask', address());
    case DhcpOption.LEASE_TIME:
      return set(options, 'leaseTime', seconds());
    case DhcpOption.RENEWAL_TIME:
      return set(options, 'renewalTime', seconds());
    case DhcpOption.REBINDING_TIME:
      return set(options, 'rebindingTime', seconds());
    case DhcpOption.ROUTER:
      return set(options, 'routers', addressList());
    case DhcpOption.DNS_SERVER:
      return set(options, 'dnsServers', addressList());
    case DhcpOption.MAX_MESSAGE_SIZE:
      return set(options, 'maxMessageSize', value.length === 2 ? readUint16(value, 0) : undefined);
    case DhcpOption.CLIENT_IDENTIFIER:
      return set(options, 'clientIdentifier', value.length >= 2 ? value : undefined);
    case DhcpOption.PARAMETER_REQUEST_LIST:
      return set(options, 'parameterRequestList', value.length >= 1 ? Array.from(value) : undefined);
    case DhcpOption.HOSTNAME:
      return set(options, 'hostname', value.length >= 1 ? latin1(value) : undefined);
    case DhcpOption.MESSAGE:
      return set(options, 'message', latin1(value));
    default:
      return true;
  }
}

/** Keeps the first occurrence; `undefined` means the value was malformed. */
function set<K extends keyof DhcpOptions>(options: DhcpOptions, key: K, value: DhcpOptions[K]): boolean {
  if (value === undefined) return false;
  if (options[key] === undefined) options[key] = value;
  return true;
}

/** Text options are NVT ASCII (RFC 2132 §2); control characters are shown as '?', never logged raw. */
function latin1(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) {
    if (byte === 0) break;
    text += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '?';
  }
  return text;
}

// ------------------------------------------------------------------------------ emit

/** Bytes of the options as emitted (without the end option). */
function optionsLength(options: DhcpOptions): number {
  let length = 0;
  const add = (valueLength: number | undefined): void => {
    if (valueLength !== undefined) length += 2 + valueLength;
  };
  if (options.messageType !== undefined) add(1);
  if (options.clientIdentifier !== undefined) add(options.clientIdentifier.length);
  if (options.requestedAddress !== undefined) add(4);
  if (options.serverIdentifier !== undefined) add(4);
  if (options.leaseTime !== undefined) add(4);
  if (options.renewalTime !== undefined) add(4);
  if (options.rebindingTime !== undefined) add(4);
  if (options.subnetMask !== undefined) add(4);
  if (options.routers !== undefined) add(options.routers.length * 4);
  if (options.dnsServers !== undefined) add(options.dnsServers.length * 4);
  if (options.maxMessageSize !== undefined) add(2);
  if (options.parameterRequestList !== undefined) add(options.parameterRequestList.length);
  // RFC 2132 §3.14, §9.9: text options are at least one octet; an empty one is left out.
  if (options.hostname) add(options.hostname.length);
  if (options.message) add(options.message.length);
  return length;
}

export function dhcpBufferLength(repr: DhcpRepr): number {
  return Math.max(BOOTP_MINIMUM_LENGTH, Field.OPTIONS + optionsLength(repr.options) + 1);
}

/** Writes the message at the start of `buf` (at least `dhcpBufferLength(repr)` bytes, zeroed). */
export function emitDhcp(repr: DhcpRepr, buf: Uint8Array): void {
  const length = dhcpBufferLength(repr);
  if (buf.length < length) throw new RangeError(`DHCP message needs ${length} bytes, got ${buf.length}`);
  buf.fill(0, 0, length);
  buf[Field.OP] = repr.op;
  buf[Field.HTYPE] = HARDWARE_TYPE_ETHERNET;
  buf[Field.HLEN] = 6;
  writeUint32(buf, Field.XID, repr.transactionId);
  writeUint16(buf, Field.SECS, Math.min(repr.seconds, 0xffff));
  writeUint16(buf, Field.FLAGS, repr.broadcast ? BROADCAST_FLAG : 0);
  writeUint32(buf, Field.CIADDR, repr.clientAddress);
  writeUint32(buf, Field.YIADDR, repr.yourAddress);
  writeUint32(buf, Field.SIADDR, repr.serverAddress);
  writeUint32(buf, Field.GIADDR, repr.relayAddress);
  writeMac(buf, Field.CHADDR, repr.clientHardwareAddress);
  writeUint32(buf, Field.COOKIE, DHCP_MAGIC_COOKIE);
  let offset = Field.OPTIONS;
  const option = (code: number, value: Uint8Array | number[]): void => {
    if (value.length > 255) throw new RangeError(`DHCP option ${code} is ${value.length} bytes, more than 255`);
    buf[offset] = code;
    buf[offset + 1] = value.length;
    buf.set(value, offset + 2);
    offset += 2 + value.length;
  };
  const u32 = (value: number): number[] => [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
  const text = (value: string): number[] => Array.from(value, (c) => c.charCodeAt(0) & 0xff);
  const o = repr.options;
  if (o.messageType !== undefined) option(DhcpOption.MESSAGE_TYPE, [o.messageType]);
  if (o.clientIdentifier !== undefined) option(DhcpOption.CLIENT_IDENTIFIER, o.clientIdentifier);
  if (o.requestedAddress !== undefined) option(DhcpOption.REQUESTED_ADDRESS, u32(o.requestedAddress));
  if (o.serverIdentifier !== undefined) option(DhcpOption.SERVER_IDENTIFIER, u32(o.serverIdentifier));
  if (o.leaseTime !== undefined) option(DhcpOption.LEASE_TIME, u32(o.leaseTime));
  if (o.renewalTime !== undefined) option(DhcpOption.RENEWAL_TIME, u32(o.renewalTime));
  if (o.rebindingTime !== undefined) option(DhcpOption.REBINDING_TIME, u32(o.rebindingTime));
  if (o.subnetMask !== undefined) option(DhcpOption.SUBNET_MASK, u32(o.subnetMask));
  if (o.routers !== undefined) option(DhcpOption.ROUTER, o.routers.flatMap(u32));
  if (o.dnsServers !== undefined) option(DhcpOption.DNS_SERVER, o.dnsServers.flatMap(u32));
  if (o.maxMessageSize !== undefined) option(DhcpOption.MAX_MESSAGE_SIZE, [o.maxMessageSize >>> 8, o.maxMessageSize & 0xff]);
  if (o.parameterRequestList !== undefined) option(DhcpOption.PARAMETER_REQUEST_LIST, o.parameterRequestList);
  if (o.hostname) option(DhcpOption.HOSTNAME, text(o.hostname));
  if (o.message) option(DhcpOption.MESSAGE, text(o.message));
  buf[offset] = DhcpOption.END;
}

const MESSAGE_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'DISCOVER',
  2: 'OFFER',
  3: 'REQUEST',
  4: 'DECLINE',
  5: 'ACK',
  6: 'NAK',
  7: 'RELEASE',
  8: 'INFORM',
};

export function dhcpMessageTypeName(type: number | undefined): string {
  return type === undefined ? 'BOOTP' : (MESSAGE_TYPE_NAMES[type] ?? `type ${type}`);
}

/** tcpdump-like: `DHCP OFFER xid 0x3903f326, chaddr 02:00:00:00:00:02, yiaddr 198.18.0.50`. */
export function formatDhcp(repr: DhcpRepr): string {
  const parts = [`DHCP ${dhcpMessageTypeName(repr.options.messageType)} xid 0x${repr.transactionId.toString(16).padStart(8, '0')}`];
  parts.push(`chaddr ${formatMac(repr.clientHardwareAddress)}`);
  if (repr.clientAddress !== 0) parts.push(`ciaddr ${formatIpv4(repr.clientAddress)}`);
  if (repr.yourAddress !== 0) parts.push(`yiaddr ${formatIpv4(repr.yourAddress)}`);
  if (repr.options.serverIdentifier !== undefined) parts.push(`server ${formatIpv4(repr.options.serverIdentifier)}`);
  if (repr.options.leaseTime !== undefined) parts.push(`lease ${repr.options.leaseTime}s`);
  return parts.join(', ');
}
