/**
 * LEDs through the kernel LED class (SPEC §6, the default on a Pi): one directory per
 * LED under /sys/class/leds (`ACT` and `PWR` on board, and the three LEDs the installer
 * declares with the gpio-led device-tree overlay). No native code and no GPIO numbers:
 * the kernel knows which line each LED is on and whether it is active-low.
 *
 * Open: the LED's `trigger` is set to `none`, so no kernel trigger (mmc activity on ACT,
 * a `default-on` from the device tree) fights us, then brightness to 0. On is
 * `max_brightness` (1 for a GPIO LED, 255 for some), off is 0. Close: off, and with
 * `restoreTrigger` the trigger found at open comes back (for ACT: its SD-card activity).
 *
 * Writes are synchronous: a sysfs attribute write is a short kernel call, made a few
 * times a second. Each write replaces the whole file (open, write, close), which sysfs
 * wants and which keeps a plain file in a test tree exact.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LedDriver } from './led.ts';

export const DEFAULT_LED_CLASS_ROOT = '/sys/class/leds';

/** What the on-board activity LED is called: `ACT` since kernel 6.1 on Raspberry Pi OS, `led0` before. */
export const ACT_LED_LABELS = ['ACT', 'led0'] as const;

export interface SysfsLedOptions {
  /** The LED class device name: `ACT`, or a label from the gpio-led overlay. */
  label: string;
  /** The LED class directory; a temporary tree in tests. */
  root?: string;
  /** Put the original trigger back at close (for the on-board LEDs). Default false. */
  restoreTrigger?: boolean;
}

/** The selected trigger in a `trigger` file: `none [mmc0] timer` → `mmc0`. */
export function parseSelectedTrigger(contents: string): string | undefined {
  const match = /\[([^\]\s]+)\]/.exec(contents);
  return match?.[1];
}

/** The on-board ACT LED's name under `root`, or undefined if it has none. */
export function findActLed(root: string = DEFAULT_LED_CLASS_ROOT): string | undefined {
  return ACT_LED_LABELS.find((label) => existsSync(join(root, label, 'brightness')));
}

export class SysfsLed implements LedDriver {
  readonly name: string;
  private readonly brightnessPath: string;
  private readonly triggerPath: string;
  private readonly maxBrightness: number;
  private readonly originalTrigger: string | undefined;
  private readonly restoreTrigger: boolean;
  private closed = false;

  constructor(options: SysfsLedOptions) {
    const root = options.root ?? DEFAULT_LED_CLASS_ROOT;
    const directory = join(root, options.label);
    this.name = `sysfs:${options.label}`;
    this.brightnessPath = join(directory, 'brightness');
    this.triggerPath = join(directory, 'trigger');
    this.restoreTrigger = options.restoreTrigger ?? false;

    if (!existsSync(this.brightnessPath)) {
      throw new Error(`no LED named '${options.label}' in ${root} (${describeAvailable(root)}); check leds.* in the configuration and the gpio-led overlay in /boot/firmware/config.txt`);
    }
    this.maxBrightness = readMaxBrightness(join(directory, 'max_brightness'));
    try {
      // Some LEDs have no trigger attribute (a driver without trigger support): nothing to switch off.
      if (existsSync(this.triggerPath)) {
        this.originalTrigger = parseSelectedTrigger(readFileSync(this.triggerPath, 'utf8'));
        writeFileSync(this.triggerPath, 'none');
      }
      writeFileSync(this.brightnessPath, '0');
    } catch (error) {
      throw describeIoError(error, directory);
    }
  }

  set(on: boolean): void {
    if (this.closed) throw new Error(`${this.name}: set after close`);
    try {
      writeFileSync(this.brightnessPath, on ? String(this.maxBrightness) : '0');
    } catch (error) {
      throw describeIoError(error, this.brightnessPath);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    let path = this.brightnessPath;
    try {
      writeFileSync(path, '0');
      if (this.restoreTrigger && this.originalTrigger !== undefined && this.originalTrigger !== 'none') {
        path = this.triggerPath;
        writeFileSync(path, this.originalTrigger);
      }
    } catch (error) {
      throw describeIoError(error, path);
    }
  }
}

export function openSysfsLed(options: SysfsLedOptions): SysfsLed {
  return new SysfsLed(options);
}

function readMaxBrightness(path: string): number {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw describeIoError(error, path);
  }
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${path}: expected a positive integer, read '${text}'`);
  return value;
}

function describeAvailable(root: string): string {
  try {
    const names = readdirSync(root).sort();
    return names.length === 0 ? 'it is empty' : `found: ${names.join(', ')}`;
  } catch {
    return 'the directory cannot be read';
  }
}

function describeIoError(error: unknown, path: string): Error {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EACCES' || code === 'EPERM') {
    return new Error(`${path}: permission denied; run piwire as root or give its user write access to the LED class (a udev rule)`, { cause: error });
  }
  return new Error(`${path}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}
