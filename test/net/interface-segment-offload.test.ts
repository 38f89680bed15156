/**
 * The interface's side of segmentation offload (src/net/device.ts `SegmentOffload`):
 * a TCP super-segment goes to the device's offload when the next hop is resolved, and is
 * cut by the interface itself (as the kernel would cut it) when it must wait for ARP;
 * the IPv4 identification advances by the pieces either way; a device without the
 * offload reports none.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NetworkInterface } from '../../src/net/interface.ts';
import type { FrameDevice } from '../../src/net/device.ts';
import { RecordingEventSink } from '../../src/events.ts';
import { Counters } from '../../src/stats.ts';
import { ManualClock } from '../../src/time.ts';
import { ETHERNET_HEADER_LENGTH } from '../../src/wire/ethernet.ts';
import { IpProtocol, parseIpv4 } from '../../src/wire/ipv4.ts';
import { emitTcpHeader, parseTcp, TcpFlag, tcpHeaderLength, type TcpRepr } from '../../src/wire/tcp.ts';
import { arpFrame, OUR_IP, OUR_MAC, PEER_IP, PEER_MAC } from './harness.ts';

const SEGMENT = 1000;
const PAYLOAD = 3 * SEGMENT + 100;

class OffloadDevice implements FrameDevice {
  readonly mtu = 1500;
  readonly mac = OUR_MAC;
  readonly frames: Uint8Array[] = [];
  readonly superFrames: [Uint8Array, number][] = [];
  readonly segmentOffload = {
    maxPacketBytes: 65_535,
    // Fresh memory for each: this device keeps every super-frame for the assertions.
    superFrame: (length: number): Uint8Array => new Uint8Array(length),
    transmitSegmented: (frame: Uint8Array, segmentSize: number): void => {
      this.superFrames.push([frame, segmentSize]);
    },
  };

  transmit(frame: Uint8Array): void {
    this.frames.push(frame);
  }
}

const header: Omit<TcpRepr, 'payload'> = {
  sourcePort: 19,
  destinationPort: 40_000,
  sequenceNumber: 1000,
  acknowledgmentNumber: 1,
  flags: TcpFlag.ACK | TcpFlag.PSH,
  window: 100,
  urgentPointer: 0,
  options: { timestamps: { value: 1, echo: 2 } },
};
const tcpLength = tcpHeaderLength(header.options);

function sendSuperSegment(iface: NetworkInterface): string {
  return iface.sendIpv4(
    PEER_IP,
    IpProtocol.TCP,
    tcpLength + PAYLOAD,
    (frame, offset) => {
      for (let index = 0; index < PAYLOAD; index++) frame[offset + tcpLength + index] = index & 0xff;
      emitTcpHeader(header, PAYLOAD, frame, OUR_IP, PEER_IP, offset, true);
    },
    SEGMENT,
  );
}

function setUp(): { iface: NetworkInterface; device: OffloadDevice; counters: Counters } {
  const device = new OffloadDevice();
  const counters = new Counters();
  const iface = new NetworkInterface(device, { mac: OUR_MAC, address: OUR_IP, prefixLength: 24, mtu: 1500 }, {
    clock: new ManualClock(0),
    counters,
    events: new RecordingEventSink(),
  });
  return { iface, device, counters };
}

function identificationOf(frame: Uint8Array): number {
  return (frame[ETHERNET_HEADER_LENGTH + 4]! << 8) | frame[ETHERNET_HEADER_LENGTH + 5]!;
}

describe('NetworkInterface: TCP super-segments', () => {
  it('offers the device offload less the IPv4 header, and nothing without one', () => {
    assert.equal(setUp().iface.segmentOffloadBytes, 65_535 - 20);
    const plain = new NetworkInterface({ mtu: 1500, mac: OUR_MAC, transmit: () => undefined }, { mac: OUR_MAC, address: OUR_IP, prefixLength: 24, mtu: 1500 }, {
      clock: new ManualClock(0),
      counters: new Counters(),
      events: new RecordingEventSink(),
    });
    assert.equal(plain.segmentOffloadBytes, 0);
  });

  it('cuts a super-segment for an unresolved neighbor itself: the pieces wait for ARP like any frame', () => {
    const { iface, device, counters } = setUp();
    assert.equal(sendSuperSegment(iface), 'queued');
    assert.equal(device.superFrames.length, 0);
    assert.equal(device.frames.length, 1, 'only the ARP request went out');
    iface.receiveFrame(arpFrame({ operation: 2, senderMac: PEER_MAC, senderIp: PEER_IP, targetMac: OUR_MAC, targetIp: OUR_IP }));
    const pieces = device.frames.slice(1);
    assert.equal(pieces.length, 4);
    pieces.forEach((piece, index) => {
      assert.deepEqual(piece.subarray(0, 6), PEER_MAC);
      const packet = parseIpv4(piece.subarray(ETHERNET_HEADER_LENGTH));
      assert.ok(packet.ok);
      assert.equal(packet.value.identification, index + 1, 'ids as the stack would have numbered the segments');
      const segment = parseTcp(packet.value.payload, OUR_IP, PEER_IP);
      assert.ok(segment.ok, 'the TCP checksum of each piece is valid');
      assert.equal(segment.value.sequenceNumber, 1000 + index * SEGMENT);
      assert.equal((segment.value.flags & TcpFlag.PSH) !== 0, index === 3);
    });
    assert.equal(counters.get('ipv4.tx.packets'), 4);
    assert.equal(counters.get('ipv4.tx.super-segments'), 0);
  });

  it('hands a super-segment for a resolved neighbor to the device, and numbers what follows after its pieces', () => {
    const { iface, device, counters } = setUp();
    iface.receiveFrame(arpFrame({ operation: 1, senderMac: PEER_MAC, senderIp: PEER_IP, targetIp: OUR_IP }));
    device.frames.length = 0; // the ARP reply
    assert.equal(sendSuperSegment(iface), 'sent');
    assert.equal(device.superFrames.length, 1);
    const [frame, segmentSize] = device.superFrames[0]!;
    assert.equal(segmentSize, SEGMENT);
    assert.equal(frame.length, ETHERNET_HEADER_LENGTH + 20 + tcpLength + PAYLOAD);
    assert.deepEqual(frame.subarray(0, 6), PEER_MAC);
    assert.equal(identificationOf(frame), 1, 'the first piece carries the first id');
    assert.equal(counters.get('ipv4.tx.super-segments'), 1);
    assert.equal(counters.get('ipv4.tx.packets'), 4);
    assert.equal(counters.get('ethernet.tx.frames'), 4 + 1, 'the pieces and the ARP reply');
    // The next packet follows the four pieces' ids (1..4).
    iface.sendIpv4(PEER_IP, IpProtocol.TCP, 20, (buffer, offset) => emitTcpHeader({ ...header, options: {} }, 0, buffer, OUR_IP, PEER_IP, offset));
    assert.equal(identificationOf(device.frames.at(-1)!), 5);
  });

  it('refuses a super-segment that is not TCP or is larger than the offload takes (a programmer error)', () => {
    const { iface } = setUp();
    assert.throws(() => iface.sendIpv4(PEER_IP, IpProtocol.UDP, 3000, () => undefined, SEGMENT), RangeError);
    assert.throws(() => iface.sendIpv4(PEER_IP, IpProtocol.TCP, 70_000, () => undefined, SEGMENT), RangeError);
  });
});
