import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../src/time.ts';
import { RecordingEventSink } from '../../../src/events.ts';
import { BASE_LOCKOUT_MS, LoginLockout, MAX_LOCKOUT_MS } from '../../../src/services/shell/lockout.ts';
import { FaultEventSink, FaultRegistry } from '../../../src/diag/faults.ts';

function setUp() {
  const clock = new ManualClock(1000);
  const events = new RecordingEventSink();
  return { clock, events, lockout: new LoginLockout({ clock, events }) };
}

describe('login lockout', () => {
  it('four failures do not lock; the fifth locks for the base delay', () => {
    const { lockout, events } = setUp();
    for (let i = 0; i < 4; i++) assert.equal(lockout.recordFailure('198.18.0.1', 'op'), 0);
    assert.equal(lockout.lockedFor('198.18.0.1'), 0);
    assert.equal(lockout.recordFailure('198.18.0.1', 'op'), BASE_LOCKOUT_MS);
    assert.equal(lockout.lockedFor('198.18.0.1'), BASE_LOCKOUT_MS);
    assert.equal(events.named('auth_fail').length, 5);
    assert.deepEqual(events.named('auth_fail')[0], { address: '198.18.0.1', user: 'op', failures: 1 });
    assert.deepEqual(events.named('auth_lockout'), [{ address: '198.18.0.1', durationMs: BASE_LOCKOUT_MS, failures: 5 }]);
  });

  it('the lockout runs out on the clock, and every further failure doubles it up to the cap', () => {
    const { lockout, clock, events } = setUp();
    for (let i = 0; i < 5; i++) lockout.recordFailure('a', 'op');
    clock.advance(BASE_LOCKOUT_MS - 1);
    assert.equal(lockout.lockedFor('a'), 1);
    clock.advance(1);
    assert.equal(lockout.lockedFor('a'), 0);
    const durations: number[] = [];
    for (let i = 0; i < 10; i++) {
      durations.push(lockout.recordFailure('a', 'op'));
      clock.advance(lockout.lockedFor('a'));
    }
    assert.deepEqual(durations, [60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, MAX_LOCKOUT_MS, MAX_LOCKOUT_MS, MAX_LOCKOUT_MS, MAX_LOCKOUT_MS]);
    assert.equal(events.named('auth_lockout').length, 11);
  });

  it('addresses are counted separately and a success clears the count', () => {
    const { lockout } = setUp();
    for (let i = 0; i < 4; i++) lockout.recordFailure('a', 'op');
    lockout.recordFailure('b', 'op');
    lockout.recordSuccess('a');
    assert.equal(lockout.failures('a'), 0);
    assert.equal(lockout.failures('b'), 1);
    assert.equal(lockout.recordFailure('a', 'op'), 0);
  });

  it('auth_lockout raises fault 6 for the lockout length', () => {
    const clock = new ManualClock(0);
    const log = new RecordingEventSink();
    const registry = new FaultRegistry({ events: log });
    const lockout = new LoginLockout({ clock, events: new FaultEventSink(log, registry, clock) });
    for (let i = 0; i < 5; i++) lockout.recordFailure('198.18.0.1', 'op');
    assert.equal(registry.highest()?.code, 6);
    registry.poll(BASE_LOCKOUT_MS);
    assert.equal(registry.isActive(6), false);
  });
});

describe('global login failure budget', () => {
  it('more than the budget of failures from any addresses within the window slows every password attempt', () => {
    const clock = new ManualClock(0);
    const events = new RecordingEventSink();
    const lockout = new LoginLockout({ clock, events, globalFailureBudget: 20, globalWindowMs: 60_000, globalSlowdownMs: 3_000 });
    for (let i = 0; i < 20; i++) {
      lockout.recordFailure(`198.18.1.${i}`, '(unknown)');
      clock.advance(1000);
    }
    assert.equal(lockout.slowdownMs(), 0, 'twenty failures are within the budget');
    lockout.recordFailure('198.18.2.1', '(unknown)');
    assert.equal(lockout.slowdownMs(), 3_000);
    assert.deepEqual(events.named('auth_slowdown'), [{ failures: 21, windowMs: 60_000, delayMs: 3_000 }]);
    // The oldest of the 21 was at t=0: once it is a window old, the budget holds again.
    clock.set(60_000);
    assert.equal(lockout.slowdownMs(), 0);
    assert.equal(lockout.lockedFor('198.18.1.0'), 0, 'one failure per address locks nobody out');
  });
});

describe('lockout persistence hooks', () => {
  it('records() and restore() carry the table, lockouts included, and onChange fires on every change', () => {
    const clock = new ManualClock(5000);
    let changes = 0;
    const first = new LoginLockout({ clock, events: new RecordingEventSink(), onChange: () => changes++ });
    for (let i = 0; i < 5; i++) first.recordFailure('198.18.0.9', 'op');
    first.recordFailure('198.18.0.8', 'op');
    assert.equal(changes, 6);
    first.recordSuccess('198.18.0.8');
    assert.equal(changes, 7);
    first.recordSuccess('198.18.0.8');
    assert.equal(changes, 7, 'nothing changed');

    const second = new LoginLockout({ clock, events: new RecordingEventSink() });
    second.restore(first.records());
    assert.equal(second.lockedFor('198.18.0.9'), BASE_LOCKOUT_MS);
    assert.equal(second.failures('198.18.0.9'), 5);
    second.restore([['198.18.0.7', { failures: Number.NaN, lastFailure: 0, lockedUntil: 0 }]]);
    assert.equal(second.failures('198.18.0.7'), 0, 'a malformed record is skipped');
  });
});
