import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  emitEthernetHeader,
  ETHERNET_HEADER_LENGTH,
  EthernetFrame,
  EtherType,
  EthernetField,
  formatEthernet,
  macAt,
  parseEthernet,
} from '../../src/wire/ethernet.ts';
import { ARP_REQUEST_FRAME, fromHex, HOST_A_MAC, HOST_B_MAC, TCP_SYN_FRAME } from '../fixtures/frames.ts';

const BROADCAST = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

describe('Ethernet II', () => {
  it('deconstructs a captured frame through the view', () => {
    const view = new EthernetFrame(TCP_SYN_FRAME);
    assert.equal(view.check(), undefined);
    assert.deepEqual(view.destination, HOST_B_MAC);
    assert.deepEqual(view.source, HOST_A_MAC);
    assert.equal(view.etherType, EtherType.IPV4);
    assert.equal(view.payload.length, 60);
    assert.equal(view.payload[0], 0x45);
  });

  it('constructs the captured frame through the view setters', () => {
    const bytes = new Uint8Array(ARP_REQUEST_FRAME.length);
    const view = new EthernetFrame(bytes);
    view.destination = BROADCAST;
    view.source = HOST_A_MAC;
    view.etherType = EtherType.ARP;
    view.payload.set(ARP_REQUEST_FRAME.subarray(ETHERNET_HEADER_LENGTH));
    assert.deepEqual(bytes, ARP_REQUEST_FRAME);
  });

  it('parses into a repr whose fields are views into the frame', () => {
    const parsed = parseEthernet(ARP_REQUEST_FRAME);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.value.destination, BROADCAST);
    assert.deepEqual(parsed.value.source, HOST_A_MAC);
    assert.equal(parsed.value.etherType, EtherType.ARP);
    assert.equal(parsed.value.payload.length, 28);
    assert.equal(parsed.value.payload.buffer, ARP_REQUEST_FRAME.buffer, 'zero-copy');
    assert.equal(parsed.value.payload.byteOffset, ARP_REQUEST_FRAME.byteOffset + 14);
  });

  it('emits the header bytes of the captured frame', () => {
    const bytes = new Uint8Array(TCP_SYN_FRAME.length);
    bytes.set(TCP_SYN_FRAME.subarray(14), 14);
    emitEthernetHeader(bytes, HOST_B_MAC, HOST_A_MAC, EtherType.IPV4);
    assert.deepEqual(bytes, TCP_SYN_FRAME);
  });

  it('round-trips parse → emit', () => {
    const parsed = parseEthernet(TCP_SYN_FRAME);
    assert.ok(parsed.ok);
    const bytes = new Uint8Array(ETHERNET_HEADER_LENGTH + parsed.value.payload.length);
    emitEthernetHeader(bytes, parsed.value.destination, parsed.value.source, parsed.value.etherType);
    bytes.set(parsed.value.payload, ETHERNET_HEADER_LENGTH);
    assert.deepEqual(bytes, TCP_SYN_FRAME);
  });

  it('reports every frame shorter than 14 bytes as truncated, and accepts an empty payload', () => {
    for (let length = 0; length < ETHERNET_HEADER_LENGTH; length++) {
      assert.deepEqual(parseEthernet(TCP_SYN_FRAME.subarray(0, length)), { ok: false, error: 'truncated' }, `length ${length}`);
    }
    const bare = parseEthernet(TCP_SYN_FRAME.subarray(0, ETHERNET_HEADER_LENGTH));
    assert.ok(bare.ok);
    assert.equal(bare.value.payload.length, 0);
  });

  it('returns VLAN-tagged and unknown EtherTypes as they are (the interface counts them)', () => {
    const tagged = fromHex(`
      ff ff ff ff ff ff  02 00 00 00 00 01   // broadcast from A
      81 00              // EtherType 802.1Q
      00 05 08 00        // TCI: VLAN 5; inner EtherType IPv4
    `);
    const parsed = parseEthernet(tagged);
    assert.ok(parsed.ok);
    assert.equal(parsed.value.etherType, 0x8100);
    assert.deepEqual(parsed.value.payload, Uint8Array.of(0x00, 0x05, 0x08, 0x00));
  });

  it('formats like tcpdump -e', () => {
    const parsed = parseEthernet(TCP_SYN_FRAME);
    assert.ok(parsed.ok);
    assert.equal(formatEthernet(parsed.value), '02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 74');
    const arp = parseEthernet(ARP_REQUEST_FRAME);
    assert.ok(arp.ok);
    assert.equal(formatEthernet(arp.value), '02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42');
    assert.match(formatEthernet({ ...arp.value, etherType: 0x1234 }), /ethertype Unknown \(0x1234\)/);
    assert.match(formatEthernet({ ...arp.value, etherType: 0x002e }), /802\.3 length \(0x002e\)/);
  });

  it('throws on programmer errors when emitting', () => {
    assert.throws(() => emitEthernetHeader(new Uint8Array(13), HOST_A_MAC, HOST_B_MAC, EtherType.IPV4), RangeError);
    assert.throws(() => emitEthernetHeader(new Uint8Array(14), HOST_A_MAC.subarray(0, 5), HOST_B_MAC, EtherType.IPV4), RangeError);
    assert.throws(() => emitEthernetHeader(new Uint8Array(14), HOST_A_MAC, HOST_B_MAC, 0x10000), RangeError);
  });
});

describe('Ethernet addresses read in place (the receive path)', () => {
  it('macAt compares the addresses parseEthernet would return', () => {
    const parsed = parseEthernet(TCP_SYN_FRAME);
    assert.ok(parsed.ok);
    assert.equal(macAt(TCP_SYN_FRAME, EthernetField.DESTINATION, parsed.value.destination), true);
    assert.equal(macAt(TCP_SYN_FRAME, EthernetField.SOURCE, parsed.value.source), true);
    assert.equal(macAt(TCP_SYN_FRAME, EthernetField.DESTINATION, parsed.value.source), false);
    for (let index = 0; index < 6; index++) {
      const other: Uint8Array = Uint8Array.from(parsed.value.source);
      other[index]! ^= 0x80;
      assert.equal(macAt(TCP_SYN_FRAME, EthernetField.SOURCE, other), false, `byte ${index} differs`);
    }
  });
});
