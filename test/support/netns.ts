/**
 * Network-namespace topologies for the integration tests: the firmware on one end of
 * a link, the Linux kernel's TCP/IP on the other (SPEC §9).
 *
 * Two shapes:
 *  - `createTopology`: two namespaces `pw-dev-XXXXXX` and `pw-lan-XXXXXX` joined by a veth
 *    pair (`veth-dev` in the device namespace, `veth-lan` in the LAN namespace). The
 *    firmware opens `packet:veth-dev`; the kernel holds 198.18.0.1/24 on `veth-lan` and
 *    NO address on `veth-dev`, so it never answers for the device (SPEC §7).
 *  - `createTapTopology`: one namespace `pw-tap-XXXXXX`; the firmware creates `tap:NAME`
 *    itself inside it, and `attachPeer()` then gives the kernel side of the TAP
 *    198.18.1.1/24 (a TAP's kernel side lives in the namespace of the process that opened
 *    it, so device and peer share the namespace).
 *
 * Call order: `canUseNetns()` (skip the test when it fails) → create → start the
 * firmware in `deviceNamespace` → (TAP only) `attachPeer()` → traffic from
 * `peerNamespace` through `exec` → `destroy()`. Every namespace made here is removed by
 * `destroy()`, by the test's `after` hook when one is passed, and by a process 'exit' /
 * signal handler, so a failing or interrupted test still leaves nothing behind.
 *
 * Only 198.18.0.0/15 addresses are used, and only inside namespaces created here: the
 * host's own interfaces, routes and firewall are never touched.
 *
 * The building blocks (`addNamespace`, `removeNamespace`, `disableOffloads`, …) are
 * exported for other shapes built on the same cleanup, e.g. the loss benchmark's
 * device — bridge — LAN path (bench/lib/lossy-path.ts).
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

/** Interface names inside the veth topology (15-character IFNAMSIZ limit). */
export const DEVICE_INTERFACE = 'veth-dev';
export const LAN_INTERFACE = 'veth-lan';

/** Addresses (RFC 2544 benchmarking range). */
export const VETH_PEER_ADDRESS = '198.18.0.1';
export const VETH_DEVICE_ADDRESS = '198.18.0.2';
export const TAP_PEER_ADDRESS = '198.18.1.1';
export const TAP_DEVICE_ADDRESS = '198.18.1.2';
export const PREFIX_LENGTH = 24;

/**
 * Offloads switched off on both ends. With transmit checksum offload a veth hands
 * frames with partial checksums to AF_PACKET readers; with GRO/GSO/TSO frames larger
 * than the MTU appear. Either would make the kernel, not the firmware, look broken.
 */
const OFFLOAD_FEATURES = ['tx', 'rx', 'tso', 'gso', 'gro', 'lro'] as const;

/** Bounds on the setup commands: hang guards, not performance limits. */
export const SETUP_COMMAND_TIMEOUT_MS = 15_000;
const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
const OUTPUT_DRAIN_MS = 2_000;

// ---------------------------------------------------------------------------------------
// Running commands

export interface ExecOptions {
  /** Kill the command (SIGKILL) after this long and report `timedOut` (default 60 s). */
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed. stdin is empty otherwise. */
  input?: string | Uint8Array;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface ExecResult {
  argv: readonly string[];
  namespace: string | undefined;
  /** Exit status, or null when the command died of a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Wall-clock duration, for diagnostics only. */
  elapsedMs: number;
}

/** A command that failed, with everything needed to understand why in its message. */
export class CommandError extends Error {
  constructor(readonly result: ExecResult) {
    super(describeResult(result));
    this.name = 'CommandError';
  }
}

export function describeResult(result: ExecResult): string {
  const where = result.namespace === undefined ? '' : `[netns ${result.namespace}] `;
  const how = result.timedOut
    ? `timed out after ${Math.round(result.elapsedMs)} ms`
    : result.signal !== null
      ? `died of ${result.signal}`
      : `exited with status ${result.code}`;
  const tail = (text: string): string => (text.length > 4000 ? '…' + text.slice(-4000) : text);
  return `${where}${result.argv.join(' ')} ${how}\n--- stdout ---\n${tail(result.stdout)}\n--- stderr ---\n${tail(result.stderr)}`;
}

/** argv prefixed with `ip netns exec NS` when a namespace is given. */
export function namespacedArgv(namespace: string | undefined, argv: readonly string[]): string[] {
  if (argv.length === 0) throw new Error('empty argv');
  return namespace === undefined ? [...argv] : ['ip', 'netns', 'exec', namespace, ...argv];
}

/**
 * Starts a long-running command inside a namespace (`ip netns exec` execs the command,
 * so the child's pid is the command's own). The caller owns the process.
 */
export function spawnInNamespace(namespace: string | undefined, argv: readonly string[], options: SpawnOptions = {}): ChildProcess {
  const [command, ...args] = namespacedArgv(namespace, argv);
  return spawn(command as string, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

/**
 * Runs a command in a namespace (or in the host namespace when `namespace` is
 * undefined) and collects its output. Never rejects for a failing command: check
 * `code`, or use `execOrThrow`.
 */
export function exec(namespace: string | undefined, argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  const fullArgv = namespacedArgv(namespace, argv);
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawnInNamespace(namespace, argv, {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      cwd: options.cwd,
      env: options.env ?? process.env,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    let spawnError: Error | undefined;
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS);
    if (options.input !== undefined && child.stdin) {
      // A command that exits without reading its input must not crash the test with EPIPE.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }
    let finished = false;
    let drainTimer: NodeJS.Timeout | undefined;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      clearTimeout(drainTimer);
      const errorText = spawnError ? `spawn failed: ${spawnError.message}\n` : '';
      resolve({
        argv: fullArgv,
        namespace,
        code: spawnError ? 127 : code,
        signal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: errorText + Buffer.concat(stderr).toString('utf8'),
        timedOut,
        elapsedMs: performance.now() - started,
      });
    };
    child.on('error', (error) => {
      spawnError = error;
      finish(127, null);
    });
    // 'close' waits for stdout/stderr to close too; a grandchild that inherited them could
    // hold them open forever, so after 'exit' the output gets a bounded time to drain.
    child.on('exit', (code, signal) => {
      drainTimer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish(code, signal);
      }, OUTPUT_DRAIN_MS);
    });
    child.on('close', finish);
  });
}

/** Like `exec`, but rejects with a CommandError unless the command exited with status 0. */
export async function execOrThrow(namespace: string | undefined, argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  const result = await exec(namespace, argv, options);
  if (result.code !== 0 || result.timedOut) throw new CommandError(result);
  return result;
}

// ---------------------------------------------------------------------------------------
// Python clients (test/support/clients/*.py)

/**
 * Debian's python3, which has python3-scapy. The `python3` first on PATH may be another
 * installation (pyenv on the development machines) without it.
 */
export const SYSTEM_PYTHON = '/usr/bin/python3';
export const CLIENTS_DIRECTORY = fileURLToPath(new URL('./clients/', import.meta.url));

export interface ClientRun<Report> {
  result: ExecResult;
  /** The JSON object the client printed last, or undefined if it printed none. */
  report: Report | undefined;
}

/**
 * Runs `test/support/clients/SCRIPT` with the system python in a namespace. The clients
 * print one JSON object on their last stdout line; it is parsed, never trusted blindly:
 * the caller asserts on it together with the exit status.
 */
export async function runClient<Report>(
  namespace: string | undefined,
  script: string,
  args: readonly string[],
  options: ExecOptions = {},
): Promise<ClientRun<Report>> {
  const result = await exec(namespace, [SYSTEM_PYTHON, CLIENTS_DIRECTORY + script, ...args], options);
  const lastLine = result.stdout.trim().split('\n').pop() ?? '';
  let report: Report | undefined;
  try {
    report = JSON.parse(lastLine) as Report;
  } catch {
    report = undefined;
  }
  return { result, report };
}

// ---------------------------------------------------------------------------------------
// Availability

export type NetnsAvailability = { ok: true } | { ok: false; reason: string };

let availability: NetnsAvailability | undefined;

/**
 * Whether this process can build topologies: root, `ip` present, and a namespace can
 * actually be created (a container without CAP_SYS_ADMIN fails only at that point).
 * Checked once per process.
 */
export function canUseNetns(): NetnsAvailability {
  availability ??= probeNetns();
  return availability;
}

function probeNetns(): NetnsAvailability {
  if (process.platform !== 'linux') return { ok: false, reason: `not Linux (${process.platform})` };
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return { ok: false, reason: 'not running as root' };
  const version = spawnSync('ip', ['-V'], { encoding: 'utf8', timeout: SETUP_COMMAND_TIMEOUT_MS });
  if (version.error || version.status !== 0) return { ok: false, reason: '`ip` (iproute2) is not installed' };
  const probe = `pw-probe-${randomSuffix()}`;
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8', timeout: SETUP_COMMAND_TIMEOUT_MS });
  if (add.status !== 0) {
    return { ok: false, reason: `cannot create a network namespace: ${(add.stderr || add.error?.message || '').trim()}` };
  }
  spawnSync('ip', ['netns', 'del', probe], { timeout: SETUP_COMMAND_TIMEOUT_MS });
  return { ok: true };
}

// ---------------------------------------------------------------------------------------
// Cleanup of namespaces that outlive their test

const liveNamespaces = new Set<string>();
let exitHandlersInstalled = false;

/** Kills what still runs inside our namespaces and deletes them, synchronously. */
function removeAllNamespacesSync(): void {
  for (const namespace of liveNamespaces) removeNamespaceSync(namespace);
  liveNamespaces.clear();
}

function removeNamespaceSync(namespace: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', namespace], { encoding: 'utf8', timeout: SETUP_COMMAND_TIMEOUT_MS });
  for (const pid of parsePids(pids.stdout ?? '')) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  spawnSync('ip', ['netns', 'del', namespace], { timeout: SETUP_COMMAND_TIMEOUT_MS });
}

function parsePids(text: string): number[] {
  return text
    .split(/\s+/)
    .filter((word) => /^[0-9]+$/.test(word))
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

function installExitHandlers(): void {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  process.on('exit', removeAllNamespacesSync);
  // A signal would otherwise end the process without running 'exit' handlers.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      removeAllNamespacesSync();
      process.kill(process.pid, signal);
    });
  }
}

export async function addNamespace(prefix: string, role: string): Promise<string> {
  installExitHandlers();
  for (let attempt = 0; attempt < 5; attempt++) {
    const namespace = `${prefix}-${role}-${randomSuffix()}`;
    const result = await exec(undefined, ['ip', 'netns', 'add', namespace], { timeoutMs: SETUP_COMMAND_TIMEOUT_MS });
    if (result.code === 0) {
      liveNamespaces.add(namespace);
      return namespace;
    }
    if (!/exists/i.test(result.stderr)) throw new CommandError(result);
  }
  throw new Error(`could not find a free namespace name for ${prefix}-${role}`);
}

/** Deletes a namespace made here, killing whatever still runs in it first. Idempotent. */
export async function removeNamespace(namespace: string): Promise<void> {
  if (!liveNamespaces.has(namespace)) return;
  const pids = await exec(undefined, ['ip', 'netns', 'pids', namespace], { timeoutMs: SETUP_COMMAND_TIMEOUT_MS });
  for (const pid of parsePids(pids.stdout)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const result = await exec(undefined, ['ip', 'netns', 'del', namespace], { timeoutMs: SETUP_COMMAND_TIMEOUT_MS });
  liveNamespaces.delete(namespace);
  if (result.code !== 0 && !/No such file/i.test(result.stderr)) throw new CommandError(result);
}

function randomSuffix(): string {
  return randomBytes(3).toString('hex');
}

// ---------------------------------------------------------------------------------------
// Topologies

/** Registers a cleanup function: node:test's `after`, or `(fn) => t.after(fn)`. */
export type AfterHook = (fn: () => Promise<void> | void) => void;

export interface TopologyOptions {
  /** IP MTU on both ends of the link. */
  mtu: number;
  /** Namespace name prefix; the final sweep of test/run.sh only touches `pw-*`. */
  prefix?: string;
  /**
   * The test's `after` hook. Pass the suite-level `after` (registered when the suite is
   * defined), or `(fn) => t.after(fn)` inside a test. Not node:test's `after` called from
   * inside a `before` hook: Node 20 runs that as soon as the hook itself ends.
   */
  after?: AfterHook;
}

export interface OffloadReport {
  /** `namespace/interface feature` for each feature that could not be switched off. */
  unchangeable: string[];
}

/** What a test needs to know about either topology. */
export interface Topology {
  readonly kind: 'veth' | 'tap';
  readonly mtu: number;
  /** Where the firmware runs. */
  readonly deviceNamespace: string;
  /** Where the kernel peer runs: clients, captures, scapy. */
  readonly peerNamespace: string;
  /** The interface the firmware owns, and its `--link` spec. */
  readonly deviceInterface: string;
  readonly linkSpec: string;
  /** The kernel's interface facing the device: capture here. */
  readonly peerInterface: string;
  readonly deviceAddress: string;
  readonly peerAddress: string;
  readonly prefixLength: number;
  /** The firmware's link and address arguments (`--link`, `--ip`, `--gateway`, `--mtu`). */
  firmwareArgs(): string[];
  /** Runs a command in the peer namespace (the Linux kernel's side). */
  execPeer(argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** Deletes every namespace of the topology; safe to call more than once. */
  destroy(): Promise<void>;
}

export interface VethTopology extends Topology {
  readonly kind: 'veth';
  readonly offloads: OffloadReport;
}

export interface TapTopology extends Topology {
  readonly kind: 'tap';
  /**
   * Waits (bounded) for the firmware to have created the TAP, then brings the kernel
   * side up with the MTU, offloads off and 198.18.1.1/24.
   */
  attachPeer(options?: { timeoutMs?: number }): Promise<OffloadReport>;
}

/**
 * Builds the veth topology described at the top of this file. On any failure the
 * namespaces made so far are removed before the error propagates.
 */
export async function createTopology(options: TopologyOptions): Promise<VethTopology> {
  const prefix = options.prefix ?? 'pw';
  const created: string[] = [];
  const destroy = onceAsync(async () => {
    for (const namespace of created) await removeNamespace(namespace);
  });
  options.after?.(destroy);
  try {
    const deviceNamespace = await addNamespace(prefix, 'dev');
    created.push(deviceNamespace);
    const lanNamespace = await addNamespace(prefix, 'lan');
    created.push(lanNamespace);

    // The kernel must stay silent on the firmware's interface: no IPv4 address (never
    // set) and no IPv6 (link-local address, DAD, router solicitations, MLD), set as the
    // namespace default before the veth exists so veth-dev is born without it.
    await disableIpv6(deviceNamespace);

    const setup = (namespace: string, argv: string[]): Promise<ExecResult> =>
      execOrThrow(namespace, argv, { timeoutMs: SETUP_COMMAND_TIMEOUT_MS });
    await setup(deviceNamespace, ['ip', 'link', 'set', 'lo', 'up']);
    await setup(lanNamespace, ['ip', 'link', 'set', 'lo', 'up']);
    // Created inside the device namespace with the peer placed straight into the LAN
    // namespace: no interface ever appears in the host namespace.
    await setup(deviceNamespace, ['ip', 'link', 'add', DEVICE_INTERFACE, 'type', 'veth', 'peer', 'name', LAN_INTERFACE, 'netns', lanNamespace]);
    await setup(deviceNamespace, ['ip', 'link', 'set', DEVICE_INTERFACE, 'mtu', String(options.mtu)]);
    await setup(lanNamespace, ['ip', 'link', 'set', LAN_INTERFACE, 'mtu', String(options.mtu)]);
    const unchangeable = [
      ...(await disableOffloads(deviceNamespace, DEVICE_INTERFACE)),
      ...(await disableOffloads(lanNamespace, LAN_INTERFACE)),
    ];
    await setup(lanNamespace, ['ip', 'address', 'add', `${VETH_PEER_ADDRESS}/${PREFIX_LENGTH}`, 'dev', LAN_INTERFACE]);
    await setup(deviceNamespace, ['ip', 'link', 'set', DEVICE_INTERFACE, 'up']);
    await setup(lanNamespace, ['ip', 'link', 'set', LAN_INTERFACE, 'up']);
    await waitForOperstateUp(lanNamespace, LAN_INTERFACE);

    return vethTopology({ mtu: options.mtu, deviceNamespace, lanNamespace, unchangeable, destroy });
  } catch (error) {
    await destroy();
    throw error;
  }
}

/**
 * The VethTopology view of a device namespace holding `veth-dev` and a LAN namespace
 * holding `veth-lan` with 198.18.0.1/24, however they are joined (directly by
 * createTopology, or through a bridge namespace by the loss benchmark's path).
 */
export function vethTopology(parts: { mtu: number; deviceNamespace: string; lanNamespace: string; unchangeable: string[]; destroy: () => Promise<void> }): VethTopology {
  const { mtu, deviceNamespace, lanNamespace } = parts;
  return {
    kind: 'veth',
    mtu,
    deviceNamespace,
    peerNamespace: lanNamespace,
    deviceInterface: DEVICE_INTERFACE,
    linkSpec: `packet:${DEVICE_INTERFACE}`,
    peerInterface: LAN_INTERFACE,
    deviceAddress: VETH_DEVICE_ADDRESS,
    peerAddress: VETH_PEER_ADDRESS,
    prefixLength: PREFIX_LENGTH,
    offloads: { unchangeable: parts.unchangeable },
    firmwareArgs: () => [
      '--link', `packet:${DEVICE_INTERFACE}`,
      '--ip', `${VETH_DEVICE_ADDRESS}/${PREFIX_LENGTH}`,
      '--gateway', VETH_PEER_ADDRESS,
      '--mtu', String(mtu),
    ],
    execPeer: (argv, execOptions) => exec(lanNamespace, argv, execOptions),
    destroy: parts.destroy,
  };
}

/** Default TAP name: short, and private to its namespace so it cannot collide. */
export const DEFAULT_TAP_NAME = 'pwtap0';

/** Builds the one-namespace TAP topology; the firmware creates the TAP itself. */
export async function createTapTopology(options: TopologyOptions & { tapName?: string }): Promise<TapTopology> {
  const prefix = options.prefix ?? 'pw';
  const tapName = options.tapName ?? DEFAULT_TAP_NAME;
  let namespace: string | undefined;
  const destroy = onceAsync(async () => {
    if (namespace !== undefined) await removeNamespace(namespace);
  });
  options.after?.(destroy);
  try {
    namespace = await addNamespace(prefix, 'tap');
    await execOrThrow(namespace, ['ip', 'link', 'set', 'lo', 'up'], { timeoutMs: SETUP_COMMAND_TIMEOUT_MS });
  } catch (error) {
    await destroy();
    throw error;
  }
  const tapNamespace = namespace;
  const attachPeer = async (attachOptions: { timeoutMs?: number } = {}): Promise<OffloadReport> => {
    const deadline = performance.now() + (attachOptions.timeoutMs ?? 20_000);
    while (!(await interfaceExists(tapNamespace, tapName))) {
      if (performance.now() > deadline) {
        throw new Error(`the firmware did not create ${tapName} in ${tapNamespace} within ${attachOptions.timeoutMs ?? 20_000} ms`);
      }
      await delay(100);
    }
    const setup = (argv: string[]): Promise<ExecResult> => execOrThrow(tapNamespace, argv, { timeoutMs: SETUP_COMMAND_TIMEOUT_MS });
    await setup(['ip', 'link', 'set', tapName, 'mtu', String(options.mtu)]);
    const unchangeable = await disableOffloads(tapNamespace, tapName);
    await setup(['ip', 'address', 'replace', `${TAP_PEER_ADDRESS}/${PREFIX_LENGTH}`, 'dev', tapName]);
    await setup(['ip', 'link', 'set', tapName, 'up']);
    return { unchangeable };
  };
  return {
    kind: 'tap',
    mtu: options.mtu,
    deviceNamespace: tapNamespace,
    peerNamespace: tapNamespace,
    deviceInterface: tapName,
    linkSpec: `tap:${tapName}`,
    peerInterface: tapName,
    deviceAddress: TAP_DEVICE_ADDRESS,
    peerAddress: TAP_PEER_ADDRESS,
    prefixLength: PREFIX_LENGTH,
    firmwareArgs: () => [
      '--link', `tap:${tapName}`,
      '--ip', `${TAP_DEVICE_ADDRESS}/${PREFIX_LENGTH}`,
      '--gateway', TAP_PEER_ADDRESS,
      '--mtu', String(options.mtu),
    ],
    execPeer: (argv, execOptions) => exec(tapNamespace, argv, execOptions),
    attachPeer,
    destroy,
  };
}

/** Namespaces created by this process and not yet destroyed (for self-tests). */
export function liveNamespaceNames(): string[] {
  return [...liveNamespaces];
}

/** Names of every namespace on the machine, from `ip netns list`. */
export async function listNamespaces(): Promise<string[]> {
  const result = await execOrThrow(undefined, ['ip', 'netns', 'list'], { timeoutMs: SETUP_COMMAND_TIMEOUT_MS });
  return result.stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name.length > 0);
}

export async function disableIpv6(namespace: string): Promise<void> {
  // Written through /proc (per network namespace) rather than with sysctl, which a
  // minimal system may lack. A kernel without IPv6 has no such files: nothing to disable.
  const script = 'for key in all default; do f=/proc/sys/net/ipv6/conf/$key/disable_ipv6; [ -e "$f" ] && echo 1 > "$f"; done; true';
  await execOrThrow(namespace, ['sh', '-c', script], { timeoutMs: SETUP_COMMAND_TIMEOUT_MS });
}

/**
 * `ethtool -K IF tx off rx off tso off gso off gro off lro off`, one feature at a time:
 * a veth has no LRO to change, and ethtool fails the whole call when any one feature is
 * fixed. Returns the features that stayed unchangeable; fails only when ethtool is missing.
 */
export async function disableOffloads(namespace: string, interfaceName: string): Promise<string[]> {
  await execOrThrow(namespace, ['ethtool', '--version'], { timeoutMs: SETUP_COMMAND_TIMEOUT_MS });
  const unchangeable: string[] = [];
  for (const feature of OFFLOAD_FEATURES) {
    const result = await exec(namespace, ['ethtool', '-K', interfaceName, feature, 'off'], { timeoutMs: SETUP_COMMAND_TIMEOUT_MS });
    if (result.code !== 0) unchangeable.push(`${namespace}/${interfaceName} ${feature}`);
  }
  return unchangeable;
}

async function interfaceExists(namespace: string, interfaceName: string): Promise<boolean> {
  const result = await exec(namespace, ['ip', 'link', 'show', 'dev', interfaceName], { timeoutMs: SETUP_COMMAND_TIMEOUT_MS });
  return result.code === 0;
}

export async function waitForOperstateUp(namespace: string, interfaceName: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const result = await execOrThrow(namespace, ['ip', '-json', 'link', 'show', 'dev', interfaceName], { timeoutMs: SETUP_COMMAND_TIMEOUT_MS });
    const links = JSON.parse(result.stdout) as { operstate?: string }[];
    if (links[0]?.operstate === 'UP') return;
    if (performance.now() > deadline) throw new Error(`${interfaceName} in ${namespace} is not up after ${timeoutMs} ms: ${result.stdout}`);
    await delay(50);
  }
}

export function onceAsync(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= fn());
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A third namespace routed through the LAN namespace: another host on another subnet. */
export interface RoutedHost {
  readonly namespace: string;
  /** Its address (198.18.2.2); the device reaches it through its gateway, 198.18.0.1. */
  readonly address: string;
  /** Runs a command in the host's namespace. */
  exec(argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** Takes its link down (a pulled cable) or up again. */
  setCable(plugged: boolean): Promise<void>;
  destroy(): Promise<void>;
}

export const ROUTED_HOST_ADDRESS = '198.18.2.2';

/** The handle of a host namespace whose link to its router is `host0`. */
function hostHandle(namespace: string, address: string, destroy: () => Promise<void>): RoutedHost {
  return {
    namespace,
    address,
    exec: (argv, execOptions) => exec(namespace, argv, execOptions),
    setCable: async (plugged) => {
      await execOrThrow(namespace, ['ip', 'link', 'set', 'host0', plugged ? 'up' : 'down'], { timeoutMs: SETUP_COMMAND_TIMEOUT_MS });
    },
    destroy,
  };
}
const ROUTED_GATEWAY_ADDRESS = '198.18.2.1';

/**
 * Adds a host behind the LAN namespace of a veth topology: a veth pair from a new
 * namespace (`host0`, 198.18.2.2/24) to the LAN namespace (`rt0`, 198.18.2.1/24), with
 * forwarding on in the LAN namespace only. Its cable can be pulled without touching
 * the device's own link, so a test can watch the device lose that peer over a link
 * that stays up.
 */
export async function addRoutedHost(topology: VethTopology, options: { prefix?: string; after?: AfterHook } = {}): Promise<RoutedHost> {
  const namespace = await addNamespace(options.prefix ?? 'pw', 'host');
  const destroy = onceAsync(() => removeNamespace(namespace));
  options.after?.(destroy);
  try {
    const setup = (where: string, argv: string[]): Promise<ExecResult> => execOrThrow(where, argv, { timeoutMs: SETUP_COMMAND_TIMEOUT_MS });
    const lan = topology.peerNamespace;
    await setup(namespace, ['ip', 'link', 'set', 'lo', 'up']);
    await setup(namespace, ['ip', 'link', 'add', 'host0', 'type', 'veth', 'peer', 'name', 'rt0', 'netns', lan]);
    await setup(namespace, ['ip', 'address', 'add', `${ROUTED_HOST_ADDRESS}/24`, 'dev', 'host0']);
    await setup(lan, ['ip', 'address', 'add', `${ROUTED_GATEWAY_ADDRESS}/24`, 'dev', 'rt0']);
    await setup(namespace, ['ip', 'link', 'set', 'host0', 'up']);
    await setup(lan, ['ip', 'link', 'set', 'rt0', 'up']);
    await setup(namespace, ['ip', 'route', 'add', 'default', 'via', ROUTED_GATEWAY_ADDRESS]);
    await setup(lan, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await waitForOperstateUp(namespace, 'host0');
    return hostHandle(namespace, ROUTED_HOST_ADDRESS, destroy);
  } catch (error) {
    await destroy();
    throw error;
  }
}

/** A host two routers away, behind a hop with a smaller MTU (path MTU tests). */
export interface NarrowPathHost extends RoutedHost {
  /** The middle router's namespace (its hop toward the LAN is the narrow one). */
  readonly routerNamespace: string;
  /** The narrow hop's IP MTU. */
  readonly narrowMtu: number;
}

export const NARROW_PATH_HOST_ADDRESS = '198.18.3.2';

/**
 * Adds a host reached over a narrow hop: device ─1500─ LAN namespace (router A) ─narrow─
 * router B ─1500─ host. The LAN namespace routes 198.18.3.0/24 over `nrw0`
 * (198.18.2.1/24, MTU `mtu`) to router B (`nrw1`, 198.18.2.3/24, the same MTU), which
 * forwards to the host (`rtb0` 198.18.3.1/24 ↔ `host0` 198.18.3.2/24, MTU 1500). Both
 * ends therefore start at MSS 1460, and each router answers a too-big DF datagram with
 * ICMP "fragmentation needed" (next-hop MTU `mtu`): router A to the device, router B to
 * the host.
 */
export async function addNarrowPathHost(
  topology: VethTopology,
  options: { mtu: number; prefix?: string; after?: AfterHook },
): Promise<NarrowPathHost> {
  const prefix = options.prefix ?? 'pw';
  const created: string[] = [];
  const destroy = onceAsync(async () => {
    for (const namespace of created.reverse()) await removeNamespace(namespace);
  });
  options.after?.(destroy);
  try {
    const routerNamespace = await addNamespace(prefix, 'rtb');
    created.push(routerNamespace);
    const namespace = await addNamespace(prefix, 'host');
    created.push(namespace);
    const setup = (where: string, argv: string[]): Promise<ExecResult> => execOrThrow(where, argv, { timeoutMs: SETUP_COMMAND_TIMEOUT_MS });
    const lan = topology.peerNamespace;
    const mtu = String(options.mtu);
    for (const where of [routerNamespace, namespace]) {
      await disableIpv6(where);
      await setup(where, ['ip', 'link', 'set', 'lo', 'up']);
    }
    // The narrow hop: LAN namespace (router A) ↔ router B.
    await setup(routerNamespace, ['ip', 'link', 'add', 'nrw1', 'type', 'veth', 'peer', 'name', 'nrw0', 'netns', lan]);
    await setup(routerNamespace, ['ip', 'link', 'set', 'nrw1', 'mtu', mtu]);
    await setup(lan, ['ip', 'link', 'set', 'nrw0', 'mtu', mtu]);
    await setup(lan, ['ip', 'address', 'add', '198.18.2.1/24', 'dev', 'nrw0']);
    await setup(routerNamespace, ['ip', 'address', 'add', '198.18.2.3/24', 'dev', 'nrw1']);
    // Router B ↔ host, full size.
    await setup(namespace, ['ip', 'link', 'add', 'host0', 'type', 'veth', 'peer', 'name', 'rtb0', 'netns', routerNamespace]);
    await setup(routerNamespace, ['ip', 'address', 'add', '198.18.3.1/24', 'dev', 'rtb0']);
    await setup(namespace, ['ip', 'address', 'add', `${NARROW_PATH_HOST_ADDRESS}/24`, 'dev', 'host0']);
    for (const [where, link] of [[lan, 'nrw0'], [routerNamespace, 'nrw1'], [routerNamespace, 'rtb0'], [namespace, 'host0']] as const) {
      await disableOffloads(where, link);
      await setup(where, ['ip', 'link', 'set', link, 'up']);
    }
    await setup(lan, ['ip', 'route', 'add', '198.18.3.0/24', 'via', '198.18.2.3']);
    await setup(routerNamespace, ['ip', 'route', 'add', 'default', 'via', '198.18.2.1']);
    await setup(namespace, ['ip', 'route', 'add', 'default', 'via', '198.18.3.1']);
    await setup(lan, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await setup(routerNamespace, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await waitForOperstateUp(namespace, 'host0');
    await waitForOperstateUp(lan, 'nrw0');
    return { ...hostHandle(namespace, NARROW_PATH_HOST_ADDRESS, destroy), routerNamespace, narrowMtu: options.mtu };
  } catch (error) {
    await destroy();
    throw error;
  }
}
