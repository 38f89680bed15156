/**
 * The lost window update on the memory wire (virtual clock, 1 ms each way): a receiver
 * with an 8 KiB buffer, the first data segment dropped, so the segments behind it fill
 * the buffer out of order; the retransmission fills the hole and the whole buffer is
 * ready to read. The wire also drops the first window update towards the sender (a
 * pure ACK that only moves the window's right edge).
 *
 * A reader that reads in onReadable does so before the ACK for the data is built
 * (scheduler.ts, TcpConnection.deliverReadable), so that ACK already carries the
 * reopened window: no update of its own to lose, no persist timer. A reader that reads
 * later cannot avoid the separate update; when it is lost, the sender's persist timer
 * (RFC 9293 §3.8.6.1, the 200 ms RTO floor) is what reopens the transfer, as in Linux.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpv4 } from '../../src/net/address.ts';
import { noopHandler, type TcpConnection } from '../../src/tcp/connection.ts';
import { pattern } from '../support/tcp-harness.ts';
import { createStackPair, PEER_IP } from '../support/stack-pair.ts';

const PORT = 7000;
const RCV_BUF = 8 * 1024;
const SIZE = 32 * 1024;

interface Outcome {
  received: Uint8Array;
  counters: { get(name: string): number };
  windowUpdatesDropped: number;
  /** The longest virtual time the reader got nothing new. */
  longestGap: number;
  /** [instant it reached the sender, ack, window in bytes] of every segment the peer sent. */
  toDevice: [number, number, number][];
}

function run(readLater: boolean): Outcome {
  const pair = createStackPair({ faults: { delayMs: 1 }, deviceTcp: { userTimeout: 0 }, peerTcp: { userTimeout: 0 } });
  const { world } = pair;
  const chunks: Uint8Array[] = [];
  let receivedBytes = 0;
  let lastProgress = 0;
  let longestGap = 0;
  let server: TcpConnection | undefined;
  let readable = false;
  const drain = (): void => {
    for (let chunk = server!.read(65_536); chunk; chunk = server!.read(65_536)) {
      chunks.push(chunk);
      receivedBytes += chunk.length;
      longestGap = Math.max(longestGap, world.now - lastProgress);
      lastProgress = world.now;
    }
  };
  pair.peer.tcp.listen(PORT, { rcvBuf: RCV_BUF }, (connection) => {
    server = connection;
    connection.handler = {
      ...noopHandler(),
      onReadable: () => {
        if (readLater) readable = true;
        else drain();
      },
    };
  });
  const client = pair.device.tcp.connect(parseIpv4(PEER_IP)!, PORT);
  let firstSeq = -1;
  const data = pattern(SIZE);
  let sent = 0;
  const pump = (): void => {
    while (sent < SIZE) {
      const accepted = client.send(data.subarray(sent));
      if (accepted === 0) return;
      sent += accepted;
    }
  };
  client.handler = {
    ...noopHandler(),
    onEstablished: () => {
      firstSeq = client.tcb.sndMax;
      lastProgress = world.now;
      pump();
    },
    onWritable: pump,
  };
  let firstDropped = false;
  pair.dropTcp('peer', (segment) => {
    if (firstDropped || segment.payload.length === 0 || segment.sequenceNumber !== firstSeq) return false;
    firstDropped = true;
    return true;
  });
  // The first pure window update: no data, the same ACK as the segment before it, a wider window.
  let lastAck = -1;
  let lastWindow = -1;
  let windowUpdatesDropped = 0;
  const toDevice: [number, number, number][] = [];
  pair.dropTcp('device', (segment) => {
    const window = segment.window * 2 ** (server?.tcb.rcvShift ?? 0);
    const update = segment.payload.length === 0 && segment.acknowledgmentNumber === lastAck && window > lastWindow;
    lastAck = segment.acknowledgmentNumber;
    lastWindow = window;
    if (!update || windowUpdatesDropped > 0) return false;
    windowUpdatesDropped++;
    return true;
  });
  pair.observeTcp((segment, to) => {
    if (to === 'device') toDevice.push([world.now, segment.acknowledgmentNumber, segment.window * 2 ** (server?.tcb.rcvShift ?? 0)]);
  });
  // A late reader reads 1 ms after it was told (the world runs in 1 ms steps).
  for (let step = 0; step < 5_000 && receivedBytes < SIZE; step++) {
    world.runUntilSync(world.now + 1);
    if (readable && server !== undefined) {
      readable = false;
      drain();
    }
  }
  const received = new Uint8Array(receivedBytes);
  let offset = 0;
  for (const chunk of chunks) {
    received.set(chunk, offset);
    offset += chunk.length;
  }
  assert.ok(firstDropped, 'the wire dropped the first data segment');
  return { received, counters: pair.device.counters, windowUpdatesDropped, longestGap, toDevice };
}

describe('a lost window update on the memory wire (8 KiB receiver, first segment dropped)', () => {
  it('a reader in onReadable: the ACK of the filled hole carries the open window; no persist timer, no stall', () => {
    const outcome = run(false);
    assert.deepEqual(Buffer.from(outcome.received), Buffer.from(pattern(SIZE)), 'byte-exact');
    assert.equal(outcome.counters.get('tcp.tx.zero-window-probes'), 0);
    assert.equal(outcome.counters.get('tcp.tx.sws-overrides'), 0);
    assert.equal(outcome.counters.get('tcp.timeout.rto'), 0);
    // Every ACK the sender got advertised the whole buffer: the reader had emptied it.
    // (10 ACKs for 32 KiB: duplicate ACKs for the hole, then one stretch ACK per receive batch.)
    assert.ok(outcome.toDevice.length >= 8, `${outcome.toDevice.length} ACKs`);
    assert.ok(outcome.toDevice.every(([, , window]) => window === RCV_BUF), 'no ACK advertised less than the whole buffer');
    assert.ok(outcome.longestGap < 50, `longest gap ${outcome.longestGap} ms`);
  });

  it('a reader that reads 1 ms later: its window update is a segment of its own; lost, the persist timer reopens the transfer', () => {
    const outcome = run(true);
    assert.deepEqual(Buffer.from(outcome.received), Buffer.from(pattern(SIZE)), 'byte-exact');
    assert.equal(outcome.windowUpdatesDropped, 1, 'the wire dropped a window update');
    const probes = outcome.counters.get('tcp.tx.zero-window-probes') + outcome.counters.get('tcp.tx.sws-overrides');
    assert.equal(probes, 1, 'one zero-window probe (or SWS override) reopened it');
    assert.ok(outcome.longestGap >= 200, `longest gap ${outcome.longestGap} ms: the 200 ms RTO floor`);
  });
});
