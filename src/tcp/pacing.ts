/**
 * Pacing for BBR connections (draft-cardwell-iccrg-bbr-congestion-control-00 §4.2.1:
 * BBR sends at pacing_rate, not in cwnd-sized bursts). Other connections have no pacer
 * and send as their windows allow.
 *
 * Node's timers fire with about 1 ms granularity, so segments leave in bursts, as with
 * Linux's TSO autosizing: a burst of one send quantum (about 1 ms of pacing rate, at
 * least 2 segments, at most 64 KiB: bbr.ts `pacingQuantum`) may leave at once, and the
 * next burst waits until the bytes sent have taken their time at pacing rate (an
 * earliest departure time, Linux tcp_wstamp_ns). Each segment that leaves (data,
 * retransmission or probe: output.ts `transmit`) moves the release time on by
 * length/rate; output.ts asks `allows` before each data segment of its send loops and,
 * when the pacer refused, arms the connection's pacing timer (`pacingAt`, timers.ts) for
 * the release time. A sender released by the timer less than half a burst's duration
 * late keeps that credit (Linux tcp_update_skb_after_send: OS jitter is not charged), so the
 * average rate is the pacing rate although the timer fires late.
 */
import type { Instant } from '../time.ts';

export class Pacer {
  /** The pacing rate in bytes per ms (bbr.ts sets it after each ACK). */
  rate = 0;
  /** The send quantum in bytes (bbr.ts `sendQuantum`). */
  quantum = 0;
  /** The earliest departure time of the next burst. */
  releaseAt: Instant = Number.NEGATIVE_INFINITY;
  /** Bytes the current burst may still send (it may end a segment below 0). */
  private budget = 0;
  /** `allows` refused since the last `takeBlocked`: the sender waits for `releaseAt`. */
  private blocked = false;

  /** May a segment leave at `now`? Opens a new burst once the release time has come. */
  allows(now: Instant): boolean {
    if (this.rate <= 0 || this.budget > 0) return true;
    if (now < this.releaseAt) {
      this.blocked = true;
      return false;
    }
    this.budget = this.quantum;
    return true;
  }

  /** `bytes` left at `now`: the release time moves on by their time at pacing rate. */
  sent(bytes: number, now: Instant): void {
    if (this.rate <= 0) return;
    this.budget -= bytes;
    const duration = bytes / this.rate;
    // Late by at most half a quantum's time: the lateness is credited (timer jitter);
    // later than that the sender was idle, and the time from now on counts.
    const late = now - this.releaseAt;
    this.releaseAt = (late <= this.quantum / this.rate / 2 ? this.releaseAt : now) + duration;
  }

  /** Bytes left in the current burst (0 when it is spent). */
  get burstRoom(): number {
    return this.budget > 0 ? this.budget : 0;
  }

  /** Did the pacer hold a segment back since the last call? (output.ts then arms the pacing timer.) */
  takeBlocked(): boolean {
    const blocked = this.blocked;
    this.blocked = false;
    return blocked;
  }
}
