/**
 * F-RTO end to end (RFC 5682 §3, `tcp.frto`): two piwire stacks on the memory wire (1 ms
 * each way, virtual clock) and a delay spike: for 2 ms the sender's frames take 400 ms
 * to cross, and everything sent after them queues behind them (the line stays in order).
 * Nothing is lost, but no ACK comes for longer than the RTO: the tail loss probe (with
 * the peer's window full, a resend of the last segment), then the RTO fire, and the RTO
 * is spurious. With F-RTO the first ACK after it (for the
 * late originals) sends new data, the next one shows never-retransmitted originals
 * arriving: the timeout is undone, and nothing but the RTO's one segment is resent.
 * Without it, go-back-N resends the window the peer already has (each reported back
 * as a duplicate, D-SACK). The probe's follow-up (`tcp.tlpFollowUp`) is off in the first
 * two runs, so that the probe and the RTO are the only retransmissions; the third shows
 * what it adds to the same spike.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpv4 } from '../../src/net/address.ts';
import type { TcpConfig } from '../../src/tcp/config.ts';
import { noopHandler, type TcpConnection } from '../../src/tcp/connection.ts';
import { pattern } from '../support/tcp-harness.ts';
import { createStackPair, listenAndCount, PEER_IP } from '../support/stack-pair.ts';

const PORT = 7001;
const BYTES = 2 * 1024 * 1024;
const SPIKE_AT = 30;
const SPIKE_LENGTH = 2;
const SPIKE_DELAY = 400;

interface Outcome {
  received: number;
  client: TcpConnection;
  counters: { get(name: string): number };
  /** cwnd just before the spike, and when the transfer ended. */
  cwndBefore: number;
  cwndAfter: number;
  /** The sender's data segments that reached the peer: [instant, sequence number]. */
  toPeer: [number, number][];
}

function run(config: Partial<TcpConfig>): Outcome {
  // 128 KiB windows, so a window of originals is caught in the spike; 100 Mbit/s, so they
  // arrive (and are acknowledged) one by one after it.
  const tcp: Partial<TcpConfig> = { userTimeout: 0, rcvBuf: 128 * 1024, sndBuf: 128 * 1024, ...config };
  const pair = createStackPair({ faults: { delayMs: 1, bandwidthBitsPerSecond: 100e6 }, deviceTcp: tcp, peerTcp: tcp });
  const { world, wire } = pair;
  const received = listenAndCount(pair.peer, PORT);
  const client = pair.device.tcp.connect(parseIpv4(PEER_IP)!, PORT);
  const data = pattern(BYTES);
  let offset = 0;
  const pump = (): void => {
    while (offset < BYTES) {
      const accepted = client.send(data.subarray(offset));
      if (accepted === 0) return;
      offset += accepted;
    }
  };
  client.handler = { ...noopHandler(), onEstablished: pump, onWritable: pump };
  const toPeer: [number, number][] = [];
  pair.observeTcp((segment, to) => {
    if (to === 'peer' && segment.payload.length > 0) toPeer.push([world.now, segment.sequenceNumber]);
  });
  world.runUntilDoneSync(() => false, SPIKE_AT);
  const cwndBefore = client.info().cwnd;
  wire.setFaults('a-to-b', { delayMs: SPIKE_DELAY });
  world.runUntilDoneSync(() => false, SPIKE_LENGTH);
  wire.setFaults('a-to-b', { delayMs: 1 });
  world.runUntilDoneSync(() => received() === BYTES && client.info().bytesInFlight === 0, 10_000);
  return { received: received(), client, counters: pair.device.counters, cwndBefore, cwndAfter: client.info().cwnd, toPeer };
}

describe('F-RTO on the memory wire (a delay spike makes the RTO spurious)', () => {
  it('undoes the spurious RTO: new data instead of go-back-N, one segment resent, the window restored', () => {
    const outcome = run({ tlpFollowUp: false });
    const { counters } = outcome;
    assert.equal(outcome.received, BYTES);
    assert.equal(counters.get('tcp.timeout.rto'), 1);
    assert.equal(counters.get('tcp.frto.new-data'), 1, 'step 2b on the first ACK after the RTO');
    assert.equal(counters.get('tcp.frto.spurious'), 1, 'step 3b on the next');
    assert.equal(counters.get('tcp.frto.real'), 0);
    assert.equal(counters.get('tcp.tx.retransmits'), 2, "the loss probe's and the RTO's, nothing after");
    assert.equal(counters.get('tcp.rx.dsack'), 2, 'both reported back as duplicates');
    assert.ok(outcome.cwndAfter >= outcome.cwndBefore, `cwnd ${outcome.cwndAfter} after, ${outcome.cwndBefore} before the spike`);
    // Every sequence number reached the peer once, except the probe's and the RTO's segments.
    const seqs = outcome.toPeer.map(([, seq]) => seq);
    assert.equal(seqs.length - new Set(seqs).size, 2);
  });

  it('without F-RTO (tcp.frto false) the same spike costs a go-back-N of data the peer already has', () => {
    const outcome = run({ frto: false, tlpFollowUp: false });
    const { counters } = outcome;
    assert.equal(outcome.received, BYTES);
    assert.equal(counters.get('tcp.timeout.rto'), 1);
    assert.equal(counters.get('tcp.frto.spurious'), 0);
    const retransmits = counters.get('tcp.tx.retransmits');
    assert.ok(retransmits > 50, `${retransmits} retransmissions of a window the peer already held`);
    assert.ok(counters.get('tcp.rx.dsack') > 50, 'each reported back as a duplicate (D-SACK)');
    assert.ok(outcome.cwndAfter < outcome.cwndBefore, `cwnd ${outcome.cwndAfter} after, ${outcome.cwndBefore} before the spike`);
  });

  it('with the probe\'s follow-up (the default) the spike costs two duplicates per ACK that advanced during it, and F-RTO still undoes the RTO', () => {
    const outcome = run({});
    const { counters } = outcome;
    assert.equal(outcome.received, BYTES);
    assert.equal(counters.get('tcp.timeout.rto'), 1);
    assert.equal(counters.get('tcp.frto.spurious'), 1);
    // The probe's whole series of follow-ups (four, each waiting twice as long as the one
    // before), then the RTO. With the peer's delayed ACK at a fixed 40 ms, one ACK came
    // through during the series and a second series of four followed (six in all); bounded
    // by the peer's SRTT (5 ms here, ack-policy.ts delayedAckTimeout), its ACKs around the
    // spike leave earlier and none does.
    assert.equal(counters.get('tcp.tx.tlp-follow-ups'), 4);
    // All needless (the peer had everything): each comes back as a D-SACK, a handful, not
    // the go-back-N of the run without F-RTO.
    const retransmits = counters.get('tcp.tx.retransmits');
    assert.ok(retransmits >= 2 + 4 && retransmits <= 8, `${retransmits} retransmissions`);
    assert.equal(counters.get('tcp.rx.dsack'), retransmits);
    assert.ok(outcome.cwndAfter >= outcome.cwndBefore, `cwnd ${outcome.cwndAfter} after, ${outcome.cwndBefore} before the spike`);
  });
});
