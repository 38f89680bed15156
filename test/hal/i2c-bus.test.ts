/**
 * The real-bus adapter (hal/i2c/i2c-bus.ts) without hardware: a stand-in for the
 * `i2c-bus` package and a temporary directory for the device nodes. Checks the clear
 * errors for a missing package or device node, SMBus block splitting and the mapping
 * of kernel errors.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openI2cBus } from '../../hal/i2c/i2c-bus.ts';
import { I2cError } from '../../hal/i2c/bus.ts';

let directory = '';

before(async () => {
  directory = await mkdtemp(join(tmpdir(), 'piwire-i2c-'));
  await writeFile(join(directory, 'i2c-1'), '');
});

after(async () => {
  await rm(directory, { recursive: true, force: true });
});

function errnoError(code: string): Error {
  return Object.assign(new Error(`${code}, Remote I/O error`), { code });
}

function fakeModule(registers: Uint8Array, calls: string[], failWith?: () => Error) {
  return async () => ({
    default: {
      openPromisified: async (busNumber: number) => {
        calls.push(`open ${busNumber}`);
        return {
          readI2cBlock: async (address: number, command: number, length: number, buffer: Buffer) => {
            calls.push(`read ${address} ${command} ${length}`);
            if (failWith) throw failWith();
            buffer.set(registers.subarray(command, command + length));
            return { bytesRead: length, buffer };
          },
          writeByte: async (address: number, command: number, byte: number) => {
            calls.push(`write ${address} ${command} ${byte}`);
            if (failWith) throw failWith();
            registers[command] = byte;
          },
          close: async () => {
            calls.push('close');
          },
        };
      },
    },
  });
}

describe('openI2cBus', () => {
  it('explains a missing device node (I2C not enabled)', async () => {
    await assert.rejects(openI2cBus(7, { deviceDirectory: directory, loadModule: fakeModule(new Uint8Array(256), []) }), (error: unknown) => {
      assert.ok(error instanceof I2cError);
      assert.equal(error.code, 'ENOENT');
      assert.match(error.message, /i2c-7 does not exist.*raspi-config/);
      return true;
    });
  });

  it('explains a missing i2c-bus package', async () => {
    const loadModule = () => Promise.reject(Object.assign(new Error("Cannot find package 'i2c-bus'"), { code: 'ERR_MODULE_NOT_FOUND' }));
    await assert.rejects(openI2cBus(1, { deviceDirectory: directory, loadModule }), (error: unknown) => {
      assert.ok(error instanceof I2cError);
      assert.equal(error.code, 'ENODEV');
      assert.match(error.message, /'i2c-bus' package cannot be loaded.*npm install i2c-bus.*--i2c sim/);
      return true;
    });
  });

  it('refuses a package without the promise API', async () => {
    await assert.rejects(openI2cBus(1, { deviceDirectory: directory, loadModule: async () => ({ default: {} }) }), /openPromisified/);
  });

  it('reads blocks (split at 32 bytes), writes bytes and closes', async () => {
    const registers = new Uint8Array(256).map((_, index) => index);
    const calls: string[] = [];
    const bus = await openI2cBus(1, { deviceDirectory: directory, loadModule: fakeModule(registers, calls) });
    assert.deepEqual([...(await bus.readBlock(0x76, 0xd0, 2))], [0xd0, 0xd1]);
    const long = await bus.readBlock(0x76, 0x80, 40);
    assert.deepEqual([...long], Array.from({ length: 40 }, (_, index) => 0x80 + index));
    await bus.writeByte(0x76, 0xf4, 0x25);
    assert.equal(registers[0xf4], 0x25);
    await bus.close();
    await assert.rejects(bus.readBlock(0x76, 0, 1), (error: unknown) => error instanceof I2cError && error.code === 'ENODEV');
    assert.deepEqual(calls, ['open 1', 'read 118 208 2', 'read 118 128 32', 'read 118 160 8', 'write 118 244 37', 'close']);
  });

  it('maps kernel errors: NACK to EREMOTEIO, timeout to ETIMEDOUT, others to EIO', async () => {
    for (const [kernel, ours] of [['EREMOTEIO', 'EREMOTEIO'], ['ENXIO', 'EREMOTEIO'], ['ETIMEDOUT', 'ETIMEDOUT'], ['EAGAIN', 'EIO']] as const) {
      const bus = await openI2cBus(1, { deviceDirectory: directory, loadModule: fakeModule(new Uint8Array(256), [], () => errnoError(kernel)) });
      await assert.rejects(bus.readBlock(0x76, 0xd0, 1), (error: unknown) => {
        assert.ok(error instanceof I2cError);
        assert.equal(error.code, ours);
        assert.equal(error.address, 0x76);
        assert.match(error.message, /bus 1 read 0xd0 at 0x76/);
        return true;
      });
    }
  });
});
