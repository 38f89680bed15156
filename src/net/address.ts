/**
 * Addresses as the stack carries them: an IPv4 address is an unsigned 32-bit
 * number (network order value, `>>> 0`), a MAC address is a 6-byte Uint8Array.
 * Parsing user text returns undefined on bad input; it never throws.
 */
export type Ipv4Address = number;
export type MacAddress = Uint8Array;

export const IPV4_BROADCAST: Ipv4Address = 0xffffffff;
export const IPV4_UNSPECIFIED: Ipv4Address = 0;
export const MAC_BROADCAST: MacAddress = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
export const MAC_ZERO: MacAddress = new Uint8Array(6);

export function parseIpv4(text: string): Ipv4Address | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value >>> 0;
}

export function formatIpv4(address: Ipv4Address): string {
  return `${address >>> 24}.${(address >>> 16) & 0xff}.${(address >>> 8) & 0xff}.${address & 0xff}`;
}

/** `198.18.0.2/24` → address and prefix length. */
export function parseCidr(text: string): { address: Ipv4Address; prefixLength: number } | undefined {
  const match = /^([0-9.]+)\/([0-9]{1,2})$/.exec(text);
  if (!match) return undefined;
  const address = parseIpv4(match[1] ?? '');
  const prefixLength = Number(match[2]);
  if (address === undefined || prefixLength > 32) return undefined;
  return { address, prefixLength };
}

export function prefixMask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

export function sameSubnet(a: Ipv4Address, b: Ipv4Address, prefixLength: number): boolean {
  const mask = prefixMask(prefixLength);
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}

/**
 * Whether a host may have this address, on the wire or in its configuration: not
 * 0.0.0.0/8 "this network" (RFC 1122 §3.2.1.3 (a)(b)), not 224.0.0.0/4 multicast
 * (RFC 1112 §4, RFC 5771), not 240.0.0.0/4 reserved (which holds the limited broadcast
 * 255.255.255.255), and not 127.0.0.0/8 loopback.
 *
 * 127/8 is refused deliberately: RFC 1122 §3.2.1.3 (g) says loopback addresses "MUST NOT
 * appear outside a host", and this stack has no loopback interface, so a 127/8 source on
 * the wire is a martian (Linux drops it too unless `route_localnet` is set) and a 127/8
 * device address or gateway could never be reached. One answer everywhere: the
 * interface's source check, the configuration's address checks and TCP's source check.
 * A subnet's own broadcast address depends on the prefix: `classifyAddress` (route.ts)
 * tells it apart.
 */
export function isUnicastHostAddress(address: Ipv4Address): boolean {
  const firstOctet = address >>> 24;
  return firstOctet !== 0 && firstOctet !== 127 && firstOctet < 224;
}

export function parseMac(text: string): MacAddress | undefined {
  const match = /^([0-9a-fA-F]{2})([:-][0-9a-fA-F]{2}){5}$/.exec(text);
  if (!match) return undefined;
  return Uint8Array.from(text.split(/[:-]/), (octet) => parseInt(octet, 16));
}

export function formatMac(mac: MacAddress): string {
  return Array.from(mac.subarray(0, 6), (octet) => octet.toString(16).padStart(2, '0')).join(':');
}

export function macEquals(a: MacAddress, b: MacAddress): boolean {
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3] && a[4] === b[4] && a[5] === b[5];
}

export function isBroadcastMac(mac: MacAddress): boolean {
  return macEquals(mac, MAC_BROADCAST);
}

/** Group (multicast or broadcast) addresses have the low bit of the first octet set. */
export function isMulticastMac(mac: MacAddress): boolean {
  return ((mac[0] ?? 0) & 1) === 1;
}
