/**
 * Local I2C sensors from the configuration: `sim` (a simulated bus with a BME280
 * model at 0x76), `sim:FILE` (register images replayed from `i2cdump` output, one
 * BME280 driver per dumped address), a bus number (the real bus through i2c-bus,
 * a BME280 at 0x76), or `none`. Readings go to `publish` with source `i2c`.
 *
 * The `i2c.bus` grammar (`parseI2cSpec`) lives here, beside the factory that opens
 * what it names; the configuration schema checks values with it.
 */
import type { EventSink } from '../src/events.ts';
import type { I2cBus } from '../hal/i2c/bus.ts';
import { SimulatedI2cBus } from '../hal/i2c/sim.ts';
import { Bme280Model } from '../hal/i2c/bme280-model.ts';
import { loadReplayBus } from '../hal/i2c/replay.ts';
import { openI2cBus } from '../hal/i2c/i2c-bus.ts';
import { Bme280Driver } from '../hal/i2c/bme280-driver.ts';
import { Sampler, bme280Sensor, type PublishReading } from './sensors/sampler.ts';

const BME280_ADDRESS = 0x76;

/** The local I2C sensors: built-in models, a replay of `i2cdump` images, a real bus, or none. */
export type I2cSpec = { kind: 'sim'; file?: string } | { kind: 'bus'; busNumber: number } | { kind: 'none' };

/** An `i2c.bus` value as the resolved configuration holds it. */
export type I2cBusSetting = 'sim' | 'none' | `sim:${string}` | number;

/** /dev/i2c-N: Linux numbers adapters dynamically, so leave generous room. */
export const MAX_I2C_BUS = 1023;

/** What `parseI2cSpec` accepts, in the words of the configuration's error messages. */
export const I2C_ALLOWED = `sim, sim:FILE (register dumps from i2cdump), none, or a bus number 0..${MAX_I2C_BUS} (/dev/i2c-N)`;

/** Parses an `i2c.bus` value (`sim`, `sim:FILE`, `none`, a bus number or its digits); undefined for anything else. */
export function parseI2cSpec(value: unknown): I2cSpec | undefined {
  if (value === 'sim') return { kind: 'sim' };
  if (value === 'none') return { kind: 'none' };
  if (typeof value === 'string' && value.startsWith('sim:') && value.length > 'sim:'.length) return { kind: 'sim', file: value.slice(4) };
  const busNumber = typeof value === 'string' && /^[0-9]{1,4}$/.test(value) ? Number(value) : value;
  if (typeof busNumber === 'number' && Number.isInteger(busNumber) && busNumber >= 0 && busNumber <= MAX_I2C_BUS) {
    return { kind: 'bus', busNumber };
  }
  return undefined;
}

/** The canonical `i2c.bus` value of a spec (digits become a number). */
export function formatI2cSpec(spec: I2cSpec): I2cBusSetting {
  if (spec.kind === 'bus') return spec.busNumber;
  if (spec.kind === 'none') return 'none';
  return spec.file === undefined ? 'sim' : `sim:${spec.file}`;
}

export interface LocalSensors {
  sampler: Sampler;
  bus: I2cBus;
  close(): Promise<void>;
}

export async function startLocalSensors(
  config: { bus: I2cBusSetting },
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
