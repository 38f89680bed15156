/**
 * FaultLink: seeded loss, duplication and corruption on top of another link, per direction.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FaultLink, type LinkFaults } from '../../hal/link/fault.ts';
import type { FrameHandler, Link, ReceiveBatch } from '../../hal/link/link.ts';
import { MemoryWire } from '../../hal/link/memory.ts';
import { SeededRandom } from '../../src/random.ts';
import { ManualClock } from '../../src/time.ts';

function frame(index: number): Uint8Array {
  const bytes = new Uint8Array(64).fill(0x33);
  new DataView(bytes.buffer).setUint32(14, index);
  return bytes;
}

function setup(transmit: Partial<LinkFaults>, receive: Partial<LinkFaults>, seed = 7) {
  const clock = new ManualClock(0);
  const wire = new MemoryWire({ clock, random: new SeededRandom(1) });
  const link = new FaultLink(wire.a, { random: new SeededRandom(seed), transmit, receive });
  const atB: Uint8Array[] = [];
  const atLink: Uint8Array[] = [];
  wire.b.setReceiver((bytes) => atB.push(bytes.slice()));
  link.setReceiver((bytes) => atLink.push(bytes));
  return { wire, link, atB, atLink };
}

describe('FaultLink', () => {
  test('transmit faults are near their rates and counted', () => {
    const run = setup({ lossRate: 0.1, duplicateRate: 0.1, corruptRate: 0.1 }, {});
    for (let index = 0; index < 10_000; index++) run.link.transmit(frame(index));
    run.wire.poll(0);
    const stats = run.link.stats();
    const lost = stats['fault.drop.tx-loss'] ?? 0;
    const duplicated = stats['fault.tx.duplicated'] ?? 0;
    const corrupted = stats['fault.tx.corrupted'] ?? 0;
    // Binomial means 1000 (loss), 900 (of the 9000 kept: duplicates), ~990 (corruption of 9900 copies).
    assert.ok(Math.abs(lost - 1000) < 150, `lost ${lost}`);
    assert.ok(Math.abs(duplicated - 900) < 150, `duplicated ${duplicated}`);
    assert.ok(Math.abs(corrupted - 990) < 150, `corrupted ${corrupted}`);
    assert.equal(run.atB.length, 10_000 - lost + duplicated);
    assert.equal(stats['link.tx.frames'], run.atB.length, "the inner link's counters are merged in");
  });

  test("passes the inner link's receive batches on, around the frames it delivers", () => {
    let lend: FrameHandler = () => assert.fail('no receiver set');
    let lendBatch: ReceiveBatch | undefined;
    const inner: Link = {
      name: 'stub',
      mtu: 1500,
      mac: new Uint8Array(6),
      carrier: true,
      setReceiver: (handler, batch) => {
        lend = handler;
        lendBatch = batch;
      },
      onCarrierChange: () => undefined,
      transmit: () => undefined,
      flush: () => undefined,
      close: () => undefined,
      stats: () => ({}),
    };
    const link = new FaultLink(inner, { random: new SeededRandom(7), receive: { duplicateRate: 1 } });
    const log: string[] = [];
    link.setReceiver((bytes) => log.push(`frame ${new DataView(bytes.buffer, bytes.byteOffset).getUint32(14)}`), { beginBatch: () => log.push('begin'), endBatch: () => log.push('end') });
    assert.ok(lendBatch !== undefined, 'the fault link hands its inner link a batch');
    lendBatch.beginBatch();
    lend(frame(1));
    lendBatch.endBatch();
    assert.deepEqual(log, ['begin', 'frame 1', 'frame 1', 'end']);
  });

  test("receive faults copy before corrupting: the inner link's frame stays intact", () => {
    // A stub beneath the fault link, so the test holds the very frame the inner link lends.
    let lend: FrameHandler = () => assert.fail('no receiver set');
    const inner: Link = {
      name: 'stub',
      mtu: 1500,
      mac: new Uint8Array(6),
      carrier: true,
      setReceiver: (handler) => (lend = handler),
      onCarrierChange: () => undefined,
      transmit: () => undefined,
      flush: () => undefined,
      close: () => undefined,
      stats: () => ({}),
    };
    const link = new FaultLink(inner, { random: new SeededRandom(7), receive: { corruptRate: 1, duplicateRate: 1 } });
    const delivered: Uint8Array[] = [];
    link.setReceiver((bytes) => delivered.push(bytes));
    const lent = frame(5);
    lend(lent);
    assert.deepEqual(lent, frame(5), 'the borrowed frame is untouched');
    assert.equal(delivered.length, 2);
    for (const copy of delivered) {
      assert.notEqual(copy, lent);
      assert.notDeepEqual(copy, frame(5));
    }
    assert.equal(link.stats()['fault.rx.corrupted'], 2);
    assert.equal(link.stats()['fault.rx.duplicated'], 1);
  });

  test('receive loss drops and counts; settings change at run time', () => {
    const run = setup({}, { lossRate: 1 });
    run.wire.b.transmit(frame(1));
    run.wire.poll(0);
    assert.equal(run.atLink.length, 0);
    assert.equal(run.link.stats()['fault.drop.rx-loss'], 1);
    run.link.setFaults('receive', { lossRate: 0 });
    assert.deepEqual(run.link.faults('receive'), { lossRate: 0, duplicateRate: 0, corruptRate: 0 });
    run.wire.b.transmit(frame(2));
    run.wire.poll(0);
    assert.equal(run.atLink.length, 1);
    assert.throws(() => run.link.setFaults('transmit', { lossRate: 2 }), RangeError);
  });

  test('is repeatable with the same seed', () => {
    const trace = (seed: number): string[] => {
      const run = setup({ lossRate: 0.2, duplicateRate: 0.2, corruptRate: 0.2 }, {}, seed);
      for (let index = 0; index < 500; index++) run.link.transmit(frame(index));
      run.wire.poll(0);
      return run.atB.map((bytes) => Buffer.from(bytes).toString('hex'));
    };
    assert.deepEqual(trace(3), trace(3));
    assert.notDeepEqual(trace(3), trace(4));
  });

  test('passes the inner link\'s identity and carrier through', () => {
    const run = setup({}, {});
    assert.equal(run.link.name, run.wire.a.name);
    assert.equal(run.link.mtu, run.wire.a.mtu);
    assert.equal(run.link.mac, run.wire.a.mac);
    const changes: boolean[] = [];
    run.link.onCarrierChange((up) => changes.push(up));
    run.wire.pullCable();
    assert.equal(run.link.carrier, false);
    assert.deepEqual(changes, [false]);
  });
});
