/**
 * The field-life simulator: a device left in the field, replayed on virtual time.
 *
 * One device (a full NetStack with the sensor service, a FaultRegistry fed by the
 * stack's cause events through the one fault table) sits on a memory hub with N
 * simulated sensors, each a piwire stack of its own with a behaviour drawn from a
 * seeded random source:
 *
 *   regular     every minute (± jitter): connect, HELLO, PUT, then QUIT (the device
 *               closes first and holds TIME-WAIT) or end() (the sensor closes first)
 *   lossy       the same behind a cable that loses 3 % of frames each way
 *   sleeper     PUT, end(), and deep sleep at once (the cable is pulled for a few
 *               minutes): the device's FIN is never acknowledged
 *   non-reader  subscribes to everything and never reads: the device answers
 *               ERR 507 and closes; the sensor reconnects now and then
 *   puller      keeps one connection open; its cable is pulled for longer than the
 *               keepalive detection now and then (fault 3), then it reconnects
 *
 * and operators who open the remote shell now and then, log in (challenge–response),
 * look at `status` and `conns`, and then quit or just walk away (the socket dropped).
 * Their logins go through scrypt on Node's thread pool, so when exactly a login
 * completes on the virtual clock is not seeded; everything else is.
 *
 * Every PUT that got `OK` is checked against the store at the moment the OK arrives
 * (SPEC §4: OK only after the reading is durably queued). `snapshot()` reports what a
 * year in the field needs bounded: heap after a full GC, the device's connections,
 * TIME-WAIT records and orphans, and the faults raised and cleared.
 *
 * Everything runs on one VirtualWorld clock: a simulated day takes seconds of wall time.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MemoryHub, type HubPort } from '../../hal/link/hub.ts';
import { FaultLink } from '../../hal/link/fault.ts';
import type { Link } from '../../hal/link/link.ts';
import { NetStack } from '../../src/stack.ts';
import { SeededRandom, type RandomSource } from '../../src/random.ts';
import { formatIpv4, parseIpv4, type MacAddress } from '../../src/net/address.ts';
import { nullEventSink, type EventFields, type EventSink } from '../../src/events.ts';
import { FaultEventSink, FaultRegistry } from '../../src/diag/faults.ts';
import { startSensorService, type SensorService } from '../../src/services/sensors/service.ts';
import { LatestIndex, type CommitListener, type Reading, type ReadingListener, type ReadingStore } from '../../src/storage/readings.ts';
import type { Socket } from '../../src/socket/socket.ts';
import type { Instant, Pollable } from '../../src/time.ts';
import { VirtualWorld } from '../support/virtual-world.ts';
import { createStoredSecret, formatStoredSecret } from '../../src/services/shell/auth.ts';
import { startShellService, type ShellService } from '../../src/services/shell/server.ts';
import { stackShellContext } from '../../src/services/shell/context.ts';
import { LineReader, shellCommand, shellLogin } from '../../firmware/shell-client.ts';
import { FakeContext } from '../services/shell/fake-context.ts';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

const DEVICE_ADDRESS = '198.18.0.2';
const SENSOR_PORT = 7070;

export type Behaviour = 'regular' | 'lossy' | 'sleeper' | 'non-reader' | 'puller';

/** Shares of the fleet, in order; the rest are regular. */
const MIX: readonly [Behaviour, number][] = [
  ['lossy', 0.1],
  ['sleeper', 0.15],
  ['non-reader', 0.05],
  ['puller', 0.1],
];

export interface FieldLifeOptions {
  seed: number;
  sensors: number;
  /** Operators visiting the shell (default 2). */
  operators?: number;
  /** Shares of the fleet by behaviour, the rest regular (default: MIX). */
  mix?: readonly [Behaviour, number][];
}

const SHELL_PORT = 2323;
/** Readings a non-reader puts in one go: far more VAL lines than a subscriber may leave unread. */
const NON_READER_BURST = 2000;
const OPERATOR = 'operator';
const OPERATOR_SECRET = 'field-life';
/** Cheap scrypt for the simulation (the firmware's default is far costlier). */
const SIMULATION_SCRYPT = { N: 1024, r: 8, p: 1 };

export interface FieldSnapshot {
  at: Instant;
  heapUsed: number;
  deviceConnections: number;
  timeWaits: number;
  orphans: number;
  serviceConnections: number;
  sessions: number;
  /** Shell sessions open on the device now, and operator logins so far. */
  shellSessions: number;
  operatorLogins: number;
  acknowledged: number;
  /** OKs whose reading was not in the store when the OK arrived (must stay 0). */
  lostAcknowledged: number;
  activeFaults: number[];
  /** Fault codes raised and cleared so far, in the order they happened. */
  raised: number[];
  cleared: number[];
}

/** A store that commits at once and remembers each committed reading until its OK is checked. */
class CheckingStore implements ReadingStore {
  private readonly index = new LatestIndex();
  /** Committed readings not yet matched by an OK, by name: their timestamps. */
  private readonly unmatched = new Map<string, Set<number>>();

  append(reading: Reading): Promise<void> {
    let timestamps = this.unmatched.get(reading.name);
    if (timestamps === undefined) {
      timestamps = new Set();
      this.unmatched.set(reading.name, timestamps);
    }
    timestamps.add(reading.timestamp);
    this.index.commit(reading);
    return Promise.resolve();
  }

  write<Token>(reading: Reading, listener: CommitListener<Token>, token: Token): void {
    void this.append(reading).then(() => listener.committed(token, undefined));
  }

  /** The OK for (name, ts) arrived: was it committed? Forgets it either way (bounded). */
  takeAcknowledged(name: string, ts: number): boolean {
    return this.unmatched.get(name)?.delete(ts) ?? false;
  }

  /** Committed readings whose OK never reached the sensor (its connection died first). */
  forgetUnacknowledged(name: string): void {
    this.unmatched.get(name)?.clear();
  }

  latest(name: string): Reading | undefined {
    return this.index.latest(name);
  }
  list(): Reading[] {
    return this.index.list();
  }
  subscribe(listener: ReadingListener): () => void {
    return this.index.subscribe(listener);
  }
}

/** Runs callbacks at virtual instants (a Pollable in the world). */
class Agenda implements Pollable {
  private readonly entries: { at: Instant; run: () => void }[] = [];

  at(at: Instant, run: () => void): void {
    let index = this.entries.length;
    while (index > 0 && this.entries[index - 1]!.at > at) index--;
    this.entries.splice(index, 0, { at, run });
  }

  pollAt(): Instant | undefined {
    return this.entries[0]?.at;
  }

  poll(now: Instant): void {
    while (this.entries.length > 0 && this.entries[0]!.at <= now) this.entries.shift()!.run();
  }
}

/** Collects the fault registry's announcements. */
class FaultLog implements EventSink {
  readonly raised: number[] = [];
  readonly cleared: number[] = [];
  emit(event: string, fields: EventFields = {}): void {
    const code = fields['code'];
    if (typeof code !== 'number') return;
    if (event === 'fault') this.raised.push(code);
    if (event === 'fault_cleared') this.cleared.push(code);
  }
}

class SimulatedSensor {
  private session: Socket | undefined;
  sessions = 0;
  stopped = false;

  constructor(
    private readonly field: FieldLife,
    readonly name: string,
    readonly behaviour: Behaviour,
    readonly stack: NetStack,
    readonly port: HubPort,
  ) {}

  start(at: Instant): void {
    this.field.agenda.at(at, () => this.connect());
  }

  private connect(): void {
    if (this.stopped || this.session !== undefined) return;
    this.sessions++;
    const socket = this.stack.net.connect({ host: DEVICE_ADDRESS, port: SENSOR_PORT });
    this.session = socket;
    const ts = 1_700_000_000_000 + this.field.world.now;
    const reading = `${this.name}.value`;
    let buffered = '';
    let putAcknowledged = false;
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.session = undefined;
      if (!putAcknowledged) this.field.store.forgetUnacknowledged(reading);
      this.scheduleNext();
    });
    switch (this.behaviour) {
      case 'non-reader': {
        // Subscribes to everything, then floods readings on a second connection (QUIET: no
        // OKs), so the VAL lines it never reads pile up: the device answers ERR 507,
        // closes, and resets the connection once closeGraceMs passes with nothing read.
        socket.write('SUB *\n');
        const publisher = this.stack.net.connect({ host: DEVICE_ADDRESS, port: SENSOR_PORT });
        publisher.on('error', () => undefined);
        publisher.resume();
        const burst: string[] = ['QUIET on'];
        for (let n = 0; n < NON_READER_BURST; n++) burst.push(`PUT ${reading} ${n} ${ts + n}`);
        publisher.end(`${burst.join('\n')}\n`);
        // Never reads: no 'data' listener. Gives up after a while and tries again.
        this.field.agenda.at(this.field.world.now + 10 * MINUTE, () => socket.destroy());
        return;
      }
      case 'puller':
        socket.write(`HELLO ${this.name}\n`);
        this.field.agenda.at(this.field.world.now + 20 * MINUTE, () => this.pullCable(MINUTE));
        return;
      default:
        break;
    }
    const quitFirst = this.field.random.uint32() % 2 === 0;
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line === 'OK' && !putAcknowledged) {
          putAcknowledged = true;
          this.field.acknowledged++;
          if (!this.field.store.takeAcknowledged(reading, ts)) this.field.lostAcknowledged++;
          if (this.behaviour === 'sleeper') {
            // Sleeps once its FIN is on the wire: the device's FIN is never acknowledged.
            const duration = 3 * MINUTE + (this.field.random.uint32() % (4 * MINUTE));
            socket.once('finish', () => this.field.agenda.at(this.field.world.now + 100, () => this.sleep(duration)));
            socket.end();
          } else if (quitFirst) {
            socket.write('QUIT\n');
          } else {
            socket.end();
          }
        }
      }
    });
    socket.on('end', () => socket.end());
    socket.write(`HELLO ${this.name}\nPUT ${reading} ${this.sessions} ${ts}\n`);
  }

  private scheduleNext(): void {
    if (this.stopped) return;
    const jitter = this.field.random.uint32() % 20_000;
    const pause = this.behaviour === 'non-reader' ? MINUTE : this.behaviour === 'puller' ? 5_000 : 50_000 + jitter;
    this.field.agenda.at(this.field.world.now + pause, () => this.connect());
  }

  /** Deep sleep: the cable is out, the stack keeps whatever state it had. */
  private sleep(duration: number): void {
    this.port.setCable(false);
    this.field.agenda.at(this.field.world.now + duration, () => this.port.setCable(true));
  }

  /** The cable is pulled for `duration` under an idle connection. */
  private pullCable(duration: number): void {
    this.port.setCable(false);
    this.field.agenda.at(this.field.world.now + duration, () => {
      this.port.setCable(true);
      // The sensor's own keepalive has given up meanwhile, or will: start afresh.
      this.session?.destroy();
    });
  }

  stop(): void {
    this.stopped = true;
    this.port.setCable(true);
    this.session?.destroy();
  }
}

class SimulatedOperator {
  logins = 0;
  private stopped = false;
  private socket: Socket | undefined;

  constructor(
    private readonly field: FieldLife,
    readonly stack: NetStack,
  ) {}

  start(at: Instant): void {
    this.field.agenda.at(at, () => void this.visit());
  }

  private async visit(): Promise<void> {
    if (this.stopped) return;
    const socket = this.stack.net.connect({ host: DEVICE_ADDRESS, port: SHELL_PORT });
    this.socket = socket;
    socket.on('error', () => undefined);
    const reader = new LineReader(socket);
    try {
      await shellLogin(socket, reader, OPERATOR, OPERATOR_SECRET);
      this.logins++;
      await shellCommand(socket, reader, 'status', () => undefined);
      await shellCommand(socket, reader, 'conns', () => undefined);
      if (this.field.random.uint32() % 2 === 0) socket.end('quit\n');
      else socket.destroy(); // walks away: the device must notice and free the session
    } catch {
      socket.destroy();
    }
    this.socket = undefined;
    if (!this.stopped) this.field.agenda.at(this.field.world.now + 20 * MINUTE + (this.field.random.uint32() % (20 * MINUTE)), () => void this.visit());
  }

  stop(): void {
    this.stopped = true;
    this.socket?.destroy();
  }
}

export class FieldLife {
  readonly world = new VirtualWorld();
  readonly agenda = new Agenda();
  readonly random: RandomSource;
  readonly store = new CheckingStore();
  readonly device: NetStack;
  readonly faults: FaultRegistry;
  readonly sensors: SimulatedSensor[] = [];
  readonly operators: SimulatedOperator[] = [];
  /** The shell service starts once the operator's stored secret is made (scrypt is asynchronous). */
  private readonly ready: Promise<ShellService>;
  private readonly faultLog = new FaultLog();
  private readonly service: SensorService;
  private shell: ShellService | undefined;
  private readonly gc: () => void;
  acknowledged = 0;
  lostAcknowledged = 0;

  constructor(options: FieldLifeOptions) {
    this.random = new SeededRandom(options.seed);
    const hub = this.world.add(new MemoryHub({ clock: this.world.clock, delayMs: 1 }));
    this.world.add(this.agenda);
    this.faults = this.world.add(new FaultRegistry({ events: this.faultLog }));
    const deviceEvents = new FaultEventSink(nullEventSink, this.faults, this.world.clock);
    const devicePort = hub.port('device', mac(2));
    this.device = attach(
      this.world,
      devicePort,
      new NetStack(
        devicePort,
        { mac: mac(2), address: parseIpv4(DEVICE_ADDRESS)!, prefixLength: 16, mtu: 1500, tcp: { maxConnections: 1024 } },
        { clock: this.world.clock, random: new SeededRandom(options.seed + 1), events: deviceEvents },
      ),
    );
    this.service = startSensorService({
      api: this.device.net,
      port: SENSOR_PORT,
      store: this.store,
      clock: this.world.clock,
      wallClock: { now: () => 1_700_000_000_000 + this.world.now },
      events: deviceEvents,
    });
    for (let i = 0; i < options.sensors; i++) {
      const behaviour = pickBehaviour(i, options.sensors, options.mix ?? MIX);
      const address = 0xc6120000 + 10 + i; // 198.18.0.10 onwards
      const port = hub.port(`sensor-${i}`, mac(10 + i));
      const link: Link =
        behaviour === 'lossy'
          ? new FaultLink(port, { random: new SeededRandom(options.seed * 1000 + i), transmit: { lossRate: 0.03 }, receive: { lossRate: 0.03 } })
          : port;
      const stack = lanHost(this.world, link, mac(10 + i), address, options.seed * 7919 + i);
      this.sensors.push(new SimulatedSensor(this, `sensor-${formatIpv4(address).split('.').join('-')}`, behaviour, stack, port));
    }
    for (const sensor of this.sensors) sensor.start(this.random.uint32() % MINUTE);
    const operators = options.operators ?? 2;
    for (let i = 0; i < operators; i++) {
      const address = 0xc6120100 + 10 + i; // 198.18.1.10 onwards
      const port = hub.port(`operator-${i}`, mac(1000 + i));
      const stack = lanHost(this.world, port, mac(1000 + i), address, options.seed * 31 + i);
      this.operators.push(new SimulatedOperator(this, stack));
    }
    this.ready = this.startShell(deviceEvents);
    setFlagsFromString('--expose-gc');
    this.gc = runInNewContext('gc') as () => void;
  }

  private async startShell(events: EventSink): Promise<ShellService> {
    const stored = await createStoredSecret(OPERATOR_SECRET, Uint8Array.from({ length: 16 }, (_, i) => i), SIMULATION_SCRYPT);
    const context = new FakeContext();
    const network = stackShellContext({ stack: this.device, clock: this.world.clock, delay: (ms) => this.world.runFor(ms) });
    context.connections = () => network.connections();
    const service = startShellService({
      api: this.device.net,
      port: SHELL_PORT,
      users: { [OPERATOR]: formatStoredSecret(stored) },
      context,
      clock: this.world.clock,
      events,
      random: new SeededRandom(4242),
      delay: (ms) => this.world.runFor(ms),
    });
    this.shell = service;
    for (const operator of this.operators) operator.start(this.world.now + (this.random.uint32() % (10 * MINUTE)));
    return service;
  }

  async run(duration: number): Promise<void> {
    await this.ready;
    await this.world.runFor(duration);
  }

  /** Stops every sensor and operator (sessions end, cables plugged) and lets the device settle for `quiet` ms. */
  async quiesce(quiet: number): Promise<void> {
    for (const sensor of this.sensors) sensor.stop();
    for (const operator of this.operators) operator.stop();
    await this.world.runFor(quiet);
  }

  snapshot(): FieldSnapshot {
    this.gc();
    this.gc();
    return {
      at: this.world.now,
      heapUsed: process.memoryUsage().heapUsed,
      deviceConnections: [...this.device.tcp.connections()].length,
      timeWaits: this.device.tcp.timeWaitCount,
      orphans: this.device.tcp.orphanCount,
      serviceConnections: this.service.connections,
      sessions: this.sensors.reduce((sum, sensor) => sum + sensor.sessions, 0),
      shellSessions: this.shell?.sessions.size ?? 0,
      operatorLogins: this.operators.reduce((sum, operator) => sum + operator.logins, 0),
      acknowledged: this.acknowledged,
      lostAcknowledged: this.lostAcknowledged,
      activeFaults: this.faults.active().map((fault) => fault.code),
      raised: [...this.faultLog.raised],
      cleared: [...this.faultLog.cleared],
    };
  }

  behaviours(): Record<Behaviour, number> {
    const counts: Record<Behaviour, number> = { regular: 0, lossy: 0, sleeper: 0, 'non-reader': 0, puller: 0 };
    for (const sensor of this.sensors) counts[sensor.behaviour]++;
    return counts;
  }
}

/** Deterministic mix: sensor i gets the behaviour whose share covers i / n. */
function pickBehaviour(index: number, count: number, mix: readonly [Behaviour, number][]): Behaviour {
  let threshold = 0;
  const position = (index + 0.5) / count;
  for (const [behaviour, share] of mix) {
    threshold += share;
    if (position < threshold) return behaviour;
  }
  return 'regular';
}

/** Frames and carrier from the link to the stack, as firmware/device.ts wires them; the world polls it. */
function attach(world: VirtualWorld, link: Link, stack: NetStack): NetStack {
  link.setReceiver((frame) => stack.receiveFrame(frame));
  link.onCarrierChange((up) => stack.setCarrier(up));
  world.add(stack);
  stack.start();
  return stack;
}

/** A piwire stack for one host of the simulated LAN (a sensor or an operator), attached to `link`. */
function lanHost(world: VirtualWorld, link: Link, hostMac: MacAddress, address: number, seed: number): NetStack {
  return attach(
    world,
    link,
    new NetStack(link, { mac: hostMac, address, prefixLength: 16, mtu: 1500 }, { clock: world.clock, random: new SeededRandom(seed), events: nullEventSink }),
  );
}

function mac(host: number): MacAddress {
  return Uint8Array.of(0x02, 0x00, 0x5e, 0x10, (host >> 8) & 0xff, host & 0xff);
}
