/**
 * One sensor connection's protocol state (SPEC §4), without sockets: bytes in through
 * `receive()`, reply text out through a `SessionOutput`. The service wires it to a
 * socket; tests feed it bytes directly.
 *
 * Ordering: replies leave in request order although a PUT's `OK` waits for the
 * store's commit. Every request takes a slot in a FIFO reply queue; a PUT's slot
 * fills when its append settles, and requests that read state (GET, LIST, SUB,
 * UNSUB, TIME) are evaluated only when their slot reaches the head, so a GET
 * pipelined after a PUT on the same connection sees that PUT (read-your-writes).
 * PUTs are handed to the store at once, so a pipelined burst shares one commit.
 * VAL lines for subscriptions are not replies: they go out as readings commit.
 *
 * Bounds (memory per connection, whatever the peer sends):
 * - a line: `maxLine` bytes (LineFramer), longer ones get ERR 413 and are skipped;
 * - replies in the queue: `maxPendingReplies`; when full, or when the output stream
 *   asks to wait, no more lines are framed, the caller pauses reading
 *   (`acceptingInput` false) and TCP's window closes on the peer. Input resumes on
 *   `outputDrained()` and as replies leave;
 * - requests: a token bucket (`rateLimit`); past it a request gets ERR 429 and is
 *   not executed;
 * - subscriber output: a VAL line that would leave more than `subscriberOutputLimit`
 *   bytes queued beyond the transport gets ERR 507 too slow and the session ends.
 * A bad line only ever produces an error reply; nothing here throws on input.
 */
import type { Clock } from '../../time.ts';
import type { Counters } from '../../stats.ts';
import { StoreFullError, type CommitListener, type Reading, type ReadingStore } from '../../storage/readings.ts';
import { LineFramer, type FramedItem } from './framer.ts';
import { GlobSet } from './glob.ts';
import { TokenBucket, type RateLimit } from './rate-limiter.ts';
import { parseRequest, type Request } from './request.ts';
import { Reply } from './reply.ts';

/** Wall-clock time, unix ms (TIME replies and reading timestamps). Injected: src/ reads no clock. */
export interface WallClock {
  now(): number;
}

export interface SessionOutput {
  /** Queues text for the peer; false asks the session to wait for `outputDrained()`. */
  write(text: string): boolean;
  /** Bytes queued towards the peer that the transport has not taken yet. */
  readonly queuedBytes: number;
  /** Closes after the queued output (QUIT, ERR 507, end of input). */
  end(): void;
}

export interface SessionLimits {
  maxLine: number;
  maxPendingReplies: number;
  subscriberOutputLimit: number;
  maxSubscriptions: number;
  rateLimit: RateLimit;
}

/** The documented defaults (SPEC §2 `services.sensors.maxLine` is 512). */
export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  maxLine: 512,
  maxPendingReplies: 1024,
  subscriberOutputLimit: 64 * 1024,
  maxSubscriptions: 16,
  rateLimit: { rate: 1000, burst: 2000 },
};

export interface SessionOptions {
  store: ReadingStore;
  /** Monotonic clock for the rate limiter. */
  clock: Clock;
  wallClock: WallClock;
  output: SessionOutput;
  limits?: Partial<SessionLimits>;
  /** Source of PUTs made before HELLO (the peer's address). */
  defaultSource?: string;
  counters?: Counters;
  /** Called when the session wants input again after `acceptingInput` went false. */
  resumeInput?: () => void;
  /** Called once when the session ends itself (QUIT, too slow, end of input done). */
  onEnd?: (reason: SessionEndReason) => void;
}

export type SessionEndReason = 'quit' | 'too_slow' | 'end_of_input';

/**
 * A reply's place in the FIFO. `waiting`: a PUT whose write the store has not settled
 * (the slot is the write's token and is filled in place); `deferred`: evaluated when it
 * reaches the head. One shape for all, so the queue stays monomorphic.
 */
class Slot {
  constructor(
    public state: 'ready' | 'waiting' | 'deferred',
    public text: string,
    readonly quiet: boolean,
    readonly evaluate: (() => string) | undefined,
  ) {}
}

export class SensorSession implements CommitListener<Slot> {
  private readonly limits: SessionLimits;
  private readonly framer: LineFramer;
  private readonly bucket: TokenBucket;
  private readonly globs = new GlobSet();
  private readonly slots: Slot[] = [];
  private readonly backlog: Uint8Array[] = [];
  private unsubscribe: (() => void) | undefined;
  private sensorId: string | undefined;
  private quiet = false;
  private outputBlocked = false;
  private inputEnded = false;
  private stopped = false;
  private ended = false;
  private wasPaused = false;
  private quitRequested = false;
  /**
   * The clocks as read once per pump: the lines of one pump arrived together, so they
   * share one instant (rate limit, timestamps of PUTs without one), read at most once
   * each instead of once per request.
   */
  private pumpInstant: number | undefined;
  private pumpWallInstant: number | undefined;
  /** A pump is queued for after the store's current round of commits. */
  private pumpQueued = false;
  private readonly queuedPump = (): void => {
    this.pumpQueued = false;
    this.pump();
  };

  constructor(private readonly options: SessionOptions) {
    this.limits = { ...DEFAULT_SESSION_LIMITS, ...options.limits };
    this.framer = new LineFramer(this.limits.maxLine);
    this.bucket = new TokenBucket(this.limits.rateLimit, options.clock);
  }

  /** False while the session holds input it cannot process yet: pause the transport. */
  get acceptingInput(): boolean {
    return !this.ended && this.backlog.length === 0 && this.framer.pendingInput === 0;
  }

  get pendingReplies(): number {
    return this.slots.length;
  }

  get subscribed(): boolean {
    return this.unsubscribe !== undefined;
  }

  /** Bytes the session holds for input it has not processed (bounded by the transport's chunk). */
  get heldInputBytes(): number {
    return this.framer.pendingInput + this.framer.bufferedLineBytes + this.backlog.reduce((sum, chunk) => sum + chunk.length, 0);
  }

  receive(chunk: Uint8Array): void {
    if (this.ended || this.stopped || chunk.length === 0) return;
    if (this.framer.pendingInput > 0) this.backlog.push(chunk);
    else this.framer.push(chunk);
    this.pump();
  }

  /** The peer closed its sending side: answer what is queued, then end. */
  endOfInput(): void {
    this.inputEnded = true;
    this.pump();
  }

  /** The transport took the queued output ('drain'). */
  outputDrained(): void {
    this.outputBlocked = false;
    this.pump();
  }

  /** The transport is gone: drop everything, stop listening to the store. */
  close(): void {
    this.ended = true;
    this.slots.length = 0;
    this.backlog.length = 0;
    this.stopSubscription();
  }

  // ---- the processing loop ----------------------------------------------------------------

  private pump(): void {
    this.pumpInstant = undefined;
    this.pumpWallInstant = undefined;
    while (!this.ended) {
      this.flushReplies();
      if (this.ended || this.stopped || this.outputBlocked) break;
      if (this.slots.length >= this.limits.maxPendingReplies) break;
      const item = this.nextItem();
      if (item === undefined) break;
      this.handle(item);
    }
    if (!this.ended && this.stopped && this.slots.length === 0) this.finish(this.quitRequested ? 'quit' : 'end_of_input');
    if (!this.ended && this.inputEnded && !this.stopped && this.slots.length === 0 && this.framer.pendingInput === 0 && this.backlog.length === 0) {
      this.stopped = true;
      this.finish('end_of_input');
    }
    if (this.wasPaused && this.acceptingInput) {
      this.wasPaused = false;
      this.options.resumeInput?.();
    } else if (!this.acceptingInput) {
      this.wasPaused = true;
    }
  }

  private nextItem(): FramedItem | undefined {
    for (;;) {
      const item = this.framer.next();
      if (item !== undefined) return item;
      const chunk = this.backlog.shift();
      if (chunk === undefined) return this.inputEnded ? this.framer.finish() : undefined;
      this.framer.push(chunk);
    }
  }

  /**
   * Every reply that is due leaves in one write (a pipelined burst of PUTs gets its OKs
   * in one segment, not one write and one segment each). Deferred replies are
   * evaluated here, in order, so each sees the state after the requests before it.
   */
  private flushReplies(): void {
    let text = '';
    while (!this.ended) {
      const head = this.slots[0];
      if (head === undefined || head.state === 'waiting') break;
      this.slots.shift();
      text += head.evaluate === undefined ? head.text : head.evaluate();
    }
    if (text.length > 0 && !this.ended && !this.options.output.write(text)) this.outputBlocked = true;
  }

  private finish(reason: SessionEndReason): void {
    if (this.ended) return;
    this.ended = true;
    this.stopSubscription();
    this.options.output.end();
    this.options.onEnd?.(reason);
  }

  private handle(item: FramedItem): void {
    const counters = this.options.counters;
    if (item.kind === 'too-long') {
      counters?.increment('sensors.errors.413');
      this.reply(Reply.tooLong());
      return;
    }
    const parsed = parseRequest(item.bytes);
    if (parsed.ok === 'blank') return;
    if (!this.bucket.take((this.pumpInstant ??= this.options.clock.now()))) {
      counters?.increment('sensors.errors.429');
      this.reply(Reply.rateLimited());
      return;
    }
    if (parsed.ok === false) {
      counters?.increment('sensors.errors.400');
      this.reply(Reply.error(parsed.error));
      return;
    }
    counters?.increment('sensors.requests');
    this.execute(parsed.request);
  }

  private execute(request: Request): void {
    switch (request.verb) {
      case 'HELLO':
        this.sensorId = request.sensorId;
        this.reply(Reply.hello(request.sensorId));
        return;
      case 'PUT':
        this.put(request.name, request.value, request.timestamp);
        return;
      case 'GET': {
        const name = request.name;
        this.defer(() => {
          const reading = this.options.store.latest(name);
          return reading === undefined ? Reply.unknown(name) : Reply.value(reading);
        });
        return;
      }
      case 'LIST':
        this.defer(() => this.options.store.list().map(Reply.value).join('') + Reply.end());
        return;
      case 'SUB': {
        const glob = request.glob;
        this.defer(() => this.subscribe(glob));
        return;
      }
      case 'UNSUB':
        this.defer(() => {
          this.stopSubscription();
          return Reply.ok();
        });
        return;
      case 'TIME':
        this.defer(() => Reply.time(this.options.wallClock.now()));
        return;
      case 'PING':
        this.reply(Reply.pong(request.token));
        return;
      case 'QUIET':
        // Takes effect for the PUTs after it, in request order.
        this.quiet = request.on;
        this.reply(Reply.ok());
        return;
      case 'QUIT':
        this.reply(Reply.bye());
        this.quitRequested = true;
        this.stopped = true;
        return;
    }
  }

  /** A reply known now, queued behind the replies before it. */
  private reply(text: string): void {
    this.slots.push(new Slot('ready', text, false, undefined));
  }

  private defer(evaluate: () => string): void {
    this.slots.push(new Slot('deferred', '', false, evaluate));
  }

  private put(name: string, value: number, timestamp: number | undefined): void {
    const reading: Reading = {
      name,
      value,
      timestamp: timestamp ?? (this.pumpWallInstant ??= Math.trunc(this.options.wallClock.now())),
      source: this.sensorId ?? this.options.defaultSource ?? 'anonymous',
    };
    const slot = new Slot('waiting', '', this.quiet, undefined);
    this.slots.push(slot);
    try {
      this.options.store.write(reading, this, slot);
    } catch {
      // A store that throws instead of refusing is still only "unavailable" to the peer.
      this.options.counters?.increment('sensors.errors.503');
      slot.state = 'ready';
      slot.text = Reply.unavailable();
    }
  }

  /**
   * The store settled a PUT: its slot gets its reply (none for a quiet OK). The replies
   * go out from one pump after the store's round of commits, not one pump per PUT.
   */
  committed(slot: Slot, error: Error | undefined): void {
    if (this.ended || slot.state !== 'waiting') return;
    let text: string;
    if (error === undefined) {
      text = slot.quiet ? '' : Reply.ok();
    } else {
      this.options.counters?.increment('sensors.errors.503');
      text = error instanceof StoreFullError ? Reply.storeFull() : Reply.unavailable();
    }
    slot.state = 'ready';
    slot.text = text;
    if (!this.pumpQueued) {
      this.pumpQueued = true;
      queueMicrotask(this.queuedPump);
    }
  }

  private subscribe(glob: string): string {
    if (this.globs.size >= this.limits.maxSubscriptions) return Reply.error(`ERR 400 too many subscriptions (at most ${this.limits.maxSubscriptions})`);
    this.globs.add(glob);
    this.unsubscribe ??= this.options.store.subscribe((reading) => this.deliver(reading));
    return Reply.ok();
  }

  private stopSubscription(): void {
    this.globs.clear();
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  private deliver(reading: Reading): void {
    if (this.ended || !this.globs.matches(reading.name)) return;
    const text = Reply.value(reading);
    if (this.options.output.queuedBytes + text.length > this.limits.subscriberOutputLimit) {
      this.options.counters?.increment('sensors.slow-subscribers');
      this.slots.length = 0;
      this.options.output.write(Reply.tooSlow());
      this.finish('too_slow');
      return;
    }
    if (!this.options.output.write(text)) this.outputBlocked = true;
  }
}
