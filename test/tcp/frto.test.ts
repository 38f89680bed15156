/**
 * F-RTO (RFC 5682 §3, the SACK-enhanced version; `tcp.frto`) on the virtual clock,
 * against exact segments: after an RTO, the first ACK that advances SND.UNA sends new
 * data instead of going back N (step 2b); the next ACK tells a spurious timeout (it
 * acknowledges segments sent before the timeout and never retransmitted: step 3b, the
 * reduction is undone and nothing else is resent) from a real one (it SACKs the new
 * data: step 3a, go-back-N resumes). Also RFC 5681 §3.1: a repeated RTO holds ssthresh.
 *
 * The sender is test/support/sack-sender.ts's: the handshake and one 1000-byte segment timed at 10 ms,
 * so SRTT 10 ms, the RTO at its 200 ms floor, the PTO 2·SRTT = 20 ms. The probe's
 * follow-up (`tcp.tlpFollowUp`, test/tcp/tlp-follow-up.test.ts) is off here: these tests
 * need the RTO that follows an unanswered probe.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TcpConnection } from '../../src/tcp/connection.ts';
import type { TcpHarness } from '../support/tcp-harness.ts';
import type { TcpConfig } from '../../src/tcp/config.ts';
import { MSS, S, sack, sentSeqs, setup } from '../support/sack-sender.ts';

/**
 * These scenarios are RFC 8985's and Linux's: the tail loss probe sends new data
 * (`tcp.lossProbeNewData`), which leaves the segments before the timeout untouched (the
 * default resends the last segment, recovery.test.ts), and no follow-up of the probe
 * (`tcp.tlpFollowUp` off): the RTO comes after it (tlp-follow-up.test.ts).
 */
const SCENARIO: Partial<TcpConfig> = { lossProbeNewData: true, tlpFollowUp: false };

/**
 * Ten segments out at t0, no ACK: the tail loss probe at t0 + 20 sends segment 10 (new
 * data), the RTO, armed at t0 and not moved by the probe (recovery.ts
 * `retransmitDeadlineAfterProbe`), resends segment 0 at t0 + 200 with cwnd one segment. Returns the RTO
 * instant and cwnd/ssthresh before it.
 */
function timeOut(h: TcpHarness, c: TcpConnection, t0: number): { t1: number; cwnd: number; ssthresh: number } {
  assert.deepEqual(sentSeqs(h), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => i * MSS));
  const { cwnd, ssthresh } = c.info();
  h.advanceTo(t0 + 20);
  assert.deepEqual(sentSeqs(h), [10_000], 'the tail loss probe: new data');
  const t1 = t0 + 200;
  h.advanceTo(t1 - 0.001);
  assert.deepEqual(sentSeqs(h), []);
  h.advanceTo(t1);
  assert.deepEqual(sentSeqs(h), [0], 'the RTO resends SND.UNA (step 1)');
  assert.equal(h.counters.get('tcp.timeout.rto'), 1);
  assert.equal(c.info().cwnd, MSS);
  return { t1, cwnd, ssthresh };
}

describe('F-RTO (RFC 5682 §3, tcp.frto)', () => {
  it('a spurious timeout (the originals were only late): new data instead of go-back-N, then the reduction is undone and nothing else resent', () => {
    const { h, c, t0 } = setup(14, { config: SCENARIO });
    const { t1, cwnd, ssthresh } = timeOut(h, c, t0);
    // The original segment 0 was late, not lost: its ACK arrives after the timeout.
    h.advanceTo(t1 + 5);
    h.send({ ack: S(1000) });
    assert.deepEqual(sentSeqs(h), [11_000, 12_000], 'step 2b: two new segments, not segments 1 and 2 again');
    assert.equal(h.counters.get('tcp.frto.new-data'), 1);
    // The next ACK acknowledges segment 1, sent before the timeout and never resent: the
    // timeout was spurious (step 3b).
    h.advanceTo(t1 + 6);
    h.send({ ack: S(2000) });
    assert.equal(h.counters.get('tcp.frto.spurious'), 1);
    assert.equal(c.info().cwnd, cwnd, 'cwnd from before the timeout');
    assert.equal(c.info().ssthresh, ssthresh, 'ssthresh from before the timeout');
    // With 11 segments in flight against cwnd 10, nothing leaves; the rest of the late
    // originals are acknowledged one by one and only new data follows, never a resend.
    const later: number[] = [];
    for (let acked = 3000; acked <= 13_000; acked += 1000) {
      h.advance(1);
      h.send({ ack: S(acked) });
      later.push(...sentSeqs(h));
    }
    assert.deepEqual(later, [13_000], 'the last new segment; segments 1-10 never resent');
    h.advance(10);
    h.send({ ack: S(14_000) });
    assert.equal(c.info().bytesInFlight, 0);
    assert.equal(c.info().retransmits, 1, 'only the RTO retransmission');
    assert.equal(h.counters.get('tcp.timeout.rto'), 1);
  });

  it('a real loss: the next ACK SACKs the new data (step 3a), go-back-N resumes where it stood, the window stays reduced', () => {
    const { h, c, t0 } = setup(14, { config: SCENARIO });
    const { t1, cwnd } = timeOut(h, c, t0);
    h.advanceTo(t1 + 10);
    h.send({ ack: S(1000) });
    assert.deepEqual(sentSeqs(h), [11_000, 12_000]);
    // Segments 1-10 were lost: the peer SACKs the new data and acknowledges nothing more.
    h.advanceTo(t1 + 20);
    sack(h, 1000, [[11_000, 12_000]]);
    assert.equal(h.counters.get('tcp.frto.real'), 1);
    assert.equal(h.counters.get('tcp.frto.spurious'), 0);
    assert.deepEqual(sentSeqs(h), [1000, 2000, 3000], 'go-back-N from segment 1: cwnd two segments, and one by limited transmit (RFC 3042)');
    assert.ok(c.info().cwnd < cwnd, 'no undo');
    // The peer gets the rest: the repair completes without another timeout.
    h.advanceTo(t1 + 30);
    h.send({ ack: S(13_000) });
    assert.deepEqual(sentSeqs(h), [13_000]);
    h.advanceTo(t1 + 40);
    h.send({ ack: S(14_000) });
    assert.equal(c.info().bytesInFlight, 0);
    assert.equal(h.counters.get('tcp.timeout.rto'), 1);
  });

  it('step 3 with a cumulative ACK beyond RecoveryPoint: 3a, nothing from before the timeout is left, so nothing is resent', () => {
    const { h, c, t0 } = setup(14, { config: SCENARIO });
    const { t1 } = timeOut(h, c, t0);
    h.advanceTo(t1 + 10);
    h.send({ ack: S(1000) });
    assert.deepEqual(sentSeqs(h), [11_000, 12_000]);
    h.advanceTo(t1 + 20);
    h.send({ ack: S(12_000) });
    assert.equal(h.counters.get('tcp.frto.real'), 1);
    assert.deepEqual(sentSeqs(h), [13_000], 'new data only: no go-back-N over the new segment still in flight');
    assert.equal(c.info().retransmits, 1);
  });

  it('step 2a: the first ACK after the timeout covers everything sent before it, nothing to decide', () => {
    const { h, c, t0 } = setup(11, { config: SCENARIO });
    const { t1 } = timeOut(h, c, t0);
    // Every segment had arrived; only the ACKs were lost.
    h.advanceTo(t1 + 10);
    h.send({ ack: S(11_000) });
    assert.equal(c.info().bytesInFlight, 0);
    assert.equal(h.counters.get('tcp.frto.new-data'), 0);
    assert.equal(h.counters.get('tcp.frto.spurious'), 0);
    assert.equal(h.counters.get('tcp.frto.real'), 0);
  });

  it('step 2b with no new data to send: conventional RTO recovery goes on', () => {
    const { h, c, t0 } = setup(11, { config: SCENARIO });
    const { t1 } = timeOut(h, c, t0);
    h.advanceTo(t1 + 10);
    h.send({ ack: S(1000) });
    assert.equal(h.counters.get('tcp.frto.no-new-data'), 1);
    assert.deepEqual(sentSeqs(h), [1000, 2000], 'go-back-N, cwnd two segments');
  });

  it('off (tcp.frto false): the ACK after the timeout is answered with go-back-N', () => {
    const { h, c, t0 } = setup(14, { config: { ...SCENARIO, frto: false } });
    const { t1, cwnd } = timeOut(h, c, t0);
    h.advanceTo(t1 + 5);
    h.send({ ack: S(1000) });
    assert.deepEqual(sentSeqs(h), [1000, 2000]);
    h.advanceTo(t1 + 6);
    h.send({ ack: S(2000) });
    assert.deepEqual(sentSeqs(h), [3000, 4000], 'slow start, still going back N over segments that had arrived');
    assert.ok(c.info().cwnd < cwnd);
    assert.equal(h.counters.get('tcp.frto.spurious'), 0);
  });

  it('a repeated timeout holds ssthresh (RFC 5681 §3.1) and F-RTO still watches it (§3.2)', () => {
    const { h, c, t0 } = setup(14, { config: SCENARIO });
    const { t1 } = timeOut(h, c, t0);
    const { ssthresh } = c.info();
    h.advanceTo(t1 + 400);
    assert.deepEqual(sentSeqs(h), [0], 'the backed-off RTO');
    assert.equal(h.counters.get('tcp.timeout.rto-again'), 1);
    assert.equal(c.info().ssthresh, ssthresh, 'held, not reduced again from a flight of one segment');
    h.advanceTo(t1 + 405);
    h.send({ ack: S(1000) });
    assert.deepEqual(sentSeqs(h), [11_000, 12_000], 'step 2b after the repeated timeout');
  });
});
