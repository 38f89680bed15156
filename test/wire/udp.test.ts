import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { emitUdp, formatUdp, parseUdp, UDP_HEADER_LENGTH, udpLength, UdpPacket } from '../../src/wire/udp.ts';
import type { UdpRepr } from '../../src/wire/udp.ts';
import { hex, ip } from '../net/harness.ts';

const SOURCE = ip('198.18.0.1');
const DESTINATION = ip('198.18.0.2');
const PAYLOAD = new TextEncoder().encode('hello\n');

/** 198.18.0.1:40000 → 198.18.0.2:7 "hello\n"; checksum computed by hand (RFC 768 pseudo header). */
const DATAGRAM = hex(`
  9c 40        # source port 40000
  00 07        # destination port 7 (echo)
  00 0e        # length 14 = 8 + 6
  93 86        # checksum
  68 65 6c 6c 6f 0a  # "hello\\n"
`);

const REPR: UdpRepr = { sourcePort: 40000, destinationPort: 7, payload: PAYLOAD };

describe('UDP (RFC 768)', () => {
  it('deconstructs a datagram through the view', () => {
    const view = new UdpPacket(DATAGRAM);
    assert.equal(view.check(), undefined);
    assert.equal(view.sourcePort, 40000);
    assert.equal(view.destinationPort, 7);
    assert.equal(view.length, 14);
    assert.equal(view.checksum, 0x9386);
    assert.deepEqual(view.payload, PAYLOAD);
    assert.equal(view.verifyChecksum(SOURCE, DESTINATION), true);
    assert.equal(view.verifyChecksum(SOURCE, ip('198.18.0.3')), false, 'the pseudo header is covered');
  });

  it('constructs the datagram through the view setters', () => {
    const bytes = new Uint8Array(14);
    const view = new UdpPacket(bytes);
    view.sourcePort = 40000;
    view.destinationPort = 7;
    view.length = 14;
    view.payload.set(PAYLOAD);
    view.fillChecksum(SOURCE, DESTINATION);
    assert.deepEqual(bytes, DATAGRAM);
  });

  it('parses the datagram; the payload is a view trimmed to the length field', () => {
    const padded = new Uint8Array(20);
    padded.set(DATAGRAM);
    const parsed = parseUdp(padded, SOURCE, DESTINATION);
    assert.deepEqual(parsed, { ok: true, value: REPR });
    assert.ok(parsed.ok);
    assert.equal(parsed.value.payload.buffer, padded.buffer);
    assert.equal(parsed.value.payload.length, 6);
  });

  it('emits the datagram from its repr', () => {
    assert.equal(udpLength(REPR), 14);
    const bytes = new Uint8Array(14);
    emitUdp(REPR, bytes, SOURCE, DESTINATION);
    assert.deepEqual(bytes, DATAGRAM);
    assert.equal(formatUdp(REPR), 'UDP, 40000 > 7, length 6');
  });

  it('accepts a zero checksum (none, RFC 768) and sends a computed zero as 0xffff', () => {
    const none = Uint8Array.from(DATAGRAM);
    none[6] = 0;
    none[7] = 0;
    assert.equal(parseUdp(none, SOURCE, DESTINATION).ok, true);
    // Find a payload whose checksum computes to zero: adjust two bytes until it does.
    const bytes = new Uint8Array(UDP_HEADER_LENGTH + 2);
    for (let word = 0; word <= 0xffff; word++) {
      const payload = Uint8Array.of(word >>> 8, word & 0xff);
      emitUdp({ sourcePort: 1, destinationPort: 2, payload }, bytes, SOURCE, DESTINATION);
      const view = new UdpPacket(bytes);
      view.checksum = 0;
      view.checksum = 0xffff;
      if (view.verifyChecksum(SOURCE, DESTINATION)) {
        emitUdp({ sourcePort: 1, destinationPort: 2, payload }, bytes, SOURCE, DESTINATION);
        assert.equal(new UdpPacket(bytes).checksum, 0xffff);
        return;
      }
    }
    assert.fail('no payload with a zero checksum found');
  });

  it('rejects malformed datagrams with a reason, never a throw', () => {
    assert.deepEqual(parseUdp(DATAGRAM.subarray(0, 7), SOURCE, DESTINATION), { ok: false, error: 'truncated' });
    const short = Uint8Array.from(DATAGRAM);
    short[5] = 7; // length 7 < header
    assert.deepEqual(parseUdp(short, SOURCE, DESTINATION), { ok: false, error: 'bad-length' });
    const long = Uint8Array.from(DATAGRAM);
    long[5] = 15; // longer than the bytes
    assert.deepEqual(parseUdp(long, SOURCE, DESTINATION), { ok: false, error: 'truncated' });
    const corrupt = Uint8Array.from(DATAGRAM);
    corrupt[9] = corrupt[9]! ^ 1;
    assert.deepEqual(parseUdp(corrupt, SOURCE, DESTINATION), { ok: false, error: 'bad-checksum' });
    assert.equal(parseUdp(corrupt, SOURCE, DESTINATION, { verifyChecksum: false }).ok, true);
  });
});
