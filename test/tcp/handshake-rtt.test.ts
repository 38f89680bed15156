/**
 * No RTT sample from a handshake whose SYN or SYN-ACK was retransmitted (RFC 6298 §3,
 * Karn), timestamps or not (src/tcp/input.ts `handshakeEcho`): the peer's ACK answering a
 * retransmitted SYN-ACK echoes the first SYN-ACK's TSval (RFC 7323 §4.3), so the echo
 * would time the retransmission timeout (1 s), not the path. Two piwire stacks on the
 * memory wire (5 ms each way, virtual clock); the wire drops the handshake's one
 * chosen segment. The first sample then comes from the first data ACK, and the RTO is
 * RFC 6298 §5.7's 3 s until it.
 *
 * The same echo decides the initial window (input.ts `handshakeSegmentLost`): one segment
 * when the SYN or SYN-ACK may have been lost (RFC 5681 §3.1), the full ten when the echo
 * shows that the first transmission arrived and only the peer's answer was lost.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpv4 } from '../../src/net/address.ts';
import { noopHandler, type TcpConnection } from '../../src/tcp/connection.ts';
import { TcpFlag } from '../../src/wire/tcp.ts';
import { pattern } from '../support/tcp-harness.ts';
import { createStackPair, DEVICE_IP, PEER_IP } from '../support/stack-pair.ts';

const PORT = 19;
const ONE_WAY_MS = 5;
/** Within the default send buffer (16 KiB): one send() takes it all. */
const SIZE = 16_000;

interface Outcome {
  sender: TcpConnection;
  /** The sender's SRTT and RTO just after it became ESTABLISHED. */
  atEstablished: { srtt: number | undefined; rto: number };
  /** The sender's initial window, in full segments. */
  initialSegments: number;
  /** The sender's SRTT after the first ACK of data, and that ACK's TSecr-based round trip as the wire saw it. */
  firstDataSample: { srtt: number | undefined; wireRtt: number };
  received: number;
}

/** Which handshake segment the wire drops once. */
type Lost = 'handshake-ack' | 'syn-ack' | 'syn';

/**
 * The device sends SIZE bytes. 'handshake-ack': the peer connects and the device's
 * SYN-ACK is answered by an ACK the wire drops (the device resends its SYN-ACK);
 * 'syn-ack': the peer connects and the device's first SYN-ACK is dropped; 'syn': the
 * device connects and its first SYN is dropped. `timestamps`: both ends offer them.
 */
function run(lost: Lost, timestamps = true): Outcome {
  const passive = lost !== 'syn';
  const pair = createStackPair({ faults: { delayMs: ONE_WAY_MS }, deviceTcp: { timestamps }, peerTcp: { timestamps } });
  const { world } = pair;
  let sender: TcpConnection | undefined;
  let atEstablished: Outcome['atEstablished'] | undefined;
  let initialSegments = 0;
  let received = 0;
  const start = (connection: TcpConnection): void => {
    sender = connection;
    const info = connection.info();
    atEstablished = { srtt: info.srtt, rto: info.rto };
    initialSegments = info.cwnd / info.mss;
    connection.send(pattern(SIZE));
  };
  const reader = (connection: TcpConnection): void => {
    connection.handler = {
      ...noopHandler(),
      onReadable: () => {
        for (let chunk = connection.read(65_536); chunk; chunk = connection.read(65_536)) received += chunk.length;
      },
    };
  };
  if (passive) {
    pair.device.tcp.listen(PORT, {}, (connection) => {
      connection.handler = noopHandler();
      start(connection);
    });
    reader(pair.peer.tcp.connect(parseIpv4(DEVICE_IP)!, PORT));
    let dropped = false;
    if (lost === 'handshake-ack') {
      // The handshake's third segment: the peer's first pure ACK.
      pair.dropTcp('device', (segment) => {
        if (dropped || (segment.flags & (TcpFlag.SYN | TcpFlag.ACK)) !== TcpFlag.ACK || segment.payload.length > 0) return false;
        dropped = true;
        return true;
      });
    } else {
      pair.dropTcp('peer', (segment) => {
        if (dropped || (segment.flags & TcpFlag.SYN) === 0) return false;
        dropped = true;
        return true;
      });
    }
  } else {
    pair.peer.tcp.listen(PORT, {}, reader);
    const client = pair.device.tcp.connect(parseIpv4(PEER_IP)!, PORT);
    client.handler = { ...noopHandler(), onEstablished: () => start(client) };
    let dropped = false;
    pair.dropTcp('peer', (segment) => {
      if (dropped || (segment.flags & TcpFlag.SYN) === 0) return false;
      dropped = true;
      return true;
    });
  }
  // The first ACK of data carries the first sample; the first data segment sent after it
  // is sent from the ACK's processing, so SRTT read then is that sample (the later ACKs
  // of the first flight are still on their way: a 10 ms round trip, sent back to back).
  let firstDataAt: number | undefined;
  let firstAckAt: number | undefined;
  let firstDataSample: Outcome['firstDataSample'] | undefined;
  pair.observeTcp((segment, to) => {
    if (sender === undefined) return;
    if (to === 'peer' && segment.payload.length > 0) {
      if (firstDataAt === undefined) firstDataAt = world.now - ONE_WAY_MS;
      else if (firstAckAt !== undefined && firstDataSample === undefined) firstDataSample = { srtt: sender.info().srtt, wireRtt: firstAckAt - firstDataAt };
    }
    if (to === 'device' && firstDataAt !== undefined && firstAckAt === undefined && segment.acknowledgmentNumber !== sender.tcb.sndUna) firstAckAt = world.now;
  });
  world.runUntilDoneSync(() => received === SIZE, 60_000);
  assert.ok(atEstablished !== undefined && firstDataSample !== undefined && sender !== undefined);
  return { sender, atEstablished, initialSegments, firstDataSample, received };
}

describe('the RTT after a retransmitted handshake segment (RFC 6298 §3, RFC 7323 §4.3)', () => {
  it('passive: the ACK of a retransmitted SYN-ACK gives no sample; the first data ACK gives the path\'s', () => {
    const outcome = run('handshake-ack');
    assert.deepEqual(outcome.atEstablished, { srtt: undefined, rto: 3000 }, 'no sample yet: RFC 6298 §5.7\'s 3 s');
    assert.equal(outcome.firstDataSample.srtt, outcome.firstDataSample.wireRtt, 'SRTT = the first data round trip (RFC 6298 §2.2)');
    assert.ok(outcome.firstDataSample.wireRtt < 100, `a round trip of the path, not the 1 s timeout (${outcome.firstDataSample.wireRtt} ms)`);
    assert.equal(outcome.received, SIZE);
  });

  it('active: the SYN-ACK answering a retransmitted SYN gives no sample either', () => {
    const outcome = run('syn');
    assert.deepEqual(outcome.atEstablished, { srtt: undefined, rto: 3000 });
    assert.equal(outcome.firstDataSample.srtt, outcome.firstDataSample.wireRtt);
    assert.ok(outcome.firstDataSample.wireRtt < 100);
    assert.equal(outcome.received, SIZE);
  });
});

describe('the initial window after a retransmitted handshake segment (RFC 5681 §3.1, RFC 7323 §4.3)', () => {
  it('a lost handshake ACK: the echo of the first SYN-ACK\'s TSval shows it arrived, and the window stays ten segments', () => {
    const outcome = run('handshake-ack');
    assert.equal(outcome.initialSegments, 10);
    assert.equal(outcome.sender.info().retransmits, 1, 'the SYN-ACK was resent');
    assert.equal(outcome.received, SIZE);
  });

  it('a lost SYN-ACK: one segment', () => {
    const outcome = run('syn-ack');
    assert.equal(outcome.initialSegments, 1);
    assert.equal(outcome.received, SIZE);
  });

  it('a lost SYN (active open): one segment', () => {
    const outcome = run('syn');
    assert.equal(outcome.initialSegments, 1);
    assert.equal(outcome.received, SIZE);
  });

  it('a lost handshake ACK without timestamps: nothing shows what was lost, so one segment', () => {
    const outcome = run('handshake-ack', false);
    assert.equal(outcome.initialSegments, 1);
    assert.equal(outcome.received, SIZE);
  });
});
