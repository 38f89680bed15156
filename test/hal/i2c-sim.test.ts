/**
 * The simulated I2C bus (hal/i2c/sim.ts) and the register-level BME280 model
 * (hal/i2c/bme280-model.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { I2cError } from '../../hal/i2c/bus.ts';
import { SimulatedI2cBus, type I2cDeviceModel } from '../../hal/i2c/sim.ts';
import { Bme280Model, DEFAULT_CALIBRATION, rawForEnvironment } from '../../hal/i2c/bme280-model.ts';
import { compensate, encodeCalibration, parseRawSample } from '../../src/sensors/bme280.ts';

class Memory implements I2cDeviceModel {
  readonly bytes = new Uint8Array(256).map((_, index) => index);
  read(register: number, length: number): Uint8Array {
    return this.bytes.slice(register, register + length);
  }
  write(register: number, value: number): void {
    this.bytes[register] = value;
  }
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => error instanceof I2cError && error.code === code);
}

describe('SimulatedI2cBus', () => {
  it('routes reads and writes to the model at the address', async () => {
    const memory = new Memory();
    const bus = new SimulatedI2cBus([[0x50, memory]]);
    assert.deepEqual([...(await bus.readBlock(0x50, 0x10, 3))], [0x10, 0x11, 0x12]);
    await bus.writeByte(0x50, 0x10, 0xaa);
    assert.equal(memory.bytes[0x10], 0xaa);
    assert.deepEqual(bus.log.map((t) => t.kind), ['read', 'write']);
  });

  it('fails an address nobody answers with EREMOTEIO and errno 121, as Linux does', async () => {
    const bus = new SimulatedI2cBus();
    await assert.rejects(bus.readBlock(0x76, 0xd0, 1), (error: unknown) => {
      assert.ok(error instanceof I2cError);
      assert.equal(error.code, 'EREMOTEIO');
      assert.equal(error.errno, 121);
      assert.equal(error.address, 0x76);
      return true;
    });
  });

  it('NACKs an injected device for the given number of transfers, then answers again', async () => {
    const bus = new SimulatedI2cBus([[0x50, new Memory()], [0x51, new Memory()]]);
    bus.inject({ kind: 'nack', address: 0x50, transfers: 2 });
    await rejectsWith(bus.readBlock(0x50, 0, 1), 'EREMOTEIO');
    assert.deepEqual([...(await bus.readBlock(0x51, 1, 1))], [1]); // the other device is unaffected
    await rejectsWith(bus.writeByte(0x50, 0, 1), 'EREMOTEIO');
    assert.deepEqual([...(await bus.readBlock(0x50, 2, 1))], [2]);
    assert.equal(bus.log.filter((t) => t.error === 'EREMOTEIO').length, 2);
  });

  it('fails every device with ETIMEDOUT while the bus is stuck, until cleared', async () => {
    const bus = new SimulatedI2cBus([[0x50, new Memory()], [0x51, new Memory()]]);
    bus.inject({ kind: 'stuck' });
    await rejectsWith(bus.readBlock(0x50, 0, 1), 'ETIMEDOUT');
    await rejectsWith(bus.readBlock(0x51, 0, 1), 'ETIMEDOUT');
    bus.clearFaults();
    assert.deepEqual([...(await bus.readBlock(0x51, 5, 1))], [5]);
  });

  it('holds transfers on a hung bus and fails them when the fault clears', async () => {
    const bus = new SimulatedI2cBus([[0x50, new Memory()]]);
    bus.inject({ kind: 'hang' });
    let settled = false;
    const pending = bus.readBlock(0x50, 0, 1).finally(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false);
    bus.clearFaults();
    await rejectsWith(pending, 'ETIMEDOUT');
  });

  it('overrides one register byte (a wrong chip id) inside a burst', async () => {
    const bus = new SimulatedI2cBus([[0x50, new Memory()]]);
    bus.inject({ kind: 'register', address: 0x50, register: 0xd1, value: 0x58, transfers: 1 });
    assert.deepEqual([...(await bus.readBlock(0x50, 0xd0, 3))], [0xd0, 0x58, 0xd2]);
    assert.deepEqual([...(await bus.readBlock(0x50, 0xd0, 3))], [0xd0, 0xd1, 0xd2]);
  });

  it('refuses impossible arguments as programmer errors, and transfers after close', async () => {
    const bus = new SimulatedI2cBus([[0x50, new Memory()]]);
    await assert.rejects(bus.readBlock(0x80, 0, 1), RangeError);
    await assert.rejects(bus.readBlock(0x50, 0xff, 2), RangeError);
    await assert.rejects(bus.writeByte(0x50, 0, 256), RangeError);
    await bus.close();
    await rejectsWith(bus.readBlock(0x50, 0, 1), 'ENODEV');
  });
});

describe('Bme280Model', () => {
  it('answers chip id 0x60 and the encoded calibration', async () => {
    const bus = new SimulatedI2cBus([[0x76, new Bme280Model()]]);
    assert.deepEqual([...(await bus.readBlock(0x76, 0xd0, 1))], [0x60]);
    const { blockA, blockB } = encodeCalibration(DEFAULT_CALIBRATION);
    assert.deepEqual(await bus.readBlock(0x76, 0x88, 26), blockA);
    assert.deepEqual(await bus.readBlock(0x76, 0xe1, 7), blockB);
  });

  it('holds the reset pattern (skipped) in the data registers until a conversion', async () => {
    const bus = new SimulatedI2cBus([[0x76, new Bme280Model()]]);
    assert.deepEqual([...(await bus.readBlock(0x76, 0xf7, 8))], [0x80, 0, 0, 0x80, 0, 0, 0x80, 0]);
  });

  it('runs a forced conversion: measuring bit, then data, then back to sleep mode', async () => {
    const model = new Bme280Model({ conversionStatusReads: 2 });
    const bus = new SimulatedI2cBus([[0x76, model]]);
    await bus.writeByte(0x76, 0xf2, 0x01);
    await bus.writeByte(0x76, 0xf4, 0x25);
    assert.deepEqual([...(await bus.readBlock(0x76, 0xf3, 1))], [0x08]);
    assert.deepEqual([...(await bus.readBlock(0x76, 0xf3, 1))], [0x08]);
    assert.deepEqual([...(await bus.readBlock(0x76, 0xf3, 1))], [0x00]);
    assert.deepEqual([...(await bus.readBlock(0x76, 0xf4, 1))], [0x24]);
    assert.equal(model.conversions, 1);
    const raw = parseRawSample(await bus.readBlock(0x76, 0xf7, 8));
    assert.ok(raw.ok);
    assert.deepEqual(raw.value, rawForEnvironment({ temperatureCelsius: 21.5, pressureHectopascal: 1013.25, humidityPercent: 45 }, DEFAULT_CALIBRATION));
  });

  it('applies ctrl_hum only with the next ctrl_meas write (§5.4.3)', async () => {
    const model = new Bme280Model({ conversionStatusReads: 0 });
    const bus = new SimulatedI2cBus([[0x76, model]]);
    await bus.writeByte(0x76, 0xf4, 0x25); // humidity oversampling still 0: skipped
    await bus.writeByte(0x76, 0xf2, 0x01); // not applied yet
    let raw = parseRawSample(await bus.readBlock(0x76, 0xf7, 8));
    assert.ok(raw.ok);
    assert.equal(raw.value.adcHumidity, 0x8000);
    await bus.writeByte(0x76, 0xf4, 0x25);
    raw = parseRawSample(await bus.readBlock(0x76, 0xf7, 8));
    assert.ok(raw.ok);
    assert.notEqual(raw.value.adcHumidity, 0x8000);
  });

  it('produces raw values that compensate back to the environment within resolution', () => {
    // A second part whose pressure result wraps (unsigned) well inside the 20-bit ADC range.
    const other = { ...DEFAULT_CALIBRATION, digT1: 28485, digT2: 26735, digT3: 50, digP1: 37517, digP2: -10588, digP4: 7919, digP5: -145, digP7: 9900, digP8: -10230, digP9: 4285 };
    const environments = [
      { temperatureCelsius: -20.37, pressureHectopascal: 870.5, humidityPercent: 12.3 },
      { temperatureCelsius: 21.5, pressureHectopascal: 1013.25, humidityPercent: 45 },
      { temperatureCelsius: 63.01, pressureHectopascal: 1090, humidityPercent: 93.7 },
    ];
    for (const calibration of [DEFAULT_CALIBRATION, other]) {
      for (const environment of environments) {
        const reading = compensate(rawForEnvironment(environment, calibration), calibration);
        assert.ok(reading.ok);
        assert.ok(Math.abs(reading.value.temperatureCelsius - environment.temperatureCelsius) <= 0.01);
        assert.ok(Math.abs(reading.value.pressureHectopascal - environment.pressureHectopascal) <= 0.01, `${reading.value.pressureHectopascal}`);
        assert.ok(Math.abs(reading.value.humidityPercent - environment.humidityPercent) <= 0.01);
      }
    }
  });

  it('soft reset clears the control registers and shows im_update once', async () => {
    const bus = new SimulatedI2cBus([[0x76, new Bme280Model()]]);
    await bus.writeByte(0x76, 0xf5, 0xa0);
    await bus.writeByte(0x76, 0xe0, 0xb6);
    assert.deepEqual([...(await bus.readBlock(0x76, 0xf3, 3))], [0x01, 0x00, 0x00]);
    assert.deepEqual([...(await bus.readBlock(0x76, 0xf3, 1))], [0x00]);
  });
});
