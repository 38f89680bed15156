/**
 * The recovery probe end to end: two piwire stacks on the memory wire (1 ms each way,
 * virtual clock), the wire dropping two chosen frames (MemoryWire `dropWhen`): the first
 * data segment, and later the one ACK that answers its fast retransmission. That is the
 * stall bench/BASELINE.md found against Linux: the retransmission is the last segment
 * sent, so nothing else can draw an ACK. With the probe the sender resends SND.UNA
 * max(2·SRTT, 10 ms) after the last ACK it got (2·SRTT + 2 ms with `tcp.ptoFloor` off), the peer answers at once (a D-SACK for
 * the duplicate), and the transfer finishes without an RTO; without it, the RTO.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpv4 } from '../../src/net/address.ts';
import type { TcpConfig } from '../../src/tcp/config.ts';
import { noopHandler, type TcpConnection } from '../../src/tcp/connection.ts';
import { TcpFlag } from '../../src/wire/tcp.ts';
import { pattern } from '../support/tcp-harness.ts';
import { createStackPair, listenAndCount, PEER_IP } from '../support/stack-pair.ts';

const PORT = 7000;
const SEGMENTS = 10;

interface Outcome {
  received: number;
  client: TcpConnection;
  counters: { get(name: string): number };
  /** When the peer's ACKs reached the sender, and when the sender's segments reached the peer: [instant, seq, ack, length]. */
  toDevice: [number, number, number][];
  toPeer: [number, number, number][];
  firstSeq: number;
  endSeq: number;
  /** The sender's SRTT when the second copy (the probe) reached the peer: nothing came back since it left. */
  srttAtProbe: number;
}

function run(config: Partial<TcpConfig>): Outcome {
  const tcp: Partial<TcpConfig> = { userTimeout: 0, ...config };
  const pair = createStackPair({ faults: { delayMs: 1 }, deviceTcp: tcp, peerTcp: tcp });
  const { world } = pair;
  const received = listenAndCount(pair.peer, PORT);
  const client = pair.device.tcp.connect(parseIpv4(PEER_IP)!, PORT);
  let firstSeq = -1;
  let endSeq = -1;
  const toDevice: [number, number, number][] = [];
  const toPeer: [number, number, number][] = [];
  client.handler = {
    ...noopHandler(),
    onEstablished: () => {
      // Exactly ten full segments: all leave in the initial window, and nothing is left
      // to send after them (no FIN either: the connection stays open).
      const size = SEGMENTS * client.info().mss;
      firstSeq = client.tcb.sndMax;
      endSeq = (firstSeq + size) >>> 0;
      assert.equal(client.send(pattern(size)), size);
    },
  };
  let firstDataDropped = false;
  let fullAcksDropped = 0;
  // Copies of the first segment that reached the peer: the fast retransmission, then the
  // probe (or the RTO's retransmission).
  let firstSegmentCopies = 0;
  let srttAtProbe = Number.NaN;
  pair.dropTcp('peer', (segment) => {
    if (firstDataDropped || segment.payload.length === 0 || segment.sequenceNumber !== firstSeq) return false;
    firstDataDropped = true;
    return true;
  });
  // Every ACK the peer sends for the whole flight until the second copy arrives: the
  // one that answers the fast retransmission, and the window update its reader causes.
  pair.dropTcp('device', (segment) => {
    if ((segment.flags & TcpFlag.ACK) === 0 || segment.acknowledgmentNumber !== endSeq || firstSegmentCopies >= 2) return false;
    fullAcksDropped++;
    return true;
  });
  pair.observeTcp((segment, to) => {
    if (to === 'device') toDevice.push([world.now, segment.acknowledgmentNumber, 0]);
    else if (segment.payload.length > 0) {
      toPeer.push([world.now, segment.sequenceNumber, segment.payload.length]);
      if (segment.sequenceNumber === firstSeq && ++firstSegmentCopies === 2) srttAtProbe = client.info().srtt!;
    }
  });
  world.runUntilDoneSync(() => received() === SEGMENTS * client.info().mss && client.info().bytesInFlight === 0, 10_000);
  assert.ok(firstDataDropped && fullAcksDropped > 0, 'the wire dropped the first data segment and the ACKs of its retransmission');
  return { received: received(), client, counters: pair.device.counters, toDevice, toPeer, firstSeq, endSeq, srttAtProbe };
}

describe('recovery probe on the memory wire (the lone retransmission whose ACK is lost)', () => {
  /** The probe reached the peer; returns how long after the retransmission it left. */
  function probeDelay(outcome: Outcome): number {
    const { toPeer, toDevice, firstSeq } = outcome;
    const copies = toPeer.filter(([, seq]) => seq === firstSeq);
    assert.equal(copies.length, 2, 'the fast retransmission and the probe reached the peer (the original was dropped)');
    const [retransmission, probe] = copies as [[number, number, number], [number, number, number]];
    // The timer runs from the later of the last ACK that reported delivery and the last
    // transmission: here the third duplicate ACK and the fast retransmission it sent, at
    // the same instant, after which nothing came back. Each copy arrived 1 ms after it left.
    const retransmittedAt = retransmission[0] - 1;
    const lastAckBefore = toDevice.filter(([at]) => at < probe[0]).at(-1)!;
    assert.equal(lastAckBefore[0], retransmittedAt, 'the last ACK before the probe is the one that sent the retransmission');
    assert.equal(outcome.counters.get('tcp.tx.recovery-probes'), 1);
    assert.equal(outcome.counters.get('tcp.timeout.rto'), 0, 'no RTO');
    assert.equal(outcome.counters.get('tcp.tx.spurious-retransmits'), 1, 'the peer reported the probe as a duplicate (D-SACK)');
    assert.equal(outcome.received, SEGMENTS * outcome.client.info().mss);
    return probe[0] - 1 - retransmittedAt;
  }

  it('with tcp.ptoFloor off: resends SND.UNA 2·SRTT + 2 ms after the last ACK (Linux\'s PTO slack), and the transfer ends without an RTO', () => {
    const outcome = run({ ptoFloor: false });
    // 2·SRTT is about 4 ms on this 2 ms path.
    assert.ok(outcome.srttAtProbe > 1 && outcome.srttAtProbe * 2 < 8);
    const delay = probeDelay(outcome);
    assert.ok(Math.abs(delay - (2 * outcome.srttAtProbe + 2)) < 1e-9, `the probe left 2·SRTT + 2 ms after the retransmission (${delay} ms, SRTT ${outcome.srttAtProbe} ms)`);
  });

  it('resends SND.UNA max(2·SRTT, 10 ms) after the last ACK, the floor governing (tcp.ptoFloor, the default)', () => {
    const outcome = run({});
    assert.ok(outcome.srttAtProbe * 2 < 10);
    assert.equal(probeDelay(outcome), 10, 'the probe left max(2·SRTT, 10 ms) after the retransmission');
  });

  it('without the probe (tcp.recoveryProbe off) the same losses cost the RTO', () => {
    const outcome = run({ recoveryProbe: false });
    assert.equal(outcome.counters.get('tcp.tx.recovery-probes'), 0);
    assert.equal(outcome.counters.get('tcp.timeout.rto'), 1);
    const copies = outcome.toPeer.filter(([, seq]) => seq === outcome.firstSeq);
    assert.equal(copies.length, 2, 'the fast retransmission and the RTO retransmission');
    // The RTO (its 200 ms floor) was armed when the flight left and no ACK of new data
    // restarted it: the flight's first segment reached the peer 1 ms after it left.
    const flightLeftAt = outcome.toPeer[0]![0] - 1;
    assert.equal(copies[1]![0] - 1, flightLeftAt + 200, 'the RTO retransmission left 200 ms after the flight');
  });
});
