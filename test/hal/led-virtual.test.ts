/**
 * The virtual LED driver: a timeline of level changes stamped by the injected clock,
 * bounded in length, and the one-line drawing of the simulated board.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mirrorLed, type LedDriver } from '../../hal/led/led.ts';
import { VirtualLed, VirtualLedBoard } from '../../hal/led/virtual.ts';
import { ManualClock } from '../../src/time.ts';

describe('VirtualLed', () => {
  test('records each change of level at the clock’s instant; repeats are not changes', () => {
    const clock = new ManualClock(0);
    const led = new VirtualLed('fault', clock);
    led.set(false);
    clock.set(200);
    led.set(true);
    led.set(true);
    clock.set(400.5);
    led.set(false);
    assert.deepEqual(led.timeline(), [
      { at: 0, on: false },
      { at: 200, on: true },
      { at: 400.5, on: false },
    ]);
    assert.equal(led.on, false);
    assert.equal(led.name, 'virtual:fault');
  });

  test('close switches it off; set after close is a programmer error', () => {
    const clock = new ManualClock(0);
    const led = new VirtualLed('status', clock);
    led.set(true);
    clock.set(50);
    led.close();
    led.close();
    assert.deepEqual(led.timeline().at(-1), { at: 50, on: false });
    assert.throws(() => led.set(true), /set after close/);
  });

  test('the timeline keeps only the newest entries past its limit', () => {
    const clock = new ManualClock(0);
    const led = new VirtualLed('status', clock, 10);
    for (let index = 0; index < 95; index++) {
      clock.set(index);
      led.set(index % 2 === 0);
    }
    const timeline = led.timeline();
    assert.equal(timeline.length, 10);
    assert.deepEqual(timeline[0], { at: 85, on: false });
    assert.deepEqual(timeline.at(-1), { at: 94, on: true });
  });
});

describe('VirtualLedBoard', () => {
  test('renders the three LEDs on one line, with optional ANSI colour', () => {
    const clock = new ManualClock(0);
    const board = new VirtualLedBoard(clock);
    assert.equal(board.render(), 'status ○ link ○ fault ○');
    board.status.set(true);
    board.link.set(true);
    assert.equal(board.render(), 'status ● link ● fault ○');
    board.fault.set(true);
    board.link.set(false);
    assert.equal(board.render({ color: true }), 'status \x1b[32m●\x1b[0m link ○ fault \x1b[31m●\x1b[0m');
  });

  test('reports every change of any LED (for the terminal redraw)', () => {
    const clock = new ManualClock(0);
    const board = new VirtualLedBoard(clock);
    const changes: string[] = [];
    board.onChange((led, on) => changes.push(`${led}=${on ? 1 : 0}`));
    board.link.set(true);
    board.link.set(true);
    board.fault.set(false);
    board.close();
    // A first write is always a change (the level was unknown), so is status's close.
    assert.deepEqual(changes, ['link=1', 'fault=0', 'status=0', 'link=0']);
  });
});

describe('mirrorLed', () => {
  test('drives every LED, even when one of them throws, then reports the error', () => {
    const clock = new ManualClock(0);
    const fault = new VirtualLed('fault', clock);
    const act = new VirtualLed('act', clock);
    const broken: LedDriver = {
      name: 'broken',
      set: () => {
        throw new Error('EIO');
      },
      close: () => undefined,
    };
    const mirrored = mirrorLed(fault, broken, act);
    assert.equal(mirrored.name, 'virtual:fault+broken+virtual:act');
    assert.throws(() => mirrored.set(true), /EIO/);
    assert.equal(fault.on, true);
    assert.equal(act.on, true);
    mirrored.close();
    assert.equal(fault.on, false);
    assert.equal(act.on, false);
    assert.throws(() => mirrorLed(), RangeError);
  });
});
