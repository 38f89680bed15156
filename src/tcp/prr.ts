/**
 * Proportional Rate Reduction (RFC 6937 §3, as updated by RFC 9937 and as Linux's
 * tcp_cwnd_reduction does it): during SACK loss recovery, how much may leave on each
 * ACK. RFC 6675 alone sets cwnd = ssthresh = FlightSize/2 at entry and sends nothing
 * until pipe has fallen below it, so the first half of the recovery round trip is silent
 * and the fast retransmission is often the last segment sent; PRR instead spreads the
 * reduction over the round trip, sending in proportion to what the peer reports
 * delivered, so retransmissions and new data keep leaving as SACKs arrive and the flight
 * reaches ssthresh when recovery ends.
 *
 * The state (RFC 6937 §3): RecoverFS, the flight size when recovery began; prr_delivered,
 * bytes the peer reported delivered since (newly SACKed or cumulatively acknowledged);
 * prr_out, bytes sent since (new and retransmitted; the scoreboard's running total less
 * its value at entry). On every ACK of the episode that delivered data, including the one
 * that starts it and excluding the full ACK that ends it (congestion.ts sets cwnd =
 * ssthresh then):
 *
 *     if pipe > ssthresh:   sndcnt = ceil(prr_delivered · ssthresh / RecoverFS) − prr_out
 *     else:                 sndcnt = max(prr_delivered − prr_out, DeliveredData)
 *                                    (+ SMSS on a safe ACK: SND.UNA advanced, no new loss)
 *                           sndcnt = min(ssthresh − pipe, sndcnt)
 *     if prr_out = 0 and sndcnt ≤ 0: sndcnt = SMSS   (the fast retransmission always goes)
 *     window = pipe + sndcnt
 *
 * The first branch is the proportional part: one segment out per 1/(ssthresh/RecoverFS)
 * delivered (every other ACK for a halving). The second is the reduction bound: PRR-SSRB
 * (slow start by at most one SMSS per ACK towards ssthresh) when the ACK is safe, the
 * conservative bound PRR-CRB otherwise; this is RFC 9937's rule and what Linux does
 * (`sndcnt++` when FLAG_SND_UNA_ADVANCED and nothing newly lost). output.ts sends while
 * pipe < window, a whole segment at a time, which in bytes is what Linux's ceiling in
 * packets gives.
 *
 * RecoverFS is FlightSize at entry (RFC 6937 §3; Linux uses the cwnd from before the
 * reduction, which is the same bytes when the window was full). ssthresh is read from the
 * congestion control in use (congestion.ts) on every ACK, so the policy (NewReno's
 * halving, CUBIC's β) stays there. No allocation: numbers only, one object per connection
 * created at its first recovery.
 */

export class ProportionalRateReduction {
  /** RFC 6937 RecoverFS: FlightSize when recovery began (at least 1, it divides). */
  private recoverFs = 1;
  /** RFC 6937 prr_delivered. */
  private delivered = 0;
  /** The scoreboard's transmitted total at entry: prr_out = transmitted − this. */
  private transmittedAtStart = 0;
  /** The window output.ts fills during recovery: pipe + sndcnt as of the last ACK that delivered data. */
  window = 0;

  /** Recovery begins with `flightSize` outstanding and `transmitted` bytes sent so far in the connection. */
  start(flightSize: number, transmitted: number): void {
    this.recoverFs = Math.max(1, flightSize);
    this.delivered = 0;
    this.transmittedAtStart = transmitted;
    this.window = 0;
  }

  /** prr_out: bytes sent (new or again) since recovery began. */
  sentSinceStart(transmitted: number): number {
    return transmitted - this.transmittedAtStart;
  }

  /**
   * An ACK of the episode delivered `deliveredData` bytes (RFC 6937 DeliveredData);
   * `pipe` is RFC 6675's after it (losses it revealed already marked), `transmitted`
   * the scoreboard's total. Returns sndcnt, and sets `window` = pipe + sndcnt. An ACK
   * that delivered nothing changes nothing (RFC 9937: "if DeliveredData is 0, return").
   */
  onAck(deliveredData: number, pipe: number, ssthresh: number, transmitted: number, safeAck: boolean, mss: number): number {
    if (deliveredData <= 0) return 0;
    this.delivered += deliveredData;
    const out = this.sentSinceStart(transmitted);
    let sendCount: number;
    if (pipe > ssthresh) {
      sendCount = Math.ceil((this.delivered * ssthresh) / this.recoverFs) - out;
    } else {
      sendCount = Math.max(this.delivered - out, deliveredData);
      if (safeAck) sendCount += mss;
      sendCount = Math.min(ssthresh - pipe, sendCount);
    }
    if (out === 0 && sendCount <= 0) sendCount = mss;
    sendCount = Math.max(0, sendCount);
    this.window = pipe + sendCount;
    return sendCount;
  }
}
