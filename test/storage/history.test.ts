import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReadingHistory } from '../../src/storage/history.ts';

const reading = (name: string, value: number, timestamp: number) => ({ name, value, timestamp, source: 't' });

describe('reading history', () => {
  it('keeps the most recent points per name, oldest first', () => {
    const history = new ReadingHistory(3, 10);
    for (let i = 0; i < 5; i++) history.add(reading('a', i, 1000 + i));
    assert.deepEqual(history.recent('a', 10), [
      { value: 2, at: 1002 },
      { value: 3, at: 1003 },
      { value: 4, at: 1004 },
    ]);
    assert.deepEqual(history.recent('a', 1), [{ value: 4, at: 1004 }]);
    assert.deepEqual(history.recent('unknown', 5), []);
  });

  it('forgets the least recently updated name when full', () => {
    const history = new ReadingHistory(3, 2);
    history.add(reading('a', 1, 1));
    history.add(reading('b', 2, 2));
    history.add(reading('a', 3, 3));
    history.add(reading('c', 4, 4));
    assert.deepEqual(history.recent('b', 5), []);
    assert.equal(history.recent('a', 5).length, 2);
    assert.equal(history.recent('c', 5).length, 1);
  });
});
