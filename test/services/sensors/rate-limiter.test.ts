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
