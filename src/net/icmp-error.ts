/**
 * ICMP error messages (RFC 792; RFC 1122 §3.2.2): Destination Unreachable, Time
 * Exceeded and Parameter Problem, each quoting the IPv4 header and at least the first
 * 8 bytes of the datagram that caused it. `parseIcmpError` turns such a message into
 * an `IcmpErrorReport` for the transport that sent the quoted datagram; the
 * interface checks that the quote names us as its source and hands the report to that
 * protocol's `icmpError` (TCP: src/tcp/icmp-error.ts).
 *
 * Untrusted input: nothing here throws; a malformed quote is a `WireError`, which the
 * interface counts as `icmp.drop.error-<reason>`. The quoted header's checksum is not
 * verified (routers may have rewritten TTL and checksum of what they quote is not
 * required to be valid; Linux does not check it either); the transport's own checks
 * (the 4-tuple and sequence number, RFC 5927) are what keep forged reports out.
 */
import type { Ipv4Address } from './address.ts';
import { Ipv4Packet, IPV4_HEADER_LENGTH } from '../wire/ipv4.ts';
import { IcmpType, IcmpUnreachableCode, type IcmpRepr } from '../wire/icmp.ts';
import { fail, ok, type Parsed } from '../wire/result.ts';

/** RFC 792: the quote holds the internet header plus 64 bits of the original data. */
export const QUOTED_TRANSPORT_MINIMUM = 8;

export interface IcmpErrorReport {
  /** Who sent the ICMP message: a router on the path, or the destination itself. */
  reporter: Ipv4Address;
  type: number;
  code: number;
  /**
   * RFC 1191 §4: the next-hop MTU of a "fragmentation needed" message (bytes 6..7);
   * 0 when the router predates RFC 1191 (or for any other message).
   */
  nextHopMtu: number;
  /** The quoted datagram's source (ours, if it is really our packet), destination, length and protocol. */
  quotedSource: Ipv4Address;
  quotedDestination: Ipv4Address;
  quotedTotalLength: number;
  quotedProtocol: number;
  /** The quoted transport header: at least QUOTED_TRANSPORT_MINIMUM bytes, a view into the frame. */
  quotedTransport: Uint8Array;
}

/** Whether `type` is one of the error messages that quote a datagram and are reported to transports. */
export function isReportedIcmpError(type: number): boolean {
  return type === IcmpType.DESTINATION_UNREACHABLE || type === IcmpType.TIME_EXCEEDED || type === IcmpType.PARAMETER_PROBLEM;
}

/** Parses the quote of an ICMP error message received from `reporter`. */
export function parseIcmpError(reporter: Ipv4Address, message: IcmpRepr): Parsed<IcmpErrorReport> {
  const quote = message.payload;
  if (quote.length < IPV4_HEADER_LENGTH) return fail('truncated');
  const header = new Ipv4Packet(quote);
  if (header.version !== 4) return fail('bad-version');
  const headerLength = header.headerLength;
  if (headerLength < IPV4_HEADER_LENGTH) return fail('bad-header-length');
  if (quote.length < headerLength + QUOTED_TRANSPORT_MINIMUM) return fail('truncated');
  if (header.totalLength < headerLength + QUOTED_TRANSPORT_MINIMUM) return fail('bad-length');
  // A later fragment quotes no transport header (we send none: DF is always set).
  if (header.fragmentOffset !== 0) return fail('unsupported');
  const fragmentationNeeded =
    message.type === IcmpType.DESTINATION_UNREACHABLE && message.code === IcmpUnreachableCode.FRAGMENTATION_NEEDED;
  return ok({
    reporter,
    type: message.type,
    code: message.code,
    nextHopMtu: fragmentationNeeded ? message.sequence : 0,
    quotedSource: header.source,
    quotedDestination: header.destination,
    quotedTotalLength: header.totalLength,
    quotedProtocol: header.protocol,
    quotedTransport: quote.subarray(headerLength),
  });
}
