import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryHub } from '../../hal/link/hub.ts';
import { ManualClock } from '../../src/time.ts';

const mac = (last: number): Uint8Array => Uint8Array.of(2, 0, 0, 0, 0, last);

describe('memory hub', () => {
  it('delivers a frame to every other port after the delay, in order', () => {
    const clock = new ManualClock(0);
    const hub = new MemoryHub({ clock, delayMs: 2 });
    const a = hub.port('a', mac(1));
    const b = hub.port('b', mac(2));
    const c = hub.port('c', mac(3));
    const seen: string[] = [];
    a.setReceiver((f) => seen.push(`a:${f[0]}`));
    b.setReceiver((f) => seen.push(`b:${f[0]}`));
    c.setReceiver((f) => seen.push(`c:${f[0]}`));
    a.transmit(Uint8Array.of(1));
    a.transmit(Uint8Array.of(2));
    assert.equal(hub.pollAt(), 2);
    hub.poll(1);
    assert.deepEqual(seen, []);
    clock.set(2);
    hub.poll(2);
    assert.deepEqual(seen, ['b:1', 'c:1', 'b:2', 'c:2']);
    assert.equal(hub.pollAt(), undefined);
  });

  it('cuts a pulled port off both ways, keeps the others talking, and reports carrier', () => {
    const clock = new ManualClock(0);
    const hub = new MemoryHub({ clock });
    const device = hub.port('device', mac(1));
    const good = hub.port('good', mac(2));
    const flaky = hub.port('flaky', mac(3));
    const carrier: boolean[] = [];
    flaky.onCarrierChange((up) => carrier.push(up));
    const atDevice: number[] = [];
    const atFlaky: number[] = [];
    device.setReceiver((f) => atDevice.push(f[0] ?? -1));
    flaky.setReceiver((f) => atFlaky.push(f[0] ?? -1));
    flaky.setCable(false);
    flaky.transmit(Uint8Array.of(7));
    good.transmit(Uint8Array.of(8));
    device.transmit(Uint8Array.of(9));
    hub.poll(0);
    assert.deepEqual(atDevice, [8]);
    assert.deepEqual(atFlaky, []);
    assert.equal(device.carrier, true);
    assert.equal(flaky.carrier, false);
    assert.equal(flaky.stats()['drop.unplugged'], 1);
    flaky.setCable(true);
    flaky.transmit(Uint8Array.of(10));
    hub.poll(0);
    assert.deepEqual(atDevice, [8, 10]);
    assert.deepEqual(carrier, [false, true]);
  });
});
