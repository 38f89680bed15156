/**
 * The retransmission timeout estimator of RFC 6298.
 *
 * - §2.1: before any sample, RTO = initialRto.
 * - §2.2: first sample R: SRTT = R, RTTVAR = R/2.
 * - §2.3: later samples: RTTVAR = 3/4·RTTVAR + 1/4·|SRTT − R|, SRTT = 7/8·SRTT + 1/8·R.
 * - RTO = SRTT + max(G, 4·RTTVAR), clamped to [minRto, maxRto] (§2.4, §2.5); G, the
 *   clock granularity, is 1 ms here (instants are milliseconds).
 * - §5.5: on expiry the RTO doubles (`backOff`), capped at maxRto, until a new sample.
 *
 * Karn's rule (§3) is the caller's job: only segments that were never retransmitted
 * are timed.
 *
 * With RFC 7323 timestamps a sample comes from every ACK that advances SND.UNA, many per
 * RTT. RFC 7323 appendix G: with ExpectedSamples = ceil(FlightSize / (2·SMSS)) the gains
 * become α/ExpectedSamples and β/ExpectedSamples, so SRTT and RTTVAR move per RTT about as
 * much as with one sample per RTT, and a run of equal samples (a LAN) does not collapse
 * RTTVAR within one window. (Linux gets the same effect differently: its mdev_max lets
 * RTTVAR fall only once per RTT.) The RTO floor stays minRto (200 ms, as Linux's
 * TCP_RTO_MIN): on a LAN RTO = max(minRto, SRTT + 4·RTTVAR) = 200 ms.
 */
const CLOCK_GRANULARITY_MS = 1;

export interface RttLimits {
  initialRto: number;
  minRto: number;
  maxRto: number;
}

export class RttEstimator {
  // NaN before the first sample rather than undefined: a field that only ever holds
  // numbers is updated in place, one that mixes them with undefined boxes a new heap
  // number at every store (two per ACK with timestamps).
  private smoothed = NaN;
  private variation = NaN;
  private timeout: number;

  constructor(private readonly limits: RttLimits) {
    this.timeout = this.clamp(limits.initialRto);
  }

  /** SRTT in ms, undefined before the first sample. */
  get srtt(): number | undefined {
    return this.hasSample ? this.smoothed : undefined;
  }

  get rttvar(): number | undefined {
    return this.hasSample ? this.variation : undefined;
  }

  /** The current (possibly backed-off) RTO in ms. */
  get rto(): number {
    return this.timeout;
  }

  get hasSample(): boolean {
    return !Number.isNaN(this.smoothed);
  }

  /** One RTT sample in ms; `expectedSamples` > 1 scales the gains down (RFC 7323 appendix G). */
  sample(rtt: number, expectedSamples = 1): void {
    const r = Math.max(0, rtt);
    if (!this.hasSample) {
      this.smoothed = r;
      this.variation = r / 2;
    } else {
      const samples = Math.max(1, expectedSamples);
      const beta = 0.25 / samples;
      const alpha = 0.125 / samples;
      this.variation = (1 - beta) * this.variation + beta * Math.abs(this.smoothed - r);
      this.smoothed = (1 - alpha) * this.smoothed + alpha * r;
    }
    this.timeout = this.clamp(this.smoothed + Math.max(CLOCK_GRANULARITY_MS, 4 * this.variation));
  }

  /** RFC 6298 §5.5: double the RTO after a retransmission timeout. */
  backOff(): void {
    this.timeout = this.clamp(this.timeout * 2);
  }

  /**
   * RFC 6069 §4: the RTO with `backoffs` doublings of the current estimate (one fewer
   * than now, after an ICMP unreachable showed the last timeout was a connectivity
   * disruption, not congestion).
   */
  revertBackOff(backoffs: number): void {
    const base = this.smoothed === undefined || this.variation === undefined ? this.limits.initialRto : this.smoothed + Math.max(CLOCK_GRANULARITY_MS, 4 * this.variation);
    this.timeout = this.clamp(this.clamp(base) * 2 ** Math.max(0, backoffs));
  }

  /**
   * RFC 6298 §5.7: if the SYN (or SYN-ACK) was retransmitted and no RTT sample was
   * obtained, the RTO for data starts at 3 s.
   */
  resetAfterHandshakeLoss(): void {
    if (!this.hasSample) this.timeout = this.clamp(Math.max(3000, this.limits.initialRto));
  }

  private clamp(value: number): number {
    return Math.min(this.limits.maxRto, Math.max(this.limits.minRto, value));
  }
}
