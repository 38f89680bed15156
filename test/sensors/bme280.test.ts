/**
 * The BME280 compensation (src/sensors/bme280.ts) against the Bosch datasheet.
 *
 * Two kinds of check:
 * - a worked example whose every intermediate is written out below, so the integer
 *   path must give exactly these integers;
 * - an independent floating-point implementation of the datasheet's double-precision
 *   formulas (BST-BME280-DS002 §8.1), written here from the datasheet, compared with the
 *   integer path over a grid of raw values within the datasheet's resolution.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  compensate,
  compensateHumidity,
  compensatePressure,
  compensateTemperature,
  encodeCalibration,
  encodeRawSample,
  maxMeasurementTimeMs,
  parseCalibration,
  parseRawSample,
  type Bme280Calibration,
} from '../../src/sensors/bme280.ts';

/**
 * Temperature and pressure words: the worked example of Bosch's BMP280 datasheet
 * (BST-BMP280-DS001 §3.12, same formulas as the BME280). Humidity words: typical of
 * BME280 parts (dig_H3 = 0 is common).
 */
const EXAMPLE: Bme280Calibration = {
  digT1: 27504, digT2: 26435, digT3: -1000,
  digP1: 36477, digP2: -10685, digP3: 3024, digP4: 2855, digP5: 140, digP6: -7, digP7: 15500, digP8: -14600, digP9: 6000,
  digH1: 75, digH2: 362, digH3: 0, digH4: 313, digH5: 50, digH6: 30,
};

/** Another plausible part, with a non-zero dig_H3 and negative dig_H5 / dig_H6 to exercise the signs. */
const SECOND: Bme280Calibration = {
  digT1: 28485, digT2: 26735, digT3: 50,
  digP1: 37517, digP2: -10588, digP3: 3024, digP4: 7919, digP5: -145, digP6: -7, digP7: 9900, digP8: -10230, digP9: 4285,
  digH1: 75, digH2: 367, digH3: 12, digH4: 302, digH5: -30, digH6: -12,
};

// --- the datasheet's double-precision formulas (§8.1), independent of the code under test ---

function temperatureDouble(adcT: number, c: Bme280Calibration): { celsius: number; tFine: number } {
  const var1 = (adcT / 16384.0 - c.digT1 / 1024.0) * c.digT2;
  const var2 = (adcT / 131072.0 - c.digT1 / 8192.0) * (adcT / 131072.0 - c.digT1 / 8192.0) * c.digT3;
  return { celsius: (var1 + var2) / 5120.0, tFine: Math.trunc(var1 + var2) };
}

function pressureDouble(adcP: number, tFine: number, c: Bme280Calibration): number {
  let var1 = tFine / 2.0 - 64000.0;
  let var2 = (var1 * var1 * c.digP6) / 32768.0;
  var2 = var2 + var1 * c.digP5 * 2.0;
  var2 = var2 / 4.0 + c.digP4 * 65536.0;
  var1 = ((c.digP3 * var1 * var1) / 524288.0 + c.digP2 * var1) / 524288.0;
  var1 = (1.0 + var1 / 32768.0) * c.digP1;
  if (var1 === 0) return 0;
  let p = 1048576.0 - adcP;
  p = ((p - var2 / 4096.0) * 6250.0) / var1;
  var1 = (c.digP9 * p * p) / 2147483648.0;
  var2 = (p * c.digP8) / 32768.0;
  return p + (var1 + var2 + c.digP7) / 16.0;
}

function humidityDouble(adcH: number, tFine: number, c: Bme280Calibration): number {
  let h = tFine - 76800.0;
  h = (adcH - (c.digH4 * 64.0 + (c.digH5 / 16384.0) * h)) * ((c.digH2 / 65536.0) * (1.0 + (c.digH6 / 67108864.0) * h * (1.0 + (c.digH3 / 67108864.0) * h)));
  h = h * (1.0 - (c.digH1 * h) / 524288.0);
  return Math.min(100, Math.max(0, h));
}

describe('BME280 calibration parsing', () => {
  it('reads the little-endian words and the split 12-bit dig_H4 / dig_H5', () => {
    // 0x88..0xA1
    const blockA = Uint8Array.from([
      0x70, 0x6b, // dig_T1 = 0x6b70 = 27504
      0x43, 0x67, // dig_T2 = 0x6743 = 26435
      0x18, 0xfc, // dig_T3 = 0xfc18 = -1000
      0x7d, 0x8e, // dig_P1 = 0x8e7d = 36477
      0x43, 0xd6, // dig_P2 = 0xd643 = -10685
      0xd0, 0x0b, // dig_P3 = 0x0bd0 = 3024
      0x27, 0x0b, // dig_P4 = 0x0b27 = 2855
      0x8c, 0x00, // dig_P5 = 140
      0xf9, 0xff, // dig_P6 = -7
      0x8c, 0x3c, // dig_P7 = 0x3c8c = 15500
      0xf8, 0xc6, // dig_P8 = 0xc6f8 = -14600
      0x70, 0x17, // dig_P9 = 0x1770 = 6000
      0x00, //       0xA0 unused
      0x4b, //       dig_H1 = 75
    ]);
    // 0xE1..0xE7
    const blockB = Uint8Array.from([
      0x6a, 0x01, // dig_H2 = 0x016a = 362
      0x00, //       dig_H3 = 0
      0x13, //       0xE4: dig_H4[11:4] = 0x13
      0x29, //       0xE5: dig_H5[3:0] = 0x2, dig_H4[3:0] = 0x9 → dig_H4 = 0x139 = 313
      0x03, //       0xE6: dig_H5[11:4] = 0x03 → dig_H5 = 0x032 = 50
      0x1e, //       dig_H6 = 30
    ]);
    const parsed = parseCalibration(blockA, blockB);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.value, EXAMPLE);
    const encoded = encodeCalibration(EXAMPLE);
    assert.deepEqual(encoded.blockA, blockA);
    assert.deepEqual(encoded.blockB, blockB);
  });

  it('keeps the sign of negative dig_H4 / dig_H5 / dig_H6 through encode and parse', () => {
    const calibration = { ...SECOND, digH4: -300, digH5: -2048, digH6: -128 };
    const { blockA, blockB } = encodeCalibration(calibration);
    // -300 = 0xED4 (12-bit): 0xE4 = 0xED, low nibble 4; -2048 = 0x800: 0xE6 = 0x80, nibble 0.
    assert.deepEqual([...blockB.subarray(3, 7)], [0xed, 0x04, 0x80, 0x80]);
    const parsed = parseCalibration(blockA, blockB);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.value, calibration);
  });

  it('refuses calibrations no working part has, and short blocks', () => {
    const { blockA, blockB } = encodeCalibration(EXAMPLE);
    assert.deepEqual(parseCalibration(new Uint8Array(26).fill(0xff), new Uint8Array(7).fill(0xff)).ok, false);
    const zeroT1 = Uint8Array.from(blockA);
    zeroT1[0] = 0;
    zeroT1[1] = 0;
    const result = parseCalibration(zeroT1, blockB);
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.error, /dig_T1/);
    assert.equal(parseCalibration(blockA.subarray(0, 25), blockB).ok, false);
    assert.equal(parseCalibration(blockA, blockB.subarray(0, 6)).ok, false);
  });
});

describe('BME280 raw data registers', () => {
  it('assembles 20-bit pressure and temperature and 16-bit humidity (§5.4.7..9)', () => {
    // 0xF7..0xFE
    const data = Uint8Array.from([
      0x65, 0x5a, 0xc0, // press msb, lsb, xlsb[7:4] → 0x655ac = 415148
      0x7e, 0xed, 0x00, // temp → 0x7eed0 = 519888
      0x75, 0x30, //       hum → 0x7530 = 30000
    ]);
    const raw = parseRawSample(data);
    assert.ok(raw.ok);
    assert.deepEqual(raw.value, { adcPressure: 415148, adcTemperature: 519888, adcHumidity: 30000 });
    assert.deepEqual(encodeRawSample(raw.value), data);
    assert.equal(parseRawSample(data.subarray(0, 7)).ok, false);
  });
});

describe('BME280 integer compensation: worked example', () => {
  // adc_T = 519888, adc_P = 415148 (BMP280 datasheet §3.12), adc_H = 30000.
  it('temperature: BME280_compensate_T_int32', () => {
    // var1 = ((519888>>3) - (27504<<1)) * 26435 >> 11 = (64986 - 55008) * 26435 >> 11
    //      = 263768430 >> 11 = 128793
    // var2 = (((519888>>4) - 27504)^2 >> 12) * -1000 >> 14 = ((32493-27504)^2 >> 12) * -1000 >> 14
    //      = (24890121 >> 12 = 6076) * -1000 >> 14 = -6076000 >> 14 = -371 (floor of -370.85)
    // t_fine = 128793 - 371 = 128422;  T = (128422*5 + 128) >> 8 = 642238 >> 8 = 2508 → 25.08 °C,
    // the datasheet's t_fine and temperature for this example.
    const result = compensateTemperature(519888, EXAMPLE);
    assert.deepEqual(result, { centiCelsius: 2508, tFine: 128422 });
  });

  it('pressure: BME280_compensate_P_int64', () => {
    // With t_fine = 128422, in 64-bit integers:
    // var1 = 128422 - 128000 = 422
    // var2 = 422²·(-7) + (422·140 << 17) + (2855 << 35)
    //      = -1246588 + 7743733760 + 98097053040640 = 98104795527812
    // var1 = (422²·3024 >> 8) + (422·(-10685) << 12) = 2103617 - 18469150720 = -18467047103
    // var1 = ((1 << 47) + var1)·36477 >> 33 = 140719021308225·36477 >> 33
    //      = 5133007740260123325 >> 33 = 597560748
    // p = 1048576 - 415148 = 633428
    // p = ((633428 << 31) - var2)·3125 / var1 = 3944285864554787500 / 597560748 = 6600644165
    // var1 = 6000·(p >> 13)² >> 25 = 6000·805742² >> 25 = 116089612
    // var2 = -14600·p >> 19 = -183810053
    // p = ((6600644165 + 116089612 - 183810053) >> 8) + (15500 << 4) = 25519233 + 248000
    //   = 25767233 (Q24.8) = 100653.254 Pa; the datasheet's double result for this
    //   example is 100653.27 Pa.
    assert.equal(compensatePressure(415148, 128422, EXAMPLE), 25767233);
    assert.ok(Math.abs(25767233 / 256 - pressureDouble(415148, 128422, EXAMPLE)) < 0.1);
  });

  it('humidity: bme280_compensate_H_int32', () => {
    // v = t_fine - 76800 = 51622
    // left  = ((30000<<14) - (313<<20) - 50·51622 + 16384) >> 15
    //       = (491520000 - 328204288 - 2581100 + 16384) >> 15 = 160750996 >> 15 = 4905
    // inner = ((51622·30 >> 10) · ((51622·0 >> 11) + 32768)) >> 10 = (1512 · 32768) >> 10 = 48384
    // right = ((48384 + 2097152) · 362 + 8192) >> 14 = 776692224 >> 14 = 47405
    // v = 4905 · 47405 = 232521525
    // v -= ((((v>>15)·(v>>15)) >> 7) · 75) >> 4 = ((7095² >> 7 = 393273) · 75) >> 4 = 1843467
    // v = 230678058; H = v >> 12 = 56317 → 56317/1024 = 54.997 %RH
    assert.equal(compensateHumidity(30000, 128422, EXAMPLE), 56317);
  });

  it('compensate() puts them together in °C, hPa and %RH', () => {
    const reading = compensate({ adcTemperature: 519888, adcPressure: 415148, adcHumidity: 30000 }, EXAMPLE);
    assert.ok(reading.ok);
    assert.equal(reading.value.temperatureCelsius, 25.08);
    assert.equal(reading.value.pressureHectopascal, 25767233 / 25600);
    assert.equal(reading.value.humidityPercent, 56317 / 1024);
  });

  it('clamps humidity to 0..100 %RH', () => {
    assert.equal(compensateHumidity(0, 128422, EXAMPLE), 0);
    assert.equal(compensateHumidity(65535, 128422, EXAMPLE), 100 * 1024);
  });

  it('refuses skipped measurements instead of reporting -40 °C', () => {
    const base = { adcTemperature: 519888, adcPressure: 415148, adcHumidity: 30000 };
    assert.equal(compensate({ ...base, adcTemperature: 0x80000 }, EXAMPLE).ok, false);
    assert.equal(compensate({ ...base, adcPressure: 0x80000 }, EXAMPLE).ok, false);
    assert.equal(compensate({ ...base, adcHumidity: 0x8000 }, EXAMPLE).ok, false);
  });

  it('returns 0 where the datasheet avoids a division by zero', () => {
    assert.equal(compensatePressure(415148, 128422, { ...EXAMPLE, digP1: 0 }), 0);
  });
});

describe('BME280 integer compensation against the double-precision formulas', () => {
  for (const [label, calibration] of [['example part', EXAMPLE], ['second part', SECOND]] as const) {
    it(`agrees within the datasheet resolution (${label})`, () => {
      let checked = 0;
      for (let adcT = 380000; adcT <= 620000; adcT += 12000) {
        const integer = compensateTemperature(adcT, calibration);
        const double = temperatureDouble(adcT, calibration);
        // 0.01 °C resolution; both paths truncate at their own step, so allow one step.
        assert.ok(Math.abs(integer.centiCelsius / 100 - double.celsius) <= 0.01, `T at adc ${adcT}`);
        // t_fine is 1/5120 °C; the integer path floors twice (>> 11, >> 14) where the double path does not.
        assert.ok(Math.abs(integer.tFine - double.tFine) <= 2, `t_fine at adc ${adcT}`);
        for (let adcP = 250000; adcP <= 600000; adcP += 35000) {
          const pascal = compensatePressure(adcP, integer.tFine, calibration) / 256;
          const pascalDouble = pressureDouble(adcP, integer.tFine, calibration);
          if (pascalDouble < 30000 || pascalDouble > 110000) continue; // outside the operating range
          // The brief asks for ~0.01 hPa (1 Pa); the 64-bit path does far better (< 0.01 Pa
          // seen), so hold it to 0.1 Pa to catch a subtly wrong term.
          assert.ok(Math.abs(pascal - pascalDouble) <= 0.1, `P at adc ${adcP}, ${pascal} vs ${pascalDouble}`);
          checked += 1;
        }
        for (let adcH = 15000; adcH <= 45000; adcH += 2500) {
          const percent = compensateHumidity(adcH, integer.tFine, calibration) / 1024;
          const percentDouble = humidityDouble(adcH, integer.tFine, calibration);
          // The datasheet's humidity resolution is 0.008 %RH (table 2); the integer formula
          // floors in several places, up to ~7/1024 %RH seen.
          assert.ok(Math.abs(percent - percentDouble) <= 0.008, `H at adc ${adcH}, ${percent} vs ${percentDouble}`);
        }
      }
      assert.ok(checked > 50, `only ${checked} pressure points in range`);
    });
  }
});

describe('BME280 measurement time', () => {
  it('follows §9.1 for x1 oversampling of all three', () => {
    // 1.25 + 2.3 + (2.3 + 0.575) + (2.3 + 0.575) = 9.3 ms
    assert.ok(Math.abs(maxMeasurementTimeMs(1, 1, 1) - 9.3) < 1e-9);
    assert.ok(Math.abs(maxMeasurementTimeMs(1, 0, 0) - 3.55) < 1e-9);
  });
});
