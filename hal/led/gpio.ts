/**
 * LEDs on GPIO lines through the `onoff` package (sysfs GPIO), for boards without the
 * gpio-led overlay (SPEC §6). `onoff` is an optional dependency, imported on first
 * use: a machine without it (or without its native `epoll` addon) still runs the
 * other drivers, and asking for this one fails with a message that says what to do.
 *
 * BCM numbers are not sysfs GPIO numbers. The sysfs number is the gpiochip's `base`
 * plus the line offset, and the kernel hands out bases dynamically: 0 for the Pi's
 * pin controller on older kernels, 512 and up since 6.6 (BCM 17 is then 529). So the
 * number is resolved every time from /sys/class/gpio/gpiochip*: the chip whose `label`
 * is the Pi's pin controller (`pinctrl-rp1` on a Pi 5, whose header is on the RP1;
 * `pinctrl-bcm2711` on a Pi 4; `pinctrl-bcm2835` on earlier boards). A fixed number
 * would be a bug (SPEC §6).
 *
 * Lines are released (unexported) at close, and at process exit if close never ran:
 * an exported line outlives the process and would block the next start.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LedDriver } from './led.ts';

export const DEFAULT_GPIO_ROOT = '/sys/class/gpio';

/** Pin-controller labels of the chip that carries the 40-pin header, most recent board first. */
export const PI_GPIO_CHIP_LABELS = ['pinctrl-rp1', 'pinctrl-bcm2711', 'pinctrl-bcm2835'] as const;

export interface GpioChip {
  /** Directory name: `gpiochip512`. */
  readonly name: string;
  readonly label: string;
  readonly base: number;
  /** Number of lines. */
  readonly lineCount: number;
}

/** The GPIO chips under `root` (a sysfs GPIO class directory); unreadable entries are skipped. */
export function listGpioChips(root: string = DEFAULT_GPIO_ROOT): GpioChip[] {
  const chips: GpioChip[] = [];
  for (const name of readdirSync(root)) {
    if (!/^gpiochip\d+$/.test(name)) continue;
    try {
      const read = (file: string): string => readFileSync(join(root, name, file), 'utf8').trim();
      const base = Number(read('base'));
      const lineCount = Number(read('ngpio'));
      if (!Number.isInteger(base) || base < 0 || !Number.isInteger(lineCount) || lineCount < 1) continue;
      chips.push({ name, label: read('label'), base, lineCount });
    } catch {
      // A chip that vanished or cannot be read is not the one we want.
    }
  }
  return chips.sort((a, b) => a.base - b.base);
}

/** The Raspberry Pi's header pin controller among `chips`, or undefined. */
export function findPiGpioChip(chips: readonly GpioChip[]): GpioChip | undefined {
  for (const label of PI_GPIO_CHIP_LABELS) {
    const chip = chips.find((candidate) => candidate.label === label);
    if (chip) return chip;
  }
  return undefined;
}

/** BCM line number → the global sysfs GPIO number: BCM 17 is 529 on kernel 6.6+, 17 before. */
export function resolveBcmLine(line: number, root: string = DEFAULT_GPIO_ROOT): number {
  if (!Number.isInteger(line) || line < 0) throw new RangeError(`BCM line must be a non-negative integer, got ${line}`);
  if (!existsSync(root)) {
    throw new Error(`sysfs GPIO is not available: ${root} does not exist (a kernel without CONFIG_GPIO_SYSFS); use --leds sysfs with the gpio-led overlay instead`);
  }
  const chips = listGpioChips(root);
  const chip = findPiGpioChip(chips);
  if (!chip) {
    const found = chips.length === 0 ? 'no gpiochip at all' : chips.map((c) => `${c.name} '${c.label}'`).join(', ');
    throw new Error(`no Raspberry Pi GPIO controller (${PI_GPIO_CHIP_LABELS.join(', ')}) in ${root}: found ${found}`);
  }
  if (line >= chip.lineCount) throw new RangeError(`BCM ${line} is beyond ${chip.name} '${chip.label}', which has lines 0..${chip.lineCount - 1}`);
  return chip.base + line;
}

// ---------------------------------------------------------------------------
// onoff, loaded on demand
// ---------------------------------------------------------------------------

/** The part of onoff's `Gpio` this driver uses (onoff 6). */
export interface OnoffGpio {
  writeSync(value: 0 | 1): void;
  unexport(): void;
}

export interface OnoffGpioClass {
  new (gpio: number, direction: 'in' | 'out' | 'high' | 'low', edge?: 'none', options?: { activeLow?: boolean }): OnoffGpio;
  /** False where /sys/class/gpio/export cannot be opened (not Linux, no permission). */
  readonly accessible: boolean;
}

export interface OnoffModule {
  Gpio: OnoffGpioClass;
}

export const ONOFF_MISSING_MESSAGE =
  "the gpio LED driver needs the optional 'onoff' package, which is not installed or cannot load (it builds the native 'epoll' addon): run `npm install onoff` in the piwire directory, or use --leds sysfs";

/** Imports onoff (a CommonJS module: `Gpio` is a named export or on `default`). */
export async function loadOnoff(moduleName = 'onoff'): Promise<OnoffModule> {
  let loaded: unknown;
  try {
    loaded = await import(moduleName);
  } catch (error) {
    throw new Error(ONOFF_MISSING_MESSAGE, { cause: error });
  }
  const candidates = [loaded, (loaded as { default?: unknown } | undefined)?.default];
  for (const candidate of candidates) {
    const gpio = (candidate as { Gpio?: unknown } | undefined)?.Gpio;
    if (typeof gpio === 'function') return candidate as OnoffModule;
  }
  throw new Error(`'${moduleName}' loaded but has no Gpio class: not the onoff package this driver expects`);
}

export interface GpioLedOptions {
  /** BCM line number, as in the configuration's leds.status/link/fault. */
  line: number;
  /** The sysfs GPIO class directory for resolving BCM numbers; a temporary tree in tests. */
  root?: string;
  /** The LED lights when the line is low. Default false (LED from the pin to ground). */
  activeLow?: boolean;
  /** An already loaded onoff (tests; one load for three LEDs). Default: import it. */
  onoff?: OnoffModule;
}

export class GpioLed implements LedDriver {
  private closed = false;
  private readonly releaseOnExit = (): void => this.release();

  constructor(
    private readonly gpio: OnoffGpio,
    readonly name: string,
  ) {
    process.once('exit', this.releaseOnExit);
  }

  set(on: boolean): void {
    if (this.closed) throw new Error(`${this.name}: set after close`);
    this.gpio.writeSync(on ? 1 : 0);
  }

  close(): void {
    process.removeListener('exit', this.releaseOnExit);
    this.release();
  }

  private release(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.gpio.writeSync(0);
    } finally {
      this.gpio.unexport();
    }
  }
}

export async function openGpioLed(options: GpioLedOptions): Promise<GpioLed> {
  const onoff = options.onoff ?? (await loadOnoff());
  if (!onoff.Gpio.accessible) {
    throw new Error('GPIO is not accessible: /sys/class/gpio/export cannot be opened (not a Pi, no sysfs GPIO, or no permission: run as root or add the user to the gpio group)');
  }
  const number = resolveBcmLine(options.line, options.root ?? DEFAULT_GPIO_ROOT);
  const activeLow = options.activeLow ?? false;
  // The kernel's `high`/`low` directions set the raw level, whatever active_low says:
  // start at the level that keeps the LED dark, so opening never flashes it.
  const gpio = new onoff.Gpio(number, activeLow ? 'high' : 'low', 'none', { activeLow });
  return new GpioLed(gpio, `gpio:BCM${options.line} (${number})`);
}
