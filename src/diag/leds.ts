/**
 * The LED controller (SPEC §6): turns device state into the three LEDs' patterns and
 * drives the LED outputs on and off at the patterns' exact instants.
 *
 * | LED    | pattern                                                                  |
 * | ------ | ------------------------------------------------------------------------ |
 * | status | solid while starting, heartbeat once running, off after `stop()`         |
 * | link   | solid with carrier and a configured address, a flicker per traffic burst, off otherwise |
 * | fault  | off, or the blink code of the highest-priority active fault (faults.ts)  |
 *
 * With carrier but no address yet the link LED stays off, as SPEC §6 asks for solid only
 * with both; the fault LED then shows no code 1, which tells it apart from a pulled cable.
 *
 * Every pattern change is logged as a `led` event {led, pattern, code} (code: the blink
 * code shown, null for the other patterns). Activity flicker is not a pattern change:
 * the link LED's pattern stays `solid` and the flicker is laid over it, or every burst
 * of traffic would be a log line.
 *
 * A new blink code never starts within 2 s (the code pause) of the fault LED's last
 * flash: switching from code 3 to code 1 mid-sequence would otherwise read as 3 + 1
 * flashes. A fresh code on a long-dark LED starts at once.
 *
 * Call order: construct (the LEDs take their initial patterns at once) → state changes
 * (`setRunning`, `setCarrier`, `setAddressConfigured`, `traffic`; faults arrive from the
 * registry's change listener) → the event loop polls at `pollAt()` → `stop()`.
 * State changes read the injected clock and call `requestPoll` so the loop re-arms.
 * An output that throws never takes the firmware down: the error is logged once
 * (`led_error`) and the write is retried at the LED's next change, within a second.
 */
import type { EventSink } from '../events.ts';
import type { Clock, Instant, Pollable } from '../time.ts';
import type { FaultRegistry } from './faults.ts';
import {
  type Pattern,
  PatternKind,
  PatternTiming,
  Patterns,
  patternCode,
  patternDuration,
  patternLevel,
  samePattern,
} from './patterns.ts';

export const LedName = { STATUS: 'status', LINK: 'link', FAULT: 'fault' } as const;
export type LedName = (typeof LedName)[keyof typeof LedName];
export const LED_NAMES: readonly LedName[] = [LedName.STATUS, LedName.LINK, LedName.FAULT];

/** What the controller needs of an LED driver (hal/led/led.ts extends it). */
export interface LedOutput {
  set(on: boolean): void;
}

export type LedOutputs = Readonly<Record<LedName, LedOutput>>;

export interface LedControllerDeps {
  outputs: LedOutputs;
  faults: FaultRegistry;
  clock: Clock;
  events: EventSink;
  /** Called when a state change moved `pollAt()` (the loop's `wake`). */
  requestPoll?: () => void;
}

export interface LedSnapshot {
  readonly pattern: Pattern;
  /** The level last written to the output. */
  readonly on: boolean;
}

interface LedState {
  readonly name: LedName;
  readonly output: LedOutput;
  pattern: Pattern;
  /** False until the first pattern is applied (so it is logged even if it is `off`). */
  applied: boolean;
  /** The pattern's anchor: its first phase begins here. */
  start: Instant;
  /** Level last written successfully; undefined before the first write. */
  written: boolean | undefined;
  /** When the LED last went dark (for the pause before a new blink code). */
  darkSince: Instant;
  /** When the level next changes (or an activity flicker ends). */
  wakeAt: Instant | undefined;
  failing: boolean;
}

/** One burst of activity flicker on the link LED. */
interface Activity {
  start: Instant;
  end: Instant;
  /** Traffic arrived during this flicker: play another when it ends. */
  more: boolean;
}

const FLICKER_DURATION = patternDuration(Patterns.flicker) ?? 0;

/** A failed write is retried this soon if the pattern has no earlier change. */
const OUTPUT_RETRY_MS = 1000;

export class LedController implements Pollable {
  private readonly leds: Record<LedName, LedState>;
  private readonly faults: FaultRegistry;
  private readonly clock: Clock;
  private readonly events: EventSink;
  private readonly requestPoll: () => void;

  private running = false;
  private carrier = false;
  private addressConfigured = false;
  private stopped = false;
  private activity: Activity | undefined;

  constructor(deps: LedControllerDeps) {
    this.faults = deps.faults;
    this.clock = deps.clock;
    this.events = deps.events;
    this.requestPoll = deps.requestPoll ?? (() => undefined);
    const now = this.clock.now();
    const initial = (name: LedName): LedState => ({
      name,
      output: deps.outputs[name],
      pattern: Patterns.off,
      applied: false,
      start: now,
      written: undefined,
      darkSince: -Infinity,
      wakeAt: undefined,
      failing: false,
    });
    this.leds = { status: initial('status'), link: initial('link'), fault: initial('fault') };
    this.faults.onChange(() => this.update());
    for (const name of LED_NAMES) this.apply(name, this.desiredPattern(name), now);
  }

  /** Start-up finished (all services listening): the status LED goes to heartbeat. */
  setRunning(running: boolean): void {
    if (this.running === running) return;
    this.running = running;
    this.update();
  }

  setCarrier(up: boolean): void {
    if (this.carrier === up) return;
    this.carrier = up;
    this.update();
  }

  setAddressConfigured(configured: boolean): void {
    if (this.addressConfigured === configured) return;
    this.addressConfigured = configured;
    this.update();
  }

  /**
   * Frames went in or out. Cheap enough to call per frame: while a flicker is playing
   * it only notes that another should follow.
   */
  traffic(): void {
    if (this.stopped || this.leds.link.pattern.kind !== PatternKind.SOLID) return;
    if (this.activity) {
      this.activity.more = true;
      return;
    }
    const now = this.clock.now();
    this.activity = { start: now, end: now + FLICKER_DURATION, more: false };
    this.refresh(this.leds.link, now);
    this.requestPoll();
  }

  /** The firmware is shutting down: every LED off (status off = "not running"), for good. */
  stop(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    this.activity = undefined;
    for (const name of LED_NAMES) this.apply(name, Patterns.off, now);
    this.stopped = true;
  }

  /** The current pattern and level of every LED, for the shell's `leds`. */
  snapshot(): Record<LedName, LedSnapshot> {
    const of = (state: LedState): LedSnapshot => ({ pattern: state.pattern, on: state.written ?? false });
    return { status: of(this.leds.status), link: of(this.leds.link), fault: of(this.leds.fault) };
  }

  pollAt(): Instant | undefined {
    let earliest: Instant | undefined;
    for (const name of LED_NAMES) {
      const at = this.leds[name].wakeAt;
      if (at !== undefined && (earliest === undefined || at < earliest)) earliest = at;
    }
    return earliest;
  }

  poll(now: Instant): void {
    if (this.stopped) return;
    for (const name of LED_NAMES) {
      const state = this.leds[name];
      if (state.wakeAt !== undefined && state.wakeAt <= now) this.refresh(state, now);
    }
  }

  // ------------------------------------------------------------ internals

  private desiredPattern(name: LedName): Pattern {
    switch (name) {
      case LedName.STATUS:
        return this.running ? Patterns.heartbeat : Patterns.solid;
      case LedName.LINK:
        return this.carrier && this.addressConfigured ? Patterns.solid : Patterns.off;
      case LedName.FAULT: {
        const fault = this.faults.highest();
        return fault ? Patterns.blinkCode(fault.code) : Patterns.off;
      }
    }
  }

  /** Re-derives every LED's pattern from the device state, now. */
  private update(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    let changed = false;
    for (const name of LED_NAMES) changed = this.apply(name, this.desiredPattern(name), now) || changed;
    if (changed) this.requestPoll();
  }

  /** Switches one LED to `pattern` if it differs; returns whether it did. */
  private apply(name: LedName, pattern: Pattern, now: Instant): boolean {
    const state = this.leds[name];
    if (state.applied && samePattern(state.pattern, pattern)) return false;
    state.applied = true;
    state.pattern = pattern;
    state.start = now;
    if (pattern.kind === PatternKind.BLINK_CODE) {
      // A lit LED goes dark now; either way the code waits out the pause since then.
      const darkSince = state.written === true ? now : state.darkSince;
      state.start = Math.max(now, darkSince + PatternTiming.codePause);
    }
    if (name === LedName.LINK && pattern.kind !== PatternKind.SOLID) this.activity = undefined;
    this.events.emit('led', { led: name, pattern: pattern.kind, code: patternCode(pattern) ?? null });
    this.refresh(state, now);
    return true;
  }

  /** Writes the LED's level at `now` and works out when to look again. */
  private refresh(state: LedState, now: Instant): void {
    let level = patternLevel(state.pattern, state.start, now);
    let wakeAt = level.nextChange;

    if (state.name === LedName.LINK && this.activity) {
      const activity = this.activity;
      if (now >= activity.end) {
        // The flicker is over: play the next one at once if traffic kept coming.
        this.activity = activity.more ? { start: now, end: now + FLICKER_DURATION, more: false } : undefined;
      }
      if (this.activity) {
        level = patternLevel(Patterns.flicker, this.activity.start, now);
        // Come back at the flicker's end even though the level (lit) does not change then.
        wakeAt = level.nextChange ?? this.activity.end;
      }
    }

    state.wakeAt = wakeAt;
    if (state.written === level.on) return;
    try {
      state.output.set(level.on);
    } catch (error) {
      if (!state.failing) this.events.emit('led_error', { led: state.name, error: error instanceof Error ? error.message : String(error) });
      state.failing = true;
      const retryAt = now + OUTPUT_RETRY_MS;
      if (state.wakeAt === undefined || retryAt < state.wakeAt) state.wakeAt = retryAt;
      return;
    }
    state.failing = false;
    if (state.written === true && !level.on) state.darkSince = now;
    state.written = level.on;
  }
}
