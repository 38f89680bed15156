/**
 * The status page as the firmware serves it (SPEC §5a, `services.http`): the shell's
 * context (LEDs, faults, conns, counters, readings), login lockout and bound on
 * concurrent password checks, Node timers for
 * the live updates, and the charting library (uPlot) read once from node_modules.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ResolvedConfig } from './config/schema.ts';
import type { NetStack } from '../src/stack.ts';
import type { Clock } from '../src/time.ts';
import type { EventSink } from '../src/events.ts';
import type { RandomSource } from '../src/random.ts';
import type { ShellContext } from '../src/services/shell/context.ts';
import { LoginLockout } from '../src/services/shell/lockout.ts';
import { VerificationQueue } from '../src/services/shell/verification-queue.ts';
import { startStatusPage, type StatusPage } from '../src/services/http/status-page.ts';
import { formatIpv4 } from '../src/net/address.ts';

export interface StatusPageDependencies {
  config: ResolvedConfig;
  stack: NetStack;
  clock: Clock;
  random: RandomSource;
  events: EventSink;
  context: ShellContext;
  /** The shell's lockout and verification bound, when the shell runs: shared by both. */
  shell: { lockout: LoginLockout; verifications: VerificationQueue } | undefined;
}

const require = createRequire(import.meta.url);

function uPlotAssets(): { uPlotScript: string; uPlotStyle: string } {
  return {
    uPlotScript: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    uPlotStyle: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  };
}

export function startFirmwareStatusPage(deps: StatusPageDependencies): StatusPage {
  const { config, clock, events } = deps;
  return startStatusPage({
    api: deps.stack.net,
    port: config.services.http.port,
    users: config.services.shell.users,
    source: deps.context,
    clock,
    wallClock: { now: () => Date.now() },
    random: deps.random,
    events,
    lockout: deps.shell?.lockout ?? new LoginLockout({ clock, events }),
    verifications: deps.shell?.verifications ?? new VerificationQueue(),
    every: (ms, tick) => {
      const timer = setInterval(tick, ms);
      return () => clearInterval(timer);
    },
    assets: uPlotAssets(),
    deviceName: formatIpv4(deps.stack.config.address),
  });
}
