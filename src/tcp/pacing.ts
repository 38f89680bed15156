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
 * the release time. A sender released late keeps that credit (Linux
 * tcp_update_skb_after_send: OS jitter is not charged) up to half a burst's duration or
 * the timer's resolution, whichever is longer, so the average rate is the pacing rate
 * although the timer fires late: it then sends the bursts it missed back to back.
 *
 * Why the timer's resolution: libuv's timers count whole milliseconds, so a release due
 * in 0.3 ms fires 1-2 ms later. With the credit of half a burst alone, a fast sender
 * released by the timer got one burst (at most 64 KiB) per ~1.25 ms, about 420 Mbit/s
 * whatever its pacing rate (captures of the loss bench: chargen at 3% loss, 1.2-1.3 ms
 * gaps after each 44-segment burst, half the transfer's time). Linux paces with
 * high-resolution timers and never needs this. The credit is bounded: at most
 * PACING_TIMER_SLACK_MS of pacing rate leaves on top of the burst; a sender idle for
 * longer starts from now.
 */
import type { Instant } from '../time.ts';

/** The lateness of a release always credited (ms): libuv's whole-millisecond timers fire up to this late. */
export const PACING_TIMER_SLACK_MS = 2;

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
    // Late by at most half a quantum's time or the timer's resolution: the lateness is
    // credited (timer jitter); later than that the sender was idle, and the time from now on counts.
    const late = now - this.releaseAt;
    const credit = Math.max(this.quantum / this.rate / 2, PACING_TIMER_SLACK_MS);
    this.releaseAt = (late <= credit ? this.releaseAt : now) + duration;
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
