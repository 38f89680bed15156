/**
 * `--i2c sim:FILE`: parsing i2cdump output (hal/i2c/i2cdump.ts) and replaying it on the
 * simulated bus (hal/i2c/replay.ts), through the real BME280 driver.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadI2cdumpFile, parseI2cdump } from '../../hal/i2c/i2cdump.ts';
import { createReplayBus, loadReplayBus } from '../../hal/i2c/replay.ts';
import { Bme280Driver } from '../../hal/i2c/bme280-driver.ts';
import { I2cError } from '../../hal/i2c/bus.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/bme280.i2cdump', import.meta.url));
const HEADER = '     0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f    0123456789abcdef';

function row(base: number, cells: string[]): string {
  const padded = [...cells, ...new Array<string>(16 - cells.length).fill('00')];
  return `${base.toString(16).padStart(2, '0')}: ${padded.join(' ')}    ................`;
}

function failureOf(text: string): { line: number; message: string } {
  const result = parseI2cdump(text);
  assert.equal(result.ok, false, 'expected a parse failure');
  return result.ok ? { line: 0, message: '' } : result.error;
}

describe('parseI2cdump', () => {
  it('reads several dumps, each after its # address line', () => {
    const text = [
      '# bench capture',
      '# address 0x76',
      HEADER,
      row(0x00, ['01', '02']),
      row(0xd0, ['60']),
      '',
      '# address 0x77',
      'No size specified (using byte-data access)',
      HEADER,
      row(0xf0, ['XX', 'ab', 'CD']),
    ].join('\n');
    const result = parseI2cdump(text);
    assert.ok(result.ok);
    const [first, second] = result.value;
    assert.equal(result.value.length, 2);
    assert.equal(first?.address, 0x76);
    assert.equal(first?.line, 2);
    assert.equal(first?.registers.length, 256);
    assert.equal(first?.registers[0x01], 0x02);
    assert.equal(first?.registers[0xd0], 0x60);
    assert.equal(first?.registers[0x55], 0); // rows not dumped read as 0
    assert.equal(second?.address, 0x77);
    assert.equal(second?.registers[0xf0], undefined); // XX: unreadable
    assert.equal(second?.registers[0xf1], 0xab);
    assert.equal(second?.registers[0xf2], 0xcd);
  });

  it('accepts CRLF line ends and the ASCII column with any characters', () => {
    const text = `# address 0x76\r\n${HEADER}\r\n00: 41 42 43 00 00 00 00 00 00 00 00 00 00 00 00 00    ABC.. :# x ....\r\n`;
    const result = parseI2cdump(text);
    assert.ok(result.ok);
    assert.deepEqual(result.value[0]?.registers.slice(0, 3), [0x41, 0x42, 0x43]);
  });

  it('names the line of a malformed row', () => {
    const error = failureOf(['# address 0x76', HEADER, row(0x00, []), '10: 00 11 zz 33'].join('\n'));
    assert.equal(error.line, 4);
    assert.match(error.message, /expected a dump row/);
    assert.match(error.message, /10: 00 11 zz 33/);
  });

  it('refuses rows before any # address line', () => {
    const error = failureOf([HEADER, row(0x00, [])].join('\n'));
    assert.equal(error.line, 2);
    assert.match(error.message, /before any '# address/);
  });

  it('refuses bad addresses, duplicates, empty dumps and files without dumps', () => {
    assert.match(failureOf('# address 0x80\n' + row(0, [])).message, /not a 7-bit I2C address/);
    assert.match(failureOf('# address banana\n' + row(0, [])).message, /not a 7-bit/);
    assert.equal(failureOf(['# address 0x76', row(0, []), '# address 0x76', row(0, [])].join('\n')).line, 3);
    assert.equal(failureOf(['# address 0x76', row(0, []), row(0, [])].join('\n')).line, 3);
    assert.match(failureOf(['# address 0x76', row(0x05, [])].join('\n')).message, /multiple of 0x10/);
    const empty = failureOf(['# address 0x76', '# address 0x77', row(0, [])].join('\n'));
    assert.equal(empty.line, 1);
    assert.match(empty.message, /no register rows/);
    assert.match(failureOf('').message, /no '# address/);
  });

  it('refuses word-mode dumps with a hint', () => {
    const text = ['# address 0x76', '     0,8  1,9  2,a  3,b  4,c  5,d  6,e  7,f', '00: 0000 0000 0000 0000 0000 0000 0000 0000'].join('\n');
    const error = failureOf(text);
    assert.equal(error.line, 2);
    assert.match(error.message, /word-mode/);
  });

  it('reports a missing file with its path', async () => {
    await assert.rejects(loadI2cdumpFile('/nonexistent/piwire.i2cdump'), /cannot read i2cdump file \/nonexistent\/piwire.i2cdump/);
  });
});

describe('replaying a register image', () => {
  it('serves the fixture to the BME280 driver, which reads the captured room', async () => {
    const images = await loadI2cdumpFile(FIXTURE);
    assert.deepEqual(images.map((image) => image.address), [0x76]);
    const bus = await loadReplayBus(FIXTURE);
    const driver = new Bme280Driver(bus, { sleep: () => Promise.resolve() });
    const reading = await driver.read();
    // The fixture's header: about 22.4 °C, 1008.6 hPa, 41.2 %RH; its calibration
    // differs from the built-in model's, so this also checks it was read from the dump.
    assert.equal(reading.temperatureCelsius, 22.4);
    assert.ok(Math.abs(reading.pressureHectopascal - 1008.6) <= 0.01);
    assert.ok(Math.abs(reading.humidityPercent - 41.2) <= 0.01);
    assert.equal(driver.calibration?.digT1, 28485);
  });

  it('fails reads of XX registers with EIO and keeps writes', async () => {
    const result = parseI2cdump(['# address 0x40', row(0x00, ['11', 'XX'])].join('\n'));
    assert.ok(result.ok);
    const bus = createReplayBus(result.value);
    assert.deepEqual([...(await bus.readBlock(0x40, 0, 1))], [0x11]);
    await assert.rejects(bus.readBlock(0x40, 0, 2), (error: unknown) => error instanceof I2cError && error.code === 'EIO' && /0x01/.test(error.message));
    await bus.writeByte(0x40, 0x01, 0x22);
    assert.deepEqual([...(await bus.readBlock(0x40, 0, 2))], [0x11, 0x22]);
    await assert.rejects(bus.readBlock(0x41, 0, 1), (error: unknown) => error instanceof I2cError && error.code === 'EREMOTEIO');
  });
});
