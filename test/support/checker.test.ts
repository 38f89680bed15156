/**
 * The segment checker DSL (test/support/checker.ts): each checker passes on a packet
 * that has what it names and fails, naming the field and the packet, on one that does
 * not; the layers nest; a damaged checksum fails before any field is compared.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as checker from './checker.ts';
import { parseIpv4 as parseAddress, parseMac } from '../../src/net/address.ts';
import { emitEthernetHeader, ETHERNET_HEADER_LENGTH, EtherType } from '../../src/wire/ethernet.ts';
import { emitIpv4Header, IPV4_HEADER_LENGTH, IpProtocol } from '../../src/wire/ipv4.ts';
import { emitTcp, tcpHeaderLength, TcpFlag, type TcpRepr } from '../../src/wire/tcp.ts';

const SOURCE = parseAddress('198.18.0.1')!;
const DESTINATION = parseAddress('198.18.0.2')!;
const { SYN, ACK, PSH, RST } = TcpFlag;

const SYN_ACK: TcpRepr = {
  sourcePort: 80,
  destinationPort: 49500,
  sequenceNumber: 0xfffffff0,
  acknowledgmentNumber: 50_001,
  flags: SYN | ACK,
  window: 16_384,
  urgentPointer: 0,
  options: { mss: 1460 },
  payload: new Uint8Array(0),
};

/** An Ethernet frame holding an IPv4 packet holding `repr`. */
function frameOf(repr: TcpRepr, header: { ttl?: number; dontFragment?: boolean } = {}): Uint8Array {
  const tcpLength = tcpHeaderLength(repr.options) + repr.payload.length;
  const frame = new Uint8Array(ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH + tcpLength);
  emitEthernetHeader(frame, parseMac('02:00:00:00:00:02')!, parseMac('02:00:00:00:00:01')!, EtherType.IPV4);
  const packet = frame.subarray(ETHERNET_HEADER_LENGTH);
  emitIpv4Header(
    packet,
    { source: SOURCE, destination: DESTINATION, protocol: IpProtocol.TCP, ttl: header.ttl ?? 64, identification: 7, dontFragment: header.dontFragment ?? true },
    tcpLength,
  );
  emitTcp(repr, packet.subarray(IPV4_HEADER_LENGTH), SOURCE, DESTINATION);
  return frame;
}

function packetOf(repr: TcpRepr): Uint8Array {
  return frameOf(repr).subarray(ETHERNET_HEADER_LENGTH);
}

describe('checker: passing checks', () => {
  it('nests Ethernet, IPv4 and TCP checks, gVisor style', () => {
    checker.ethernet(
      frameOf(SYN_ACK),
      checker.etherType(EtherType.IPV4),
      checker.ipv4Payload(
        checker.srcAddr('198.18.0.1'),
        checker.dstAddr(DESTINATION),
        checker.ttl(64),
        checker.dontFragment(),
        checker.ipPayloadLength(24),
        checker.tcp(
          checker.srcPort(80),
          checker.dstPort(49500),
          checker.seqNum(-16), // compared as unsigned 32-bit: 0xfffffff0
          checker.ackNum(50_001),
          checker.tcpFlags(SYN | ACK),
          checker.tcpFlagsMatch(SYN, SYN | RST),
          checker.window(16_384),
          checker.mss(1460),
          checker.tcpOptions({ mss: 1460 }),
          checker.payloadLength(0),
        ),
      ),
    );
  });

  it('returns the parsed packet, and checks payloads given as text or bytes', () => {
    const data = { ...SYN_ACK, flags: ACK | PSH, options: {}, payload: Buffer.from('hello') };
    const segment = checker.tcpSegment(packetOf(data).subarray(IPV4_HEADER_LENGTH), SOURCE, DESTINATION, checker.payload('hello'), checker.mss(undefined));
    assert.equal(segment.sourcePort, 80);
    assert.equal(segment.source, SOURCE);
    checker.ipv4(packetOf(data), checker.tcp(checker.payload(Uint8Array.from(Buffer.from('hello')))));
  });
});

describe('checker: failing checks name the field and the packet', () => {
  const cases: [string, checker.Checker<checker.TcpSegment>, RegExp][] = [
    ['source port', checker.srcPort(81), /source port/],
    ['destination port', checker.dstPort(1), /destination port/],
    ['sequence number', checker.seqNum(1), /sequence number/],
    ['acknowledgment number', checker.ackNum(1), /acknowledgment number/],
    ['exact flags', checker.tcpFlags(SYN), /flags[\s\S]*\[S\.\][\s\S]*\[S\]/],
    ['flags under a mask', checker.tcpFlagsMatch(RST, RST), /flags under mask \[R\]/],
    ['window', checker.window(1), /window/],
    ['payload', checker.payload('x'), /payload/],
    ['payload length', checker.payloadLength(1), /payload length/],
    ['MSS option', checker.mss(536), /MSS option/],
    ['options', checker.tcpOptions({}), /options/],
  ];
  for (const [name, check, message] of cases) {
    it(name, () => {
      assert.throws(() => checker.ipv4(packetOf(SYN_ACK), checker.tcp(check)), (error: Error) => {
        assert.match(error.message, message);
        // The failure shows the segment, tcpdump style, and the packet around it.
        assert.match(error.message, /in 198\.18\.0\.1\.80 > 198\.18\.0\.2\.49500: Flags \[S\.\], seq 4294967280, ack 50001/);
        assert.match(error.message, /in IP .*198\.18\.0\.1 > 198\.18\.0\.2/);
        return true;
      });
    });
  }

  it('IPv4 fields', () => {
    assert.throws(() => checker.ipv4(packetOf(SYN_ACK), checker.srcAddr('198.18.0.9')), /source address/);
    assert.throws(() => checker.ipv4(packetOf(SYN_ACK), checker.dstAddr('198.18.0.9')), /destination address/);
    assert.throws(() => checker.ipv4(packetOf(SYN_ACK), checker.ttl(63)), /TTL/);
    assert.throws(() => checker.ipv4(frameOf(SYN_ACK, { dontFragment: false }).subarray(ETHERNET_HEADER_LENGTH), checker.dontFragment()), /DF/);
    assert.throws(() => checker.ipv4(packetOf(SYN_ACK), checker.ipPayloadLength(20)), /IP payload length/);
    assert.throws(() => checker.ethernet(frameOf(SYN_ACK), checker.etherType(EtherType.ARP)), /EtherType/);
  });

  it('a damaged checksum fails before any field is compared', () => {
    const packet = packetOf(SYN_ACK);
    packet[IPV4_HEADER_LENGTH + 4] = (packet[IPV4_HEADER_LENGTH + 4] ?? 0) ^ 1; // one bit of the sequence number
    assert.throws(() => checker.ipv4(packet, checker.tcp(checker.srcPort(80))), /not a valid TCP segment \(bad-checksum\)/);
    const header = packetOf(SYN_ACK);
    header[8] = 1; // TTL, IPv4 header checksum now wrong
    assert.throws(() => checker.ipv4(header), /not a valid IPv4 packet \(bad-checksum\)/);
  });

  it('a packet that is not TCP fails the tcp() check', () => {
    const packet = packetOf(SYN_ACK);
    packet[9] = IpProtocol.UDP;
    // Repair the header checksum so that the protocol is what fails.
    emitIpv4Header(packet, { source: SOURCE, destination: DESTINATION, protocol: IpProtocol.UDP, ttl: 64, identification: 7, dontFragment: true }, packet.length - IPV4_HEADER_LENGTH);
    assert.throws(() => checker.ipv4(packet, checker.tcp()), /IP protocol/);
  });
});
