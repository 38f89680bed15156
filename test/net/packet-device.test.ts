/**
 * The interface over an IP-level device (`--link ip:IFNAME`): no Ethernet, no ARP;
 * IPv4 packets in through receivePacket, out through transmitPacket, every received
 * packet accounted for exactly once.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NetworkInterface, receiveAccounting } from '../../src/net/interface.ts';
import type { PacketDevice } from '../../src/net/device.ts';
import { Counters } from '../../src/stats.ts';
import { RecordingEventSink } from '../../src/events.ts';
import { ManualClock } from '../../src/time.ts';
import { ip, ipv4Packet, OUR_IP, PEER_IP, readUint32 } from './harness.ts';

const GATEWAY = ip('198.18.0.254');
const FAR = ip('198.19.5.5');

function setUp() {
  const sent: Uint8Array[] = [];
  const device: PacketDevice = { kind: 'ip', mtu: 1500, transmitPacket: (packet) => sent.push(packet) };
  const counters = new Counters();
  const events = new RecordingEventSink();
  const iface = new NetworkInterface(
    device,
    { mac: new Uint8Array(6), address: OUR_IP, prefixLength: 24, gateway: GATEWAY, mtu: 1500 },
    { clock: new ManualClock(0), counters, events },
  );
  const delivered: { source: number; payload: number[] }[] = [];
  iface.registerProtocol(6, { input: (source, _destination, payload) => delivered.push({ source, payload: Array.from(payload) }) });
  return { iface, sent, counters, delivered };
}

describe('interface over an IP-level device', () => {
  it('delivers a received IPv4 packet to its protocol and accounts for every packet once', () => {
    const { iface, counters, delivered } = setUp();
    iface.receivePacket(ipv4Packet({ source: PEER_IP, destination: OUR_IP, protocol: 6, payload: Uint8Array.of(1, 2, 3) }));
    iface.receivePacket(ipv4Packet({ source: PEER_IP, destination: ip('198.18.0.9'), protocol: 6, payload: Uint8Array.of(4) }));
    iface.receivePacket(ipv4Packet({ source: PEER_IP, destination: OUR_IP, protocol: 6, payload: Uint8Array.of(5), badChecksum: true }));
    iface.receivePacket(Uint8Array.of(0x45, 0));
    assert.deepEqual(delivered, [{ source: PEER_IP, payload: [1, 2, 3] }]);
    assert.equal(counters.get('ip.rx.packets'), 4);
    assert.equal(counters.get('ipv4.drop.not-for-us'), 1);
    assert.equal(counters.get('ipv4.drop.bad-checksum'), 1);
    const accounting = receiveAccounting(counters);
    assert.equal(accounting.frames, 4);
    assert.equal(accounting.delivered + accounting.dropped, 4);
  });

  it('sends IPv4 packets without an Ethernet header or ARP, on-link and via the gateway alike', () => {
    const { iface, sent } = setUp();
    assert.equal(iface.sendIpv4(PEER_IP, 6, 4, (frame, offset) => frame.set([9, 8, 7, 6], offset)), 'sent');
    assert.equal(iface.sendIpv4(FAR, 6, 2, (frame, offset) => frame.set([1, 1], offset)), 'sent');
    assert.equal(sent.length, 2, 'no ARP request went out first');
    const [first, second] = sent;
    assert.ok(first && second);
    assert.equal(first.length, 24);
    assert.equal(first[0], 0x45, 'starts with the IPv4 header');
    assert.equal(readUint32(first, 12), OUR_IP);
    assert.equal(readUint32(first, 16), PEER_IP);
    assert.deepEqual(Array.from(first.subarray(20)), [9, 8, 7, 6]);
    assert.equal(readUint32(second, 16), FAR, 'the destination, not the gateway: the kernel routes');
  });

  it('never sends ARP: announcements, carrier changes and probes are the kernel’s', () => {
    const { iface, sent } = setUp();
    iface.announce();
    iface.setCarrier(false);
    iface.setCarrier(true);
    iface.sendArpProbe(OUR_IP);
    assert.deepEqual(sent, []);
    assert.equal(iface.pollAt(), undefined);
  });
});
