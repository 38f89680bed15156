/**
 * The BME280 driver (hal/i2c/bme280-driver.ts) on the simulated bus: the register
 * sequence it runs, the values it returns for datasheet-derived raw data, and how it
 * fails (NACK, wrong chip id, a conversion that never finishes) and recovers.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { I2cError } from '../../hal/i2c/bus.ts';
import { SimulatedI2cBus } from '../../hal/i2c/sim.ts';
import { Bme280Model, DEFAULT_CALIBRATION } from '../../hal/i2c/bme280-model.ts';
import { Bme280Driver, Bme280Error } from '../../hal/i2c/bme280-driver.ts';

const noSleep = (): Promise<void> => Promise.resolve();

function setup(options: ConstructorParameters<typeof Bme280Model>[0] = {}, address = 0x76) {
  const model = new Bme280Model(options);
  const bus = new SimulatedI2cBus([[address, model]]);
  const driver = new Bme280Driver(bus, { address, sleep: noSleep });
  return { model, bus, driver };
}

describe('Bme280Driver', () => {
  it('returns the datasheet worked example for its raw values', async () => {
    // DEFAULT_CALIBRATION's T and P words are the BMP280 datasheet example; with
    // adc_T 519888, adc_P 415148, adc_H 30000 the integer formulas give 2508 (25.08 °C),
    // 25767233 (Q24.8 Pa) and 56317 (Q22.10 %RH): see test/sensors/bme280.test.ts.
    const { model, driver } = setup();
    model.setRaw({ adcTemperature: 519888, adcPressure: 415148, adcHumidity: 30000 });
    const reading = await driver.read();
    assert.equal(reading.centiCelsius, 2508);
    assert.equal(reading.pressureQ24_8, 25767233);
    assert.equal(reading.humidityQ22_10, 56317);
    assert.equal(reading.temperatureCelsius, 25.08);
    assert.ok(Math.abs(reading.pressureHectopascal - 1006.5325) < 0.0001);
    assert.ok(Math.abs(reading.humidityPercent - 54.997) < 0.001);
  });

  it('reads back a physical environment within the datasheet resolution', async () => {
    const { model, driver } = setup({ environment: { temperatureCelsius: 18.25, pressureHectopascal: 995.4, humidityPercent: 61.5 } });
    let reading = await driver.read();
    assert.ok(Math.abs(reading.temperatureCelsius - 18.25) <= 0.01);
    assert.ok(Math.abs(reading.pressureHectopascal - 995.4) <= 0.01);
    assert.ok(Math.abs(reading.humidityPercent - 61.5) <= 0.01);
    model.setEnvironment({ temperatureCelsius: -5 });
    reading = await driver.read();
    assert.ok(Math.abs(reading.temperatureCelsius + 5) <= 0.01);
  });

  it('initializes in datasheet order and triggers one forced conversion per read', async () => {
    const { model, bus, driver } = setup();
    await driver.read();
    const writes = bus.log.filter((t) => t.kind === 'write').map((t) => [t.register, t.value]);
    assert.deepEqual(writes, [
      [0xe0, 0xb6], // soft reset
      [0xf4, 0x24], // sleep mode, osrs_t = osrs_p = x1
      [0xf5, 0xa0], // t_sb 1000 ms, filter off
      [0xf2, 0x01], // osrs_h = x1, before ctrl_meas
      [0xf4, 0x25], // forced mode
    ]);
    const reads = bus.log.filter((t) => t.kind === 'read').map((t) => t.register);
    assert.equal(reads[0], 0xd0); // chip id first
    assert.ok(reads.includes(0x88) && reads.includes(0xe1));
    assert.equal(reads.at(-1), 0xf7); // data last
    assert.equal(model.conversions, 1);
    await driver.read();
    assert.equal(model.conversions, 2);
    // No second initialization: one chip-id read in all.
    assert.equal(bus.log.filter((t) => t.kind === 'read' && t.register === 0xd0).length, 1);
  });

  it('refuses a part with the wrong chip id (a BMP280)', async () => {
    const { driver } = setup({ chipId: 0x58 });
    await assert.rejects(driver.read(), (error: unknown) => {
      assert.ok(error instanceof Bme280Error);
      assert.equal(error.code, 'EWRONGCHIP');
      assert.match(error.message, /0x58.*BMP280/);
      return true;
    });
  });

  it('gives up on a conversion that never finishes after the poll bound', async () => {
    const model = new Bme280Model({ conversionStatusReads: Infinity });
    const bus = new SimulatedI2cBus([[0x76, model]]);
    const driver = new Bme280Driver(bus, { sleep: noSleep, maxStatusPolls: 5 });
    await assert.rejects(driver.read(), (error: unknown) => error instanceof Bme280Error && error.code === 'EBUSY');
    assert.equal(bus.log.filter((t) => t.register === 0xf3).length, 2 + 5); // 2 after reset (im_update, then clear), 5 while measuring
  });

  it('fails on a NACK, then re-initializes and reads once the sensor answers again', async () => {
    const { bus, driver } = setup();
    await driver.read();
    bus.inject({ kind: 'nack', address: 0x76, transfers: 3 });
    await assert.rejects(driver.read(), (error: unknown) => error instanceof I2cError && error.code === 'EREMOTEIO');
    assert.equal(driver.initialized, false);
    await assert.rejects(driver.read());
    await assert.rejects(driver.read());
    const reading = await driver.read();
    assert.ok(Math.abs(reading.temperatureCelsius - 21.5) <= 0.01);
    assert.equal(bus.log.filter((t) => t.kind === 'read' && t.register === 0xd0 && !t.error).length, 2);
  });

  it('picks up a new calibration when the sensor is swapped after a failure', async () => {
    const { bus, driver } = setup();
    await driver.read();
    bus.inject({ kind: 'nack', address: 0x76, transfers: 1 });
    await assert.rejects(driver.read());
    const swapped = { ...DEFAULT_CALIBRATION, digT1: 28000, digH2: 340 };
    bus.attach(0x76, new Bme280Model({ calibration: swapped, environment: { temperatureCelsius: 30 } }));
    const reading = await driver.read();
    assert.deepEqual(driver.calibration, swapped);
    assert.ok(Math.abs(reading.temperatureCelsius - 30) <= 0.01);
  });

  it('works in normal mode without triggering conversions', async () => {
    const model = new Bme280Model({ environment: { temperatureCelsius: 24 } });
    const bus = new SimulatedI2cBus([[0x77, model]]);
    const driver = new Bme280Driver(bus, { address: 0x77, mode: 'normal', sleep: noSleep });
    const reading = await driver.read();
    assert.ok(Math.abs(reading.temperatureCelsius - 24) <= 0.01);
    assert.equal(driver.name, 'bme280@0x77');
    const writes = bus.log.filter((t) => t.kind === 'write');
    assert.deepEqual(writes.at(-1), { kind: 'write', address: 0x77, register: 0xf4, value: 0x27 });
    await driver.read();
    assert.equal(bus.log.filter((t) => t.kind === 'write').length, writes.length);
  });
});
