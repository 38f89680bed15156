/**
 * Fuzzing the wire parsers: a seeded corpus of damaged frames (every truncation of
 * every fixture, bit flips, random bytes, damaged length fields, TCP options that
 * run past the header or are random, with checksums repaired so the damage gets
 * past the checksum check) goes through every parser, at every layer and also
 * misaligned (the whole frame handed to each parser).
 *
 * Properties: nothing throws; every result is ok or one reason from the closed set;
 * whatever parses ok, re-emitted, parses to the same repr. The run is seeded and
 * bounded, so CI replays the same corpus; the tallies at the end make sure it
 * reached every error reason and every round trip (a fuzz run that only ever hit
 * 'truncated' would prove nothing). Each corpus runs once, on first use, into its own
 * tally, so every test gives the same answer alone, in any order, or together.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../../src/random.ts';
import { ARP_PACKET_LENGTH, emitArp, parseArp } from '../../src/wire/arp.ts';
import { emitEthernetHeader, ETHERNET_HEADER_LENGTH, parseEthernet } from '../../src/wire/ethernet.ts';
import { emitIcmp, icmpLength, parseIcmp } from '../../src/wire/icmp.ts';
import { emitIpv4Header, IPV4_HEADER_LENGTH, Ipv4Packet, isFragment, parseIpv4 } from '../../src/wire/ipv4.ts';
import type { Ipv4Repr } from '../../src/wire/ipv4.ts';
import { isWireError, WIRE_ERRORS } from '../../src/wire/result.ts';
import type { Parsed } from '../../src/wire/result.ts';
import { emitTcp, parseTcp, tcpHeaderLength, TcpPacket } from '../../src/wire/tcp.ts';
import { ALL_FRAMES, toHex } from '../fixtures/frames.ts';

const RANDOM_FRAMES = 20_000;
const CORPUS = Object.values(ALL_FRAMES);
const IP_OFFSET = ETHERNET_HEADER_LENGTH;

/** How often each outcome happened in the corpus being run. */
type Tally = Map<string, number>;

/** The tally of the corpus running now (runs are synchronous and never nest). */
let tally: Tally = new Map();
function count(name: string): void {
  tally.set(name, (tally.get(name) ?? 0) + 1);
}

/** Runs `corpus` once, on first use, into a tally of its own. */
function corpusRun(corpus: () => void): () => Tally {
  let result: Tally | undefined;
  return () => {
    if (result === undefined) {
      tally = new Map();
      corpus();
      result = tally;
    }
    return result;
  };
}

/** Checks the shape of a result and tallies it; returns the value when ok. */
function outcome<T>(layer: string, result: Parsed<T>): T | undefined {
  if (result.ok) {
    count(`${layer}.ok`);
    return result.value;
  }
  assert.ok(isWireError(result.error), `${layer}: unknown error ${String(result.error)}`);
  count(`error.${result.error}`);
  return undefined;
}

function roundTripEthernet(frame: Uint8Array): void {
  const repr = outcome('ethernet', parseEthernet(frame));
  if (repr === undefined) return;
  const bytes = new Uint8Array(ETHERNET_HEADER_LENGTH + repr.payload.length);
  emitEthernetHeader(bytes, repr.destination, repr.source, repr.etherType);
  bytes.set(repr.payload, ETHERNET_HEADER_LENGTH);
  assert.deepEqual(parseEthernet(bytes), { ok: true, value: repr });
  count('ethernet.round-trip');
}

function roundTripArp(bytes: Uint8Array): void {
  const repr = outcome('arp', parseArp(bytes));
  if (repr === undefined) return;
  const out = new Uint8Array(ARP_PACKET_LENGTH);
  emitArp(repr, out);
  assert.deepEqual(parseArp(out), { ok: true, value: repr });
  count('arp.round-trip');
}

function roundTripIpv4(repr: Ipv4Repr): void {
  // emitIpv4Header writes what this stack sends: 20 bytes, no options, never a fragment.
  const out = new Uint8Array(IPV4_HEADER_LENGTH + repr.payload.length);
  out.set(repr.payload, IPV4_HEADER_LENGTH);
  emitIpv4Header(out, repr, repr.payload.length);
  const again = parseIpv4(out);
  assert.ok(again.ok);
  const expected: Ipv4Repr = { ...repr, headerLength: IPV4_HEADER_LENGTH, moreFragments: false, fragmentOffset: 0 };
  assert.deepEqual(again.value, expected);
  if (!isFragment(repr)) count('ipv4.round-trip');
}

function checkIcmp(bytes: Uint8Array): void {
  outcome('icmp-unverified', parseIcmp(bytes, { verifyChecksum: false }));
  const repr = outcome('icmp', parseIcmp(bytes));
  if (repr === undefined) return;
  const out = new Uint8Array(icmpLength(repr));
  emitIcmp(repr, out);
  // The same bytes, except that a received checksum may be the other one's complement
  // zero: 0xffff where we compute 0x0000 (both verify, RFC 1624 §3).
  assert.deepEqual(out.subarray(4), bytes.subarray(4));
  assert.deepEqual(out.subarray(0, 2), bytes.subarray(0, 2));
  assert.deepEqual(parseIcmp(out), { ok: true, value: repr });
  count('icmp.round-trip');
}

function checkTcp(bytes: Uint8Array, source: number, destination: number): void {
  const unverified = outcome('tcp-unverified', parseTcp(bytes, source, destination, { verifyChecksum: false }));
  const verified = outcome('tcp', parseTcp(bytes, source, destination));
  for (const repr of [verified, unverified]) {
    if (repr === undefined) continue;
    const out = new Uint8Array(tcpHeaderLength(repr.options) + repr.payload.length);
    emitTcp(repr, out, source, destination);
    assert.deepEqual(parseTcp(out, source, destination), { ok: true, value: repr });
    count('tcp.round-trip');
  }
}

/** Every parser on every layer it could apply to, and each on the raw frame too. */
function exercise(frame: Uint8Array): void {
  try {
    roundTripEthernet(frame);
    roundTripArp(frame);
    checkIcmp(frame);
    checkTcp(frame, 0xc6120001, 0xc6120002);
    outcome('ipv4-raw', parseIpv4(frame));
    if (frame.length < IP_OFFSET) return;
    const network = frame.subarray(IP_OFFSET);
    roundTripArp(network);
    outcome('ipv4', parseIpv4(network));
    const ip = outcome('ipv4-unverified', parseIpv4(network, { verifyChecksum: false }));
    if (ip === undefined) return;
    roundTripIpv4(ip);
    checkIcmp(ip.payload);
    checkTcp(ip.payload, ip.source, ip.destination);
  } catch (error) {
    assert.fail(`frame ${toHex(frame)}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
}

/** Where the TCP segment of a fixture frame starts, or undefined if it has none. */
function tcpOffset(frame: Uint8Array): number | undefined {
  if (frame.length < IP_OFFSET + IPV4_HEADER_LENGTH || frame[IP_OFFSET + 9] !== 6) return undefined;
  return IP_OFFSET + ((frame[IP_OFFSET] ?? 0) & 0x0f) * 4;
}

/** Repairs the IPv4 header checksum and, for TCP, the segment checksum, if the lengths allow. */
function repairChecksums(frame: Uint8Array): void {
  const ip = new Ipv4Packet(frame.subarray(IP_OFFSET));
  if (ip.check() !== undefined) return;
  ip.fillChecksum();
  const offset = tcpOffset(frame);
  if (offset === undefined) return;
  const segment = frame.subarray(offset, IP_OFFSET + ip.totalLength);
  if (segment.length >= 20) new TcpPacket(segment).fillChecksum(ip.source, ip.destination);
}

function pick<T>(random: SeededRandom, items: readonly T[]): T {
  return items[random.uint32() % items.length]!;
}

function mutate(random: SeededRandom): Uint8Array {
  const frame = Uint8Array.from(pick(random, CORPUS));
  const byte = (): number => random.uint32() & 0xff;
  const at = (length: number): number => random.uint32() % Math.max(1, length);
  switch (random.uint32() % 8) {
    case 0: {
      // flip 1-4 bits anywhere
      const flips = 1 + (random.uint32() % 4);
      for (let i = 0; i < flips; i++) {
        const index = at(frame.length);
        frame[index] = (frame[index] ?? 0) ^ (1 << random.uint32() % 8);
      }
      return frame;
    }
    case 1: {
      // overwrite a run of bytes with random ones, then sometimes repair the checksums
      const start = at(frame.length);
      const end = Math.min(frame.length, start + 1 + (random.uint32() % 8));
      for (let i = start; i < end; i++) frame[i] = byte();
      if (random.uint32() % 2 === 0) repairChecksums(frame);
      return frame;
    }
    case 2: // random bytes of a random length
      return random.bytes(random.uint32() % 120);
    case 3: {
      // damage IPv4 version/IHL and total length, checksum repaired so the lengths are what fails
      frame[IP_OFFSET] = random.uint32() % 3 === 0 ? byte() : 0x40 | (random.uint32() % 16);
      if (random.uint32() % 2 === 0) {
        frame[IP_OFFSET + 2] = random.uint32() % 2 === 0 ? 0 : byte();
        frame[IP_OFFSET + 3] = byte();
      }
      const ip = new Ipv4Packet(frame.subarray(IP_OFFSET));
      if (frame.length >= IP_OFFSET + ip.headerLength && ip.headerLength >= 20) ip.fillChecksum();
      return frame;
    }
    case 4: {
      // damage the TCP data offset (checksums repaired)
      const offset = tcpOffset(frame);
      if (offset !== undefined) frame[offset + 12] = (random.uint32() % 16) << 4;
      repairChecksums(frame);
      return frame;
    }
    case 5: {
      // an option length that runs past the header, or is too small, or is random
      const offset = tcpOffset(frame);
      if (offset === undefined) return frame;
      const headerLength = ((frame[offset + 12] ?? 0) >> 4) * 4;
      if (headerLength <= 20) return frame;
      const optionAt = offset + 20 + at(headerLength - 20);
      frame[optionAt] = pick(random, [2, 3, 4, 5, 8, 30, byte()]);
      if (optionAt + 1 < offset + headerLength) {
        frame[optionAt + 1] = pick(random, [0, 1, headerLength, 40, byte()]);
      }
      repairChecksums(frame);
      return frame;
    }
    case 6: {
      // random option bytes throughout the header's option space
      const offset = tcpOffset(frame);
      if (offset === undefined) return frame;
      const headerLength = ((frame[offset + 12] ?? 0) >> 4) * 4;
      for (let i = offset + 20; i < offset + headerLength; i++) {
        frame[i] = random.uint32() % 3 === 0 ? pick(random, [0, 1, 2, 3, 4, 5, 8, 10, 18, 34]) : byte();
      }
      repairChecksums(frame);
      return frame;
    }
    default: {
      // truncate, then maybe add Ethernet-style padding
      const cut = frame.subarray(0, at(frame.length + 1));
      if (random.uint32() % 2 === 0) return cut;
      const padded = new Uint8Array(Math.max(60, cut.length));
      padded.set(cut);
      return padded;
    }
  }
}

const truncations = corpusRun(() => {
  for (const frame of CORPUS) {
    for (let length = 0; length <= frame.length; length++) exercise(frame.subarray(0, length));
  }
});

const mutations = corpusRun(() => {
  const random = new SeededRandom(0x9e3779b9);
  for (let i = 0; i < RANDOM_FRAMES; i++) exercise(mutate(random));
});

function total(tally: Tally): number {
  let sum = 0;
  for (const value of tally.values()) sum += value;
  return sum;
}

describe('wire parsers under fuzzing', () => {
  it('survive every truncation of every fixture', () => {
    assert.ok(total(truncations()) > 0, 'the truncations were parsed');
  });

  it(`survive ${RANDOM_FRAMES} seeded mutated frames`, () => {
    assert.ok(total(mutations()) >= RANDOM_FRAMES, 'every mutated frame was parsed');
  });

  it('reached every error reason and every round trip', () => {
    const reached: Tally = new Map();
    for (const run of [truncations(), mutations()]) {
      for (const [name, value] of run) reached.set(name, (reached.get(name) ?? 0) + value);
    }
    for (const error of WIRE_ERRORS) assert.ok((reached.get(`error.${error}`) ?? 0) > 0, `never produced '${error}'`);
    for (const layer of ['ethernet', 'arp', 'ipv4', 'icmp', 'tcp']) {
      assert.ok((reached.get(`${layer}.round-trip`) ?? 0) > 50, `too few ${layer} round trips: ${reached.get(`${layer}.round-trip`)}`);
    }
  });
});
