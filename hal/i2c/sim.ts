/**
 * A simulated I2C bus: device models keyed by 7-bit address, with fault injection.
 *
 * A model sees register-level transfers, the way a real part sees them after its
 * address was acknowledged: a burst read from a start register, or a single register
 * write. An address with no model does not acknowledge, so the transfer fails with
 * EREMOTEIO, as it does on a Pi with nothing at that address.
 *
 * Faults (inject / clearFaults) reproduce what goes wrong on real buses:
 * - `nack`: one device stops acknowledging (unplugged, brown-out): EREMOTEIO;
 * - `stuck`: the whole bus is held low; every transfer fails with ETIMEDOUT, as the
 *   kernel's adapter driver reports after its own timeout;
 * - `hang`: the whole bus hangs and transfers do not complete at all until the fault
 *   is cleared (they then fail with ETIMEDOUT): the case a caller's own timeout is for;
 * - `register`: a device answers a fixed byte at one register (a wrong chip id, a
 *   status bit that never clears).
 * A fault lasts for `transfers` transfers when given (counted only on the transfers it
 * affects), otherwise until cleared.
 *
 * Every transfer is recorded in `log`, so tests can assert what a driver did.
 */
import { checkTransfer, formatHex, I2cError, I2cErrorCode, type I2cBus } from './bus.ts';

/** A device on the simulated bus. Throwing an I2cError fails the transfer with it. */
export interface I2cDeviceModel {
  read(register: number, length: number): Uint8Array;
  write(register: number, value: number): void;
}

export type SimulatedFault =
  | { kind: 'nack'; address: number; transfers?: number }
  | { kind: 'stuck'; transfers?: number }
  | { kind: 'hang' }
  | { kind: 'register'; address: number; register: number; value: number; transfers?: number };

export interface SimulatedTransfer {
  kind: 'read' | 'write';
  address: number;
  register: number;
  /** Length for reads, the written byte for writes. */
  value: number;
  /** The error code when the transfer failed. */
  error?: I2cErrorCode;
}

interface ActiveFault {
  fault: SimulatedFault;
  remaining: number;
}

export class SimulatedI2cBus implements I2cBus {
  readonly log: SimulatedTransfer[] = [];
  /** Bounds `log`, so a long simulated run does not grow memory. */
  logLimit = 10_000;
  private readonly devices = new Map<number, I2cDeviceModel>();
  private faults: ActiveFault[] = [];
  private readonly hung: ((error: Error) => void)[] = [];
  private closed = false;

  constructor(devices: Iterable<[number, I2cDeviceModel]> = []) {
    for (const [address, model] of devices) this.attach(address, model);
  }

  attach(address: number, model: I2cDeviceModel): void {
    checkTransfer(address, 0);
    this.devices.set(address, model);
  }

  detach(address: number): void {
    this.devices.delete(address);
  }

  device(address: number): I2cDeviceModel | undefined {
    return this.devices.get(address);
  }

  addresses(): number[] {
    return [...this.devices.keys()].sort((a, b) => a - b);
  }

  inject(fault: SimulatedFault): void {
    this.faults.push({ fault, remaining: 'transfers' in fault && fault.transfers !== undefined ? fault.transfers : Infinity });
  }

  /** Removes every fault; transfers held by a `hang` then fail with ETIMEDOUT. */
  clearFaults(): void {
    this.faults = [];
    this.releaseHung();
  }

  async readBlock(address: number, register: number, length: number): Promise<Uint8Array> {
    checkTransfer(address, register, length);
    return this.transfer({ kind: 'read', address, register, value: length }, (model) => {
      const bytes = Uint8Array.from(model.read(register, length));
      if (bytes.length !== length) throw new I2cError(I2cErrorCode.EIO, `model at ${formatHex(address)} returned ${bytes.length} of ${length} bytes`, address);
      const override = this.takeFault((f) => f.kind === 'register' && f.address === address && f.register >= register && f.register < register + length);
      if (override?.kind === 'register') bytes[override.register - register] = override.value & 0xff;
      return bytes;
    });
  }

  async writeByte(address: number, register: number, value: number): Promise<void> {
    checkTransfer(address, register);
    if (!Number.isInteger(value) || value < 0 || value > 0xff) throw new RangeError(`byte ${String(value)} is outside 0..255`);
    return this.transfer({ kind: 'write', address, register, value }, (model) => model.write(register, value));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.releaseHung();
  }

  private transfer<T>(record: SimulatedTransfer, perform: (model: I2cDeviceModel) => T): Promise<T> {
    const fail = (error: I2cError): Promise<T> => {
      this.record({ ...record, error: error.code });
      return Promise.reject(error);
    };
    const where = `${record.kind} ${formatHex(record.register)} at ${formatHex(record.address)}`;
    if (this.closed) return fail(new I2cError(I2cErrorCode.ENODEV, `${where}: bus closed`, record.address));
    if (this.faults.some((f) => f.fault.kind === 'hang')) {
      this.record({ ...record, error: I2cErrorCode.ETIMEDOUT });
      return new Promise<T>((_resolve, reject) => this.hung.push(reject));
    }
    if (this.takeFault((f) => f.kind === 'stuck')) {
      return fail(new I2cError(I2cErrorCode.ETIMEDOUT, `${where}: bus stuck (simulated)`, record.address));
    }
    if (this.takeFault((f) => f.kind === 'nack' && f.address === record.address)) {
      return fail(new I2cError(I2cErrorCode.EREMOTEIO, `${where}: no acknowledge (simulated)`, record.address));
    }
    const model = this.devices.get(record.address);
    if (!model) return fail(new I2cError(I2cErrorCode.EREMOTEIO, `${where}: no device acknowledges`, record.address));
    try {
      const result = perform(model);
      this.record(record);
      return Promise.resolve(result);
    } catch (error) {
      if (error instanceof I2cError) return fail(error);
      throw error;
    }
  }

  /** Finds the first fault matching `predicate`, uses up one of its transfers, and returns it. */
  private takeFault(predicate: (fault: SimulatedFault) => boolean): SimulatedFault | undefined {
    const index = this.faults.findIndex((f) => predicate(f.fault));
    const active = this.faults[index];
    if (!active) return undefined;
    active.remaining -= 1;
    if (active.remaining <= 0) this.faults.splice(index, 1);
    return active.fault;
  }

  private releaseHung(): void {
    for (const reject of this.hung.splice(0)) reject(new I2cError(I2cErrorCode.ETIMEDOUT, 'transfer timed out (simulated hang)'));
  }

  private record(transfer: SimulatedTransfer): void {
    this.log.push(transfer);
    if (this.log.length > this.logLimit) this.log.splice(0, this.log.length - this.logLimit);
  }
}
