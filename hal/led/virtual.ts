/**
 * Virtual LEDs for the simulated board and for tests: each records a timeline of
 * (instant, on) entries, one per change of level, stamped by an injected clock; the
 * board draws the three LEDs as one terminal line: `status ● link ● fault ○`.
 *
 * The timeline is bounded (the simulated board runs for days, and a heartbeat is four
 * changes every 1.5 s): past `timelineLimit` entries the oldest are dropped.
 */
import { LED_NAMES, type LedName } from '../../src/diag/leds.ts';
import type { Clock, Instant } from '../../src/time.ts';
import type { LedDriver } from './led.ts';

export interface TimelineEntry {
  readonly at: Instant;
  readonly on: boolean;
}

export const DEFAULT_TIMELINE_LIMIT = 4096;

export class VirtualLed implements LedDriver {
  readonly name: string;
  private readonly entries: TimelineEntry[] = [];
  private readonly listeners: ((on: boolean) => void)[] = [];
  private level = false;
  private closed = false;

  constructor(
    readonly label: string,
    private readonly clock: Clock,
    private readonly timelineLimit: number = DEFAULT_TIMELINE_LIMIT,
  ) {
    this.name = `virtual:${label}`;
  }

  get on(): boolean {
    return this.level;
  }

  /** The changes of level, oldest first (the first set is always recorded). */
  timeline(): readonly TimelineEntry[] {
    const excess = this.entries.length - this.timelineLimit;
    return excess > 0 ? this.entries.slice(excess) : [...this.entries];
  }

  onChange(listener: (on: boolean) => void): void {
    this.listeners.push(listener);
  }

  set(on: boolean): void {
    if (this.closed) throw new Error(`${this.name}: set after close`);
    this.record(on);
  }

  close(): void {
    if (this.closed) return;
    this.record(false);
    this.closed = true;
  }

  private record(on: boolean): void {
    if (this.entries.length > 0 && on === this.level) return;
    this.level = on;
    this.entries.push({ at: this.clock.now(), on });
    // Trim in batches so recording stays O(1) amortized.
    if (this.entries.length >= 2 * this.timelineLimit) this.entries.splice(0, this.entries.length - this.timelineLimit);
    for (const listener of this.listeners) listener(on);
  }
}

export interface RenderOptions {
  /** ANSI colours (green status, yellow link, red fault) for a colour terminal. */
  color?: boolean;
}

const LIT = '●';
const DARK = '○';
const ANSI_COLOR: Readonly<Record<LedName, string>> = { status: '\x1b[32m', link: '\x1b[33m', fault: '\x1b[31m' };
const ANSI_RESET = '\x1b[0m';

/** The simulated board's three LEDs. */
export class VirtualLedBoard {
  readonly status: VirtualLed;
  readonly link: VirtualLed;
  readonly fault: VirtualLed;

  constructor(clock: Clock, timelineLimit: number = DEFAULT_TIMELINE_LIMIT) {
    this.status = new VirtualLed('status', clock, timelineLimit);
    this.link = new VirtualLed('link', clock, timelineLimit);
    this.fault = new VirtualLed('fault', clock, timelineLimit);
  }

  /** The drivers by LED name, as the LED controller takes them. */
  outputs(): Record<LedName, VirtualLed> {
    return { status: this.status, link: this.link, fault: this.fault };
  }

  /** Calls `listener` on any LED's change of level (the terminal redraw). */
  onChange(listener: (led: LedName, on: boolean) => void): void {
    for (const name of LED_NAMES) this[name].onChange((on) => listener(name, on));
  }

  /** `status ● link ● fault ○` */
  render(options: RenderOptions = {}): string {
    return LED_NAMES.map((name) => {
      const on = this[name].on;
      const symbol = on ? LIT : DARK;
      return `${name} ${options.color && on ? `${ANSI_COLOR[name]}${symbol}${ANSI_RESET}` : symbol}`;
    }).join(' ');
  }

  close(): void {
    for (const name of LED_NAMES) this[name].close();
  }
}
