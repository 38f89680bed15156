/**
 * The loss bench's stall measure from the wire (bench/lib/wire-stall.ts) against
 * hand-built captures: a pcap file written here frame by frame (Ethernet, IPv4, TCP
 * headers; payload lengths from the IP total length, as in a headers-only capture), so
 * the progress rules are checked at exact microseconds: push counts the device's
 * cumulative ACK, pull and echo the in-order edge (a segment beyond a hole counts when
 * the hole is filled), pull is timed from the first data byte, an echo stall is the
 * server's when the device held acknowledged data it had not echoed, and a transfer that
 * never completed counts its tail.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { measureWireStall, readPcap } from '../../bench/lib/wire-stall.ts';

const PORT = 19;
const CLIENT_PORT = 40_000;
const CLIENT_ISN = 1000;
const DEVICE_ISN = 5_000_000;
const SYN = 0x02;
const ACK = 0x10;

interface Frame {
  us: number;
  fromClient: boolean;
  flags: number;
  /** Relative to the sender's ISN + 1 (the SYN's own number when `flags` has SYN). */
  seq: number;
  /** Relative to the other side's ISN + 1. */
  ack: number;
  payload: number;
}

/** A classic pcap file (microsecond timestamps, Ethernet) of `frames`, 54 bytes captured each. */
function pcap(frames: readonly Frame[]): Uint8Array {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(128, 16);
  header.writeUInt32LE(1, 20);
  const records = frames.map((frame) => {
    const record = Buffer.alloc(16 + 54);
    record.writeUInt32LE(Math.floor(frame.us / 1e6), 0);
    record.writeUInt32LE(frame.us % 1e6, 4);
    record.writeUInt32LE(54, 8);
    record.writeUInt32LE(54 + frame.payload, 12);
    const data = record.subarray(16);
    data.writeUInt16BE(0x0800, 12);
    data.writeUInt8(0x45, 14);
    data.writeUInt16BE(40 + frame.payload, 16);
    data.writeUInt8(6, 23);
    const [sourceIsn, otherIsn] = frame.fromClient ? [CLIENT_ISN, DEVICE_ISN] : [DEVICE_ISN, CLIENT_ISN];
    data.writeUInt16BE(frame.fromClient ? CLIENT_PORT : PORT, 34);
    data.writeUInt16BE(frame.fromClient ? PORT : CLIENT_PORT, 36);
    data.writeUInt32BE((frame.flags & SYN ? sourceIsn : sourceIsn + 1 + frame.seq) >>> 0, 38);
    data.writeUInt32BE((otherIsn + 1 + frame.ack) >>> 0, 42);
    data.writeUInt8(0x50, 46);
    data.writeUInt8(frame.flags, 47);
    return record;
  });
  return new Uint8Array(Buffer.concat([header, ...records]));
}

const handshake: Frame[] = [
  { us: 0, fromClient: true, flags: SYN, seq: 0, ack: -1, payload: 0 },
  { us: 100, fromClient: false, flags: SYN | ACK, seq: 0, ack: 0, payload: 0 },
  { us: 200, fromClient: true, flags: ACK, seq: 0, ack: 0, payload: 0 },
];
const fromDevice = (us: number, seq: number, payload: number, ack = 0): Frame => ({ us, fromClient: false, flags: ACK, seq, ack, payload });
const fromClient = (us: number, seq: number, payload: number, ack = 0): Frame => ({ us, fromClient: true, flags: ACK, seq, ack, payload });

describe('the loss bench\'s stall from the wire (bench/lib/wire-stall.ts)', () => {
  it('reads a pcap file back frame by frame with its timestamps', () => {
    const frames = readPcap(pcap([...handshake, fromDevice(1_500_000, 0, 100)]));
    assert.deepEqual(frames.map((frame) => frame.timeUs), [0, 100, 200, 1_500_000]);
    assert.equal(frames[3]!.data.length, 54);
  });

  it('pull: the in-order edge, timed from the first data byte; a segment beyond a hole counts when the hole is filled', () => {
    const frames = readPcap(
      pcap([
        ...handshake,
        fromClient(300, 0, 0),
        // The first byte 1 s after the handshake: not a stall (a lost handshake ACK).
        fromDevice(1_000_000, 0, 500),
        fromDevice(1_000_100, 1000, 500), // beyond the hole [500, 1000): no progress
        fromDevice(1_000_200, 1500, 500), // still beyond
        fromDevice(1_203_000, 500, 500), // the hole filled 203 ms after the last progress: the edge jumps to 2000
        fromDevice(1_210_000, 2000, 1000),
      ]),
    );
    const stall = measureWireStall(frames, 'pull', PORT, 3000);
    assert.equal(stall.longestStallMs, 203);
    assert.equal(stall.stallAtByte, 500);
    assert.equal(stall.completed, true);
    assert.equal(stall.serverStallMs, null);
  });

  it('push: the device\'s cumulative ACK arriving, from the client\'s first data; SACK-only ACKs are no progress', () => {
    const frames = readPcap(
      pcap([
        ...handshake,
        fromClient(10_000, 0, 1000),
        fromClient(10_010, 1000, 1000),
        fromDevice(10_500, 0, 0, 1000), // ACK 1000: 0.5 ms
        fromDevice(11_000, 0, 0, 1000), // a duplicate: no progress
        fromDevice(60_500, 0, 0, 2000), // 50 ms later
      ]),
    );
    const stall = measureWireStall(frames, 'push', PORT, 2000);
    assert.equal(stall.longestStallMs, 50);
    assert.equal(stall.stallAtByte, 1000);
    assert.equal(stall.completed, true);
  });

  it('echo: each stall charged to the side that held it up, by what the device had acknowledged and not yet echoed', () => {
    const frames = readPcap(
      pcap([
        ...handshake,
        fromClient(1000, 0, 1000),
        fromDevice(2000, 0, 500, 1000), // echoes 500 and acknowledges all 1000: holds 500
        fromDevice(42_000, 500, 500, 1000), // 40 ms later: the server's own sending stalled
        fromClient(42_100, 1000, 1000),
        fromDevice(142_100, 1000, 1000, 2000), // 100.1 ms with nothing held: the client's sending
      ]),
    );
    const stall = measureWireStall(frames, 'echo', PORT, 2000);
    assert.equal(stall.serverStallMs, 40);
    assert.equal(stall.clientStallMs, 100.1);
    assert.equal(stall.longestStallMs, 100.1);
  });

  it('a transfer that did not complete counts its tail up to the last frame', () => {
    const frames = readPcap(pcap([...handshake, fromDevice(1000, 0, 1000), fromDevice(2000, 1000, 1000), fromClient(302_000, 0, 0, 2000)]));
    const stall = measureWireStall(frames, 'pull', PORT, 10_000);
    assert.equal(stall.completed, false);
    assert.equal(stall.longestStallMs, 300);
  });
});
