import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from '../../../src/services/sensors/rate-limiter.ts';
import { ManualClock } from '../../../src/time.ts';

describe('TokenBucket', () => {
  it('allows a burst, then the sustained rate', () => {
    const clock = new ManualClock(1000);
    const bucket = new TokenBucket({ rate: 10, burst: 5 }, clock);
    for (let i = 0; i < 5; i++) assert.ok(bucket.take(), `burst ${i}`);
    assert.equal(bucket.take(), false);
    clock.advance(99);
    assert.equal(bucket.take(), false);
    clock.advance(1);
    assert.ok(bucket.take());
    assert.equal(bucket.take(), false);
  });

  it('refills no further than the burst', () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ rate: 1000, burst: 3 }, clock);
    clock.advance(60_000);
    let taken = 0;
    while (bucket.take()) taken++;
    assert.equal(taken, 3);
  });
});

describe('TokenBucket allocation', () => {
  it('takes tokens at fractional instants without allocating (its fields are double fields)', async () => {
    const { allocatedInOptimisedLoop } = await import('../../support/allocated-bytes.ts');
    const clock = new ManualClock(0.25);
    const bucket = new TokenBucket({ rate: 1000, burst: 2000 }, clock, 0.25);
    const count = 100_000;
    // Every take stores a fraction in both fields; a tagged field would box each one (16 bytes);
    // under a byte per take allows for the profiler's own messages, not for one box.
    const bytes = allocatedInOptimisedLoop(bucket, 'target.take(i * 0.75 + 0.5);', count);
    assert.ok(bytes < count, `${count} takes allocated ${bytes} bytes`);
  });
});
