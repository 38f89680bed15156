/**
 * The onoff GPIO LED driver: BCM numbers resolved through fake /sys/class/gpio trees
 * (kernel 6.6+ bases from 512, the older 0-based layout, a Pi 5's RP1), the message
 * when onoff is missing, and what the driver asks of onoff (through a fake module,
 * since real GPIO needs a Pi).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, test } from 'node:test';
import {
  listGpioChips,
  loadOnoff,
  ONOFF_MISSING_MESSAGE,
  openGpioLed,
  resolveBcmLine,
  type OnoffGpio,
  type OnoffModule,
} from '../../hal/led/gpio.ts';

let root: string;

interface FakeChip {
  base: number;
  label: string;
  lines: number;
}

/** A /sys/class/gpio look-alike: export/unexport files and one directory per chip. */
function makeGpioTree(chips: FakeChip[]): string {
  const directory = mkdtempSync(join(root, 'gpio-'));
  writeFileSync(join(directory, 'export'), '');
  writeFileSync(join(directory, 'unexport'), '');
  for (const chip of chips) {
    const chipDirectory = join(directory, `gpiochip${chip.base}`);
    mkdirSync(chipDirectory);
    writeFileSync(join(chipDirectory, 'base'), `${chip.base}\n`);
    writeFileSync(join(chipDirectory, 'label'), `${chip.label}\n`);
    writeFileSync(join(chipDirectory, 'ngpio'), `${chip.lines}\n`);
  }
  return directory;
}

/** A Pi 4 on kernel 6.6+: the pin controller at 512, the firmware GPIO expander above it. */
const PI4_KERNEL_6_6: FakeChip[] = [
  { base: 512, label: 'pinctrl-bcm2711', lines: 58 },
  { base: 570, label: 'raspberrypi-exp-gpio', lines: 8 },
];
/** The same board on an older kernel: the pin controller at 0. */
const PI4_KERNEL_6_1: FakeChip[] = [
  { base: 0, label: 'pinctrl-bcm2711', lines: 58 },
  { base: 504, label: 'raspberrypi-exp-gpio', lines: 8 },
];
/** A Pi 5: the header is on the RP1, after the SoC's own controllers. */
const PI5: FakeChip[] = [
  { base: 512, label: 'gpio-brcmstb@107d508500', lines: 32 },
  { base: 544, label: 'gpio-brcmstb@107d508520', lines: 2 },
  { base: 546, label: 'gpio-brcmstb@107d517c00', lines: 17 },
  { base: 563, label: 'gpio-brcmstb@107d517c20', lines: 6 },
  { base: 569, label: 'pinctrl-rp1', lines: 54 },
];

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'piwire-gpio-'));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('BCM line resolution', () => {
  test('kernel 6.6 and later: BCM 17 is 512 + 17 = 529', () => {
    assert.equal(resolveBcmLine(17, makeGpioTree(PI4_KERNEL_6_6)), 529);
  });

  test('older kernels: BCM 17 is 17', () => {
    assert.equal(resolveBcmLine(17, makeGpioTree(PI4_KERNEL_6_1)), 17);
  });

  test('Pi 5: the RP1 chip, not the first chip', () => {
    assert.equal(resolveBcmLine(17, makeGpioTree(PI5)), 586);
  });

  test('Pi Zero to 3: pinctrl-bcm2835', () => {
    assert.equal(resolveBcmLine(27, makeGpioTree([{ base: 512, label: 'pinctrl-bcm2835', lines: 54 }])), 539);
  });

  test('lists chips in base order and skips files and unreadable chips', () => {
    const tree = makeGpioTree(PI4_KERNEL_6_6);
    mkdirSync(join(tree, 'gpiochip600')); // no attributes
    assert.deepEqual(
      listGpioChips(tree).map((chip) => [chip.name, chip.label, chip.base, chip.lineCount]),
      [
        ['gpiochip512', 'pinctrl-bcm2711', 512, 58],
        ['gpiochip570', 'raspberrypi-exp-gpio', 570, 8],
      ],
    );
  });

  test('no Pi pin controller: the message lists what is there', () => {
    const tree = makeGpioTree([{ base: 0, label: 'gpio-mockup-A', lines: 8 }]);
    assert.throws(() => resolveBcmLine(17, tree), /no Raspberry Pi GPIO controller \(pinctrl-rp1, pinctrl-bcm2711, pinctrl-bcm2835\) in .*: found gpiochip0 'gpio-mockup-A'/);
    assert.throws(() => resolveBcmLine(17, makeGpioTree([])), /found no gpiochip at all/);
  });

  test('no sysfs GPIO at all, a line beyond the chip, a bad line number', () => {
    assert.throws(() => resolveBcmLine(17, join(root, 'missing')), /sysfs GPIO is not available: .*missing does not exist/);
    assert.throws(() => resolveBcmLine(58, makeGpioTree(PI4_KERNEL_6_6)), /BCM 58 is beyond gpiochip512 'pinctrl-bcm2711', which has lines 0..57/);
    assert.throws(() => resolveBcmLine(-1, makeGpioTree(PI4_KERNEL_6_6)), RangeError);
  });
});

describe('loading onoff', () => {
  test('a missing package fails with a message that says what to do', async () => {
    await assert.rejects(loadOnoff('piwire-test-no-such-package'), (error: Error) => {
      assert.equal(error.message, ONOFF_MISSING_MESSAGE);
      assert.match(error.message, /npm install onoff/);
      assert.match(error.message, /--leds sysfs/);
      assert.equal((error.cause as NodeJS.ErrnoException).code, 'ERR_MODULE_NOT_FOUND');
      return true;
    });
  });

  test('the default open fails the same way where onoff is not installed', async (context) => {
    try {
      createRequire(import.meta.url).resolve('onoff');
      context.skip('onoff is installed here');
      return;
    } catch {
      // not installed: the case under test
    }
    await assert.rejects(openGpioLed({ line: 17, root: makeGpioTree(PI4_KERNEL_6_6) }), { message: ONOFF_MISSING_MESSAGE });
  });

  test('finds Gpio on a CommonJS default export, and refuses a module without it', async () => {
    const commonJsShaped = join(root, 'onoff-default.mjs');
    writeFileSync(commonJsShaped, 'class Gpio { static get accessible() { return true; } }\nexport default { Gpio };\n');
    const loaded = await loadOnoff(pathToFileURL(commonJsShaped).href);
    assert.equal(loaded.Gpio.accessible, true);

    const impostor = join(root, 'impostor.mjs');
    writeFileSync(impostor, 'export const Led = 1;\n');
    await assert.rejects(loadOnoff(pathToFileURL(impostor).href), /has no Gpio class/);
  });
});

describe('GpioLed over onoff', () => {
  interface Call {
    method: string;
    args: unknown[];
  }

  function fakeOnoff(accessible = true): { onoff: OnoffModule; calls: Call[] } {
    const calls: Call[] = [];
    class FakeGpio implements OnoffGpio {
      static readonly accessible = accessible;
      constructor(...args: unknown[]) {
        calls.push({ method: 'new', args });
      }
      writeSync(value: 0 | 1): void {
        calls.push({ method: 'writeSync', args: [value] });
      }
      unexport(): void {
        calls.push({ method: 'unexport', args: [] });
      }
    }
    return { onoff: { Gpio: FakeGpio }, calls };
  }

  test('exports the resolved number as an output that starts dark, writes levels, releases at close', async () => {
    const { onoff, calls } = fakeOnoff();
    const exitListeners = process.listenerCount('exit');
    const led = await openGpioLed({ line: 17, root: makeGpioTree(PI4_KERNEL_6_6), onoff });
    assert.equal(led.name, 'gpio:BCM17 (529)');
    assert.equal(process.listenerCount('exit'), exitListeners + 1, 'released at exit if never closed');
    led.set(true);
    led.set(false);
    led.close();
    led.close();
    assert.deepEqual(calls, [
      { method: 'new', args: [529, 'low', 'none', { activeLow: false }] },
      { method: 'writeSync', args: [1] },
      { method: 'writeSync', args: [0] },
      { method: 'writeSync', args: [0] },
      { method: 'unexport', args: [] },
    ]);
    assert.equal(process.listenerCount('exit'), exitListeners);
    assert.throws(() => led.set(true), /set after close/);
  });

  test('an active-low LED starts with the line high, so it never flashes at open', async () => {
    const { onoff, calls } = fakeOnoff();
    const led = await openGpioLed({ line: 22, root: makeGpioTree(PI4_KERNEL_6_1), onoff, activeLow: true });
    led.close();
    assert.deepEqual(calls[0], { method: 'new', args: [22, 'high', 'none', { activeLow: true }] });
  });

  test('GPIO not accessible: a clear error before anything is exported', async () => {
    const { onoff, calls } = fakeOnoff(false);
    await assert.rejects(openGpioLed({ line: 17, root: makeGpioTree(PI4_KERNEL_6_6), onoff }), /GPIO is not accessible/);
    assert.deepEqual(calls, []);
  });
});
