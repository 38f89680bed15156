/**
 * FaultLink: a Link wrapper that loses, duplicates and corrupts frames at random, in each
 * direction separately. It brings the memory wire's frame faults to real links (tap,
 * packet) in integration tests; delay, reordering, bandwidth and cable pulls need a clock
 * and stay the memory wire's job.
 *
 * Randomness comes from an injected RandomSource (SeededRandom in tests), drawn only for
 * enabled faults, so a run is repeatable as far as the real link beneath is.
 *
 * Ownership is kept: transmit passes the frame on (a duplicate is a copy); a received frame
 * is borrowed, so a corrupted or duplicated one is a copy and the inner link's is untouched.
 * Counters: `fault.drop.tx-loss`, `fault.drop.rx-loss` (one per frame dropped on purpose),
 * `fault.tx|rx.duplicated`, `fault.tx|rx.corrupted`, merged into stats() with the inner link's.
 */
import type { MacAddress } from '../../src/net/address.ts';
import type { RandomSource } from '../../src/random.ts';
import { Counters } from '../../src/stats.ts';
import { ReceiveBatchRelay, type CarrierHandler, type FrameHandler, type Link, type ReceiveBatch } from './link.ts';

export interface LinkFaults {
  lossRate: number;
  duplicateRate: number;
  corruptRate: number;
}

export type FaultDirection = 'transmit' | 'receive';

export const NO_LINK_FAULTS: Readonly<LinkFaults> = Object.freeze({ lossRate: 0, duplicateRate: 0, corruptRate: 0 });

export interface FaultLinkOptions {
  random: RandomSource;
  transmit?: Partial<LinkFaults>;
  receive?: Partial<LinkFaults>;
}

export class FaultLink implements Link {
  private readonly random: RandomSource;
  private readonly counters = new Counters();
  private transmitFaults: LinkFaults;
  private receiveFaults: LinkFaults;
  private receiver: FrameHandler | undefined;
  /** The inner link's receive batches, passed on to this link's receiver (link.ts). */
  private readonly batchRelay = new ReceiveBatchRelay();

  constructor(
    readonly inner: Link,
    options: FaultLinkOptions,
  ) {
    this.random = options.random;
    this.transmitFaults = validate({ ...NO_LINK_FAULTS, ...options.transmit });
    this.receiveFaults = validate({ ...NO_LINK_FAULTS, ...options.receive });
    inner.setReceiver((frame) => this.receive(frame), this.batchRelay);
  }

  get name(): string {
    return this.inner.name;
  }

  get mtu(): number {
    return this.inner.mtu;
  }

  get mac(): MacAddress {
    return this.inner.mac;
  }

  get carrier(): boolean {
    return this.inner.carrier;
  }

  /** Changes the faults of one direction; applies to the next frame. */
  setFaults(direction: FaultDirection, faults: Partial<LinkFaults>): void {
    if (direction === 'transmit') this.transmitFaults = validate({ ...this.transmitFaults, ...faults });
    else this.receiveFaults = validate({ ...this.receiveFaults, ...faults });
  }

  faults(direction: FaultDirection): LinkFaults {
    return { ...(direction === 'transmit' ? this.transmitFaults : this.receiveFaults) };
  }

  setReceiver(handler: FrameHandler, batch?: ReceiveBatch): void {
    this.receiver = handler;
    this.batchRelay.target = batch;
  }

  onCarrierChange(handler: CarrierHandler): void {
    this.inner.onCarrierChange(handler);
  }

  transmit(frame: Uint8Array): void {
    const faults = this.transmitFaults;
    if (faults.lossRate > 0 && this.chance(faults.lossRate)) {
      this.counters.increment('fault.drop.tx-loss');
      return;
    }
    // The copy is taken before corruption: each copy is damaged (or not) on its own.
    const duplicate = faults.duplicateRate > 0 && this.chance(faults.duplicateRate) ? frame.slice() : undefined;
    this.inner.transmit(this.maybeCorrupt(faults, frame, 'fault.tx.corrupted', false));
    if (duplicate) {
      this.counters.increment('fault.tx.duplicated');
      this.inner.transmit(this.maybeCorrupt(faults, duplicate, 'fault.tx.corrupted', false));
    }
  }

  flush(): void {
    this.inner.flush();
  }

  close(): void {
    this.inner.close();
  }

  stats(): Record<string, number> {
    return { ...this.inner.stats(), ...this.counters.snapshot() };
  }

  private receive(frame: Uint8Array): void {
    const faults = this.receiveFaults;
    if (faults.lossRate > 0 && this.chance(faults.lossRate)) {
      this.counters.increment('fault.drop.rx-loss');
      return;
    }
    const duplicate = faults.duplicateRate > 0 && this.chance(faults.duplicateRate);
    this.deliver(this.maybeCorrupt(faults, frame, 'fault.rx.corrupted', true));
    if (duplicate) {
      this.counters.increment('fault.rx.duplicated');
      this.deliver(this.maybeCorrupt(faults, frame, 'fault.rx.corrupted', true));
    }
  }

  private deliver(frame: Uint8Array): void {
    const receiver = this.receiver;
    if (receiver === undefined) {
      this.counters.increment('link.drop.no-receiver');
      return;
    }
    receiver(frame);
  }

  /** Flips one random bit; a borrowed frame is copied first so its owner's bytes stay intact. */
  private maybeCorrupt(faults: LinkFaults, frame: Uint8Array, counter: string, borrowed: boolean): Uint8Array {
    if (faults.corruptRate <= 0 || frame.length === 0 || !this.chance(faults.corruptRate)) return frame;
    const target = borrowed ? frame.slice() : frame;
    const bit = this.random.uint32() % (target.length * 8);
    target[bit >>> 3] = (target[bit >>> 3] ?? 0) ^ (1 << (bit & 7));
    this.counters.increment(counter);
    return target;
  }

  private chance(rate: number): boolean {
    return rate >= 1 || this.random.uint32() / 0x1_0000_0000 < rate;
  }
}

function validate(faults: LinkFaults): LinkFaults {
  for (const name of ['lossRate', 'duplicateRate', 'corruptRate'] as const) {
    const rate = faults[name];
    if (!(rate >= 0 && rate <= 1)) throw new RangeError(`FaultLink: ${name} must be in [0, 1], got ${rate}`);
  }
  return faults;
}
