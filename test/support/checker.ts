/**
 * Composable packet checkers in the style of gVisor netstack's `checker` package:
 *
 *   checker.ipv4(packet, checker.srcAddr(LOCAL), checker.tcp(checker.srcPort(80), checker.tcpFlags(SYN | ACK), checker.ackNum(iss + 1)));
 *   checker.ethernet(frame, checker.etherType(EtherType.IPV4), checker.ipv4Payload(checker.tcp(checker.dstPort(7))));
 *
 * A layer function parses its bytes with the stack's own parsers (checksums verified: a
 * packet with a bad checksum fails the check before any field is looked at) and runs
 * the checkers of that layer on the result; a nesting checker (`tcp`, `ipv4Payload`)
 * parses the payload and runs the next layer's checkers. Each checker states one
 * expectation and fails through node:assert; the failure names the packet it was
 * looking at, tcpdump style, so a test failure reads like a trace line.
 *
 * Only what a check names is checked: a test says what matters to it and nothing else.
 */
import assert, { AssertionError } from 'node:assert/strict';
import { formatIpv4 as formatAddress, parseIpv4 as parseAddress, type Ipv4Address } from '../../src/net/address.ts';
import { formatEthernet, parseEthernet, type EthernetRepr } from '../../src/wire/ethernet.ts';
import { formatIpv4, IpProtocol, parseIpv4, type Ipv4Repr } from '../../src/wire/ipv4.ts';
import { formatTcp, formatTcpEndpoints, formatTcpFlags, parseTcp, type TcpOptions, type TcpRepr } from '../../src/wire/tcp.ts';

/** One expectation about a parsed packet of some layer. */
export type Checker<Packet> = (packet: Packet) => void;

/** A TCP segment with the addresses it travelled between (the pseudo-header's). */
export interface TcpSegment extends TcpRepr {
  source: Ipv4Address;
  destination: Ipv4Address;
}

/** Runs `checkers` on `packet`; a failure is reported with `describe(packet)` appended. */
function run<Packet>(packet: Packet, checkers: readonly Checker<Packet>[], describe: (packet: Packet) => string): void {
  for (const check of checkers) {
    try {
      check(packet);
    } catch (error) {
      if (!(error instanceof AssertionError)) throw error;
      throw new AssertionError({
        message: `${error.message}\n    in ${describe(packet)}`,
        actual: error.actual,
        expected: error.expected,
        operator: error.operator,
      });
    }
  }
}

function address(value: Ipv4Address | string): Ipv4Address {
  if (typeof value === 'number') return value;
  const parsed = parseAddress(value);
  assert.ok(parsed !== undefined, `checker: ${value} is not an IPv4 address`);
  return parsed;
}

// ---- Ethernet ---------------------------------------------------------------------------------

/** Parses an Ethernet frame and runs the checkers on it; returns the parsed frame. */
export function ethernet(frame: Uint8Array, ...checkers: Checker<EthernetRepr>[]): EthernetRepr {
  const parsed = parseEthernet(frame);
  assert.ok(parsed.ok, `not an Ethernet frame (${parsed.ok ? '' : parsed.error})`);
  run(parsed.value, checkers, formatEthernet);
  return parsed.value;
}

export function etherType(expected: number): Checker<EthernetRepr> {
  return (frame) => assert.equal(frame.etherType, expected, 'EtherType');
}

/** The frame's payload as an IPv4 packet, checked by `checkers`. */
export function ipv4Payload(...checkers: Checker<Ipv4Repr>[]): Checker<EthernetRepr> {
  return (frame) => void ipv4(frame.payload, ...checkers);
}

// ---- IPv4 ---------------------------------------------------------------------------------------

/** Parses an IPv4 packet (header checksum verified) and runs the checkers on it; returns it. */
export function ipv4(packet: Uint8Array, ...checkers: Checker<Ipv4Repr>[]): Ipv4Repr {
  const parsed = parseIpv4(packet);
  assert.ok(parsed.ok, `not a valid IPv4 packet (${parsed.ok ? '' : parsed.error})`);
  run(parsed.value, checkers, formatIpv4);
  return parsed.value;
}

export function srcAddr(expected: Ipv4Address | string): Checker<Ipv4Repr> {
  return (packet) => assert.equal(formatAddress(packet.source), formatAddress(address(expected)), 'source address');
}

export function dstAddr(expected: Ipv4Address | string): Checker<Ipv4Repr> {
  return (packet) => assert.equal(formatAddress(packet.destination), formatAddress(address(expected)), 'destination address');
}

export function ttl(expected: number): Checker<Ipv4Repr> {
  return (packet) => assert.equal(packet.ttl, expected, 'TTL');
}

export function dontFragment(expected = true): Checker<Ipv4Repr> {
  return (packet) => assert.equal(packet.dontFragment, expected, 'DF');
}

/** Bytes after the IPv4 header. */
export function ipPayloadLength(expected: number): Checker<Ipv4Repr> {
  return (packet) => assert.equal(packet.payload.length, expected, 'IP payload length');
}

// ---- TCP ----------------------------------------------------------------------------------------

/** The packet carries TCP (checksum verified against its addresses), checked by `checkers`. */
export function tcp(...checkers: Checker<TcpSegment>[]): Checker<Ipv4Repr> {
  return (packet) => {
    assert.equal(packet.protocol, IpProtocol.TCP, 'IP protocol');
    void tcpSegment(packet.payload, packet.source, packet.destination, ...checkers);
  };
}

/** Parses TCP bytes sent from `source` to `destination` (checksum verified) and runs the checkers. */
export function tcpSegment(bytes: Uint8Array, source: Ipv4Address, destination: Ipv4Address, ...checkers: Checker<TcpSegment>[]): TcpSegment {
  const parsed = parseTcp(bytes, source, destination, { verifyChecksum: true });
  assert.ok(parsed.ok, `not a valid TCP segment (${parsed.ok ? '' : parsed.error})`);
  const segment: TcpSegment = { ...parsed.value, source, destination };
  run(segment, checkers, (repr) => `${formatTcpEndpoints(source, destination, repr)}: ${formatTcp(repr)}`);
  return segment;
}

export function srcPort(expected: number): Checker<TcpSegment> {
  return (segment) => assert.equal(segment.sourcePort, expected, 'source port');
}

export function dstPort(expected: number): Checker<TcpSegment> {
  return (segment) => assert.equal(segment.destinationPort, expected, 'destination port');
}

/** The sequence number, compared as an unsigned 32-bit value. */
export function seqNum(expected: number): Checker<TcpSegment> {
  return (segment) => assert.equal(segment.sequenceNumber, expected >>> 0, 'sequence number');
}

export function ackNum(expected: number): Checker<TcpSegment> {
  return (segment) => assert.equal(segment.acknowledgmentNumber, expected >>> 0, 'acknowledgment number');
}

/** Exactly these flags, no others (`formatTcpFlags` style in the message: `[S.]`). */
export function tcpFlags(expected: number): Checker<TcpSegment> {
  return (segment) => assert.equal(`[${formatTcpFlags(segment.flags)}]`, `[${formatTcpFlags(expected)}]`, 'flags');
}

/** The flags under `mask` are `expected` (gVisor's TCPFlagsMatch): the others may be anything. */
export function tcpFlagsMatch(expected: number, mask: number): Checker<TcpSegment> {
  return (segment) => assert.equal(`[${formatTcpFlags(segment.flags & mask)}]`, `[${formatTcpFlags(expected & mask)}]`, `flags under mask [${formatTcpFlags(mask)}]`);
}

/** The raw 16-bit window field. */
export function window(expected: number): Checker<TcpSegment> {
  return (segment) => assert.equal(segment.window, expected, 'window');
}

export function payload(expected: Uint8Array | string): Checker<TcpSegment> {
  const bytes = typeof expected === 'string' ? Buffer.from(expected) : Buffer.from(expected);
  return (segment) => assert.deepEqual(Buffer.from(segment.payload), bytes, 'payload');
}

export function payloadLength(expected: number): Checker<TcpSegment> {
  return (segment) => assert.equal(segment.payload.length, expected, 'payload length');
}

/** The MSS option carries `expected`; undefined means the segment has no MSS option. */
export function mss(expected: number | undefined): Checker<TcpSegment> {
  return (segment) => assert.equal(segment.options.mss, expected, 'MSS option');
}

/** Exactly these options (parsed form), nothing more. */
export function tcpOptions(expected: TcpOptions): Checker<TcpSegment> {
  return (segment) => assert.deepEqual(segment.options, expected, 'options');
}
