/**
 * The interface's Ethernet and IPv4 paths: what is sent (header bytes, next hop, MTU,
 * routes), what is delivered to protocol handlers, every receive drop reason, the
 * receive accounting identity, and the guarantee that nothing escapes receiveFrame.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../../src/random.ts';
import { receiveAccounting, TRANSMIT_DROP_COUNTERS } from '../../src/net/interface.ts';
import type { Counters } from '../../src/stats.ts';
import {
  arpFrame,
  BROADCAST_MAC,
  createHarness,
  ethernetDestination,
  ethernetFrame,
  etherTypeOf,
  icmpMessage,
  ip,
  ipv4Frame,
  OTHER_IP,
  OTHER_MAC,
  OUR_IP,
  OUR_MAC,
  PEER_IP,
  PEER_MAC,
  readUint16,
  readUint32,
  referenceChecksum,
  SlotDevice,
} from './harness.ts';
import type { Harness, Ipv4Fields } from './harness.ts';

const TCP = 6;
const UDP = 17;
const BROADCAST_IP = ip('255.255.255.255');

interface Delivery {
  source: number;
  destination: number;
  payload: number[];
  now: number;
}

function recordingHandler(): { deliveries: Delivery[]; input: (s: number, d: number, p: Uint8Array, now: number) => void } {
  const deliveries: Delivery[] = [];
  return {
    deliveries,
    input: (source, destination, payload, now) => deliveries.push({ source, destination, payload: [...payload], now }),
  };
}

/** A harness that already knows the peer's MAC (it asked for ours). */
function resolvedHarness(...args: Parameters<typeof createHarness>): Harness {
  const harness = createHarness(...args);
  harness.iface.receiveFrame(arpFrame({ operation: 1, senderMac: PEER_MAC, senderIp: PEER_IP, targetIp: OUR_IP }));
  harness.device.take();
  return harness;
}

function tcpTo(destination: number, extra: Partial<Ipv4Fields> = {}): Ipv4Fields {
  return { source: PEER_IP, destination, protocol: TCP, payload: Uint8Array.of(1, 2, 3, 4), ...extra };
}

describe('sendIpv4', () => {
  it('builds one frame: Ethernet header for the next hop, IPv4 header with DF and TTL, payload written in place', () => {
    const harness = resolvedHarness();
    let filled: Uint8Array | undefined;
    const result = harness.iface.sendIpv4(PEER_IP, UDP, 5, (frame, offset) => {
      const payload = frame.subarray(offset);
      filled = payload;
      payload.set([10, 20, 30, 40, 50]);
    });
    assert.equal(result, 'sent');
    const [frame, ...rest] = harness.device.take();
    assert.equal(rest.length, 0);
    assert.ok(frame && filled);
    assert.equal(frame.length, 14 + 20 + 5);
    assert.equal(filled.length, 5);
    assert.equal(filled.buffer, frame.buffer, 'fill writes into the frame that is sent, no copy');
    assert.deepEqual(ethernetDestination(frame), PEER_MAC);
    assert.deepEqual(frame.subarray(6, 12), OUR_MAC);
    assert.equal(etherTypeOf(frame), 0x0800);
    const header = frame.subarray(14, 34);
    assert.equal(header[0], 0x45, 'version 4, 20-byte header');
    assert.equal(readUint16(header, 2), 25, 'total length');
    assert.equal(readUint16(header, 6), 0x4000, 'DF, no fragment offset');
    assert.equal(header[8], 64, 'default TTL');
    assert.equal(header[9], UDP);
    assert.equal(readUint32(header, 12), OUR_IP);
    assert.equal(readUint32(header, 16), PEER_IP);
    assert.equal(referenceChecksum(header), 0, 'header checksum verifies independently');
    assert.deepEqual([...frame.subarray(34)], [10, 20, 30, 40, 50]);
  });

  it('with a device that lends transmit slots: a frame to a resolved next hop is built in the slot, byte for byte the frame of fresh memory', () => {
    const fill = (frame: Uint8Array, offset: number): void => {
      frame[offset] = 7;
      frame[offset + 2] = 9; // bytes 1 and 3 left alone: zero, as in fresh memory
    };
    const plain = resolvedHarness();
    const device = new SlotDevice();
    const slotted = createHarness({}, 1500, device);
    slotted.iface.receiveFrame(arpFrame({ operation: 1, senderMac: PEER_MAC, senderIp: PEER_IP, targetIp: OUR_IP }));
    const arpReply = slotted.device.take();
    assert.equal(arpReply.length, 1, 'the ARP reply, not through a slot');
    assert.equal(device.slotted, 0);
    for (const length of [4, 60, 1480]) {
      assert.equal(plain.iface.sendIpv4(PEER_IP, UDP, length, fill), 'sent');
      assert.equal(slotted.iface.sendIpv4(PEER_IP, UDP, length, fill), 'sent');
    }
    assert.equal(device.slotted, 3);
    assert.deepEqual(slotted.device.take().map((frame) => [...frame]), plain.device.take().map((frame) => [...frame]));
    assert.equal(slotted.counters.get('ethernet.tx.frames'), 1 + 3);
    assert.equal(slotted.counters.get('ipv4.tx.packets'), 3);
  });

  it('with a device that lends transmit slots: a frame that must wait for ARP, or that gets no slot, takes fresh memory', () => {
    const device = new SlotDevice();
    const harness = createHarness({}, 1500, device);
    assert.equal(harness.iface.sendIpv4(PEER_IP, UDP, 3, (frame, offset) => frame.set([1, 2, 3], offset)), 'queued');
    const [request] = harness.device.take();
    assert.equal(request && etherTypeOf(request), 0x0806, 'an ARP request goes out, the packet waits');
    assert.equal(device.slotted, 0, 'the waiting frame is not in the slot the next frame will take');
    harness.iface.receiveFrame(arpFrame({ operation: 2, senderMac: PEER_MAC, senderIp: PEER_IP, targetIp: OUR_IP, targetMac: OUR_MAC }));
    const [waited] = harness.device.take();
    assert.deepEqual(waited && [...waited.subarray(34)], [1, 2, 3]);
    device.lend = false;
    assert.equal(harness.iface.sendIpv4(PEER_IP, UDP, 3, (frame, offset) => frame.set([4, 5, 6], offset)), 'sent');
    const [fresh] = harness.device.take();
    assert.deepEqual(fresh && [...fresh.subarray(34)], [4, 5, 6]);
    assert.equal(device.slotted, 0);
  });

  it('uses a new identification for each packet, and the configured TTL', () => {
    const harness = resolvedHarness({ ttl: 32 });
    harness.iface.sendIpv4(PEER_IP, UDP, 0, () => undefined);
    harness.iface.sendIpv4(PEER_IP, UDP, 0, () => undefined);
    const [first, second] = harness.device.take();
    assert.ok(first && second);
    assert.notEqual(readUint16(first, 18), readUint16(second, 18));
    assert.equal(first[22], 32);
  });

  it('refuses a packet larger than the MTU (the caller segments) without calling fill', () => {
    const harness = resolvedHarness({ mtu: 576 });
    let calls = 0;
    assert.equal(
      harness.iface.sendIpv4(PEER_IP, TCP, 557, () => calls++),
      'dropped',
    );
    assert.equal(harness.counters.get('ipv4.drop.too-big'), 1);
    assert.equal(calls, 0);
    assert.equal(
      harness.iface.sendIpv4(PEER_IP, TCP, 556, () => calls++),
      'sent',
    );
    assert.equal(harness.device.take()[0]?.length, 14 + 576);
  });

  it('never sends more than the device carries, whatever the configuration says', () => {
    const harness = createHarness({ mtu: 1500 }, 296);
    assert.equal(harness.iface.sendIpv4(BROADCAST_IP, UDP, 277, () => undefined), 'dropped');
    assert.equal(harness.iface.sendIpv4(BROADCAST_IP, UDP, 276, () => undefined), 'sent');
  });

  it('off-link without a gateway: no-route', () => {
    const harness = createHarness();
    assert.equal(harness.iface.sendIpv4(ip('203.0.113.9'), TCP, 0, () => undefined), 'no-route');
    assert.equal(harness.counters.get('ipv4.drop.no-route'), 1);
    assert.equal(harness.device.take().length, 0);
  });

  it('addresses no host has are no-route; our own address is dropped (no loopback path)', () => {
    const harness = createHarness({ gateway: ip('198.18.0.254') });
    for (const address of ['0.0.0.0', '127.0.0.1', '240.0.0.1']) {
      assert.equal(harness.iface.sendIpv4(ip(address), UDP, 0, () => undefined), 'no-route', address);
    }
    assert.equal(harness.iface.sendIpv4(OUR_IP, UDP, 0, () => undefined), 'dropped');
    assert.equal(harness.counters.get('ipv4.drop.loopback'), 1);
    assert.equal(harness.device.take().length, 0);
  });

  it('broadcasts go to the broadcast MAC at once, without ARP', () => {
    const harness = createHarness();
    assert.equal(harness.iface.sendIpv4(BROADCAST_IP, UDP, 0, () => undefined), 'sent');
    assert.equal(harness.iface.sendIpv4(ip('198.18.0.255'), UDP, 0, () => undefined), 'sent');
    const frames = harness.device.take();
    assert.equal(frames.length, 2);
    for (const frame of frames) {
      assert.deepEqual(ethernetDestination(frame), BROADCAST_MAC);
      assert.equal(etherTypeOf(frame), 0x0800);
    }
  });

  it('multicast goes to the RFC 1112 group MAC with TTL 1', () => {
    const harness = createHarness();
    harness.iface.sendIpv4(ip('224.129.2.3'), UDP, 0, () => undefined);
    const [frame] = harness.device.take();
    assert.ok(frame);
    assert.deepEqual(ethernetDestination(frame), Uint8Array.of(0x01, 0x00, 0x5e, 0x01, 0x02, 0x03));
    assert.equal(frame[22], 1);
  });

  it('a /31 has no subnet broadcast: the other address is a host (RFC 3021)', () => {
    const harness = createHarness({ address: ip('198.18.0.0'), prefixLength: 31 });
    assert.equal(harness.iface.sendIpv4(ip('198.18.0.1'), UDP, 0, () => undefined), 'queued');
    assert.equal(etherTypeOf(harness.device.take()[0]!), 0x0806);
  });
});

describe('receive: delivery to protocol handlers', () => {
  it('hands the payload (Ethernet padding trimmed), addresses and the time to the registered handler', () => {
    const harness = createHarness();
    const handler = recordingHandler();
    harness.iface.registerProtocol(TCP, handler);
    harness.clock.set(1234);
    const frame = ipv4Frame(tcpTo(OUR_IP));
    const padded = new Uint8Array(60);
    padded.set(frame);
    harness.iface.receiveFrame(padded);
    assert.deepEqual(handler.deliveries, [{ source: PEER_IP, destination: OUR_IP, payload: [1, 2, 3, 4], now: 1234 }]);
    assert.equal(harness.counters.get('ipv4.rx.delivered.tcp'), 1);
  });

  it('names other protocols by name or number', () => {
    const harness = createHarness();
    harness.iface.registerProtocol(UDP, recordingHandler());
    harness.iface.registerProtocol(132, recordingHandler());
    harness.iface.receiveFrame(ipv4Frame({ ...tcpTo(OUR_IP), protocol: UDP }));
    harness.iface.receiveFrame(ipv4Frame({ ...tcpTo(OUR_IP), protocol: 132 }));
    assert.equal(harness.counters.get('ipv4.rx.delivered.udp'), 1);
    assert.equal(harness.counters.get('ipv4.rx.delivered.132'), 1);
  });

  it('delivers broadcast to datagram protocols, never to TCP (RFC 1122 §4.2.3.10)', () => {
    const harness = createHarness();
    const tcp = recordingHandler();
    const udp = recordingHandler();
    harness.iface.registerProtocol(TCP, tcp);
    harness.iface.registerProtocol(UDP, udp);
    harness.iface.receiveFrame(ipv4Frame(tcpTo(BROADCAST_IP), { to: BROADCAST_MAC }));
    harness.iface.receiveFrame(ipv4Frame({ ...tcpTo(ip('198.18.0.255')), protocol: UDP }, { to: BROADCAST_MAC }));
    assert.equal(tcp.deliveries.length, 0);
    assert.equal(harness.counters.get('ipv4.drop.broadcast'), 1);
    assert.equal(udp.deliveries[0]?.destination, ip('198.18.0.255'));
  });

  it('refuses to register ICMP, a protocol twice, or a number that is not a protocol', () => {
    const harness = createHarness();
    assert.throws(() => harness.iface.registerProtocol(1, recordingHandler()), RangeError);
    harness.iface.registerProtocol(TCP, recordingHandler());
    assert.throws(() => harness.iface.registerProtocol(TCP, recordingHandler()), RangeError);
    assert.throws(() => harness.iface.registerProtocol(256, recordingHandler()), RangeError);
  });
});

describe('receive: every drop has its reason', () => {
  const cases: { name: string; counter: string; frame: () => Uint8Array }[] = [
    { name: 'a frame shorter than an Ethernet header', counter: 'ethernet.drop.truncated', frame: () => new Uint8Array(13) },
    {
      name: 'our own frame looped back by a packet socket',
      counter: 'ethernet.drop.own-frame',
      frame: () => ipv4Frame(tcpTo(OUR_IP), { from: OUR_MAC }),
    },
    {
      name: 'a group address as Ethernet source',
      counter: 'ethernet.drop.bad-source',
      frame: () => ipv4Frame(tcpTo(OUR_IP), { from: BROADCAST_MAC }),
    },
    {
      name: 'unicast to another MAC',
      counter: 'ethernet.drop.not-for-us',
      frame: () => ipv4Frame(tcpTo(OUR_IP), { to: OTHER_MAC }),
    },
    {
      name: 'IPv6',
      counter: 'ethernet.drop.ipv6',
      frame: () => ethernetFrame(Uint8Array.of(0x33, 0x33, 0, 0, 0, 1), PEER_MAC, 0x86dd, new Uint8Array(40)),
    },
    {
      name: 'a VLAN tag',
      counter: 'ethernet.drop.unknown-type',
      frame: () => ethernetFrame(OUR_MAC, PEER_MAC, 0x8100, new Uint8Array(46)),
    },
    {
      name: 'an IPv4 header with a bad checksum',
      counter: 'ipv4.drop.bad-checksum',
      frame: () => ipv4Frame(tcpTo(OUR_IP, { badChecksum: true })),
    },
    {
      name: 'an IPv4 packet cut short',
      counter: 'ipv4.drop.truncated',
      frame: () => ipv4Frame(tcpTo(OUR_IP)).subarray(0, 14 + 22),
    },
    {
      name: 'IP version 6 in an IPv4 frame',
      counter: 'ipv4.drop.bad-version',
      frame: () => {
        const frame = ipv4Frame(tcpTo(OUR_IP));
        frame[14] = 0x65;
        return frame;
      },
    },
    {
      name: "another host's IP address",
      counter: 'ipv4.drop.not-for-us',
      frame: () => ipv4Frame(tcpTo(OTHER_IP)),
    },
    {
      name: 'a multicast group we did not join',
      counter: 'ipv4.drop.not-for-us',
      frame: () => ipv4Frame(tcpTo(ip('224.0.0.251')), { to: Uint8Array.of(1, 0, 0x5e, 0, 0, 0xfb) }),
    },
    {
      name: 'our unicast address in a link-layer broadcast (RFC 1122 §3.3.6)',
      counter: 'ipv4.drop.link-broadcast',
      frame: () => ipv4Frame(tcpTo(OUR_IP), { to: BROADCAST_MAC }),
    },
    {
      name: 'a broadcast source address',
      counter: 'ipv4.drop.bad-source',
      frame: () => ipv4Frame(tcpTo(OUR_IP, { source: BROADCAST_IP })),
    },
    {
      name: 'our own address as source',
      counter: 'ipv4.drop.bad-source',
      frame: () => ipv4Frame(tcpTo(OUR_IP, { source: OUR_IP })),
    },
    {
      name: 'a loopback source',
      counter: 'ipv4.drop.bad-source',
      frame: () => ipv4Frame(tcpTo(OUR_IP, { source: ip('127.0.0.1') })),
    },
    {
      name: 'a first fragment (MF set)',
      counter: 'ipv4.drop.fragment',
      frame: () => ipv4Frame(tcpTo(OUR_IP, { flagsAndOffset: 0x2000 })),
    },
    {
      name: 'a last fragment (offset set)',
      counter: 'ipv4.drop.fragment',
      frame: () => ipv4Frame(tcpTo(OUR_IP, { flagsAndOffset: 0x0010 })),
    },
    {
      name: 'a protocol nobody registered',
      counter: 'ipv4.drop.unknown-protocol',
      frame: () => ipv4Frame({ ...tcpTo(OUR_IP), protocol: 47 }),
    },
    {
      name: 'an ICMP message with a bad checksum',
      counter: 'icmp.drop.bad-checksum',
      frame: () => {
        const message = icmpMessage(8, 0, 1, 1, Uint8Array.of(1, 2, 3));
        message[9] = (message[9] ?? 0) ^ 0xff;
        return ipv4Frame({ source: PEER_IP, destination: OUR_IP, protocol: 1, payload: message });
      },
    },
    {
      name: 'an ICMP type we do not handle',
      counter: 'icmp.drop.unhandled-type',
      frame: () =>
        ipv4Frame({ source: PEER_IP, destination: OUR_IP, protocol: 1, payload: icmpMessage(13, 0, 0, 0, new Uint8Array(12)) }),
    },
  ];

  for (const { name, counter, frame } of cases) {
    it(`${name} → ${counter}, and nothing else`, () => {
      const harness = createHarness();
      const tcp = recordingHandler();
      harness.iface.registerProtocol(TCP, tcp);
      harness.iface.receiveFrame(frame());
      assert.equal(tcp.deliveries.length, 0);
      assert.equal(harness.device.take().length, 0, 'nothing is sent in answer');
      assert.deepEqual(outcomeCounters(harness.counters), { 'ethernet.rx.frames': 1, [counter]: 1 });
    });

    it(`${name}, read in place from a larger receive memory (receiveFrameAt) → the same ${counter}`, () => {
      const harness = createHarness();
      const tcp = recordingHandler();
      harness.iface.registerProtocol(TCP, tcp);
      harness.iface.receiveFrameAt(...inMemory(frame()), 0);
      assert.equal(tcp.deliveries.length, 0);
      assert.equal(harness.device.take().length, 0, 'nothing is sent in answer');
      assert.deepEqual(outcomeCounters(harness.counters), { 'ethernet.rx.frames': 1, [counter]: 1 });
    });
  }
});

/** The frame at an odd offset of a memory with other bytes (0x45, an IPv4 version byte) on both sides, as a ring holds it. */
function inMemory(frame: Uint8Array): [Uint8Array, number, number] {
  const memory = new Uint8Array(frame.length + 300).fill(0x45);
  memory.set(frame, 101);
  return [memory, 101, 101 + frame.length];
}

describe('receive in place (receiveFrameAt): the frame is bytes[start, end) and nothing around it', () => {
  it('delivers what receiveFrame delivers, padding trimmed, at the given instant', () => {
    const harness = createHarness();
    const handler = recordingHandler();
    harness.iface.registerProtocol(TCP, handler);
    harness.clock.set(99);
    const padded = new Uint8Array(60);
    padded.set(ipv4Frame(tcpTo(OUR_IP)));
    harness.iface.receiveFrameAt(...inMemory(padded), 1234);
    assert.deepEqual(handler.deliveries, [{ source: PEER_IP, destination: OUR_IP, payload: [1, 2, 3, 4], now: 1234 }]);
    assert.deepEqual(outcomeCounters(harness.counters), { 'ethernet.rx.frames': 1, 'ipv4.rx.delivered.tcp': 1 });
  });

  it('a packet longer than its range is truncated, though the memory goes on past the range', () => {
    const harness = createHarness();
    const handler = recordingHandler();
    harness.iface.registerProtocol(TCP, handler);
    const frame = ipv4Frame(tcpTo(OUR_IP));
    const [memory, start, end] = inMemory(frame);
    harness.iface.receiveFrameAt(memory, start, end - 1, 0);
    harness.iface.receiveFrameAt(memory, start, start + 13, 0);
    assert.equal(handler.deliveries.length, 0);
    assert.deepEqual(outcomeCounters(harness.counters), { 'ethernet.rx.frames': 2, 'ipv4.drop.truncated': 1, 'ethernet.drop.truncated': 1 });
  });
});

/** Every counter a received frame can end in (plus rx.frames), with non-zero values. */
function outcomeCounters(counters: Counters): Record<string, number> {
  return Object.fromEntries(
    Object.entries(counters.snapshot()).filter(
      ([name, value]) => value > 0 && (name.includes('.drop.') || name.includes('.rx.')) && !TRANSMIT_DROP_COUNTERS.includes(name),
    ),
  );
}

describe('receive: nothing escapes', () => {
  it('a handler that throws is an internal error: counted, reported once per second, never thrown', () => {
    const harness = createHarness();
    harness.iface.registerProtocol(TCP, {
      input: () => {
        throw new Error('boom in TCP');
      },
    });
    assert.doesNotThrow(() => harness.iface.receiveFrame(ipv4Frame(tcpTo(OUR_IP))));
    assert.equal(harness.counters.get('stack.drop.internal-error'), 1);
    assert.equal(harness.counters.get('ipv4.rx.delivered.tcp'), 0, 'one outcome per frame: the error, not the delivery');
    const [event] = harness.events.named('internal_error');
    assert.equal(event?.['message'], 'boom in TCP');

    harness.clock.set(500);
    harness.iface.receiveFrame(ipv4Frame(tcpTo(OUR_IP)));
    harness.iface.receiveFrame(ipv4Frame(tcpTo(OUR_IP)));
    assert.equal(harness.counters.get('stack.drop.internal-error'), 3);
    assert.equal(harness.events.named('internal_error').length, 1, 'rate limited');
    harness.clock.set(1000);
    harness.iface.receiveFrame(ipv4Frame(tcpTo(OUR_IP)));
    assert.equal(harness.events.named('internal_error')[1]?.['suppressed'], 2);
    assert.deepEqual(receiveAccounting(harness.counters), { frames: 4, delivered: 0, dropped: 4 });
  });

  it('an echo-reply handler that throws does not escape either', () => {
    const harness = createHarness();
    harness.iface.onEchoReply(() => {
      throw new TypeError('shell bug');
    });
    const reply = icmpMessage(0, 0, 7, 1, new Uint8Array(4));
    harness.iface.receiveFrame(ipv4Frame({ source: PEER_IP, destination: OUR_IP, protocol: 1, payload: reply }));
    assert.equal(harness.counters.get('stack.drop.internal-error'), 1);
    assert.equal(harness.events.named('internal_error')[0]?.['message'], 'shell bug');
  });

  it('a throwing event sink cannot make receiveFrame throw', () => {
    const harness = createHarness();
    harness.events.emit = () => {
      throw new Error('log is broken');
    };
    harness.iface.registerProtocol(TCP, {
      input: () => {
        throw new Error('boom');
      },
    });
    assert.doesNotThrow(() => harness.iface.receiveFrame(ipv4Frame(tcpTo(OUR_IP))));
    assert.equal(harness.counters.get('stack.drop.internal-error'), 1);
  });
});

describe('receive accounting', () => {
  it('rx.frames == delivered + dropped over a mixed batch with garbage', () => {
    const harness = createHarness({ gateway: ip('198.18.0.254') });
    const tcp = recordingHandler();
    harness.iface.registerProtocol(TCP, tcp);
    harness.iface.registerProtocol(UDP, {
      input: (_source, _destination, payload) => {
        if (payload[0] === 0xee) throw new Error('udp bug');
      },
    });
    const echo = icmpMessage(8, 0, 1, 1, Uint8Array.of(9, 9));
    const batch: Uint8Array[] = [
      arpFrame({ operation: 1, senderMac: PEER_MAC, senderIp: PEER_IP, targetIp: OUR_IP }), // delivered.arp
      arpFrame({ operation: 1, senderMac: OTHER_MAC, senderIp: OTHER_IP, targetIp: PEER_IP }), // arp not-for-us
      ipv4Frame(tcpTo(OUR_IP)), // delivered.tcp
      ipv4Frame(tcpTo(OUR_IP)), // delivered.tcp
      ipv4Frame({ source: PEER_IP, destination: OUR_IP, protocol: UDP, payload: Uint8Array.of(1) }), // delivered.udp
      ipv4Frame({ source: PEER_IP, destination: OUR_IP, protocol: UDP, payload: Uint8Array.of(0xee) }), // internal error
      ipv4Frame({ source: PEER_IP, destination: OUR_IP, protocol: 1, payload: echo }), // echo-request
      ipv4Frame({ source: PEER_IP, destination: BROADCAST_IP, protocol: 1, payload: echo }, { to: BROADCAST_MAC }), // broadcast echo
      ipv4Frame(tcpTo(OUR_IP, { flagsAndOffset: 0x2000 })), // fragment
      ipv4Frame(tcpTo(OUR_IP, { badChecksum: true })), // bad checksum
      ipv4Frame(tcpTo(OUR_IP), { to: OTHER_MAC }), // not for us
      ethernetFrame(OUR_MAC, PEER_MAC, 0x86dd, new Uint8Array(40)), // ipv6
      new Uint8Array(3), // truncated
    ];
    const random = new SeededRandom(42);
    for (let i = 0; i < 300; i++) {
      // Garbage behind a valid-looking header of each type, and pure noise.
      const body = random.bytes(random.uint32() % 80);
      const type = [0x0800, 0x0806, 0x86dd, 0x1234][i % 4] ?? 0x0800;
      batch.push(i % 5 === 0 ? random.bytes(random.uint32() % 100) : ethernetFrame(OUR_MAC, PEER_MAC, type, body));
    }
    // Valid IPv4 with a random payload, checksum right, so the ICMP and TCP paths see garbage.
    for (let i = 0; i < 100; i++) {
      const protocol = i % 2 === 0 ? 1 : TCP;
      batch.push(ipv4Frame({ source: PEER_IP, destination: OUR_IP, protocol, payload: random.bytes(random.uint32() % 64) }));
    }
    for (const frame of batch) harness.iface.receiveFrame(frame);

    const accounting = receiveAccounting(harness.counters);
    assert.equal(accounting.frames, batch.length);
    assert.equal(accounting.delivered + accounting.dropped, accounting.frames);
    // The same identity, summed by hand from the counter names this test knows of.
    const snapshot = harness.counters.snapshot();
    let delivered = 0;
    let dropped = 0;
    for (const [name, value] of Object.entries(snapshot)) {
      if (/^(ethernet\.rx\.delivered|ipv4\.rx\.delivered)\./.test(name) || /^icmp\.rx\.echo-(request|reply)$/.test(name)) {
        delivered += value;
      } else if (/^(ethernet|arp|ipv4|icmp|stack)\.drop\./.test(name) && !TRANSMIT_DROP_COUNTERS.includes(name)) {
        dropped += value;
      }
    }
    assert.equal(delivered + dropped, batch.length, JSON.stringify(snapshot));
    assert.equal(harness.counters.get('stack.drop.internal-error'), 1, 'only the planted UDP bug');
    assert.ok(tcp.deliveries.length >= 2);
    assert.ok(harness.counters.get('icmp.rx.echo-request') >= 1);
    assert.equal(harness.counters.get('icmp.drop.broadcast-echo'), 1);
  });
});

describe('configuration', () => {
  it('rejects what no caller should pass: bad MTU, prefix, TTL, MAC or gateway', () => {
    assert.throws(() => createHarness({ mtu: 67 }), RangeError);
    assert.throws(() => createHarness({ prefixLength: 33 }), RangeError);
    assert.throws(() => createHarness({ ttl: 0 }), RangeError);
    assert.throws(() => createHarness({ mac: BROADCAST_MAC }), RangeError);
    assert.throws(() => createHarness({ gateway: OUR_IP }), RangeError);
    assert.throws(() => createHarness({ gateway: ip('198.18.0.255') }), RangeError);
    assert.throws(() => createHarness({ arp: { requestIntervalMs: 0 } }), RangeError);
  });

  it('keeps its own copy of the configuration', () => {
    const mac = Uint8Array.from(OUR_MAC);
    const harness = createHarness({ mac });
    mac.fill(0);
    assert.deepEqual(harness.iface.config.mac, OUR_MAC);
    assert.ok(Object.isFrozen(harness.iface.config));
  });
});

describe('carrier (SPEC §6 fault 1 is raised by the owner\'s `link` event)', () => {
  it('reports each change once, forgets the neighbors on loss, and emits no fault code itself', () => {
    const harness = createHarness();
    assert.equal(harness.iface.setCarrier(true), false, 'carrier was already up');
    assert.equal(harness.iface.setCarrier(false), true);
    assert.equal(harness.iface.setCarrier(false), false, 'a repeated report is no change');
    assert.equal(harness.counters.get('arp.drop.carrier-down'), 0, 'nothing was waiting on a resolution');
    assert.equal(harness.iface.setCarrier(true), true);
    assert.equal(harness.iface.setCarrier(true), false);
    assert.deepEqual(harness.events.named('fault'), []);
    assert.deepEqual(harness.events.named('fault_cleared'), []);
  });
});
