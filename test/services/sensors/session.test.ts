/**
 * The protocol core without sockets: bytes in, reply text out, the store's commits
 * under the test's control (MemoryReadingStore), time on ManualClocks.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SensorSession, type SessionLimits, type SessionEndReason } from '../../../src/services/sensors/session.ts';
import { MemoryReadingStore } from '../../../src/storage/readings.ts';
import { ManualClock } from '../../../src/time.ts';
import { SeededRandom } from '../../../src/random.ts';

interface Harness {
  session: SensorSession;
  store: MemoryReadingStore;
  clock: ManualClock;
  wall: ManualClock;
  /** Everything written so far. */
  text(): string;
  /** Lines written since the last call. */
  take(): string[];
  send(text: string | Uint8Array): void;
  ended: SessionEndReason[];
  outputEnded: () => boolean;
  /** Simulated transport: bytes it has not taken; write() returns false past `highWater`. */
  transport: { queued: number; highWater: number };
  resumed: () => number;
}

function harness(options: { store?: MemoryReadingStore; limits?: Partial<SessionLimits> } = {}): Harness {
  const store = options.store ?? new MemoryReadingStore();
  const clock = new ManualClock(0);
  const wall = new ManualClock(1_700_000_000_000);
  let written = '';
  let taken = 0;
  let outputEnded = false;
  let resumed = 0;
  const ended: SessionEndReason[] = [];
  const transport = { queued: 0, highWater: Infinity };
  const session = new SensorSession({
    store,
    clock,
    wallClock: wall,
    limits: options.limits,
    defaultSource: '198.18.0.1',
    output: {
      write: (text) => {
        assert.equal(outputEnded, false, 'write after end');
        written += text;
        transport.queued += text.length;
        return transport.queued < transport.highWater;
      },
      get queuedBytes() {
        return transport.queued;
      },
      end: () => {
        outputEnded = true;
      },
    },
    resumeInput: () => resumed++,
    onEnd: (reason) => ended.push(reason),
  });
  return {
    session,
    store,
    clock,
    wall,
    text: () => written,
    take: () => {
      const fresh = written.slice(taken);
      taken = written.length;
      return fresh.split('\n').slice(0, -1);
    },
    send: (input) => session.receive(typeof input === 'string' ? new TextEncoder().encode(input) : input),
    ended,
    outputEnded: () => outputEnded,
    transport,
    resumed: () => resumed,
  };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('SensorSession replies (SPEC §4)', () => {
  it('answers HELLO, PING, TIME, QUIET and QUIT', () => {
    const h = harness();
    h.send('HELLO s1\nPING\nping tok\nTIME\nQUIET on\nQUIET off\nQUIT\nPING after-quit\n');
    assert.deepEqual(h.take(), ['OK hello s1', 'PONG', 'PONG tok', 'TIME 1700000000000', 'OK', 'OK', 'BYE']);
    assert.deepEqual(h.ended, ['quit']);
    assert.ok(h.outputEnded());
  });

  it('sends OK for PUT only after the commit, and GET/LIST see committed readings', async () => {
    const h = harness();
    h.send('HELLO s1\nPUT t 21.5\nPUT h 40 1600000000000\n');
    assert.deepEqual(h.take(), ['OK hello s1']);
    h.store.commit();
    await flush();
    assert.deepEqual(h.take(), ['OK', 'OK']);
    h.send('GET t\nGET h\nGET nope\nLIST\n');
    assert.deepEqual(h.take(), [
      'VAL t 21.5 1700000000000 s1',
      'VAL h 40 1600000000000 s1',
      'ERR 404 unknown nope',
      'VAL h 40 1600000000000 s1',
      'VAL t 21.5 1700000000000 s1',
      'END',
    ]);
  });

  it('keeps replies in request order behind a pending PUT (read-your-writes for GET)', async () => {
    const h = harness();
    h.send('PUT a 1\nPING x\nGET a\nTIME\n');
    assert.deepEqual(h.take(), []);
    h.wall.advance(5);
    h.store.commit();
    await flush();
    assert.deepEqual(h.take(), ['OK', 'PONG x', 'VAL a 1 1700000000000 198.18.0.1', 'TIME 1700000000005']);
  });

  it('LIST on an empty store is just END', () => {
    const h = harness();
    h.send('LIST\n');
    assert.deepEqual(h.take(), ['END']);
  });

  it('QUIET on suppresses PUT OKs but not errors', async () => {
    const h = harness();
    h.send('QUIET on\nPUT a 1\nPUT a* 1\nPUT b 2\nQUIET off\nPUT c 3\n');
    h.store.commit();
    await flush();
    assert.deepEqual(h.take(), ['OK', 'ERR 400 bad name (1-64 of A-Z a-z 0-9 _ . - /)', 'OK', 'OK']);
    assert.equal(h.store.committed.length, 3);
  });

  it('answers ERR 503 when the store fails, and goes on', async () => {
    const h = harness();
    h.send('PUT a 1\n');
    h.store.failure = new Error('disk on fire');
    h.store.commit();
    await flush();
    h.send('PUT b 2\nPING\n');
    await flush();
    assert.deepEqual(h.take(), ['ERR 503 store unavailable', 'ERR 503 store unavailable', 'PONG']);
  });

  it('answers ERR 503 store full past the bound on names', async () => {
    const h = harness({ store: new MemoryReadingStore({ autoCommit: true, maxNames: 2 }) });
    h.send('PUT a 1\nPUT b 1\n');
    await flush();
    h.send('PUT c 1\nPUT a 2\n');
    await flush();
    assert.deepEqual(h.take(), ['OK', 'OK', 'ERR 503 store full', 'OK']);
  });

  it('uses the sensor-id from HELLO as the source, the peer address before it', async () => {
    const h = harness({ store: new MemoryReadingStore({ autoCommit: true }) });
    h.send('PUT a 1\nHELLO dev/9\nPUT b 2\n');
    await flush();
    assert.deepEqual(
      h.store.committed.map((r) => r.source),
      ['198.18.0.1', 'dev/9'],
    );
  });
});

describe('SensorSession subscriptions', () => {
  it('SUB sends a VAL for every new matching reading, UNSUB stops them', async () => {
    const store = new MemoryReadingStore({ autoCommit: true });
    const subscriber = harness({ store });
    const writer = harness({ store });
    subscriber.send('SUB bme280.*\nSUB room?\n');
    assert.deepEqual(subscriber.take(), ['OK', 'OK']);
    writer.send('HELLO w\nPUT bme280.temperature 20.25 1000\nPUT other 1 1000\nPUT room7 3 1000\n');
    await flush();
    assert.deepEqual(subscriber.take(), ['VAL bme280.temperature 20.25 1000 w', 'VAL room7 3 1000 w']);
    subscriber.send('UNSUB\n');
    writer.send('PUT bme280.pressure 1013 1000\n');
    await flush();
    assert.deepEqual(subscriber.take(), ['OK']);
    assert.equal(store.index.subscriberCount, 0);
  });

  it('closes a subscriber that does not read with ERR 507 too slow, without touching other sessions', async () => {
    const store = new MemoryReadingStore({ autoCommit: true });
    const slow = harness({ store, limits: { subscriberOutputLimit: 1000 } });
    const fast = harness({ store });
    const writer = harness({ store });
    slow.send('SUB *\n');
    fast.send('SUB *\n');
    slow.take();
    fast.take();
    for (let i = 0; i < 100; i++) writer.send(`PUT n${i} ${i} 1000\n`);
    await flush();
    const slowLines = slow.take();
    assert.equal(slowLines.at(-1), 'ERR 507 too slow');
    assert.ok(slow.text().length <= 1000 + 'ERR 507 too slow\n'.length);
    assert.deepEqual(slow.ended, ['too_slow']);
    assert.ok(slow.outputEnded());
    assert.equal(fast.take().length, 100);
    assert.equal(store.index.subscriberCount, 1);
  });

  it('bounds the number of globs', () => {
    const h = harness({ limits: { maxSubscriptions: 2 } });
    h.send('SUB a\nSUB b\nSUB c\n');
    assert.deepEqual(h.take(), ['OK', 'OK', 'ERR 400 too many subscriptions (at most 2)']);
  });
});

describe('SensorSession limits', () => {
  it('answers ERR 413 for an over-long line once, skips its rest and keeps the connection', () => {
    const h = harness({ limits: { maxLine: 16 } });
    h.send('PING 0123456789abcdef\nPING ok\n');
    h.send('x'.repeat(100));
    h.send('y'.repeat(1000) + '\nPING again\n');
    assert.deepEqual(h.take(), ['ERR 413 line too long', 'PONG ok', 'ERR 413 line too long', 'PONG again']);
  });

  it('handles a 10 MiB line without LF in bounded memory', () => {
    const h = harness();
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    for (let i = 0; i < 160; i++) {
      h.send(chunk);
      assert.ok(h.session.heldInputBytes <= 513, `held ${h.session.heldInputBytes}`);
    }
    h.send('\nPING\n');
    assert.deepEqual(h.take(), ['ERR 413 line too long', 'PONG']);
  });

  it('rate-limits with ERR 429 past the burst and recovers with time', () => {
    const h = harness({ limits: { rateLimit: { rate: 10, burst: 3 } } });
    h.send('PING 1\nPING 2\nPING 3\nPING 4\nPING 5\n');
    assert.deepEqual(h.take(), ['PONG 1', 'PONG 2', 'PONG 3', 'ERR 429 rate limited', 'ERR 429 rate limited']);
    h.clock.advance(100);
    h.send('PING 6\nPING 7\n');
    assert.deepEqual(h.take(), ['PONG 6', 'ERR 429 rate limited']);
  });

  it('answers 10,000 pipelined requests in one chunk, in order, one commit for all PUTs', async () => {
    const h = harness({ limits: { maxPendingReplies: 1024, rateLimit: { rate: 1000, burst: 10_000 } } });
    const lines: string[] = [];
    for (let i = 0; i < 5000; i++) lines.push(`PUT s${i % 50} ${i}`, `PING ${i}`);
    h.send(lines.join('\n') + '\n');
    // Replies wait on the first PUT: the queue is full, input is held (not parsed).
    assert.equal(h.session.pendingReplies, 1024);
    assert.equal(h.session.acceptingInput, false);
    let rounds = 0;
    while (h.store.pendingCount > 0) {
      h.store.commit();
      await flush();
      rounds++;
    }
    const replies = h.take();
    assert.equal(replies.length, 10_000);
    for (let i = 0; i < 5000; i++) {
      assert.equal(replies[2 * i], 'OK');
      assert.equal(replies[2 * i + 1], `PONG ${i}`);
    }
    assert.ok(rounds <= 10, `${rounds} commits`);
    assert.ok(h.resumed() >= 1);
    assert.equal(h.session.acceptingInput, true);
  });

  it('with the default rate limit, answers the burst of a 10,000-request chunk and 429s the rest', async () => {
    const h = harness({ store: new MemoryReadingStore({ autoCommit: true }) });
    h.send('PING\n'.repeat(10_000));
    await flush();
    const replies = h.take();
    assert.equal(replies.length, 10_000);
    assert.equal(replies.filter((line) => line === 'PONG').length, 2000);
    assert.deepEqual(replies.slice(2000), new Array(8000).fill('ERR 429 rate limited'));
  });

  it('stops taking input while the transport asks to wait, and resumes on drain', () => {
    const h = harness();
    h.transport.highWater = 20;
    h.send('PING 1\nPING 2\nPING 3\nPING 4\nPING 5\n');
    assert.deepEqual(h.take(), ['PONG 1', 'PONG 2', 'PONG 3']);
    assert.equal(h.session.acceptingInput, false);
    h.transport.queued = 0;
    h.session.outputDrained();
    assert.deepEqual(h.take(), ['PONG 4', 'PONG 5']);
    assert.equal(h.resumed(), 1);
  });

  it('answers what was sent before the peer closed its side, then ends', async () => {
    const h = harness();
    h.send('PUT a 1\nPING');
    h.session.endOfInput();
    assert.equal(h.outputEnded(), false);
    h.store.commit();
    await flush();
    assert.deepEqual(h.take(), ['OK', 'PONG']);
    assert.deepEqual(h.ended, ['end_of_input']);
  });
});

describe('SensorSession under random input', () => {
  it('never throws, answers only well-formed lines, and keeps memory bounded', async () => {
    const random = new SeededRandom(2024);
    const store = new MemoryReadingStore({ autoCommit: true });
    const h = harness({ store, limits: { maxLine: 64, rateLimit: { rate: 1e9, burst: 1e9 } } });
    const verbs = ['PUT a 1\n', 'GET a\n', 'SUB *\n', 'UNSUB\n', 'LIST\n', 'PING\n', '\n', '\r\n', 'QUIET on\n', 'QUIET off\n'];
    for (let round = 0; round < 3000; round++) {
      const choice = random.uint32() % 4;
      let chunk: Uint8Array;
      if (choice === 0) chunk = new TextEncoder().encode(verbs[random.uint32() % verbs.length]!);
      else chunk = random.bytes(1 + (random.uint32() % 300));
      h.send(chunk);
      assert.ok(h.session.heldInputBytes <= 300 + 65, `held ${h.session.heldInputBytes}`);
      assert.ok(h.session.pendingReplies <= 1024);
      if (round % 50 === 0) await flush();
      h.transport.queued = 0;
    }
    await flush();
    assert.equal(h.outputEnded(), false);
    for (const line of h.take()) assert.match(line, /^(OK|OK hello \S+|VAL \S+ \S+ \d+ \S+|END|PONG( \S+)?|TIME \d+|ERR (400|404|413|503) [ -~]+)$/);
  });
});

// The parts an idle session does without (issue 13: reply queue, bucket, glob set, the
// per-pump instants and one pump queue shared by all sessions) are taken on first use
// and given back: these check that sharing and re-taking them changes nothing a peer sees.
describe('SensorSession state taken on first use', () => {
  it('answers the PUTs of several sessions settled in one round of commits, each in its own order', async () => {
    const store = new MemoryReadingStore();
    const sessions = [harness({ store }), harness({ store }), harness({ store })];
    sessions.forEach((h, i) => h.send(`HELLO s${i}\nPUT a${i} ${i}\nPING p${i}\nPUT b${i} ${i}\n`));
    for (const h of sessions) assert.deepEqual(h.take(), [`OK hello s${sessions.indexOf(h)}`]);
    store.commit();
    await flush();
    sessions.forEach((h, i) => assert.deepEqual(h.take(), ['OK', `PONG p${i}`, 'OK']));
    // A second round reuses the shared queue.
    sessions.forEach((h, i) => h.send(`PUT c${i} 1\n`));
    store.commit();
    await flush();
    for (const h of sessions) assert.deepEqual(h.take(), ['OK']);
  });

  it('writes nothing for a session closed while its replies were queued, and still answers the others', async () => {
    const store = new MemoryReadingStore();
    const closed = harness({ store });
    const open = harness({ store });
    closed.send('PUT x 1\n');
    open.send('PUT y 2\n');
    store.commit();
    closed.session.close();
    await flush();
    assert.deepEqual(closed.take(), []);
    assert.deepEqual(open.take(), ['OK']);
  });

  it('subscribes again after UNSUB, with a fresh glob set', async () => {
    const store = new MemoryReadingStore({ autoCommit: true });
    const subscriber = harness({ store, limits: { maxSubscriptions: 1 } });
    const writer = harness({ store });
    subscriber.send('SUB a*\nUNSUB\nSUB b*\n');
    assert.deepEqual(subscriber.take(), ['OK', 'OK', 'OK']);
    assert.equal(subscriber.session.subscribed, true);
    writer.send('PUT a1 1 1000\nPUT b1 2 1000\n');
    await flush();
    assert.deepEqual(subscriber.take(), ['VAL b1 2 1000 198.18.0.1']);
    assert.equal(store.index.subscriberCount, 1);
  });

  it('starts the rate limit with a full bucket at the first request, however long after the connection', () => {
    const h = harness({ limits: { rateLimit: { rate: 1, burst: 2 } } });
    h.clock.advance(3_600_000);
    h.send('PING 1\nPING 2\nPING 3\n');
    assert.deepEqual(h.take(), ['PONG 1', 'PONG 2', 'ERR 429 rate limited']);
  });

  it('refuses a bad rate limit when the session is made, not at its first request', () => {
    assert.throws(() => harness({ limits: { rateLimit: { rate: 0, burst: 1 } } }), RangeError);
    assert.throws(() => harness({ limits: { maxLine: 0 } }), RangeError);
  });
});
