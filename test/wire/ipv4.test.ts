import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  emitIpv4Header,
  formatIpv4,
  IPV4_HEADER_LENGTH,
  IpProtocol,
  Ipv4Packet,
  emptyIpv4HeaderRepr,
  emptyIpv4Repr,
  isFragment,
  parseIpv4,
  parseIpv4HeaderInto,
  parseIpv4Into,
} from '../../src/wire/ipv4.ts';
import type { Ipv4Repr } from '../../src/wire/ipv4.ts';
import { internetChecksum } from '../../src/wire/checksum.ts';
import {
  HOST_A_IP,
  HOST_B_IP,
  ICMP_ECHO_REPLY_FRAME,
  IPV4_FIRST_FRAGMENT_FRAME,
  IPV4_LAST_FRAGMENT_FRAME,
  IPV4_WITH_OPTIONS_FRAME,
  TCP_RST_FRAME,
  TCP_RST_PADDED_FRAME,
  TCP_SYN_FRAME,
} from '../fixtures/frames.ts';

const SYN_PACKET = TCP_SYN_FRAME.subarray(14);

function omitPayload(repr: Ipv4Repr): Omit<Ipv4Repr, 'payload'> {
  const { payload: _payload, ...rest } = repr;
  return rest;
}

/** A copy of the SYN's IP packet with one byte changed and, unless told not to, a fixed checksum. */
function modified(offset: number, value: number, fixChecksum = true): Uint8Array {
  const bytes = Uint8Array.from(SYN_PACKET);
  bytes[offset] = value;
  if (fixChecksum) new Ipv4Packet(bytes).fillChecksum();
  return bytes;
}

describe('IPv4 (RFC 791)', () => {
  it('deconstructs a captured header through the view', () => {
    const view = new Ipv4Packet(SYN_PACKET);
    assert.equal(view.check(), undefined);
    assert.equal(view.version, 4);
    assert.equal(view.headerLength, 20);
    assert.equal(view.dscpEcn, 0);
    assert.equal(view.totalLength, 60);
    assert.equal(view.identification, 28327);
    assert.equal(view.dontFragment, true);
    assert.equal(view.moreFragments, false);
    assert.equal(view.fragmentOffset, 0);
    assert.equal(view.ttl, 64);
    assert.equal(view.protocol, IpProtocol.TCP);
    assert.equal(view.checksum, 0x3fed);
    assert.equal(view.source, HOST_A_IP);
    assert.equal(view.destination, HOST_B_IP);
    assert.equal(view.payload.length, 40);
    assert.equal(view.verifyChecksum(), true);
  });

  it('constructs the captured header through the view setters', () => {
    const bytes = new Uint8Array(60);
    const view = new Ipv4Packet(bytes);
    view.setVersionAndHeaderLength(20);
    view.dscpEcn = 0;
    view.totalLength = 60;
    view.identification = 28327;
    view.setFragmentation(true, false, 0);
    view.ttl = 64;
    view.protocol = IpProtocol.TCP;
    view.source = HOST_A_IP;
    view.destination = HOST_B_IP;
    view.payload.set(SYN_PACKET.subarray(20));
    view.fillChecksum();
    assert.equal(view.checksum, 0x3fed, "Linux's checksum");
    assert.deepEqual(bytes, SYN_PACKET);
  });

  it('parses a captured packet; the payload is a view', () => {
    const parsed = parseIpv4(SYN_PACKET);
    assert.ok(parsed.ok);
    assert.deepEqual(omitPayload(parsed.value), {
      source: HOST_A_IP,
      destination: HOST_B_IP,
      protocol: IpProtocol.TCP,
      ttl: 64,
      identification: 28327,
      dscpEcn: 0,
      dontFragment: true,
      moreFragments: false,
      fragmentOffset: 0,
      headerLength: 20,
    });
    assert.deepEqual(parsed.value.payload, SYN_PACKET.subarray(20));
    assert.equal(parsed.value.payload.buffer, TCP_SYN_FRAME.buffer);
    assert.equal(parsed.value.payload.byteOffset, TCP_SYN_FRAME.byteOffset + 34);
  });

  it('emits the captured headers (with DF, and without)', () => {
    const syn = new Uint8Array(60);
    syn.set(SYN_PACKET.subarray(20), 20);
    emitIpv4Header(
      syn,
      { source: HOST_A_IP, destination: HOST_B_IP, protocol: IpProtocol.TCP, ttl: 64, identification: 28327, dontFragment: true },
      40,
    );
    assert.deepEqual(syn, SYN_PACKET);

    const reply = ICMP_ECHO_REPLY_FRAME.subarray(14);
    const bytes = Uint8Array.from(reply).fill(0, 0, 20);
    emitIpv4Header(
      bytes,
      { source: HOST_B_IP, destination: HOST_A_IP, protocol: IpProtocol.ICMP, ttl: 64, identification: 55725, dontFragment: false },
      24,
    );
    assert.deepEqual(bytes, reply);
  });

  it('computes the header checksum from the fields: the RFC 1071 sum over the written header is zero, for every field extreme', () => {
    const addresses = [0, 1, 0x7fffffff, 0x80000000, 0xc6120001, 0xfffffffe, 0xffffffff];
    for (const source of addresses) {
      for (const destination of addresses) {
        for (const [ttl, protocol, identification, dscpEcn, payloadLength, dontFragment] of [
          [0, 0, 0, 0, 0, false],
          [255, 255, 0xffff, 0xff, 65_515, true],
          [64, IpProtocol.TCP, 0x8001, 0x2e, 1_460, true],
        ] as const) {
          const bytes = new Uint8Array(2 + IPV4_HEADER_LENGTH).fill(0xaa);
          emitIpv4Header(bytes, { source, destination, protocol, ttl, identification, dontFragment, dscpEcn }, payloadLength, 2);
          const header = bytes.subarray(2);
          assert.equal(internetChecksum(header), 0, `source ${source}, destination ${destination}, ttl ${ttl}`);
          assert.deepEqual([bytes[0], bytes[1]], [0xaa, 0xaa], 'nothing written before the offset');
          const packet = new Ipv4Packet(header);
          assert.equal(packet.source, source);
          assert.equal(packet.destination, destination);
          assert.equal(packet.ttl, ttl);
          assert.equal(packet.protocol, protocol);
          assert.equal(packet.dscpEcn, dscpEcn);
        }
      }
    }
  });

  it('round-trips parse → emit for a header without options', () => {
    const parsed = parseIpv4(SYN_PACKET);
    assert.ok(parsed.ok);
    const bytes = new Uint8Array(IPV4_HEADER_LENGTH + parsed.value.payload.length);
    bytes.set(parsed.value.payload, IPV4_HEADER_LENGTH);
    emitIpv4Header(bytes, parsed.value, parsed.value.payload.length);
    assert.deepEqual(bytes, SYN_PACKET);
  });

  it('writes DSCP/ECN, masks the identification to 16 bits, and sets total length = 20 + payload', () => {
    const bytes = new Uint8Array(20);
    emitIpv4Header(
      bytes,
      { source: 1, destination: 2, protocol: 6, ttl: 1, identification: 0x1_2345, dontFragment: true, dscpEcn: 0xb8 },
      0,
    );
    const parsed = parseIpv4(bytes);
    assert.ok(parsed.ok);
    assert.equal(parsed.value.identification, 0x2345);
    assert.equal(parsed.value.dscpEcn, 0xb8);
    assert.equal(new Ipv4Packet(bytes).totalLength, 20);
  });

  it('trims Ethernet padding using the total length', () => {
    const padded = parseIpv4(TCP_RST_PADDED_FRAME.subarray(14));
    const plain = parseIpv4(TCP_RST_FRAME.subarray(14));
    assert.ok(padded.ok && plain.ok);
    assert.equal(padded.value.payload.length, 20);
    assert.deepEqual(padded.value, plain.value);
  });

  it('skips options: the payload starts after IHL words, the checksum covers them', () => {
    const parsed = parseIpv4(IPV4_WITH_OPTIONS_FRAME.subarray(14));
    assert.ok(parsed.ok);
    assert.equal(parsed.value.headerLength, 24);
    assert.equal(parsed.value.protocol, IpProtocol.ICMP);
    assert.equal(parsed.value.payload.length, 24);
    assert.equal(parsed.value.payload[0], 8, 'ICMP echo request type');
    const damaged = Uint8Array.from(IPV4_WITH_OPTIONS_FRAME.subarray(14));
    damaged[21] = damaged[21]! ^ 0x01; // inside the option
    assert.deepEqual(parseIpv4(damaged), { ok: false, error: 'bad-checksum' });
  });

  it('parses fragments and says they are fragments', () => {
    const first = parseIpv4(IPV4_FIRST_FRAGMENT_FRAME.subarray(14));
    assert.ok(first.ok);
    assert.equal(first.value.moreFragments, true);
    assert.equal(first.value.fragmentOffset, 0);
    assert.equal(isFragment(first.value), true);

    const last = parseIpv4(IPV4_LAST_FRAGMENT_FRAME.subarray(14));
    assert.ok(last.ok);
    assert.equal(last.value.moreFragments, false);
    assert.equal(last.value.fragmentOffset, 1480);
    assert.equal(isFragment(last.value), true);

    const whole = parseIpv4(SYN_PACKET);
    assert.ok(whole.ok);
    assert.equal(isFragment(whole.value), false);
  });

  it('reports every packet shorter than 20 bytes as truncated', () => {
    for (let length = 0; length < IPV4_HEADER_LENGTH; length++) {
      assert.deepEqual(parseIpv4(SYN_PACKET.subarray(0, length)), { ok: false, error: 'truncated' }, `length ${length}`);
    }
  });

  it('reports packets shorter than their total length as truncated', () => {
    for (let length = IPV4_HEADER_LENGTH; length < 60; length++) {
      assert.deepEqual(parseIpv4(SYN_PACKET.subarray(0, length)), { ok: false, error: 'truncated' }, `length ${length}`);
    }
  });

  it('reports packets shorter than their header length as truncated', () => {
    const bytes = modified(0, 0x4f); // IHL 15: 60 bytes of header in a 60-byte packet: fine
    assert.equal(parseIpv4(bytes).ok, true);
    assert.deepEqual(parseIpv4(bytes.subarray(0, 40)), { ok: false, error: 'truncated' });
  });

  it('rejects a version other than 4', () => {
    assert.deepEqual(parseIpv4(modified(0, 0x65)), { ok: false, error: 'bad-version' });
    assert.deepEqual(parseIpv4(modified(0, 0x05)), { ok: false, error: 'bad-version' });
  });

  it('rejects an IHL below 5 words', () => {
    for (const ihl of [0, 1, 4]) {
      assert.deepEqual(parseIpv4(modified(0, 0x40 | ihl, false)), { ok: false, error: 'bad-header-length' }, `IHL ${ihl}`);
    }
  });

  it('rejects a total length below the header length', () => {
    const bytes = modified(3, 19); // total length 19 < 20
    assert.deepEqual(parseIpv4(bytes), { ok: false, error: 'bad-length' });
    const options = Uint8Array.from(IPV4_WITH_OPTIONS_FRAME.subarray(14));
    options[3] = 22; // total length 22 < 24-byte header
    new Ipv4Packet(options).fillChecksum();
    assert.deepEqual(parseIpv4(options), { ok: false, error: 'bad-length' });
  });

  it('checks in order: truncated, version, header length, total length, checksum', () => {
    const bytes = modified(0, 0x64, false); // version 6 and IHL 4, stale checksum
    assert.deepEqual(parseIpv4(bytes), { ok: false, error: 'bad-version' });
    bytes[0] = 0x44;
    assert.deepEqual(parseIpv4(bytes), { ok: false, error: 'bad-header-length' });
  });

  it('rejects a wrong header checksum unless told not to verify', () => {
    const bytes = modified(8, 63, false); // TTL changed, checksum stale
    assert.deepEqual(parseIpv4(bytes), { ok: false, error: 'bad-checksum' });
    const unchecked = parseIpv4(bytes, { verifyChecksum: false });
    assert.ok(unchecked.ok);
    assert.equal(unchecked.value.ttl, 63);
    assert.deepEqual(parseIpv4(modified(8, 63)).ok, true, 'accepted again once the checksum is refilled');
  });

  it('formats like tcpdump -v', () => {
    const syn = parseIpv4(SYN_PACKET);
    assert.ok(syn.ok);
    assert.equal(
      formatIpv4(syn.value),
      'IP (tos 0x0, ttl 64, id 28327, offset 0, flags [DF], proto TCP (6), length 60) 198.18.0.1 > 198.18.0.2',
    );
    const reply = parseIpv4(ICMP_ECHO_REPLY_FRAME.subarray(14));
    assert.ok(reply.ok);
    assert.equal(
      formatIpv4(reply.value),
      'IP (tos 0x0, ttl 64, id 55725, offset 0, flags [none], proto ICMP (1), length 44) 198.18.0.2 > 198.18.0.1',
    );
    const fragment = parseIpv4(IPV4_FIRST_FRAGMENT_FRAME.subarray(14));
    assert.ok(fragment.ok);
    assert.match(formatIpv4(fragment.value), /offset 0, flags \[\+\], proto UDP \(17\), length 28\)/);
  });

  it('throws on programmer errors when emitting', () => {
    const header = { source: 1, destination: 2, protocol: 6, ttl: 64, identification: 0, dontFragment: true };
    assert.throws(() => emitIpv4Header(new Uint8Array(19), header, 0), RangeError);
    assert.throws(() => emitIpv4Header(new Uint8Array(20), header, 65516), RangeError);
    assert.throws(() => emitIpv4Header(new Uint8Array(20), { ...header, ttl: 256 }, 0), RangeError);
    assert.throws(() => emitIpv4Header(new Uint8Array(20), { ...header, protocol: -1 }, 0), RangeError);
    assert.doesNotThrow(() => emitIpv4Header(new Uint8Array(20), header, 65515));
  });
});

describe('IPv4 at an offset, into a reused repr (the receive and send paths)', () => {
  it('parseIpv4Into at the Ethernet offset gives parseIpv4\'s values, for every fixture', () => {
    const into = emptyIpv4Repr();
    for (const frame of [TCP_SYN_FRAME, TCP_RST_PADDED_FRAME, IPV4_WITH_OPTIONS_FRAME, IPV4_FIRST_FRAGMENT_FRAME, ICMP_ECHO_REPLY_FRAME, TCP_RST_FRAME]) {
      const expected = parseIpv4(frame.subarray(14));
      assert.ok(expected.ok);
      assert.equal(parseIpv4Into(frame, 14, into, true), undefined);
      assert.deepEqual(omitPayload(into), omitPayload(expected.value));
      assert.deepEqual(into.payload, expected.value.payload);
      assert.equal(into.payload.buffer, frame.buffer, 'the payload is a view into the frame');
    }
  });

  it('parseIpv4Into returns parseIpv4\'s error, in the same order of checks', () => {
    const into = emptyIpv4Repr();
    const cases: Uint8Array[] = [
      SYN_PACKET.subarray(0, 19),
      modified(0, 0x65),
      modified(0, 0x44),
      modified(3, 10),
      modified(3, 0xff),
      modified(10, 0x12, false),
    ];
    for (const packet of cases) {
      const expected = parseIpv4(packet);
      assert.equal(expected.ok, false);
      const framed = new Uint8Array(14 + packet.length);
      framed.set(packet, 14);
      assert.equal(parseIpv4Into(framed, 14, into, true), expected.ok ? undefined : expected.error);
    }
  });

  it('parseIpv4HeaderInto gives parseIpv4Into\'s fields, and its payload as bounds in the frame, not a view', () => {
    const header = emptyIpv4HeaderRepr();
    const into = emptyIpv4Repr();
    for (const frame of [TCP_SYN_FRAME, TCP_RST_PADDED_FRAME, IPV4_WITH_OPTIONS_FRAME, IPV4_FIRST_FRAGMENT_FRAME, ICMP_ECHO_REPLY_FRAME, TCP_RST_FRAME]) {
      assert.equal(parseIpv4Into(frame, 14, into, true), undefined);
      assert.equal(parseIpv4HeaderInto(frame, 14, header, true), undefined);
      const { payloadStart, payloadEnd, ...fields } = header;
      assert.deepEqual(fields, omitPayload(into));
      // Ethernet padding stays out (TCP_RST_PADDED_FRAME), options are skipped (IPV4_WITH_OPTIONS_FRAME).
      assert.equal(payloadStart, into.payload.byteOffset - frame.byteOffset);
      assert.equal(payloadEnd, payloadStart + into.payload.length);
    }
  });

  it('parseIpv4HeaderInto returns parseIpv4Into\'s error for every broken packet', () => {
    const header = emptyIpv4HeaderRepr();
    const into = emptyIpv4Repr();
    for (const packet of [SYN_PACKET.subarray(0, 19), modified(0, 0x65), modified(0, 0x44), modified(3, 10), modified(3, 0xff), modified(10, 0x12, false)]) {
      const expected = parseIpv4Into(packet, 0, into, true);
      assert.notEqual(expected, undefined);
      assert.equal(parseIpv4HeaderInto(packet, 0, header, true), expected);
    }
  });

  it('emitIpv4Header at an offset writes the bytes it writes at the start, and nothing else', () => {
    const header = { source: HOST_A_IP, destination: HOST_B_IP, protocol: IpProtocol.TCP, ttl: 64, identification: 0x1234, dontFragment: true };
    const alone = new Uint8Array(IPV4_HEADER_LENGTH);
    emitIpv4Header(alone, header, 100);
    const frame = new Uint8Array(14 + IPV4_HEADER_LENGTH + 4).fill(0xaa);
    emitIpv4Header(frame, header, 100, 14);
    assert.deepEqual(frame.subarray(14, 34), alone);
    assert.ok(frame.subarray(0, 14).every((byte) => byte === 0xaa) && frame.subarray(34).every((byte) => byte === 0xaa));
    assert.throws(() => emitIpv4Header(frame, header, 100, 20), RangeError);
  });
});
