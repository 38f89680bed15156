/**
 * Local I2C sensors from the configuration: `sim` (a simulated bus with a BME280
 * model at 0x76), `sim:FILE` (register images replayed from `i2cdump` output, one
 * BME280 driver per dumped address), a bus number (the real bus through i2c-bus,
 * a BME280 at 0x76), or `none`. Readings go to `publish` with source `i2c`.
 */
import type { ResolvedConfig } from './config.ts';
import { parseI2cSpec } from './config.ts';
import type { EventSink } from '../src/events.ts';
import type { I2cBus } from '../hal/i2c/bus.ts';
import { SimulatedI2cBus } from '../hal/i2c/sim.ts';
import { Bme280Model } from '../hal/i2c/bme280-model.ts';
import { loadReplayBus } from '../hal/i2c/replay.ts';
import { openI2cBus } from '../hal/i2c/i2c-bus.ts';
import { Bme280Driver } from '../hal/i2c/bme280-driver.ts';
import { Sampler, bme280Sensor, type PublishReading } from './sensors/sampler.ts';

const BME280_ADDRESS = 0x76;

export interface LocalSensors {
  sampler: Sampler;
  bus: I2cBus;
  close(): Promise<void>;
}

export async function startLocalSensors(
  config: ResolvedConfig['i2c'],
  deps: { events: EventSink; publish: PublishReading },
): Promise<LocalSensors | undefined> {
  const spec = parseI2cSpec(config.bus);
  if (!spec || spec.kind === 'none') return undefined;
  let bus: I2cBus;
  let addresses = [BME280_ADDRESS];
  if (spec.kind === 'bus') {
    bus = await openI2cBus(spec.busNumber);
  } else if (spec.file !== undefined) {
    const replay = await loadReplayBus(spec.file);
    bus = replay;
    addresses = replay.addresses();
  } else {
    bus = new SimulatedI2cBus([[BME280_ADDRESS, new Bme280Model()]]);
  }
  const sensors = addresses.map((address) => bme280Sensor(new Bme280Driver(bus, { address })));
  const sampler = new Sampler({ sensors, publish: deps.publish, events: deps.events });
  sampler.start();
  return {
    sampler,
    bus,
    close: async () => {
      sampler.stop();
      await bus.close();
    },
  };
}
