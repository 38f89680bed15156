import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Counters } from '../src/stats.ts';

describe('Counters', () => {
  it('increments, reads, sums by prefix and lists what was incremented, sorted', () => {
    const counters = new Counters();
    counters.increment('tcp.rx.segments');
    counters.increment('tcp.rx.segments', 2);
    counters.increment('ipv4.drop.bad-checksum');
    counters.increment('tcp.drop.truncated', 0);
    assert.equal(counters.get('tcp.rx.segments'), 3);
    assert.equal(counters.get('never'), 0);
    assert.equal(counters.sum('tcp.'), 3);
    assert.deepEqual(counters.snapshot(), { 'ipv4.drop.bad-checksum': 1, 'tcp.drop.truncated': 0, 'tcp.rx.segments': 3 });
  });

  it('a handle is the counter itself: bumps show in get, sum and snapshot, and mix with increment', () => {
    const counters = new Counters();
    const frames = counters.handle('ethernet.rx.frames');
    assert.deepEqual(counters.snapshot(), {}, 'a handle taken but never bumped is not listed');
    frames.value++;
    frames.value++;
    counters.increment('ethernet.rx.frames');
    assert.equal(counters.get('ethernet.rx.frames'), 3);
    assert.equal(counters.sum('ethernet.'), 3);
    assert.deepEqual(counters.snapshot(), { 'ethernet.rx.frames': 3 });
    assert.equal(counters.handle('ethernet.rx.frames'), frames, 'one box per name');
  });
});
