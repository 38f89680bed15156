/**
 * TCP super-segments (segmentation offload, src/net/device.ts) on the memory wire, whose
 * device end emulates the offload exactly as Linux's GSO cuts (src/net/tcp-segmentation.ts).
 * Two piwire stacks on the virtual clock: the same transfer with and without the offload
 * must put the same segments on the wire (sequence numbers, lengths, flags, ACK, window,
 * options, IPv4 identification), also through SACK recovery from a piece lost in the
 * middle of a super-segment, and every piece must pass the receiver's checksums.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpv4 } from '../../src/net/address.ts';
import { noopHandler } from '../../src/tcp/connection.ts';
import type { TcpConfig } from '../../src/tcp/config.ts';
import type { TcpRepr } from '../../src/wire/tcp.ts';
import { pattern } from '../support/tcp-harness.ts';
import { createStackPair, PEER_IP, sendAllThenClose } from '../support/stack-pair.ts';

const PORT = 7019;
const BUFFER = 256 * 1024;

interface Transfer {
  /** Every frame that reached the peer from the device, as comparable text. */
  toPeer: string[];
  received: Uint8Array;
  superFrames: number;
  deviceCounters: { get(name: string): number };
  peerCounters: { get(name: string): number };
  /** Payload lengths of the data segments that reached the peer. */
  lengths: number[];
  /** Dropped pieces that had more pieces of their super-segment after them. */
  droppedInsideSuperSegment: number;
  /** Super-frames the device's link cut while its connection was in SACK recovery. */
  superFramesInRecovery: number;
}

function describeSegment(segment: TcpRepr, identification: number): string {
  const options = segment.options;
  const timestamps = options.timestamps === undefined ? '' : ` ts ${options.timestamps.value}/${options.timestamps.echo}`;
  const blocks = options.sackBlocks === undefined ? '' : ` sack ${options.sackBlocks.map(([a, b]) => `${a}-${b}`).join(',')}`;
  return `id ${identification} seq ${segment.sequenceNumber} ack ${segment.acknowledgmentNumber} flags ${segment.flags} win ${segment.window} len ${segment.payload.length}${timestamps}${blocks}`;
}

/**
 * The device sends `size` bytes to the peer and half-closes; `dropPiece` picks data
 * segments (by their index among the data segments sent) the wire loses on the way.
 */
function transfer(options: { offload: boolean; size: number; mtu?: number; dropPieces?: readonly number[]; deviceTcp?: Partial<TcpConfig> }): Transfer {
  const pair = createStackPair({
    mtu: options.mtu ?? 1500,
    faults: { delayMs: 1 },
    deviceSegmentOffload: options.offload ? 65_535 : undefined,
    deviceTcp: options.deviceTcp,
  });
  const data = pattern(options.size);
  const received = new Uint8Array(options.size);
  let receivedLength = 0;
  pair.peer.tcp.listen(PORT, { rcvBuf: BUFFER, sndBuf: BUFFER }, (connection) => {
    connection.handler = {
      ...noopHandler(),
      onReadable: () => {
        for (let chunk = connection.read(65_536); chunk; chunk = connection.read(65_536)) {
          received.set(chunk, receivedLength);
          receivedLength += chunk.length;
        }
      },
    };
  });
  const client = pair.device.tcp.connect(parseIpv4(PEER_IP)!, PORT, { rcvBuf: BUFFER, sndBuf: BUFFER });
  sendAllThenClose(client, data);
  // The device's end of the wire, watched where it cuts a super-frame: was the sender in
  // recovery when it handed the frame down?
  let superFramesInRecovery = 0;
  const deviceEnd = pair.wire.a as unknown as { transmitSegmented(frame: Uint8Array, segmentSize: number, maxPacketBytes: number): void };
  const cut = deviceEnd.transmitSegmented.bind(deviceEnd);
  deviceEnd.transmitSegmented = (frame, segmentSize, maxPacketBytes) => {
    if (client.congestion.inRecovery) superFramesInRecovery++;
    cut(frame, segmentSize, maxPacketBytes);
  };
  const toPeer: string[] = [];
  const lengths: number[] = [];
  let dataSegments = 0;
  const drops = new Set(options.dropPieces ?? []);
  let droppedInsideSuperSegment = 0;
  pair.dropTcp('peer', (segment) => {
    if (segment.payload.length === 0 || !drops.has(dataSegments++)) return false;
    // Frames the interface counted as sent but the wire has not carried yet: the pieces
    // of the same super-segment still to come after this one.
    const piecesAfter = pair.device.counters.get('ethernet.tx.frames') - (pair.wire.a.stats()['link.tx.frames'] ?? 0);
    if (piecesAfter > 0) droppedInsideSuperSegment++;
    return true;
  });
  // Observers run in order for each frame: the first reads the IPv4 identification
  // (frame bytes 18-19), which the offload must number as the stack does.
  let identification = 0;
  pair.observe((frame) => {
    identification = (frame[18]! << 8) | frame[19]!;
  });
  pair.observeTcp((segment, to) => {
    if (to !== 'peer') return;
    toPeer.push(describeSegment(segment, identification));
    if (segment.payload.length > 0) lengths.push(segment.payload.length);
  });
  pair.world.runUntilDoneSync(() => receivedLength === options.size && client.state === 'FIN-WAIT-2', 60_000);
  return {
    toPeer,
    received: received.subarray(0, receivedLength),
    superFrames: pair.wire.a.stats()['link.tx.super-frames'] ?? 0,
    deviceCounters: pair.device.counters,
    peerCounters: pair.peer.counters,
    lengths,
    droppedInsideSuperSegment,
    superFramesInRecovery,
  };
}

function assertChecksumsValid(run: Transfer): void {
  assert.equal(run.peerCounters.get('tcp.drop.bad-checksum'), 0, 'every piece passed the TCP checksum');
  assert.equal(run.peerCounters.get('ipv4.drop.bad-checksum'), 0, 'every piece passed the IPv4 header checksum');
}

describe('segmentation offload on the memory wire', () => {
  for (const mtu of [1500, 576]) {
    it(`a bulk transfer at MTU ${mtu} puts the same segments on the wire in fewer sends, byte-exact`, () => {
      const size = 2 * 1024 * 1024 + 777;
      const plain = transfer({ offload: false, size, mtu });
      const offloaded = transfer({ offload: true, size, mtu });
      assert.equal(plain.superFrames, 0);
      assert.ok(offloaded.superFrames > 0, 'super-segments were handed to the wire');
      assert.equal(offloaded.deviceCounters.get('ipv4.tx.super-segments'), offloaded.superFrames);
      // A super-segment carries at least two segments, so the stack made far fewer sends.
      assert.ok(offloaded.superFrames * 2 <= offloaded.lengths.length);
      assert.deepEqual(offloaded.toPeer, plain.toPeer, 'segment for segment: seq, ack, flags, window, length, options, IPv4 id');
      assert.deepEqual(offloaded.received, pattern(size), 'the bytes arrived exactly');
      assert.equal(offloaded.deviceCounters.get('tcp.tx.segments'), plain.deviceCounters.get('tcp.tx.segments'));
      assertChecksumsValid(offloaded);
    });
  }

  it('recovers a piece lost in the middle of a super-segment by SACK, as the plain sender does', () => {
    const size = 1024 * 1024;
    // Data segments 40 and 43: both inside the super-segments of the grown window.
    const plain = transfer({ offload: false, size, dropPieces: [40, 43] });
    const offloaded = transfer({ offload: true, size, dropPieces: [40, 43] });
    assert.equal(offloaded.droppedInsideSuperSegment, 2, 'both lost segments were pieces in the middle of super-segments');
    assert.equal(plain.droppedInsideSuperSegment, 0);
    assert.ok(offloaded.deviceCounters.get('tcp.sack.recoveries') >= 1, 'SACK recovery ran');
    assert.equal(offloaded.deviceCounters.get('tcp.timeout.rto'), 0, 'no RTO');
    assert.equal(offloaded.deviceCounters.get('tcp.tx.retransmits'), plain.deviceCounters.get('tcp.tx.retransmits'));
    assert.ok(offloaded.deviceCounters.get('tcp.tx.retransmits') >= 2);
    assert.deepEqual(offloaded.toPeer, plain.toPeer, 'the same segments, retransmissions included');
    assert.deepEqual(offloaded.received, pattern(size));
    assertChecksumsValid(offloaded);
  });

  // RFC 6675 §5 (C) rule 2 (new data while pipe < cwnd) in the whole segments the window
  // leaves, as Linux's tcp_write_xmit sends TSO skbs during recovery. A paced (BBR)
  // sender, permanently in recovery at field loss rates with a large window, released
  // its bursts there one segment per send (bench: 4,826 single-segment frames of 5,143
  // in four 4 MiB transfers at 1% loss). CUBIC's PRR opens about a segment per ACK on
  // this wire, so it sends single segments as before: the same segments either way.
  for (const congestion of ['bbr', 'cubic'] as const) {
    it(`sends new data during SACK recovery in super-segments where the window allows (${congestion}), the same segments as the plain sender`, () => {
      const size = 2 * 1024 * 1024;
      const dropPieces = [60, 200, 203, 420, 700, 1100];
      const deviceTcp: Partial<TcpConfig> = { congestion };
      const plain = transfer({ offload: false, size, dropPieces, deviceTcp });
      const offloaded = transfer({ offload: true, size, dropPieces, deviceTcp });
      assert.ok(offloaded.deviceCounters.get('tcp.sack.recoveries') >= 2, 'SACK recovery ran');
      if (congestion === 'bbr') assert.ok(offloaded.superFramesInRecovery > 0, 'new data left in super-segments while in recovery');
      assert.equal(plain.superFrames, 0);
      assert.equal(offloaded.deviceCounters.get('tcp.timeout.rto'), 0, 'no RTO');
      assert.deepEqual(offloaded.toPeer, plain.toPeer, 'the same segments, retransmissions included');
      assert.deepEqual(offloaded.received, pattern(size));
      assertChecksumsValid(offloaded);
    });
  }
});
