/**
 * Fuzz target: the `i2cdump` parser (hal/i2c/i2cdump.ts) on an untrusted file (a dump a
 * technician copied off a device, `--i2c sim:FILE`).
 *
 * Invariants: never throws; a parsed image has a 7-bit address and 256 registers, each
 * a byte or undefined (XX); an error names a line inside the text.
 */
import { parseI2cdump } from '../../../hal/i2c/i2cdump.ts';
import { invariant } from './invariant.ts';

export function fuzz(data: Buffer): void {
  const text = data.toString('utf8');
  const result = parseI2cdump(text);
  if (!result.ok) {
    const lines = text.split('\n').length;
    invariant(Number.isInteger(result.error.line) && result.error.line >= 0 && result.error.line <= lines + 1, `error on line ${result.error.line} of ${lines}`);
    return;
  }
  for (const image of result.value) {
    invariant(Number.isInteger(image.address) && image.address >= 0 && image.address <= 0x7f, `address ${image.address}`);
    invariant(image.registers.length === 256, `${image.registers.length} registers`);
    for (const value of image.registers) invariant(value === undefined || (Number.isInteger(value) && value >= 0 && value <= 255), `register value ${value}`);
  }
}
