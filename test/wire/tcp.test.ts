import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { internetChecksum, pseudoHeaderSum, foldChecksum, sumWords } from '../../src/wire/checksum.ts';
import { parseIpv4 } from '../../src/wire/ipv4.ts';
import {
  emitTcp,
  emitTcpHeader,
  formatTcp,
  formatTcpEndpoints,
  formatTcpFlags,
  parseTcp,
  parseTcpInto,
  parseTcpOptions,
  reusableTcpRepr,
  TCP_HEADER_LENGTH,
  TcpFlag,
  tcpHeaderLength,
  TcpPacket,
} from '../../src/wire/tcp.ts';
import type { TcpOptions, TcpRepr } from '../../src/wire/tcp.ts';
import {
  fromHex,
  HOST_A_IP,
  HOST_B_IP,
  TCP_DATA_FRAME,
  TCP_RST_FRAME,
  TCP_RST_PADDED_FRAME,
  TCP_SACK_FRAME,
  TCP_SYN_ACK_FRAME,
  TCP_SYN_FRAME,
} from '../fixtures/frames.ts';

/** The TCP segment of a fixture frame: after 14 bytes of Ethernet and a 20-byte IPv4 header. */
const segmentOf = (frame: Uint8Array): Uint8Array => frame.subarray(34);

const SYN = segmentOf(TCP_SYN_FRAME);
const SYN_ACK = segmentOf(TCP_SYN_ACK_FRAME);
const DATA = segmentOf(TCP_DATA_FRAME);
const SACK = segmentOf(TCP_SACK_FRAME);
const RST = segmentOf(TCP_RST_FRAME);

const SYN_REPR: TcpRepr = {
  sourcePort: 58096,
  destinationPort: 7070,
  sequenceNumber: 3629301970,
  acknowledgmentNumber: 0,
  flags: TcpFlag.SYN,
  window: 64240,
  urgentPointer: 0,
  options: { mss: 1460, sackPermitted: true, timestamps: { value: 2731823818, echo: 0 }, windowScale: 10 },
  payload: new Uint8Array(0),
};

const SYN_ACK_REPR: TcpRepr = {
  sourcePort: 7070,
  destinationPort: 58096,
  sequenceNumber: 516143967,
  acknowledgmentNumber: 3629301971,
  flags: TcpFlag.SYN | TcpFlag.ACK,
  window: 65160,
  urgentPointer: 0,
  options: { mss: 1460, sackPermitted: true, timestamps: { value: 2190753308, echo: 2731823818 }, windowScale: 10 },
  payload: new Uint8Array(0),
};

const DATA_REPR: TcpRepr = {
  sourcePort: 58096,
  destinationPort: 7070,
  sequenceNumber: 3629301971,
  acknowledgmentNumber: 516143968,
  flags: TcpFlag.PSH | TcpFlag.ACK,
  window: 63,
  urgentPointer: 0,
  options: { timestamps: { value: 2731823818, echo: 2190753308 } },
  payload: new TextEncoder().encode('PUT t 21.5\n'),
};

const SACK_REPR: TcpRepr = {
  sourcePort: 7070,
  destinationPort: 58096,
  sequenceNumber: 516143968,
  acknowledgmentNumber: 3629301983,
  flags: TcpFlag.ACK,
  window: 64,
  urgentPointer: 0,
  options: {
    timestamps: { value: 2190753400, echo: 2731823900 },
    sackBlocks: [
      [3629303431, 3629304891],
      [3629306351, 3629307811],
    ],
  },
  payload: new Uint8Array(0),
};

const RST_REPR: TcpRepr = {
  sourcePort: 7071,
  destinationPort: 39234,
  sequenceNumber: 0,
  acknowledgmentNumber: 926154722,
  flags: TcpFlag.RST | TcpFlag.ACK,
  window: 0,
  urgentPointer: 0,
  options: {},
  payload: new Uint8Array(0),
};

/** [fixture segment, repr, source, destination] for every captured or synthetic TCP frame. */
const CASES: [string, Uint8Array, TcpRepr, number, number][] = [
  ['SYN', SYN, SYN_REPR, HOST_A_IP, HOST_B_IP],
  ['SYN-ACK', SYN_ACK, SYN_ACK_REPR, HOST_B_IP, HOST_A_IP],
  ['data', DATA, DATA_REPR, HOST_A_IP, HOST_B_IP],
  ['SACK', SACK, SACK_REPR, HOST_B_IP, HOST_A_IP],
  ['RST', RST, RST_REPR, HOST_B_IP, HOST_A_IP],
];

/**
 * A segment from A to B whose options are `optionHex` (padded with NOPs in front
 * to a multiple of 4, so the last option byte stays the header's last byte), with a
 * correct checksum, so that parsing gets as far as the options.
 */
function segmentWithOptions(optionHex: string, payload = new Uint8Array(0)): Uint8Array {
  const options = fromHex(optionHex);
  const padding = (4 - (options.length % 4)) % 4;
  const headerLength = TCP_HEADER_LENGTH + padding + options.length;
  const bytes = new Uint8Array(headerLength + payload.length);
  const view = new TcpPacket(bytes);
  view.sourcePort = 40000;
  view.destinationPort = 7070;
  view.sequenceNumber = 1;
  view.headerLength = headerLength;
  view.flags = TcpFlag.SYN;
  view.window = 1000;
  bytes.fill(1, TCP_HEADER_LENGTH, TCP_HEADER_LENGTH + padding);
  bytes.set(options, TCP_HEADER_LENGTH + padding);
  bytes.set(payload, headerLength);
  view.fillChecksum(HOST_A_IP, HOST_B_IP);
  return bytes;
}

function optionsOf(optionHex: string): ReturnType<typeof parseTcp> {
  return parseTcp(segmentWithOptions(optionHex), HOST_A_IP, HOST_B_IP);
}

function emitted(repr: TcpRepr, source = HOST_A_IP, destination = HOST_B_IP): Uint8Array {
  const bytes = new Uint8Array(tcpHeaderLength(repr.options) + repr.payload.length);
  emitTcp(repr, bytes, source, destination);
  return bytes;
}

function forbidCopy(bytes: Uint8Array): void {
  Object.defineProperty(bytes, 'set', {
    value: () => {
      throw new Error('payload was copied');
    },
  });
}

describe('TCP segments (RFC 9293 §3.1)', () => {
  it("deconstructs Linux's SYN through the view", () => {
    const view = new TcpPacket(SYN);
    assert.equal(view.check(), undefined);
    assert.equal(view.sourcePort, 58096);
    assert.equal(view.destinationPort, 7070);
    assert.equal(view.sequenceNumber, 3629301970);
    assert.equal(view.acknowledgmentNumber, 0);
    assert.equal(view.headerLength, 40);
    assert.equal(view.flags, TcpFlag.SYN);
    assert.equal(view.window, 64240);
    assert.equal(view.checksum, 0x3391);
    assert.equal(view.urgentPointer, 0);
    assert.deepEqual(view.options, fromHex('02 04 05 b4  04 02  08 0a a2 d4 52 ca 00 00 00 00  01  03 03 0a'));
    assert.equal(view.payload.length, 0);
    assert.equal(view.verifyChecksum(HOST_A_IP, HOST_B_IP), true);
    assert.equal(view.verifyChecksum(HOST_A_IP, 0xc6120003), false, 'the pseudo header counts');
  });

  it('constructs the captured data segment through the view setters', () => {
    const bytes = new Uint8Array(DATA.length);
    const view = new TcpPacket(bytes);
    view.sourcePort = 58096;
    view.destinationPort = 7070;
    view.sequenceNumber = 3629301971;
    view.acknowledgmentNumber = 516143968;
    view.headerLength = 32;
    view.flags = TcpFlag.PSH | TcpFlag.ACK;
    view.window = 63;
    view.urgentPointer = 0;
    view.options.set(fromHex('01 01 08 0a a2 d4 52 ca 82 94 3e 1c'));
    view.payload.set(new TextEncoder().encode('PUT t 21.5\n'));
    view.fillChecksum(HOST_A_IP, HOST_B_IP);
    assert.equal(view.checksum, 0x3f1e, "Linux's checksum");
    assert.deepEqual(bytes, DATA);
  });

  it('parses every fixture into its repr', () => {
    for (const [name, segment, repr, source, destination] of CASES) {
      assert.deepEqual(parseTcp(segment, source, destination), { ok: true, value: repr }, name);
    }
  });

  it('parses the padded RST after IPv4 trimmed the Ethernet padding', () => {
    const ip = parseIpv4(TCP_RST_PADDED_FRAME.subarray(14));
    assert.ok(ip.ok);
    assert.deepEqual(parseTcp(ip.value.payload, ip.value.source, ip.value.destination), { ok: true, value: RST_REPR });
  });

  it('returns the payload as a view into the segment', () => {
    const parsed = parseTcp(DATA, HOST_A_IP, HOST_B_IP);
    assert.ok(parsed.ok);
    assert.equal(parsed.value.payload.buffer, TCP_DATA_FRAME.buffer);
    assert.equal(parsed.value.payload.byteOffset, TCP_DATA_FRAME.byteOffset + 34 + 32);
  });

  it("emits every fixture byte for byte (Linux's option layout and checksums)", () => {
    for (const [name, segment, repr, source, destination] of CASES) {
      assert.equal(tcpHeaderLength(repr.options), new TcpPacket(segment).headerLength, name);
      assert.deepEqual(emitted(repr, source, destination), segment, name);
    }
  });

  it('round-trips parse → emit → parse', () => {
    for (const [name, segment, , source, destination] of CASES) {
      const parsed = parseTcp(segment, source, destination);
      assert.ok(parsed.ok, name);
      const again = parseTcp(emitted(parsed.value, source, destination), source, destination);
      assert.deepEqual(again, parsed, name);
    }
  });

  it('keeps sequence, acknowledgment, timestamp and SACK values near 2^32 unsigned', () => {
    const repr: TcpRepr = {
      ...DATA_REPR,
      sequenceNumber: 0xffffffff,
      acknowledgmentNumber: 0xfffffffe,
      options: { timestamps: { value: 0xffffffff, echo: 0x80000000 }, sackBlocks: [[0xfffffff0, 0x10]] },
    };
    const parsed = parseTcp(emitted(repr), HOST_A_IP, HOST_B_IP);
    assert.deepEqual(parsed, { ok: true, value: repr });
  });

  it('takes sequence numbers modulo 2^32 (signed or overflowed arithmetic in the caller)', () => {
    const repr: TcpRepr = { ...DATA_REPR, sequenceNumber: -1, acknowledgmentNumber: 0x1_0000_0005 };
    const parsed = parseTcp(emitted(repr), HOST_A_IP, HOST_B_IP);
    assert.ok(parsed.ok);
    assert.equal(parsed.value.sequenceNumber, 0xffffffff);
    assert.equal(parsed.value.acknowledgmentNumber, 5);
  });

  it('copies the payload unless it already sits after the header', () => {
    const headerLength = tcpHeaderLength(DATA_REPR.options);
    const bytes = new Uint8Array(headerLength + DATA_REPR.payload.length);
    bytes.set(DATA_REPR.payload, headerLength);
    forbidCopy(bytes);
    emitTcp({ ...DATA_REPR, payload: bytes.subarray(headerLength) }, bytes, HOST_A_IP, HOST_B_IP);
    assert.deepEqual(bytes, DATA);
    assert.throws(() => emitTcp(DATA_REPR, bytes, HOST_A_IP, HOST_B_IP), /payload was copied/);
  });

  it('computes checksums over odd-length payloads like an independent implementation', () => {
    for (const length of [1, 2, 3, 1459, 1460]) {
      const payload = new Uint8Array(length).map((_, i) => (i * 31 + length) & 0xff);
      const bytes = emitted({ ...DATA_REPR, payload });
      const view = new TcpPacket(bytes);
      const checksum = view.checksum;
      view.checksum = 0;
      const pseudo = fromHex(`c6 12 00 01  c6 12 00 02  00 06 ${(bytes.length >> 8).toString(16).padStart(2, '0')} ${(bytes.length & 0xff).toString(16).padStart(2, '0')}`);
      const whole = new Uint8Array(pseudo.length + bytes.length);
      whole.set(pseudo);
      whole.set(bytes, pseudo.length);
      assert.equal(checksum, internetChecksum(whole), `length ${length}`);
      view.checksum = checksum;
      assert.equal(parseTcp(bytes, HOST_A_IP, HOST_B_IP).ok, true);
    }
  });

  it('checksums only the segment when the buffer is longer', () => {
    const bytes = new Uint8Array(DATA.length + 7).fill(0x5a);
    emitTcp(DATA_REPR, bytes, HOST_A_IP, HOST_B_IP);
    assert.deepEqual(bytes.subarray(0, DATA.length), DATA);
  });

  describe('malformed segments', () => {
    it('reports fewer than 20 bytes as truncated', () => {
      for (let length = 0; length < TCP_HEADER_LENGTH; length++) {
        assert.deepEqual(parseTcp(SYN.subarray(0, length), HOST_A_IP, HOST_B_IP), { ok: false, error: 'truncated' });
      }
    });

    it('rejects a data offset below 5 words or past the segment', () => {
      for (const offsetWords of [0, 1, 4]) {
        const bytes = Uint8Array.from(RST);
        bytes[12] = offsetWords << 4;
        assert.deepEqual(parseTcp(bytes, HOST_B_IP, HOST_A_IP), { ok: false, error: 'bad-data-offset' }, `${offsetWords}`);
      }
      for (let length = TCP_HEADER_LENGTH; length < SYN.length; length++) {
        // The SYN's data offset says 40 bytes: any shorter cut leaves the header incomplete.
        assert.deepEqual(parseTcp(SYN.subarray(0, length), HOST_A_IP, HOST_B_IP), { ok: false, error: 'bad-data-offset' });
      }
    });

    it('rejects a wrong checksum, a wrong pseudo header, and accepts both when told not to verify', () => {
      const bytes = Uint8Array.from(DATA);
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0x01;
      assert.deepEqual(parseTcp(bytes, HOST_A_IP, HOST_B_IP), { ok: false, error: 'bad-checksum' });
      assert.equal(parseTcp(bytes, HOST_A_IP, HOST_B_IP, { verifyChecksum: false }).ok, true);
      assert.deepEqual(parseTcp(DATA, HOST_A_IP, 0xc6120003), { ok: false, error: 'bad-checksum' });
    });

    it('reports a corrupted option region as bad-checksum first (options are not trusted before)', () => {
      const bytes = Uint8Array.from(SYN);
      bytes[21] = 0; // MSS option length 0
      assert.deepEqual(parseTcp(bytes, HOST_A_IP, HOST_B_IP), { ok: false, error: 'bad-checksum' });
      assert.deepEqual(parseTcp(bytes, HOST_A_IP, HOST_B_IP, { verifyChecksum: false }), { ok: false, error: 'bad-option' });
    });
  });

  describe('options (RFC 9293 §3.2, RFC 7323, RFC 2018)', () => {
    it('parses MSS, window scale, SACK-permitted, timestamps and SACK blocks', () => {
      assert.deepEqual(parseTcpOptions(fromHex('02 04 02 18  01 03 03 07')), { ok: true, value: { mss: 536, windowScale: 7 } });
      const sack = parseTcpOptions(fromHex('05 22 00000001 00000002 00000003 00000004 00000005 00000006 00000007 00000008'));
      assert.deepEqual(sack, { ok: true, value: { sackBlocks: [[1, 2], [3, 4], [5, 6], [7, 8]] } });
    });

    it('clamps a window scale above 14 to 14 (RFC 7323 §2.3)', () => {
      for (const shift of [14, 15, 255]) {
        const parsed = optionsOf(`01 03 03 ${shift.toString(16).padStart(2, '0')}`);
        assert.ok(parsed.ok);
        assert.equal(parsed.value.options.windowScale, 14, `shift ${shift}`);
      }
    });

    it('stops at End of Option List, whatever follows', () => {
      const parsed = optionsOf('02 04 05 b4  00 02 00 ff'); // after EOL: an MSS with length 0
      assert.deepEqual(parsed.ok && parsed.value.options, { mss: 1460 });
    });

    it('skips unknown kinds by their length', () => {
      const parsed = optionsOf('1e 06 00 01 02 03  02 04 05 b4  01 01'); // kind 30 (MPTCP), then MSS
      assert.deepEqual(parsed.ok && parsed.value.options, { mss: 1460 });
      const empty = optionsOf('fe 02 01 01'); // experimental kind 254 with no data
      assert.deepEqual(empty.ok && empty.value.options, {});
    });

    it('lets the last of a repeated option win', () => {
      const parsed = optionsOf('02 04 05 b4  02 04 02 18');
      assert.deepEqual(parsed.ok && parsed.value.options, { mss: 536 });
    });

    const BAD_OPTIONS: [string, string][] = [
      ['a length of 0', '02 00 05 b4'],
      ['a length of 1', '1e 01 01 01'],
      ['an option running past the header', '01 02 04 05'], // MSS of length 4 with 2 bytes left
      ['a length byte past the header', '01 01 01 08'], // timestamps kind is the last byte
      ['an unknown kind running past the header', '1e 08 00 00'],
      ['MSS of length 3', '02 03 05 01'],
      ['MSS of length 6', '02 06 05 b4 00 00 01 01'],
      ['window scale of length 4', '03 04 07 00'],
      ['SACK-permitted of length 3', '04 03 00 01'],
      ['timestamps of length 8', '08 08 00 00 00 01 00 00'],
      ['SACK with no blocks', '01 01 05 02'],
      ['SACK with a partial block', '05 0b 00 00 00 01 00 00 00 02 00'],
    ];
    for (const [name, hex] of BAD_OPTIONS) {
      it(`rejects ${name} as bad-option`, () => {
        assert.deepEqual(optionsOf(hex), { ok: false, error: 'bad-option' });
      });
    }

    it('rejects more than four SACK blocks even outside a 40-byte header', () => {
      const fiveBlocks = `05 2a ${'00000001 '.repeat(10)}`;
      assert.deepEqual(parseTcpOptions(fromHex(fiveBlocks)), { ok: false, error: 'bad-option' });
    });
  });

  describe('header length and option layout', () => {
    const LAYOUTS: [string, TcpOptions, string][] = [
      ['none', {}, ''],
      ['MSS', { mss: 1460 }, '02 04 05 b4'],
      ['SACK-permitted alone', { sackPermitted: true }, '01 01 04 02'],
      ['timestamps alone', { timestamps: { value: 1, echo: 2 } }, '01 01 08 0a 00000001 00000002'],
      ['window scale alone', { windowScale: 7 }, '01 03 03 07'],
      ['SACK-permitted false is absent', { sackPermitted: false, mss: 536 }, '02 04 02 18'],
      ['an empty SACK list is absent', { sackBlocks: [] }, ''],
      ['MSS + SACK-permitted + window scale (no timestamps)', { mss: 536, sackPermitted: true, windowScale: 0 }, '02 04 02 18  01 01 04 02  01 03 03 00'],
      [
        'timestamps + three SACK blocks (60 bytes)',
        { timestamps: { value: 9, echo: 8 }, sackBlocks: [[1, 2], [3, 4], [5, 6]] },
        '01 01 08 0a 00000009 00000008  01 01 05 1a 00000001 00000002 00000003 00000004 00000005 00000006',
      ],
      [
        'packed when the aligned form would not fit: MSS + SACK-permitted + four blocks',
        { mss: 1460, sackPermitted: true, sackBlocks: [[1, 2], [3, 4], [5, 6], [7, 8]] },
        '02 04 05 b4  04 02  05 22 00000001 00000002 00000003 00000004 00000005 00000006 00000007 00000008',
      ],
    ];
    for (const [name, options, hex] of LAYOUTS) {
      it(`lays out ${name}`, () => {
        const expected = fromHex(hex);
        assert.equal(tcpHeaderLength(options), TCP_HEADER_LENGTH + expected.length);
        const bytes = emitted({ ...RST_REPR, options });
        assert.deepEqual(new TcpPacket(bytes).options, expected);
        const parsed = parseTcp(bytes, HOST_A_IP, HOST_B_IP);
        assert.ok(parsed.ok);
        const normalised = { ...options };
        if (normalised.sackPermitted === false) delete normalised.sackPermitted;
        if (normalised.sackBlocks?.length === 0) delete normalised.sackBlocks;
        assert.deepEqual(parsed.value.options, normalised);
      });
    }

    it('uses the aligned layout whenever it fits, even at exactly 40 bytes', () => {
      // 4 (MSS) + 12 (SACK-permitted, timestamps) + 4 (NOP, window scale) + 20 (NOP NOP, two blocks) = 40.
      const options: TcpOptions = { mss: 1, sackPermitted: true, timestamps: { value: 1, echo: 1 }, windowScale: 1, sackBlocks: [[1, 2], [3, 4]] };
      assert.equal(tcpHeaderLength(options), 60);
      const bytes = emitted({ ...RST_REPR, options });
      assert.deepEqual(new TcpPacket(bytes).options.subarray(16, 22), fromHex('01 03 03 01 01 01'), 'NOP-aligned');
      // 4 (NOP, window scale) + 36 (NOP NOP, four blocks) = 40.
      assert.equal(tcpHeaderLength({ windowScale: 2, sackBlocks: [[1, 2], [3, 4], [5, 6], [7, 8]] }), 60);
    });

    it('falls back to a packed layout padded with End of Option List zeros', () => {
      // Aligned: 4 + 4 + 36 = 44 bytes, too many. Packed: 2 + 3 + 34 = 39, padded to 40.
      const options: TcpOptions = { sackPermitted: true, windowScale: 2, sackBlocks: [[1, 2], [3, 4], [5, 6], [7, 8]] };
      assert.equal(tcpHeaderLength(options), 60);
      const bytes = emitted({ ...RST_REPR, options });
      assert.deepEqual(new TcpPacket(bytes).options.subarray(0, 7), fromHex('04 02  03 03 02  05 22'));
      assert.equal(bytes[59], 0, 'zero padding');
      assert.deepEqual(parseTcp(bytes, HOST_A_IP, HOST_B_IP), { ok: true, value: { ...RST_REPR, options } });
    });

    it('throws for options that cannot fit in 40 bytes even packed', () => {
      // Timestamps + four blocks: 10 + 34 = 44 bytes however they are laid out.
      assert.throws(() => tcpHeaderLength({ timestamps: { value: 1, echo: 1 }, sackBlocks: [[1, 2], [3, 4], [5, 6], [7, 8]] }), RangeError);
    });
  });

  describe('formatting (tcpdump style)', () => {
    it('formats the contract example', () => {
      const repr: TcpRepr = { ...RST_REPR, flags: TcpFlag.SYN | TcpFlag.ACK, sequenceNumber: 1, acknowledgmentNumber: 1, window: 512, options: { mss: 1460 } };
      assert.equal(formatTcp(repr), 'Flags [S.], seq 1, ack 1, win 512, options [mss 1460], length 0');
    });

    it('formats the captured segments like tcpdump -S', () => {
      assert.equal(
        formatTcp(SYN_REPR),
        'Flags [S], seq 3629301970, win 64240, options [mss 1460,sackOK,TS val 2731823818 ecr 0,wscale 10], length 0',
      );
      assert.equal(
        formatTcp(DATA_REPR),
        'Flags [P.], seq 3629301971:3629301982, ack 516143968, win 63, options [TS val 2731823818 ecr 2190753308], length 11',
      );
      assert.equal(formatTcp(RST_REPR), 'Flags [R.], seq 0, ack 926154722, win 0, length 0');
      assert.match(formatTcp(SACK_REPR), /options \[TS val 2190753400 ecr 2731823900,sack 2 \{3629303431:3629304891\}\{3629306351:3629307811\}\]/);
      assert.equal(formatTcpEndpoints(HOST_A_IP, HOST_B_IP, SYN_REPR), '198.18.0.1.58096 > 198.18.0.2.7070');
    });

    it('wraps the end of a data range past 2^32, and names every flag', () => {
      const repr: TcpRepr = { ...DATA_REPR, sequenceNumber: 0xfffffffa };
      assert.match(formatTcp(repr), /seq 4294967290:5,/);
      assert.equal(formatTcpFlags(0), 'none');
      assert.equal(formatTcpFlags(0xff), 'FSRP.UEW');
      assert.match(formatTcp({ ...RST_REPR, flags: TcpFlag.URG | TcpFlag.ACK, urgentPointer: 3 }), /Flags \[\.U\], .* urg 3, length 0/);
    });
  });

  it('throws on programmer errors when emitting', () => {
    const buffer = new Uint8Array(100);
    for (const bad of [
      { window: 65536 },
      { window: -1 },
      { sourcePort: 70000 },
      { destinationPort: 1.5 },
      { flags: 0x100 },
      { urgentPointer: 0x10000 },
      { options: { windowScale: 15 } },
      { options: { mss: 65536 } },
      { options: { sackBlocks: [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]] as [number, number][] } },
    ]) {
      assert.throws(() => emitTcp({ ...RST_REPR, ...bad }, buffer, HOST_A_IP, HOST_B_IP), RangeError, JSON.stringify(bad));
    }
    assert.throws(() => emitTcp(DATA_REPR, new Uint8Array(DATA.length - 1), HOST_A_IP, HOST_B_IP), RangeError);
  });

  it('agrees with the checksum module: verifying is fold(pseudo + segment) === 0', () => {
    const sum = sumWords(SYN, pseudoHeaderSum(HOST_A_IP, HOST_B_IP, 6, SYN.length));
    assert.equal(foldChecksum(sum), 0);
  });
});

describe('TCP receive and send paths without allocation (issue 13)', () => {
  /** The repr's values as parseTcp gives them: absent options dropped. */
  function plain(repr: TcpRepr & { scratch?: unknown }): TcpRepr {
    const { scratch: _scratch, ...fields } = repr;
    const options: TcpOptions = {};
    for (const [key, value] of Object.entries(repr.options)) {
      if (value !== undefined) (options as Record<string, unknown>)[key] = Array.isArray(value) ? value.map((block: unknown) => [...(block as number[])]) : typeof value === 'object' ? { ...value } : value;
    }
    return { ...fields, options, payload: Uint8Array.from(repr.payload) };
  }

  it('parseTcpInto gives parseTcp\'s values for every captured segment, reusing one repr', () => {
    const into = reusableTcpRepr();
    const optionsObject = into.options;
    // SACK after SYN after DATA...: a later segment must not keep options of an earlier one.
    for (const segment of [SYN, SACK, DATA, SYN_ACK, SACK, RST, SYN]) {
      const expected = parseTcp(segment, HOST_A_IP, HOST_B_IP, { verifyChecksum: false });
      assert.ok(expected.ok);
      assert.equal(parseTcpInto(segment, HOST_A_IP, HOST_B_IP, into, false), undefined);
      assert.deepEqual(plain(into), { ...expected.value, payload: Uint8Array.from(expected.value.payload) });
      assert.equal(into.options, optionsObject, 'the options object is reused');
    }
  });

  it('parseTcpInto returns parseTcp\'s error for broken segments, checksum included', () => {
    const into = reusableTcpRepr();
    const badChecksum = Uint8Array.from(DATA);
    badChecksum[badChecksum.length - 1]! ^= 0xff;
    const badOffset = Uint8Array.from(SYN);
    badOffset[12] = 0x40; // 16 bytes: below the minimum
    const badOption = Uint8Array.from(SYN);
    badOption[21] = 1; // the MSS option's length
    for (const [bytes, verify] of [
      [SYN.subarray(0, 19), true],
      [badOffset, false],
      [badChecksum, true],
      [badOption, false],
    ] as const) {
      const expected = parseTcp(bytes, HOST_A_IP, HOST_B_IP, { verifyChecksum: verify });
      assert.equal(expected.ok, false);
      assert.equal(parseTcpInto(bytes, HOST_A_IP, HOST_B_IP, into, verify), expected.ok ? undefined : expected.error);
    }
  });

  it('parseTcpInto of bytes[start, end) inside a larger buffer reads what it reads of that range alone', () => {
    const alone = reusableTcpRepr();
    const inside = reusableTcpRepr();
    for (const segment of [SYN, SACK, DATA, SYN_ACK, RST]) {
      // 34 bytes before (an Ethernet and IPv4 header), 6 after (link padding).
      const frame = new Uint8Array(34 + segment.length + 6).fill(0xee);
      frame.set(segment, 34);
      assert.equal(parseTcpInto(segment, HOST_A_IP, HOST_B_IP, alone, true), undefined);
      assert.equal(parseTcpInto(frame, HOST_A_IP, HOST_B_IP, inside, true, 34, 34 + segment.length), undefined);
      assert.deepEqual(plain(inside), plain(alone));
      if (inside.payload.length > 0) assert.equal(inside.payload.buffer, frame.buffer, 'the payload is a view into the frame');
    }
    const badChecksum = new Uint8Array(34 + DATA.length + 6);
    badChecksum.set(DATA, 34);
    badChecksum[34 + DATA.length - 1]! ^= 0xff;
    assert.equal(parseTcpInto(badChecksum, HOST_A_IP, HOST_B_IP, inside, true, 34, 34 + DATA.length), 'bad-checksum');
    assert.equal(parseTcpInto(badChecksum, HOST_A_IP, HOST_B_IP, inside, false, 34, 34 + 19), 'truncated');
  });

  it('parseTcpInto reuses the SACK tuples and timestamp pair: values must be copied, not kept', () => {
    const into = reusableTcpRepr();
    assert.equal(parseTcpInto(SACK, HOST_A_IP, HOST_B_IP, into, true), undefined);
    const firstBlocks = into.options.sackBlocks;
    assert.ok(firstBlocks !== undefined && firstBlocks.length > 0);
    const firstLeft = firstBlocks[0]![0];
    const other = Uint8Array.from(SACK);
    const sackAt = other.indexOf(5, TCP_HEADER_LENGTH); // kind 5 (the fixture's options hold no other 5 before it)
    other[sackAt + 2]! ^= 0x01; // the first block's left edge changes
    assert.equal(parseTcpInto(other, HOST_A_IP, HOST_B_IP, into, false), undefined);
    assert.equal(into.options.sackBlocks, firstBlocks, 'same tuples');
    assert.notEqual(into.options.sackBlocks![0]![0], firstLeft);
  });

  it('emitTcpHeader around a payload already in place writes the bytes emitTcp writes', () => {
    const repr: TcpRepr = {
      sourcePort: 7070,
      destinationPort: 58096,
      sequenceNumber: 0xfffffff0,
      acknowledgmentNumber: 12345,
      flags: TcpFlag.ACK | TcpFlag.PSH,
      window: 501,
      urgentPointer: 0,
      options: { timestamps: { value: 1, echo: 2 } },
      payload: Uint8Array.from({ length: 101 }, (_, index) => index * 7),
    };
    const headerLength = tcpHeaderLength(repr.options);
    const reference = new Uint8Array(headerLength + repr.payload.length);
    emitTcp(repr, reference, HOST_A_IP, HOST_B_IP);
    const built = new Uint8Array(headerLength + repr.payload.length);
    built.set(repr.payload, headerLength);
    emitTcpHeader(repr, repr.payload.length, built, HOST_A_IP, HOST_B_IP);
    assert.deepEqual(built, reference);
    assert.throws(() => emitTcpHeader(repr, repr.payload.length + 1, built, HOST_A_IP, HOST_B_IP), RangeError);
    assert.throws(() => emitTcpHeader({ ...repr, window: 0x10000 }, 0, built, HOST_A_IP, HOST_B_IP), RangeError);

    // At an offset (the send path writes into the frame itself): the same bytes there,
    // nothing before them touched, the bounds checked from the offset.
    for (const offset of [34, 35]) {
      const frame = new Uint8Array(offset + headerLength + repr.payload.length).fill(0xee);
      frame.set(repr.payload, offset + headerLength);
      emitTcpHeader(repr, repr.payload.length, frame, HOST_A_IP, HOST_B_IP, offset);
      assert.deepEqual(frame.subarray(offset), reference, `offset ${offset}`);
      assert.ok(frame.subarray(0, offset).every((byte) => byte === 0xee), `bytes before offset ${offset} untouched`);
      assert.throws(() => emitTcpHeader(repr, repr.payload.length + 1, frame, HOST_A_IP, HOST_B_IP, offset), RangeError);
    }
  });
});
