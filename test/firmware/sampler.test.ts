/**
 * The I2C sampler (firmware/sensors/sampler.ts) on a manual clock: interval sampling,
 * fault 4 with exponential back-off when the sensor NACKs or the bus hangs, recovery,
 * and that nothing a sensor does escapes as an exception.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/time.ts';
import { RecordingEventSink } from '../../src/events.ts';
import { FaultEventSink, FaultRegistry, faultActionForEvent } from '../../src/diag/faults.ts';
import { raisedFault } from '../support/faults.ts';
import { SimulatedI2cBus } from '../../hal/i2c/sim.ts';
import { Bme280Model } from '../../hal/i2c/bme280-model.ts';
import { Bme280Driver } from '../../hal/i2c/bme280-driver.ts';
import { backoffDelay, bme280Sensor, Sampler, type SampledSensor, type TimerScheduler } from '../../firmware/sensors/sampler.ts';

const UNIX_EPOCH_OFFSET = 1_700_000_000_000;

/** Timers on a ManualClock: `advance` fires due timers in time order, letting promises run between them. */
class ManualScheduler implements TimerScheduler {
  readonly clock = new ManualClock();
  private timers: { at: number; order: number; callback: () => void }[] = [];
  private order = 0;

  now(): number {
    return this.clock.now();
  }
  wallClock(): number {
    return UNIX_EPOCH_OFFSET + this.clock.now();
  }
  setTimer(delayMs: number, callback: () => void): unknown {
    const timer = { at: this.clock.now() + delayMs, order: this.order++, callback };
    this.timers.push(timer);
    return timer;
  }
  clearTimer(handle: unknown): void {
    this.timers = this.timers.filter((timer) => timer !== handle);
  }
  pending(): number[] {
    return this.timers.map((timer) => timer.at - this.clock.now()).sort((a, b) => a - b);
  }
  async advance(ms: number): Promise<void> {
    const end = this.clock.now() + ms;
    await flush();
    for (;;) {
      const due = this.timers.filter((timer) => timer.at <= end).sort((a, b) => a.at - b.at || a.order - b.order)[0];
      if (!due) break;
      this.timers = this.timers.filter((timer) => timer !== due);
      this.clock.set(Math.max(this.clock.now(), due.at));
      due.callback();
      await flush();
    }
    this.clock.set(end);
  }
}

/** Lets every chain of already-settled promises run to its end. */
async function flush(): Promise<void> {
  for (let index = 0; index < 50; index++) await Promise.resolve();
}

interface Published {
  name: string;
  value: number;
  unixMs: number;
  source: string;
}

function setup(options: { intervalMs?: number } = {}) {
  const scheduler = new ManualScheduler();
  const model = new Bme280Model({ environment: { temperatureCelsius: 21.5, pressureHectopascal: 1013.25, humidityPercent: 45 } });
  const bus = new SimulatedI2cBus([[0x76, model]]);
  const driver = new Bme280Driver(bus, { sleep: () => Promise.resolve() });
  const events = new RecordingEventSink();
  const published: Published[] = [];
  const sampler = new Sampler({
    sensors: [bme280Sensor(driver)],
    publish: (name, value, unixMs, source) => published.push({ name, value, unixMs, source }),
    events,
    scheduler,
    intervalMs: options.intervalMs ?? 10_000,
    timeoutMs: 3_000,
    backoff: { initialMs: 1_000, maxMs: 60_000 },
  });
  return { scheduler, model, bus, events, published, sampler };
}

describe('backoffDelay', () => {
  it('starts at the initial delay, doubles, and stops at the cap', () => {
    const backoff = { initialMs: 1_000, maxMs: 60_000 };
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 100].map((failures) => backoffDelay(failures, backoff)), [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  });
});

describe('Sampler', () => {
  it('publishes bme280 readings with source i2c on every interval', async () => {
    const { scheduler, published, sampler, model } = setup();
    sampler.start();
    await scheduler.advance(0);
    assert.deepEqual(published, [
      { name: 'bme280.temperature', value: 21.5, unixMs: UNIX_EPOCH_OFFSET, source: 'i2c' },
      { name: 'bme280.pressure', value: 1013.25, unixMs: UNIX_EPOCH_OFFSET, source: 'i2c' },
      { name: 'bme280.humidity', value: 45, unixMs: UNIX_EPOCH_OFFSET, source: 'i2c' },
    ]);
    model.setEnvironment({ temperatureCelsius: 22 });
    await scheduler.advance(9_999);
    assert.equal(published.length, 3);
    await scheduler.advance(1);
    assert.equal(published.length, 6);
    assert.deepEqual(published[3], { name: 'bme280.temperature', value: 22, unixMs: UNIX_EPOCH_OFFSET + 10_000, source: 'i2c' });
    sampler.stop();
    await scheduler.advance(60_000);
    assert.equal(published.length, 6);
    assert.deepEqual(scheduler.pending(), []);
  });

  it('raises fault 4 when the sensor NACKs, backs off exponentially, and clears it on recovery', async () => {
    const { scheduler, bus, events, published, sampler } = setup();
    sampler.start();
    await scheduler.advance(0);
    assert.equal(published.length, 3);
    bus.inject({ kind: 'nack', address: 0x76 });

    // t = 10 s: the sample fails; i2c_error (the cause of fault 4) on every failed attempt.
    await scheduler.advance(10_000);
    assert.deepEqual(events.named('fault'), [], 'the cause only: the one fault table raises 4');
    assert.equal(raisedFault('i2c_error', events.named('i2c_error')[0]), 4);
    assert.match(String(events.named('i2c_error')[0]?.['text']), /^bme280@0x76: EREMOTEIO/);
    assert.equal(events.named('i2c_error')[0]?.['code'], 'EREMOTEIO');
    assert.equal(events.named('i2c_error')[0]?.['retryInMs'], 1_000);
    // Retries at +1, +2, +4, +8 s after each failure.
    const failureTimes: number[] = [];
    for (let step = 0; step < 15_000; step += 500) {
      const before = events.named('i2c_error').length;
      await scheduler.advance(500);
      if (events.named('i2c_error').length > before) failureTimes.push(scheduler.now());
    }
    assert.deepEqual(failureTimes, [11_000, 13_000, 17_000, 25_000]);
    assert.deepEqual(events.named('i2c_error').map((fields) => fields['retryInMs']), [1_000, 2_000, 4_000, 8_000, 16_000]);
    assert.deepEqual(events.named('i2c_error').map((fields) => fields['failing']), [1, 1, 1, 1, 1]);
    assert.equal(sampler.status()[0]?.healthy, false);
    assert.equal(sampler.status()[0]?.consecutiveFailures, 5);
    assert.equal(published.length, 3);

    // The sensor answers again; the next retry (t = 41 s) succeeds.
    bus.clearFaults();
    await scheduler.advance(41_000 - scheduler.now());
    assert.equal(published.length, 6);
    assert.deepEqual(events.named('i2c_recovered'), [{ sensor: 'bme280@0x76', failing: 0 }]);
    assert.deepEqual(faultActionForEvent('i2c_recovered', events.named('i2c_recovered')[0] ?? {}), { action: 'clear', code: 4, announce: true });
    assert.equal(sampler.status()[0]?.healthy, true);
    // Back to the normal interval, and a new failure starts the back-off from 1 s again.
    assert.deepEqual(scheduler.pending(), [10_000]);
    bus.inject({ kind: 'nack', address: 0x76, transfers: 1 });
    await scheduler.advance(10_000);
    assert.equal(events.named('i2c_error').at(-1)?.['retryInMs'], 1_000);
    assert.equal(events.named('i2c_error').length, 6);
    await scheduler.advance(1_000);
    assert.equal(published.length, 9);
  });

  it('drives the fault registry: fault 4 active while failing, logged once each way', async () => {
    const { scheduler, bus } = setup();
    const log = new RecordingEventSink();
    const registry = new FaultRegistry({ events: log });
    // Rewire the sampler's events through the registry, as the firmware does.
    const sink = new FaultEventSink(log, registry, scheduler.clock);
    const published: string[] = [];
    const wired = new Sampler({
      sensors: [bme280Sensor(new Bme280Driver(bus, { sleep: () => Promise.resolve() }))],
      publish: (name) => published.push(name),
      events: sink,
      scheduler,
    });
    bus.inject({ kind: 'nack', address: 0x76 });
    wired.start();
    await scheduler.advance(0);
    assert.equal(registry.isActive(4), true);
    await scheduler.advance(3_000);
    bus.clearFaults();
    await scheduler.advance(60_000);
    assert.equal(registry.isActive(4), false);
    assert.equal(log.named('fault').length, 1);
    assert.equal(log.named('fault_cleared').length, 1);
    assert.ok(published.length >= 3);
    wired.stop();
  });

  it('treats a hung bus as a failure after the timeout and ignores the late answer', async () => {
    const { scheduler, bus, events, published, sampler } = setup();
    bus.inject({ kind: 'hang' });
    sampler.start();
    await scheduler.advance(2_999);
    assert.equal(events.named('i2c_error').length, 0);
    await scheduler.advance(1);
    assert.match(String(events.named('i2c_error')[0]?.['text']), /no answer within 3000 ms/);
    assert.equal(raisedFault('i2c_error', events.named('i2c_error')[0]), 4);
    // The hung transfer now fails late (ETIMEDOUT); that answer must not count again.
    bus.clearFaults();
    await scheduler.advance(0);
    assert.equal(events.named('i2c_error').length, 1);
    await scheduler.advance(1_000);
    assert.equal(published.length, 3);
    assert.equal(events.named('i2c_recovered').length, 1);
  });

  it('survives a wrong chip id, a throwing sensor and a throwing publisher', async () => {
    const scheduler = new ManualScheduler();
    const events = new RecordingEventSink();
    const wrongChip = new SimulatedI2cBus([[0x76, new Bme280Model({ chipId: 0x58 })]]);
    const throwing: SampledSensor = {
      name: 'broken',
      sample: () => {
        throw new TypeError('synchronous bug');
      },
    };
    const fine: SampledSensor = { name: 'fine', sample: async () => [{ name: 'fine.value', value: 1 }] };
    const sampler = new Sampler({
      sensors: [bme280Sensor(new Bme280Driver(wrongChip, { sleep: () => Promise.resolve() })), throwing, fine],
      publish: () => {
        throw new Error('store unavailable');
      },
      events,
      scheduler,
    });
    sampler.start();
    await scheduler.advance(0);
    const texts = events.named('i2c_error').map((fields) => String(fields['text']));
    assert.equal(texts.length, 2);
    assert.match(texts[0] ?? '', /EWRONGCHIP.*0x58/);
    assert.match(texts[1] ?? '', /broken: synchronous bug/);
    assert.equal(events.named('i2c_publish_error').length, 1);
    // One fault for all sensors; it stays while any sensor fails.
    assert.deepEqual(events.named('i2c_error').map((fields) => fields['failing']), [1, 2]);
    assert.equal(faultActionForEvent('i2c_recovered', { sensor: 'broken', failing: 1 }), undefined, 'not cleared while another fails');
    sampler.stop();
  });

  it('keeps its cadence from the start of each sample', async () => {
    const scheduler = new ManualScheduler();
    const events = new RecordingEventSink();
    const times: number[] = [];
    const slow: SampledSensor = {
      name: 'slow',
      sample: () =>
        new Promise((resolve) => {
          times.push(scheduler.now());
          scheduler.setTimer(400, () => resolve([]));
        }),
    };
    const sampler = new Sampler({ sensors: [slow], publish: () => undefined, events, scheduler, intervalMs: 1_000 });
    sampler.start();
    await scheduler.advance(3_500);
    assert.deepEqual(times, [0, 1_000, 2_000, 3_000]);
    sampler.stop();
  });
});
