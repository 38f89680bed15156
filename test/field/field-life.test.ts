/**
 * The field-life simulator's short run (the long one: `npm run soak -- --days N`):
 * 20 sensors of every behaviour for three simulated hours, then a quiet tail. What a
 * year in the field needs: memory and connection counts back on the same plateau hour
 * after hour, every acknowledged reading in the store, fault 3 raised when a cable is
 * pulled and cleared when its hold runs out, operators' shell sessions that end however
 * the operator leaves, nothing left behind once the sensors stop.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FieldLife, HOUR, MINUTE, type FieldSnapshot } from './simulator.ts';

const SENSORS = 20;
/** Heap growth allowed between hourly snapshots after the first (issue: within 5 MB of the plateau). */
const PLATEAU_SLACK = 5e6;

describe('field life (virtual time)', () => {
  it('20 sensors for three hours: bounded state, no lost reading, faults that come and go', async (t) => {
    const field = new FieldLife({ seed: 7, sensors: SENSORS });
    const hours: FieldSnapshot[] = [];
    for (let hour = 1; hour <= 3; hour++) {
      await field.run(HOUR);
      const snapshot = field.snapshot();
      hours.push(snapshot);
      t.diagnostic(
        `hour ${hour}: heap ${(snapshot.heapUsed / 1e6).toFixed(1)} MB, device connections ${snapshot.deviceConnections}, ` +
          `TIME-WAIT ${snapshot.timeWaits}, orphans ${snapshot.orphans}, sessions ${snapshot.sessions}, acknowledged ${snapshot.acknowledged}, ` +
          `shell logins ${snapshot.operatorLogins} (open ${snapshot.shellSessions})`,
      );
      assert.equal(snapshot.lostAcknowledged, 0, 'every OK had its reading in the store');
      assert.ok(snapshot.deviceConnections <= SENSORS, `device connections bounded: ${snapshot.deviceConnections}`);
      assert.ok(snapshot.serviceConnections <= SENSORS, `service sessions bounded: ${snapshot.serviceConnections}`);
      assert.ok(snapshot.orphans <= SENSORS, `orphans bounded: ${snapshot.orphans}`);
      assert.ok(snapshot.shellSessions <= 2, `shell sessions bounded by the operators: ${snapshot.shellSessions}`);
    }
    const [first, , last] = hours;
    assert.ok(last!.acknowledged > first!.acknowledged * 2.5, 'readings keep flowing');
    assert.ok(last!.heapUsed - first!.heapUsed < PLATEAU_SLACK, `heap on a plateau: ${first!.heapUsed} → ${last!.heapUsed}`);
    assert.ok(last!.raised.filter((code) => code === 3).length >= 3, 'fault 3 raised for the pulled cables');
    assert.ok(last!.operatorLogins >= 4, `operators logged in now and then: ${last!.operatorLogins}`);
    await field.quiesce(10 * MINUTE);
    const quiet = field.snapshot();
    assert.deepEqual(quiet.activeFaults, [], 'every fault cleared once its cause is gone');
    assert.equal(quiet.raised.length, quiet.cleared.length);
    assert.equal(quiet.deviceConnections, 0);
    assert.equal(quiet.timeWaits, 0);
    assert.equal(quiet.orphans, 0);
    assert.equal(quiet.serviceConnections, 0);
    assert.equal(quiet.shellSessions, 0, 'operators who walked away left no session behind');
    assert.ok(quiet.heapUsed - first!.heapUsed < PLATEAU_SLACK, 'memory back to the plateau');
  });
});
