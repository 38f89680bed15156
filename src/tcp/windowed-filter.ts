/**
 * A windowed running maximum over a window of `window` time units (for BBR: round
 * trips), kept as three samples (the best, and the best of the later parts of the
 * window) so that the maximum of the last `window` units is known without storing every
 * sample: Kathleen Nichols' algorithm, as Linux lib/minmax.c uses it for BBR's bandwidth
 * filter (draft-cardwell-iccrg-bbr-congestion-control-00 §4.1.1 BtlBwFilter).
 *
 * Numbers only, no allocation: the three (time, value) pairs are plain fields.
 */
export class WindowedMaxFilter {
  private t0 = 0;
  private v0 = 0;
  private t1 = 0;
  private v1 = 0;
  private t2 = 0;
  private v2 = 0;

  constructor(readonly window: number) {}

  /** The maximum over the window (0 before any sample). */
  get best(): number {
    return this.v0;
  }

  /** Forgets everything: the next sample is the maximum. */
  reset(time: number, value: number): number {
    this.t0 = this.t1 = this.t2 = time;
    this.v0 = this.v1 = this.v2 = value;
    return value;
  }

  /** A new sample `value` at `time` (never earlier than the last); returns the maximum. */
  update(time: number, value: number): number {
    // A new overall best, or nothing in the window is recent enough: start again.
    if (value >= this.v0 || time - this.t2 > this.window) return this.reset(time, value);
    if (value >= this.v1) {
      this.t1 = this.t2 = time;
      this.v1 = this.v2 = value;
    } else if (value >= this.v2) {
      this.t2 = time;
      this.v2 = value;
    }
    const age = time - this.t0;
    if (age > this.window) {
      // The best has left the window: the second and third move up, the sample is third.
      this.shift(time, value);
      if (time - this.t0 > this.window) this.shift(time, value);
    } else if (this.t1 === this.t0 && age > this.window / 4) {
      // A quarter of the window passed with no second-best of its own: take one now.
      this.t1 = this.t2 = time;
      this.v1 = this.v2 = value;
    } else if (this.t2 === this.t1 && age > this.window / 2) {
      this.t2 = time;
      this.v2 = value;
    }
    return this.v0;
  }

  private shift(time: number, value: number): void {
    this.t0 = this.t1;
    this.v0 = this.v1;
    this.t1 = this.t2;
    this.v1 = this.v2;
    this.t2 = time;
    this.v2 = value;
  }
}
