import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fail, isWireError, ok, WIRE_ERRORS } from '../../src/wire/result.ts';

describe('wire parse results', () => {
  it('wraps values and reasons', () => {
    assert.deepEqual(ok(5), { ok: true, value: 5 });
    assert.deepEqual(fail('truncated'), { ok: false, error: 'truncated' });
  });

  it('shares one frozen object per failure reason (no allocation on the drop path)', () => {
    for (const error of WIRE_ERRORS) {
      assert.equal(fail(error), fail(error));
      assert.ok(Object.isFrozen(fail(error)));
    }
  });

  it('recognises exactly the closed set of reasons', () => {
    assert.deepEqual(
      [...WIRE_ERRORS].sort(),
      ['bad-checksum', 'bad-data-offset', 'bad-header-length', 'bad-length', 'bad-option', 'bad-version', 'truncated', 'unsupported'],
    );
    for (const error of WIRE_ERRORS) assert.ok(isWireError(error));
    assert.equal(isWireError('bad-frame'), false);
    assert.equal(isWireError(undefined), false);
  });
});
