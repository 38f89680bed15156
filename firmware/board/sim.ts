/**
 * The simulated board (SPEC section 8): no root, no hardware. The device's stack sits
 * on a memory hub (one Ethernet segment) with two more piwire stacks playing the LAN:
 *
 *   - "lan" (198.18.0.1): the operator's side. The device's service ports are bridged
 *     from localhost through this stack, so `nc localhost 7070` talks to the device's
 *     own user-space TCP (host socket → lan stack → hub → device). Two well-behaved
 *     sensors push readings from here too.
 *   - "flaky" (198.18.0.3): one sensor on a bad cable. Its hub port is pulled now and
 *     then for longer than keepalive detection takes, so the device declares the peer
 *     lost and the fault LED shows code 3; the device's own carrier never drops.
 *
 * Host ports: a device port ≥ 1024 is bridged to the same localhost port; a
 * privileged one (echo 7, discard 9, chargen 19) to 7000 + port (7007, 7009, 7019).
 */
import { createServer, type Server as HostServer, type Socket as HostSocket } from 'node:net';
import { MemoryHub, type HubPort } from '../../hal/link/hub.ts';
import type { Link } from '../../hal/link/link.ts';
import type { EventSink } from '../../src/events.ts';
import type { RandomSource } from '../../src/random.ts';
import { NetStack } from '../../src/stack.ts';
import { formatIpv4, parseIpv4, parseMac, type Ipv4Address, type MacAddress } from '../../src/net/address.ts';
import type { RealtimeLoop } from '../loop.ts';
import { SimulatedSensor } from './sim-sensors.ts';

export const SIM_DEVICE_CIDR = '198.18.0.2/24';
export const SIM_LAN_ADDRESS = '198.18.0.1';
export const SIM_FLAKY_ADDRESS = '198.18.0.3';
export const SIM_DEVICE_MAC = '02:00:5e:12:00:02';
const SIM_LAN_MAC = '02:00:5e:12:00:01';
const SIM_FLAKY_MAC = '02:00:5e:12:00:03';

/** The flaky cable: plugged for `FLAKY_PLUGGED_MS`, then pulled for `FLAKY_PULLED_MS`. */
export const FLAKY_PLUGGED_MS = 60_000;
export const FLAKY_PULLED_MS = 25_000;

export function hostPortFor(devicePort: number): number {
  return devicePort >= 1024 ? devicePort : 7000 + devicePort;
}

export interface SimulatedLan {
  /** The device's port on the hub: the firmware attaches its stack here. */
  deviceLink: Link;
  hub: MemoryHub;
  lan: NetStack;
  flaky: NetStack;
  /** Bridges localhost:hostPortFor(port) to the device's port; resolves with the host port. */
  bridge(devicePort: number): Promise<number>;
  /** Starts the simulated sensors (once the device's sensor service listens). */
  startSensors(devicePort: number): void;
  close(): Promise<void>;
}

export interface SimulatedLanOptions {
  loop: RealtimeLoop;
  random: RandomSource;
  /** Events of the simulated LAN's own stacks (not the device's). */
  events: EventSink;
  mtu: number;
  deviceAddress: Ipv4Address;
  deviceMac: MacAddress;
  prefixLength: number;
  bridgeHost?: string;
}

export function createSimulatedLan(options: SimulatedLanOptions): SimulatedLan {
  const { loop } = options;
  const hub = new MemoryHub({ clock: loop.clock, mtu: options.mtu });
  loop.add(hub);

  const addStack = (port: HubPort, address: string): NetStack => {
    const stack = new NetStack(
      port,
      { mac: port.mac, address: parseIpv4(address)!, prefixLength: options.prefixLength, mtu: options.mtu },
      { clock: loop.clock, random: options.random, events: options.events, onWork: loop.wake },
    );
    port.setReceiver((frame) => stack.receiveFrame(frame));
    port.onCarrierChange((up) => stack.setCarrier(up));
    loop.add(stack);
    stack.start();
    return stack;
  };

  const deviceLink = hub.port('hub:device', options.deviceMac);
  const lan = addStack(hub.port('hub:lan', parseMac(SIM_LAN_MAC)!), SIM_LAN_ADDRESS);
  const flakyPort = hub.port('hub:flaky', parseMac(SIM_FLAKY_MAC)!);
  const flaky = addStack(flakyPort, SIM_FLAKY_ADDRESS);

  const servers: HostServer[] = [];
  const sensors: SimulatedSensor[] = [];
  const timers: NodeJS.Timeout[] = [];
  const deviceHost = formatIpv4(options.deviceAddress);

  const bridge = (devicePort: number): Promise<number> => {
    const hostPort = hostPortFor(devicePort);
    // Half-open both ways: a client that sends and then shuts its side (`printf … | nc`)
    // still gets every reply before the device closes.
    const server = createServer({ allowHalfOpen: true }, (host: HostSocket) => {
      const device = lan.net.connect({ host: deviceHost, port: devicePort, allowHalfOpen: true });
      host.pipe(device);
      device.pipe(host);
      host.on('error', () => device.destroy());
      device.on('error', () => host.destroy());
      host.on('close', () => device.destroy());
      device.on('close', () => host.end());
    });
    servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(hostPort, options.bridgeHost ?? '127.0.0.1', () => resolve(hostPort));
    });
  };

  const startSensors = (devicePort: number): void => {
    const common = { deviceHost, devicePort, intervalMs: 2_000, reconnectMs: 3_000 };
    sensors.push(
      new SimulatedSensor({ ...common, stack: lan, sensorId: 'greenhouse-1', readings: { 'greenhouse.temperature': 21.5, 'greenhouse.humidity': 64 } }),
      new SimulatedSensor({ ...common, stack: lan, sensorId: 'tank-level', readings: { 'tank.level': 72 } }),
      new SimulatedSensor({ ...common, stack: flaky, sensorId: 'barn-door', readings: { 'barn.temperature': 9.5 } }),
    );
    for (const sensor of sensors) sensor.start();
    // The flaky cable: pulled for longer than keepalive detection (idle + interval·count).
    const cycle = (): void => {
      timers.push(
        setTimeout(() => {
          flakyPort.setCable(false);
          timers.push(
            setTimeout(() => {
              flakyPort.setCable(true);
              cycle();
            }, FLAKY_PULLED_MS),
          );
        }, FLAKY_PLUGGED_MS),
      );
    };
    cycle();
  };

  return {
    deviceLink,
    hub,
    lan,
    flaky,
    bridge,
    startSensors,
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      for (const sensor of sensors) sensor.stop();
      await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    },
  };
}

