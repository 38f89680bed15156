import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NetStack } from '../src/stack.ts';
import { ManualClock } from '../src/time.ts';
import { SeededRandom } from '../src/random.ts';
import { nullEventSink } from '../src/events.ts';
import { parseIpv4, parseMac } from '../src/net/address.ts';
import { arpFrame, SlotDevice } from './net/harness.ts';

describe('NetStack', () => {
  it('wakes its owner for every frame it transmits, even outside a loop turn', () => {
    const sent: Uint8Array[] = [];
    let wakes = 0;
    const device = { mtu: 1500, mac: parseMac('02:00:00:00:00:02')!, transmit: (frame: Uint8Array) => sent.push(frame) };
    const stack = new NetStack(
      device,
      { mac: device.mac, address: parseIpv4('198.18.0.2')!, prefixLength: 24, mtu: 1500 },
      { clock: new ManualClock(0), random: new SeededRandom(1), events: nullEventSink, onWork: () => wakes++ },
    );
    // A ping to an unresolved neighbour sends an ARP request: one frame, one wake-up.
    const before = wakes;
    stack.interface.ping(parseIpv4('198.18.0.1')!, 1, 1, new Uint8Array(8));
    assert.equal(sent.length, 1);
    assert.equal(wakes - before, 1);
  });

  it("hands the device's transmit slots to the interface: a frame to a resolved neighbour is built in a slot, and wakes the owner", () => {
    const device = new SlotDevice(parseMac('02:00:00:00:00:02')!);
    let wakes = 0;
    const stack = new NetStack(
      device,
      { mac: device.mac, address: parseIpv4('198.18.0.2')!, prefixLength: 24, mtu: 1500 },
      { clock: new ManualClock(0), random: new SeededRandom(1), events: nullEventSink, onWork: () => wakes++ },
    );
    const peerMac = parseMac('02:00:00:00:00:01')!;
    const peer = parseIpv4('198.18.0.1')!;
    // The peer asks for our MAC: we learn its (RFC 826), and answer through fresh memory.
    stack.receiveFrame(arpFrame({ operation: 1, senderMac: peerMac, senderIp: peer, targetIp: parseIpv4('198.18.0.2')! }, device.mac));
    assert.equal(device.take().length, 1);
    assert.equal(device.slotted, 0);
    const before = wakes;
    assert.equal(stack.interface.ping(peer, 1, 1, new Uint8Array(8)), 'sent');
    assert.equal(device.slotted, 1, 'the echo request was built in the slot');
    const [request] = device.take();
    assert.deepEqual(request && [...request.subarray(0, 6)], [...peerMac]);
    assert.equal(request?.[14 + 20], 8, 'an ICMP echo request');
    assert.equal(wakes - before, 1);
  });
});
