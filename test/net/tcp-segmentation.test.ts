/**
 * The software cut of a TCP/IPv4 super-frame (src/net/tcp-segmentation.ts), against the
 * rules of Linux's tcp_gso_segment: headers and options in every piece, SEG.SEQ and the
 * IPv4 identification advanced per piece, FIN/PSH on the last piece only, CWR on the
 * first only, checksums (IPv4 and TCP) valid when the seed is the pseudo-header sum over
 * the whole TCP length, and wrong when it is not.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { segmentTcpFrame, superFrameLayout } from '../../src/net/tcp-segmentation.ts';
import { emitEthernetHeader, EtherType, ETHERNET_HEADER_LENGTH } from '../../src/wire/ethernet.ts';
import { emitIpv4Header, IpProtocol, IPV4_HEADER_LENGTH, parseIpv4 } from '../../src/wire/ipv4.ts';
import { emitTcpHeader, parseTcp, TcpFlag, tcpHeaderLength, type TcpRepr } from '../../src/wire/tcp.ts';

const SOURCE = 0xc6120002; // 198.18.0.2
const DESTINATION = 0xc6120001; // 198.18.0.1

function superFrame(payload: Uint8Array, flags: number, partialChecksum = true): Uint8Array {
  const header: Omit<TcpRepr, 'payload'> = {
    sourcePort: 19,
    destinationPort: 40_000,
    sequenceNumber: 0xfffff000, // wraps inside the super-segment
    acknowledgmentNumber: 77,
    flags,
    window: 512,
    urgentPointer: 0,
    options: { timestamps: { value: 1234, echo: 5678 }, sackBlocks: [[10, 20]] },
  };
  const tcpLength = tcpHeaderLength(header.options);
  const frame = new Uint8Array(ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH + tcpLength + payload.length);
  emitEthernetHeader(frame, Uint8Array.of(2, 0, 0, 0, 0, 1), Uint8Array.of(2, 0, 0, 0, 0, 2), EtherType.IPV4);
  emitIpv4Header(
    frame,
    { source: SOURCE, destination: DESTINATION, protocol: IpProtocol.TCP, ttl: 64, identification: 0xfffe, dontFragment: true },
    tcpLength + payload.length,
    ETHERNET_HEADER_LENGTH,
  );
  frame.set(payload, ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH + tcpLength);
  emitTcpHeader(header, payload.length, frame, SOURCE, DESTINATION, ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH, partialChecksum);
  return frame;
}

function cut(frame: Uint8Array, size: number): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  const count = segmentTcpFrame(frame, size, (length) => new Uint8Array(length), (piece) => pieces.push(piece));
  assert.equal(count, pieces.length);
  return pieces;
}

describe('segmentTcpFrame (Linux GSO rules)', () => {
  const payload = Uint8Array.from({ length: 3 * 1000 + 333 }, (_, index) => (index * 13 + 5) & 0xff);

  it('cuts into pieces with valid checksums, advancing SEQ and the IPv4 id, options in each', () => {
    const pieces = cut(superFrame(payload, TcpFlag.ACK | TcpFlag.PSH | TcpFlag.FIN | TcpFlag.CWR), 1000);
    assert.equal(pieces.length, 4);
    const joined: number[] = [];
    pieces.forEach((piece, index) => {
      const ip = parseIpv4(piece.subarray(ETHERNET_HEADER_LENGTH)); // verifies the header checksum
      assert.ok(ip.ok, `piece ${index}: IPv4 ${ip.ok ? '' : ip.error}`);
      assert.equal(ip.value.identification, (0xfffe + index) & 0xffff);
      const tcp = parseTcp(ip.value.payload, SOURCE, DESTINATION); // verifies the TCP checksum
      assert.ok(tcp.ok, `piece ${index}: TCP ${tcp.ok ? '' : tcp.error}`);
      const segment = tcp.value;
      assert.equal(segment.sequenceNumber, (0xfffff000 + index * 1000) >>> 0);
      assert.equal(segment.payload.length, index < 3 ? 1000 : 333);
      const last = index === 3;
      assert.equal((segment.flags & TcpFlag.FIN) !== 0, last, 'FIN on the last piece only');
      assert.equal((segment.flags & TcpFlag.PSH) !== 0, last, 'PSH on the last piece only');
      assert.equal((segment.flags & TcpFlag.CWR) !== 0, index === 0, 'CWR on the first piece only');
      assert.equal(segment.flags & TcpFlag.ACK, TcpFlag.ACK);
      assert.deepEqual(segment.options.timestamps, { value: 1234, echo: 5678 });
      assert.deepEqual(segment.options.sackBlocks, [[10, 20]]);
      joined.push(...segment.payload);
    });
    assert.deepEqual(Uint8Array.from(joined), payload);
  });

  it('gives wrong TCP checksums from a seed that is not the pseudo-header sum (a full checksum), as the kernel would', () => {
    const pieces = cut(superFrame(payload, TcpFlag.ACK, false), 1000);
    for (const piece of pieces) {
      const ip = parseIpv4(piece.subarray(ETHERNET_HEADER_LENGTH));
      assert.ok(ip.ok);
      const tcp = parseTcp(ip.value.payload, SOURCE, DESTINATION);
      assert.deepEqual(tcp, { ok: false, error: 'bad-checksum' });
    }
  });

  it('refuses what is not a TCP/IPv4 super-frame', () => {
    const frame = superFrame(payload, TcpFlag.ACK);
    frame[ETHERNET_HEADER_LENGTH + 9] = IpProtocol.UDP;
    assert.equal(superFrameLayout(frame), 'not TCP');
    assert.throws(() => cut(frame, 1000), RangeError);
    const tcpFrame = superFrame(payload, TcpFlag.ACK);
    assert.equal(typeof superFrameLayout(tcpFrame), 'object');
    assert.equal(superFrameLayout(tcpFrame.subarray(0, tcpFrame.length - 1)), 'IPv4 total length is not the frame');
  });
});
