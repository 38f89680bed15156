/**
 * Proportional Rate Reduction (src/tcp/prr.ts) on its own, in the units of RFC 6937's
 * example (SMSS = 1000 bytes, a halving: RecoverFS 20 segments, ssthresh 10): each branch
 * of the per-ACK rule with exact figures. The connection-level behaviour (what leaves on
 * each SACK) is in recovery.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProportionalRateReduction } from '../../src/tcp/prr.ts';

const SMSS = 1000;

describe('ProportionalRateReduction', () => {
  it('proportional part: one segment per two delivered while pipe > ssthresh (RFC 6937 §3 example)', () => {
    const prr = new ProportionalRateReduction();
    let transmitted = 1_000_000; // the scoreboard's running total at entry
    prr.start(20 * SMSS, transmitted);
    // Recovery starts on an ACK that delivered one segment: ceil(1 · 10 / 20) = 1 (a half,
    // rounded up in bytes: 500): the fast retransmission goes.
    let pipe = 18 * SMSS;
    assert.equal(prr.onAck(SMSS, pipe, 10 * SMSS, transmitted, false, SMSS), 500);
    assert.equal(prr.window, pipe + 500);
    transmitted += SMSS;
    pipe += SMSS;
    // Then every other ACK sends one: sndcnt = ceil(delivered / 2) − prr_out.
    const sendCounts: number[] = [];
    for (let ack = 2; ack <= 8; ack++) {
      pipe -= SMSS;
      const sendCount = prr.onAck(SMSS, pipe, 10 * SMSS, transmitted, false, SMSS);
      sendCounts.push(sendCount);
      if (sendCount > 0) {
        transmitted += SMSS;
        pipe += SMSS;
      }
    }
    assert.deepEqual(sendCounts, [0, 500, 0, 500, 0, 500, 0]);
    assert.equal(prr.sentSinceStart(transmitted), 4 * SMSS, 'four segments for eight delivered');
  });

  it('reduction bound: PRR-CRB on an ACK that is not safe, PRR-SSRB (+1 SMSS) on a safe one, never beyond ssthresh', () => {
    const prr = new ProportionalRateReduction();
    prr.start(20 * SMSS, 0);
    // 12 segments delivered, 2 sent: the bound is max(12000 − 2000, 1000) = 10 000, capped
    // at ssthresh − pipe.
    assert.equal(prr.onAck(12 * SMSS, 4 * SMSS, 10 * SMSS, 2 * SMSS, false, SMSS), 6 * SMSS);
    const crb = new ProportionalRateReduction();
    crb.start(20 * SMSS, 0);
    // Conservative: prr_delivered − prr_out = 1000 − 1000 = 0, at least DeliveredData (1000).
    assert.equal(crb.onAck(SMSS, 5 * SMSS, 10 * SMSS, SMSS, false, SMSS), SMSS);
    const ssrb = new ProportionalRateReduction();
    ssrb.start(20 * SMSS, 0);
    // Safe ACK (SND.UNA advanced, nothing newly lost): one SMSS more, slow-start-like.
    assert.equal(ssrb.onAck(SMSS, 5 * SMSS, 10 * SMSS, SMSS, true, SMSS), 2 * SMSS);
    assert.equal(ssrb.window, 7 * SMSS);
    // At ssthresh nothing more may leave, safe or not.
    assert.equal(ssrb.onAck(SMSS, 10 * SMSS, 10 * SMSS, 5 * SMSS, true, SMSS), 0);
  });

  it('the fast retransmission always goes: sndcnt is at least one SMSS while nothing was sent', () => {
    const prr = new ProportionalRateReduction();
    prr.start(20 * SMSS, 0);
    // One byte delivered, pipe above ssthresh: ceil(1 · 10 / 20) = 1 byte, > 0, so a whole
    // segment may leave (output.ts rounds up to segments).
    assert.equal(prr.onAck(1, 19 * SMSS, 10 * SMSS, 0, false, SMSS), 1);
    const atThreshold = new ProportionalRateReduction();
    atThreshold.start(20 * SMSS, 0);
    // pipe = ssthresh: the bound gives min(0, …) = 0; with nothing sent yet it becomes one
    // SMSS (RFC 9937; Linux max(sndcnt, prr_out ? 0 : 1)).
    assert.equal(atThreshold.onAck(SMSS, 10 * SMSS, 10 * SMSS, 0, false, SMSS), SMSS);
    assert.equal(atThreshold.window, 11 * SMSS);
    // Once something was sent, the same ACK gives nothing.
    assert.equal(atThreshold.onAck(SMSS, 10 * SMSS, 10 * SMSS, SMSS, false, SMSS), 0);
  });

  it('an ACK that delivered nothing changes nothing', () => {
    const prr = new ProportionalRateReduction();
    prr.start(20 * SMSS, 0);
    prr.onAck(SMSS, 18 * SMSS, 10 * SMSS, 0, false, SMSS);
    const window = prr.window;
    assert.equal(prr.onAck(0, 5 * SMSS, 10 * SMSS, 0, true, SMSS), 0);
    assert.equal(prr.window, window);
  });
});
