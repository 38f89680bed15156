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
 *
 * Memory of an idle connection (issue 13: ≤ 4 KiB per idle connection, everything
 * included): `SensorSessionBase` is one object whose methods live on the prototype; what
 * every session of a service shares (store, clocks, limits, counters) is one
 * `SessionEnvironment` per service; the framer, the token bucket, the reply queue, the
 * input backlog and the subscription's glob set are taken on first use. Where the replies
 * and the end go is left to a subclass: `SensorSession` (options with callbacks, as tests
 * and other hosts use it) or the service's socket-bound session (service.ts).
 */
import type { Clock } from '../../time.ts';
import type { CounterHandle, Counters } from '../../stats.ts';
import { StoreFullError, type CommitListener, type Reading, type ReadingStore } from '../../storage/readings.ts';
import { LineFramer, type FramedItem } from './framer.ts';
import { GlobSet } from './glob.ts';
import { parsePutLine, type PutFields } from './put-line.ts';
import { checkRateLimit, TokenBucket, type RateLimit } from './rate-limiter.ts';
import { parseRequest, type Request } from './request.ts';
import { Reply } from './reply.ts';
import { releaseReplyQueue, ReplyKind, takeReplyQueue, type ReplyItem, type ReplyQueue } from './reply-queue.ts';

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

/** What every session of one service shares: one object per service, not per connection. */
export interface SessionEnvironment {
  readonly store: ReadingStore;
  /** Monotonic clock for the rate limiter. */
  readonly clock: Clock;
  readonly wallClock: WallClock;
  readonly limits: SessionLimits;
  readonly counters: Counters | undefined;
  /** `sensors.requests` of `counters`, bumped once per request without a lookup. */
  readonly requestsCounter: CounterHandle | undefined;
}

/** The environment for `options`: limits completed with the defaults and checked. */
export function sessionEnvironment(options: {
  store: ReadingStore;
  clock: Clock;
  wallClock: WallClock;
  limits?: Partial<SessionLimits>;
  counters?: Counters;
}): SessionEnvironment {
  const limits = { ...DEFAULT_SESSION_LIMITS, ...options.limits };
  // Checked here, not when a session first takes its bucket: a bad limit is a configuration error.
  checkRateLimit(limits.rateLimit);
  if (!Number.isInteger(limits.maxLine) || limits.maxLine < 1) throw new RangeError(`maxLine must be a positive integer, got ${limits.maxLine}`);
  const counters = options.counters;
  return { store: options.store, clock: options.clock, wallClock: options.wallClock, limits, counters, requestsCounter: counters?.handle('sensors.requests') };
}

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

/** Bits of `SensorSessionBase.flags`. */
const Flag = {
  QUIET: 1,
  OUTPUT_BLOCKED: 2,
  INPUT_ENDED: 4,
  STOPPED: 8,
  ENDED: 16,
  WAS_PAUSED: 32,
  QUIT_REQUESTED: 64,
  PUMP_QUEUED: 128,
} as const;

/**
 * The clocks as read once per pump: the lines of one pump arrived together, so they
 * share one instant (rate limit, timestamps of PUTs without one), read at most once each
 * instead of once per request. Pumps run one at a time and each starts by clearing
 * these, so one pair serves every session (no field, and no boxed number, per session).
 */
let pumpInstant: number | undefined;
let pumpWallInstant: number | undefined;
/**
 * The default source of PUTs before HELLO (the peer's address, `defaultSource()`), asked
 * for once per pump, and the session it is of (a pump nested in another session's would
 * otherwise lend it its own).
 */
let pumpSource: string | undefined;
let pumpSourceOf: SensorSessionBase<SessionEnvironment> | undefined;

function rememberPumpSource(session: SensorSessionBase<SessionEnvironment>, source: string): string {
  pumpSourceOf = session;
  pumpSource = source;
  return source;
}

/** The fields of the PUT line being handled (put-line.ts): one object for every session. */
const putFields: PutFields = { name: '', value: 0, timestamp: -1 };

/** No backlog yet: shared, never written (the session takes its own on first push). */
const NONE = Object.freeze([]) as never[];

/**
 * Sessions whose PUTs the store settled in this round of commits: their replies go out
 * from one microtask after the round, one pump per session, in the order the first
 * commit of each came. One queue for all sessions: no closure per session.
 */
const pumpQueue: SensorSessionBase<SessionEnvironment>[] = [];

function runQueuedPumps(): void {
  // A session queued while these pumps run is taken by the same loop.
  try {
    for (let i = 0; i < pumpQueue.length; i++) pumpQueue[i]!.runQueuedPump();
  } finally {
    pumpQueue.length = 0;
  }
}

/**
 * The protocol state of one connection; where its output goes is the subclass's
 * (`write`, `queuedBytes`, `endOutput`, `resumeInput`, `sessionEnded`, `defaultSource`).
 */
export abstract class SensorSessionBase<Environment extends SessionEnvironment = SessionEnvironment> implements CommitListener<number> {
  /** Taken with the first bytes received. */
  private framer: LineFramer | undefined;
  /** Taken with the first request that is rate limited (every non-blank line). */
  private bucket: TokenBucket | undefined;
  /** Taken with the first SUB. */
  private globs: GlobSet | undefined;
  /**
   * The reply FIFO (reply-queue.ts; a PUT's ticket there is its store write's token);
   * undefined while empty after a pump (given back, so an idle session holds none).
   */
  private replies: ReplyQueue | undefined;
  /** Chunks received while the framer still holds unread input; `NONE` while empty after a pump. */
  private backlog: Uint8Array[] = NONE;
  private unsubscribe: (() => void) | undefined;
  private sensorId: string | undefined;
  /** The session's yes/no state, one small integer (`Flag`; the accessors below read it). */
  private flags = 0;

  constructor(protected readonly environment: Environment) {}

  // ---- the flags ----------------------------------------------------------------------------

  /** QUIET on: PUTs from here on get no OK. */
  private get quiet(): boolean {
    return (this.flags & Flag.QUIET) !== 0;
  }
  private set quiet(on: boolean) {
    this.flags = on ? this.flags | Flag.QUIET : this.flags & ~Flag.QUIET;
  }
  /** The output asked to wait for `outputDrained()`. */
  private get outputBlocked(): boolean {
    return (this.flags & Flag.OUTPUT_BLOCKED) !== 0;
  }
  private set outputBlocked(on: boolean) {
    this.flags = on ? this.flags | Flag.OUTPUT_BLOCKED : this.flags & ~Flag.OUTPUT_BLOCKED;
  }
  /** The peer closed its sending side. */
  private get inputEnded(): boolean {
    return (this.flags & Flag.INPUT_ENDED) !== 0;
  }
  private set inputEnded(on: boolean) {
    this.flags = on ? this.flags | Flag.INPUT_ENDED : this.flags & ~Flag.INPUT_ENDED;
  }
  /** No more requests are read (QUIT, or input ended and answered). */
  private get stopped(): boolean {
    return (this.flags & Flag.STOPPED) !== 0;
  }
  private set stopped(on: boolean) {
    this.flags = on ? this.flags | Flag.STOPPED : this.flags & ~Flag.STOPPED;
  }
  /** The session is over (finished or closed). */
  private get ended(): boolean {
    return (this.flags & Flag.ENDED) !== 0;
  }
  private set ended(on: boolean) {
    this.flags = on ? this.flags | Flag.ENDED : this.flags & ~Flag.ENDED;
  }
  /** `acceptingInput` went false: resume the transport when it turns true. */
  private get wasPaused(): boolean {
    return (this.flags & Flag.WAS_PAUSED) !== 0;
  }
  private set wasPaused(on: boolean) {
    this.flags = on ? this.flags | Flag.WAS_PAUSED : this.flags & ~Flag.WAS_PAUSED;
  }
  /** The peer sent QUIT. */
  private get quitRequested(): boolean {
    return (this.flags & Flag.QUIT_REQUESTED) !== 0;
  }
  private set quitRequested(on: boolean) {
    this.flags = on ? this.flags | Flag.QUIT_REQUESTED : this.flags & ~Flag.QUIT_REQUESTED;
  }
  /** A pump is queued for after the store's current round of commits. */
  private get pumpQueued(): boolean {
    return (this.flags & Flag.PUMP_QUEUED) !== 0;
  }
  private set pumpQueued(on: boolean) {
    this.flags = on ? this.flags | Flag.PUMP_QUEUED : this.flags & ~Flag.PUMP_QUEUED;
  }

  // ---- where the output goes (the subclass's) ------------------------------------------

  /** Queues text for the peer; false asks the session to wait for `outputDrained()`. */
  protected abstract write(text: string): boolean;
  /** Bytes queued towards the peer that the transport has not taken yet. */
  protected abstract queuedBytes(): number;
  /** Closes after the queued output (QUIT, ERR 507, end of input). */
  protected abstract endOutput(): void;
  /** The session wants input again after `acceptingInput` went false. */
  protected abstract resumeInput(): void;
  /** The session ended itself (QUIT, too slow, end of input done); called once. */
  protected abstract sessionEnded(reason: SessionEndReason): void;
  /** Source of PUTs made before HELLO (the peer's address), asked for on such a PUT. */
  protected abstract defaultSource(): string | undefined;

  /** False while the session holds input it cannot process yet: pause the transport. */
  get acceptingInput(): boolean {
    return !this.ended && this.backlog.length === 0 && (this.framer === undefined || this.framer.pendingInput === 0);
  }

  get pendingReplies(): number {
    return this.replies === undefined ? 0 : this.replies.length;
  }

  get subscribed(): boolean {
    return this.unsubscribe !== undefined;
  }

  /** Bytes the session holds for input it has not processed (bounded by the transport's chunk). */
  get heldInputBytes(): number {
    const framer = this.framer;
    const framed = framer === undefined ? 0 : framer.pendingInput + framer.bufferedLineBytes;
    return framed + this.backlog.reduce((sum, chunk) => sum + chunk.length, 0);
  }

  receive(chunk: Uint8Array): void {
    if (this.ended || this.stopped || chunk.length === 0) return;
    const framer = (this.framer ??= new LineFramer(this.environment.limits.maxLine));
    if (framer.pendingInput > 0) this.ownBacklog().push(chunk);
    else framer.push(chunk);
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
    // Not given back for reuse: the store may still settle its PUTs (ignored once ended).
    this.replies = undefined;
    this.backlog = NONE;
    this.stopSubscription();
  }

  /** The pump queued by `committed` (runQueuedPumps). */
  runQueuedPump(): void {
    this.pumpQueued = false;
    this.pump();
  }

  private ownBacklog(): Uint8Array[] {
    if (this.backlog === NONE) this.backlog = [];
    return this.backlog;
  }

  private ownReplies(): ReplyQueue {
    return (this.replies ??= takeReplyQueue());
  }

  // ---- the processing loop ----------------------------------------------------------------

  private pump(): void {
    pumpInstant = undefined;
    pumpWallInstant = undefined;
    pumpSourceOf = undefined;
    while (!this.ended) {
      this.flushReplies();
      if (this.ended || this.stopped || this.outputBlocked) break;
      if (this.pendingReplies >= this.environment.limits.maxPendingReplies) break;
      const item = this.nextItem();
      if (item === undefined) break;
      this.handle(item);
    }
    if (!this.ended && this.stopped && this.pendingReplies === 0) this.finish(this.quitRequested ? 'quit' : 'end_of_input');
    if (!this.ended && this.inputEnded && !this.stopped && this.pendingReplies === 0 && (this.framer?.pendingInput ?? 0) === 0 && this.backlog.length === 0) {
      this.stopped = true;
      this.finish('end_of_input');
    }
    if (this.wasPaused && this.acceptingInput) {
      this.wasPaused = false;
      this.resumeInput();
    } else if (!this.acceptingInput) {
      this.wasPaused = true;
    }
    // An emptied queue or backlog is given back (once per pump, not per reply): a sensor
    // that reported and went quiet keeps no grown array.
    const replies = this.replies;
    if (replies !== undefined && replies.length === 0) {
      this.replies = undefined;
      releaseReplyQueue(replies);
    }
    if (this.backlog.length === 0) this.backlog = NONE;
  }

  private nextItem(): FramedItem | undefined {
    const framer = this.framer;
    if (framer === undefined) return undefined;
    for (;;) {
      const item = framer.next();
      if (item !== undefined) return item;
      const chunk = this.backlog.length > 0 ? this.backlog.shift() : undefined;
      if (chunk === undefined) return this.inputEnded ? framer.finish() : undefined;
      framer.push(chunk);
    }
  }

  /**
   * Every reply that is due leaves in one write (a pipelined burst of PUTs gets its OKs
   * in one segment, not one write and one segment each). Deferred replies are
   * evaluated here, in order, so each sees the state after the requests before it.
   */
  private flushReplies(): void {
    const replies = this.replies;
    if (replies === undefined) return;
    let text = '';
    // `this.replies` is checked each time round: a deferred evaluation may end the session.
    while (!this.ended && this.replies === replies) {
      const kind = replies.headKind();
      if (kind < 0 || kind === ReplyKind.PUT_WAITING || kind === ReplyKind.PUT_QUIET_WAITING) break;
      const item = replies.shift();
      text += replyText(kind, item);
    }
    if (text.length > 0 && !this.ended && !this.write(text)) this.outputBlocked = true;
  }

  private finish(reason: SessionEndReason): void {
    if (this.ended) return;
    this.ended = true;
    this.stopSubscription();
    this.endOutput();
    this.sessionEnded(reason);
  }

  /** The rate limiter takes one token for a request (SPEC §4), or the request is answered 429 here. */
  private admitted(): boolean {
    const environment = this.environment;
    const now = (pumpInstant ??= environment.clock.now());
    const bucket = (this.bucket ??= new TokenBucket(environment.limits.rateLimit, environment.clock, now));
    if (bucket.take(now)) return true;
    environment.counters?.increment('sensors.errors.429');
    this.reply(Reply.rateLimited());
    return false;
  }

  /** A well-formed, admitted request: `sensors.requests`. */
  private countRequest(): void {
    const requests = this.environment.requestsCounter;
    if (requests !== undefined) requests.value++;
  }

  private handle(item: FramedItem): void {
    const counters = this.environment.counters;
    if (item.kind === 'too-long') {
      counters?.increment('sensors.errors.413');
      this.reply(Reply.tooLong());
      return;
    }
    // The common PUT read in place (put-line.ts); anything else, or a PUT it does not
    // take, goes through parseRequest, which has the last word on errors.
    if (parsePutLine(item.source, item.start, item.end, putFields)) {
      if (!this.admitted()) return;
      this.countRequest();
      this.put(putFields.name, putFields.value, putFields.timestamp < 0 ? undefined : putFields.timestamp);
      return;
    }
    const parsed = parseRequest(item.bytes);
    if (parsed.ok === 'blank') return;
    if (!this.admitted()) return;
    if (parsed.ok === false) {
      counters?.increment('sensors.errors.400');
      this.reply(Reply.error(parsed.error));
      return;
    }
    this.countRequest();
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
          const reading = this.environment.store.latest(name);
          return reading === undefined ? Reply.unknown(name) : Reply.value(reading);
        });
        return;
      }
      case 'LIST':
        this.defer(() => this.environment.store.list().map(Reply.value).join('') + Reply.end());
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
        this.defer(() => Reply.time(this.environment.wallClock.now()));
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
    this.ownReplies().pushItem(ReplyKind.TEXT, text);
  }

  private defer(evaluate: () => string): void {
    this.ownReplies().pushItem(ReplyKind.DEFERRED, evaluate);
  }

  private put(name: string, value: number, timestamp: number | undefined): void {
    const reading: Reading = {
      name,
      value,
      timestamp: timestamp ?? (pumpWallInstant ??= Math.trunc(this.environment.wallClock.now())),
      source: this.sensorId ?? this.pumpDefaultSource(),
    };
    const replies = this.ownReplies();
    const ticket = replies.pushPut(this.quiet);
    try {
      this.environment.store.write(reading, this, ticket);
    } catch {
      // A store that throws instead of refusing is still only "unavailable" to the peer.
      this.environment.counters?.increment('sensors.errors.503');
      replies.settle(ticket, ReplyKind.PUT_UNAVAILABLE);
    }
  }

  /** `defaultSource()`, asked once per pump (see `pumpSource`). */
  private pumpDefaultSource(): string {
    if (pumpSourceOf === this && pumpSource !== undefined) return pumpSource;
    return rememberPumpSource(this, this.defaultSource() ?? 'anonymous');
  }

  /**
   * The store settled the PUT with this ticket: its entry gets its outcome (no reply for
   * a quiet OK). The replies go out from one pump after the store's round of commits,
   * not one pump per PUT.
   */
  committed(ticket: number, error: Error | undefined): void {
    const replies = this.replies;
    if (this.ended || replies === undefined) return;
    const outcome = error === undefined ? 'committed' : error instanceof StoreFullError ? ReplyKind.PUT_STORE_FULL : ReplyKind.PUT_UNAVAILABLE;
    if (!replies.settle(ticket, outcome)) return;
    if (error !== undefined) this.environment.counters?.increment('sensors.errors.503');
    if (!this.pumpQueued) {
      this.pumpQueued = true;
      if (pumpQueue.push(this) === 1) queueMicrotask(runQueuedPumps);
    }
  }

  private subscribe(glob: string): string {
    const limit = this.environment.limits.maxSubscriptions;
    const globs = (this.globs ??= new GlobSet());
    if (globs.size >= limit) return Reply.error(`ERR 400 too many subscriptions (at most ${limit})`);
    globs.add(glob);
    this.unsubscribe ??= this.environment.store.subscribe((reading) => this.deliver(reading));
    return Reply.ok();
  }

  private stopSubscription(): void {
    this.globs = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  private deliver(reading: Reading): void {
    if (this.ended || this.globs === undefined || !this.globs.matches(reading.name)) return;
    const text = Reply.value(reading);
    if (this.queuedBytes() + text.length > this.environment.limits.subscriberOutputLimit) {
      this.environment.counters?.increment('sensors.slow-subscribers');
      this.replies = undefined;
      this.write(Reply.tooSlow());
      this.finish('too_slow');
      return;
    }
    if (!this.write(text)) this.outputBlocked = true;
  }
}

/** The text of a settled entry (`item`: what a TEXT or DEFERRED entry carried). */
function replyText(kind: number, item: ReplyItem | undefined): string {
  switch (kind) {
    case ReplyKind.PUT_SILENT:
      return '';
    case ReplyKind.PUT_OK:
      return Reply.ok();
    case ReplyKind.PUT_STORE_FULL:
      return Reply.storeFull();
    case ReplyKind.PUT_UNAVAILABLE:
      return Reply.unavailable();
    default:
      return typeof item === 'string' ? item : item!();
  }
}

/** A session whose output and callbacks are given as options (tests, other hosts). */
export class SensorSession extends SensorSessionBase {
  private readonly output: SessionOutput;
  private readonly options: SessionOptions;

  constructor(options: SessionOptions) {
    super(sessionEnvironment(options));
    this.options = options;
    this.output = options.output;
  }

  protected write(text: string): boolean {
    return this.output.write(text);
  }
  protected queuedBytes(): number {
    return this.output.queuedBytes;
  }
  protected endOutput(): void {
    this.output.end();
  }
  protected resumeInput(): void {
    this.options.resumeInput?.();
  }
  protected sessionEnded(reason: SessionEndReason): void {
    this.options.onEnd?.(reason);
  }
  protected defaultSource(): string | undefined {
    return this.options.defaultSource;
  }
}
