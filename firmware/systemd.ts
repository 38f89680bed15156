/**
 * systemd readiness and watchdog notifications (sd_notify(3)) for the piwire unit
 * (deploy/systemd/piwire.service: Type=notify, WatchdogSec=, NotifyAccess=main).
 *
 * Call order (firmware/main.ts): after the `ready` log line → `notifyReady()`, then
 * `startWatchdog()`; on SIGTERM → `watchdog.stop()` and `notifyStopping()`.
 * Outside systemd (no `$NOTIFY_SOCKET`) every call is a no-op that says so in its result.
 *
 * How the datagram is sent, and why: sd_notify is one AF_UNIX SOCK_DGRAM datagram to
 * `$NOTIFY_SOCKET`. Node has no Unix datagram sockets (node:dgram is UDP only), so the
 * project's N-API addon sends it (`notify()` in hal/native): from the main process
 * itself, which lets the unit say `NotifyAccess=main` (no child may change the
 * service's state) and has no sender-exited-early race. Where the addon is not built,
 * the fallback is systemd's own client, `systemd-notify VAR=VALUE...`, run as a child
 * (it sends `BARRIER=1` after the message and waits until PID 1 has read it); a unit
 * that accepts that child's messages needs `NotifyAccess=all`.
 *
 * No fake success: when `$NOTIFY_SOCKET` is set and the notification cannot be sent
 * (no `systemd-notify`, a non-zero exit), the failure is logged at error level as
 * `systemd_notify_failed` and the call resolves to `{ sent: false }`. systemd will then
 * time the start out or kill a service whose watchdog stays silent: that is the point.
 *
 * The watchdog pings from a plain interval on the main event loop: a loop that is stuck
 * (a busy loop, a deadlock in a native call) stops pinging and systemd restarts the
 * firmware, which is exactly what the watchdog is for.
 */
import { spawn } from 'node:child_process';
import { loadNativeAddon } from '../hal/link/native.ts';

/** The systemd client that sends the datagram. */
export const SYSTEMD_NOTIFY_COMMAND = 'systemd-notify';

/** The smallest ping interval honoured: a tiny WatchdogSec is a configuration mistake, not a reason to fork 1000 times a second. */
const MIN_WATCHDOG_INTERVAL_MS = 100;

/** Output kept from a failing `systemd-notify`, for the log line. */
const MAX_ERROR_TEXT = 500;

export interface NotifyResult {
  /** True when systemd-notify delivered the message. */
  sent: boolean;
  /** Why nothing was sent or what failed; absent when sent. */
  reason?: 'not-under-systemd' | 'failed';
  /** The failure's description (spawn error, exit status and stderr). */
  error?: string;
}

/** The part of the firmware logger this module writes to. */
export interface NotifyLogger {
  error(event: string, fields?: Record<string, unknown>): void;
  info(event: string, fields?: Record<string, unknown>): void;
}

/** Sends `VAR=VALUE` assignments; resolves with an error text, or undefined on success. */
export type NotifySender = (assignments: readonly string[], environment: NodeJS.ProcessEnv) => Promise<string | undefined>;

export interface SystemdOptions {
  /** Where `NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID` come from (default `process.env`). */
  environment?: NodeJS.ProcessEnv;
  /** Where failures are reported. */
  logger?: NotifyLogger;
  /** The transport (default: the native addon, else `systemd-notify`); tests substitute their own. */
  send?: NotifySender;
  /** This process's pid, compared with `WATCHDOG_PID` (default `process.pid`). */
  pid?: number;
  /** Timer functions for the watchdog (default the global ones). */
  timers?: { setInterval: (callback: () => void, ms: number) => unknown; clearInterval: (handle: unknown) => void };
}

/** Runs `systemd-notify ASSIGNMENT...` with the given environment (it reads NOTIFY_SOCKET itself). */
export const sendWithSystemdNotify: NotifySender = (assignments, environment) =>
  new Promise((resolve) => {
    let stderr = '';
    let settled = false;
    const finish = (error: string | undefined): void => {
      if (settled) return;
      settled = true;
      resolve(error);
    };
    const child = spawn(SYSTEMD_NOTIFY_COMMAND, [...assignments], { env: environment, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      if (stderr.length < MAX_ERROR_TEXT) stderr += chunk;
    });
    child.on('error', (error) => finish(`cannot run ${SYSTEMD_NOTIFY_COMMAND}: ${error.message}`));
    child.on('close', (code, signal) => {
      if (code === 0) finish(undefined);
      else finish(`${SYSTEMD_NOTIFY_COMMAND} ${signal === null ? `exited with status ${code}` : `died of ${signal}`}: ${stderr.trim().slice(0, MAX_ERROR_TEXT)}`);
    });
  });

/** Sends the datagram from this process through the native addon (throws when the addon is not built). */
export const sendWithNativeAddon: NotifySender = async (assignments, environment) => {
  const socket = environment['NOTIFY_SOCKET'] ?? '';
  const error = loadNativeAddon().notify(socket, assignments.join('\n'));
  return error === undefined ? undefined : `sendto(${socket}) failed: ${error}`;
};

/** The native sender when the addon loads, else `systemd-notify`. */
export function defaultNotifySender(): NotifySender {
  try {
    loadNativeAddon();
    return sendWithNativeAddon;
  } catch {
    return sendWithSystemdNotify;
  }
}

/** True when the service manager asked for notifications (sd_notify(3): `$NOTIFY_SOCKET` set and not empty). */
export function underSystemd(environment: NodeJS.ProcessEnv = process.env): boolean {
  const socket = environment['NOTIFY_SOCKET'];
  return socket !== undefined && socket !== '';
}

async function notify(assignments: readonly string[], options: SystemdOptions): Promise<NotifyResult> {
  const environment = options.environment ?? process.env;
  if (!underSystemd(environment)) return { sent: false, reason: 'not-under-systemd' };
  const send = options.send ?? defaultNotifySender();
  let error: string | undefined;
  try {
    error = await send(assignments, environment);
  } catch (thrown) {
    error = thrown instanceof Error ? thrown.message : String(thrown);
  }
  if (error === undefined) return { sent: true };
  options.logger?.error('systemd_notify_failed', { message: assignments.join(' '), error, socket: environment['NOTIFY_SOCKET'] });
  return { sent: false, reason: 'failed', error };
}

/** `READY=1` with a status line: start-up is complete, every service listens. */
export function notifyReady(options: SystemdOptions = {}, status = 'running'): Promise<NotifyResult> {
  return notify(['READY=1', `STATUS=${status}`], options);
}

/** `STOPPING=1`: shutdown has begun (so systemd does not read the exit as a crash in progress). */
export function notifyStopping(options: SystemdOptions = {}, status = 'stopping'): Promise<NotifyResult> {
  return notify(['STOPPING=1', `STATUS=${status}`], options);
}

/**
 * The ping interval the service manager asked for, in ms: half of `$WATCHDOG_USEC`
 * (sd_watchdog_enabled(3) recommends pinging at half the timeout), or undefined when
 * the watchdog is off or meant for another process (`$WATCHDOG_PID`).
 */
export function watchdogIntervalMs(environment: NodeJS.ProcessEnv = process.env, pid: number = process.pid): number | undefined {
  const usecText = environment['WATCHDOG_USEC'];
  if (usecText === undefined || !/^[0-9]+$/.test(usecText)) return undefined;
  const usec = Number(usecText);
  if (usec <= 0) return undefined;
  const pidText = environment['WATCHDOG_PID'];
  if (pidText !== undefined && pidText !== '' && Number(pidText) !== pid) return undefined;
  return Math.max(MIN_WATCHDOG_INTERVAL_MS, Math.floor(usec / 1000 / 2));
}

export interface Watchdog {
  /** The ping interval in ms. */
  readonly intervalMs: number;
  /** Pings that were sent, and pings that failed (each failure is also logged). */
  readonly sent: number;
  readonly failed: number;
  /** Stops pinging. Idempotent. */
  stop(): void;
}

/**
 * Starts `WATCHDOG=1` pings at half of `$WATCHDOG_USEC`; undefined when the service
 * manager asked for no watchdog (or not under systemd). A ping is skipped while the
 * previous one is still on its way, so a slow PID 1 never piles up children.
 */
export function startWatchdog(options: SystemdOptions = {}): Watchdog | undefined {
  const environment = options.environment ?? process.env;
  if (!underSystemd(environment)) return undefined;
  const intervalMs = watchdogIntervalMs(environment, options.pid ?? process.pid);
  if (intervalMs === undefined) return undefined;
  const timers = options.timers ?? {
    setInterval: (callback: () => void, ms: number) => setInterval(callback, ms).unref(),
    clearInterval: (handle: unknown) => clearInterval(handle as NodeJS.Timeout),
  };
  let inFlight = false;
  let stopped = false;
  const counts = { sent: 0, failed: 0 };
  const ping = (): void => {
    if (inFlight || stopped) return;
    inFlight = true;
    void notify(['WATCHDOG=1'], options).then((result) => {
      inFlight = false;
      if (result.sent) counts.sent += 1;
      else counts.failed += 1;
    });
  };
  const handle = timers.setInterval(ping, intervalMs);
  ping();
  options.logger?.info('watchdog', { intervalMs });
  return {
    intervalMs,
    get sent() {
      return counts.sent;
    },
    get failed() {
      return counts.failed;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      timers.clearInterval(handle);
    },
  };
}
