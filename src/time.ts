/**
 * Time as the core sees it. Nothing in src/ reads the OS clock or sets a timer:
 * a Clock is injected, and every component reports its next deadline through
 * `pollAt()` so the owner of the event loop (firmware/loop.ts, or a test's
 * virtual clock) knows when to call `poll()` again.
 *
 * Instants are milliseconds on a monotonic time line (fractions allowed).
 */
export type Instant = number;

export interface Clock {
  now(): Instant;
}

/** Something with deadlines: the loop calls poll() at or after pollAt(). */
export interface Pollable {
  /** The earliest instant at which poll() has work, or undefined for none. */
  pollAt(): Instant | undefined;
  poll(now: Instant): void;
}

/** A clock that only moves when told to: the basis of every timing test. */
export class ManualClock implements Clock {
  constructor(private current: Instant = 0) {}
  now(): Instant {
    return this.current;
  }
  set(instant: Instant): void {
    if (instant < this.current) throw new RangeError('ManualClock cannot go backwards');
    this.current = instant;
  }
  advance(ms: number): void {
    this.set(this.current + ms);
  }
}

/**
 * Polls every component whose deadline is due at `now`, in order; returns whether any
 * was. Owners of an event loop call it until it returns false (bounded), since polling
 * one component can make another due at once (a stack hands a frame to a zero-delay wire).
 */
export function pollDue(components: readonly Pollable[], now: Instant): boolean {
  let polled = false;
  for (const component of components) {
    const due = component.pollAt();
    if (due !== undefined && due <= now) {
      component.poll(now);
      polled = true;
    }
  }
  return polled;
}
