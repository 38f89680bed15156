/**
 * The fault registry: SPEC §6 priority (lowest code wins), the `fault` /
 * `fault_cleared` events, held faults expiring at their exact instant, and the
 * mapping from the stack's and services' events to faults.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RecordingEventSink } from '../../src/events.ts';
import { FAULT_HOLD_MS, FaultCode, FaultEventSink, FaultRegistry, faultActionForEvent, type FaultCode as Code } from '../../src/diag/faults.ts';
import { ManualClock } from '../../src/time.ts';

const FIVE_MINUTES = 300_000;

function setup(): { events: RecordingEventSink; faults: FaultRegistry; changes: () => number } {
  const events = new RecordingEventSink();
  const faults = new FaultRegistry({ events });
  let changes = 0;
  faults.onChange(() => changes++);
  return { events, faults, changes: () => changes };
}

const codes = (faults: FaultRegistry): Code[] => faults.active().map((fault) => fault.code);

describe('priority', () => {
  test('the lowest active code is the one shown; active() lists by priority', () => {
    const { faults } = setup();
    assert.equal(faults.highest(), undefined);
    faults.raise(FaultCode.STORAGE_ERROR, 'log write failed', 0);
    faults.raise(FaultCode.RESOURCE_LIMIT, 'connections', 0);
    faults.raise(FaultCode.PEER_LOST, '198.18.0.7:4000', 0);
    assert.equal(faults.highest()?.code, 3);
    assert.deepEqual(codes(faults), [3, 5, 7]);

    faults.raise(FaultCode.NO_CARRIER, 'eth0', 10);
    assert.equal(faults.highest()?.code, 1);
    faults.clear(FaultCode.NO_CARRIER);
    assert.equal(faults.highest()?.code, 3);
    faults.clear(FaultCode.PEER_LOST);
    assert.equal(faults.highest()?.code, 5);
  });
});

describe('events and listeners', () => {
  test('a fault is announced when it becomes active and when it clears, never on a re-raise', () => {
    const { events, faults, changes } = setup();
    faults.raise(FaultCode.I2C_ERROR, 'bme280 at 0x76: no ACK', 100);
    faults.raise(FaultCode.I2C_ERROR, 'bme280 at 0x76: no ACK again', 200);
    assert.deepEqual(events.named('fault'), [{ code: 4, text: 'bme280 at 0x76: no ACK' }]);
    assert.equal(changes(), 1);

    const fault = faults.active()[0]!;
    assert.equal(fault.text, 'bme280 at 0x76: no ACK again', 'the latest text is kept');
    assert.equal(fault.since, 100);
    assert.equal(fault.lastRaised, 200);
    assert.equal(fault.expiresAt, undefined, 'a state fault stays until cleared');

    faults.clear(FaultCode.I2C_ERROR);
    faults.clear(FaultCode.I2C_ERROR);
    faults.clear(FaultCode.STORAGE_ERROR);
    assert.deepEqual(events.named('fault_cleared'), [{ code: 4, text: 'bme280 at 0x76: no ACK again' }]);
    assert.equal(changes(), 2);
  });

  test('announce: false raises and clears without an event, but listeners still hear of it', () => {
    const { events, faults, changes } = setup();
    faults.raise(FaultCode.ADDRESS_CONFLICT, 'already logged', 0, { announce: false });
    faults.clear(FaultCode.ADDRESS_CONFLICT, { announce: false });
    assert.equal(events.events.length, 0);
    assert.equal(changes(), 2);
  });

  test('an unknown code is a programmer error', () => {
    const { faults } = setup();
    assert.throws(() => faults.raise(8 as Code, 'no such fault', 0), RangeError);
    assert.throws(() => faults.raise(0 as Code, 'no such fault', 0), RangeError);
  });
});

describe('held faults', () => {
  test('peer lost clears itself exactly 5 minutes after its last raise', () => {
    const { events, faults } = setup();
    assert.equal(FAULT_HOLD_MS[FaultCode.PEER_LOST], FIVE_MINUTES);
    faults.raise(FaultCode.PEER_LOST, 'first peer', 0);
    assert.equal(faults.pollAt(), FIVE_MINUTES);
    faults.raise(FaultCode.PEER_LOST, 'second peer', 60_000);
    assert.equal(faults.pollAt(), 60_000 + FIVE_MINUTES, 're-raising restarts the hold');

    faults.poll(60_000 + FIVE_MINUTES - 1);
    assert.ok(faults.isActive(FaultCode.PEER_LOST));
    faults.poll(60_000 + FIVE_MINUTES);
    assert.ok(!faults.isActive(FaultCode.PEER_LOST));
    assert.equal(faults.pollAt(), undefined);
    assert.deepEqual(events.named('fault_cleared'), [{ code: 3, text: 'second peer' }]);
  });

  test('a raise never shortens a hold; state faults never expire', () => {
    const { faults } = setup();
    faults.raise(FaultCode.LOGIN_LOCKOUT, '198.18.0.9', 0, { holdMs: 600_000 });
    faults.raise(FaultCode.LOGIN_LOCKOUT, '198.18.0.9', 1000, { holdMs: 10_000 });
    assert.equal(faults.pollAt(), 600_000);
    faults.raise(FaultCode.NO_CARRIER, 'eth0', 0);
    faults.raise(FaultCode.STORAGE_ERROR, 'ENOSPC', 0);
    faults.poll(10 * FIVE_MINUTES);
    assert.deepEqual(codes(faults), [1, 5]);
    assert.equal(faults.pollAt(), undefined);
  });

  test('several expiries: pollAt is the earliest, and each clears at its own instant', () => {
    const events = new RecordingEventSink();
    const faults = new FaultRegistry({ events, holdMs: { 2: 1000, 7: 3000 } });
    faults.raise(FaultCode.RESOURCE_LIMIT, 'connections', 0);
    faults.raise(FaultCode.ADDRESS_CONFLICT, '02:00:00:00:00:99', 500);
    assert.equal(faults.pollAt(), 1500);
    faults.poll(1500);
    assert.deepEqual(codes(faults), [7]);
    assert.equal(faults.pollAt(), 3000);
    faults.poll(3000);
    assert.deepEqual(codes(faults), []);
    assert.deepEqual(
      events.named('fault_cleared').map((fields) => fields['code']),
      [2, 7],
    );
  });
});

describe('events to faults', () => {
  test('carrier down raises 1, carrier up clears it', () => {
    const clock = new ManualClock(5000);
    const log = new RecordingEventSink();
    const faults = new FaultRegistry({ events: log });
    const sink = new FaultEventSink(log, faults, clock);

    sink.emit('link', { link: 'sim0', carrier: 'down' });
    assert.deepEqual(log.events, [
      { event: 'link', fields: { link: 'sim0', carrier: 'down' } },
      { event: 'fault', fields: { code: 1, text: 'no carrier: sim0' } },
    ]);
    assert.equal(faults.active()[0]?.since, 5000, 'stamped with the clock');

    clock.advance(1000);
    sink.emit('link', { link: 'sim0', carrier: 'up' });
    assert.ok(!faults.isActive(FaultCode.NO_CARRIER));
    assert.deepEqual(log.events.at(-1), { event: 'fault_cleared', fields: { code: 1, text: 'no carrier: sim0' } });
  });

  test('the interface’s own `fault` event raises silently (it is logged already) and holds like an incident', () => {
    const clock = new ManualClock(0);
    const log = new RecordingEventSink();
    const faults = new FaultRegistry({ events: log });
    const sink = new FaultEventSink(log, faults, clock);
    // What src/net/interface.ts emits on an ARP conflict.
    sink.emit('fault', { code: 2, text: 'address conflict with 02:00:00:00:00:99' });
    sink.emit('arp_conflict', { address: '198.18.0.2', mac: '02:00:00:00:00:99' });
    assert.deepEqual(
      log.events.map((entry) => entry.event),
      ['fault', 'arp_conflict'],
      'exactly one fault line: the interface’s',
    );
    assert.equal(faults.highest()?.text, 'address conflict (ARP): 198.18.0.2 also claimed by 02:00:00:00:00:99', 'the latest raise’s text');
    assert.equal(faults.pollAt(), FIVE_MINUTES);
  });

  test('a lost peer as TCP reports it (fault, then peer_lost) gives one fault line', () => {
    const clock = new ManualClock(0);
    const log = new RecordingEventSink();
    const faults = new FaultRegistry({ events: log });
    const sink = new FaultEventSink(log, faults, clock);
    // The order src/tcp/timers.ts emits on a keepalive timeout.
    sink.emit('fault', { code: 3, text: 'peer 198.18.0.1:40000 lost (keepalive_timeout, silent 16000 ms)' });
    sink.emit('peer_lost', { id: 1, remote: '198.18.0.1:40000', reason: 'keepalive_timeout', silentMs: 16_000 });
    assert.deepEqual(
      log.events.map((entry) => entry.event),
      ['fault', 'peer_lost'],
    );
    assert.ok(faults.isActive(FaultCode.PEER_LOST));
  });

  test('each SPEC event maps to its code', () => {
    const raised = (event: string, fields: Record<string, unknown> = {}): unknown => {
      const action = faultActionForEvent(event, fields);
      return action && { action: action.action, code: action.code };
    };
    assert.deepEqual(raised('link', { carrier: 'down' }), { action: 'raise', code: 1 });
    assert.deepEqual(raised('link', { carrier: 'up' }), { action: 'clear', code: 1 });
    assert.deepEqual(raised('arp_conflict'), { action: 'raise', code: 2 });
    assert.deepEqual(raised('peer_lost', { remote: '198.18.0.7:4000', reason: 'keepalive_timeout' }), { action: 'raise', code: 3 });
    assert.deepEqual(raised('i2c_error', { sensor: 'bme280' }), { action: 'raise', code: 4 });
    assert.deepEqual(raised('i2c_recovered'), { action: 'clear', code: 4 });
    assert.deepEqual(raised('storage_error', { text: 'ENOSPC' }), { action: 'raise', code: 5 });
    assert.deepEqual(raised('storage_recovered'), { action: 'clear', code: 5 });
    assert.deepEqual(raised('auth_lockout', { address: '198.18.0.9' }), { action: 'raise', code: 6 });
    assert.deepEqual(raised('tcp_limit', { limit: 'connections', port: 7070 }), { action: 'raise', code: 7 });
    assert.deepEqual(raised('resource_limit', { limit: 'memory' }), { action: 'raise', code: 7 });
    assert.deepEqual(raised('fault_cleared', { code: 4 }), { action: 'clear', code: 4 });
    assert.equal(raised('conn_open'), undefined);
  });

  test('texts name the detail the event carried', () => {
    const text = (event: string, fields: Record<string, unknown>): string | undefined => {
      const action = faultActionForEvent(event, fields);
      return action?.action === 'raise' ? action.text : undefined;
    };
    assert.equal(text('peer_lost', { remote: '198.18.0.7:4000', reason: 'user_timeout' }), 'a sensor peer was lost: 198.18.0.7:4000 (user_timeout)');
    assert.equal(text('arp_conflict', { address: '198.18.0.2', mac: '02:00:00:00:00:99' }), 'address conflict (ARP): 198.18.0.2 also claimed by 02:00:00:00:00:99');
    assert.equal(text('tcp_limit', { limit: 'connections' }), 'resource limit reached: connections');
    assert.equal(text('peer_lost', {}), 'a sensor peer was lost');
  });

  test('a lockout holds for its own length when the event gives one', () => {
    const clock = new ManualClock(1000);
    const log = new RecordingEventSink();
    const faults = new FaultRegistry({ events: log });
    const sink = new FaultEventSink(log, faults, clock);
    sink.emit('auth_lockout', { address: '198.18.0.9', durationMs: 40_000 });
    assert.equal(faults.pollAt(), 41_000);
    sink.emit('auth_lockout', { address: '198.18.0.10', durationMs: 'forever' });
    assert.equal(faults.pollAt(), 1000 + FIVE_MINUTES, 'a malformed length falls back to the default hold');
  });

  test('malformed events are ignored or raise with the default text; they never throw', () => {
    const clock = new ManualClock(0);
    const log = new RecordingEventSink();
    const faults = new FaultRegistry({ events: log });
    const sink = new FaultEventSink(log, faults, clock);
    sink.emit('link', { carrier: 'sideways' });
    sink.emit('fault', { code: 99, text: 'no such code' });
    sink.emit('fault', { code: '3' });
    sink.emit('fault_cleared', { code: -1 });
    sink.emit('fault', {});
    assert.deepEqual(codes(faults), []);
    sink.emit('peer_lost', { remote: 42, reason: null });
    assert.equal(faults.highest()?.text, 'a sensor peer was lost');
    assert.equal(log.events.length, 7, 'every event still reaches the log');
  });
});
