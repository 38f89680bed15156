/**
 * The seeded loss sweep (bench/lib/loss-sweep.ts, `npm run loss-sweep`) in miniature:
 * two piwire stacks on the memory wire, virtual time, loss up to 10% each way with and
 * without reordering. Behaviour only, no performance figures: every transfer completes
 * byte-exact within its virtual-time bound, the wire really lost and reordered frames,
 * the sender really recovered, and the same seed gives the same run.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runLossSweep, runSweepPoint, SWEEP_PATH, type SweepPoint } from '../../bench/lib/loss-sweep.ts';

const BYTES = 256 * 1024;
const LIMIT_MS = 600_000;

describe('seeded loss sweep on the memory wire', () => {
  const points: SweepPoint[] = runLossSweep({ losses: [0, 0.02, 0.1], reorders: [0, 0.05], mtus: [1500, 576], bytes: BYTES, seed: 7, limitMs: LIMIT_MS });

  it('runs every point of the grid', () => {
    assert.equal(points.length, 3 * 2 * 2);
  });

  for (const point of points) {
    const name = `MTU ${point.mtu}, ${point.loss * 100}% loss, ${point.reorder * 100}% reordered`;
    it(`${name}: completes byte-exact within the bound`, () => {
      assert.equal(point.firstMismatch, -1, 'received data equals sent data');
      assert.equal(point.received, BYTES);
      assert.ok(point.completed, 'all data delivered, both FINs exchanged');
      assert.ok(point.virtualMs > 0 && point.virtualMs < LIMIT_MS, `finished in ${point.virtualMs} ms of virtual time`);
      assert.ok(point.goodputMbitPerSecond > 0);
      if (point.loss > 0) {
        // Deterministic for this seed and size: ≥ 2% of some 300 frames each way.
        assert.ok(point.framesLost > 0, 'the wire lost frames');
        assert.ok(point.retransmits > 0, 'the sender retransmitted');
      } else {
        assert.equal(point.framesLost, 0);
      }
      if (point.reorder > 0) assert.ok(point.framesReordered > 0, 'the wire reordered frames');
      else assert.equal(point.framesReordered, 0);
      if (point.loss === 0 && point.reorder === 0) {
        assert.equal(point.retransmits, 0, 'a perfect wire needs no retransmission');
        assert.equal(point.rtos, 0);
        assert.equal(point.blackHoleSteps, 0, 'no MTU black hole suspected on a perfect wire');
      }
    });
  }

  it('is exactly repeatable from its seed', () => {
    const options = { ...SWEEP_PATH, loss: 0.05, reorder: 0.05, bytes: BYTES, seed: 3, limitMs: LIMIT_MS };
    const first = runSweepPoint(options);
    assert.ok(first.framesLost > 0);
    assert.deepEqual(runSweepPoint(options), first);
    assert.notDeepEqual(runSweepPoint({ ...options, seed: 4 }), first, 'another seed draws other losses');
  });
});
