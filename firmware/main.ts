/**
 * piwire's entry point: command line → configuration → logger → link → stack →
 * services → `ready`. Exit status: 0 after a clean shutdown, 2 for a bad command line
 * or configuration (the message names the flag or key), 1 when start-up fails for any
 * other reason (a link that cannot open says why), 70 for an internal error.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CliError, parseCommandLine } from './cli.ts';
import { ConfigError, DEFAULT_CONFIG_FILE, Feature, loadConfig, parseLinkSpec, unavailableFeatures, type ResolvedConfig } from './config.ts';
import { createLogger, type Logger } from './log.ts';
import { RealtimeLoop } from './loop.ts';
import { CryptoRandom } from './random.ts';
import { attachStack } from './device.ts';
import { createSimulatedLan, SIM_DEVICE_CIDR, SIM_DEVICE_MAC, SIM_LAN_ADDRESS, SIM_LAN_MAC, type SimulatedLan } from './board/sim.ts';
import { openPacketLink } from '../hal/link/packet.ts';
import { openTapLink } from '../hal/link/tap.ts';
import type { Link } from '../hal/link/link.ts';
import { formatIpv4, formatMac, parseCidr, parseIpv4, parseMac } from '../src/net/address.ts';
import type { StackConfig } from '../src/stack.ts';
import type { TcpConfig } from '../src/tcp/config.ts';
import { startDiagServices, type DiagServers } from '../src/services/diag.ts';
import { nullEventSink } from '../src/events.ts';

/** What this build implements; configured features outside it are logged as not available yet. */
const IMPLEMENTED = new Set<Feature>([Feature.LINK_SIM, Feature.LINK_PACKET, Feature.LINK_TAP, Feature.LEDS_VIRTUAL, Feature.DIAG]);

/** Exit statuses (sysexits.h flavour where it fits). */
const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, INTERNAL: 70 } as const;

function packageVersion(): string {
  const path = fileURLToPath(new URL('../package.json', import.meta.url));
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}

/** Maps the configuration's `tcp.*` keys onto the stack's TCP settings. */
export function tcpSettings(config: ResolvedConfig): Partial<TcpConfig> {
  const { tcp } = config;
  return {
    rcvBuf: tcp.rcvBuf,
    sndBuf: tcp.sndBuf,
    msl: tcp.msl,
    minRto: tcp.minRto,
    userTimeout: tcp.userTimeout,
    persistMax: tcp.persist.max,
    maxConnections: tcp.maxConnections,
    synBacklog: tcp.synBacklog,
    // SPEC §2: keepalive on every connection, so a pulled cable is noticed in seconds.
    keepalive: { enabled: true, idle: tcp.keepalive.idle, interval: tcp.keepalive.interval, count: tcp.keepalive.count },
  };
}

interface Running {
  link: Link;
  sim?: SimulatedLan;
  diag?: DiagServers;
  loop: RealtimeLoop;
}

async function run(config: ResolvedConfig, logger: Logger): Promise<Running> {
  for (const feature of unavailableFeatures(config, IMPLEMENTED)) {
    logger.warn('feature_unavailable', { feature, text: `${feature} is configured but not available in this build yet` });
  }
  const linkSpec = parseLinkSpec(config.link);
  if (!linkSpec) throw new ConfigError([{ key: 'link', message: `cannot use link ${config.link}` }]);
  const random = new CryptoRandom();
  const loop = new RealtimeLoop(undefined, (error) => fatal(logger, error));

  const cidrText = config.net.ip ?? (linkSpec.kind === 'sim' ? SIM_DEVICE_CIDR : undefined);
  if (cidrText === undefined || cidrText === 'dhcp') {
    const why = cidrText === 'dhcp' ? 'DHCP is not available yet' : `a ${linkSpec.kind} link needs an address`;
    throw new ConfigError([{ key: 'net.ip', message: `${why}: give a static address such as --ip 198.18.0.2/24` }]);
  }
  const cidr = parseCidr(cidrText);
  if (!cidr) throw new ConfigError([{ key: 'net.ip', message: `not an address/prefix: ${cidrText}` }]);
  const gateway = config.net.gateway === undefined ? undefined : parseIpv4(config.net.gateway);
  const configuredMac = config.net.mac === undefined ? undefined : parseMac(config.net.mac);

  let link: Link;
  let sim: SimulatedLan | undefined;
  if (linkSpec.kind === 'sim') {
    const deviceMac = configuredMac ?? parseMac(SIM_DEVICE_MAC)!;
    sim = createSimulatedLan({
      loop,
      random,
      events: nullEventSink,
      mtu: config.net.mtu,
      deviceAddress: cidr.address,
      deviceMac,
      lanAddress: parseIpv4(SIM_LAN_ADDRESS)!,
      lanMac: parseMac(SIM_LAN_MAC)!,
      prefixLength: cidr.prefixLength,
    });
    link = sim.deviceLink;
  } else if (linkSpec.kind === 'packet') {
    link = openPacketLink({ interfaceName: linkSpec.interfaceName, mtu: config.net.mtu, mac: configuredMac, disableOffloads: true });
  } else {
    link = openTapLink({ name: linkSpec.interfaceName, mtu: config.net.mtu, mac: configuredMac });
  }

  const stackConfig: StackConfig = {
    mac: link.mac,
    address: cidr.address,
    prefixLength: cidr.prefixLength,
    gateway,
    mtu: config.net.mtu,
    tcp: tcpSettings(config),
  };
  const { stack } = attachStack(link, stackConfig, { loop, random, events: logger.events });
  logger.info('link', { link: link.name, carrier: link.carrier ? 'up' : 'down' });

  const ports: Record<string, number> = {};
  let diag: DiagServers | undefined;
  // The simulated board always serves the diag ports: until the sensor and shell
  // services exist they are what a newcomer can talk to on localhost.
  if (config.services.diag || sim) {
    diag = startDiagServices(stack.net);
    Object.assign(ports, { echo: 7, discard: 9, chargen: 19 });
  }
  const bridged: Record<string, number> = {};
  if (sim) {
    for (const [name, port] of Object.entries(ports)) bridged[name] = await sim.bridge(port);
  }

  logger.info('ready', {
    ip: formatIpv4(cidr.address),
    prefix: cidr.prefixLength,
    gateway: gateway === undefined ? undefined : formatIpv4(gateway),
    mac: formatMac(link.mac),
    mtu: config.net.mtu,
    link: link.name,
    ports,
    ...(sim ? { hostPorts: bridged } : {}),
  });
  return { link, sim, diag, loop };
}

function fatal(logger: Logger, error: unknown): never {
  const err = error instanceof Error ? error : new Error(String(error));
  logger.error('fatal', { message: err.message, stack: err.stack });
  logger.flush();
  process.exit(EXIT.INTERNAL);
}

function installShutdown(logger: Logger, running: Running): void {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info('shutdown', { signal });
    running.diag?.close();
    running.loop.stop();
    void running.sim?.close();
    running.link.close();
    logger.flush();
    process.exit(EXIT.OK);
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

export async function main(argv: readonly string[]): Promise<number> {
  let command;
  try {
    command = parseCommandLine(argv, { version: packageVersion() });
  } catch (error) {
    if (error instanceof CliError) {
      process.stderr.write(`piwire: ${error.message}\n`);
      return EXIT.USAGE;
    }
    throw error;
  }
  switch (command.command) {
    case 'help':
    case 'version':
      process.stdout.write(command.text.endsWith('\n') ? command.text : `${command.text}\n`);
      return EXIT.OK;
    case 'hash-secret':
    case 'shell':
      process.stderr.write(`piwire: '${command.command}' is not available yet: the remote shell is not built in this version\n`);
      return EXIT.FAILURE;
    case 'run':
      break;
  }

  const configFile = command.configFile ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
  let config: ResolvedConfig;
  try {
    config = loadConfig({ file: configFile, flags: command.flags });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return EXIT.USAGE;
    }
    throw error;
  }

  const logger = createLogger({ format: config.log.format, level: config.log.level });
  process.on('uncaughtException', (error) => fatal(logger, error));
  process.on('unhandledRejection', (error) => fatal(logger, error));
  try {
    const running = await run(config, logger);
    installShutdown(logger, running);
    return EXIT.OK;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return EXIT.USAGE;
    }
    const message = error instanceof Error ? error.message : String(error);
    logger.error('start_failed', { message });
    process.stderr.write(message.startsWith('piwire:') ? `${message}\n` : `piwire: ${message}\n`);
    return EXIT.FAILURE;
  }
}

const invokedDirectly = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (status) => {
      // A running firmware keeps the event loop alive; only failures and one-shot commands exit here.
      if (status !== EXIT.OK) process.exit(status);
    },
    (error: unknown) => {
      process.stderr.write(`piwire: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(EXIT.INTERNAL);
    },
  );
}
