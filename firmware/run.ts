/**
 * `piwire run`: the composition root. Configuration → faults and LEDs → link → stack →
 * readings store → services → local sensors → `ready`, and the reverse on shutdown.
 *
 * Every event the stack and the services emit goes through the FaultEventSink, which
 * logs it and turns causes (carrier down, peer lost, I2C error, storage error, login
 * lockout, resource limit) into the fault code the red LED blinks.
 */
import { join } from 'node:path';
import { DIAG_PORTS, tcpSettings, type ResolvedConfig } from './config/schema.ts';
import { ConfigError } from './config/errors.ts';
import { Feature, unavailableFeatures } from './config/features.ts';
import { openLink, parseLinkSpec } from './link.ts';
import type { Logger } from './log.ts';
import { RealtimeLoop } from './loop.ts';
import { CryptoRandom } from './random.ts';
import { attachStack } from './device.ts';
import { openLeds, type OpenedLeds } from './leds.ts';
import { startLocalSensors, type LocalSensors } from './i2c.ts';
import { SIM_DEVICE_CIDR } from './board/sim.ts';
import type { Link } from '../hal/link/link.ts';
import { readInterfaceAddress, type IpLink } from '../hal/link/ip.ts';
import { isPacketDevice } from '../src/net/device.ts';
import { openLogStore, type LogStore } from '../hal/store/log-file.ts';
import { formatIpv4, formatMac, parseCidr, parseIpv4, parseMac } from '../src/net/address.ts';
import type { StackConfig, NetStack } from '../src/stack.ts';
import { startDiagServices, type DiagServers } from '../src/services/diag.ts';
import { startSensorService, type SensorService } from '../src/services/sensors/service.ts';
import { FaultEventSink, FaultRegistry, FaultCode } from '../src/diag/faults.ts';
import { LedController } from '../src/diag/leds.ts';
import { prepareStateDirectory } from './state-dir.ts';
import { firmwareShellContext, startFirmwareShell, type ShellDependencies } from './shell.ts';
import type { StatusPage } from '../src/services/http/status-page.ts';
import { acquireLease, forgetLease, loadLeaseAddress, persistLease } from './dhcp.ts';
import { Counters } from '../src/stats.ts';
import { leaseAddress } from '../src/net/dhcp-host.ts';
import type { DhcpLease } from '../src/net/dhcp.ts';
import type { ShellService } from '../src/services/shell/server.ts';

/** What this build implements; configured features outside it are logged as not available yet. */
const IMPLEMENTED = new Set<Feature>([
  Feature.LINK_SIM,
  Feature.LINK_PACKET,
  Feature.LINK_TAP,
  Feature.LEDS_VIRTUAL,
  Feature.LEDS_SYSFS,
  Feature.LEDS_GPIO,
  Feature.I2C_SIM,
  Feature.I2C_REPLAY,
  Feature.I2C_BUS,
  Feature.SENSORS,
  Feature.SENSOR_STORE,
  Feature.SHELL,
  Feature.SHELL_TLS,
  Feature.DIAG,
  Feature.DHCP,
  Feature.LINK_IP,
]);

/** How long shutdown waits for connections to finish their FIN exchange. */
const SHUTDOWN_GRACE_MS = 1_500;

export interface RunningFirmware {
  stack: NetStack;
  link: Link | IpLink;
  /** Graceful shutdown: stop listening, FIN every connection, flush the store, LEDs off. */
  stop(): Promise<void>;
}

/** Exit status after the shell's `restart`: non-zero, so systemd (Restart=always) starts us again. */
export const RESTART_EXIT_STATUS = 75;

export async function runFirmware(config: ResolvedConfig, logger: Logger): Promise<RunningFirmware> {
  for (const feature of unavailableFeatures(config, IMPLEMENTED)) {
    logger.warn('feature_unavailable', { feature, text: `${feature} is configured but not available in this build yet` });
  }
  const linkSpec = parseLinkSpec(config.link);
  if (!linkSpec) throw new ConfigError([{ key: 'link', message: `cannot use link ${config.link}` }]);
  // IP mode: the address is the interface's own (the kernel keeps it); checked before use.
  const ipModeAddress = linkSpec.kind === 'ip' ? ipModeCidr(linkSpec.interfaceName, config.net.ip) : undefined;
  const cidrText = ipModeAddress ?? config.net.ip ?? (linkSpec.kind === 'sim' ? SIM_DEVICE_CIDR : undefined);
  if (cidrText === undefined) {
    throw new ConfigError([{ key: 'net.ip', message: `a ${linkSpec.kind} link needs an address: --ip 198.18.0.2/24 or --ip dhcp` }]);
  }
  const useDhcp = cidrText === 'dhcp';
  if (useDhcp && linkSpec.kind === 'sim') {
    throw new ConfigError([{ key: 'net.ip', message: 'dhcp needs a real link (packet:IFNAME or tap:NAME): the simulated LAN has no DHCP server' }]);
  }
  const cidr = useDhcp ? { address: 0, prefixLength: 0 } : parseCidr(cidrText);
  if (!cidr) throw new ConfigError([{ key: 'net.ip', message: `not an address/prefix: ${cidrText}` }]);
  const gateway =
    config.net.gateway !== undefined
      ? parseIpv4(config.net.gateway)
      : linkSpec.kind === 'ip'
        ? readInterfaceAddress(linkSpec.interfaceName).gateway
        : undefined;
  const configuredMac = config.net.mac === undefined ? undefined : parseMac(config.net.mac);

  const random = new CryptoRandom();
  const loop = new RealtimeLoop(undefined, (error) => {
    throw error;
  });
  const clock = loop.clock;
  const wallClock = { now: () => Date.now() };

  // Faults and LEDs first: the status LED is solid while everything else starts.
  const faults = new FaultRegistry({ events: logger.events });
  const events = new FaultEventSink(logger.events, faults, clock);
  loop.add(faults);
  const leds: OpenedLeds = await openLeds(config.leds, clock);
  const ledController = new LedController({ outputs: leds.outputs, faults, clock, events: logger.events, requestPoll: loop.wake });
  loop.add(ledController);
  const stopBoardDrawing = leds.board ? drawBoard(leds.board) : () => undefined;

  const { link, sim, ringFallback, segmentOffloadFallback, outgoingFallback } = openLink(linkSpec, {
    loop,
    random,
    mtu: config.net.mtu,
    mac: configuredMac,
    address: cidr.address,
    prefixLength: cidr.prefixLength,
    pcapFile: config.pcap,
    segmentOffload: config.net.segmentOffload,
    receiveOffload: config.net.receiveOffload,
  });
  if (ringFallback !== undefined) {
    // Not silent: the link works, at a higher CPU cost per frame (bench/BASELINE.md, "the packet link's receive ring").
    logger.warn('link_ring_unavailable', { link: link.name, reason: ringFallback, text: 'no PACKET_MMAP receive ring: receiving with recvmmsg' });
  }
  if (segmentOffloadFallback !== undefined) {
    // Not silent either: TCP then builds every segment itself (more CPU per byte sent).
    logger.warn('link_offload_unavailable', { link: link.name, reason: segmentOffloadFallback, text: 'no segmentation offload: TCP sends segment by segment' });
  }
  if (outgoingFallback !== undefined) {
    // Nor this: the kernel clones every frame sent out of the interface for the receive socket.
    logger.warn('link_outgoing_not_ignored', { link: link.name, reason: outgoingFallback, text: 'no PACKET_IGNORE_OUTGOING: outgoing frames reach the receive socket and are dropped there' });
  }
  const linkMac = isPacketDevice(link) ? new Uint8Array(6) : link.mac;

  // With DHCP, the first lease comes before the stack: TCP is bound to one address.
  const counters = new Counters();
  let lease: DhcpLease | undefined;
  if (useDhcp && !isPacketDevice(link)) {
    const previousAddress = await loadLeaseAddress(config.stateDir, Date.now(), events);
    lease = await acquireLease(link, {
      loop,
      random,
      events,
      counters,
      mtu: config.net.mtu,
      previousAddress,
      onFrame: () => ledController.traffic(),
    });
    await persistLease(config.stateDir, lease, clock.now(), Date.now()).catch((error: unknown) => {
      events.emit('storage_error', { text: `DHCP lease file: ${error instanceof Error ? error.message : String(error)}` });
    });
  }
  const address = lease ? leaseAddress(lease) : { address: cidr.address, prefixLength: cidr.prefixLength, gateway };

  const stackConfig: StackConfig = {
    mac: linkMac,
    address: address.address,
    prefixLength: address.prefixLength,
    mtu: config.net.mtu,
    tcp: tcpSettings(config.tcp),
  };
  if (address.gateway !== undefined) stackConfig.gateway = address.gateway;
  const { stack } = attachStack(link, stackConfig, {
    loop,
    random,
    events,
    counters,
    onFrame: () => ledController.traffic(),
    onCarrier: (up) => ledController.setCarrier(up),
  });
  ledController.setAddressConfigured(true);
  if (lease) {
    stack.continueDhcp(lease, {}, (next, now) => {
      if (next === undefined) {
        // RFC 2131 §4.4.5: the address is gone. Every connection is told (aborted: its
        // peer can no longer reach us), the link LED goes out, fault 2 is on (the client).
        ledController.setAddressConfigured(false);
        for (const connection of stack.tcp.connections()) connection.abort();
        void forgetLease(config.stateDir);
        loop.wake();
        return;
      }
      if (next.address !== stackConfig.address) {
        // TCP and the services are bound to the first address: start again on the new
        // one (systemd restarts us; the kept lease makes it an INIT-REBOOT).
        logger.warn('address_changed', { from: formatIpv4(stackConfig.address), to: formatIpv4(next.address) });
        void persistLease(config.stateDir, next, now, Date.now())
          .catch(() => undefined)
          .finally(() => {
            void stop().finally(() => process.exit(RESTART_EXIT_STATUS));
          });
        return;
      }
      ledController.setAddressConfigured(true);
      void persistLease(config.stateDir, next, now, Date.now()).catch((error: unknown) => {
        events.emit('storage_error', { text: `DHCP lease file: ${error instanceof Error ? error.message : String(error)}` });
      });
    });
  }

  // The state directory is private (readings, TLS key, lockouts): 0700, tightened if looser.
  // A failure here is not fatal: the store then reports it (fault 5) and the shell says so.
  try {
    const stateDirectory = await prepareStateDirectory(config.stateDir);
    if (stateDirectory.tightenedFrom !== undefined) logger.warn('state_dir_mode', { path: config.stateDir, was: stateDirectory.tightenedFrom, now: '0700' });
  } catch (error) {
    logger.error('state_dir_unavailable', { path: config.stateDir, message: error instanceof Error ? error.message : String(error) });
  }

  // The readings store, then the services on the device's own TCP.
  let store: LogStore | undefined;
  try {
    store = await openLogStore({
      directory: join(config.stateDir, 'readings'),
      commitMs: config.store.commitMs,
      maxBytes: config.store.maxBytes,
      counters: stack.counters,
      events,
      onHealthChange: (healthy, text) => {
        if (healthy) faults.clear(FaultCode.STORAGE_ERROR);
        else faults.raise(FaultCode.STORAGE_ERROR, text, clock.now());
      },
    });
  } catch (error) {
    // The device keeps serving without a store: PUT gets ERR 503, the LED says why.
    const text = error instanceof Error ? error.message : String(error);
    events.emit('storage_error', { text });
  }
  const ports: Record<string, number> = {};
  let sensors: SensorService | undefined;
  if (store) {
    sensors = startSensorService({
      api: stack.net,
      port: config.services.sensors.port,
      maxLine: config.services.sensors.maxLine,
      rateLimit: config.services.sensors.rateLimit,
      store,
      clock,
      wallClock,
      events,
      counters: stack.counters,
    });
    ports['sensors'] = config.services.sensors.port;
  }
  let shell: ShellService | undefined;
  const shellDeps: ShellDependencies = {
    config,
    stack,
    link,
    clock,
    random,
    events,
    logger,
    faults,
    leds: ledController,
    store,
    restart: () => {
      logger.info('restart', { requestedBy: 'shell' });
      void stop().finally(() => process.exit(RESTART_EXIT_STATUS));
    },
  };
  // One context for the shell and the status page (one reading history).
  const context = firmwareShellContext(shellDeps);
  try {
    shell = await startFirmwareShell(shellDeps, context);
    ports['shell'] = config.services.shell.port;
    ports['shellTls'] = config.services.shell.tlsPort;
    if (shell.invalidUsers.length > 0) logger.warn('shell_users_invalid', { users: shell.invalidUsers });
  } catch (error) {
    // No certificate (no openssl, unwritable state): the plain shell port is lost too; say so loudly.
    logger.error('shell_unavailable', { message: error instanceof Error ? error.message : String(error) });
  }
  let statusPage: StatusPage | undefined;
  if (config.services.http.enabled) {
    // Loaded only when enabled (node:http, uPlot): a device without it keeps the memory.
    const { startFirmwareStatusPage } = await import('./status-page.ts');
    statusPage = startFirmwareStatusPage({ config, stack, clock, random, events, context, shell });
    ports['http'] = config.services.http.port;
  }
  let diag: DiagServers | undefined;
  // The simulated board always serves the diag ports, for a newcomer to try.
  if (config.services.diag || sim) {
    diag = startDiagServices(stack.net, config.services.diagBuffer);
    Object.assign(ports, DIAG_PORTS);
  }

  let local: LocalSensors | undefined;
  try {
    local = await startLocalSensors(config.i2c, {
      events,
      publish: (name, value, timestamp, source) => {
        sensors?.publish({ name, value, timestamp, source }).catch((error: unknown) => {
          events.emit('storage_error', { text: `local reading ${name}: ${error instanceof Error ? error.message : String(error)}` });
        });
      },
    });
  } catch (error) {
    // A missing bus or driver is fault 4, not a dead device.
    events.emit('i2c_error', { text: error instanceof Error ? error.message : String(error) });
  }

  const hostPorts: Record<string, number> = {};
  if (sim) {
    for (const [name, port] of Object.entries(ports)) hostPorts[name] = await sim.bridge(port);
    if (sensors) sim.startSensors(config.services.sensors.port);
  }

  ledController.setRunning(true);
  logger.info('ready', {
    ip: formatIpv4(address.address),
    prefix: address.prefixLength,
    gateway: address.gateway === undefined ? undefined : formatIpv4(address.gateway),
    ...(lease ? { addressSource: 'dhcp', dhcpServer: formatIpv4(lease.server), leaseSeconds: lease.leaseSeconds } : {}),
    mac: formatMac(linkMac),
    mtu: config.net.mtu,
    link: link.name,
    pid: process.pid,
    ports,
    ...(sim ? { hostPorts } : {}),
  });

  async function stop(): Promise<void> {
    statusPage?.close();
    shell?.close();
    sensors?.close();
    diag?.close();
    await local?.close();
    await sim?.close();
    // FIN every connection and give the exchanges a moment to finish (SPEC: graceful within 3 s).
    for (const connection of stack.tcp.connections()) connection.shutdown();
    loop.wake();
    const deadline = clock.now() + SHUTDOWN_GRACE_MS;
    while (clock.now() < deadline && [...stack.tcp.connections()].some((c) => c.state !== 'CLOSED' && c.state !== 'TIME-WAIT')) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await store?.close();
    ledController.stop();
    stopBoardDrawing();
    leds.close();
    loop.stop();
    link.close();
  }
  return { stack, link, stop };
}

/**
 * `--link ip:IFNAME`: the interface's own address as CIDR text. `--ip dhcp` is refused
 * (the kernel's DHCP client configures the interface), and a static `--ip` must be the
 * interface's address (piwire cannot hold another one there).
 */
function ipModeCidr(interfaceName: string, configured: string | undefined): string {
  if (configured === 'dhcp') {
    throw new ConfigError([{ key: 'net.ip', message: `with --link ip:${interfaceName} the kernel's DHCP client configures the interface; leave net.ip out` }]);
  }
  const own = readInterfaceAddress(interfaceName);
  const text = `${formatIpv4(own.address)}/${own.prefixLength}`;
  if (configured !== undefined && configured !== text) {
    throw new ConfigError([{ key: 'net.ip', message: `with --link ip:${interfaceName} the address is the interface's own (${text}); leave net.ip out` }]);
  }
  return text;
}

/** Draws the simulated board's LEDs on one terminal line of stderr (when it is a terminal). */
function drawBoard(board: NonNullable<OpenedLeds['board']>): () => void {
  if (!process.stderr.isTTY) return () => undefined;
  const draw = (): void => {
    process.stderr.write(`\r\x1b[K  piwire LEDs: ${board.render({ color: true })}  `);
  };
  board.onChange(draw);
  draw();
  return () => process.stderr.write('\n');
}

