import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ARP_PACKET_LENGTH, ArpOperation, ArpPacket, emitArp, formatArp, parseArp } from '../../src/wire/arp.ts';
import type { ArpRepr } from '../../src/wire/arp.ts';
import { ARP_REPLY_FRAME, ARP_REQUEST_FRAME, HOST_A_IP, HOST_A_MAC, HOST_B_IP, HOST_B_MAC } from '../fixtures/frames.ts';

const REQUEST = ARP_REQUEST_FRAME.subarray(14);
const REPLY = ARP_REPLY_FRAME.subarray(14);

const REQUEST_REPR: ArpRepr = {
  operation: ArpOperation.REQUEST,
  senderHardwareAddr: HOST_A_MAC,
  senderProtocolAddr: HOST_A_IP,
  targetHardwareAddr: new Uint8Array(6),
  targetProtocolAddr: HOST_B_IP,
};

const REPLY_REPR: ArpRepr = {
  operation: ArpOperation.REPLY,
  senderHardwareAddr: HOST_B_MAC,
  senderProtocolAddr: HOST_B_IP,
  targetHardwareAddr: HOST_A_MAC,
  targetProtocolAddr: HOST_A_IP,
};

describe('ARP (RFC 826)', () => {
  it('deconstructs a captured request through the view', () => {
    const view = new ArpPacket(REQUEST);
    assert.equal(view.check(), undefined);
    assert.equal(view.hardwareType, 1);
    assert.equal(view.protocolType, 0x0800);
    assert.equal(view.hardwareLength, 6);
    assert.equal(view.protocolLength, 4);
    assert.equal(view.operation, ArpOperation.REQUEST);
    assert.deepEqual(view.senderHardwareAddr, HOST_A_MAC);
    assert.equal(view.senderProtocolAddr, HOST_A_IP);
    assert.deepEqual(view.targetHardwareAddr, new Uint8Array(6));
    assert.equal(view.targetProtocolAddr, HOST_B_IP);
  });

  it('constructs the captured reply through the view setters', () => {
    const bytes = new Uint8Array(ARP_PACKET_LENGTH);
    const view = new ArpPacket(bytes);
    view.hardwareType = 1;
    view.protocolType = 0x0800;
    view.hardwareLength = 6;
    view.protocolLength = 4;
    view.operation = ArpOperation.REPLY;
    view.senderHardwareAddr = HOST_B_MAC;
    view.senderProtocolAddr = HOST_B_IP;
    view.targetHardwareAddr = HOST_A_MAC;
    view.targetProtocolAddr = HOST_A_IP;
    assert.deepEqual(bytes, REPLY);
  });

  it('parses captured requests and replies', () => {
    assert.deepEqual(parseArp(REQUEST), { ok: true, value: REQUEST_REPR });
    assert.deepEqual(parseArp(REPLY), { ok: true, value: REPLY_REPR });
    const parsed = parseArp(REPLY);
    assert.ok(parsed.ok);
    assert.equal(parsed.value.senderHardwareAddr.buffer, ARP_REPLY_FRAME.buffer, 'addresses are views');
  });

  it('emits the captured bytes', () => {
    for (const [repr, expected] of [[REQUEST_REPR, REQUEST], [REPLY_REPR, REPLY]] as const) {
      const bytes = new Uint8Array(ARP_PACKET_LENGTH).fill(0xee);
      emitArp(repr, bytes);
      assert.deepEqual(bytes, expected);
    }
  });

  it('ignores Ethernet padding after the 28 bytes', () => {
    const padded = new Uint8Array(46);
    padded.set(REQUEST);
    padded.fill(0xaa, 28);
    assert.deepEqual(parseArp(padded), { ok: true, value: REQUEST_REPR });
  });

  it('reports every packet shorter than 28 bytes as truncated', () => {
    for (let length = 0; length < ARP_PACKET_LENGTH; length++) {
      assert.deepEqual(parseArp(REQUEST.subarray(0, length)), { ok: false, error: 'truncated' }, `length ${length}`);
    }
  });

  it('rejects hardware or protocol types other than Ethernet/IPv4 as unsupported', () => {
    const cases: [string, number, number][] = [
      ['hardware type 6 (IEEE 802)', 1, 6],
      ['protocol type IPv6', 2, 0x86],
      ['hardware length 8', 4, 8],
      ['protocol length 16', 5, 16],
    ];
    for (const [name, offset, value] of cases) {
      const bytes = Uint8Array.from(REQUEST);
      bytes[offset] = value;
      assert.deepEqual(parseArp(bytes), { ok: false, error: 'unsupported' }, name);
    }
  });

  it('keeps operations other than request and reply for the caller to judge', () => {
    const bytes = Uint8Array.from(REQUEST);
    bytes[7] = 3; // RARP request (RFC 903)
    const parsed = parseArp(bytes);
    assert.ok(parsed.ok);
    assert.equal(parsed.value.operation, 3);
    assert.match(formatArp(parsed.value), /^ARP, Unknown operation \(3\)/);
  });

  it('formats like tcpdump', () => {
    assert.equal(formatArp(REQUEST_REPR), 'ARP, Request who-has 198.18.0.2 tell 198.18.0.1, length 28');
    assert.equal(formatArp(REPLY_REPR), 'ARP, Reply 198.18.0.2 is-at 02:00:00:00:00:02, length 28');
    assert.equal(
      formatArp({ ...REQUEST_REPR, targetHardwareAddr: HOST_B_MAC }),
      'ARP, Request who-has 198.18.0.2 (02:00:00:00:00:02) tell 198.18.0.1, length 28',
    );
  });

  it('throws on programmer errors when emitting', () => {
    assert.throws(() => emitArp(REQUEST_REPR, new Uint8Array(27)), RangeError);
    assert.throws(() => emitArp({ ...REQUEST_REPR, operation: 0x10000 }, new Uint8Array(28)), RangeError);
    assert.throws(() => emitArp({ ...REQUEST_REPR, senderHardwareAddr: new Uint8Array(4) }, new Uint8Array(28)), RangeError);
  });
});
