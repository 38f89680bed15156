/**
 * The real-time event loop: the only place that turns the core's deadlines into
 * Node timers. One timer for the whole device, however many connections: after each
 * turn it is re-armed at the earliest `pollAt()` of all components (stacks, wires).
 *
 * A turn runs when a batch of frames arrived, when an application call made work
 * (`wake()`), or after the timer fires (once the input waiting then is read): poll
 * every component at the current instant, then flush every link once, so frames
 * produced in one turn go out in one batch.
 *
 * node:net's ref/unref: components that hold sockets (NetStack: `hasRefs()`) decide
 * whether the timer keeps the process alive. While none of them holds a ref'd socket or
 * server, the timer is unref'd, as Node's own timers of unref'd sockets are; a loop with
 * no such component keeps its timer ref'd.
 */
import { performance } from 'node:perf_hooks';
import { pollDue, type Clock, type Instant, type Pollable } from '../src/time.ts';

const MAX_ROUNDS_PER_TURN = 8;

export const monotonicClock: Clock = { now: () => performance.now() };

export interface Flushable {
  flush(): void;
}

/** A component that may hold the process alive (a NetStack with ref'd sockets). */
interface RefHolder {
  hasRefs(): boolean;
}

function isRefHolder<T extends object>(component: T): component is T & RefHolder {
  return typeof (component as Partial<RefHolder>).hasRefs === 'function';
}

export class RealtimeLoop {
  private readonly components: Pollable[] = [];
  private readonly links: Flushable[] = [];
  private turnScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt: Instant | undefined;
  private timerKeepsAlive = true;
  private stopped = false;

  constructor(
    readonly clock: Clock = monotonicClock,
    private readonly onError: (error: unknown) => void = (error) => {
      throw error;
    },
  ) {}

  add(component: Pollable): void {
    if (!this.components.includes(component)) this.components.push(component);
    this.wake();
  }

  remove(component: Pollable): void {
    const index = this.components.indexOf(component);
    if (index >= 0) this.components.splice(index, 1);
  }

  /** Idempotent: a link handed over from the DHCP bootstrap to the stack is flushed once a turn. */
  addLink(link: Flushable): void {
    if (!this.links.includes(link)) this.links.push(link);
  }

  /** Schedules a turn soon (after pending I/O callbacks of this loop iteration). */
  wake = (): void => {
    if (this.turnScheduled || this.stopped) return;
    this.turnScheduled = true;
    setImmediate(this.turn);
  };

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Runs one turn now (also used right after a receive batch). */
  turn = (): void => {
    this.turnScheduled = false;
    if (this.stopped) return;
    try {
      // Polling one component can make another due at once (a stack hands a frame to a
      // zero-delay memory wire): go round until nothing is due, a bounded number of times.
      for (let round = 0; round < MAX_ROUNDS_PER_TURN; round++) {
        if (!pollDue(this.components, this.clock.now())) break;
      }
      for (const link of this.links) link.flush();
    } catch (error) {
      this.onError(error);
    }
    this.arm();
  };

  /**
   * The timer's turn runs after this loop iteration's I/O, not at once: libuv runs due
   * timers before it polls for input, so after a stall (a long GC, a loaded core) an RTO
   * whose ACK was already waiting in the receive ring would fire first and resend data
   * the peer has (and spend a retransmission and a cwnd reduction on it); a FIN would be
   * sent again after its ACK had arrived. Deferred with setImmediate, the poll phase
   * delivers the waiting frames first, and the turn finds only what is still due.
   */
  private readonly timerFired = (): void => {
    this.timer = undefined;
    this.timerAt = undefined;
    this.wake();
  };

  private arm(): void {
    // Runs after every turn: no allocation here (it would feed the GC at packet rate).
    let next: Instant | undefined;
    let holders = 0;
    let refs = 0;
    for (const component of this.components) {
      const due = component.pollAt();
      if (due !== undefined && (next === undefined || due < next)) next = due;
      if (isRefHolder(component)) {
        holders++;
        if (component.hasRefs()) refs++;
      }
    }
    const keepAlive = holders === 0 || refs > 0;
    if (next === this.timerAt && this.timer && keepAlive === this.timerKeepsAlive) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = next;
    this.timerKeepsAlive = keepAlive;
    if (next === undefined) return;
    // Timers have 1 ms granularity; never sleep less than that for a deadline a hair away.
    const delay = Math.max(0, Math.ceil(next - this.clock.now()));
    this.timer = setTimeout(this.timerFired, delay);
    if (!keepAlive) this.timer.unref();
  }
}
