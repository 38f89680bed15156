/**
 * The production RandomSource: the kernel's CSPRNG through node:crypto, drawn in
 * pooled blocks so a per-connection ISN secret or ephemeral port costs no syscall.
 */
import { randomFillSync } from 'node:crypto';
import type { RandomSource } from '../src/random.ts';

const POOL_BYTES = 4096;

export class CryptoRandom implements RandomSource {
  private readonly pool = new Uint8Array(POOL_BYTES);
  private readonly view = new DataView(this.pool.buffer);
  private offset = POOL_BYTES;

  uint32(): number {
    if (this.offset + 4 > POOL_BYTES) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    const value = this.view.getUint32(this.offset);
    this.offset += 4;
    return value;
  }

  bytes(length: number): Uint8Array {
    return randomFillSync(new Uint8Array(length));
  }
}
