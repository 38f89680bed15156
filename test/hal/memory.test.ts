/**
 * The memory wire: exact delivery instants on a ManualClock, the fault model (statistically
 * plausible with a seed, identical with the same seed), cable pulls, and frame ownership.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryWire, POISON_BYTE, type MemoryWireOptions, type WireFaults } from '../../hal/link/memory.ts';
import { SeededRandom } from '../../src/random.ts';
import { ManualClock } from '../../src/time.ts';

/** A frame of `length` bytes carrying `index` in bytes 14..17 (after the Ethernet header). */
function frame(index: number, length = 100): Uint8Array {
  const bytes = new Uint8Array(length);
  bytes.fill(0x5a);
  new DataView(bytes.buffer).setUint32(14, index);
  return bytes;
}

function indexOf(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(14);
}

interface Arrival {
  at: number;
  index: number;
  bytes: Uint8Array;
}

function setup(faults: Partial<WireFaults> = {}, options: Partial<MemoryWireOptions> = {}, seed = 1) {
  const clock = new ManualClock(0);
  const wire = new MemoryWire({ clock, random: new SeededRandom(seed), faults, ...options });
  const atB: Arrival[] = [];
  const atA: Arrival[] = [];
  wire.b.setReceiver((bytes) => atB.push({ at: clock.now(), index: indexOf(bytes), bytes: bytes.slice() }));
  wire.a.setReceiver((bytes) => atA.push({ at: clock.now(), index: indexOf(bytes), bytes: bytes.slice() }));
  /** Runs the wire like the event loop would: poll at each deadline until `until`. */
  const runUntil = (until: number): void => {
    for (;;) {
      const due = wire.pollAt();
      if (due === undefined || due > until) break;
      clock.set(Math.max(due, clock.now()));
      wire.poll(clock.now());
    }
    clock.set(Math.max(until, clock.now()));
  };
  return { clock, wire, atA, atB, runUntil };
}

/** Sends `count` frames a→b, one every `spacingMs`, and runs until all are due. */
function sendMany(run: ReturnType<typeof setup>, count: number, spacingMs = 1, length = 100): void {
  for (let index = 0; index < count; index++) {
    run.runUntil(index * spacingMs);
    run.wire.a.transmit(frame(index, length));
  }
  run.runUntil(count * spacingMs + 10_000);
}

describe('MemoryWire timing', () => {
  test('delay and bandwidth give exact delivery instants; frames queue behind each other on the line', () => {
    // 8 Mbit/s = 1000 bytes per ms: a 1000-byte frame takes exactly 1 ms to send.
    const run = setup({ delayMs: 10, bandwidthBitsPerSecond: 8_000_000 });
    run.wire.a.transmit(frame(0, 1000));
    run.wire.a.transmit(frame(1, 1000));
    run.wire.a.transmit(frame(2, 500));
    assert.equal(run.wire.pollAt(), 11, 'first frame: 1 ms on the line + 10 ms delay');
    run.wire.poll(10.999);
    assert.equal(run.atB.length, 0, 'nothing before its instant');
    run.runUntil(100);
    assert.deepEqual(
      run.atB.map((arrival) => [arrival.index, arrival.at]),
      [
        [0, 11],
        [1, 12],
        [2, 12.5],
      ],
    );
    // The line has been idle since 2.5 ms: a frame sent at 100 starts at once.
    run.wire.a.transmit(frame(3, 1000));
    assert.equal(run.wire.pollAt(), 111);
    assert.equal(run.wire.pollAt(), run.wire.pollAt(), 'pollAt has no side effects');
  });

  test('without delay or bandwidth limit, frames are due at once and arrive in order', () => {
    const run = setup();
    run.clock.set(5);
    for (let index = 0; index < 5; index++) run.wire.a.transmit(frame(index));
    assert.equal(run.wire.pollAt(), 5);
    run.wire.poll(5);
    assert.deepEqual(
      run.atB.map((arrival) => arrival.index),
      [0, 1, 2, 3, 4],
    );
    assert.equal(run.wire.pollAt(), undefined, 'nothing left in flight');
  });

  test('a reply sent from inside a receiver waits for the next poll', () => {
    const run = setup();
    const replies: number[] = [];
    run.wire.b.setReceiver((bytes) => run.wire.b.transmit(frame(indexOf(bytes) + 1000)));
    run.wire.a.setReceiver((bytes) => replies.push(indexOf(bytes)));
    run.wire.a.transmit(frame(1));
    run.wire.poll(0);
    assert.deepEqual(replies, [], 'one poll is one step');
    assert.equal(run.wire.pollAt(), 0, 'the reply is due now');
    run.wire.poll(0);
    assert.deepEqual(replies, [1001]);
  });

  test('jitter spreads arrivals over [delay, delay + jitter) without reordering them', () => {
    const run = setup({ delayMs: 20, jitterMs: 50 });
    sendMany(run, 500, 1);
    assert.deepEqual(
      run.atB.map((arrival) => arrival.index),
      Array.from({ length: 500 }, (_, index) => index),
    );
    const latencies = run.atB.map((arrival) => arrival.at - arrival.index);
    assert.ok(latencies.every((latency) => latency >= 20 && latency < 70));
    assert.ok(Math.max(...latencies) - Math.min(...latencies) > 25, 'the jitter is really there');
  });

  test('a line over its queue limit drops new frames', () => {
    const run = setup({ bandwidthBitsPerSecond: 8_000_000, queueLimitBytes: 3000 });
    for (let index = 0; index < 10; index++) run.wire.a.transmit(frame(index, 1000));
    run.runUntil(100);
    // Frame 0 goes straight onto the idle line; 1 and 2 wait (2000, 3000 bytes); 3.. overflow.
    assert.deepEqual(
      run.atB.map((arrival) => [arrival.index, arrival.at]),
      [
        [0, 1],
        [1, 2],
        [2, 3],
      ],
    );
    assert.equal(run.wire.stats('a-to-b').overflowed, 7);
  });
});

describe('MemoryWire faults', () => {
  const COUNT = 10_000;

  test('loss is near its rate and every frame is accounted for', () => {
    const run = setup({ lossRate: 0.1 });
    sendMany(run, COUNT, 0.1);
    const stats = run.wire.stats('a-to-b');
    assert.equal(stats.sent, COUNT);
    // Binomial(10000, 0.1): mean 1000, standard deviation 30; ±150 is five deviations.
    assert.ok(Math.abs(stats.lost - 1000) < 150, `lost ${stats.lost}`);
    assert.equal(stats.delivered, COUNT - stats.lost);
    assert.equal(run.atB.length, stats.delivered);
  });

  test('duplicates are near their rate, arrive right after the original, as separate copies', () => {
    const run = setup({ duplicateRate: 0.2 });
    const delivered: Uint8Array[] = [];
    run.wire.b.setReceiver((bytes) => delivered.push(bytes));
    sendMany(run, COUNT, 0.1);
    const stats = run.wire.stats('a-to-b');
    // Binomial(10000, 0.2): mean 2000, standard deviation 40.
    assert.ok(Math.abs(stats.duplicated - 2000) < 200, `duplicated ${stats.duplicated}`);
    assert.equal(delivered.length, COUNT + stats.duplicated);
    let pairs = 0;
    for (let position = 1; position < delivered.length; position++) {
      const previous = delivered[position - 1]!;
      const current = delivered[position]!;
      if (indexOf(previous) !== indexOf(current)) continue;
      pairs++;
      assert.notEqual(previous, current, 'a duplicate is not the same buffer');
      assert.notEqual(previous.buffer, current.buffer, 'nor a view of it');
      assert.deepEqual(previous, current);
    }
    assert.equal(pairs, stats.duplicated);
  });

  test('reordered frames are near their rate and are overtaken by later ones', () => {
    const run = setup({ reorderRate: 0.05, reorderDelayMs: 5 });
    sendMany(run, COUNT, 1);
    const stats = run.wire.stats('a-to-b');
    // Binomial(10000, 0.05): mean 500, standard deviation 22.
    assert.ok(Math.abs(stats.reordered - 500) < 110, `reordered ${stats.reordered}`);
    const order = run.atB.map((arrival) => arrival.index);
    assert.deepEqual(
      [...order].sort((x, y) => x - y),
      Array.from({ length: COUNT }, (_, index) => index),
      'each frame exactly once',
    );
    // A held-back frame arrives 5 ms late; with one frame a millisecond, later ones pass it.
    const late = run.atB.filter((arrival) => arrival.at - arrival.index === 5);
    assert.equal(late.length, stats.reordered);
    let overtaken = 0;
    for (let position = 1; position < order.length; position++) if (order[position]! < order[position - 1]!) overtaken++;
    assert.ok(overtaken > stats.reordered / 2, `overtaken ${overtaken}`);
  });

  test('corruption flips exactly one bit of near the rate of frames', () => {
    const run = setup({ corruptRate: 0.05 });
    const original = frame(0);
    for (let index = 0; index < COUNT; index++) run.wire.a.transmit(original.slice());
    run.runUntil(1);
    const stats = run.wire.stats('a-to-b');
    assert.ok(Math.abs(stats.corrupted - 500) < 110, `corrupted ${stats.corrupted}`);
    let damaged = 0;
    for (const arrival of run.atB) {
      let flippedBits = 0;
      for (let offset = 0; offset < original.length; offset++) {
        let difference = (arrival.bytes[offset] ?? 0) ^ (original[offset] ?? 0);
        for (; difference !== 0; difference &= difference - 1) flippedBits++;
      }
      assert.ok(flippedBits <= 1);
      damaged += flippedBits;
    }
    assert.equal(damaged, stats.corrupted);
  });

  test('the same seed replays the same run exactly; another seed does not', () => {
    const faults: Partial<WireFaults> = { lossRate: 0.1, duplicateRate: 0.05, reorderRate: 0.05, corruptRate: 0.05, delayMs: 3, jitterMs: 4 };
    const trace = (seed: number) => {
      const run = setup(faults, {}, seed);
      sendMany(run, 2000, 0.5);
      return { arrivals: run.atB.map((arrival) => [arrival.at, Buffer.from(arrival.bytes).toString('hex')]), stats: run.wire.stats('a-to-b') };
    };
    const first = trace(42);
    assert.deepEqual(trace(42), first);
    assert.notDeepEqual(trace(43).arrivals, first.arrivals);
  });

  test('each direction has its own model, changeable at run time', () => {
    const run = setup();
    run.wire.setFaults('a-to-b', { lossRate: 1 });
    run.wire.a.transmit(frame(1));
    run.wire.b.transmit(frame(2));
    run.runUntil(1);
    assert.equal(run.atB.length, 0);
    assert.deepEqual(
      run.atA.map((arrival) => arrival.index),
      [2],
    );
    assert.equal(run.wire.faults('a-to-b').lossRate, 1);
    assert.equal(run.wire.faults('b-to-a').lossRate, 0);
    run.wire.setFaults('both', { lossRate: 0, delayMs: 7 });
    run.wire.a.transmit(frame(3));
    assert.equal(run.wire.pollAt(), 8);
  });

  test('dropWhen loses exactly the frames its predicate picks, in its direction, counted as lost', () => {
    const run = setup();
    run.wire.dropWhen('a-to-b', (bytes) => indexOf(bytes) % 2 === 1);
    for (let index = 0; index < 6; index++) run.wire.a.transmit(frame(index));
    run.wire.b.transmit(frame(1));
    run.runUntil(1);
    assert.deepEqual(run.atB.map((arrival) => arrival.index), [0, 2, 4]);
    assert.deepEqual(run.atA.map((arrival) => arrival.index), [1], 'the other direction is untouched');
    assert.equal(run.wire.stats('a-to-b').lost, 3);
    run.wire.dropWhen('a-to-b', undefined);
    run.wire.a.transmit(frame(7));
    run.runUntil(2);
    assert.deepEqual(run.atB.map((arrival) => arrival.index), [0, 2, 4, 7]);
  });

  test('nonsensical settings are refused', () => {
    const run = setup();
    assert.throws(() => run.wire.setFaults('a-to-b', { lossRate: 1.5 }), RangeError);
    assert.throws(() => run.wire.setFaults('both', { delayMs: -1 }), RangeError);
    assert.throws(() => run.wire.setFaults('both', { jitterMs: Number.NaN }), RangeError);
    assert.throws(() => new MemoryWire({ clock: new ManualClock(), random: new SeededRandom(1), faults: { reorderRate: -0.1 } }), RangeError);
    assert.equal(run.wire.faults('a-to-b').lossRate, 0, 'a refused setting changes nothing');
  });
});

describe('MemoryWire cable', () => {
  test('pulling loses frames in flight and frames sent meanwhile; both ends see carrier go and come back', () => {
    // 8 Mbit/s: the three 1000-byte frames sent a→b keep the line busy until 3 ms.
    const run = setup({ delayMs: 10, bandwidthBitsPerSecond: 8_000_000 });
    const carrierA: boolean[] = [];
    const carrierB: boolean[] = [];
    run.wire.a.onCarrierChange((up) => carrierA.push(up));
    run.wire.b.onCarrierChange((up) => carrierB.push(up));
    run.wire.a.transmit(frame(1, 1000));
    run.wire.a.transmit(frame(11, 1000));
    run.wire.a.transmit(frame(12, 1000));
    run.wire.b.transmit(frame(2));
    run.wire.pullCable();
    assert.equal(run.wire.a.carrier, false);
    assert.equal(run.wire.b.carrier, false);
    assert.deepEqual(carrierA, [false]);
    assert.deepEqual(carrierB, [false]);
    assert.equal(run.wire.pollAt(), undefined, 'nothing in flight any more');
    run.wire.a.transmit(frame(3));
    run.runUntil(50);
    assert.equal(run.atA.length, 0);
    assert.equal(run.atB.length, 0);
    assert.equal(run.wire.stats('a-to-b').lost, 3);
    assert.equal(run.wire.stats('b-to-a').lost, 1);
    assert.equal(run.wire.a.stats()['link.drop.no-carrier'], 1);

    run.wire.pullCable();
    assert.deepEqual(carrierA, [false], 'pulling a pulled cable changes nothing');
    run.wire.plugCable();
    assert.deepEqual(carrierA, [false, true]);
    assert.deepEqual(carrierB, [false, true]);
    assert.equal(run.wire.a.carrier, true);
    run.wire.a.transmit(frame(4, 1000));
    run.runUntil(100);
    // Sent at 50 on an idle line (the lost frames' queue went with the cable): 1 + 10 ms.
    assert.deepEqual(
      run.atB.map((arrival) => [arrival.index, arrival.at]),
      [[4, 61]],
    );
  });
});

describe('MemoryWire cable, continued', () => {
  test('the frames queued on a line go with the cable: after a re-plug the line starts idle', () => {
    const run = setup({ delayMs: 10, bandwidthBitsPerSecond: 8_000_000 });
    for (let index = 0; index < 5; index++) run.wire.a.transmit(frame(index, 1000)); // line busy until 5 ms
    run.wire.pullCable();
    run.wire.plugCable();
    run.wire.a.transmit(frame(9, 1000));
    run.runUntil(100);
    assert.deepEqual(
      run.atB.map((arrival) => [arrival.index, arrival.at]),
      [[9, 11]],
    );
  });
});

describe('MemoryWire endpoints and ownership', () => {
  test('one poll is one receive batch per end: begin before its first frame, end after its last, nothing for an end that got none', () => {
    const clock = new ManualClock(0);
    const wire = new MemoryWire({ clock, random: new SeededRandom(1), faults: { delayMs: 1 } });
    const log: string[] = [];
    const batchOf = (end: string) => ({ beginBatch: () => log.push(`${end}:begin`), endBatch: () => log.push(`${end}:end`) });
    wire.b.setReceiver((bytes) => log.push(`b:${indexOf(bytes)}`), batchOf('b'));
    wire.a.setReceiver((bytes) => log.push(`a:${indexOf(bytes)}`), batchOf('a'));
    wire.a.transmit(frame(1));
    wire.a.transmit(frame(2));
    wire.b.transmit(frame(3));
    clock.set(1);
    wire.a.transmit(frame(4)); // due at 2: not in this poll
    wire.poll(1);
    assert.deepEqual(log, ['b:begin', 'b:1', 'b:2', 'a:begin', 'a:3', 'a:end', 'b:end']);
    log.length = 0;
    wire.poll(1);
    assert.deepEqual(log, [], 'an empty poll opens no batch');
    clock.set(2);
    wire.poll(2);
    assert.deepEqual(log, ['b:begin', 'b:4', 'b:end']);
  });

  test('each end has its own MAC and MTU and refuses frames over its MTU or under a header', () => {
    const clock = new ManualClock();
    const wire = new MemoryWire({ clock, random: new SeededRandom(1), mtu: 1500, mtuB: 576, macA: Uint8Array.of(2, 0, 0, 0, 0, 1) });
    assert.deepEqual(wire.a.mac, Uint8Array.of(2, 0, 0, 0, 0, 1));
    assert.notDeepEqual(wire.b.mac, wire.a.mac);
    assert.equal(wire.a.mtu, 1500);
    assert.equal(wire.b.mtu, 576);
    const received: number[] = [];
    wire.a.setReceiver((bytes) => received.push(bytes.length));
    wire.b.setReceiver((bytes) => received.push(bytes.length));
    wire.b.transmit(frame(0, 576 + 14 + 1));
    wire.b.transmit(new Uint8Array(13));
    wire.b.transmit(frame(0, 576 + 14));
    wire.a.transmit(frame(0, 1500 + 14));
    wire.poll(0);
    assert.deepEqual(received, [590, 1514]);
    assert.equal(wire.b.stats()['link.drop.oversize'], 1);
    assert.equal(wire.b.stats()['link.drop.runt'], 1);
    assert.deepEqual(wire.b.stats(), {
      'link.drop.oversize': 1,
      'link.drop.runt': 1,
      'link.rx.bytes': 1514,
      'link.rx.frames': 1,
      'link.tx.bytes': 590,
      'link.tx.frames': 1,
    });
  });

  test('transmit hands the frame over without copying; the receiver borrows it', () => {
    const run = setup();
    const sent = frame(9);
    let seen: Uint8Array | undefined;
    run.wire.b.setReceiver((bytes) => (seen = bytes));
    run.wire.a.transmit(sent);
    run.wire.poll(0);
    assert.equal(seen, sent, 'ownership moves with the frame: no copy on the way');
  });

  test('with poisonAfterDelivery a frame is overwritten once its receiver returns', () => {
    const run = setup({}, { poisonAfterDelivery: true });
    let during: number[] = [];
    let kept: Uint8Array | undefined;
    run.wire.b.setReceiver((bytes) => {
      during = [...bytes.subarray(14, 18)];
      kept = bytes; // against the contract: a view kept past the call
    });
    run.wire.a.transmit(frame(0x01020304));
    run.wire.poll(0);
    assert.deepEqual(during, [1, 2, 3, 4], 'intact during the call');
    assert.ok(kept?.every((byte) => byte === POISON_BYTE), 'garbage after it');
  });

  test('duplicates are corrupted independently of each other', () => {
    const run = setup({ duplicateRate: 1, corruptRate: 1 });
    const delivered: Uint8Array[] = [];
    run.wire.b.setReceiver((bytes) => delivered.push(bytes));
    const original = frame(1);
    run.wire.a.transmit(original.slice());
    run.wire.poll(0);
    assert.equal(delivered.length, 2);
    const [first, second] = delivered as [Uint8Array, Uint8Array];
    assert.notDeepEqual(first, original);
    assert.notDeepEqual(second, original);
    assert.notDeepEqual(first, second, 'different bits flipped');
  });

  test('frames to a closed end, or with no receiver, are counted as dropped there', () => {
    const run = setup();
    const wire = new MemoryWire({ clock: run.clock, random: new SeededRandom(1) });
    wire.a.transmit(frame(1));
    wire.poll(0);
    assert.equal(wire.b.stats()['link.drop.no-receiver'], 1);
    wire.b.setReceiver(() => assert.fail('a closed end receives nothing'));
    wire.a.transmit(frame(2));
    wire.b.close();
    wire.poll(0);
    assert.equal(wire.b.stats()['link.drop.closed'], 1);
    assert.equal(wire.b.carrier, false);
    wire.b.transmit(frame(3));
    assert.equal(wire.b.stats()['link.drop.closed'], 2);
  });
});
