/**
 * Fuzz target: the wire parsers (src/wire) on untrusted bytes. The input is an Ethernet
 * frame; each layer's parser also gets the raw input directly. Checksums are not
 * verified on the way down, so the fuzzer reaches the inner layers (the checksum paths
 * are covered by the interface target, which fixes them up).
 *
 * Invariants: no parser throws; a parsed representation formats (tcpdump style) without
 * throwing; an ARP packet that parses re-emits to the same representation.
 */
import { emitArp, formatArp, parseArp, ARP_PACKET_LENGTH } from '../../../src/wire/arp.ts';
import { EtherType, formatEthernet, parseEthernet } from '../../../src/wire/ethernet.ts';
import { formatIcmp, parseIcmp } from '../../../src/wire/icmp.ts';
import { formatIpv4, parseIpv4 } from '../../../src/wire/ipv4.ts';
import { formatTcp, parseTcp, parseTcpOptions } from '../../../src/wire/tcp.ts';
import { invariant } from './invariant.ts';

const NO_CHECKSUM = { verifyChecksum: false } as const;

function arp(bytes: Uint8Array): void {
  const parsed = parseArp(bytes);
  if (!parsed.ok) return;
  formatArp(parsed.value);
  const emitted = new Uint8Array(ARP_PACKET_LENGTH);
  emitArp(parsed.value, emitted);
  const again = parseArp(emitted);
  invariant(again.ok, `re-emitted ARP does not parse: ${again.ok ? '' : again.error}`);
  invariant(formatArp(again.value) === formatArp(parsed.value), 'ARP round trip changed the packet');
}

function ipv4(bytes: Uint8Array): void {
  const parsed = parseIpv4(bytes, NO_CHECKSUM);
  if (!parsed.ok) return;
  formatIpv4(parsed.value);
  const { payload, source, destination } = parsed.value;
  invariant(payload.length <= bytes.length, 'IPv4 payload longer than the packet');
  const icmp = parseIcmp(payload, NO_CHECKSUM);
  if (icmp.ok) formatIcmp(icmp.value);
  const tcp = parseTcp(payload, source, destination, NO_CHECKSUM);
  if (tcp.ok) {
    formatTcp(tcp.value);
    invariant(tcp.value.payload.length <= payload.length, 'TCP payload longer than the segment');
  }
}

export function fuzz(data: Buffer): void {
  const frame = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const ethernet = parseEthernet(frame);
  if (ethernet.ok) {
    formatEthernet(ethernet.value);
    if (ethernet.value.etherType === EtherType.ARP) arp(ethernet.value.payload);
    if (ethernet.value.etherType === EtherType.IPV4) ipv4(ethernet.value.payload);
  }
  // Every parser on the raw bytes as well.
  arp(frame);
  ipv4(frame);
  parseIcmp(frame, NO_CHECKSUM);
  parseIcmp(frame);
  parseTcp(frame, 0xc6120001, 0xc6120002);
  parseTcpOptions(frame);
}
