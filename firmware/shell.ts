/**
 * The remote shell as the firmware serves it: the device's stack, faults, LEDs, readings,
 * configuration (redacted: firmware/secrets.ts) and log behind the ShellContext the
 * shell's commands read; login lockouts kept under the state directory
 * (firmware/lockout-store.ts); the global login slowdown waits on a real timer.
 */
import type { ResolvedConfig } from './config/schema.ts';
import type { Logger } from './log.ts';
import { loadOrCreateShellCertificate } from './shell-certificate.ts';
import { loadLockouts, lockoutWriter, type LockoutStoreOptions } from './lockout-store.ts';
import { redactConfig } from './secrets.ts';
import { packageVersion } from './version.ts';
import type { NetStack } from '../src/stack.ts';
import type { Clock } from '../src/time.ts';
import type { EventSink } from '../src/events.ts';
import type { RandomSource } from '../src/random.ts';
import type { Link } from '../hal/link/link.ts';
import type { ReadingStore } from '../src/storage/readings.ts';
import { ReadingHistory } from '../src/storage/history.ts';
import type { FaultRegistry } from '../src/diag/faults.ts';
import type { LedController } from '../src/diag/leds.ts';
import { formatPattern, patternCode } from '../src/diag/patterns.ts';
import { stackShellContext, type ShellContext } from '../src/services/shell/context.ts';
import { startShellService, type ShellService } from '../src/services/shell/server.ts';

export interface ShellDependencies {
  config: ResolvedConfig;
  stack: NetStack;
  /** Its counters (`link.*`: frames, the receive ring's drops) are listed with the stack's by `stats`. */
  link: Pick<Link, 'name' | 'carrier' | 'stats'>;
  clock: Clock;
  random: RandomSource;
  events: EventSink;
  logger: Logger;
  faults: FaultRegistry;
  leds: LedController;
  store: ReadingStore | undefined;
  /** Graceful stop, then exit non-zero so systemd starts the firmware again. */
  restart: () => void;
}

export function firmwareShellContext(deps: ShellDependencies): ShellContext {
  const { stack, clock, store, link, faults, leds, logger, config } = deps;
  const network = stackShellContext({ stack, clock, delay: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) });
  const history = new ReadingHistory();
  if (store) {
    for (const reading of store.list()) history.add(reading);
    store.subscribe((reading) => history.add(reading));
  }
  const version = packageVersion();
  return {
    ...network,
    // The link keeps its own counters (hal/link/native.ts: frames received and sent, what
    // the receive ring or the socket buffer dropped): without them here a full ring is
    // invisible to the technician, the status page and the bench.
    counters: () => Object.fromEntries(Object.entries({ ...network.counters(), ...link.stats() }).sort(([a], [b]) => a.localeCompare(b))),
    status: () => ({
      ...network.networkStatus(),
      version,
      link: link.name,
      carrier: link.carrier ? 'up' : 'down',
      faults: faults.active().map((fault) => `${fault.code} ${fault.text}`),
      store: store ? 'open' : 'unavailable',
    }),
    leds: () =>
      Object.entries(leds.snapshot()).map(([led, snapshot]) => ({
        led,
        pattern: formatPattern(snapshot.pattern),
        code: patternCode(snapshot.pattern) ?? null,
      })),
    sensors: () => (store ? store.list().map((r) => ({ name: r.name, source: r.source, value: r.value, at: r.timestamp })) : []),
    readings: (name, count) => history.recent(name, count),
    config: () => redactConfig(config),
    log: (count) => logger.recent(count),
    restart: deps.restart,
  };
}

export async function startFirmwareShell(deps: ShellDependencies, context: ShellContext = firmwareShellContext(deps)): Promise<ShellService> {
  const { config } = deps;
  const certificate = await loadOrCreateShellCertificate({
    stateDir: config.stateDir,
    cert: config.services.shell.cert,
    key: config.services.shell.key,
  });
  deps.logger.info('shell_certificate', { source: certificate.source, cert: certificate.certPath });
  const lockoutStore: LockoutStoreOptions = {
    stateDir: config.stateDir,
    clock: deps.clock,
    wallClock: { now: () => Date.now() },
    onError: (message) => deps.logger.warn('shell_lockouts_unsaved', { message }),
  };
  const saved = await loadLockouts(lockoutStore);
  if (saved.error !== undefined) deps.logger.warn('shell_lockouts_unreadable', { message: saved.error });
  const service: ShellService = startShellService({
    api: deps.stack.net,
    port: config.services.shell.port,
    tlsPort: config.services.shell.tlsPort,
    users: config.services.shell.users,
    context,
    clock: deps.clock,
    events: deps.events,
    random: deps.random,
    tls: { cert: certificate.cert, key: certificate.key },
    lockout: { onChange: lockoutWriter(() => service.lockout, lockoutStore) },
    delay: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  });
  // Synchronously after listening: no connection is served before the saved lockouts apply.
  service.lockout.restore(saved.records);
  if (saved.records.length > 0) deps.logger.info('shell_lockouts_restored', { addresses: saved.records.length });
  return service;
}
