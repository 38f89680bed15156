/**
 * The LED pattern engine (SPEC §6): pure functions from (pattern, start instant, now)
 * to the LED's level and the next instant that level changes. No clock, no timers:
 * the LED controller (leds.ts) asks `patternLevel()` at every change instant and
 * sleeps until the `nextChange` it gets back.
 *
 * Every pattern is a list of phases (on or off, with a duration), either repeated
 * forever or played once and then held at a resting level. Patterns are anchored to
 * their start instant, so they never drift however late the caller polls: a poll
 * that comes 3 s late lands exactly where the pattern would have been.
 *
 * Timings (ms), chosen so that a technician can count them without a laptop:
 *
 * | pattern       | phases                                                       | period            |
 * | ------------- | ------------------------------------------------------------ | ----------------- |
 * | off           | dark                                                         | –                 |
 * | solid         | lit                                                          | –                 |
 * | heartbeat     | on 100, off 150, on 100, off 1150                            | 1500              |
 * | blink-code N  | N × (on 200, off 300), the last off stretched to the 2000 pause | 500·N − 300 + 2000 |
 * | flicker       | off 50, on 50, then rests lit (played once per burst)        | one-shot, 100     |
 *
 * Blink code 3 therefore lights at 0, 500, 1000 (each for 200 ms) and again at 3200.
 * The gap between flashes (300 ms) and the pause (2000 ms) differ by a factor of more
 * than six, so the groups are unmistakable. The heartbeat's flashes are shorter
 * (100 ms) and closer (150 ms) than a code's, so "running" never reads as code 2.
 * Flicker is the classic activity blink of a link LED: a 50 ms dark dip per burst of
 * traffic; the controller replays it back to back while traffic keeps coming, which
 * gives a steady 10 Hz flicker under load (the rate of Linux's netdev LED trigger).
 */
import type { Instant } from '../time.ts';

/** Durations of the patterns, in milliseconds. */
export const PatternTiming = {
  /** One flash of a blink code. */
  flashOn: 200,
  /** Dark time between two flashes of one blink code. */
  flashGap: 300,
  /** Dark time after the last flash of a blink code, before the code repeats. */
  codePause: 2000,
  heartbeatFlash: 100,
  heartbeatGap: 150,
  heartbeatPeriod: 1500,
  flickerOff: 50,
  flickerOn: 50,
} as const;

export const PatternKind = {
  OFF: 'off',
  SOLID: 'solid',
  HEARTBEAT: 'heartbeat',
  FLICKER: 'flicker',
  BLINK_CODE: 'blink-code',
} as const;
export type PatternKind = (typeof PatternKind)[keyof typeof PatternKind];

export type Pattern =
  | { readonly kind: 'off' | 'solid' | 'heartbeat' | 'flicker' }
  | { readonly kind: 'blink-code'; readonly code: number };

/** The patterns as values, so callers never build them by hand. */
export const Patterns = {
  off: { kind: PatternKind.OFF },
  solid: { kind: PatternKind.SOLID },
  heartbeat: { kind: PatternKind.HEARTBEAT },
  flicker: { kind: PatternKind.FLICKER },
  blinkCode(code: number): Pattern {
    checkBlinkCode(code);
    return { kind: PatternKind.BLINK_CODE, code };
  },
} as const satisfies Record<string, Pattern | ((code: number) => Pattern)>;

export interface Phase {
  readonly on: boolean;
  readonly duration: number;
}

/**
 * A pattern's phases. Consecutive phases always have different levels (so every phase
 * boundary is a level change), and a repeating shape starts and ends on different
 * levels (so the wrap-around is a change too).
 */
export interface PatternShape {
  readonly phases: readonly Phase[];
  /** True: the phases repeat forever. False: they play once, then the LED rests. */
  readonly repeat: boolean;
  /** The level after a one-shot shape has played (or of a shape with no phases). */
  readonly rest: boolean;
}

export interface PatternLevel {
  readonly on: boolean;
  /** The next instant at which the level changes; undefined when it never does. */
  readonly nextChange: Instant | undefined;
}

const CONSTANT_OFF: PatternShape = { phases: [], repeat: false, rest: false };
const CONSTANT_ON: PatternShape = { phases: [], repeat: false, rest: true };

const HEARTBEAT: PatternShape = {
  phases: [
    { on: true, duration: PatternTiming.heartbeatFlash },
    { on: false, duration: PatternTiming.heartbeatGap },
    { on: true, duration: PatternTiming.heartbeatFlash },
    {
      on: false,
      duration: PatternTiming.heartbeatPeriod - 2 * PatternTiming.heartbeatFlash - PatternTiming.heartbeatGap,
    },
  ],
  repeat: true,
  rest: false,
};

const FLICKER: PatternShape = {
  phases: [
    { on: false, duration: PatternTiming.flickerOff },
    { on: true, duration: PatternTiming.flickerOn },
  ],
  repeat: false,
  rest: true,
};

/** Blink-code shapes are built once per code and reused. */
const blinkCodeShapes = new Map<number, PatternShape>();

function checkBlinkCode(code: number): void {
  // A programmer error, not untrusted input: fault codes come from the fault registry.
  if (!Number.isInteger(code) || code < 1 || code > 99) throw new RangeError(`blink code must be an integer 1..99, got ${code}`);
}

function blinkCodeShape(code: number): PatternShape {
  checkBlinkCode(code);
  let shape = blinkCodeShapes.get(code);
  if (!shape) {
    const phases: Phase[] = [];
    for (let flash = 1; flash <= code; flash++) {
      phases.push({ on: true, duration: PatternTiming.flashOn });
      phases.push({ on: false, duration: flash === code ? PatternTiming.codePause : PatternTiming.flashGap });
    }
    shape = { phases, repeat: true, rest: false };
    blinkCodeShapes.set(code, shape);
  }
  return shape;
}

export function patternShape(pattern: Pattern): PatternShape {
  switch (pattern.kind) {
    case PatternKind.OFF:
      return CONSTANT_OFF;
    case PatternKind.SOLID:
      return CONSTANT_ON;
    case PatternKind.HEARTBEAT:
      return HEARTBEAT;
    case PatternKind.FLICKER:
      return FLICKER;
    case PatternKind.BLINK_CODE:
      return blinkCodeShape(pattern.code);
  }
}

/** Total length of a one-shot pattern (flicker); undefined for repeating and constant ones. */
export function patternDuration(pattern: Pattern): number | undefined {
  const shape = patternShape(pattern);
  if (shape.repeat || shape.phases.length === 0) return undefined;
  return shape.phases.reduce((total, phase) => total + phase.duration, 0);
}

/**
 * The level of `pattern` started at `start`, seen at `now`, and when it next changes.
 *
 * Before `start` every pattern is dark (the controller uses a start in the future to
 * hold a dark pause before a new blink code, so two codes never merge into one count).
 * A phase boundary belongs to the phase it opens: blink code 3 is dark at exactly 200.
 */
export function patternLevel(pattern: Pattern, start: Instant, now: Instant): PatternLevel {
  const shape = patternShape(pattern);
  if (now < start) {
    const atStart = levelOfShape(shape, start, start);
    return { on: false, nextChange: atStart.on ? start : atStart.nextChange };
  }
  return levelOfShape(shape, start, now);
}

function levelOfShape(shape: PatternShape, start: Instant, now: Instant): PatternLevel {
  const { phases } = shape;
  if (phases.length === 0) return { on: shape.rest, nextChange: undefined };

  let period = 0;
  for (const phase of phases) period += phase.duration;

  const elapsed = now - start;
  let cycleStart = start;
  if (shape.repeat) {
    cycleStart = start + Math.floor(elapsed / period) * period;
  } else if (elapsed >= period) {
    return { on: shape.rest, nextChange: undefined };
  }

  const intoCycle = now - cycleStart;
  let phaseEnd = 0;
  for (const [index, phase] of phases.entries()) {
    phaseEnd += phase.duration;
    if (intoCycle < phaseEnd) {
      const isLast = index === phases.length - 1;
      // The last phase of a one-shot shape that ends at its resting level changes nothing.
      const nextChange = isLast && !shape.repeat && phase.on === shape.rest ? undefined : cycleStart + phaseEnd;
      return { on: phase.on, nextChange };
    }
  }
  // Only reachable through rounding at the very end of a cycle: the next cycle begins.
  const first = phases[0]!;
  return { on: first.on, nextChange: cycleStart + period + first.duration };
}

export function samePattern(a: Pattern, b: Pattern): boolean {
  if (a.kind !== b.kind) return false;
  return a.kind !== PatternKind.BLINK_CODE || (b.kind === PatternKind.BLINK_CODE && a.code === b.code);
}

/** The blink code a pattern shows, or undefined. */
export function patternCode(pattern: Pattern): number | undefined {
  return pattern.kind === PatternKind.BLINK_CODE ? pattern.code : undefined;
}

/** `solid`, `heartbeat`, `blink-code 3`: for the shell's `leds` and for logs. */
export function formatPattern(pattern: Pattern): string {
  return pattern.kind === PatternKind.BLINK_CODE ? `${pattern.kind} ${pattern.code}` : pattern.kind;
}
