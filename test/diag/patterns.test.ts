/**
 * The pattern engine: exact on/off instants of every pattern, phase-locking to the
 * start instant, and the dark lead-in before a pattern's start.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  formatPattern,
  type Pattern,
  PatternTiming,
  Patterns,
  patternCode,
  patternDuration,
  patternLevel,
  patternShape,
  samePattern,
} from '../../src/diag/patterns.ts';

/** Every (instant, level) the pattern goes through from `start` up to and including `end`. */
function transitions(pattern: Pattern, start: number, end: number): [number, 'on' | 'off'][] {
  const result: [number, 'on' | 'off'][] = [];
  let now = start;
  for (let guard = 0; guard < 10_000; guard++) {
    const level = patternLevel(pattern, start, now);
    result.push([now, level.on ? 'on' : 'off']);
    if (level.nextChange === undefined || level.nextChange > end) return result;
    assert.ok(level.nextChange > now, 'time moves forward');
    now = level.nextChange;
  }
  throw new Error('pattern never settled');
}

describe('blink code', () => {
  test('code 3: three 200 ms flashes 300 ms apart, a 2 s pause, repeated (two full cycles)', () => {
    assert.deepEqual(transitions(Patterns.blinkCode(3), 0, 6400), [
      [0, 'on'],
      [200, 'off'],
      [500, 'on'],
      [700, 'off'],
      [1000, 'on'],
      [1200, 'off'], // the pause: 1200 → 3200
      [3200, 'on'],
      [3400, 'off'],
      [3700, 'on'],
      [3900, 'off'],
      [4200, 'on'],
      [4400, 'off'],
      [6400, 'on'],
    ]);
  });

  test('levels between the change instants; a boundary belongs to the phase it opens', () => {
    const code3 = Patterns.blinkCode(3);
    assert.deepEqual(patternLevel(code3, 0, 199.9), { on: true, nextChange: 200 });
    assert.deepEqual(patternLevel(code3, 0, 200), { on: false, nextChange: 500 });
    assert.deepEqual(patternLevel(code3, 0, 1500), { on: false, nextChange: 3200 });
    assert.deepEqual(patternLevel(code3, 0, 3199), { on: false, nextChange: 3200 });
  });

  test('code 1 is one flash and a pause; the period of code N is 500·N − 300 + 2000', () => {
    assert.deepEqual(transitions(Patterns.blinkCode(1), 1000, 5400), [
      [1000, 'on'],
      [1200, 'off'],
      [3200, 'on'],
      [3400, 'off'],
      [5400, 'on'],
    ]);
    for (let code = 1; code <= 7; code++) {
      const period = patternShape(Patterns.blinkCode(code)).phases.reduce((sum, phase) => sum + phase.duration, 0);
      assert.equal(period, 500 * code - 300 + PatternTiming.codePause, `code ${code}`);
      const flashes = transitions(Patterns.blinkCode(code), 0, period - 1).filter(([, level]) => level === 'on');
      assert.equal(flashes.length, code, `code ${code} flashes per cycle`);
    }
  });

  test('stays phase-locked to its start however late it is asked', () => {
    const code3 = Patterns.blinkCode(3);
    const cycles = 1000;
    assert.deepEqual(patternLevel(code3, 50, 50 + cycles * 3200 + 600), { on: true, nextChange: 50 + cycles * 3200 + 700 });
    assert.deepEqual(patternLevel(code3, 50, 50 + cycles * 3200 + 2000), { on: false, nextChange: 50 + (cycles + 1) * 3200 });
  });

  test('rejects codes that cannot be blinked (programmer error)', () => {
    for (const code of [0, -1, 2.5, Number.NaN, 100]) assert.throws(() => Patterns.blinkCode(code), RangeError);
  });
});

describe('heartbeat', () => {
  test('two 100 ms flashes 150 ms apart every 1.5 s', () => {
    assert.deepEqual(transitions(Patterns.heartbeat, 0, 3000), [
      [0, 'on'],
      [100, 'off'],
      [250, 'on'],
      [350, 'off'],
      [1500, 'on'],
      [1600, 'off'],
      [1750, 'on'],
      [1850, 'off'],
      [3000, 'on'],
    ]);
  });
});

describe('constant patterns', () => {
  test('solid is lit and off is dark, with no change ever', () => {
    assert.deepEqual(patternLevel(Patterns.solid, 0, 0), { on: true, nextChange: undefined });
    assert.deepEqual(patternLevel(Patterns.solid, 0, 1e9), { on: true, nextChange: undefined });
    assert.deepEqual(patternLevel(Patterns.off, 0, 12345), { on: false, nextChange: undefined });
  });
});

describe('flicker', () => {
  test('a 50 ms dip, then lit for good; it lasts 100 ms', () => {
    assert.deepEqual(transitions(Patterns.flicker, 10, 10_000), [
      [10, 'off'],
      [60, 'on'],
    ]);
    assert.deepEqual(patternLevel(Patterns.flicker, 10, 200), { on: true, nextChange: undefined });
    assert.equal(patternDuration(Patterns.flicker), 100);
    assert.equal(patternDuration(Patterns.heartbeat), undefined);
    assert.equal(patternDuration(Patterns.solid), undefined);
  });
});

describe('before the start instant', () => {
  test('every pattern is dark and reports its first lit instant', () => {
    assert.deepEqual(patternLevel(Patterns.blinkCode(2), 2000, 500), { on: false, nextChange: 2000 });
    assert.deepEqual(patternLevel(Patterns.solid, 2000, 500), { on: false, nextChange: 2000 });
    assert.deepEqual(patternLevel(Patterns.off, 2000, 500), { on: false, nextChange: undefined });
    assert.deepEqual(patternLevel(Patterns.flicker, 2000, 500), { on: false, nextChange: 2050 });
  });
});

describe('shapes', () => {
  test('every phase boundary is a change of level, including the wrap-around', () => {
    const patterns: Pattern[] = [Patterns.heartbeat, Patterns.flicker];
    for (let code = 1; code <= 9; code++) patterns.push(Patterns.blinkCode(code));
    for (const pattern of patterns) {
      const { phases, repeat } = patternShape(pattern);
      for (let index = 1; index < phases.length; index++) {
        assert.notEqual(phases[index]!.on, phases[index - 1]!.on, `${formatPattern(pattern)} phase ${index}`);
      }
      if (repeat) assert.notEqual(phases[0]!.on, phases.at(-1)!.on, `${formatPattern(pattern)} wraps`);
      for (const phase of phases) assert.ok(phase.duration > 0);
    }
  });

  test('naming and comparing', () => {
    assert.equal(formatPattern(Patterns.blinkCode(3)), 'blink-code 3');
    assert.equal(formatPattern(Patterns.heartbeat), 'heartbeat');
    assert.equal(patternCode(Patterns.blinkCode(4)), 4);
    assert.equal(patternCode(Patterns.solid), undefined);
    assert.ok(samePattern(Patterns.blinkCode(3), Patterns.blinkCode(3)));
    assert.ok(!samePattern(Patterns.blinkCode(3), Patterns.blinkCode(1)));
    assert.ok(!samePattern(Patterns.solid, Patterns.off));
    assert.ok(samePattern(Patterns.off, { kind: 'off' }));
  });
});
