/**
 * A register-level model of the Bosch BME280 for the simulated bus (hal/i2c/sim.ts).
 *
 * What it models (BME280 datasheet BST-BME280-DS002 §3, §5):
 * - chip id 0x60 at 0xD0 (settable, to play a BMP280 at 0x58 or a wrong part);
 * - calibration at 0x88..0xA1 and 0xE1..0xE7, encoded from a Bme280Calibration;
 * - soft reset (0xB6 to 0xE0): control registers to 0, data registers to their reset
 *   pattern (0x80000 / 0x8000, "skipped"), and status im_update set while the NVM copy
 *   runs (for `nvmCopyStatusReads` status reads);
 * - ctrl_hum 0xF2 only takes effect with the next ctrl_meas write (§5.4.3), so a driver
 *   that writes them in the wrong order measures humidity with the old setting;
 * - forced mode: a write of mode 01/10 to ctrl_meas starts one conversion; status bit 3
 *   (measuring) reads 1 for `conversionStatusReads` status reads, then the data
 *   registers hold the new result and the mode is back to sleep (§3.3.3);
 * - normal mode: every data read sees a fresh conversion, status reads 0;
 * - a quantity whose oversampling is "skipped" keeps the reset pattern (§3.4).
 * The model counts status reads instead of time: the simulation needs no clock, and a
 * driver that does not wait for the measuring bit still reads stale data.
 *
 * Raw ADC values come from the physical environment set with `setEnvironment`: the
 * datasheet's integer compensation (src/sensors/bme280.ts) is inverted numerically,
 * so the driver's compensation gives the environment back to within its resolution.
 * Or hold raw values fixed with `setRaw` (worked examples, replayed captures).
 */
import {
  BME280_CHIP_ID,
  BME280_RESET_COMMAND,
  Bme280Mode,
  Bme280Register,
  Bme280Status,
  compensateHumidity,
  compensatePressure,
  compensateTemperature,
  DATA_LENGTH,
  encodeCalibration,
  encodeRawSample,
  SKIPPED_ADC_HUMIDITY,
  SKIPPED_ADC_PRESSURE,
  SKIPPED_ADC_TEMPERATURE,
  type Bme280Calibration,
  type Bme280RawSample,
} from '../../src/sensors/bme280.ts';
import type { I2cDeviceModel } from './sim.ts';

/**
 * A plausible part: the temperature and pressure words are the worked example of
 * Bosch's BMP280 datasheet (BST-BMP280-DS001 §3.12), which uses the same formulas;
 * the humidity words are typical of BME280 parts in the field.
 */
export const DEFAULT_CALIBRATION: Readonly<Bme280Calibration> = Object.freeze({
  digT1: 27504,
  digT2: 26435,
  digT3: -1000,
  digP1: 36477,
  digP2: -10685,
  digP3: 3024,
  digP4: 2855,
  digP5: 140,
  digP6: -7,
  digP7: 15500,
  digP8: -14600,
  digP9: 6000,
  digH1: 75,
  digH2: 362,
  digH3: 0,
  digH4: 313,
  digH5: 50,
  digH6: 30,
});

export interface Environment {
  temperatureCelsius: number;
  pressureHectopascal: number;
  humidityPercent: number;
}

export const DEFAULT_ENVIRONMENT: Readonly<Environment> = Object.freeze({
  temperatureCelsius: 21.5,
  pressureHectopascal: 1013.25,
  humidityPercent: 45,
});

/** The operating range (datasheet §1, table 1); targets outside it are clamped. */
const RANGE = {
  temperatureCelsius: [-40, 85],
  pressureHectopascal: [300, 1100],
  humidityPercent: [0, 100],
} as const;

export interface Bme280ModelOptions {
  calibration?: Bme280Calibration;
  environment?: Partial<Environment>;
  chipId?: number;
  /** Status reads that show "measuring" after a forced-mode start (default 1; Infinity: never finishes). */
  conversionStatusReads?: number;
  /** Status reads that show im_update after a reset (default 1). */
  nvmCopyStatusReads?: number;
}

export class Bme280Model implements I2cDeviceModel {
  chipId: number;
  conversionStatusReads: number;
  nvmCopyStatusReads: number;
  /** Forced-mode conversions completed (tests check that a driver triggered one). */
  conversions = 0;
  private readonly calibration: Bme280Calibration;
  private readonly registers = new Uint8Array(256);
  private readonly data = new Uint8Array(DATA_LENGTH);
  private environment: Environment;
  private fixedRaw: Bme280RawSample | undefined;
  private effectiveHumidityOversampling = 0;
  private measuringReadsLeft = 0;
  private nvmReadsLeft = 0;

  constructor(options: Bme280ModelOptions = {}) {
    this.calibration = { ...(options.calibration ?? DEFAULT_CALIBRATION) };
    this.environment = { ...DEFAULT_ENVIRONMENT, ...options.environment };
    this.chipId = options.chipId ?? BME280_CHIP_ID;
    this.conversionStatusReads = options.conversionStatusReads ?? 1;
    this.nvmCopyStatusReads = options.nvmCopyStatusReads ?? 1;
    const { blockA, blockB } = encodeCalibration(this.calibration);
    this.registers.set(blockA, Bme280Register.CALIBRATION_A);
    this.registers.set(blockB, Bme280Register.CALIBRATION_B);
    this.powerOnReset();
    this.nvmReadsLeft = 0;
  }

  setEnvironment(environment: Partial<Environment>): void {
    this.environment = { ...this.environment, ...environment };
    this.fixedRaw = undefined;
  }

  /** Serves these ADC values from every conversion until setEnvironment is called. */
  setRaw(raw: Bme280RawSample): void {
    this.fixedRaw = { ...raw };
  }

  read(register: number, length: number): Uint8Array {
    const mode = this.registers[Bme280Register.CTRL_MEAS]! & 0x03;
    if (mode === Bme280Mode.NORMAL && overlaps(register, length, Bme280Register.DATA, DATA_LENGTH)) this.convert();
    const out = new Uint8Array(length);
    for (let index = 0; index < length; index++) out[index] = this.readRegister(register + index);
    return out;
  }

  write(register: number, value: number): void {
    switch (register) {
      case Bme280Register.RESET:
        if (value === BME280_RESET_COMMAND) this.powerOnReset();
        return;
      case Bme280Register.CTRL_HUM:
        this.registers[register] = value & 0x07;
        return;
      case Bme280Register.CTRL_MEAS: {
        this.registers[register] = value;
        this.effectiveHumidityOversampling = this.registers[Bme280Register.CTRL_HUM]! & 0x07;
        const mode = value & 0x03;
        if (mode === 1 || mode === 2) this.startForcedConversion();
        return;
      }
      case Bme280Register.CONFIG:
        this.registers[register] = value & 0xfd; // bit 1 is reserved
        return;
      default:
        // Calibration, id and data registers are read-only; writes are ignored.
        return;
    }
  }

  private readRegister(register: number): number {
    if (register === Bme280Register.CHIP_ID) return this.chipId & 0xff;
    if (register === Bme280Register.RESET) return 0;
    if (register === Bme280Register.STATUS) return this.readStatus();
    if (register >= Bme280Register.DATA && register < Bme280Register.DATA + DATA_LENGTH) {
      return this.data[register - Bme280Register.DATA]!;
    }
    return this.registers[register]!;
  }

  private readStatus(): number {
    let status = 0;
    if (this.nvmReadsLeft > 0) {
      this.nvmReadsLeft -= 1;
      status |= Bme280Status.IM_UPDATE;
    }
    if (this.measuringReadsLeft > 0) {
      this.measuringReadsLeft -= 1;
      status |= Bme280Status.MEASURING;
      if (this.measuringReadsLeft === 0) this.finishForcedConversion();
    }
    return status;
  }

  private startForcedConversion(): void {
    if (this.conversionStatusReads <= 0) {
      this.finishForcedConversion();
      return;
    }
    this.measuringReadsLeft = this.conversionStatusReads;
  }

  private finishForcedConversion(): void {
    this.convert();
    this.conversions += 1;
    // Forced mode returns to sleep when the conversion is done (§3.3.3).
    this.registers[Bme280Register.CTRL_MEAS] = this.registers[Bme280Register.CTRL_MEAS]! & 0xfc;
  }

  /** Puts one conversion of the current environment into the data registers. */
  private convert(): void {
    const ctrlMeas = this.registers[Bme280Register.CTRL_MEAS]!;
    const raw = this.fixedRaw ?? rawForEnvironment(this.environment, this.calibration);
    encodeRawSample(
      {
        adcTemperature: ctrlMeas >> 5 === 0 ? SKIPPED_ADC_TEMPERATURE : raw.adcTemperature,
        adcPressure: ((ctrlMeas >> 2) & 0x07) === 0 ? SKIPPED_ADC_PRESSURE : raw.adcPressure,
        adcHumidity: this.effectiveHumidityOversampling === 0 ? SKIPPED_ADC_HUMIDITY : raw.adcHumidity,
      },
      this.data,
    );
  }

  private powerOnReset(): void {
    this.registers[Bme280Register.CTRL_HUM] = 0;
    this.registers[Bme280Register.CTRL_MEAS] = 0;
    this.registers[Bme280Register.CONFIG] = 0;
    this.effectiveHumidityOversampling = 0;
    this.measuringReadsLeft = 0;
    this.nvmReadsLeft = this.nvmCopyStatusReads;
    encodeRawSample({ adcTemperature: SKIPPED_ADC_TEMPERATURE, adcPressure: SKIPPED_ADC_PRESSURE, adcHumidity: SKIPPED_ADC_HUMIDITY }, this.data);
  }
}

function overlaps(start: number, length: number, otherStart: number, otherLength: number): boolean {
  return start < otherStart + otherLength && otherStart < start + length;
}

function clamp(value: number, [low, high]: readonly [number, number]): number {
  return Math.min(high, Math.max(low, value));
}

/**
 * The ADC values whose compensation comes closest to `environment`. Temperature first
 * (through t_fine, its finest intermediate), because pressure and humidity depend on it.
 */
export function rawForEnvironment(environment: Environment, calibration: Bme280Calibration): Bme280RawSample {
  const targetTFine = clamp(environment.temperatureCelsius, RANGE.temperatureCelsius) * 5120;
  const adcTemperature = invertMonotonic((adc) => compensateTemperature(adc, calibration).tFine, targetTFine, 0, 0xfffff, 'increasing');
  const { tFine } = compensateTemperature(adcTemperature, calibration);
  const targetPressure = clamp(environment.pressureHectopascal, RANGE.pressureHectopascal) * 100 * 256;
  // Read as signed: near adc_P = 2^20 the result goes below zero and the datasheet's
  // unsigned return wraps it to ~2^32; signed, the function is decreasing over the range.
  const adcPressure = invertMonotonic((adc) => compensatePressure(adc, tFine, calibration) | 0, targetPressure, 0, 0xfffff, 'decreasing');
  const targetHumidity = clamp(environment.humidityPercent, RANGE.humidityPercent) * 1024;
  const adcHumidity = invertMonotonic((adc) => compensateHumidity(adc, tFine, calibration), targetHumidity, 0, 0xfffe, 'increasing');
  return { adcTemperature, adcPressure, adcHumidity };
}

/**
 * The integer in [low, high] where the monotonic `f` comes closest to `target`.
 * Binary search, then the neighbours, because the formulas are monotonic only up to
 * rounding.
 */
function invertMonotonic(f: (x: number) => number, target: number, low: number, high: number, direction: 'increasing' | 'decreasing'): number {
  const increasing = direction === 'increasing';
  let lo = low;
  let hi = high;
  while (hi - lo > 1) {
    const middle = Math.floor((lo + hi) / 2);
    const below = increasing ? f(middle) < target : f(middle) > target;
    if (below) lo = middle;
    else hi = middle;
  }
  let best = lo;
  for (let x = Math.max(low, lo - 2); x <= Math.min(high, hi + 2); x++) {
    if (Math.abs(f(x) - target) < Math.abs(f(best) - target)) best = x;
  }
  return best;
}

