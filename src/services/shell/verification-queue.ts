/**
 * Bounds the password verifications that run at once (issue 17). A password login on
 * the TLS port derives scrypt (auth.ts: N=16384, r=8, p=1, about 16 MiB and tens of ms
 * on a Pi) per attempt; many parallel attempts from many addresses would take the
 * device's CPU and memory. At most `maxConcurrent` run, at most `maxQueued` wait in
 * arrival order, and any attempt beyond that is refused at once (`run` returns
 * undefined; the session tells the client to try again later, and nothing is derived).
 *
 * The challenge–response login of the plain port needs no server-side scrypt (HMAC and
 * SHA-256 over the stored keys), so it does not go through here.
 *
 * Pure bookkeeping: no timer, no clock; a verification's own promise drives the queue.
 */
export const MAX_CONCURRENT_VERIFICATIONS = 2;
export const MAX_QUEUED_VERIFICATIONS = 8;

export interface VerificationQueueOptions {
  maxConcurrent?: number;
  maxQueued?: number;
}

export class VerificationQueue {
  private readonly maxConcurrent: number;
  private readonly maxQueued: number;
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private refusedCount = 0;

  constructor(options: VerificationQueueOptions = {}) {
    this.maxConcurrent = options.maxConcurrent ?? MAX_CONCURRENT_VERIFICATIONS;
    this.maxQueued = options.maxQueued ?? MAX_QUEUED_VERIFICATIONS;
  }

  /** Verifications running now. */
  get active(): number {
    return this.running;
  }

  /** Verifications waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Attempts refused because the queue was full, since start. */
  get refused(): number {
    return this.refusedCount;
  }

  /** Runs `verify` when a slot is free; undefined (nothing runs) when the queue is full. */
  run<T>(verify: () => Promise<T>): Promise<T> | undefined {
    if (this.running >= this.maxConcurrent && this.waiting.length >= this.maxQueued) {
      this.refusedCount += 1;
      return undefined;
    }
    return this.slot().then(async () => {
      try {
        return await verify();
      } finally {
        this.release();
      }
    });
  }

  private slot(): Promise<void> {
    if (this.running < this.maxConcurrent) {
      this.running += 1;
      return Promise.resolve();
    }
    // The slot passes straight from the finishing verification to this one (release()).
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running -= 1;
  }
}
