/**
 * The LED controller on a ManualClock with virtual LEDs: the exact timelines the three
 * LEDs go through for device states and faults, the `led` events, activity flicker,
 * the pause between two blink codes, and faults expiring.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VirtualLedBoard, type TimelineEntry } from '../../hal/led/virtual.ts';
import { FaultCode, FaultEventSink, FaultRegistry } from '../../src/diag/faults.ts';
import { LedController, type LedOutputs } from '../../src/diag/leds.ts';
import { Patterns } from '../../src/diag/patterns.ts';
import { RecordingEventSink } from '../../src/events.ts';
import { ManualClock, type Pollable } from '../../src/time.ts';

interface Rig {
  clock: ManualClock;
  events: RecordingEventSink;
  faults: FaultRegistry;
  board: VirtualLedBoard;
  leds: LedController;
  wakes: () => number;
  /** Polls everything at each deadline up to `end`, then sets the clock to `end`. */
  runUntil: (end: number) => void;
}

function rig(options: { before?: (faults: FaultRegistry) => void; outputs?: (board: VirtualLedBoard) => LedOutputs; start?: number } = {}): Rig {
  const clock = new ManualClock(options.start ?? 0);
  const events = new RecordingEventSink();
  const faults = new FaultRegistry({ events });
  options.before?.(faults);
  const board = new VirtualLedBoard(clock);
  let wakes = 0;
  const leds = new LedController({
    outputs: options.outputs?.(board) ?? board.outputs(),
    faults,
    clock,
    events,
    requestPoll: () => wakes++,
  });
  const pollables: Pollable[] = [faults, leds];
  const runUntil = (end: number): void => {
    for (let guard = 0; guard < 100_000; guard++) {
      let next: number | undefined;
      for (const pollable of pollables) {
        const at = pollable.pollAt();
        if (at !== undefined && (next === undefined || at < next)) next = at;
      }
      if (next === undefined || next > end) break;
      assert.ok(next >= clock.now(), `deadline ${next} is not in the past (now ${clock.now()})`);
      clock.set(next);
      for (const pollable of pollables) {
        const at = pollable.pollAt();
        if (at !== undefined && at <= next) pollable.poll(next);
      }
    }
    clock.set(end);
  };
  return { clock, events, faults, board, leds, wakes: () => wakes, runUntil };
}

/** `[[0, 1], [200, 0], ...]`: compact timelines for deepEqual. */
const compact = (timeline: readonly TimelineEntry[]): [number, 0 | 1][] => timeline.map((entry) => [entry.at, entry.on ? 1 : 0]);

describe('fault LED', () => {
  test('blink code 3: exact instants over two full cycles', () => {
    const { faults, board, runUntil } = rig({ before: (faults) => faults.raise(FaultCode.PEER_LOST, 'sensor-7', 0) });
    assert.ok(faults.isActive(FaultCode.PEER_LOST));
    runUntil(6400);
    assert.deepEqual(compact(board.fault.timeline()), [
      [0, 1],
      [200, 0],
      [500, 1],
      [700, 0],
      [1000, 1],
      [1200, 0],
      [3200, 1],
      [3400, 0],
      [3700, 1],
      [3900, 0],
      [4200, 1],
      [4400, 0],
      [6400, 1],
    ]);
  });

  test('a fault raised on a dark LED starts blinking at once, and each pattern change is one `led` event', () => {
    const { clock, faults, events, board, runUntil } = rig();
    runUntil(10_000);
    faults.raise(FaultCode.I2C_ERROR, 'bme280', clock.now());
    runUntil(12_000);
    assert.deepEqual(compact(board.fault.timeline()), [
      [0, 0],
      [10_000, 1],
      [10_200, 0],
      [10_500, 1],
      [10_700, 0],
      [11_000, 1],
      [11_200, 0],
      [11_500, 1],
      [11_700, 0],
    ]);
    assert.deepEqual(
      events.named('led').filter((fields) => fields['led'] === 'fault'),
      [
        { led: 'fault', pattern: 'off', code: null },
        { led: 'fault', pattern: 'blink-code', code: 4 },
      ],
    );
  });

  test('a higher-priority fault takes over after a 2 s dark pause, so flash counts never merge', () => {
    const { clock, faults, board, runUntil } = rig({ before: (faults) => faults.raise(FaultCode.PEER_LOST, 'sensor-7', 0) });
    runUntil(600); // mid second flash of code 3 (lit 500..700)
    faults.raise(FaultCode.NO_CARRIER, 'eth0', clock.now());
    runUntil(7000);
    assert.deepEqual(compact(board.fault.timeline()), [
      [0, 1],
      [200, 0],
      [500, 1],
      [600, 0], // code 3 cut short
      [2600, 1], // code 1 after a full pause
      [2800, 0],
      [4800, 1],
      [5000, 0],
      [7000, 1],
    ]);
  });

  test('after a clear, the next code still waits out the pause since the last flash', () => {
    const { clock, faults, board, runUntil } = rig({ before: (faults) => faults.raise(FaultCode.PEER_LOST, 'sensor-7', 0) });
    runUntil(1300); // dark since 1200
    faults.clear(FaultCode.PEER_LOST);
    runUntil(2000);
    faults.raise(FaultCode.STORAGE_ERROR, 'ENOSPC', clock.now());
    runUntil(3500);
    assert.deepEqual(compact(board.fault.timeline()).slice(-3), [
      [1200, 0],
      [3200, 1], // 1200 + 2000, not 2000
      [3400, 0],
    ]);
  });

  test('a lower-priority fault does not disturb the code shown; it shows once the higher one clears', () => {
    const { clock, faults, events, board, runUntil } = rig({ before: (faults) => faults.raise(FaultCode.ADDRESS_CONFLICT, 'conflict', 0) });
    runUntil(300);
    faults.raise(FaultCode.RESOURCE_LIMIT, 'connections', clock.now());
    runUntil(2700); // code 2: lit 0..200, 500..700, pause, lit again at 2700
    assert.deepEqual(compact(board.fault.timeline()).slice(-2), [
      [700, 0],
      [2700, 1],
    ]);
    faults.clear(FaultCode.ADDRESS_CONFLICT);
    runUntil(5000);
    assert.deepEqual(compact(board.fault.timeline()).slice(-4), [
      [2700, 1],
      [2700, 0],
      [4700, 1], // code 7 after the pause
      [4900, 0],
    ]);
    assert.deepEqual(
      events
        .named('led')
        .filter((fields) => fields['led'] === 'fault')
        .map((fields) => fields['code']),
      [2, 7],
    );
  });

  test('peer lost reported as an event goes dark exactly 5 minutes after the last one', () => {
    const { clock, faults, events, board, runUntil } = rig();
    const sink = new FaultEventSink(events, faults, clock);
    sink.emit('peer_lost', { remote: '198.18.0.7:4000', reason: 'keepalive_timeout' });
    runUntil(900);
    sink.emit('peer_lost', { remote: '198.18.0.8:4000', reason: 'user_timeout' });
    // The hold ends at 900 + 300 000, which is 100 ms into a flash of the cycle that began at 300 800.
    runUntil(301_000);
    assert.deepEqual(compact(board.fault.timeline()).slice(-2), [
      [300_800, 1],
      [300_900, 0],
    ]);
    assert.equal(faults.highest(), undefined);
    assert.deepEqual(events.named('led').at(-1), { led: 'fault', pattern: 'off', code: null });
    assert.deepEqual(events.named('fault_cleared'), [{ code: 3, text: 'a sensor peer was lost: 198.18.0.8:4000 (user_timeout)' }]);
    runUntil(1_000_000);
    assert.equal(board.fault.timeline().at(-1)?.at, 300_900, 'dark for good');
  });
});

describe('status LED', () => {
  test('solid while starting, then a heartbeat from the instant start-up finished', () => {
    const { leds, board, events, runUntil } = rig();
    runUntil(1000);
    leds.setRunning(true);
    runUntil(4000);
    assert.deepEqual(compact(board.status.timeline()), [
      [0, 1], // solid
      // heartbeat from 1000: already lit, so the first change is the end of the first flash
      [1100, 0],
      [1250, 1],
      [1350, 0],
      [2500, 1],
      [2600, 0],
      [2750, 1],
      [2850, 0],
      [4000, 1],
    ]);
    assert.deepEqual(
      events.named('led').filter((fields) => fields['led'] === 'status'),
      [
        { led: 'status', pattern: 'solid', code: null },
        { led: 'status', pattern: 'heartbeat', code: null },
      ],
    );
  });

  test('stop(): every LED off and logged, nothing more happens', () => {
    const { leds, faults, board, events, clock, runUntil } = rig({ before: (faults) => faults.raise(FaultCode.NO_CARRIER, 'eth0', 0) });
    leds.setRunning(true);
    runUntil(100);
    leds.stop();
    assert.equal(board.render(), 'status ○ link ○ fault ○');
    assert.equal(leds.pollAt(), undefined);
    assert.deepEqual(
      events
        .named('led')
        .slice(-2)
        .map((fields) => [fields['led'], fields['pattern']]),
      [
        ['status', 'off'],
        ['fault', 'off'], // the link LED was off already: no change, no event
      ],
    );
    const logged = events.events.length;
    faults.raise(FaultCode.STORAGE_ERROR, 'ENOSPC', clock.now());
    leds.setCarrier(true);
    leds.traffic();
    runUntil(10_000);
    assert.equal(board.render(), 'status ○ link ○ fault ○');
    assert.equal(events.events.length, logged + 1, 'only the fault event itself');
  });
});

describe('link LED', () => {
  test('lit only with carrier and an address; off again when the carrier goes', () => {
    const { leds, board, events, clock, runUntil } = rig();
    runUntil(100);
    leds.setCarrier(true);
    assert.equal(board.link.on, false, 'carrier alone is not enough');
    runUntil(200);
    leds.setAddressConfigured(true);
    assert.equal(board.link.on, true);
    clock.advance(300);
    leds.setCarrier(false);
    assert.deepEqual(compact(board.link.timeline()), [
      [0, 0],
      [200, 1],
      [500, 0],
    ]);
    assert.deepEqual(
      events
        .named('led')
        .filter((fields) => fields['led'] === 'link')
        .map((fields) => fields['pattern']),
      ['off', 'solid', 'off'],
    );
  });

  test('traffic flickers the link LED, back to back while it keeps coming, without `led` events', () => {
    const { leds, board, events, clock, runUntil } = rig();
    leds.setCarrier(true);
    leds.setAddressConfigured(true);
    const ledEvents = events.named('led').length;
    runUntil(10);
    leds.traffic(); // a flicker 10..110
    runUntil(30);
    leds.traffic();
    runUntil(70);
    leds.traffic(); // more came: a second flicker 110..210
    runUntil(1000);
    assert.deepEqual(compact(board.link.timeline()), [
      [0, 0],
      [0, 1],
      [10, 0],
      [60, 1],
      [110, 0],
      [160, 1],
    ]);
    assert.equal(leds.pollAt(), undefined, 'idle again');
    assert.equal(events.named('led').length, ledEvents);
    assert.equal(leds.snapshot().link.pattern.kind, 'solid');

    clock.advance(5);
    leds.traffic();
    assert.equal(board.link.on, false, 'a lone frame later flickers at once');
  });

  test('no flicker without a link; a lost carrier ends a flicker', () => {
    const { leds, board, runUntil } = rig();
    leds.traffic();
    assert.equal(leds.pollAt(), undefined);
    leds.setCarrier(true);
    leds.setAddressConfigured(true);
    runUntil(100);
    leds.traffic();
    runUntil(120);
    leds.setCarrier(false);
    leds.traffic();
    runUntil(1000);
    assert.deepEqual(compact(board.link.timeline()), [
      [0, 0],
      [0, 1],
      [100, 0],
    ]);
  });
});

describe('robustness', () => {
  test('an output that throws is logged once and retried; the others keep working', () => {
    let failing = true;
    const writes: boolean[] = [];
    const { events, faults, board, clock, runUntil } = rig({
      outputs: (board) => ({
        status: board.status,
        link: board.link,
        fault: {
          set(on: boolean): void {
            if (failing) throw new Error('EIO');
            writes.push(on);
          },
        },
      }),
    });
    faults.raise(FaultCode.STORAGE_ERROR, 'ENOSPC', clock.now());
    runUntil(1500);
    assert.deepEqual(events.named('led_error'), [{ led: 'fault', error: 'EIO' }]);
    failing = false;
    runUntil(5000);
    assert.ok(writes.length > 0, 'retried after the failure');
    assert.equal(events.named('led_error').length, 1);
    assert.equal(board.status.on, true);
  });

  test('snapshot and wake-ups', () => {
    const { leds, wakes, faults, clock } = rig();
    const before = wakes();
    faults.raise(FaultCode.PEER_LOST, 'x', clock.now());
    assert.ok(wakes() > before, 'a pattern change asks the loop to re-arm');
    const snapshot = leds.snapshot();
    assert.deepEqual(snapshot.fault, { pattern: Patterns.blinkCode(3), on: true });
    assert.deepEqual(snapshot.status, { pattern: Patterns.solid, on: true });
    assert.deepEqual(snapshot.link, { pattern: Patterns.off, on: false });
  });
});
