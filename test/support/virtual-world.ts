/**
 * A deterministic world for tests: every component (stacks, memory wires) runs on one
 * ManualClock, and time jumps from deadline to deadline. Nothing waits on wall-clock time.
 *
 * Socket-level code (streams) reacts on Node's microtask and immediate queues, so the
 * async runners let those queues drain between deadlines: at any virtual instant, all
 * the reactions to what happened are complete before time moves on.
 */
import { ManualClock, pollDue, type Instant, type Pollable } from '../../src/time.ts';

export class VirtualWorld {
  readonly clock = new ManualClock(0);
  private readonly components: Pollable[] = [];

  add<T extends Pollable>(component: T): T {
    this.components.push(component);
    return component;
  }

  get now(): Instant {
    return this.clock.now();
  }

  nextDeadline(): Instant | undefined {
    let next: Instant | undefined;
    for (const component of this.components) {
      const due = component.pollAt();
      if (due !== undefined && (next === undefined || due < next)) next = due;
    }
    return next;
  }

  /** Polls everything due at the current instant until nothing is due (bounded). */
  pollDue(): void {
    for (let round = 0; round < 10_000; round++) {
      if (!pollDue(this.components, this.clock.now())) return;
    }
    throw new Error('VirtualWorld: components keep being due at the same instant (livelock)');
  }

  /** Synchronous run to `until` (for code without streams). */
  runUntilSync(until: Instant): void {
    this.pollDue();
    for (;;) {
      const next = this.nextDeadline();
      if (next === undefined || next > until) break;
      this.clock.set(Math.max(next, this.clock.now()));
      this.pollDue();
    }
    if (this.clock.now() < until) this.clock.set(until);
  }

  /**
   * Synchronous `runUntilDone` (for code without streams): runs until `done()` holds or
   * `limit` of virtual time passes; returns whether it held.
   */
  runUntilDoneSync(done: () => boolean, limit: number): boolean {
    const end = this.clock.now() + limit;
    for (;;) {
      this.pollDue();
      if (done()) return true;
      const next = this.nextDeadline();
      if (next === undefined || next > end) return done();
      this.clock.set(Math.max(next, this.clock.now()));
    }
  }

  /** Lets streams and promises react (microtasks and immediates). */
  async settle(): Promise<void> {
    for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Advances virtual time to `until`, letting streams react at every instant. */
  async runUntil(until: Instant): Promise<void> {
    for (;;) {
      this.pollDue();
      await this.settle();
      this.pollDue();
      const next = this.nextDeadline();
      if (next === undefined || next > until) break;
      this.clock.set(Math.max(next, this.clock.now()));
    }
    if (this.clock.now() < until) this.clock.set(until);
    this.pollDue();
    await this.settle();
  }

  async runFor(duration: number): Promise<void> {
    await this.runUntil(this.clock.now() + duration);
  }

  /**
   * Runs until `done()` holds or `limit` of virtual time passes; returns whether it held.
   * The limit is a hang guard on the virtual clock, not a performance check.
   */
  async runUntilDone(done: () => boolean, limit: number): Promise<boolean> {
    const end = this.clock.now() + limit;
    for (;;) {
      this.pollDue();
      await this.settle();
      if (done()) return true;
      const next = this.nextDeadline();
      if (next === undefined || next > end) {
        await this.settle();
        return done();
      }
      this.clock.set(Math.max(next, this.clock.now()));
    }
  }
}
