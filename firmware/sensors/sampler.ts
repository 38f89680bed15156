/**
 * Samples the local I2C sensors on an interval and publishes their readings
 * (SPEC §4: `bme280.temperature` etc., source `i2c`; SPEC §7: a failing sensor sets
 * fault 4, is retried with back-off and never crashes the firmware).
 *
 * Per sensor: sample, publish every value, wait `intervalMs` (measured from the start
 * of the sample, so the cadence does not drift by the time a sample takes), repeat.
 * A sample that rejects or does not settle within `timeoutMs` (a stuck bus can hang a
 * transfer) is a failure: the sensor is retried after a back-off that starts at
 * `backoff.initialMs` and doubles up to `backoff.maxMs`, so a dead sensor costs one
 * bus transaction a minute, not a log line a second. The first success after a
 * failure resets the back-off.
 *
 * Events (causes; src/diag/faults.ts is the one table that turns them into fault 4):
 * - on every failed attempt `i2c_error` {sensor, text, code, failures, retryInMs,
 *   failing: sensors failing now};
 * - when a failing sensor works again `i2c_recovered` {sensor, failing}: fault 4 is one
 *   state for all sensors, cleared only once `failing` is 0.
 *
 * Timing goes through an injected TimerScheduler (real timers in the firmware, a manual
 * clock in tests); nothing here reads the clock or sets a timer directly.
 */
import { performance } from 'node:perf_hooks';
import type { EventSink } from '../../src/events.ts';
import type { Bme280Driver } from '../../hal/i2c/bme280-driver.ts';

export interface SensorValue {
  name: string;
  value: number;
}

/** A sensor as the sampler sees it. */
export interface SampledSensor {
  /** For logs and fault texts: `bme280@0x76`. */
  readonly name: string;
  /** One sample; rejects on any failure. */
  sample(): Promise<SensorValue[]>;
}

export type PublishReading = (name: string, value: number, unixMs: number, source: 'i2c') => void;

export interface TimerScheduler {
  /** Monotonic milliseconds. */
  now(): number;
  /** Unix milliseconds, for the readings' timestamps. */
  wallClock(): number;
  setTimer(delayMs: number, callback: () => void): unknown;
  clearTimer(handle: unknown): void;
}

/** Node's timers; unref'd, since sampling alone is no reason to keep the process alive. */
export const realTimerScheduler: TimerScheduler = {
  now: () => performance.now(),
  wallClock: () => Date.now(),
  setTimer: (delayMs, callback) => setTimeout(callback, delayMs).unref(),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export interface SamplerOptions {
  sensors: readonly SampledSensor[];
  publish: PublishReading;
  events: EventSink;
  scheduler?: TimerScheduler;
  /** Time between samples of a healthy sensor. Default 10 s. */
  intervalMs?: number;
  /** A sample that takes longer failed. Default 5 s. */
  timeoutMs?: number;
  /** Retry delays after failures. Default 1 s doubling to 60 s. */
  backoff?: BackoffOptions;
}

export interface SensorStatus {
  name: string;
  healthy: boolean;
  consecutiveFailures: number;
  lastError: string | undefined;
  /** Unix ms of the last successful sample. */
  lastSuccessAt: number | undefined;
  /** Monotonic instant of the next attempt, while scheduled. */
  nextAttemptAt: number | undefined;
}

type Outcome = { ok: true; values: SensorValue[] } | { ok: false; error: unknown };

interface SensorState {
  sensor: SampledSensor;
  failures: number;
  lastError: string | undefined;
  lastSuccessAt: number | undefined;
  timer: unknown;
  nextAttemptAt: number | undefined;
  /** Bumped per attempt and on stop, so a late answer of an abandoned attempt is ignored. */
  generation: number;
  inFlight: Promise<void> | undefined;
}

export const DEFAULT_SAMPLE_INTERVAL_MS = 10_000;
export const DEFAULT_SAMPLE_TIMEOUT_MS = 5_000;
export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ initialMs: 1_000, maxMs: 60_000 });

/** The delay before retry number `failures` (1 for the first failure). */
export function backoffDelay(failures: number, backoff: BackoffOptions): number {
  const exponent = Math.max(0, failures - 1);
  // Capped exponent: 2^exponent stays finite however long a sensor stays dead.
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(exponent, 30));
}

export class Sampler {
  private readonly states: SensorState[];
  private readonly publish: PublishReading;
  private readonly events: EventSink;
  private readonly scheduler: TimerScheduler;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly backoff: BackoffOptions;
  private running = false;

  constructor(options: SamplerOptions) {
    this.states = options.sensors.map((sensor) => ({
      sensor,
      failures: 0,
      lastError: undefined,
      lastSuccessAt: undefined,
      timer: undefined,
      nextAttemptAt: undefined,
      generation: 0,
      inFlight: undefined,
    }));
    this.publish = options.publish;
    this.events = options.events;
    this.scheduler = options.scheduler ?? realTimerScheduler;
    this.intervalMs = options.intervalMs ?? DEFAULT_SAMPLE_INTERVAL_MS;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_SAMPLE_TIMEOUT_MS;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    if (!(this.intervalMs > 0) || !(this.timeoutMs > 0) || !(this.backoff.initialMs > 0) || !(this.backoff.maxMs >= this.backoff.initialMs)) {
      throw new RangeError('sampler intervals must be positive, and backoff.maxMs >= backoff.initialMs');
    }
  }

  /** Samples every sensor now, then on its schedule. */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (const state of this.states) this.schedule(state, 0);
  }

  /** Cancels every timer; answers of samples still running are dropped. */
  stop(): void {
    this.running = false;
    for (const state of this.states) {
      if (state.timer !== undefined) this.scheduler.clearTimer(state.timer);
      state.timer = undefined;
      state.nextAttemptAt = undefined;
      state.generation += 1;
    }
  }

  /** Resolves when the samples running now have been handled (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.all(this.states.map((state) => state.inFlight));
  }

  status(): SensorStatus[] {
    return this.states.map((state) => ({
      name: state.sensor.name,
      healthy: state.failures === 0,
      consecutiveFailures: state.failures,
      lastError: state.lastError,
      lastSuccessAt: state.lastSuccessAt,
      nextAttemptAt: state.nextAttemptAt,
    }));
  }

  private schedule(state: SensorState, delayMs: number): void {
    if (state.timer !== undefined) this.scheduler.clearTimer(state.timer);
    state.nextAttemptAt = this.scheduler.now() + delayMs;
    state.timer = this.scheduler.setTimer(delayMs, () => {
      state.timer = undefined;
      state.nextAttemptAt = undefined;
      this.attempt(state);
    });
  }

  private attempt(state: SensorState): void {
    if (!this.running) return;
    const generation = ++state.generation;
    const startedAt = this.scheduler.now();
    let finish: (outcome: Outcome) => void = () => undefined;
    const outcome = new Promise<Outcome>((resolve) => (finish = resolve));
    const timeout = this.scheduler.setTimer(this.timeoutMs, () =>
      finish({ ok: false, error: new Error(`no answer within ${this.timeoutMs} ms (bus stuck?)`) }),
    );
    // The sensor may throw synchronously or reject; either is a failed sample.
    Promise.resolve()
      .then(() => state.sensor.sample())
      .then(
        (values) => finish({ ok: true, values }),
        (error: unknown) => finish({ ok: false, error }),
      );
    state.inFlight = outcome.then((result) => {
      this.scheduler.clearTimer(timeout);
      if (!this.running || generation !== state.generation) return;
      if (result.ok) this.succeeded(state, result.values, startedAt);
      else this.failed(state, result.error);
    });
  }

  private succeeded(state: SensorState, values: SensorValue[], startedAt: number): void {
    const unixMs = this.scheduler.wallClock();
    for (const { name, value } of values) {
      try {
        this.publish(name, value, unixMs, 'i2c');
      } catch (error) {
        // The store's trouble is its own fault (5); it must not stop sampling.
        this.events.emit('i2c_publish_error', { sensor: state.sensor.name, name, text: describe(error) });
      }
    }
    state.lastSuccessAt = unixMs;
    if (state.failures > 0) {
      state.failures = 0;
      state.lastError = undefined;
      this.events.emit('i2c_recovered', { sensor: state.sensor.name, failing: this.failingCount() });
    }
    this.schedule(state, Math.max(0, startedAt + this.intervalMs - this.scheduler.now()));
  }

  private failed(state: SensorState, error: unknown): void {
    state.failures += 1;
    const text = `${state.sensor.name}: ${describe(error)}`;
    state.lastError = text;
    const retryInMs = backoffDelay(state.failures, this.backoff);
    const code = (error as { code?: unknown } | undefined)?.code;
    this.events.emit('i2c_error', {
      sensor: state.sensor.name,
      text,
      ...(typeof code === 'string' ? { code } : {}),
      failures: state.failures,
      retryInMs,
      failing: this.failingCount(),
    });
    this.schedule(state, retryInMs);
  }

  private failingCount(): number {
    return this.states.filter((state) => state.failures > 0).length;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The BME280 as a sampled sensor. Values are rounded to what the part resolves:
 * 0.01 °C (the integer formula's unit), 0.01 hPa (1 Pa; the RMS noise at x1
 * oversampling is 3.3 Pa, datasheet table 3), 0.01 %RH (noise 0.07 %RH).
 */
export function bme280Sensor(driver: Bme280Driver): SampledSensor {
  return {
    name: driver.name,
    async sample(): Promise<SensorValue[]> {
      const reading = await driver.read();
      return [
        { name: 'bme280.temperature', value: reading.centiCelsius / 100 },
        { name: 'bme280.pressure', value: Math.round(reading.pressureHectopascal * 100) / 100 },
        { name: 'bme280.humidity', value: Math.round(reading.humidityPercent * 100) / 100 },
      ];
    },
  };
}
