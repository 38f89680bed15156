/**
 * Loading the configuration: read the JSON file, lay the command-line flags over it
 * (flags win), check everything against the schema, and resolve what depends on the
 * machine (state directory, log format) and on where a value was written (relative
 * paths: against the file's directory for values from the file, against the working
 * directory for values from flags).
 *
 * Call order (firmware/main.ts): `parseCommandLine()` → `loadConfig({ file, flags })`
 * (file: `--config`, else `DEFAULT_CONFIG_FILE` if it exists, else none)
 * → on `ConfigError` print `error.message` and exit with status 2 → otherwise log
 * `unavailableFeatures(config, implemented)` once and wire the board.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { packageRoot } from '../../hal/package-root.ts';
import { parseI2cSpec } from '../i2c.ts';
import { ConfigError, describeInput } from './errors.ts';
import { issuesFromZod } from './describe.ts';
import { configSchema, type ParsedConfig, type ResolvedConfig } from './schema.ts';

/** The `run` flags of SPEC section 2, after the command line parsed them. */
export interface CliFlags {
  link?: string;
  ip?: string;
  gateway?: string;
  mac?: string;
  mtu?: number;
  leds?: string;
  i2c?: string | number;
  stateDir?: string;
  log?: string;
  diag?: boolean;
  pcap?: string;
}

/** Which key each flag sets, and how the flag is spelled (for messages). */
export const FLAG_KEYS = {
  link: { key: 'link', flag: '--link' },
  ip: { key: 'net.ip', flag: '--ip' },
  gateway: { key: 'net.gateway', flag: '--gateway' },
  mac: { key: 'net.mac', flag: '--mac' },
  mtu: { key: 'net.mtu', flag: '--mtu' },
  leds: { key: 'leds.driver', flag: '--leds' },
  i2c: { key: 'i2c.bus', flag: '--i2c' },
  stateDir: { key: 'stateDir', flag: '--state-dir' },
  log: { key: 'log.format', flag: '--log' },
  diag: { key: 'services.diag', flag: '--diag' },
  pcap: { key: 'pcap', flag: '--pcap' },
} as const satisfies Record<keyof CliFlags, { key: string; flag: string }>;

/** Keys whose values are file system paths, resolved against where they were written. */
const PATH_KEYS = ['stateDir', 'pcap', 'services.shell.cert', 'services.shell.key', 'leds.sysfsRoot', 'i2c.bus'] as const;

export interface LoadConfigOptions {
  /** The JSON configuration file; none means defaults and flags only. */
  file?: string;
  flags?: CliFlags;
  /** Base for relative paths given as flags; default `process.cwd()`. */
  cwd?: string;
  /** Whether stdout is a terminal (decides the default log format); default `process.stdout.isTTY`. */
  stdoutIsTty?: boolean;
  /** Overrides `defaultStateDir()` (tests). */
  defaultStateDir?: string;
}

/** The installer's configuration; main reads it when `--config` is absent and it exists. */
export const DEFAULT_CONFIG_FILE = '/etc/piwire/config.json';

/**
 * Where state lives by default: systemd's `$STATE_DIRECTORY` when the unit sets
 * `StateDirectory=` (the first entry if it lists several); `./state` in a source
 * checkout, so development never needs root; `/var/lib/piwire` when installed.
 */
export function defaultStateDir(environment: NodeJS.ProcessEnv = process.env, root: string = packageRoot()): string {
  const fromSystemd = environment['STATE_DIRECTORY']?.split(':')[0];
  if (fromSystemd) return fromSystemd;
  if (existsSync(join(root, '.git'))) return join(root, 'state');
  return '/var/lib/piwire';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads `path`; messages name the file as the user wrote it (`file`). */
function readConfigFile(file: string, path: string): Record<string, unknown> {
  let text: string;
  try {
    // An editor's byte-order mark is not a JSON error worth stopping a device for.
    text = readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new ConfigError([{ key: file, message: `cannot read the configuration file (${reason})` }]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError([{ key: file, message: `not valid JSON (${(error as Error).message})` }]);
  }
  if (!isPlainObject(parsed)) {
    throw new ConfigError([{ key: file, message: `must hold a JSON object (got ${describeInput(parsed)})` }]);
  }
  return parsed;
}

/** Sets a dotted key in nested objects, creating groups; a non-object in the way is left for the schema to report. */
function setPath(target: Record<string, unknown>, key: string, value: unknown): void {
  const segments = key.split('.');
  const last = segments.pop() ?? key;
  let group = target;
  for (const segment of segments) {
    const next = group[segment] ?? {};
    if (!isPlainObject(next)) return;
    group[segment] = next;
    group = next;
  }
  group[last] = value;
}

function clone(value: Record<string, unknown>): Record<string, unknown> {
  return structuredClone(value);
}

/**
 * Reads the file (if any), lays the flags over it (flags win), validates, and
 * resolves defaults that depend on the machine. Throws `ConfigError` listing every
 * problem at once, so a technician fixes the file in one go.
 */
export function loadConfig(options: LoadConfigOptions): ResolvedConfig {
  const { file, flags = {} } = options;
  const cwd = options.cwd ?? process.cwd();
  const raw = file === undefined ? {} : clone(readConfigFile(file, resolve(cwd, file)));

  const flagByKey = new Map<string, string>();
  for (const [name, value] of Object.entries(flags) as [keyof CliFlags, unknown][]) {
    if (value === undefined) continue;
    const mapping = FLAG_KEYS[name];
    setPath(raw, mapping.key, value);
    flagByKey.set(mapping.key, mapping.flag);
  }

  const result = configSchema.safeParse(raw, { reportInput: true });
  if (!result.success) throw new ConfigError(issuesFromZod(result.error, (key) => flagByKey.get(key)));
  const parsed = result.data;

  const fileDirectory = file === undefined ? cwd : dirname(resolve(cwd, file));
  const absolute = (key: string, path: string): string => (isAbsolute(path) ? path : resolve(flagByKey.has(key) ? cwd : fileDirectory, path));
  for (const key of PATH_KEYS) resolvePathKey(parsed, key, (path) => absolute(key, path));

  return {
    ...parsed,
    stateDir: parsed.stateDir ?? options.defaultStateDir ?? defaultStateDir(),
    log: { ...parsed.log, format: parsed.log.format ?? ((options.stdoutIsTty ?? process.stdout.isTTY === true) ? 'pretty' : 'json') },
  };
}

function resolvePathKey(config: ParsedConfig, key: (typeof PATH_KEYS)[number], absolute: (path: string) => string): void {
  switch (key) {
    case 'stateDir':
      if (config.stateDir !== undefined) config.stateDir = absolute(config.stateDir);
      break;
    case 'pcap':
      if (config.pcap !== undefined) config.pcap = absolute(config.pcap);
      break;
    case 'services.shell.cert':
      if (config.services.shell.cert !== undefined) config.services.shell.cert = absolute(config.services.shell.cert);
      break;
    case 'services.shell.key':
      if (config.services.shell.key !== undefined) config.services.shell.key = absolute(config.services.shell.key);
      break;
    case 'leds.sysfsRoot':
      config.leds.sysfsRoot = absolute(config.leds.sysfsRoot);
      break;
    case 'i2c.bus': {
      const spec = parseI2cSpec(config.i2c.bus);
      if (spec?.kind === 'sim' && spec.file !== undefined) config.i2c.bus = `sim:${absolute(spec.file)}`;
      break;
    }
  }
}

