/**
 * DHCP's causes in the fault table: a lost lease is fault 2 (the address family) as a
 * state, not a 5-minute incident: it stays until the next bind clears it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FaultEventSink, FaultRegistry } from '../../src/diag/faults.ts';
import { RecordingEventSink } from '../../src/events.ts';
import { ManualClock } from '../../src/time.ts';

describe('fault 2 for a lost DHCP lease', () => {
  it('is raised by dhcp_lost, outlives the incident hold, and is cleared by dhcp_bound', () => {
    const clock = new ManualClock(0);
    const log = new RecordingEventSink();
    const registry = new FaultRegistry({ events: log });
    const sink = new FaultEventSink(log, registry, clock);
    sink.emit('dhcp_lost', { ip: '198.18.0.50', reason: 'expired' });
    assert.deepEqual(
      registry.active().map((fault) => [fault.code, fault.text, fault.expiresAt]),
      [[2, 'no address: DHCP lease for 198.18.0.50 expired', undefined]],
    );
    clock.advance(6 * 60_000);
    registry.poll(clock.now());
    assert.equal(registry.active().length, 1, 'still no address after the 5-minute incident hold');
    sink.emit('dhcp_bound', { ip: '198.18.0.50' });
    assert.deepEqual(registry.active(), []);
    assert.deepEqual(log.named('fault_cleared').map((fields) => fields['code']), [2]);
  });

  it('an ARP conflict raised while the lease is lost does not put a hold on the state', () => {
    const clock = new ManualClock(0);
    const registry = new FaultRegistry({ events: new RecordingEventSink() });
    const sink = new FaultEventSink(new RecordingEventSink(), registry, clock);
    sink.emit('dhcp_lost', { ip: '198.18.0.50', reason: 'nak' });
    sink.emit('arp_conflict', { address: '198.18.0.50', mac: '02:00:00:00:00:99' });
    clock.advance(6 * 60_000);
    registry.poll(clock.now());
    assert.equal(registry.active()[0]?.code, 2);
  });
});
