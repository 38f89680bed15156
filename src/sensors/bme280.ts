/**
 * The Bosch BME280 (temperature, pressure, humidity) as pure data: its register map,
 * the calibration ("trimming") parameters parsed from raw register bytes, the raw ADC
 * sample parsed from the data registers, and the datasheet's integer compensation.
 *
 * Everything here follows the BME280 datasheet (BST-BME280-DS002):
 * - §5.3, §5.4: register map, ctrl_hum / status / ctrl_meas / config bits;
 * - §4.2.2, table 16: calibration layout at 0x88..0xA1 and 0xE1..0xE7;
 * - §4.2.3 and §8.2: BME280_compensate_T_int32, BME280_compensate_P_int64 and
 *   bme280_compensate_H_int32, reproduced bit for bit: 32-bit products use Math.imul
 *   (two's-complement wrap, what the C code does on the ARM it runs on), the 64-bit
 *   pressure path uses BigInt, and `>>` is an arithmetic shift in both, as in C.
 * - §9.1: the measurement time formula.
 *
 * No I/O: the driver (hal/i2c/bme280-driver.ts) reads the bytes, this module turns them
 * into numbers. Sensor bytes are not trusted: parsers return error values.
 */

export const BME280_CHIP_ID = 0x60;
/** Written to the reset register, starts a power-on reset (§5.4.2). */
export const BME280_RESET_COMMAND = 0xb6;
/** The two addresses the SDO pin selects (§6.2). */
export const BME280_ADDRESSES = [0x76, 0x77] as const;

export const Bme280Register = {
  /** dig_T1 .. dig_H1, 26 bytes (0xA0 is unused). */
  CALIBRATION_A: 0x88,
  CHIP_ID: 0xd0,
  RESET: 0xe0,
  /** dig_H2 .. dig_H6, 7 bytes. */
  CALIBRATION_B: 0xe1,
  CTRL_HUM: 0xf2,
  STATUS: 0xf3,
  CTRL_MEAS: 0xf4,
  CONFIG: 0xf5,
  /** press_msb .. hum_lsb, 8 bytes, read in one burst so they belong to one measurement (§4). */
  DATA: 0xf7,
} as const;
export type Bme280Register = (typeof Bme280Register)[keyof typeof Bme280Register];

export const CALIBRATION_A_LENGTH = 0xa1 - 0x88 + 1;
export const CALIBRATION_B_LENGTH = 0xe7 - 0xe1 + 1;
export const DATA_LENGTH = 0xfe - 0xf7 + 1;

/** Status register bits (§5.4.4). */
export const Bme280Status = {
  /** Set while a conversion runs, cleared when results are in the data registers. */
  MEASURING: 0x08,
  /** Set while the NVM calibration data is being copied to the image registers. */
  IM_UPDATE: 0x01,
} as const;

/** osrs_h / osrs_t / osrs_p codes (§5.4.3, §5.4.5). SKIPPED leaves the value at its reset pattern. */
export const Oversampling = { SKIPPED: 0, X1: 1, X2: 2, X4: 3, X8: 4, X16: 5 } as const;
export type Oversampling = (typeof Oversampling)[keyof typeof Oversampling];

/** ctrl_meas mode[1:0] (§3.3): 01 and 10 are both forced mode. */
export const Bme280Mode = { SLEEP: 0, FORCED: 1, NORMAL: 3 } as const;
export type Bme280Mode = (typeof Bme280Mode)[keyof typeof Bme280Mode];

/** config t_sb[2:0]: the standby time between normal-mode measurements, in ms (§5.4.6, table 27). */
export const STANDBY_MS = [0.5, 62.5, 125, 250, 500, 1000, 10, 20] as const;

/** What a skipped (or never run) measurement leaves in the data registers (§5.4.7..§5.4.9). */
export const SKIPPED_ADC_TEMPERATURE = 0x80000;
export const SKIPPED_ADC_PRESSURE = 0x80000;
export const SKIPPED_ADC_HUMIDITY = 0x8000;

export function ctrlMeasValue(temperature: Oversampling, pressure: Oversampling, mode: Bme280Mode): number {
  return (temperature << 5) | (pressure << 2) | mode;
}

export function configValue(standbyCode: number, filterCode: number): number {
  return ((standbyCode & 0x07) << 5) | ((filterCode & 0x07) << 2);
}

/** The number of samples an oversampling code stands for (0 for skipped). */
export function oversamplingFactor(code: number): number {
  return code <= 0 ? 0 : 1 << (Math.min(code, 5) - 1);
}

/**
 * The maximum time one measurement takes, in ms (§9.1): 1.25 + 2.3·T + (2.3·P + 0.575)
 * + (2.3·H + 0.575), each term only when that quantity is measured.
 */
export function maxMeasurementTimeMs(temperature: number, pressure: number, humidity: number): number {
  const t = oversamplingFactor(temperature);
  const p = oversamplingFactor(pressure);
  const h = oversamplingFactor(humidity);
  return 1.25 + 2.3 * t + (p > 0 ? 2.3 * p + 0.575 : 0) + (h > 0 ? 2.3 * h + 0.575 : 0);
}

/** The trimming parameters, named as in the datasheet (dig_T1 → digT1). */
export interface Bme280Calibration {
  digT1: number; // unsigned 16
  digT2: number; // signed 16
  digT3: number; // signed 16
  digP1: number; // unsigned 16
  digP2: number; // signed 16 ...
  digP3: number;
  digP4: number;
  digP5: number;
  digP6: number;
  digP7: number;
  digP8: number;
  digP9: number;
  digH1: number; // unsigned 8
  digH2: number; // signed 16
  digH3: number; // unsigned 8
  digH4: number; // signed 12
  digH5: number; // signed 12
  digH6: number; // signed 8
}

export type SensorResult<T> = { ok: true; value: T } | { ok: false; error: string };

function u16le(bytes: Uint8Array, offset: number): number {
  return bytes[offset]! | (bytes[offset + 1]! << 8);
}

function s16le(bytes: Uint8Array, offset: number): number {
  return (u16le(bytes, offset) << 16) >> 16;
}

function s8(value: number): number {
  return (value << 24) >> 24;
}

/**
 * Parses the two calibration blocks: `blockA` from 0x88 (26 bytes), `blockB` from 0xE1
 * (7 bytes). dig_H4 and dig_H5 are 12-bit values that share 0xE5 (§4.2.2, table 16):
 * H4 = 0xE4[7:0]·16 + 0xE5[3:0], H5 = 0xE6[7:0]·16 + 0xE5[7:4], the whole-byte halves
 * signed, as Bosch's reference driver reads them.
 *
 * A calibration that cannot come from a working part (dig_T1 or dig_P1 zero: the bus
 * returned zeros; every byte 0xFF: the bus floated high) is refused, because it would
 * turn every later reading into a plausible-looking wrong number.
 */
export function parseCalibration(blockA: Uint8Array, blockB: Uint8Array): SensorResult<Bme280Calibration> {
  if (blockA.length < CALIBRATION_A_LENGTH) return { ok: false, error: `calibration block 0x88 has ${blockA.length} bytes, need ${CALIBRATION_A_LENGTH}` };
  if (blockB.length < CALIBRATION_B_LENGTH) return { ok: false, error: `calibration block 0xE1 has ${blockB.length} bytes, need ${CALIBRATION_B_LENGTH}` };
  const a = blockA.subarray(0, CALIBRATION_A_LENGTH);
  const b = blockB.subarray(0, CALIBRATION_B_LENGTH);
  if (a.every((byte) => byte === 0xff) && b.every((byte) => byte === 0xff)) {
    return { ok: false, error: 'calibration reads all 0xFF (bus floating?)' };
  }
  const calibration: Bme280Calibration = {
    digT1: u16le(a, 0),
    digT2: s16le(a, 2),
    digT3: s16le(a, 4),
    digP1: u16le(a, 6),
    digP2: s16le(a, 8),
    digP3: s16le(a, 10),
    digP4: s16le(a, 12),
    digP5: s16le(a, 14),
    digP6: s16le(a, 16),
    digP7: s16le(a, 18),
    digP8: s16le(a, 20),
    digP9: s16le(a, 22),
    // a[24] is 0xA0, unused.
    digH1: a[25]!,
    digH2: s16le(b, 0),
    digH3: b[2]!,
    digH4: s8(b[3]!) * 16 + (b[4]! & 0x0f),
    digH5: s8(b[5]!) * 16 + (b[4]! >> 4),
    digH6: s8(b[6]!),
  };
  if (calibration.digT1 === 0) return { ok: false, error: 'calibration dig_T1 is 0' };
  if (calibration.digP1 === 0) return { ok: false, error: 'calibration dig_P1 is 0' };
  return { ok: true, value: calibration };
}

/** The inverse of parseCalibration: the register bytes a part with `calibration` holds (for device models). */
export function encodeCalibration(calibration: Bme280Calibration): { blockA: Uint8Array; blockB: Uint8Array } {
  const blockA = new Uint8Array(CALIBRATION_A_LENGTH);
  const blockB = new Uint8Array(CALIBRATION_B_LENGTH);
  const put16 = (bytes: Uint8Array, offset: number, value: number): void => {
    bytes[offset] = value & 0xff;
    bytes[offset + 1] = (value >> 8) & 0xff;
  };
  const words = [
    calibration.digT1, calibration.digT2, calibration.digT3,
    calibration.digP1, calibration.digP2, calibration.digP3, calibration.digP4, calibration.digP5,
    calibration.digP6, calibration.digP7, calibration.digP8, calibration.digP9,
  ];
  words.forEach((value, index) => put16(blockA, index * 2, value));
  blockA[25] = calibration.digH1 & 0xff;
  put16(blockB, 0, calibration.digH2);
  blockB[2] = calibration.digH3 & 0xff;
  // digH4 = msb·16 + low nibble, msb signed: floor division keeps negative values exact.
  blockB[3] = Math.floor(calibration.digH4 / 16) & 0xff;
  blockB[4] = (calibration.digH4 & 0x0f) | ((calibration.digH5 & 0x0f) << 4);
  blockB[5] = Math.floor(calibration.digH5 / 16) & 0xff;
  blockB[6] = calibration.digH6 & 0xff;
  return { blockA, blockB };
}

/** The three ADC values of one measurement: 20-bit temperature and pressure, 16-bit humidity. */
export interface Bme280RawSample {
  adcTemperature: number;
  adcPressure: number;
  adcHumidity: number;
}

/** Reads the 8 data bytes from 0xF7 (§5.4.7..§5.4.9): msb, lsb, xlsb[7:4] for P and T; msb, lsb for H. */
export function parseRawSample(data: Uint8Array): SensorResult<Bme280RawSample> {
  if (data.length < DATA_LENGTH) return { ok: false, error: `data block has ${data.length} bytes, need ${DATA_LENGTH}` };
  return {
    ok: true,
    value: {
      adcPressure: (data[0]! << 12) | (data[1]! << 4) | (data[2]! >> 4),
      adcTemperature: (data[3]! << 12) | (data[4]! << 4) | (data[5]! >> 4),
      adcHumidity: (data[6]! << 8) | data[7]!,
    },
  };
}

/** The inverse of parseRawSample, into `out` (8 bytes). */
export function encodeRawSample(raw: Bme280RawSample, out: Uint8Array = new Uint8Array(DATA_LENGTH)): Uint8Array {
  out[0] = (raw.adcPressure >> 12) & 0xff;
  out[1] = (raw.adcPressure >> 4) & 0xff;
  out[2] = (raw.adcPressure & 0x0f) << 4;
  out[3] = (raw.adcTemperature >> 12) & 0xff;
  out[4] = (raw.adcTemperature >> 4) & 0xff;
  out[5] = (raw.adcTemperature & 0x0f) << 4;
  out[6] = (raw.adcHumidity >> 8) & 0xff;
  out[7] = raw.adcHumidity & 0xff;
  return out;
}

export interface CompensatedTemperature {
  /** Degrees Celsius in units of 0.01: 5123 is 51.23 °C. */
  centiCelsius: number;
  /** The "fine temperature" the pressure and humidity formulas take as input. */
  tFine: number;
}

/** BME280_compensate_T_int32 (§4.2.3). */
export function compensateTemperature(adcTemperature: number, calibration: Bme280Calibration): CompensatedTemperature {
  const adcT = adcTemperature | 0;
  const t1 = calibration.digT1 | 0;
  const var1 = Math.imul(((adcT >> 3) - (t1 << 1)) | 0, calibration.digT2) >> 11;
  const delta = ((adcT >> 4) - t1) | 0;
  const var2 = Math.imul(Math.imul(delta, delta) >> 12, calibration.digT3) >> 14;
  const tFine = (var1 + var2) | 0;
  const centiCelsius = (Math.imul(tFine, 5) + 128) >> 8;
  return { centiCelsius, tFine };
}

/**
 * BME280_compensate_P_int64 (§4.2.3): pressure in Pa as an unsigned Q24.8 number
 * (24674867 is 24674867/256 = 96386.2 Pa). Returns 0 where the datasheet does, when
 * the calibration would divide by zero.
 */
export function compensatePressure(adcPressure: number, tFine: number, calibration: Bme280Calibration): number {
  const c = calibration;
  let var1 = BigInt(tFine) - 128000n;
  let var2 = var1 * var1 * BigInt(c.digP6);
  var2 = var2 + ((var1 * BigInt(c.digP5)) << 17n);
  var2 = var2 + (BigInt(c.digP4) << 35n);
  var1 = ((var1 * var1 * BigInt(c.digP3)) >> 8n) + ((var1 * BigInt(c.digP2)) << 12n);
  var1 = (((1n << 47n) + var1) * BigInt(c.digP1)) >> 33n;
  if (var1 === 0n) return 0;
  let p = 1048576n - BigInt(adcPressure | 0);
  // C's 64-bit division truncates toward zero, and so does BigInt's.
  p = (((p << 31n) - var2) * 3125n) / var1;
  var1 = (BigInt(c.digP9) * (p >> 13n) * (p >> 13n)) >> 25n;
  var2 = (BigInt(c.digP8) * p) >> 19n;
  p = ((p + var1 + var2) >> 8n) + (BigInt(c.digP7) << 4n);
  return Number(BigInt.asUintN(32, p));
}

/**
 * bme280_compensate_H_int32 (§4.2.3): relative humidity in %RH as an unsigned Q22.10
 * number (47445 is 47445/1024 = 46.333 %RH), clamped to 0..100 %RH.
 */
export function compensateHumidity(adcHumidity: number, tFine: number, calibration: Bme280Calibration): number {
  const c = calibration;
  const adcH = adcHumidity | 0;
  let x = (tFine - 76800) | 0;
  const left = ((((adcH << 14) - (c.digH4 << 20) - Math.imul(c.digH5, x)) | 0) + 16384) >> 15;
  const inner = Math.imul(Math.imul(x, c.digH6) >> 10, ((Math.imul(x, c.digH3) >> 11) + 32768) | 0) >> 10;
  const right = (Math.imul((inner + 2097152) | 0, c.digH2) + 8192) >> 14;
  x = Math.imul(left, right);
  x = (x - (Math.imul(Math.imul(x >> 15, x >> 15) >> 7, c.digH1) >> 4)) | 0;
  x = x < 0 ? 0 : x;
  x = x > 419430400 ? 419430400 : x;
  return x >>> 12;
}

export interface Bme280Reading {
  temperatureCelsius: number;
  pressureHectopascal: number;
  humidityPercent: number;
  /** The integer results the floating-point values come from (datasheet units). */
  centiCelsius: number;
  pressureQ24_8: number;
  humidityQ22_10: number;
}

/**
 * Compensates one raw sample. A quantity whose ADC value is the skipped pattern means
 * the measurement did not run (wrong oversampling setting, or a read before the first
 * conversion finished), which is an error, not a reading of -40 °C.
 */
export function compensate(raw: Bme280RawSample, calibration: Bme280Calibration): SensorResult<Bme280Reading> {
  if (raw.adcTemperature === SKIPPED_ADC_TEMPERATURE) return { ok: false, error: 'temperature measurement skipped (no conversion yet?)' };
  if (raw.adcPressure === SKIPPED_ADC_PRESSURE) return { ok: false, error: 'pressure measurement skipped' };
  if (raw.adcHumidity === SKIPPED_ADC_HUMIDITY) return { ok: false, error: 'humidity measurement skipped' };
  const temperature = compensateTemperature(raw.adcTemperature, calibration);
  const pressure = compensatePressure(raw.adcPressure, temperature.tFine, calibration);
  if (pressure === 0) return { ok: false, error: 'pressure compensation divides by zero (bad calibration)' };
  const humidity = compensateHumidity(raw.adcHumidity, temperature.tFine, calibration);
  return {
    ok: true,
    value: {
      temperatureCelsius: temperature.centiCelsius / 100,
      // Q24.8 Pa → Pa → hPa.
      pressureHectopascal: pressure / 256 / 100,
      humidityPercent: humidity / 1024,
      centiCelsius: temperature.centiCelsius,
      pressureQ24_8: pressure,
      humidityQ22_10: humidity,
    },
  };
}
