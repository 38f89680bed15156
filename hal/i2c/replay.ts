/**
 * Replaying a real device's registers (`--i2c sim:FILE`, SPEC §7): a device model that
 * serves a register image captured with i2cdump (hal/i2c/i2cdump.ts).
 *
 * The model knows nothing about the part: reads return the captured bytes, and writes
 * are kept (a driver that writes a control register reads its own value back, as on
 * the real part), so the driver code path is the one it runs on the device. A
 * register the dump shows as XX fails every read with EIO, as it did when the dump
 * was taken. What it cannot replay is behaviour: a captured BME280 answers every
 * measurement with the captured data registers, and a status byte captured mid-
 * conversion stays "measuring" (the driver then reports a timeout, which is what the
 * capture says).
 */
import { formatHex, I2cError, I2cErrorCode } from './bus.ts';
import { loadI2cdumpFile, type RegisterImage } from './i2cdump.ts';
import { SimulatedI2cBus, type I2cDeviceModel } from './sim.ts';

export class RegisterImageDevice implements I2cDeviceModel {
  private readonly registers: (number | undefined)[];

  constructor(readonly image: RegisterImage) {
    this.registers = [...image.registers];
    while (this.registers.length < 256) this.registers.push(0);
  }

  read(register: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let index = 0; index < length; index++) {
      const value = this.registers[register + index];
      if (value === undefined) {
        throw new I2cError(I2cErrorCode.EIO, `register ${formatHex(register + index)} at ${formatHex(this.image.address)} was unreadable (XX) in the dump`, this.image.address);
      }
      out[index] = value;
    }
    return out;
  }

  write(register: number, value: number): void {
    this.registers[register] = value & 0xff;
  }
}

/** A simulated bus with one replay device per image. */
export function createReplayBus(images: readonly RegisterImage[]): SimulatedI2cBus {
  return new SimulatedI2cBus(images.map((image) => [image.address, new RegisterImageDevice(image)] as [number, I2cDeviceModel]));
}

/** Loads an i2cdump file (see hal/i2c/i2cdump.ts) into a replay bus; errors name the file and line. */
export async function loadReplayBus(path: string): Promise<SimulatedI2cBus> {
  return createReplayBus(await loadI2cdumpFile(path));
}
