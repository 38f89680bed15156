/**
 * A real I2C bus (/dev/i2c-N) through the promise API of the `i2c-bus` npm package
 * (tested against 5.2.x): `openPromisified`, `readI2cBlock`, `writeByte`, `close`.
 *
 * `i2c-bus` is a native addon and an optional dependency: it is loaded only when a
 * real bus is asked for, so the simulated board runs on machines where it did not
 * build. Opening fails with a clear I2cError when the package is missing, when the
 * device node is missing (I2C not enabled on the Pi) or not accessible (user not in
 * the `i2c` group).
 *
 * Reads use the SMBus "I2C block read", which moves at most 32 bytes
 * (I2C_SMBUS_BLOCK_MAX), so longer blocks are split; every part the BME280 driver
 * reads fits in one. Kernel errors keep their meaning (Documentation/i2c/fault-codes):
 * a NACK (EREMOTEIO from i2c-bcm2835, ENXIO from some other adapters) becomes
 * EREMOTEIO, a timeout ETIMEDOUT, the rest EIO with the kernel's message.
 */
import { access, constants } from 'node:fs/promises';
import { checkTransfer, formatHex, I2cError, I2cErrorCode, type I2cBus } from './bus.ts';

/** The part of i2c-bus's PromisifiedBus this module uses. */
interface PromisifiedBus {
  readI2cBlock(address: number, command: number, length: number, buffer: Buffer): Promise<{ bytesRead: number; buffer: Buffer }>;
  writeByte(address: number, command: number, byte: number): Promise<void>;
  close(): Promise<void>;
}

interface I2cBusModule {
  openPromisified(busNumber: number): Promise<PromisifiedBus>;
}

const SMBUS_BLOCK_MAX = 32;
const PACKAGE_NAME = 'i2c-bus';

export interface OpenI2cBusOptions {
  /** Where the device nodes live (tests). Default /dev. */
  deviceDirectory?: string;
  /** Loads the package (tests). Default: a dynamic import of `i2c-bus`. */
  loadModule?: () => Promise<unknown>;
}

export async function openI2cBus(busNumber: number, options: OpenI2cBusOptions = {}): Promise<I2cBus> {
  if (!Number.isInteger(busNumber) || busNumber < 0) throw new RangeError(`I2C bus number ${String(busNumber)} is not a non-negative integer`);
  const devicePath = `${options.deviceDirectory ?? '/dev'}/i2c-${busNumber}`;
  try {
    await access(devicePath, constants.R_OK | constants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new I2cError(I2cErrorCode.EACCES, `no permission to use ${devicePath}: add the user to the i2c group (sudo adduser $USER i2c) or run as root`);
    }
    throw new I2cError(
      I2cErrorCode.ENOENT,
      `I2C bus ${busNumber} is not available: ${devicePath} does not exist (on a Raspberry Pi enable I2C with 'sudo raspi-config nonint do_i2c 0' or 'dtparam=i2c_arm=on' in /boot/firmware/config.txt, then reboot; 'i2cdetect -l' lists the buses)`,
    );
  }
  const module = await loadI2cBusModule(options.loadModule);
  let bus: PromisifiedBus;
  try {
    bus = await module.openPromisified(busNumber);
  } catch (error) {
    throw translateError(error, `opening ${devicePath}`);
  }
  return new LinuxI2cBus(bus, busNumber);
}

async function loadI2cBusModule(load?: () => Promise<unknown>): Promise<I2cBusModule> {
  let loaded: unknown;
  try {
    // A variable specifier keeps TypeScript and bundlers from requiring the optional package.
    const specifier: string = PACKAGE_NAME;
    loaded = await (load ? load() : import(specifier));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new I2cError(
      I2cErrorCode.ENODEV,
      `the '${PACKAGE_NAME}' package cannot be loaded (${reason}); it is an optional native dependency: install it with 'npm install ${PACKAGE_NAME}' (needs build tools: apt-get install build-essential), or use --i2c sim`,
    );
  }
  const candidate = (loaded as { default?: unknown }).default ?? loaded;
  if (typeof (candidate as Partial<I2cBusModule> | undefined)?.openPromisified !== 'function') {
    throw new I2cError(I2cErrorCode.ENODEV, `the '${PACKAGE_NAME}' package has no openPromisified(): an unsupported version (need 5.x)`);
  }
  return candidate as I2cBusModule;
}

class LinuxI2cBus implements I2cBus {
  private closed = false;

  constructor(
    private readonly bus: PromisifiedBus,
    private readonly busNumber: number,
  ) {}

  async readBlock(address: number, register: number, length: number): Promise<Uint8Array> {
    checkTransfer(address, register, length);
    this.checkOpen(address);
    const out = new Uint8Array(length);
    for (let offset = 0; offset < length; offset += SMBUS_BLOCK_MAX) {
      const part = Math.min(SMBUS_BLOCK_MAX, length - offset);
      const buffer = Buffer.alloc(part);
      let bytesRead: number;
      try {
        ({ bytesRead } = await this.bus.readI2cBlock(address, register + offset, part, buffer));
      } catch (error) {
        throw translateError(error, `bus ${this.busNumber} read ${formatHex(register + offset)} at ${formatHex(address)}`, address);
      }
      if (bytesRead !== part) {
        throw new I2cError(I2cErrorCode.EIO, `bus ${this.busNumber} read ${formatHex(register + offset)} at ${formatHex(address)}: ${bytesRead} of ${part} bytes`, address);
      }
      out.set(buffer, offset);
    }
    return out;
  }

  async writeByte(address: number, register: number, value: number): Promise<void> {
    checkTransfer(address, register);
    if (!Number.isInteger(value) || value < 0 || value > 0xff) throw new RangeError(`byte ${String(value)} is outside 0..255`);
    this.checkOpen(address);
    try {
      await this.bus.writeByte(address, register, value);
    } catch (error) {
      throw translateError(error, `bus ${this.busNumber} write ${formatHex(register)} at ${formatHex(address)}`, address);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.bus.close();
  }

  private checkOpen(address: number): void {
    if (this.closed) throw new I2cError(I2cErrorCode.ENODEV, `bus ${this.busNumber} is closed`, address);
  }
}

/** Maps an error from i2c-bus (a Node errno exception) onto the I2cError codes. */
export function translateError(error: unknown, context: string, address?: number): I2cError {
  if (error instanceof I2cError) return error;
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  switch (code) {
    case 'EREMOTEIO':
    case 'ENXIO':
      return new I2cError(I2cErrorCode.EREMOTEIO, `${context}: no acknowledge (${message})`, address);
    case 'ETIMEDOUT':
      return new I2cError(I2cErrorCode.ETIMEDOUT, `${context}: timed out, bus stuck? (${message})`, address);
    case 'ENOENT':
      return new I2cError(I2cErrorCode.ENOENT, `${context}: ${message}`, address);
    case 'EACCES':
    case 'EPERM':
      return new I2cError(I2cErrorCode.EACCES, `${context}: ${message}`, address);
    default:
      return new I2cError(I2cErrorCode.EIO, `${context}: ${message}`, address);
  }
}
