/**
 * ICMP echo (RFC 792) through the interface: replies byte for byte with checksums
 * checked by an independent implementation, broadcast pings ignored, our own pings
 * and their replies.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  arpFrame,
  BROADCAST_MAC,
  createHarness,
  ethernetDestination,
  etherTypeOf,
  icmpMessage,
  ip,
  ipv4Frame,
  OUR_IP,
  OUR_MAC,
  PEER_IP,
  PEER_MAC,
  readUint16,
  readUint32,
  referenceChecksum,
  toHex,
} from './harness.ts';
import type { Harness } from './harness.ts';

const ICMP = 1;
const ECHO_REPLY = 0;
const ECHO_REQUEST = 8;

function resolvedHarness(): Harness {
  const harness = createHarness();
  harness.iface.receiveFrame(arpFrame({ operation: 1, senderMac: PEER_MAC, senderIp: PEER_IP, targetIp: OUR_IP }));
  harness.device.take();
  return harness;
}

function echoRequestFrame(identifier: number, sequence: number, data: Uint8Array, destination = OUR_IP, to = OUR_MAC): Uint8Array {
  return ipv4Frame(
    { source: PEER_IP, destination, protocol: ICMP, payload: icmpMessage(ECHO_REQUEST, 0, identifier, sequence, data) },
    { to },
  );
}

describe('echo requests to us', () => {
  for (const data of [new TextEncoder().encode('abcdefgh'), new TextEncoder().encode('odd-length')]) {
    it(`are answered with the same identifier, sequence and ${data.length}-byte data, checksum right`, () => {
      const harness = resolvedHarness();
      harness.iface.receiveFrame(echoRequestFrame(0x1234, 7, data));
      const [reply, ...rest] = harness.device.take();
      assert.equal(rest.length, 0);
      assert.ok(reply);
      assert.deepEqual(ethernetDestination(reply), PEER_MAC);
      assert.equal(etherTypeOf(reply), 0x0800);
      const packet = reply.subarray(14);
      assert.equal(readUint16(packet, 2), 20 + 8 + data.length, 'IPv4 total length');
      assert.equal(packet[9], ICMP);
      assert.equal(readUint32(packet, 12), OUR_IP);
      assert.equal(readUint32(packet, 16), PEER_IP);
      assert.equal(referenceChecksum(packet.subarray(0, 20)), 0, 'IPv4 header checksum');

      const message = packet.subarray(20);
      assert.equal(referenceChecksum(message), 0, 'ICMP checksum over the whole message');
      const withoutChecksum = Uint8Array.from(message);
      withoutChecksum[2] = 0;
      withoutChecksum[3] = 0;
      assert.equal(readUint16(message, 2), referenceChecksum(withoutChecksum));
      // The whole message, byte for byte, as an independent builder makes it.
      assert.equal(toHex(message), toHex(icmpMessage(ECHO_REPLY, 0, 0x1234, 7, data)));

      assert.equal(harness.counters.get('icmp.rx.echo-request'), 1);
      assert.equal(harness.counters.get('icmp.tx.echo-reply'), 1);
    });
  }

  it('whose sender is not resolved yet get their reply queued behind an ARP request', () => {
    const harness = createHarness();
    harness.iface.receiveFrame(echoRequestFrame(1, 1, Uint8Array.of(5)));
    const [request] = harness.device.take();
    assert.ok(request);
    assert.equal(etherTypeOf(request), 0x0806);
    harness.iface.receiveFrame(
      arpFrame({ operation: 2, senderMac: PEER_MAC, senderIp: PEER_IP, targetMac: OUR_MAC, targetIp: OUR_IP }, OUR_MAC),
    );
    const [reply] = harness.device.take();
    assert.ok(reply);
    assert.equal(reply[34], ECHO_REPLY);
    assert.equal(reply[42], 5, 'the data survived the wait (copied out of the request frame)');
  });

  it('sent to a broadcast address are not answered (icmp_echo_ignore_broadcasts)', () => {
    const harness = resolvedHarness();
    harness.iface.receiveFrame(echoRequestFrame(1, 1, Uint8Array.of(1), ip('255.255.255.255'), BROADCAST_MAC));
    harness.iface.receiveFrame(echoRequestFrame(1, 2, Uint8Array.of(1), ip('198.18.0.255'), BROADCAST_MAC));
    assert.equal(harness.device.take().length, 0);
    assert.equal(harness.counters.get('icmp.drop.broadcast-echo'), 2);
    assert.equal(harness.counters.get('icmp.rx.echo-request'), 0);
  });
});

describe('ping', () => {
  it('sends an echo request and hands the matching reply to onEchoReply', () => {
    const harness = resolvedHarness();
    const replies: unknown[] = [];
    harness.iface.onEchoReply((source, identifier, sequence, payload, now) =>
      replies.push({ source, identifier, sequence, payload: [...payload], now }),
    );
    assert.equal(harness.iface.ping(PEER_IP, 0xbeef, 3, Uint8Array.of(1, 2, 3)), 'sent');
    const [request] = harness.device.take();
    assert.ok(request);
    assert.deepEqual(ethernetDestination(request), PEER_MAC);
    assert.equal(readUint32(request, 30), PEER_IP);
    assert.equal(toHex(request.subarray(34)), toHex(icmpMessage(ECHO_REQUEST, 0, 0xbeef, 3, Uint8Array.of(1, 2, 3))));
    assert.equal(harness.counters.get('icmp.tx.echo-request'), 1);

    harness.clock.set(42);
    harness.iface.receiveFrame(
      ipv4Frame({ source: PEER_IP, destination: OUR_IP, protocol: ICMP, payload: icmpMessage(ECHO_REPLY, 0, 0xbeef, 3, Uint8Array.of(1, 2, 3)) }),
    );
    assert.deepEqual(replies, [{ source: PEER_IP, identifier: 0xbeef, sequence: 3, payload: [1, 2, 3], now: 42 }]);
    assert.equal(harness.counters.get('icmp.rx.echo-reply'), 1);
    assert.equal(harness.device.take().length, 0, 'a reply is not answered');
  });

  it('reports no-route for an unreachable destination and rejects out-of-range fields', () => {
    const harness = createHarness();
    assert.equal(harness.iface.ping(ip('203.0.113.1'), 1, 1, new Uint8Array(0)), 'no-route');
    assert.equal(harness.counters.get('icmp.tx.echo-request'), 0);
    assert.throws(() => harness.iface.ping(PEER_IP, 0x10000, 1, new Uint8Array(0)), RangeError);
    assert.throws(() => harness.iface.ping(PEER_IP, 1, -1, new Uint8Array(0)), RangeError);
  });
});
