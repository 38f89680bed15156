/**
 * The UDP layer and the interface's unconfigured mode (the DHCP client's ground):
 * before it has an address the interface takes only limited broadcasts, answers no ARP,
 * sends only to 255.255.255.255 from 0.0.0.0; setAddress() makes it a normal host.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UdpLayer } from '../../src/net/udp.ts';
import type { UdpDatagram } from '../../src/net/udp.ts';
import { IpProtocol } from '../../src/wire/ipv4.ts';
import { ArpOperation } from '../../src/wire/arp.ts';
import {
  arpFrame,
  BROADCAST_MAC,
  createHarness,
  etherTypeOf,
  ethernetDestination,
  ip,
  ipv4Frame,
  OUR_IP,
  PEER_IP,
  PEER_MAC,
  readUint16,
  readUint32,
  referenceChecksum,
} from './harness.ts';

const LIMITED_BROADCAST = ip('255.255.255.255');

/** A UDP datagram built by hand, checksum over the RFC 768 pseudo header. */
function udpDatagram(source: number, destination: number, sourcePort: number, destinationPort: number, data: Uint8Array, checksum = true): Uint8Array {
  const datagram = new Uint8Array(8 + data.length);
  const view = new DataView(datagram.buffer);
  view.setUint16(0, sourcePort);
  view.setUint16(2, destinationPort);
  view.setUint16(4, datagram.length);
  datagram.set(data, 8);
  if (checksum) {
    const pseudo = new Uint8Array(12 + datagram.length + (datagram.length % 2));
    const p = new DataView(pseudo.buffer);
    p.setUint32(0, source);
    p.setUint32(4, destination);
    p.setUint16(8, 17);
    p.setUint16(10, datagram.length);
    pseudo.set(datagram, 12);
    view.setUint16(6, referenceChecksum(pseudo) || 0xffff);
  }
  return datagram;
}

function setUp(address = 0) {
  const harness = createHarness({ address, prefixLength: address === 0 ? 0 : 24 });
  const udp = new UdpLayer(harness.iface, harness.counters);
  harness.iface.registerProtocol(IpProtocol.UDP, udp);
  const received: UdpDatagram[] = [];
  udp.bind(68, (datagram) => received.push({ ...datagram, payload: Uint8Array.from(datagram.payload) }));
  return { ...harness, udp, received };
}

const DATA = Uint8Array.of(1, 2, 3, 4, 5);

describe('UDP layer (RFC 768) on an unconfigured interface', () => {
  it('delivers a limited broadcast to the bound port', () => {
    const { iface, received, counters } = setUp();
    iface.receiveFrame(
      ipv4Frame(
        { source: PEER_IP, destination: LIMITED_BROADCAST, protocol: 17, payload: udpDatagram(PEER_IP, LIMITED_BROADCAST, 67, 68, DATA) },
        { to: BROADCAST_MAC },
      ),
    );
    assert.deepEqual(received, [{ source: PEER_IP, sourcePort: 67, destination: LIMITED_BROADCAST, payload: DATA }]);
    assert.equal(counters.get('udp.rx.delivered'), 1);
  });

  it('drops unicast (even to 0.0.0.0) and answers no ARP while unconfigured', () => {
    const { iface, received, counters, device } = setUp();
    iface.receiveFrame(ipv4Frame({ source: PEER_IP, destination: OUR_IP, protocol: 17, payload: udpDatagram(PEER_IP, OUR_IP, 67, 68, DATA) }));
    iface.receiveFrame(ipv4Frame({ source: PEER_IP, destination: 0, protocol: 17, payload: udpDatagram(PEER_IP, 0, 67, 68, DATA) }));
    assert.equal(counters.get('ipv4.drop.unconfigured'), 2);
    iface.receiveFrame(arpFrame({ operation: ArpOperation.REQUEST, senderMac: PEER_MAC, senderIp: PEER_IP, targetIp: 0 }));
    assert.equal(counters.get('arp.drop.unconfigured'), 1);
    assert.deepEqual(device.take(), []);
    assert.deepEqual(received, []);
  });

  it('sends only limited broadcasts, from 0.0.0.0, with a correct checksum', () => {
    const { udp, device, counters } = setUp();
    assert.equal(udp.send(68, PEER_IP, 67, DATA), 'no-route');
    assert.equal(counters.get('ipv4.drop.no-address'), 1);
    assert.equal(udp.send(68, LIMITED_BROADCAST, 67, DATA), 'sent');
    const [frame] = device.take();
    assert.ok(frame);
    assert.deepEqual(ethernetDestination(frame), BROADCAST_MAC);
    assert.equal(etherTypeOf(frame), 0x0800);
    assert.equal(readUint32(frame, 14 + 12), 0, 'source 0.0.0.0');
    assert.equal(readUint32(frame, 14 + 16), LIMITED_BROADCAST);
    const datagram = frame.subarray(34);
    assert.equal(readUint16(datagram, 0), 68);
    assert.equal(readUint16(datagram, 2), 67);
    assert.deepEqual(datagram, udpDatagram(0, LIMITED_BROADCAST, 68, 67, DATA));
  });

  it('counts bad checksums, bad lengths and unbound ports', () => {
    const { iface, counters, received } = setUp();
    const corrupt = udpDatagram(PEER_IP, LIMITED_BROADCAST, 67, 68, DATA);
    corrupt[8] = 0xff;
    const unbound = udpDatagram(PEER_IP, LIMITED_BROADCAST, 67, 69, DATA);
    const short = udpDatagram(PEER_IP, LIMITED_BROADCAST, 67, 68, DATA, false);
    short[5] = 4;
    for (const payload of [corrupt, unbound, short]) {
      iface.receiveFrame(ipv4Frame({ source: PEER_IP, destination: LIMITED_BROADCAST, protocol: 17, payload }, { to: BROADCAST_MAC }));
    }
    assert.equal(counters.get('udp.drop.bad-checksum'), 1);
    assert.equal(counters.get('udp.drop.no-port'), 1);
    assert.equal(counters.get('udp.drop.bad-length'), 1);
    assert.deepEqual(received, []);
  });

  it('setAddress makes it a host: unicast accepted, ARP answered, source is the new address', () => {
    const { iface, udp, received, device } = setUp();
    iface.setAddress({ address: OUR_IP, prefixLength: 24, gateway: undefined });
    assert.equal(iface.configured, true);
    iface.receiveFrame(ipv4Frame({ source: PEER_IP, destination: OUR_IP, protocol: 17, payload: udpDatagram(PEER_IP, OUR_IP, 67, 68, DATA) }));
    assert.equal(received.length, 1);
    iface.receiveFrame(arpFrame({ operation: ArpOperation.REQUEST, senderMac: PEER_MAC, senderIp: PEER_IP, targetIp: OUR_IP }));
    const [reply] = device.take();
    assert.ok(reply);
    assert.equal(etherTypeOf(reply), 0x0806);
    assert.equal(udp.send(68, PEER_IP, 67, DATA), 'sent', 'the neighbor was learned from its request');
    const [frame] = device.take();
    assert.ok(frame);
    assert.equal(readUint32(frame, 14 + 12), OUR_IP);
  });

  it('sends RFC 5227 probes from 0.0.0.0 and shows every ARP packet to the observer', () => {
    const { iface, device } = setUp();
    const seen: number[] = [];
    iface.onArp((packet) => seen.push(packet.senderProtocolAddr));
    iface.sendArpProbe(OUR_IP);
    const [probe] = device.take();
    assert.ok(probe);
    assert.deepEqual(ethernetDestination(probe), BROADCAST_MAC);
    assert.equal(readUint16(probe, 14 + 6), ArpOperation.REQUEST);
    assert.equal(readUint32(probe, 14 + 14), 0, 'sender IP 0.0.0.0');
    assert.equal(readUint32(probe, 14 + 24), OUR_IP, 'target IP');
    iface.receiveFrame(arpFrame({ operation: ArpOperation.REPLY, senderMac: PEER_MAC, senderIp: OUR_IP, targetIp: 0 }));
    assert.deepEqual(seen, [OUR_IP]);
  });
});
