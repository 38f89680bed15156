/**
 * Sender loss recovery on the virtual clock, against exact segments: RFC 6675 SACK
 * recovery (several holes in one window repaired in about one RTT, no RTO), RACK's
 * reorder window and timer (RFC 8985 §6), the tail loss probe at its exact instant
 * (§7), D-SACK (RFC 2883) both ways, limited transmit (RFC 3042), NewReno for a peer
 * without SACK, and RTO go-back-N that skips SACKed data (RFC 6675 §5.1).
 *
 * Every test first times the handshake and one 1000-byte segment at 10 ms, so SRTT = min_RTT = 10 ms,
 * the RTO is its 200 ms floor and RACK's reordering window is min_RTT/4 = 2.5 ms.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TcpConfig } from '../../src/tcp/config.ts';
import { ACK, FIN, LOCAL_ISS, PSH, REMOTE_ISS, TcpHarness, pattern } from '../support/tcp-harness.ts';
import { reorderWindow } from '../../src/tcp/recovery.ts';
import { MSS, S, sack, sentSeqs, setup, type Setup } from '../support/sack-sender.ts';

const R1 = REMOTE_ISS + 1;

describe('RFC 6675 SACK loss recovery', () => {
  it('repairs three holes in one window in about one RTT without an RTO', () => {
    // NewReno's halving (RFC 5681 eq. 4); CUBIC's β is in test/tcp/cubic.test.ts.
    const { h, c, t0 } = setup(10, { config: { congestion: 'reno' } });
    // Initial window 10 segments (RFC 6928 at MSS 1000); all leave at t0.
    assert.deepEqual(sentSeqs(h), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => i * MSS));
    h.advanceTo(t0 + 10);
    // Segments 2, 5 and 8 were lost; the peer ACKs what arrives, SACKing the rest.
    h.send({ ack: S(2 * MSS) });
    sack(h, 2 * MSS, [[3000, 4000]]);
    sack(h, 2 * MSS, [[3000, 5000]]);
    assert.deepEqual(sentSeqs(h), [], 'two duplicate ACKs: no retransmission, no new data to send');
    sack(h, 2 * MSS, [[6000, 7000], [3000, 5000]]);
    // Third duplicate ACK (and IsLost: three SACKed segments above): recovery, hole 1.
    assert.deepEqual(sentSeqs(h), [2000]);
    assert.equal(c.info().cwnd, 4000, 'cwnd = ssthresh = FlightSize / 2 (RFC 6675 §5 step 4.2)');
    sack(h, 2 * MSS, [[6000, 8000], [3000, 5000]]);
    sack(h, 2 * MSS, [[9000, 10000], [6000, 8000], [3000, 5000]]);
    // Segment 5 now has three SACKed segments above it.
    assert.deepEqual(sentSeqs(h), [5000]);
    // Segment 8 has one: RACK marks it once 10 ms + 2.5 ms have passed since it was sent.
    h.advanceTo(t0 + 12);
    assert.deepEqual(sentSeqs(h), []);
    h.advanceTo(t0 + 12.5);
    assert.deepEqual(sentSeqs(h), [8000]);
    // The retransmissions arrive one RTT later: everything is acknowledged.
    h.advanceTo(t0 + 20);
    sack(h, 5 * MSS, [[6000, 8000], [9000, 10000]]);
    h.send({ ack: S(10 * MSS) });
    h.advanceTo(t0 + 23);
    h.send({ ack: S(10 * MSS) });
    assert.equal(c.info().bytesInFlight, 0);
    assert.equal(h.counters.get('tcp.timeout.rto'), 0, 'no RTO fired');
    assert.equal(h.counters.get('tcp.sack.recoveries'), 1);
    assert.equal(c.info().retransmits, 3, 'each hole resent once, nothing SACKed resent');
    h.advance(1000);
    assert.deepEqual(sentSeqs(h), [], 'nothing more to send');
  });

  it('leaves recovery on the full ACK with cwnd = ssthresh, not deflated to FlightSize + SMSS (RFC 6675 §5, RFC 6937 §3)', () => {
    // The Linux-receiver pattern of the loss bench: pipe fills cwnd at entry, so the
    // retransmission is the last segment sent and the full ACK finds nothing in flight.
    // NewReno's halving keeps the arithmetic plain; the exit rule is the same for CUBIC.
    const { h, c, t0 } = setup(30, { config: { sndBuf: 64 * 1024, congestion: 'reno' } });
    // The one-segment warm-up did not fill the initial window: cwnd did not grow (tcp_is_cwnd_limited).
    assert.deepEqual(sentSeqs(h), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => i * MSS), 'cwnd: the initial ten segments');
    h.advanceTo(t0 + 10);
    // Segment 0 lost: three SACKs; limited transmit sends 10 and 11 (RFC 3042).
    sack(h, 0, [[1000, 2000]]);
    sack(h, 0, [[1000, 3000]]);
    assert.deepEqual(sentSeqs(h), [10_000, 11_000]);
    sack(h, 0, [[1000, 4000]]);
    assert.deepEqual(sentSeqs(h), [0], 'recovery: the hole alone (pipe of 8 segments ≥ cwnd)');
    assert.equal(c.info().cwnd, 6000, 'cwnd = ssthresh = FlightSize / 2 = 12 segments / 2');
    // The peer already holds 4..11: the retransmission draws one ACK for everything.
    h.advanceTo(t0 + 20);
    h.send({ ack: S(12 * MSS) });
    assert.equal(c.info().cwnd, 6000, 'cwnd stays at ssthresh (NewReno would deflate it to 2·SMSS here)');
    assert.deepEqual(sentSeqs(h), [12_000, 13_000, 14_000, 15_000, 16_000, 17_000], 'a window of ssthresh at once, not two segments');
    assert.equal(h.counters.get('tcp.timeout.rto'), 0);
  });

  it('after an RTO, resends a go-back-N retransmission RACK finds lost again, not at a second, backed-off RTO', () => {
    // Without the probe's follow-up (test/tcp/tlp-follow-up.test.ts): the RTO after the probe.
    const { h, c, t0 } = setup(4, { config: { tlpFollowUp: false } });
    assert.deepEqual(sentSeqs(h), [0, 1000, 2000, 3000]);
    // Nothing comes back: the tail loss probe at 2·SRTT, then the RTO 200 ms after it,
    // which resends segment 0 with cwnd = one segment.
    h.advanceTo(t0 + 20);
    assert.deepEqual(sentSeqs(h), [3000]);
    const t1 = t0 + 220;
    h.advanceTo(t1);
    assert.deepEqual(sentSeqs(h), [0]);
    assert.equal(h.counters.get('tcp.timeout.rto'), 1);
    assert.equal(c.info().rto, 400, 'backed off; without timestamps no sample releases it before new data is timed (Karn)');
    h.advanceTo(t1 + 10);
    h.send({ ack: S(1000) });
    assert.deepEqual(sentSeqs(h), [1000, 2000], 'go-back-N, cwnd two segments');
    // Segment 1 is lost again, segment 2 arrives: RACK marks 1 lost once RACK.rtt (10 ms)
    // + the reordering window (2.5 ms) have passed since it was resent.
    h.advanceTo(t1 + 20);
    sack(h, 1000, [[2000, 3000]]);
    assert.deepEqual(sentSeqs(h), [3000], 'a duplicate ACK: limited transmit lets go-back-N resend segment 3');
    h.advanceTo(t1 + 22.499);
    assert.deepEqual(sentSeqs(h), []);
    h.advanceTo(t1 + 22.5);
    assert.deepEqual(sentSeqs(h), [1000], 'resent at once (pipe 1000 < cwnd 2000), not at the RTO 400 ms after t1 + 10');
    assert.equal(h.counters.get('tcp.tx.rto-lost-retransmits'), 1);
    h.advanceTo(t1 + 32.5);
    h.send({ ack: S(3000) });
    h.advanceTo(t1 + 42.5);
    h.send({ ack: S(4000) });
    assert.equal(c.info().bytesInFlight, 0);
    assert.equal(h.counters.get('tcp.timeout.rto'), 1, 'no second RTO');
  });

  it('ignores SACK blocks outside [SND.UNA, SND.MAX] and counts them', () => {
    const { h, c } = setup(4);
    h.drain();
    h.advance(10);
    sack(h, 0, [[5000, 6000]]); // beyond SND.MAX
    sack(h, 0, [[2000, 1000]]); // empty (right edge before the left)
    assert.equal(h.counters.get('tcp.rx.sack-invalid'), 2);
    assert.equal(c.scoreboard?.sackedBytes, 0);
  });

  it('does not resend SACKed data after an RTO (go-back-N skips it, RFC 6675 §5.1)', () => {
    const { h, c, t0 } = setup(4, { config: { rack: false } });
    assert.deepEqual(sentSeqs(h), [0, 1000, 2000, 3000]);
    h.advanceTo(t0 + 10);
    sack(h, 0, [[1000, 2000]]);
    sack(h, 0, [[3000, 4000], [1000, 2000]]);
    assert.deepEqual(sentSeqs(h), []);
    h.advanceTo(t0 + 200);
    assert.equal(h.counters.get('tcp.timeout.rto'), 1);
    assert.deepEqual(sentSeqs(h), [0]);
    h.advanceTo(t0 + 210);
    h.send({ ack: S(1000), options: { sackBlocks: [[S(3000), S(4000)]] } });
    // cwnd is one segment after the RTO, two after this ACK: segment 2 only, never 1 or 3.
    assert.deepEqual(sentSeqs(h), [2000]);
    h.advanceTo(t0 + 220);
    h.send({ ack: S(4000) });
    assert.equal(c.info().bytesInFlight, 0);
    assert.equal(c.info().retransmits, 2);
  });
});

describe('SACK reneging (RFC 2018 §8)', () => {
  it('resends SACKed data when the cumulative ACK stops at it', () => {
    const { h, c, t0 } = setup(3, { config: { rack: false } });
    assert.deepEqual(sentSeqs(h), [0, 1000, 2000]);
    h.advanceTo(t0 + 10);
    sack(h, 0, [[1000, 3000]]);
    // The peer then acknowledges segment 0 only: it discarded what it SACKed.
    h.advanceTo(t0 + 20);
    h.send({ ack: S(1000) });
    assert.equal(h.counters.get('tcp.rx.sack-reneging'), 1);
    assert.equal(c.scoreboard?.sackedBytes, 0);
    // The RTO resends from SND.UNA, this time without skipping anything.
    h.advanceTo(t0 + 220);
    assert.deepEqual(sentSeqs(h), [1000]);
    h.advanceTo(t0 + 230);
    h.send({ ack: S(2000) });
    assert.deepEqual(sentSeqs(h), [2000]);
  });
});

describe('RACK (RFC 8985 §6)', () => {
  it('marks a segment lost once the reordering window has passed, on the reorder timer', () => {
    const { h, t0 } = setup(4);
    h.drain();
    h.advanceTo(t0 + 10);
    // Segment 0 missing, segment 1 SACKed: one duplicate ACK, IsLost is false.
    sack(h, 0, [[1000, 2000]]);
    assert.deepEqual(sentSeqs(h), [], 'within RACK.rtt + reo_wnd of its transmission: maybe only reordered');
    h.advanceTo(t0 + 12.4);
    assert.deepEqual(sentSeqs(h), []);
    h.advanceTo(t0 + 12.5);
    assert.deepEqual(sentSeqs(h), [0], 'sent at t0, RACK.rtt 10 ms, reo_wnd 2.5 ms');
    assert.equal(h.counters.get('tcp.rack.lost-bytes'), 1000);
  });

  it('waits for DupThresh without RACK (tcp.rack off)', () => {
    const { h, t0 } = setup(4, { config: { rack: false } });
    h.drain();
    h.advanceTo(t0 + 10);
    sack(h, 0, [[1000, 2000]]);
    h.advanceTo(t0 + 100);
    assert.deepEqual(sentSeqs(h), []);
  });
});

/** RFC 8985 §7.3's probe, new data first (`tcp.lossProbeNewData`; off by default, output.ts `sendLossProbe`). */
const NEW_DATA_PROBE = { config: { lossProbeNewData: true } };

describe('Tail loss probe (RFC 8985 §7)', () => {
  it('fires at 2·SRTT after the last ACK and repairs a lost tail without the RTO', () => {
    const { h, c, t0 } = setup(4);
    assert.deepEqual(sentSeqs(h), [0, 1000, 2000, 3000]);
    h.advanceTo(t0 + 10);
    h.send({ ack: S(2000) }); // segments 2 and 3, the tail, are lost
    assert.deepEqual(sentSeqs(h), []);
    assert.equal(c.info().srtt, 10);
    h.advanceTo(t0 + 10 + 19);
    assert.deepEqual(sentSeqs(h), [], 'not before PTO = 2·SRTT = 20 ms');
    h.advanceTo(t0 + 10 + 20);
    // No new data: the probe resends the last segment.
    assert.deepEqual(sentSeqs(h), [3000]);
    assert.equal(h.counters.get('tcp.tx.loss-probes'), 1);
    // The probe draws a SACK; RACK then marks segment 2 (sent long before) lost at once.
    h.advanceTo(t0 + 40);
    sack(h, 2000, [[3000, 4000]]);
    assert.deepEqual(sentSeqs(h), [2000]);
    h.advanceTo(t0 + 50);
    h.send({ ack: S(4000) });
    assert.equal(c.info().bytesInFlight, 0);
    assert.equal(h.counters.get('tcp.timeout.rto'), 0, 'repaired without an RTO');
  });

  it('resends the last segment as the probe even with new data waiting (the default); the D-SACK it draws means nothing was lost', () => {
    const { h, c, t0 } = setup(12);
    assert.deepEqual(sentSeqs(h), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => i * MSS), 'cwnd: ten segments; two wait');
    const { cwnd, ssthresh } = c.info();
    h.advanceTo(t0 + 19);
    assert.deepEqual(sentSeqs(h), []);
    h.advanceTo(t0 + 20);
    assert.deepEqual(sentSeqs(h), [9000], 'the probe: the last segment again, not segment 10');
    assert.equal(h.counters.get('tcp.tx.loss-probes'), 1);
    // Every segment had arrived; only the peer's ACK of the flight was lost. The duplicate
    // draws an immediate ACK with a D-SACK (RFC 2883) for it.
    h.advanceTo(t0 + 25);
    sack(h, 10_000, [[9000, 10_000]]);
    assert.equal(h.counters.get('tcp.rx.dsack'), 1);
    assert.equal(h.counters.get('tcp.tlp.repaired'), 0, 'RFC 8985 §7.4: a D-SACK for the probe: no loss, no congestion response');
    assert.equal(c.info().cwnd, 2 * cwnd, 'slow start goes on: the ten segments grow cwnd by ten');
    assert.equal(c.info().ssthresh, ssthresh);
    assert.deepEqual(sentSeqs(h), [10_000, 11_000], 'the waiting segments follow');
  });

  it('a probe that resent a lost last segment is a congestion event once an ACK above it carries no D-SACK (§7.4.2)', () => {
    const { h, c, t0 } = setup(12);
    assert.equal(sentSeqs(h).length, 10);
    h.advanceTo(t0 + 20);
    assert.deepEqual(sentSeqs(h), [9000]);
    // Segment 9 was lost (and the ACK of 0-8 too): the probe repaired it. An ACK of exactly
    // TLP.end_seq could as well be the original's, with the probe's D-SACK to follow: no
    // verdict yet (RFC 8985 §7.4.2, Linux tcp_process_tlp_ack).
    h.advanceTo(t0 + 25);
    h.send({ ack: S(10_000) });
    assert.equal(h.counters.get('tcp.tlp.repaired'), 0);
    assert.deepEqual(sentSeqs(h), [10_000, 11_000]);
    const { cwnd } = c.info();
    // No D-SACK came; the ACK above TLP.end_seq decides: a loss, the window is reduced.
    h.advanceTo(t0 + 30);
    h.send({ ack: S(12_000) });
    assert.equal(h.counters.get('tcp.tlp.repaired'), 1);
    assert.ok(c.info().cwnd < cwnd, 'the window is reduced');
  });

  it('a probe that raced a late ACK: the original\'s ACK, then the probe\'s D-SACK, and no congestion event (§7.4.1)', () => {
    const { h, c, t0 } = setup(12);
    assert.equal(sentSeqs(h).length, 10);
    h.advanceTo(t0 + 20);
    assert.deepEqual(sentSeqs(h), [9000], 'the probe: the last segment again');
    // The receiver held its ACK past the PTO: the original's ACK first, then the probe's D-SACK.
    h.advanceTo(t0 + 25);
    h.send({ ack: S(10_000) });
    assert.deepEqual(sentSeqs(h), [10_000, 11_000]);
    sack(h, 10_000, [[9000, 10_000]]);
    assert.equal(h.counters.get('tcp.rx.dsack'), 1, 'the D-SACK reports the probe as a duplicate');
    const { cwnd } = c.info();
    h.advanceTo(t0 + 30);
    h.send({ ack: S(12_000) });
    assert.equal(h.counters.get('tcp.tlp.repaired'), 0);
    assert.ok(c.info().cwnd >= cwnd, 'the window is not reduced');
  });

  it('sends new data as the probe when there is some, beyond cwnd (tcp.lossProbeNewData, RFC 8985 §7.3 and Linux)', () => {
    const { h, t0 } = setup(12, NEW_DATA_PROBE);
    assert.deepEqual(sentSeqs(h), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => i * MSS), 'cwnd: ten segments; two wait');
    // Nothing comes back: the PTO (2·SRTT after the last transmission) fires first.
    h.advanceTo(t0 + 19);
    assert.deepEqual(sentSeqs(h), []);
    h.advanceTo(t0 + 20);
    assert.deepEqual(sentSeqs(h), [10_000]);
    assert.equal(h.counters.get('tcp.tx.loss-probes'), 1);
  });

  it('a lost probe is found by RACK once data sent after it is SACKed, and repaired in recovery without the RTO (§7.4)', () => {
    const { h, c, t0 } = setup(12, NEW_DATA_PROBE);
    assert.deepEqual(sentSeqs(h), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => i * MSS));
    h.advanceTo(t0 + 20);
    assert.deepEqual(sentSeqs(h), [10_000], 'the probe: new data (it will be lost)');
    // The flight's ACK was only late; it opens cwnd, and the last segment follows the probe.
    h.advanceTo(t0 + 25);
    h.send({ ack: S(10_000) });
    assert.deepEqual(sentSeqs(h), [11_000]);
    // Segment 11 is SACKed 10 ms later: the probe, sent before it, is older than RACK.rtt
    // (10 ms) + the reordering window (2.5 ms), so RACK marks it lost at once.
    h.advanceTo(t0 + 35);
    sack(h, 10_000, [[11_000, 12_000]]);
    assert.deepEqual(sentSeqs(h), [10_000], 'the probe resent in recovery');
    assert.equal(h.counters.get('tcp.sack.recoveries'), 1, 'the lost probe is a loss like any other: a congestion response');
    h.advanceTo(t0 + 45);
    h.send({ ack: S(12_000) });
    assert.equal(c.info().bytesInFlight, 0);
    assert.equal(h.counters.get('tcp.timeout.rto'), 0);
  });

  it('with one segment in flight waits 2·SRTT + WCDelAckT, capped by the RTO, and probes instead of the RTO', () => {
    const { h, c, t0 } = setup(1, { config: { tlpFollowUp: false } });
    assert.deepEqual(sentSeqs(h), [0]);
    h.advanceTo(t0 + 199);
    assert.deepEqual(sentSeqs(h), []);
    h.advanceTo(t0 + 200); // min(20 + 200, RTO 200)
    assert.deepEqual(sentSeqs(h), [0], 'the probe resends the last segment');
    assert.equal(h.counters.get('tcp.tx.loss-probes'), 1);
    assert.equal(h.counters.get('tcp.timeout.rto'), 0);
    // Only one probe: the RTO (restarted at the probe) comes next.
    h.advanceTo(t0 + 399);
    assert.deepEqual(sentSeqs(h), []);
    h.advanceTo(t0 + 400);
    assert.deepEqual(sentSeqs(h), [0]);
    assert.equal(h.counters.get('tcp.timeout.rto'), 1);
    assert.equal(c.info().retransmits, 2);
  });

  it('with less than a segment in flight that ends with our FIN waits 2·SRTT only, as a FIN is ACKed at once (deliberately unlike Linux)', () => {
    const { h, c, t0 } = setup(0, { config: { tlpFollowUp: false } });
    const describe = (segments: ReturnType<TcpHarness['drain']>): [number, number, boolean][] =>
      segments.map((segment) => [segment.seq - S(0), segment.payload.length, (segment.flags & FIN) !== 0]);
    c.send(pattern(MSS / 2, 1));
    c.shutdown();
    assert.deepEqual(describe(h.drain()), [[0, MSS / 2, false], [MSS / 2, 0, true]], 'the last data, then the FIN');
    assert.equal(c.info().bytesInFlight, MSS / 2 + 1, 'no more than one segment: WCDelAckT would apply');
    h.advanceTo(t0 + 19);
    assert.deepEqual(h.drain(), []);
    h.advanceTo(t0 + 20); // 2·SRTT; with WCDelAckT the probe would wait for the RTO (t0 + 200)
    assert.deepEqual(describe(h.drain()), [[MSS / 2, 0, true]], 'the probe resends the last segment, the FIN');
    assert.equal(h.counters.get('tcp.tx.loss-probes'), 1);
    assert.equal(h.counters.get('tcp.timeout.rto'), 0);
    // The ACK of everything ends it: nothing in flight, nothing more sent.
    h.advanceTo(t0 + 30);
    h.send({ ack: S(MSS / 2) + 1 });
    assert.equal(c.info().bytesInFlight, 0);
    h.advanceTo(t0 + 500);
    assert.deepEqual(describe(h.drain()).filter(([, length, fin]) => length > 0 || fin), []);
  });

  it('a lost probe does not move the RTO: it fires one RTO after the last ACK, not PTO + RTO (deliberately unlike §7.3)', () => {
    const { h, c, t0 } = setup(4, { config: { tlpFollowUp: false } });
    assert.deepEqual(sentSeqs(h), [0, 1000, 2000, 3000]);
    h.advanceTo(t0 + 10);
    h.send({ ack: S(2000) }); // the RTO restarts: t0 + 10 + 200
    h.advanceTo(t0 + 30);
    assert.deepEqual(sentSeqs(h), [3000], 'the probe at 2·SRTT; it is lost, and the tail with it');
    assert.equal(c.tlpEndSeq, S(4000));
    h.advanceTo(t0 + 209.999);
    assert.deepEqual(sentSeqs(h), []);
    assert.equal(h.counters.get('tcp.timeout.rto'), 0);
    h.advanceTo(t0 + 210);
    assert.deepEqual(sentSeqs(h), [2000], 'go-back-N from SND.UNA at the instant the RTO stood before the probe (RFC 8985 §7.3 and Linux: t0 + 230)');
    assert.equal(h.counters.get('tcp.timeout.rto'), 1);
    assert.equal(h.counters.get('tcp.timeout.rto-after-tlp'), 1);
  });

  it('where the PTO is close to the RTO (SRTT 90 ms), the RTO waits one PTO after the probe: neither at once nor PTO + RTO', () => {
    // Linux's PTO (tcp.ptoFloor off): 2·SRTT + 2 ms, exactly.
    const h = new TcpHarness({ config: { ptoFloor: false } });
    h.synReceived({ mss: MSS, sackPermitted: true });
    h.advance(90);
    h.send();
    const c = h.accepted[0]!;
    c.send(pattern(MSS));
    h.recv({ seq: LOCAL_ISS + 1, payload: pattern(MSS) });
    h.advance(90);
    h.send({ ack: S(0) });
    // Two 90 ms samples: SRTT 90, RTTVAR 33.75, RTO = 90 + 4·33.75 = 225; PTO = 2·SRTT +
    // 2 ms = 182.
    assert.equal(c.info().srtt, 90);
    assert.equal(c.info().rto, 225);
    const t0 = h.clock.now();
    c.send(pattern(4 * MSS, 1));
    assert.deepEqual(sentSeqs(h), [0, 1000, 2000, 3000]);
    h.advanceTo(t0 + 181.999);
    assert.deepEqual(sentSeqs(h), [], 'not at 2·SRTT: the PTO has the 2 ms slack');
    h.advanceTo(t0 + 182);
    assert.deepEqual(sentSeqs(h), [3000], 'the probe; the RTO stood at t0 + 225, 45 ms on');
    h.advanceTo(t0 + 363.999);
    assert.deepEqual(sentSeqs(h), [], 'not at t0 + 225: the probe has one PTO to draw an answer');
    h.advanceTo(t0 + 364);
    assert.deepEqual(sentSeqs(h), [0], 'the RTO one PTO after the probe (RFC 8985 §7.3 and Linux: t0 + 182 + 225)');
    assert.equal(h.counters.get('tcp.timeout.rto'), 1);
  });
});

describe('D-SACK (RFC 2883)', () => {
  it('a D-SACK after the original\'s ACK: the probe was needless, no reduction, and the reordering window widens', () => {
    const { h, c, t0 } = setup(4, { config: { congestion: 'reno' } });
    h.drain();
    h.advanceTo(t0 + 10);
    h.send({ ack: S(2000) });
    const cwnd = c.info().cwnd;
    h.advanceTo(t0 + 30);
    assert.deepEqual(sentSeqs(h), [3000], 'the loss probe');
    // The originals were only late: the peer acknowledges all, exactly TLP.end_seq and no
    // D-SACK yet: no verdict (RFC 8985 §7.4.2 waits for an ACK above it, as Linux).
    h.advanceTo(t0 + 35);
    h.send({ ack: S(4000) });
    assert.equal(h.counters.get('tcp.tlp.repaired'), 0);
    assert.equal(c.info().cwnd, cwnd);
    // Then the peer reports the probe as a duplicate: nothing was lost.
    h.advanceTo(t0 + 40);
    sack(h, 4000, [[3000, 4000]]);
    assert.equal(h.counters.get('tcp.rx.dsack'), 1);
    assert.equal(h.counters.get('tcp.tlp.repaired'), 0);
    assert.equal(c.info().cwnd, cwnd);
    // RFC 8985 §6.2 step 4: the needless retransmission widens RACK's reordering
    // window from min_RTT/4 = 2.5 ms to 2 × 2.5 ms.
    assert.equal(reorderWindow(c), 5);
  });

  it('a D-SACK widens the reordering window: a later out-of-order segment is marked lost 2.5 ms later', () => {
    const { h, c, t0 } = setup(4);
    h.drain();
    h.advanceTo(t0 + 10);
    sack(h, 4000, [[3000, 4000]]); // everything acknowledged, one duplicate reported
    assert.equal(reorderWindow(c), 5);
    const t1 = h.clock.now();
    c.send(pattern(4 * MSS, 2));
    h.drain();
    h.advanceTo(t1 + 10);
    sack(h, 4000, [[5000, 6000]]);
    h.advanceTo(t1 + 14.9);
    assert.deepEqual(sentSeqs(h), [], 'RACK.rtt 10 ms + reo_wnd 5 ms has not passed');
    h.advanceTo(t1 + 15);
    assert.deepEqual(sentSeqs(h), [4000]);
  });

  it('does not count a D-SACK as spurious when nothing was retransmitted (a duplicated frame)', () => {
    const { h, t0 } = setup(2);
    h.drain();
    h.advanceTo(t0 + 10);
    h.send({ ack: S(2000) });
    sack(h, 2000, [[1000, 2000]]);
    assert.equal(h.counters.get('tcp.rx.dsack'), 1);
    assert.equal(h.counters.get('tcp.tx.spurious-retransmits'), 0);
  });

  it('reports a duplicate segment it receives in a D-SACK block first', () => {
    const h = new TcpHarness();
    h.established({ mss: 1460, sackPermitted: true });
    h.send({ seq: R1, flags: ACK | PSH, payload: pattern(100) });
    h.advance(40);
    h.recv({ ack: R1 + 100, options: {} });
    h.send({ seq: R1, flags: ACK | PSH, payload: pattern(100) });
    h.recv({ ack: R1 + 100, options: { sackBlocks: [[R1, R1 + 100]] } });
    // Reported once: the next ACK has no D-SACK.
    h.send({ seq: R1 + 200, flags: ACK | PSH, payload: pattern(50) });
    h.recv({ ack: R1 + 100, options: { sackBlocks: [[R1 + 200, R1 + 250]] } });
    // Data beyond the window is no duplicate: plain ACK, no D-SACK block.
    h.send({ seq: R1 + 100 + 70_000, flags: ACK | PSH, payload: pattern(10) });
    h.recv({ ack: R1 + 100, options: { sackBlocks: [[R1 + 200, R1 + 250]] } });
    assert.equal(h.counters.get('tcp.rx.duplicate-data'), 1);
  });
});

describe('Limited transmit (RFC 3042) and peers without SACK', () => {
  it('sends one new segment on each of the first two duplicate ACKs', () => {
    const { h, t0 } = setup(13, { sack: false });
    assert.deepEqual(sentSeqs(h), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => i * MSS), 'cwnd: the initial ten segments (the warm-up did not fill it)');
    h.advanceTo(t0 + 10);
    h.send({ ack: S(0) });
    assert.deepEqual(sentSeqs(h), [10_000]);
    h.send({ ack: S(0) });
    assert.deepEqual(sentSeqs(h), [11_000]);
    assert.equal(h.counters.get('tcp.tx.limited-transmit'), 2);
  });

  it('keeps NewReno for a peer without SACK: fast retransmit, then a partial ACK resends the next hole', () => {
    const { h, c, t0 } = setup(6, { sack: false });
    assert.equal(c.scoreboard, undefined);
    assert.deepEqual(sentSeqs(h), [0, 1000, 2000, 3000, 4000, 5000]);
    h.advanceTo(t0 + 10);
    // Segments 0 and 3 lost.
    h.send({ ack: S(0) });
    h.send({ ack: S(0) });
    assert.deepEqual(sentSeqs(h), []);
    h.send({ ack: S(0) });
    assert.deepEqual(sentSeqs(h), [0], 'fast retransmit on the third duplicate ACK');
    h.advanceTo(t0 + 20);
    h.send({ ack: S(3000) });
    assert.deepEqual(sentSeqs(h), [3000], 'RFC 6582 partial ACK');
    h.advanceTo(t0 + 30);
    h.send({ ack: S(6000) });
    assert.equal(c.info().bytesInFlight, 0);
    assert.equal(h.counters.get('tcp.timeout.rto'), 0);
  });
});

/**
 * The Linux-receiver pattern of the loss bench (bench/BASELINE.md): the initial ten
 * segments in flight, segment 0 lost; the first two SACKs send limited transmit (10, 11),
 * the third starts recovery with FlightSize 12 000. NewReno keeps the arithmetic plain:
 * ssthresh = cwnd = RecoverFS / 2 = 6000 (PRR reads ssthresh from whichever congestion
 * control runs; CUBIC's would be 8400), and pipe (8000: segments 4-11) is above it.
 */
function enterRecoveryWithTenInFlight(config: Partial<TcpConfig>): Setup {
  const setupResult = setup(30, { config: { sndBuf: 64 * 1024, congestion: 'reno', ...config } });
  const { h, t0 } = setupResult;
  assert.deepEqual(sentSeqs(h), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => i * MSS));
  h.advanceTo(t0 + 10);
  sack(h, 0, [[1000, 2000]]);
  sack(h, 0, [[1000, 3000]]);
  assert.deepEqual(sentSeqs(h), [10_000, 11_000], 'limited transmit (RFC 3042)');
  sack(h, 0, [[1000, 4000]]);
  return setupResult;
}

describe('Proportional Rate Reduction (RFC 6937, tcp.prr)', () => {
  it('sends one segment per two delivered while pipe > ssthresh, then catches up to ssthresh (PRR-SSRB), ends with cwnd = ssthresh', () => {
    const { h, c, t0 } = enterRecoveryWithTenInFlight({});
    // Entry ACK: DeliveredData 1000 (segment 3); sndcnt = ceil(1000 · 6000 / 12000) − 0 = 500:
    // the fast retransmission, and nothing after it (pipe 8000 + 1000 ≥ 8500).
    assert.deepEqual(sentSeqs(h), [0]);
    assert.equal(c.info().ssthresh, 6000);
    // Each further SACK (the peer's answers to the original flight, all at t0 + 10)
    // delivers one segment; prr_out counts the retransmission (1000). While pipe >
    // ssthresh, sndcnt = ceil(prr_delivered · 6000 / 12000) − prr_out, and a segment
    // leaves whenever sndcnt > 0 (whole segments, as Linux's ceiling in packets).
    const perAck: [number, number[]][] = [
      [4, []], //        delivered 2000: 1000 − 1000 = 0; pipe 8000
      [5, [12_000]], //  delivered 3000: 1500 − 1000 = 500 > 0 → one segment; prr_out 2000
      [6, []], //        delivered 4000: 2000 − 2000 = 0; pipe 7000
      // pipe ≤ ssthresh from here (segment 0's retransmission + the rest): the reduction
      // bound, min(ssthresh − pipe, max(prr_delivered − prr_out, DeliveredData) [+ SMSS on
      // a safe ACK; these do not advance SND.UNA]).
      [7, []], //        pipe 6000: min(0, 3000) = 0
      [8, [13_000]], //  pipe 5000: min(1000, 4000) = 1000 → one segment; prr_out 3000
      [9, [14_000]], //  pipe 5000: min(1000, 4000) = 1000 → one segment
    ];
    for (const [segment, expected] of perAck) {
      sack(h, 0, [[1000, (segment + 1) * MSS]]);
      assert.deepEqual(sentSeqs(h), expected, `SACK of segment ${segment}`);
    }
    // The retransmission arrives: the full ACK ends recovery with cwnd = ssthresh (RFC 6937 §3).
    h.advanceTo(t0 + 20);
    h.send({ ack: S(12 * MSS) });
    assert.equal(c.info().cwnd, 6000);
    assert.equal(h.counters.get('tcp.timeout.rto'), 0);
    assert.equal(h.counters.get('tcp.tx.recovery-probes'), 0);
  });

  it('reads ssthresh from the congestion control: with CUBIC (β = 0.7) pipe is at ssthresh from entry, one segment a SACK', () => {
    const { h, c } = enterRecoveryWithTenInFlight({ congestion: 'cubic' });
    assert.equal(c.info().ssthresh, 8400, 'β · FlightSize = 0.7 · 12 000');
    // Entry: pipe 8000 ≤ ssthresh, the reduction bound: min(8400 − 8000, max(1000, 1000)) = 400:
    // the fast retransmission. Then each SACK: pipe 8000 again, sndcnt 400 → one segment.
    assert.deepEqual(sentSeqs(h), [0]);
    for (const segment of [4, 5, 6, 7]) {
      sack(h, 0, [[1000, (segment + 1) * MSS]]);
      assert.deepEqual(sentSeqs(h), [(segment + 8) * MSS], `SACK of segment ${segment}`);
    }
  });

  it('RFC 6675 alone (tcp.prr off) sends nothing until pipe has fallen below cwnd', () => {
    const { h } = enterRecoveryWithTenInFlight({ prr: false });
    assert.deepEqual(sentSeqs(h), [0]);
    // pipe after each SACK: 8000, 7000, 6000 (= cwnd), then 5000: one segment a SACK
    // from there (RFC 6675 §5 (C): cwnd − pipe ≥ 1 SMSS).
    const perAck: [number, number[]][] = [
      [4, []],
      [5, []],
      [6, []],
      [7, [12_000]],
      [8, [13_000]],
      [9, [14_000]],
    ];
    for (const [segment, expected] of perAck) {
      sack(h, 0, [[1000, (segment + 1) * MSS]]);
      assert.deepEqual(sentSeqs(h), expected, `SACK of segment ${segment}`);
    }
  });
});

describe('Recovery probe (tcp.recoveryProbe; not in RFC 8985 or Linux)', () => {
  it('the ACK for a lone fast retransmission is lost: the probe resends SND.UNA at 2·SRTT, D-SACK answers, no RTO', () => {
    const { h, c, t0 } = enterRecoveryWithTenInFlight({});
    // Entry at t0 + 10: the retransmission is the last segment sent; the peer's SACKs for
    // 4..11 are compressed into the one ACK that the retransmission draws (Linux), and
    // that ACK is lost: nothing more comes back.
    assert.deepEqual(sentSeqs(h), [0]);
    h.advanceTo(t0 + 10 + 19.999);
    assert.deepEqual(sentSeqs(h), [], 'not before max(2·SRTT, 10 ms) = 20 ms after the retransmission');
    h.advanceTo(t0 + 10 + 20);
    assert.deepEqual(sentSeqs(h), [0], 'the probe: the segment at SND.UNA again');
    assert.equal(h.counters.get('tcp.tx.recovery-probes'), 1);
    assert.equal(c.info().cwnd, 6000, 'the probe does not reduce the window again');
    // The peer had it: a D-SACK for the duplicate and the cumulative ACK for everything.
    h.advanceTo(t0 + 40);
    h.send({ ack: S(12 * MSS), options: { sackBlocks: [[S(0), S(1000)]] } });
    assert.equal(h.counters.get('tcp.tx.spurious-retransmits'), 1, 'D-SACK shows the probe was a duplicate');
    assert.equal(c.info().cwnd, 6000, 'recovery ends with cwnd = ssthresh; the fast retransmission was not spurious, nothing undone');
    assert.deepEqual(sentSeqs(h).slice(0, 2), [12_000, 13_000], 'the transfer goes on at once');
    assert.equal(h.counters.get('tcp.timeout.rto'), 0, 'no RTO');
  });

  it('the fast retransmission itself is lost: the probe repairs the hole', () => {
    const { h, c, t0 } = enterRecoveryWithTenInFlight({});
    assert.deepEqual(sentSeqs(h), [0]);
    h.advanceTo(t0 + 30);
    assert.deepEqual(sentSeqs(h), [0]);
    h.advanceTo(t0 + 40);
    h.send({ ack: S(12 * MSS) });
    assert.equal(c.info().bytesInFlight > 0, true);
    assert.equal(h.counters.get('tcp.tx.spurious-retransmits'), 0);
    assert.equal(h.counters.get('tcp.timeout.rto'), 0);
    assert.equal(c.info().cwnd, 6000);
  });

  it('restarts from each ACK that reports delivery and from each transmission', () => {
    const { h, t0 } = enterRecoveryWithTenInFlight({});
    assert.deepEqual(sentSeqs(h), [0]);
    h.advanceTo(t0 + 25);
    sack(h, 0, [[1000, 5000]]); // segment 4 SACKed at t0 + 25: the probe moves to t0 + 45
    assert.deepEqual(sentSeqs(h), []);
    h.advanceTo(t0 + 44.999);
    assert.deepEqual(sentSeqs(h), []);
    h.advanceTo(t0 + 45);
    assert.deepEqual(sentSeqs(h), [0]);
  });

  it('an ACK reporting delivery renews them: a later silence in the same episode is probed at the first interval again', () => {
    const { h, t0 } = enterRecoveryWithTenInFlight({});
    assert.deepEqual(sentSeqs(h), [0]);
    h.advanceTo(t0 + 30);
    assert.deepEqual(sentSeqs(h), [0], 'first probe');
    h.advanceTo(t0 + 70);
    assert.deepEqual(sentSeqs(h), [0], 'second probe, after twice the wait');
    // An answer reports segment 4 delivered (the episode goes on: SND.UNA is still 0).
    h.advanceTo(t0 + 75);
    sack(h, 0, [[1000, 5000]]);
    sentSeqs(h);
    h.advanceTo(t0 + 94.999);
    assert.deepEqual(sentSeqs(h), []);
    h.advanceTo(t0 + 95);
    assert.deepEqual(sentSeqs(h), [0], 'probed again 20 ms after the delivery, not 80, and not left to the RTO');
    assert.equal(h.counters.get('tcp.tx.recovery-probes'), 3);
    assert.equal(h.counters.get('tcp.timeout.rto'), 0);
  });

  it('backs off: each unanswered probe waits twice as long as the one before, and none goes past the RTO', () => {
    const { h, t0 } = enterRecoveryWithTenInFlight({});
    assert.deepEqual(sentSeqs(h), [0]);
    // The retransmission left at t0 + 10; 2·SRTT = 20 ms.
    for (const [at, wait] of [[30, 20], [70, 40], [150, 80]] as const) {
      h.advanceTo(t0 + at - 0.001);
      assert.deepEqual(sentSeqs(h), [], `nothing before t0 + ${at}`);
      h.advanceTo(t0 + at);
      assert.deepEqual(sentSeqs(h), [0], `a probe ${wait} ms after the last transmission`);
    }
    // The next would wait 160 ms, past the RTO: no fourth probe.
    h.advanceTo(t0 + 199.999);
    assert.deepEqual(sentSeqs(h), []);
    assert.equal(h.counters.get('tcp.timeout.rto'), 0);
    // The RTO was armed when the data left at t0 and never moved by the probes.
    h.advanceTo(t0 + 200);
    assert.deepEqual(sentSeqs(h), [0]);
    assert.equal(h.counters.get('tcp.timeout.rto'), 1);
    assert.equal(h.counters.get('tcp.tx.recovery-probes'), 3);
  });

  it('is bounded: four probes without an ACK reporting delivery, then the RTO at its usual instant', () => {
    // A 1 s RTO floor leaves room for more than four doublings of 20 ms.
    const { h, t0 } = enterRecoveryWithTenInFlight({ minRto: 1000 });
    assert.deepEqual(sentSeqs(h), [0]);
    for (const at of [30, 70, 150, 310]) {
      h.advanceTo(t0 + at);
      assert.deepEqual(sentSeqs(h), [0], `a probe at t0 + ${at}`);
    }
    h.advanceTo(t0 + 999.999);
    assert.deepEqual(sentSeqs(h), [], 'no fifth probe (it would have left at t0 + 630)');
    assert.equal(h.counters.get('tcp.tx.recovery-probes'), 4);
    h.advanceTo(t0 + 1000);
    assert.deepEqual(sentSeqs(h), [0]);
    assert.equal(h.counters.get('tcp.timeout.rto'), 1);
  });

  it('off (tcp.recoveryProbe false): the lost ACK costs the RTO, as before', () => {
    const { h, t0 } = enterRecoveryWithTenInFlight({ recoveryProbe: false });
    assert.deepEqual(sentSeqs(h), [0]);
    h.advanceTo(t0 + 199.999);
    assert.deepEqual(sentSeqs(h), []);
    h.advanceTo(t0 + 200);
    assert.deepEqual(sentSeqs(h), [0]);
    assert.equal(h.counters.get('tcp.timeout.rto'), 1);
    assert.equal(h.counters.get('tcp.tx.recovery-probes'), 0);
  });
});
