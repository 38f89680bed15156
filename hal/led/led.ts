/**
 * The contract every LED driver implements (sysfs LED class, onoff GPIO, virtual),
 * and that the LED controller (src/diag/leds.ts) drives.
 *
 * Call order: open (a factory: `openSysfsLed`, `openGpioLed`, `new VirtualLed`) →
 * set* → close. `set` is synchronous and cheap (a few per second); it may throw on an
 * I/O error, which the controller logs and survives. `close` switches the LED off
 * (SPEC §6: status off means "firmware not running") and releases it; set after close
 * is a programmer error and throws.
 */
import type { LedOutput } from '../../src/diag/leds.ts';

export interface LedDriver extends LedOutput {
  /** What the driver drives, for messages: `sysfs:ACT`, `gpio:BCM17 (529)`, `virtual:fault`. */
  readonly name: string;
  set(on: boolean): void;
  close(): void;
}

/**
 * One logical LED shown on several physical ones: `leds.mirrorAct` (SPEC §2) mirrors
 * the fault LED on the on-board ACT LED. Every driver is set and closed, even if an
 * earlier one throws; the first error is rethrown after all were tried.
 */
export function mirrorLed(...drivers: LedDriver[]): LedDriver {
  if (drivers.length === 0) throw new RangeError('mirrorLed needs at least one driver');
  const each = (action: (driver: LedDriver) => void): void => {
    const errors: unknown[] = [];
    for (const driver of drivers) {
      try {
        action(driver);
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw errors[0];
  };
  return {
    name: drivers.map((driver) => driver.name).join('+'),
    set: (on) => each((driver) => driver.set(on)),
    close: () => each((driver) => driver.close()),
  };
}
