/**
 * The I2C bus as the sensor drivers see it: register reads and writes on a 7-bit
 * device address. Two implementations: hal/i2c/i2c-bus.ts (a real /dev/i2c-N through
 * the `i2c-bus` package) and hal/i2c/sim.ts (register-level device models).
 *
 * Byte-level register access is all the BME280 needs: a burst read from a start
 * register (the device auto-increments) and a single register write.
 *
 * Failures reject with an I2cError whose `code` is the errno name Linux reports for
 * the same condition, so a driver handles a simulated NACK exactly like a real one:
 * - EREMOTEIO: the device did not acknowledge (absent, unpowered, wrong address);
 *   the Pi's i2c-bcm2835 driver reports a NACK this way;
 * - ETIMEDOUT: the transfer did not complete (a stuck bus: SDA or SCL held low);
 * - EIO: any other transfer failure;
 * - ENOENT / EACCES: the bus device node is missing or not accessible (opening only).
 */

export interface I2cBus {
  /** Reads `length` consecutive registers starting at `register`. */
  readBlock(address: number, register: number, length: number): Promise<Uint8Array>;
  /** Writes one register. */
  writeByte(address: number, register: number, value: number): Promise<void>;
  /** Releases the bus; later calls fail. */
  close(): Promise<void>;
}

export const I2cErrorCode = {
  EREMOTEIO: 'EREMOTEIO',
  ETIMEDOUT: 'ETIMEDOUT',
  EIO: 'EIO',
  ENOENT: 'ENOENT',
  EACCES: 'EACCES',
  /** The bus was closed, or the `i2c-bus` package cannot be loaded. */
  ENODEV: 'ENODEV',
} as const;
export type I2cErrorCode = (typeof I2cErrorCode)[keyof typeof I2cErrorCode];

/** Linux errno values, so `errno` matches what the kernel would have said. */
const ERRNO: Record<I2cErrorCode, number> = {
  EREMOTEIO: 121,
  ETIMEDOUT: 110,
  EIO: 5,
  ENOENT: 2,
  EACCES: 13,
  ENODEV: 19,
};

export class I2cError extends Error {
  readonly code: I2cErrorCode;
  readonly errno: number;
  readonly address: number | undefined;

  constructor(code: I2cErrorCode, message: string, address?: number) {
    super(`${code}: ${message}`);
    this.name = 'I2cError';
    this.code = code;
    this.errno = ERRNO[code];
    this.address = address;
  }
}

/** `0x76`: addresses and registers the way i2cdetect and the datasheets print them. */
export function formatHex(value: number): string {
  return `0x${value.toString(16).padStart(2, '0')}`;
}

/** Throws a RangeError for arguments no caller should pass (programmer errors, not bus failures). */
export function checkTransfer(address: number, register: number, length = 1): void {
  if (!Number.isInteger(address) || address < 0x03 || address > 0x77) {
    throw new RangeError(`I2C address ${String(address)} is outside 0x03..0x77`);
  }
  if (!Number.isInteger(register) || register < 0 || register > 0xff) {
    throw new RangeError(`register ${String(register)} is outside 0x00..0xff`);
  }
  if (!Number.isInteger(length) || length < 1 || register + length > 0x100) {
    throw new RangeError(`block of ${String(length)} from ${formatHex(register)} runs past register 0xff`);
  }
}

/** A one-line description of any failure, for logs and fault texts. */
export function describeI2cError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
