/**
 * Address classification and next-hop choice for one interface with one address,
 * one on-link prefix and an optional default gateway: the whole routing table of a
 * host on a single LAN (RFC 1122 §3.3.1).
 *
 * Both directions use the same classifier: the receive path accepts what is `local`
 * or a broadcast and checks that sources are plain `unicast`; the send path maps a
 * destination to a link-layer target. Results are string literals, so the hot path
 * allocates nothing.
 */
import { IPV4_BROADCAST, isUnicastHostAddress, prefixMask, sameSubnet } from './address.ts';
import type { Ipv4Address, MacAddress } from './address.ts';

export interface RouteConfig {
  address: Ipv4Address;
  prefixLength: number;
  gateway?: Ipv4Address | undefined;
}

/**
 * - `local`: our own address.
 * - `limited-broadcast`: 255.255.255.255 (RFC 919, RFC 1122 §3.2.1.3 (c)).
 * - `subnet-broadcast`: all host bits set on our prefix (RFC 922, RFC 1122 §3.2.1.3 (d)); a /31
 *   (RFC 3021) and a /32 have none.
 * - `multicast`: 224.0.0.0/4 (RFC 1112 §4).
 * - `invalid`: never a real host (`isUnicastHostAddress`): 0.0.0.0/8 "this network"
 *   (RFC 1122 §3.2.1.3 (a)(b)), 127.0.0.0/8 loopback (§3.2.1.3 (g)), 240.0.0.0/4 reserved (RFC 1112 §4).
 * - `unicast`: any other host, on-link or beyond the gateway.
 */
export type AddressKind = 'local' | 'limited-broadcast' | 'subnet-broadcast' | 'multicast' | 'invalid' | 'unicast';

export function classifyAddress(address: Ipv4Address, route: RouteConfig): AddressKind {
  if (address === route.address) return 'local';
  if (address === IPV4_BROADCAST) return 'limited-broadcast';
  if (isSubnetBroadcast(address, route)) return 'subnet-broadcast';
  if (address >>> 28 === 0xe) return 'multicast';
  return isUnicastHostAddress(address) ? 'unicast' : 'invalid';
}

export function isBroadcastKind(kind: AddressKind): boolean {
  return kind === 'limited-broadcast' || kind === 'subnet-broadcast';
}

/** The directed broadcast of our prefix; prefixes /31 and /32 have no broadcast address (RFC 3021 §2.1). */
export function isSubnetBroadcast(address: Ipv4Address, route: RouteConfig): boolean {
  if (route.prefixLength > 30) return false;
  const mask = prefixMask(route.prefixLength);
  return sameSubnet(address, route.address, route.prefixLength) && ((address & ~mask) >>> 0) === (~mask >>> 0);
}

/**
 * The neighbor a unicast packet for `destination` goes to: the destination itself when
 * it is on our prefix, else the default gateway (RFC 1122 §3.3.1.1), else undefined
 * (no route). The gateway is used even when it is not on our prefix, like Linux's
 * `onlink` routes: configuration validates it, and ARP finds out whether it answers.
 */
export function nextHopAddress(destination: Ipv4Address, route: RouteConfig): Ipv4Address | undefined {
  if (sameSubnet(destination, route.address, route.prefixLength)) return destination;
  return route.gateway;
}

/** RFC 1112 §6.4: 01:00:5e followed by the low 23 bits of the group address. */
export function multicastMac(group: Ipv4Address): MacAddress {
  return Uint8Array.of(0x01, 0x00, 0x5e, (group >>> 16) & 0x7f, (group >>> 8) & 0xff, group & 0xff);
}
