/**
 * ARP through the interface (RFC 826, RFC 5227): replies, learning and the merge rule,
 * announcements, conflict detection and defence, resolution with queued packets,
 * retries at exact instants, expiry and re-validation.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { raisedFault } from '../support/faults.ts';
import {
  arpFrame,
  arpPacket,
  BROADCAST_MAC,
  createHarness,
  ethernetDestination,
  etherTypeOf,
  ethernetFrame,
  GATEWAY_IP,
  hex,
  ip,
  OTHER_IP,
  OTHER_MAC,
  OUR_IP,
  OUR_MAC,
  PEER_IP,
  PEER_MAC,
  readUint16,
  readUint32,
  toHex,
  ZERO_MAC,
} from './harness.ts';
import type { Harness } from './harness.ts';

const REQUEST = 1;
const REPLY = 2;

/** The broadcast request the interface sends to resolve 198.18.0.1. */
const REQUEST_FOR_PEER = hex(`
  ff ff ff ff ff ff   # Ethernet destination: broadcast
  02 00 00 00 00 02   # Ethernet source: us
  08 06               # EtherType ARP
  00 01 08 00 06 04   # Ethernet / IPv4, lengths 6 and 4
  00 01               # operation: request
  02 00 00 00 00 02   # sender MAC: us
  c6 12 00 02         # sender IP: 198.18.0.2
  00 00 00 00 00 00   # target MAC: unknown
  c6 12 00 01         # target IP: 198.18.0.1
`);

function requestFromPeer(target = OUR_IP): Uint8Array {
  return arpFrame({ operation: REQUEST, senderMac: PEER_MAC, senderIp: PEER_IP, targetIp: target });
}

function replyFromPeer(): Uint8Array {
  return arpFrame(
    { operation: REPLY, senderMac: PEER_MAC, senderIp: PEER_IP, targetMac: OUR_MAC, targetIp: OUR_IP },
    OUR_MAC,
  );
}

/** Sends `count` one-byte IPv4 payloads (value = index) to `destination`. */
function sendPackets(harness: Harness, destination: number, count: number, first = 0): string[] {
  const results: string[] = [];
  for (let i = 0; i < count; i++) {
    results.push(harness.iface.sendIpv4(destination, 17, 1, (frame, offset) => (frame[offset] = first + i)));
  }
  return results;
}

describe('ARP replies and learning (RFC 826)', () => {
  it('answers a request for our address with the exact reply and learns the asker', () => {
    const harness = createHarness();
    harness.iface.receiveFrame(requestFromPeer());

    const [reply, ...rest] = harness.device.take();
    assert.equal(rest.length, 0);
    assert.equal(
      toHex(reply!),
      toHex(
        hex(`
          02 00 00 00 00 01   # Ethernet destination: the asker
          02 00 00 00 00 02   # Ethernet source: us
          08 06               # EtherType ARP
          00 01 08 00 06 04   # Ethernet / IPv4, lengths 6 and 4
          00 02               # operation: reply
          02 00 00 00 00 02   # sender MAC: us
          c6 12 00 02         # sender IP: 198.18.0.2
          02 00 00 00 00 01   # target MAC: the asker
          c6 12 00 01         # target IP: the asker
        `),
      ),
    );
    assert.equal(harness.counters.get('ethernet.rx.delivered.arp'), 1);
    assert.equal(harness.counters.get('arp.tx.reply'), 1);
    const [entry] = harness.iface.neighbors();
    assert.equal(entry?.address, PEER_IP);
    assert.deepEqual(entry?.mac, PEER_MAC);
    assert.equal(entry?.state, 'reachable');
    assert.equal(entry?.expiresAt, 60_000);
  });

  it('ignores a request for another address: no reply, nothing learned, counted not-for-us', () => {
    const harness = createHarness();
    harness.iface.receiveFrame(requestFromPeer(OTHER_IP));
    assert.equal(harness.device.take().length, 0);
    assert.deepEqual(harness.iface.neighbors(), []);
    assert.equal(harness.counters.get('arp.drop.not-for-us'), 1);
  });

  it('merge rule: a packet not for us still updates an existing entry (new MAC)', () => {
    const harness = createHarness();
    harness.iface.receiveFrame(requestFromPeer());
    harness.device.take();
    harness.clock.set(5000);
    // The peer changed its NIC and announces itself (gratuitous ARP: target = itself).
    const newMac = Uint8Array.of(2, 0, 0, 0, 0, 0x11);
    harness.iface.receiveFrame(arpFrame({ operation: REQUEST, senderMac: newMac, senderIp: PEER_IP, targetIp: PEER_IP }));
    assert.equal(harness.device.take().length, 0, 'a gratuitous ARP is not answered');
    const [entry] = harness.iface.neighbors();
    assert.deepEqual(entry?.mac, newMac);
    assert.equal(entry?.expiresAt, 65_000);
    assert.equal(harness.counters.get('ethernet.rx.delivered.arp'), 2);
    assert.equal(harness.counters.get('arp.drop.not-for-us'), 0);
  });

  it('learns from an unsolicited reply addressed to us, but not from one that is not', () => {
    const harness = createHarness();
    harness.iface.receiveFrame(
      arpFrame({ operation: REPLY, senderMac: OTHER_MAC, senderIp: OTHER_IP, targetMac: PEER_MAC, targetIp: PEER_IP }),
    );
    assert.deepEqual(harness.iface.neighbors(), []);
    harness.iface.receiveFrame(replyFromPeer());
    assert.deepEqual(
      harness.iface.neighbors().map((entry) => entry.address),
      [PEER_IP],
    );
    assert.equal(harness.device.take().length, 0, 'replies are not answered');
  });

  it('answers an RFC 5227 probe (sender 0.0.0.0) without learning it or calling it a conflict', () => {
    const harness = createHarness();
    harness.iface.receiveFrame(arpFrame({ operation: REQUEST, senderMac: OTHER_MAC, senderIp: 0, targetIp: OUR_IP }));
    const [reply] = harness.device.take();
    assert.ok(reply);
    assert.deepEqual(ethernetDestination(reply), OTHER_MAC);
    assert.equal(readUint16(reply, 20), REPLY);
    assert.equal(readUint32(reply, 38), 0, 'target IP is the probe sender 0.0.0.0');
    assert.deepEqual(harness.iface.neighbors(), []);
    assert.equal(harness.counters.get('arp.conflict'), 0);
    assert.equal(harness.events.events.length, 0);
  });

  it('does not learn off-link senders, but still answers them', () => {
    const harness = createHarness();
    harness.iface.receiveFrame(arpFrame({ operation: REQUEST, senderMac: OTHER_MAC, senderIp: ip('10.0.0.1'), targetIp: OUR_IP }));
    assert.equal(harness.device.take().length, 1);
    assert.deepEqual(harness.iface.neighbors(), []);
  });

  it('drops malformed and hostile ARP with one reason each', () => {
    const harness = createHarness();
    const valid = requestFromPeer();
    harness.iface.receiveFrame(valid.subarray(0, 14 + 20)); // truncated
    const unsupported = Uint8Array.from(valid);
    unsupported[15] = 6; // hardware type 6 (IEEE 802)
    harness.iface.receiveFrame(unsupported);
    const badOperation = Uint8Array.from(valid);
    badOperation[21] = 3; // RARP request
    harness.iface.receiveFrame(badOperation);
    // A broadcast sender MAC would make us send unicast traffic to everyone.
    const broadcastSender = arpPacket({
      operation: REQUEST,
      senderMac: BROADCAST_MAC,
      senderIp: PEER_IP,
      targetMac: ZERO_MAC,
      targetIp: OUR_IP,
    });
    harness.iface.receiveFrame(ethernetFrame(BROADCAST_MAC, PEER_MAC, 0x0806, broadcastSender));
    assert.equal(harness.counters.get('arp.drop.truncated'), 1);
    assert.equal(harness.counters.get('arp.drop.unsupported'), 1);
    assert.equal(harness.counters.get('arp.drop.bad-operation'), 1);
    assert.equal(harness.counters.get('arp.drop.bad-sender'), 1);
    assert.equal(harness.device.take().length, 0);
    assert.deepEqual(harness.iface.neighbors(), []);
  });

  it('accepts ARP with Ethernet padding to 60 bytes', () => {
    const harness = createHarness();
    const padded = new Uint8Array(60);
    padded.set(requestFromPeer());
    harness.iface.receiveFrame(padded);
    assert.equal(harness.device.take().length, 1);
  });
});

describe('announcements (RFC 5227 §2.3)', () => {
  const ANNOUNCEMENT = hex(`
    ff ff ff ff ff ff   # Ethernet destination: broadcast
    02 00 00 00 00 02   # Ethernet source: us
    08 06               # EtherType ARP
    00 01 08 00 06 04   # Ethernet / IPv4, lengths 6 and 4
    00 01               # operation: request
    02 00 00 00 00 02   # sender MAC: us
    c6 12 00 02         # sender IP: ours
    00 00 00 00 00 00   # target MAC: zero
    c6 12 00 02         # target IP: ours again (gratuitous)
  `);

  it('announce() sends a gratuitous ARP now and once more 2 s later, then nothing', () => {
    const harness = createHarness();
    harness.clock.set(100);
    harness.iface.announce();
    assert.deepEqual(harness.device.take().map(toHex), [toHex(ANNOUNCEMENT)]);
    assert.equal(harness.iface.pollAt(), 2100);
    harness.runUntil(2099);
    assert.equal(harness.device.take().length, 0);
    harness.runUntil(2100);
    assert.deepEqual(harness.device.take().map(toHex), [toHex(ANNOUNCEMENT)]);
    assert.equal(harness.iface.pollAt(), undefined);
    harness.runUntil(60_000);
    assert.equal(harness.device.take().length, 0);
  });

  it('carrier up announces again; carrier down forgets neighbors and drops waiting packets', () => {
    const harness = createHarness();
    harness.iface.receiveFrame(requestFromPeer());
    sendPackets(harness, OTHER_IP, 2); // waits on ARP for .3
    harness.device.take();
    harness.iface.setCarrier(false);
    assert.deepEqual(harness.iface.neighbors(), []);
    assert.equal(harness.counters.get('arp.drop.carrier-down'), 2);
    assert.equal(harness.iface.pollAt(), undefined, 'no retries for forgotten neighbors');
    harness.iface.setCarrier(true);
    const [announcement] = harness.device.take();
    assert.ok(announcement);
    assert.equal(readUint32(announcement, 28), OUR_IP);
    assert.equal(readUint32(announcement, 38), OUR_IP);
  });
});

describe('address conflicts (RFC 5227 §2.4)', () => {
  it('reports, counts and defends at most once per 10 s, and keeps the address', () => {
    const harness = createHarness();
    const intruder = Uint8Array.of(2, 0, 0, 0, 0, 0x66);
    const conflicting = arpFrame({ operation: REQUEST, senderMac: intruder, senderIp: OUR_IP, targetIp: OUR_IP });

    harness.clock.set(1000);
    harness.iface.receiveFrame(conflicting);
    assert.deepEqual(harness.events.named('arp_conflict'), [{ address: '198.18.0.2', mac: '02:00:00:00:00:66' }]);
    assert.deepEqual(harness.events.named('fault'), [], 'the cause only: the diagnostics layer raises the fault');
    assert.equal(raisedFault('arp_conflict', harness.events.named('arp_conflict')[0]), 2);
    assert.equal(harness.counters.get('arp.conflict'), 1);
    const [defence] = harness.device.take();
    assert.ok(defence, 'one defensive announcement');
    assert.deepEqual(ethernetDestination(defence), BROADCAST_MAC);
    assert.equal(readUint32(defence, 28), OUR_IP);
    assert.equal(readUint32(defence, 38), OUR_IP);
    assert.deepEqual(harness.iface.neighbors(), [], 'no cache entry for our own address');

    // Within DEFEND_INTERVAL: counted, but neither defended nor reported again.
    harness.clock.set(10_999);
    harness.iface.receiveFrame(conflicting);
    assert.equal(harness.counters.get('arp.conflict'), 2);
    assert.equal(harness.device.take().length, 0);
    assert.equal(harness.events.named('arp_conflict').length, 1);

    // A reply claiming our address is a conflict too; a full interval later we defend again.
    harness.clock.set(11_000);
    harness.iface.receiveFrame(
      arpFrame({ operation: REPLY, senderMac: intruder, senderIp: OUR_IP, targetMac: PEER_MAC, targetIp: PEER_IP }),
    );
    assert.equal(harness.counters.get('arp.conflict'), 3);
    assert.equal(harness.device.take().length, 1);
    assert.equal(harness.events.named('arp_conflict').length, 2);
    assert.equal(harness.counters.get('ethernet.rx.delivered.arp'), 3);

    // Still answering for the address.
    harness.iface.receiveFrame(requestFromPeer());
    assert.equal(harness.device.take().length, 1);
  });
});

describe('resolution (RFC 826, RFC 1122 §2.3.2)', () => {
  it('queues packets for an unresolved neighbor, asks once, and flushes them in order on the reply', () => {
    const harness = createHarness();
    assert.deepEqual(sendPackets(harness, PEER_IP, 3), ['queued', 'queued', 'queued']);
    assert.deepEqual(harness.device.take().map(toHex), [toHex(REQUEST_FOR_PEER)], 'one request, no packets yet');
    assert.equal(harness.iface.neighbors()[0]?.state, 'incomplete');

    harness.clock.set(300);
    harness.iface.receiveFrame(replyFromPeer());
    const flushed = harness.device.take();
    assert.equal(flushed.length, 3);
    flushed.forEach((frame, index) => {
      assert.deepEqual(ethernetDestination(frame), PEER_MAC);
      assert.deepEqual(frame.subarray(6, 12), OUR_MAC);
      assert.equal(etherTypeOf(frame), 0x0800);
      assert.equal(frame[34], index, 'sent in the order they were queued');
    });
    assert.equal(harness.iface.neighbors()[0]?.state, 'reachable');
    assert.deepEqual(sendPackets(harness, PEER_IP, 1), ['sent']);
    assert.equal(harness.device.take().length, 1);
    // pollAt() is a lower bound: the old retry deadline costs one poll that finds nothing.
    harness.runUntil(1000);
    assert.equal(harness.device.take().length, 0, 'no retry for a resolved neighbor');
    assert.equal(harness.iface.pollAt(), 60_300, 'only the entry lifetime is left');
  });

  it('retries every requestIntervalMs, requestRetries times, then drops the queue at the exact instants', () => {
    const harness = createHarness();
    harness.clock.set(50);
    sendPackets(harness, PEER_IP, 2);
    const requestTimes: number[] = [];
    const record = (): void => {
      for (const frame of harness.device.take()) {
        assert.deepEqual(toHex(frame), toHex(REQUEST_FOR_PEER));
        requestTimes.push(harness.clock.now());
      }
    };
    record();
    assert.equal(harness.iface.neighbors()[0]?.expiresAt, 4050, 'given up after 1 + 3 intervals');
    for (const instant of [1049, 1050, 2049, 2050, 3049, 3050, 4049]) {
      harness.runUntil(instant);
      record();
    }
    assert.deepEqual(requestTimes, [50, 1050, 2050, 3050]);
    assert.equal(harness.counters.get('arp.drop.unresolved'), 0);
    assert.equal(harness.iface.pollAt(), 4050);
    harness.runUntil(4050);
    assert.equal(harness.counters.get('arp.drop.unresolved'), 2);
    assert.deepEqual(harness.iface.neighbors(), []);
    assert.equal(harness.iface.pollAt(), undefined);
    assert.equal(harness.device.take().length, 0);

    // A later packet starts a fresh resolution.
    harness.clock.set(5000);
    assert.deepEqual(sendPackets(harness, PEER_IP, 1), ['queued']);
    assert.equal(harness.device.take().length, 1);
  });

  it('drops the oldest waiting packet when a neighbor queue is full', () => {
    const harness = createHarness({ arp: { pendingPerNeighbor: 2 } });
    assert.deepEqual(sendPackets(harness, PEER_IP, 3), ['queued', 'queued', 'queued']);
    assert.equal(harness.counters.get('arp.drop.queue-full'), 1);
    harness.device.take();
    harness.iface.receiveFrame(replyFromPeer());
    assert.deepEqual(
      harness.device.take().map((frame) => frame[34]),
      [1, 2],
    );
  });

  it('sends off-link packets to the gateway MAC, resolving the gateway', () => {
    const harness = createHarness({ gateway: GATEWAY_IP });
    const remote = ip('203.0.113.9');
    assert.equal(harness.iface.sendIpv4(remote, 17, 1, (frame, offset) => (frame[offset] = 7)), 'queued');
    const [request] = harness.device.take();
    assert.ok(request);
    assert.equal(readUint32(request, 38), GATEWAY_IP, 'ARP asks for the gateway, not the destination');
    const gatewayMac = Uint8Array.of(2, 0, 0, 0, 0, 0xfe);
    harness.iface.receiveFrame(
      arpFrame({ operation: REPLY, senderMac: gatewayMac, senderIp: GATEWAY_IP, targetMac: OUR_MAC, targetIp: OUR_IP }, OUR_MAC),
    );
    const [packet] = harness.device.take();
    assert.ok(packet);
    assert.deepEqual(ethernetDestination(packet), gatewayMac);
    assert.equal(readUint32(packet, 30), remote, 'the IP destination is still the remote host');
    assert.equal(harness.iface.sendIpv4(remote, 17, 1, () => undefined), 'sent');
  });
});

describe('expiry and re-validation', () => {
  it('an entry lapses exactly reachableMs after its last confirmation', () => {
    const harness = createHarness({ arp: { reachableMs: 10_000 } });
    harness.clock.set(1000);
    harness.iface.receiveFrame(requestFromPeer());
    harness.device.take();
    assert.equal(harness.iface.pollAt(), 11_000);
    harness.runUntil(10_999);
    assert.equal(harness.iface.neighbors().length, 1);
    harness.runUntil(11_000);
    assert.deepEqual(harness.iface.neighbors(), []);
    assert.equal(harness.iface.pollAt(), undefined);
    // Without the mapping, the next packet waits on a fresh broadcast request.
    assert.deepEqual(sendPackets(harness, PEER_IP, 1), ['queued']);
    assert.deepEqual(harness.device.take().map(toHex), [toHex(REQUEST_FOR_PEER)]);
  });

  it('a used entry near the end of its life is polled by unicast and refreshed by the answer', () => {
    // Lifetime 60 s; the stale window is one full resolution: 4 × 1 s.
    const harness = createHarness();
    harness.iface.receiveFrame(requestFromPeer());
    harness.device.take();
    harness.clock.set(55_999);
    assert.equal(harness.iface.neighbors()[0]?.state, 'reachable');
    assert.deepEqual(sendPackets(harness, PEER_IP, 1), ['sent']);
    assert.equal(harness.device.take().length, 1, 'no poll while reachable');

    harness.clock.set(56_000);
    assert.equal(harness.iface.neighbors()[0]?.state, 'stale');
    assert.deepEqual(sendPackets(harness, PEER_IP, 2), ['sent', 'sent'], 'stale entries are still used');
    const [poll, ...packets] = harness.device.take();
    assert.equal(packets.length, 2);
    assert.ok(poll);
    assert.equal(etherTypeOf(poll), 0x0806);
    assert.deepEqual(ethernetDestination(poll), PEER_MAC, 'RFC 1122 unicast poll');
    assert.deepEqual(poll.subarray(32, 38), PEER_MAC);
    assert.equal(readUint32(poll, 38), PEER_IP);

    harness.clock.set(56_500);
    sendPackets(harness, PEER_IP, 1);
    assert.equal(harness.device.take().length, 1, 'at most one poll per request interval');
    harness.clock.set(57_000);
    sendPackets(harness, PEER_IP, 1);
    assert.equal(harness.device.take().length, 2, 'a second poll a full interval later');

    harness.iface.receiveFrame(replyFromPeer());
    const [entry] = harness.iface.neighbors();
    assert.equal(entry?.state, 'reachable');
    assert.equal(entry?.expiresAt, 117_000);
  });
});
