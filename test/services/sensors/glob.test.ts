import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GlobSet, globMatches, isValidGlob } from '../../../src/services/sensors/glob.ts';

describe('SUB globs', () => {
  it('matches * and ? and literal characters', () => {
    const cases: [string, string, boolean][] = [
      ['*', 'anything/at.all', true],
      ['bme280.*', 'bme280.temperature', true],
      ['bme280.*', 'bme280.', true],
      ['bme280.*', 'bme281.temperature', false],
      ['*.temperature', 'room/1.temperature', true],
      ['*.temperature', 'room/1.humidity', false],
      ['room?', 'room1', true],
      ['room?', 'room', false],
      ['room?', 'room12', false],
      ['a*b*c', 'axxbyyc', true],
      ['a*b*c', 'axxbyy', false],
      ['exact', 'exact', true],
      ['exact', 'exactly', false],
      ['**', '', true],
      ['a.b', 'aXb', false],
    ];
    for (const [pattern, name, expected] of cases) assert.equal(globMatches(pattern, name), expected, `${pattern} ~ ${name}`);
  });

  it('stays linear on patterns that make backtracking matchers explode', () => {
    const name = 'a'.repeat(64);
    const pattern = `${'a*'.repeat(31)}b`;
    assert.equal(globMatches(pattern, name), false);
  });

  it('accepts only the name alphabet plus * and ?', () => {
    assert.ok(isValidGlob('bme280.*'));
    assert.ok(isValidGlob('?'));
    for (const bad of ['', 'a[b]', '(.*)', 'a b', 'x'.repeat(65), 'a\\b', 'a{b,c}']) assert.equal(isValidGlob(bad), false, bad);
  });

  it('matches when any pattern of the set does', () => {
    const set = new GlobSet();
    assert.equal(set.matches('a'), false);
    set.add('a*');
    set.add('b?');
    set.add('a*');
    assert.equal(set.size, 2);
    assert.ok(set.matches('abc'));
    assert.ok(set.matches('bb'));
    assert.equal(set.matches('c'), false);
    set.clear();
    assert.equal(set.matches('abc'), false);
  });
});
