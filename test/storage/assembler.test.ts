import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Assembler } from '../../src/storage/assembler.ts';
import { SeededRandom } from '../../src/random.ts';

describe('Assembler', () => {
  it('merges overlapping and touching ranges', () => {
    const assembler = new Assembler(4);
    assert.ok(assembler.add(10, 5));
    assert.ok(assembler.add(20, 5));
    assert.deepEqual(assembler.ranges(), [[10, 15], [20, 25]]);
    assert.ok(assembler.add(15, 5)); // touches both
    assert.deepEqual(assembler.ranges(), [[10, 25]]);
    assert.ok(assembler.add(5, 30));
    assert.deepEqual(assembler.ranges(), [[5, 35]]);
  });

  it('tells whether a range is held entirely (a duplicate, for D-SACK)', () => {
    const assembler = new Assembler(4);
    assembler.add(100, 50);
    assembler.add(300, 10);
    assert.equal(assembler.holds(100, 50), true);
    assert.equal(assembler.holds(120, 10), true);
    assert.equal(assembler.holds(140, 20), false, 'runs past the held range');
    assert.equal(assembler.holds(150, 150), false, 'spans a hole');
    assert.equal(assembler.holds(0, 10), false);
  });

  it('refuses a range that would exceed maxRanges and changes nothing', () => {
    const assembler = new Assembler(2);
    assert.ok(assembler.add(10, 1));
    assert.ok(assembler.add(20, 1));
    assert.equal(assembler.add(30, 1), false);
    assert.deepEqual(assembler.ranges(), [[10, 11], [20, 21]]);
    assert.ok(assembler.add(11, 9), 'merging needs no new range');
    assert.deepEqual(assembler.ranges(), [[10, 21]]);
  });

  it('deliver returns the contiguous prefix and shifts the rest', () => {
    const assembler = new Assembler(4);
    assembler.add(5, 5);
    assembler.add(20, 5);
    assert.equal(assembler.deliver(3), 3); // hole at 3..5 remains
    assert.deepEqual(assembler.ranges(), [[2, 7], [17, 22]]);
    assert.equal(assembler.deliver(2), 7);
    assert.deepEqual(assembler.ranges(), [[10, 15]]);
    assert.equal(assembler.deliver(12), 15); // overlaps the held range
    assert.ok(assembler.isEmpty);
  });

  it('agrees with a byte map under random insertion', () => {
    const random = new SeededRandom(5);
    for (let round = 0; round < 200; round++) {
      const assembler = new Assembler(64);
      const filled = new Uint8Array(200);
      for (let step = 0; step < 20; step++) {
        const offset = 1 + (random.uint32() % 150);
        const length = 1 + (random.uint32() % 30);
        assert.ok(assembler.add(offset, length));
        filled.fill(1, offset, offset + length);
      }
      const expected: [number, number][] = [];
      for (let i = 0; i < filled.length; i++) {
        if (filled[i] && !filled[i - 1]) expected.push([i, i]);
        if (filled[i]) expected[expected.length - 1]![1] = i + 1;
      }
      assert.deepEqual(assembler.ranges(), expected);
    }
  });

  it('holds range storage only while out-of-order data is held', () => {
    const assembler = new Assembler(4);
    assert.equal(assembler.holdsStorage, false, 'none before the first out-of-order segment');
    assert.ok(assembler.add(10, 5));
    assert.equal(assembler.holdsStorage, true);
    assert.equal(assembler.deliver(10), 15, 'the hole fills and the held range joins');
    assert.equal(assembler.holdsStorage, false, 'given back with the last range');
    assert.ok(assembler.add(3, 2));
    assert.equal(assembler.deliver(1), 1, 'a partial fill keeps the range');
    assert.equal(assembler.holdsStorage, true);
    assert.deepEqual(assembler.ranges(), [[2, 4]]);
    assert.ok(assembler.add(0, 2));
    assert.equal(assembler.takeFront(), 4);
    assert.equal(assembler.holdsStorage, false);
    assert.ok(assembler.add(7, 1));
    assembler.clear();
    assert.equal(assembler.holdsStorage, false);
    assert.ok(assembler.isEmpty);
  });
});
