/**
 * The BME280 driver: from an I2cBus to compensated readings.
 *
 * Call order: `read()` whenever a reading is wanted; it initializes the part first if
 * needed. Initialization (datasheet BST-BME280-DS002 §5.4, §7):
 *   1. read chip id 0xD0, refuse anything but 0x60 (a BMP280 answers 0x58 and has no
 *      humidity; a different part at 0x76 would give nonsense);
 *   2. optionally soft-reset (0xB6 to 0xE0) and wait for status im_update to clear,
 *      so the part starts from known register contents;
 *   3. read the calibration words (0x88..0xA1, 0xE1..0xE7) and check them;
 *   4. config (standby, filter off) while in sleep mode, since writes to config in
 *      normal mode may be ignored (§5.4.6); then ctrl_hum before ctrl_meas, because
 *      ctrl_hum only takes effect with a ctrl_meas write (§5.4.3).
 * A forced-mode read (§3.3.3) writes ctrl_meas with mode 01, waits the maximum
 * measurement time (§9.1), polls status bit 3 (measuring) a bounded number of times,
 * then reads the 8 data bytes in one burst (so they come from one conversion, §4) and
 * compensates them (src/sensors/bme280.ts). A normal-mode read only reads the data.
 *
 * Any failure makes the next read start from step 1: after a NACK or a reset of the
 * part (brown-out), the calibration and the control registers cannot be trusted, and
 * a sensor swapped in the field has other calibration words.
 *
 * Oversampling is x1 for all three quantities and the IIR filter is off: the
 * datasheet's recommendation for weather monitoring (§3.5.1).
 */
import {
  BME280_CHIP_ID,
  BME280_RESET_COMMAND,
  Bme280Mode,
  Bme280Register,
  Bme280Status,
  CALIBRATION_A_LENGTH,
  CALIBRATION_B_LENGTH,
  compensate,
  configValue,
  ctrlMeasValue,
  DATA_LENGTH,
  maxMeasurementTimeMs,
  Oversampling,
  parseCalibration,
  parseRawSample,
  type Bme280Calibration,
  type Bme280Reading,
} from '../../src/sensors/bme280.ts';
import { formatHex, type I2cBus } from './bus.ts';

export const Bme280ErrorCode = {
  /** The part at the address is not a BME280. */
  WRONG_CHIP_ID: 'EWRONGCHIP',
  /** The calibration words are impossible (zeros, all ones). */
  BAD_CALIBRATION: 'EBADCALIBRATION',
  /** The measuring / im_update bit did not clear within the poll bound. */
  BUSY: 'EBUSY',
  /** A quantity was not measured (skipped pattern in the data registers). */
  NO_DATA: 'ENODATA',
} as const;
export type Bme280ErrorCode = (typeof Bme280ErrorCode)[keyof typeof Bme280ErrorCode];

export class Bme280Error extends Error {
  readonly code: Bme280ErrorCode;
  constructor(code: Bme280ErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'Bme280Error';
    this.code = code;
  }
}

export type Bme280DriverMode = 'forced' | 'normal';

export interface Bme280DriverOptions {
  /** 0x76 (SDO to GND, the usual breakout) or 0x77. */
  address?: number;
  /** Default 'forced': one conversion per read, the part sleeps in between (§3.5.1). */
  mode?: Bme280DriverMode;
  /** Soft-reset during initialization. Default true. */
  softReset?: boolean;
  /** Normal mode only: t_sb code (§5.4.6). Default 5 (1000 ms). */
  standbyCode?: number;
  /** How many times status is polled before giving up. Default 20. */
  maxStatusPolls?: number;
  /** Delay between status polls, ms. Default 2. */
  pollIntervalMs?: number;
  /** Waits `ms`; injected so tests run without real time. Default: setTimeout. */
  sleep?: (ms: number) => Promise<void>;
}

export const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Start-up time after power-on or soft reset (§1, table 1: 2 ms). */
const STARTUP_MS = 2;

export class Bme280Driver {
  readonly address: number;
  private readonly mode: Bme280DriverMode;
  private readonly softReset: boolean;
  private readonly standbyCode: number;
  private readonly maxStatusPolls: number;
  private readonly pollIntervalMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private calibrationWords: Bme280Calibration | undefined;

  constructor(
    private readonly bus: I2cBus,
    options: Bme280DriverOptions = {},
  ) {
    this.address = options.address ?? 0x76;
    this.mode = options.mode ?? 'forced';
    this.softReset = options.softReset ?? true;
    this.standbyCode = options.standbyCode ?? 5;
    this.maxStatusPolls = options.maxStatusPolls ?? 20;
    this.pollIntervalMs = options.pollIntervalMs ?? 2;
    this.sleep = options.sleep ?? defaultSleep;
  }

  /** 'bme280@0x76': how logs and fault texts name this sensor. */
  get name(): string {
    return `bme280@${formatHex(this.address)}`;
  }

  /** The calibration in use, once initialized. */
  get calibration(): Bme280Calibration | undefined {
    return this.calibrationWords;
  }

  get initialized(): boolean {
    return this.calibrationWords !== undefined;
  }

  /** Forgets the part's state: the next read initializes again. */
  invalidate(): void {
    this.calibrationWords = undefined;
  }

  async initialize(): Promise<void> {
    this.calibrationWords = undefined;
    const [chipId] = await this.bus.readBlock(this.address, Bme280Register.CHIP_ID, 1);
    if (chipId !== BME280_CHIP_ID) {
      const hint = chipId === 0x58 ? ' (a BMP280: no humidity)' : chipId === 0x61 ? ' (a BME680)' : '';
      throw new Bme280Error(Bme280ErrorCode.WRONG_CHIP_ID, `${this.name}: chip id ${formatHex(chipId ?? 0)}${hint}, expected ${formatHex(BME280_CHIP_ID)}`);
    }
    if (this.softReset) {
      await this.bus.writeByte(this.address, Bme280Register.RESET, BME280_RESET_COMMAND);
      await this.sleep(STARTUP_MS);
      await this.waitWhileStatus(Bme280Status.IM_UPDATE, 'calibration copy (im_update)');
    }
    const blockA = await this.bus.readBlock(this.address, Bme280Register.CALIBRATION_A, CALIBRATION_A_LENGTH);
    const blockB = await this.bus.readBlock(this.address, Bme280Register.CALIBRATION_B, CALIBRATION_B_LENGTH);
    const calibration = parseCalibration(blockA, blockB);
    if (!calibration.ok) throw new Bme280Error(Bme280ErrorCode.BAD_CALIBRATION, `${this.name}: ${calibration.error}`);
    // Sleep mode first: config writes in normal mode may be ignored (§5.4.6).
    await this.bus.writeByte(this.address, Bme280Register.CTRL_MEAS, ctrlMeasValue(Oversampling.X1, Oversampling.X1, Bme280Mode.SLEEP));
    await this.bus.writeByte(this.address, Bme280Register.CONFIG, configValue(this.standbyCode, 0));
    await this.bus.writeByte(this.address, Bme280Register.CTRL_HUM, Oversampling.X1);
    if (this.mode === 'normal') {
      await this.bus.writeByte(this.address, Bme280Register.CTRL_MEAS, ctrlMeasValue(Oversampling.X1, Oversampling.X1, Bme280Mode.NORMAL));
      // The first conversion has to finish before the data registers hold a result.
      await this.sleep(maxMeasurementTimeMs(Oversampling.X1, Oversampling.X1, Oversampling.X1));
      await this.waitWhileStatus(Bme280Status.MEASURING, 'first conversion');
    }
    this.calibrationWords = calibration.value;
  }

  /** One compensated reading; initializes first when needed. Rejects on any failure. */
  async read(): Promise<Bme280Reading> {
    try {
      if (!this.calibrationWords) await this.initialize();
      if (this.mode === 'forced') {
        await this.bus.writeByte(this.address, Bme280Register.CTRL_MEAS, ctrlMeasValue(Oversampling.X1, Oversampling.X1, Bme280Mode.FORCED));
        await this.sleep(maxMeasurementTimeMs(Oversampling.X1, Oversampling.X1, Oversampling.X1));
        await this.waitWhileStatus(Bme280Status.MEASURING, 'conversion (measuring)');
      }
      const data = await this.bus.readBlock(this.address, Bme280Register.DATA, DATA_LENGTH);
      const raw = parseRawSample(data);
      if (!raw.ok) throw new Bme280Error(Bme280ErrorCode.NO_DATA, `${this.name}: ${raw.error}`);
      const calibration = this.calibrationWords;
      if (!calibration) throw new Bme280Error(Bme280ErrorCode.BAD_CALIBRATION, `${this.name}: not initialized`);
      const reading = compensate(raw.value, calibration);
      if (!reading.ok) throw new Bme280Error(Bme280ErrorCode.NO_DATA, `${this.name}: ${reading.error}`);
      return reading.value;
    } catch (error) {
      this.invalidate();
      throw error;
    }
  }

  private async waitWhileStatus(bits: number, what: string): Promise<void> {
    for (let poll = 0; poll < this.maxStatusPolls; poll++) {
      const [status] = await this.bus.readBlock(this.address, Bme280Register.STATUS, 1);
      if (((status ?? 0) & bits) === 0) return;
      await this.sleep(this.pollIntervalMs);
    }
    throw new Bme280Error(Bme280ErrorCode.BUSY, `${this.name}: ${what} did not finish after ${this.maxStatusPolls} status polls`);
  }
}
