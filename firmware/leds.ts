/**
 * Opens the three status LEDs the configuration names, on the configured driver:
 * `virtual` (the simulated board draws them), `sysfs` (the kernel LED class: the
 * installer's gpio-led overlay declares `piwire-status`, `piwire-link` and
 * `piwire-fault`, so a BCM number in the configuration means that label), or `gpio`
 * (onoff, BCM numbers resolved against the Pi's gpiochip base). `leds.mirrorAct`
 * repeats the fault LED on the board's ACT LED.
 */
import type { ResolvedConfig } from './config/schema.ts';
import type { Clock } from '../src/time.ts';
import type { LedName } from '../src/diag/leds.ts';
import { mirrorLed, type LedDriver } from '../hal/led/led.ts';
import { VirtualLedBoard } from '../hal/led/virtual.ts';
import { findActLed, openSysfsLed } from '../hal/led/sysfs.ts';
import { openGpioLed } from '../hal/led/gpio.ts';

export interface OpenedLeds {
  outputs: Record<LedName, LedDriver>;
  /** Set for the virtual driver: the terminal drawing of the simulated board. */
  board?: VirtualLedBoard;
  close(): void;
}

/** The labels the installer's gpio-led overlay gives the three LEDs. */
export const SYSFS_LABELS: Readonly<Record<LedName, string>> = { status: 'piwire-status', link: 'piwire-link', fault: 'piwire-fault' };

export async function openLeds(config: ResolvedConfig['leds'], clock: Clock): Promise<OpenedLeds> {
  const names: LedName[] = ['status', 'link', 'fault'];
  let outputs: Record<LedName, LedDriver>;
  let board: VirtualLedBoard | undefined;
  if (config.driver === 'virtual') {
    board = new VirtualLedBoard(clock);
    outputs = board.outputs();
  } else if (config.driver === 'sysfs') {
    const open = (name: LedName): LedDriver => {
      const setting = config[name];
      return openSysfsLed({ label: typeof setting === 'string' ? setting : SYSFS_LABELS[name], root: config.sysfsRoot });
    };
    outputs = { status: open('status'), link: open('link'), fault: open('fault') };
  } else {
    const opened = await Promise.all(names.map((name) => openGpioLed({ line: Number(config[name]) })));
    outputs = { status: opened[0]!, link: opened[1]!, fault: opened[2]! };
  }
  if (config.mirrorAct) {
    const act = findActLed(config.sysfsRoot);
    if (act === undefined) throw new Error(`leds.mirrorAct: no ACT LED under ${config.sysfsRoot}`);
    outputs.fault = mirrorLed(outputs.fault, openSysfsLed({ label: act, root: config.sysfsRoot }));
  }
  const all = outputs;
  return {
    outputs,
    board,
    close: () => {
      for (const name of names) all[name].close();
    },
  };
}
