/**
 * The tail probe's follow-up (`tcp.tlpFollowUp`; not in RFC 8985 or Linux, which wait for
 * the RTO after an unanswered probe) on the virtual clock, against exact segments: when
 * the tail loss probe draws no ACK for max(2·SRTT, 10 ms), the segment at SND.UNA is
 * resent; each ACK that advances SND.UNA restarts that wait and the count; four without one at most,
 * each unanswered one waiting twice as long as the one before, and the RTO stays where it stood. RFC 8985 §7.4's congestion response follows the
 * episode's last retransmission: a D-SACK for the follow-up says it only repeated data.
 *
 * The sender is test/support/sack-sender.ts's: SRTT 10 ms, the RTO at its 200 ms floor,
 * the PTO 2·SRTT = 20 ms, so the follow-up waits 20 ms too.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MSS, S, sack, sentSeqs, setup } from '../support/sack-sender.ts';

const TEN = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => i * MSS);
/**
 * RFC 8985 §7.3's probe of new data (`tcp.lossProbeNewData`): the case the follow-up matters
 * most for, since a receiver may hold an in-order segment for its delayed-ACK timer. The
 * default probe resends the last segment (the tests below without it).
 */
const NEW_DATA_PROBE = { config: { lossProbeNewData: true } };

describe('The tail probe\'s follow-up (tcp.tlpFollowUp; not in RFC 8985 or Linux)', () => {
  it('the flight\'s ACK lost and the probe\'s answer delayed: SND.UNA again 2·SRTT after the probe, a D-SACK answers, no congestion event', () => {
    const { h, c, t0 } = setup(12, NEW_DATA_PROBE);
    assert.deepEqual(sentSeqs(h), TEN);
    h.advanceTo(t0 + 20);
    assert.deepEqual(sentSeqs(h), [10_000], 'the tail loss probe: new data (in order at the peer, which may delay its ACK 40 ms)');
    h.advanceTo(t0 + 39.999);
    assert.deepEqual(sentSeqs(h), []);
    h.advanceTo(t0 + 40);
    assert.deepEqual(sentSeqs(h), [0], 'the follow-up: the segment at SND.UNA, which a receiver answers at once');
    assert.equal(h.counters.get('tcp.tx.tlp-follow-ups'), 1);
    const cwnd = c.info().cwnd;
    // The peer had everything: its duplicate ACK covers the flight and the probe, with a D-SACK.
    h.advanceTo(t0 + 50);
    sack(h, 11_000, [[0, 1000]]);
    assert.deepEqual(sentSeqs(h), [11_000], 'the last segment leaves at once');
    assert.equal(h.counters.get('tcp.tlp.repaired'), 0, 'a D-SACKed follow-up repaired nothing (RFC 8985 §7.4.1)');
    assert.ok(c.info().cwnd >= cwnd, 'no window reduction');
    assert.equal(h.counters.get('tcp.timeout.rto'), 0);
  });

  it('the flight\'s ACK and the probe lost: the follow-up\'s answer shows the probe missing, RACK resends it, no RTO', () => {
    const { h, t0 } = setup(11, NEW_DATA_PROBE);
    assert.deepEqual(sentSeqs(h), TEN);
    h.advanceTo(t0 + 20);
    assert.deepEqual(sentSeqs(h), [10_000], 'the probe: the last new segment (lost)');
    h.advanceTo(t0 + 40);
    assert.deepEqual(sentSeqs(h), [0], 'the follow-up');
    // The peer held 0..9: a duplicate, answered at once with a D-SACK; the probe is
    // missing. The follow-up (sent after the probe) was delivered and the probe is older
    // than RACK.rtt + the reordering window: lost (RFC 8985 §6.2), recovery resends it.
    h.advanceTo(t0 + 50);
    sack(h, 10_000, [[0, 1000]]);
    assert.deepEqual(sentSeqs(h), [10_000]);
    assert.equal(h.counters.get('tcp.sack.recoveries'), 1, 'the lost probe is a loss like any other: a congestion response');
    h.advanceTo(t0 + 60);
    h.send({ ack: S(11_000) });
    assert.equal(h.counters.get('tcp.tx.tlp-follow-ups'), 1);
    assert.equal(h.counters.get('tcp.timeout.rto'), 0);
    h.advance(1000);
    assert.deepEqual(sentSeqs(h), []);
  });

  it('restarts from an ACK that advances SND.UNA: a late ACK for part of the flight, then the follow-up repairs the hole', () => {
    const { h, t0 } = setup(4);
    assert.deepEqual(sentSeqs(h), [0, 1000, 2000, 3000]);
    h.advanceTo(t0 + 20);
    assert.deepEqual(sentSeqs(h), [3000], 'the probe: the last segment again');
    // A late ACK for segments 0 and 1 (segment 2 was lost; the probe and its answer are
    // still on the way): nothing delivered was sent after segment 2, so RACK cannot mark it.
    h.advanceTo(t0 + 30);
    h.send({ ack: S(2000) });
    assert.deepEqual(sentSeqs(h), []);
    h.advanceTo(t0 + 49.999);
    assert.deepEqual(sentSeqs(h), [], 'the wait restarts from the ACK that advanced SND.UNA');
    h.advanceTo(t0 + 50);
    assert.deepEqual(sentSeqs(h), [2000], 'the follow-up: SND.UNA, the hole');
    h.advanceTo(t0 + 60);
    h.send({ ack: S(4000) });
    assert.equal(h.counters.get('tcp.tx.tlp-follow-ups'), 1);
    assert.equal(h.counters.get('tcp.tlp.repaired'), 1, 'the follow-up filled a hole: a congestion event (RFC 8985 §7.4.2)');
    assert.equal(h.counters.get('tcp.timeout.rto'), 0);
  });

  it('backs off: each unanswered follow-up waits twice as long as the one before, and none goes past the RTO', () => {
    const { h, t0 } = setup(4);
    assert.deepEqual(sentSeqs(h), [0, 1000, 2000, 3000]);
    h.advanceTo(t0 + 20);
    assert.deepEqual(sentSeqs(h), [3000], 'the probe: the last segment again (no new data)');
    for (const [at, wait] of [[40, 20], [80, 40], [160, 80]] as const) {
      h.advanceTo(t0 + at - 0.001);
      assert.deepEqual(sentSeqs(h), [], `nothing before t0 + ${at}`);
      h.advanceTo(t0 + at);
      assert.deepEqual(sentSeqs(h), [0], `a follow-up ${wait} ms after the probe or the last follow-up`);
    }
    // The next would wait 160 ms, past the RTO.
    h.advanceTo(t0 + 199.999);
    assert.deepEqual(sentSeqs(h), [], 'no fourth');
    assert.equal(h.counters.get('tcp.tx.tlp-follow-ups'), 3);
    h.advanceTo(t0 + 200);
    assert.deepEqual(sentSeqs(h), [0], 'the RTO, one RTO after the flight left: the follow-ups did not move it');
    assert.equal(h.counters.get('tcp.timeout.rto-after-tlp'), 1);
  });

  it('is bounded: four follow-ups per probe, then the RTO at the instant it stood before the probe', () => {
    // A 1 s RTO floor leaves room for more than four doublings of 20 ms.
    const { h, t0 } = setup(4, { config: { minRto: 1000 } });
    assert.deepEqual(sentSeqs(h), [0, 1000, 2000, 3000]);
    h.advanceTo(t0 + 20);
    assert.deepEqual(sentSeqs(h), [3000], 'the probe');
    for (const at of [40, 80, 160, 320]) {
      h.advanceTo(t0 + at);
      assert.deepEqual(sentSeqs(h), [0], `a follow-up at t0 + ${at}`);
    }
    h.advanceTo(t0 + 999.999);
    assert.deepEqual(sentSeqs(h), [], 'no fifth (it would have left at t0 + 640)');
    assert.equal(h.counters.get('tcp.tx.tlp-follow-ups'), 4);
    h.advanceTo(t0 + 1000);
    assert.deepEqual(sentSeqs(h), [0], 'the RTO at the instant it stood before the probe');
    assert.equal(h.counters.get('tcp.timeout.rto-after-tlp'), 1);
  });

  it('is not sent when the probe is answered in time', () => {
    const { h, t0 } = setup(4);
    assert.deepEqual(sentSeqs(h), [0, 1000, 2000, 3000]);
    h.advanceTo(t0 + 20);
    assert.deepEqual(sentSeqs(h), [3000]);
    h.advanceTo(t0 + 30);
    h.send({ ack: S(4000), options: { sackBlocks: [[S(3000), S(4000)]] } });
    h.advance(1000);
    assert.deepEqual(sentSeqs(h), []);
    assert.equal(h.counters.get('tcp.tx.tlp-follow-ups'), 0);
  });

  it('off (tcp.tlpFollowUp false): the unanswered probe waits for the RTO, as RFC 8985 §7.3 and Linux do', () => {
    const { h, t0 } = setup(12, { config: { tlpFollowUp: false } });
    assert.deepEqual(sentSeqs(h), TEN);
    h.advanceTo(t0 + 20);
    assert.deepEqual(sentSeqs(h), [9000], 'the probe: the last segment again');
    h.advanceTo(t0 + 199.999);
    assert.deepEqual(sentSeqs(h), []);
    h.advanceTo(t0 + 200);
    assert.deepEqual(sentSeqs(h), [0]);
    assert.equal(h.counters.get('tcp.timeout.rto'), 1);
    assert.equal(h.counters.get('tcp.tx.tlp-follow-ups'), 0);
  });
});
