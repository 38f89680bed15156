/**
 * The firmware as a child process for the integration tests:
 * `ip netns exec NS node --import tsx firmware/main.ts run ARGS...`, its JSON log lines
 * (SPEC §2: one object a line with `ts`, `level`, `event`) parsed as they arrive.
 *
 * Call order: `startFirmware` → `await fw.ready` (the `ready` event: all services
 * listen) → traffic, `waitForEvent(...)` → `await fw.stop()` (SIGTERM, SIGKILL after
 * 3 s). Every wait is bounded, and a firmware that dies early rejects every pending wait
 * with its exit status, last log lines and stderr, so a broken firmware fails the test
 * with evidence instead of hanging CI. A process 'exit' handler kills what is left.
 */
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { spawnInNamespace, type AfterHook } from './netns.ts';

/** The repository root (this file is test/support/firmware-process.ts). */
export const REPOSITORY_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const DEFAULT_READY_TIMEOUT_MS = 30_000;
const DEFAULT_EVENT_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 3_000;
const KILL_WAIT_MS = 5_000;
const OUTPUT_DRAIN_MS = 2_000;
/** Kept output: enough for a failure message, bounded for a chatty firmware. */
const MAX_STDERR_CHARS = 64 * 1024;
const MAX_NOISE_LINES = 200;

export interface LogLine {
  ts: unknown;
  level: unknown;
  event: string;
  [field: string]: unknown;
}

/** SPEC §2: `ready` includes ip, mac, mtu, ports. */
export interface ReadyEvent extends LogLine {
  event: 'ready';
  ip: string;
  mac: string;
  mtu: number;
  ports: unknown;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartFirmwareOptions {
  /** Namespace to run in (undefined: the host namespace, e.g. for `--link sim`). */
  namespace: string | undefined;
  /** Arguments after `run`, e.g. `['--link', 'packet:veth-dev', '--ip', '198.18.0.2/24', '--diag']`. */
  args: readonly string[];
  readyTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** The test's `after` hook (see netns.ts `AfterHook`): stops the firmware. */
  after?: AfterHook;
  /** Entry script relative to the repository root (a stand-in, for self-tests only). */
  entry?: string;
  /**
   * What runs the firmware in place of `node --import tsx ENTRY` (default), e.g. an
   * emulated ARM system's `node` (test/pi/); `run ARGS...` is appended.
   */
  command?: readonly string[];
}

export interface FirmwareProcess {
  readonly pid: number | undefined;
  /** Resolves on the `ready` event; rejects if the firmware exits or stays silent too long. */
  readonly ready: Promise<ReadyEvent>;
  /** Every JSON log line so far, in order. */
  readonly logs: LogLine[];
  /** stdout lines that were not JSON log objects (a SPEC §2 violation worth seeing). */
  readonly nonJsonLines: string[];
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitStatus>;
  exitStatus(): ExitStatus | undefined;
  stderr(): string;
  /**
   * The first log line (already seen or still to come) with this event name that the
   * predicate accepts; rejects after `timeoutMs` or when the firmware exits.
   */
  waitForEvent(name: string, predicate?: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Log lines with this event name so far. */
  events(name: string): LogLine[];
  /** SIGTERM, then SIGKILL after 3 s; resolves with how it exited. Idempotent. */
  stop(): Promise<ExitStatus>;
  /** Exit status, recent log lines and stderr: for assertion messages. */
  describe(): string;
}

interface Waiter {
  name: string;
  predicate: (line: LogLine) => boolean;
  resolve: (line: LogLine) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export function startFirmware(options: StartFirmwareOptions): FirmwareProcess {
  const command = options.command ?? [process.execPath, '--import', 'tsx', options.entry ?? 'firmware/main.ts'];
  const argv = [...command, 'run', ...options.args];
  const child = spawnInNamespace(options.namespace, argv, {
    cwd: REPOSITORY_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(child);

  const logs: LogLine[] = [];
  const nonJsonLines: string[] = [];
  const waiters = new Set<Waiter>();
  let stderrText = '';
  let partialLine = '';
  let status: ExitStatus | undefined;

  const describe = (): string => {
    const how = status === undefined ? 'still running' : `exited (status ${status.code}, signal ${status.signal})`;
    const recent = logs.slice(-30).map((line) => JSON.stringify(line)).join('\n');
    const noise = nonJsonLines.slice(-10).join('\n');
    return [
      `firmware ${argv.slice(command.length).join(' ')} in ${options.namespace ?? 'the host namespace'}: ${how}`,
      `--- last log lines ---\n${recent || '(none)'}`,
      ...(noise ? [`--- non-JSON stdout ---\n${noise}`] : []),
      `--- stderr ---\n${stderrText.slice(-8000) || '(empty)'}`,
    ].join('\n');
  };

  const deliver = (line: LogLine): void => {
    for (const waiter of waiters) {
      if (waiter.name === line.event && waiter.predicate(line)) {
        waiters.delete(waiter);
        clearTimeout(waiter.timer);
        waiter.resolve(line);
      }
    }
  };

  const acceptLine = (text: string): void => {
    if (text.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { event?: unknown }).event === 'string') {
      const line = parsed as LogLine;
      logs.push(line);
      deliver(line);
    } else if (nonJsonLines.length < MAX_NOISE_LINES) {
      nonJsonLines.push(text);
    }
  };

  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    const lines = (partialLine + chunk).split('\n');
    partialLine = lines.pop() ?? '';
    for (const line of lines) acceptLine(line);
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderrText = (stderrText + chunk).slice(-MAX_STDERR_CHARS);
  });

  const exited = new Promise<ExitStatus>((resolve) => {
    child.on('error', (error) => {
      stderrText += `\nspawn failed: ${error.message}`;
      status ??= { code: 127, signal: null };
      resolve(status);
    });
    let drainTimer: NodeJS.Timeout | undefined;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(drainTimer);
      if (status !== undefined) return;
      if (partialLine) acceptLine(partialLine);
      partialLine = '';
      status = { code, signal };
      resolve(status);
    };
    child.on('close', finish);
    // 'close' also waits for stdout/stderr to close, which a leftover grandchild could
    // prevent: after 'exit', output gets a bounded time to drain.
    child.on('exit', (code, signal) => {
      drainTimer = setTimeout(() => finish(code, signal), OUTPUT_DRAIN_MS);
    });
  });
  void exited.then(() => {
    for (const waiter of waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error(`firmware exited while waiting for "${waiter.name}"\n${describe()}`));
    }
    waiters.clear();
  });

  const waitForEvent = (name: string, predicate: (line: LogLine) => boolean = () => true, timeoutMs = DEFAULT_EVENT_TIMEOUT_MS): Promise<LogLine> => {
    const seen = logs.find((line) => line.event === name && predicate(line));
    if (seen) return Promise.resolve(seen);
    if (status !== undefined) return Promise.reject(new Error(`firmware has exited; no "${name}" event\n${describe()}`));
    return new Promise<LogLine>((resolve, reject) => {
      const waiter: Waiter = {
        name,
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no "${name}" event within ${timeoutMs} ms\n${describe()}`));
        }, timeoutMs),
      };
      waiters.add(waiter);
    });
  };

  const readyTimeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const ready = waitForEvent('ready', () => true, readyTimeoutMs).then((line) => {
    const missing = ['ip', 'mac', 'mtu', 'ports'].filter((field) => !(field in line));
    if (missing.length > 0) throw new Error(`"ready" event lacks ${missing.join(', ')}: ${JSON.stringify(line)}`);
    return line as ReadyEvent;
  });
  // Nobody may be awaiting `ready` when it fails: that must not crash the test process.
  ready.catch(() => undefined);

  let stopping: Promise<ExitStatus> | undefined;
  const stop = (): Promise<ExitStatus> =>
    (stopping ??= (async () => {
      if (status !== undefined) return status;
      child.kill('SIGTERM');
      const graceful = await Promise.race([exited, delay(STOP_GRACE_MS).then(() => undefined)]);
      if (graceful !== undefined) return graceful;
      child.kill('SIGKILL');
      const killed = await Promise.race([exited, delay(KILL_WAIT_MS).then(() => undefined)]);
      if (killed === undefined) throw new Error(`firmware pid ${child.pid} did not die after SIGKILL\n${describe()}`);
      return killed;
    })());

  options.after?.(async () => {
    await stop();
  });

  return {
    pid: child.pid,
    ready,
    logs,
    nonJsonLines,
    exited,
    exitStatus: () => status,
    stderr: () => stderrText,
    waitForEvent,
    events: (name) => logs.filter((line) => line.event === name),
    stop,
    describe,
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const liveChildren = new Set<ChildProcess>();
let exitHandlerInstalled = false;

/** A firmware left running would keep its namespace (and veth) alive after deletion. */
function killOnExit(child: ChildProcess): void {
  liveChildren.add(child);
  child.on('exit', () => liveChildren.delete(child));
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', () => {
    for (const running of liveChildren) running.kill('SIGKILL');
  });
}
