/**
 * The sysfs LED-class driver on a temporary tree shaped like /sys/class/leds: trigger
 * handling at open and close, brightness values, and the messages a technician sees.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { findActLed, openSysfsLed, parseSelectedTrigger } from '../../hal/led/sysfs.ts';

let root: string;

function makeLed(label: string, files: { max_brightness?: string; trigger?: string; brightness?: string }): void {
  const directory = join(root, label);
  mkdirSync(directory, { recursive: true });
  writeFileSync(join(directory, 'brightness'), files.brightness ?? '0');
  if (files.max_brightness !== undefined) writeFileSync(join(directory, 'max_brightness'), `${files.max_brightness}\n`);
  if (files.trigger !== undefined) writeFileSync(join(directory, 'trigger'), `${files.trigger}\n`);
}

const read = (label: string, file: string): string => readFileSync(join(root, label, file), 'utf8');

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'piwire-leds-'));
  // What a Pi 4 shows: the on-board ACT LED (SD activity) and an overlay LED.
  makeLed('ACT', { max_brightness: '255', trigger: 'none rc-feedback kbd-scrolllock [mmc0] timer oneshot heartbeat default-on', brightness: '255' });
  makeLed('piwire-fault', { max_brightness: '1', trigger: '[none] timer heartbeat default-on' });
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('sysfs LED', () => {
  test('open takes the LED from its kernel trigger and switches it off', () => {
    const led = openSysfsLed({ root, label: 'ACT' });
    assert.equal(read('ACT', 'trigger'), 'none');
    assert.equal(read('ACT', 'brightness'), '0');
    assert.equal(led.name, 'sysfs:ACT');
  });

  test('on writes max_brightness, off writes 0', () => {
    const act = openSysfsLed({ root, label: 'ACT' });
    const fault = openSysfsLed({ root, label: 'piwire-fault' });
    act.set(true);
    fault.set(true);
    assert.equal(read('ACT', 'brightness'), '255');
    assert.equal(read('piwire-fault', 'brightness'), '1');
    act.set(false);
    assert.equal(read('ACT', 'brightness'), '0');
  });

  test('close switches off and leaves the trigger at none, unless asked to restore it', () => {
    const fault = openSysfsLed({ root, label: 'piwire-fault' });
    fault.set(true);
    fault.close();
    assert.equal(read('piwire-fault', 'brightness'), '0');
    assert.equal(read('piwire-fault', 'trigger'), 'none');
    assert.throws(() => fault.set(true), /set after close/);

    const act = openSysfsLed({ root, label: 'ACT', restoreTrigger: true });
    act.set(true);
    act.close();
    act.close();
    assert.equal(read('ACT', 'brightness'), '0');
    assert.equal(read('ACT', 'trigger'), 'mmc0', 'ACT goes back to showing SD activity');
  });

  test('an LED without a trigger attribute still works', () => {
    makeLed('plain', { max_brightness: '1' });
    const led = openSysfsLed({ root, label: 'plain', restoreTrigger: true });
    led.set(true);
    assert.equal(read('plain', 'brightness'), '1');
    led.close();
    assert.equal(read('plain', 'brightness'), '0');
  });

  test('a missing LED names the ones that exist', () => {
    assert.throws(
      () => openSysfsLed({ root, label: 'piwire-status' }),
      (error: Error) => {
        assert.match(error.message, /no LED named 'piwire-status' in .*piwire-leds-/);
        assert.match(error.message, /found: ACT, piwire-fault/);
        return true;
      },
    );
    assert.throws(() => openSysfsLed({ root: join(root, 'nowhere'), label: 'ACT' }), /cannot be read/);
  });

  test('a max_brightness that is not a positive integer is refused', () => {
    makeLed('odd', { max_brightness: 'lots' });
    assert.throws(() => openSysfsLed({ root, label: 'odd' }), /max_brightness: expected a positive integer, read 'lots'/);
    makeLed('none', {});
    assert.throws(() => openSysfsLed({ root, label: 'none' }), /max_brightness/);
  });
});

describe('helpers', () => {
  test('the selected trigger is the bracketed one', () => {
    assert.equal(parseSelectedTrigger('none [mmc0] timer'), 'mmc0');
    assert.equal(parseSelectedTrigger('[none] timer\n'), 'none');
    assert.equal(parseSelectedTrigger('none timer'), undefined);
  });

  test('the ACT LED is ACT on current kernels, led0 on older ones', () => {
    assert.equal(findActLed(root), 'ACT');
    const older = mkdtempSync(join(tmpdir(), 'piwire-leds-old-'));
    try {
      mkdirSync(join(older, 'led0'));
      writeFileSync(join(older, 'led0', 'brightness'), '0');
      assert.equal(findActLed(older), 'led0');
      assert.equal(findActLed(join(older, 'led0')), undefined);
    } finally {
      rmSync(older, { recursive: true, force: true });
    }
  });
});
