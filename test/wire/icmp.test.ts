import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  emitIcmp,
  formatIcmp,
  ICMP_HEADER_LENGTH,
  icmpLength,
  IcmpPacket,
  IcmpType,
  IcmpUnreachableCode,
  parseIcmp,
} from '../../src/wire/icmp.ts';
import type { IcmpRepr } from '../../src/wire/icmp.ts';
import { fromHex, ICMP_ECHO_REPLY_FRAME, ICMP_ECHO_REQUEST_FRAME } from '../fixtures/frames.ts';

const REQUEST = ICMP_ECHO_REQUEST_FRAME.subarray(34);
const REPLY = ICMP_ECHO_REPLY_FRAME.subarray(34);
const PING_DATA = fromHex('41 fb 01 6b 00 00 00 00 ac b5 05 00 00 00 00 00');

const REQUEST_REPR: IcmpRepr = { type: IcmpType.ECHO_REQUEST, code: 0, identifier: 7239, sequence: 1, payload: PING_DATA };

/** An independent checksum: word by word, carries folded at every step. */
function referenceChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    sum += ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0);
    if (sum > 0xffff) sum -= 0xffff;
  }
  return ~sum & 0xffff;
}

/** Makes `bytes.set` fail, to prove that an emitter did not copy. */
function forbidCopy(bytes: Uint8Array): void {
  Object.defineProperty(bytes, 'set', {
    value: () => {
      throw new Error('payload was copied');
    },
  });
}

describe('ICMP (RFC 792)', () => {
  it('deconstructs a captured echo request through the view', () => {
    const view = new IcmpPacket(REQUEST);
    assert.equal(view.check(), undefined);
    assert.equal(view.type, IcmpType.ECHO_REQUEST);
    assert.equal(view.code, 0);
    assert.equal(view.checksum, 0xe69b);
    assert.equal(view.identifier, 7239);
    assert.equal(view.sequence, 1);
    assert.deepEqual(view.payload, PING_DATA);
    assert.equal(view.verifyChecksum(), true);
  });

  it('constructs the captured reply through the view setters', () => {
    const bytes = new Uint8Array(24);
    const view = new IcmpPacket(bytes);
    view.type = IcmpType.ECHO_REPLY;
    view.code = 0;
    view.identifier = 7239;
    view.sequence = 1;
    view.payload.set(PING_DATA);
    view.fillChecksum();
    assert.equal(view.checksum, 0xee9b, "Linux's checksum");
    assert.deepEqual(bytes, REPLY);
  });

  it('parses a captured echo request; the payload is a view', () => {
    assert.deepEqual(parseIcmp(REQUEST), { ok: true, value: REQUEST_REPR });
    const parsed = parseIcmp(REQUEST);
    assert.ok(parsed.ok);
    assert.equal(parsed.value.payload.buffer, ICMP_ECHO_REQUEST_FRAME.buffer);
    assert.equal(parsed.value.payload.byteOffset, ICMP_ECHO_REQUEST_FRAME.byteOffset + 42);
  });

  it("emits the captured reply from the request's repr", () => {
    const reply = { ...REQUEST_REPR, type: IcmpType.ECHO_REPLY };
    assert.equal(icmpLength(reply), 24);
    const bytes = new Uint8Array(24);
    emitIcmp(reply, bytes);
    assert.deepEqual(bytes, REPLY);
  });

  it('does not copy a payload that is already in place', () => {
    const bytes = new Uint8Array(24);
    bytes.set(PING_DATA, ICMP_HEADER_LENGTH);
    forbidCopy(bytes);
    emitIcmp({ ...REQUEST_REPR, type: IcmpType.ECHO_REPLY, payload: bytes.subarray(ICMP_HEADER_LENGTH) }, bytes);
    assert.deepEqual(bytes, REPLY);
    // The same payload anywhere else is copied (which the trap turns into a throw).
    assert.throws(() => emitIcmp({ ...REQUEST_REPR, payload: Uint8Array.from(PING_DATA) }, bytes), /payload was copied/);
  });

  it('checksums odd-length messages as RFC 1071 pads them, and round-trips them', () => {
    const repr: IcmpRepr = { type: IcmpType.ECHO_REQUEST, code: 0, identifier: 0xffff, sequence: 0xfffe, payload: fromHex('01 02 03') };
    const bytes = new Uint8Array(icmpLength(repr));
    emitIcmp(repr, bytes);
    const withoutChecksum = Uint8Array.from(bytes);
    withoutChecksum[2] = 0;
    withoutChecksum[3] = 0;
    assert.equal(new IcmpPacket(bytes).checksum, referenceChecksum(withoutChecksum));
    assert.deepEqual(parseIcmp(bytes), { ok: true, value: repr });
  });

  it('round-trips a destination unreachable carrying the next-hop MTU (RFC 1191)', () => {
    const repr: IcmpRepr = {
      type: IcmpType.DESTINATION_UNREACHABLE,
      code: IcmpUnreachableCode.FRAGMENTATION_NEEDED,
      identifier: 0,
      sequence: 576,
      payload: ICMP_ECHO_REQUEST_FRAME.subarray(14, 42), // the offending IP header + 8 bytes
    };
    const bytes = new Uint8Array(icmpLength(repr));
    emitIcmp(repr, bytes);
    assert.deepEqual(parseIcmp(bytes), { ok: true, value: repr });
    assert.equal(formatIcmp(repr), 'ICMP destination unreachable, need to frag (mtu 576), length 36');
  });

  it('reports messages shorter than 8 bytes as truncated', () => {
    for (let length = 0; length < ICMP_HEADER_LENGTH; length++) {
      assert.deepEqual(parseIcmp(REQUEST.subarray(0, length)), { ok: false, error: 'truncated' }, `length ${length}`);
    }
  });

  it('rejects a wrong checksum over the data unless told not to verify', () => {
    const bytes = Uint8Array.from(REQUEST);
    bytes[20] = bytes[20]! ^ 0x10;
    assert.deepEqual(parseIcmp(bytes), { ok: false, error: 'bad-checksum' });
    assert.equal(parseIcmp(bytes, { verifyChecksum: false }).ok, true);
  });

  it('formats like tcpdump', () => {
    assert.equal(formatIcmp(REQUEST_REPR), 'ICMP echo request, id 7239, seq 1, length 24');
    assert.equal(formatIcmp({ ...REQUEST_REPR, type: IcmpType.ECHO_REPLY }), 'ICMP echo reply, id 7239, seq 1, length 24');
    assert.equal(
      formatIcmp({ ...REQUEST_REPR, type: IcmpType.DESTINATION_UNREACHABLE, code: IcmpUnreachableCode.PORT }),
      'ICMP destination unreachable, port unreachable, length 24',
    );
    assert.equal(formatIcmp({ ...REQUEST_REPR, type: IcmpType.TIME_EXCEEDED }), 'ICMP time exceeded in-transit, length 24');
    assert.equal(formatIcmp({ ...REQUEST_REPR, type: 13 }), 'ICMP type 13, code 0, length 24');
  });

  it('throws on programmer errors when emitting', () => {
    assert.throws(() => emitIcmp(REQUEST_REPR, new Uint8Array(23)), RangeError);
    assert.throws(() => emitIcmp({ ...REQUEST_REPR, identifier: 0x10000 }, new Uint8Array(24)), RangeError);
    assert.throws(() => emitIcmp({ ...REQUEST_REPR, type: 256 }, new Uint8Array(24)), RangeError);
  });
});
