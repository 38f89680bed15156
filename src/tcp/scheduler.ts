/**
 * The stack's entry-point discipline and its one timer structure.
 *
 * Entry points (segment input, timer poll, application calls) run inside `run`. Work
 * they cause is deferred to the end of the outermost one (`flush`): output and timer
 * re-arming for every connection that was touched, then the application callbacks
 * (listeners' onAccept, ConnectionHandler), which may call back into the stack safely;
 * the loop runs until nothing is left. One exception: an onReadable that is the only
 * callback pending runs before output, so the ACK of the data carries the window its
 * read reopened (TcpConnection.deliverReadable). An application call made outside input()/poll()
 * ends with `requestPoll()`, so the owner flushes the link and re-arms its timer. A
 * receive batch (beginReceiveBatch/endReceiveBatch) is one entry point around all the
 * segments a link delivered together: each connection's output, timers and readable
 * delivery run once at its end (one socket chunk, one stretch ACK); only the ACKs
 * ack-policy.ts says must not be merged leave in the middle (`outputNow`).
 *
 * Timers: every connection's earliest deadline sits in one deadline queue with lazy
 * invalidation (`scheduledAt` on the connection says which entry is current); idle
 * connections have no entry and cost nothing. Keepalive deadlines, on the 64 ms grid,
 * share one bucket per grid instant; the exact ones sit in a binary heap
 * (storage/deadline-queue.ts). `pollAt()` is the queue's front and `takeDue(now)` hands
 * out the connections whose deadline has come. The queue holds a small handle per
 * connection, not the connection: `forget` empties it when the connection is released,
 * so a stale entry keeps no closed connection (with its buffers and its socket) alive
 * until its old deadline comes round.
 */
import type { Clock, Instant } from '../time.ts';
import type { Counters } from '../stats.ts';
import type { EventSink } from '../events.ts';
import { DeadlineQueue } from '../storage/deadline-queue.ts';
import { NOT_SCHEDULED, type TcpConnection, type TimerHandle } from './connection.ts';
import { output } from './output.ts';
import { KEEPALIVE_GRANULARITY_MS, nextDeadline } from './timers.ts';
import { receiveBatchEnded } from './ack-policy.ts';

export class Scheduler {
  private depth = 0;
  private currentTime: Instant = 0;
  private batchOpen = false;
  // The touched connections: a list that only grows (to the most connections touched in
  // one entry point, so bounded by the connection table) and a `touched` flag on each,
  // instead of a Set, whose clear() allocates a new table at every flush. Slots past the
  // count hold undefined, so no released connection is kept alive by the list.
  private readonly dirty: (TcpConnection | undefined)[] = [];
  private dirtyCount = 0;
  private readonly batch: (TcpConnection | undefined)[] = [];
  private readonly accepts: TcpConnection[] = [];
  private readonly timers = new DeadlineQueue<TimerHandle>(
    KEEPALIVE_GRANULARITY_MS,
    (handle, deadline) => handle.connection !== undefined && handle.connection.scheduledAt === deadline,
  );

  constructor(
    private readonly clock: Clock,
    private readonly counters: Counters,
    private readonly events: EventSink,
    private readonly requestPoll: () => void,
    /** Hands an established passive connection to its listener (or aborts it). */
    private readonly deliverAccept: (connection: TcpConnection) => void,
  ) {}

  /** The time of the entry point in progress. */
  get now(): Instant {
    return this.currentTime;
  }

  /** Runs protocol work at `now` (input, poll) as an entry point; deferred work follows it. */
  run<T>(now: Instant, work: (now: Instant) => T): T {
    this.enter(now);
    try {
      return work(this.currentTime);
    } finally {
      this.leave();
    }
  }

  /** An application call: the clock is read once, at the outermost level, and the owner is asked to poll after it. */
  appCall<T>(work: (now: Instant) => T): T {
    const outermost = this.enterApp();
    try {
      return work(this.currentTime);
    } finally {
      this.leaveApp(outermost);
    }
  }

  /**
   * `appCall` without a closure, for the per-write path (`TcpConnection.send`):
   * `const outermost = enterApp()`, work at `now`, `leaveApp(outermost)` in a finally.
   */
  enterApp(): boolean {
    const outermost = this.depth === 0;
    this.enter(outermost ? this.clock.now() : this.currentTime);
    return outermost;
  }

  leaveApp(outermost: boolean): void {
    this.leave();
    if (outermost) this.requestPoll();
  }

  /** Whether a receive batch is open (beginReceiveBatch … endReceiveBatch). */
  get receiveBatchOpen(): boolean {
    return this.batchOpen;
  }

  /**
   * A receive batch: the frames a link delivered together are one entry point at `now`
   * (the clock read once), so output, timer re-arming and the application's reads run
   * once per connection, at its end, after the stretch ACKs are settled (ack-policy.ts).
   */
  beginReceiveBatch(now: Instant): void {
    if (this.batchOpen) return;
    this.enter(now);
    this.batchOpen = true;
  }

  /** The open receive batch goes on at the later instant `now` (TcpStack.continueBatch). */
  advanceReceiveBatch(now: Instant): void {
    if (this.batchOpen && this.depth === 1 && now > this.currentTime) this.currentTime = now;
  }

  endReceiveBatch(): void {
    if (!this.batchOpen) return;
    this.batchOpen = false;
    const dirty = this.dirty;
    for (let i = 0; i < this.dirtyCount; i++) receiveBatchEnded(dirty[i]!);
    this.leave();
  }

  /**
   * Output for one connection in the middle of a receive batch: an ACK that must not be
   * merged with the next (ack-policy.ts). `readFirst` (a filled hole's ACK): the
   * application reads before it, as `flush` lets it, and on the same condition: not while
   * a listener has connections to accept (a connection established in this batch has no
   * handler of its own yet; its read waits for the flush).
   */
  outputNow(connection: TcpConnection, readFirst = false): void {
    try {
      if (readFirst && this.accepts.length === 0) connection.deliverReadable();
      output(connection, this.currentTime);
    } catch (error) {
      this.internalError('output', error);
    }
  }

  /** Output, timers or notifications of this connection changed: handled when the entry point ends. */
  touch(connection: TcpConnection): void {
    if (connection.touched) return;
    connection.touched = true;
    this.dirty[this.dirtyCount++] = connection;
  }

  /** A passive connection reached ESTABLISHED: its listener hears of it when the entry point ends. */
  accepted(connection: TcpConnection): void {
    this.accepts.push(connection);
  }

  pollAt(): Instant | undefined {
    return this.timers.peekDeadline();
  }

  /**
   * Removes and returns one connection whose deadline is at or before `now`, undefined
   * when none is left. One at a time, not an array of them: a keepalive tick hands out
   * dozens of connections 15 times a second, and an array per tick was most of what an
   * idle device allocated outside its frames (bench/BASELINE.md, "idle: what allocates").
   * Deadlines re-armed meanwhile are pushed only when the entry point ends (`flush`), so
   * a loop over this stops at the connections that were due when it began.
   */
  takeDue(now: Instant): TcpConnection | undefined {
    for (let handle = this.timers.popDue(now); handle !== undefined; handle = this.timers.popDue(now)) {
      const connection = handle.connection;
      if (connection === undefined) continue;
      connection.scheduledAt = NOT_SCHEDULED;
      // An entry whose deadline moved later meanwhile (a keepalive answered: the probe's
      // interval deadline became the next idle deadline) or went away is re-armed here
      // or dropped, without a timer run and an output pass for a connection with nothing
      // due. Pushed at once: it is later than `now`, so this loop does not hand it out again.
      if (!connection.released) {
        const next = nextDeadline(connection);
        if (next === undefined) continue;
        if (next > now) {
          connection.scheduledAt = next;
          this.timers.push(next, handle);
          continue;
        }
      }
      return connection;
    }
    return undefined;
  }

  /** The connection was released: its queue entries become empty handles. */
  forget(connection: TcpConnection): void {
    if (connection.timerHandle !== undefined) connection.timerHandle.connection = undefined;
    connection.timerHandle = undefined;
    connection.scheduledAt = NOT_SCHEDULED;
  }

  /** Counts and logs an exception thrown by protocol code; the entry point goes on. */
  internalError(where: string, error: unknown): void {
    this.counters.increment('tcp.drop.internal-error');
    this.events.emit('tcp_internal_error', { where, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }

  /** `run` without a closure, for the per-segment entry point: `enter(now)`, work, `leave()` in a finally. */
  enter(now: Instant): void {
    if (this.depth === 0) this.currentTime = now;
    this.depth++;
  }

  leave(): void {
    try {
      if (this.depth === 1) this.flush();
    } finally {
      this.depth--;
    }
  }

  /**
   * Output and timer re-arming for touched connections, then application callbacks.
   * Callbacks may touch connections again; the loop runs until nothing is left. A
   * connection that reached CLOSED still gets its output call: an RST it owes (abort,
   * keepalive give-up) leaves from there.
   */
  private flush(): void {
    const now = this.currentTime;
    const dirty = this.dirty;
    const batch = this.batch;
    while (this.dirtyCount > 0 || this.accepts.length > 0) {
      // Taken out of the touched list first: output or a callback may touch it again.
      const count = this.dirtyCount;
      for (let i = 0; i < count; i++) {
        const connection = dirty[i]!;
        dirty[i] = undefined;
        connection.touched = false;
        batch[i] = connection;
      }
      this.dirtyCount = 0;
      try {
        // The application reads what arrived before the ACK for it is built, so that ACK
        // carries the window the read reopened (`deliverReadable` says why). Not while a
        // listener has connections to accept: they get their handler first.
        if (this.accepts.length === 0) for (let i = 0; i < count; i++) batch[i]!.deliverReadable();
        for (let i = 0; i < count; i++) {
          const connection = batch[i]!;
          try {
            output(connection, now);
            this.schedule(connection);
          } catch (error) {
            this.internalError('output', error);
          }
        }
        if (this.accepts.length > 0) {
          const accepted = this.accepts.splice(0);
          for (const connection of accepted) this.deliverAccept(connection);
        }
        for (let i = 0; i < count; i++) batch[i]!.deliverNotifications();
      } finally {
        // Emptied slot by slot (not `length = 0`, which drops the backing store): left
        // filled, the batch would keep closed connections (with their buffers and their
        // sockets) alive until the next flush.
        // (A loop: Array.prototype.fill is a runtime call, ~600 instructions a segment.)
        for (let i = 0; i < count; i++) batch[i] = undefined;
      }
    }
  }

  /** Re-arms the connection's queue entry if its earliest deadline moved earlier. */
  private schedule(connection: TcpConnection): void {
    if (connection.released) return;
    const next = nextDeadline(connection);
    if (next === undefined) return;
    if (next < connection.scheduledAt) {
      connection.scheduledAt = next;
      connection.timerHandle ??= { connection };
      this.timers.push(next, connection.timerHandle);
    }
  }
}


