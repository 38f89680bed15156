/**
 * The firmware's configuration (SPEC section 2): one zod schema for every key, the
 * loader that reads the JSON file and lays the command-line flags over it, and the
 * key reference (`describeConfig`) for the docs and the shell's `config`.
 *
 * Call order (firmware/main.ts): `parseCommandLine()` → `loadConfig({ file, flags })`
 * (file: `--config`, else `DEFAULT_CONFIG_FILE` if it exists, else none)
 * → on `ConfigError` print `error.message` and exit with status 2 → otherwise log
 * `unavailableFeatures(config, implemented)` once and wire the board.
 *
 * Rules the schema enforces:
 * - The file holds nested objects (`{"tcp": {"keepalive": {"idle": "10s"}}}`); the
 *   dotted names in SPEC are paths into it. Every key is optional.
 * - Objects are strict: an unknown key is an error (a typo must not silently fall
 *   back to a default on a device in the field).
 * - Every message names the full dotted key and what is allowed, and shows the
 *   value it got: `config: tcp.keepalive.idle: must be a duration between 1ms and 2h (got "ten")`.
 * - Durations resolve to milliseconds, sizes to bytes, relative paths to absolute
 *   ones (relative to the configuration file's directory for values from the file,
 *   to the working directory for values from flags).
 *
 * The resolved configuration stays plain JSON (strings, numbers, booleans): printing
 * it gives a valid configuration file back, which is what the shell's `config` shows.
 * Addresses stay in their canonical text form; main turns them into stack values with
 * `src/net/address.ts` (`parseCidr`, `parseIpv4`, `parseMac`) and `parseLinkSpec` here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { formatIpv4, parseCidr, parseIpv4, parseMac, formatMac, prefixMask, sameSubnet, isMulticastMac } from '../src/net/address.ts';
import { formatDuration, formatSize, parseDuration, parseSize } from './units.ts';
import { isShellRole, SHELL_ROLES, type ShellRole, type ShellUserEntry } from '../src/services/shell/roles.ts';

// ---------------------------------------------------------------------------
// Key metadata and leaf builders
// ---------------------------------------------------------------------------

/** What `describeConfig()` reports for one key. */
export interface ConfigKeyDescription {
  /** Dotted path, e.g. `tcp.keepalive.idle`. */
  key: string;
  /** What the key accepts, in the words of the error messages. */
  allowed: string;
  /** The default in the form one would write it in the file, or a sentence when it depends on the machine. */
  defaultValue: string;
  description: string;
}

type KeyInfo = Omit<ConfigKeyDescription, 'key'>;

/** Attaches the reference text to each leaf schema, so the docs cannot drift from the checks. */
const keyInfo = z.registry<KeyInfo>();

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

function integer(min: number, max: number, fallback: number, description: string) {
  const allowed = `an integer between ${min} and ${max}`;
  const error = `must be ${allowed}`;
  return z
    .int({ error })
    .min(min, { error })
    .max(max, { error })
    .default(fallback)
    .register(keyInfo, { allowed, defaultValue: String(fallback), description });
}

function port(fallback: number, description: string) {
  return integer(1, 65535, fallback, description);
}

function duration(min: number, max: number, fallback: number, description: string) {
  const allowed = `a duration between ${formatDuration(min)} and ${formatDuration(max)}`;
  return z
    .unknown()
    .transform((input, context) => {
      const milliseconds = parseDuration(input);
      if (milliseconds === undefined || milliseconds < min || milliseconds > max) {
        context.addIssue({ code: 'custom', message: `must be ${allowed}`, input });
        return z.NEVER;
      }
      return milliseconds;
    })
    .default(fallback)
    .register(keyInfo, { allowed, defaultValue: formatDuration(fallback), description });
}

function size(min: number, max: number, fallback: number, description: string) {
  const allowed = `a size between ${formatSize(min)} and ${formatSize(max)}`;
  return z
    .unknown()
    .transform((input, context) => {
      const bytes = parseSize(input);
      if (bytes === undefined || bytes < min || bytes > max) {
        context.addIssue({ code: 'custom', message: `must be ${allowed}`, input });
        return z.NEVER;
      }
      return bytes;
    })
    .default(fallback)
    .register(keyInfo, { allowed, defaultValue: formatSize(fallback), description });
}

function flag(fallback: boolean, description: string) {
  return z
    .boolean({ error: 'must be true or false' })
    .default(fallback)
    .register(keyInfo, { allowed: 'true or false', defaultValue: String(fallback), description });
}

function choice<const Values extends readonly [string, ...string[]]>(values: Values, fallback: Values[number], description: string) {
  const allowed = `one of ${values.join(', ')}`;
  return z
    .enum(values, { error: `must be ${allowed}` })
    .default(fallback)
    .register(keyInfo, { allowed, defaultValue: fallback, description });
}

/** A check for values that need more than a type and a range: the normalized value, or why not. */
type Check<T> = (input: unknown) => { value: T } | { message: string };

/** A leaf checked by a function, which also writes the message. */
function checked<T>(check: Check<T>) {
  return z.unknown().transform((input, context) => {
    const result = check(input);
    if ('message' in result) {
      context.addIssue({ code: 'custom', message: result.message, input });
      return z.NEVER;
    }
    return result.value;
  });
}

function optionalChecked<T>(allowed: string, check: Check<T>, defaultValue: string, description: string) {
  return checked(check).optional().register(keyInfo, { allowed, defaultValue, description });
}

/** The fallback goes through the check too (`prefault`), so a default can never be a value the check refuses. */
function defaultedChecked<T>(allowed: string, check: Check<T>, fallback: T, defaultValue: string, description: string) {
  return checked(check).prefault(fallback).register(keyInfo, { allowed, defaultValue, description });
}

// ---------------------------------------------------------------------------
// Checks for the structured string values
// ---------------------------------------------------------------------------

/** Addresses a device must not take: "this network" 0/8, loopback 127/8, multicast 224/4, reserved 240/4 (RFC 1122 §3.2.1.3, RFC 5771). */
function isUnicastHostAddress(address: number): boolean {
  const firstOctet = address >>> 24;
  return firstOctet !== 0 && firstOctet !== 127 && firstOctet < 224;
}

const IP_ALLOWED = '"dhcp" or a unicast IPv4 address with prefix length, like 198.18.0.2/24';

const checkIp: Check<string> = (input) => {
  if (input === 'dhcp') return { value: 'dhcp' };
  const cidr = typeof input === 'string' ? parseCidr(input) : undefined;
  if (!cidr || cidr.prefixLength < 1 || !isUnicastHostAddress(cidr.address)) return { message: `must be ${IP_ALLOWED}` };
  // RFC 1122 §3.2.1.3: on a subnet of 4 or more addresses, the all-zeros and
  // all-ones host parts are the network and its broadcast, not a host.
  const hostMask = ~prefixMask(cidr.prefixLength) >>> 0;
  const hostPart = (cidr.address & hostMask) >>> 0;
  if (cidr.prefixLength <= 30 && (hostPart === 0 || hostPart === hostMask)) {
    return { message: `must be a host address, not the network or broadcast address of /${cidr.prefixLength}` };
  }
  return { value: `${formatIpv4(cidr.address)}/${cidr.prefixLength}` };
};

const GATEWAY_ALLOWED = 'a unicast IPv4 address, like 198.18.0.1';

const checkGateway: Check<string> = (input) => {
  const address = typeof input === 'string' ? parseIpv4(input) : undefined;
  if (address === undefined || !isUnicastHostAddress(address)) return { message: `must be ${GATEWAY_ALLOWED}` };
  return { value: formatIpv4(address) };
};

const MAC_ALLOWED = 'a unicast MAC address, like 02:00:5e:00:00:01';

const checkMac: Check<string> = (input) => {
  const mac = typeof input === 'string' ? parseMac(input) : undefined;
  // A group (multicast) or all-zeros source address would be dropped by every peer.
  if (!mac || isMulticastMac(mac) || mac.every((octet) => octet === 0)) return { message: `must be ${MAC_ALLOWED}` };
  return { value: formatMac(mac) };
};

/** Where frames come from; see SPEC section 2 `--link`. */
export type LinkSpec = { kind: 'packet'; interfaceName: string } | { kind: 'tap'; interfaceName: string } | { kind: 'sim' };

/** Linux interface names: at most 15 bytes (IFNAMSIZ − 1), no `/` or white space, not `.` or `..`. */
const INTERFACE_NAME = /^[A-Za-z0-9_.@-]{1,15}$/;

/** Parses `packet:IFNAME`, `tap:NAME` or `sim`; undefined for anything else. */
export function parseLinkSpec(text: string): LinkSpec | undefined {
  if (text === 'sim') return { kind: 'sim' };
  const match = /^(packet|tap):(.*)$/.exec(text);
  const kind = match?.[1];
  const interfaceName = match?.[2] ?? '';
  if ((kind !== 'packet' && kind !== 'tap') || !INTERFACE_NAME.test(interfaceName) || interfaceName === '.' || interfaceName === '..') {
    return undefined;
  }
  return { kind, interfaceName };
}

const LINK_ALLOWED = 'packet:IFNAME, tap:NAME or sim (IFNAME/NAME: 1 to 15 of A-Z a-z 0-9 _ . @ -)';

const checkLink: Check<string> = (input) =>
  typeof input === 'string' && parseLinkSpec(input) ? { value: input } : { message: `must be ${LINK_ALLOWED}` };

/** The local I2C sensors: built-in models, a replay of `i2cdump` images, a real bus, or none. */
export type I2cSpec = { kind: 'sim'; file?: string } | { kind: 'bus'; busNumber: number } | { kind: 'none' };

export type I2cBus = 'sim' | 'none' | `sim:${string}` | number;

/** Parses an `i2c.bus` value (`sim`, `sim:FILE`, `none`, a bus number or its digits); undefined for anything else. */
export function parseI2cSpec(value: unknown): I2cSpec | undefined {
  if (value === 'sim') return { kind: 'sim' };
  if (value === 'none') return { kind: 'none' };
  if (typeof value === 'string' && value.startsWith('sim:') && value.length > 'sim:'.length) return { kind: 'sim', file: value.slice(4) };
  const busNumber = typeof value === 'string' && /^[0-9]{1,4}$/.test(value) ? Number(value) : value;
  if (typeof busNumber === 'number' && Number.isInteger(busNumber) && busNumber >= 0 && busNumber <= MAX_I2C_BUS) {
    return { kind: 'bus', busNumber };
  }
  return undefined;
}

/** /dev/i2c-N: Linux numbers adapters dynamically, so leave generous room. */
const MAX_I2C_BUS = 1023;

const I2C_ALLOWED = `sim, sim:FILE (register dumps from i2cdump), none, or a bus number 0..${MAX_I2C_BUS} (/dev/i2c-N)`;

const checkI2c: Check<I2cBus> = (input) => {
  const spec = parseI2cSpec(input);
  if (!spec) return { message: `must be ${I2C_ALLOWED}` };
  if (spec.kind === 'bus') return { value: spec.busNumber };
  if (spec.kind === 'none') return { value: 'none' };
  return { value: spec.file === undefined ? 'sim' : `sim:${spec.file}` };
};

/** BCM2711 has 58 GPIO lines (0..57); the 40-pin header exposes 0..27. */
const MAX_BCM_LINE = 57;
const LED_LABEL = /^[A-Za-z0-9_.:+-]{1,64}$/;
const LED_ALLOWED = `a BCM GPIO number 0..${MAX_BCM_LINE}, or for the sysfs driver an LED class name (1 to 64 of A-Z a-z 0-9 _ . : + -)`;

const checkLed: Check<number | string> = (input) => {
  if (typeof input === 'number' && Number.isInteger(input) && input >= 0 && input <= MAX_BCM_LINE) return { value: input };
  if (typeof input === 'string' && LED_LABEL.test(input)) return { value: input };
  return { message: `must be ${LED_ALLOWED}` };
};

function ledLine(fallback: number, description: string) {
  return defaultedChecked(LED_ALLOWED, checkLed, fallback, `BCM ${fallback}`, description);
}

const PATH_ALLOWED = 'a file system path';

const checkPath: Check<string> = (input) =>
  typeof input === 'string' && input.length > 0 && !input.includes('\0') ? { value: input } : { message: `must be ${PATH_ALLOWED}` };

const USER_NAME = /^[A-Za-z0-9_.-]{1,32}$/;
const STORED_SECRET = /^[\x21-\x7e]{1,1024}$/;
const USERS_ALLOWED =
  'an object mapping user names (1 to 32 of A-Z a-z 0-9 _ . -) to the stored form that `piwire hash-secret` prints (an admin) or to { "secret": <stored form>, "role": "viewer" | "admin" }';

/** Checked per user, so the message names `services.shell.users.<name>`. */
const shellUsers = z
  .unknown()
  .transform((input, context) => {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      context.addIssue({ code: 'custom', message: `must be ${USERS_ALLOWED}`, input });
      return z.NEVER;
    }
    const users: [string, ShellUserEntry][] = [];
    for (const [name, entry] of Object.entries(input)) {
      const withRole = typeof entry === 'object' && entry !== null && !Array.isArray(entry) ? (entry as Record<string, unknown>) : undefined;
      const unknownKey = withRole ? Object.keys(withRole).find((key) => key !== 'secret' && key !== 'role') : undefined;
      const secret = withRole ? withRole['secret'] : entry;
      if (!USER_NAME.test(name)) {
        context.addIssue({ code: 'custom', path: [name], message: 'user name must be 1 to 32 of A-Z a-z 0-9 _ . -', input: name });
      } else if (unknownKey !== undefined) {
        context.addIssue({ code: 'custom', path: [name, unknownKey], message: 'unknown key (allowed: secret, role)', input: unknownKey });
      } else if (typeof secret !== 'string' || !STORED_SECRET.test(secret)) {
        context.addIssue({ code: 'custom', path: withRole ? [name, 'secret'] : [name], message: 'must be the stored form that `piwire hash-secret` prints', input: undefined });
      } else if (withRole && !isShellRole(withRole['role'])) {
        context.addIssue({ code: 'custom', path: [name, 'role'], message: `must be one of ${SHELL_ROLES.join(', ')}`, input: withRole['role'] });
      } else {
        users.push([name, withRole ? { secret, role: withRole['role'] as ShellRole } : secret]);
      }
    }
    // fromEntries defines own properties, so a user called `__proto__` stays a user.
    return Object.fromEntries(users);
  })
  .default(() => ({}))
  .register(keyInfo, { allowed: USERS_ALLOWED, defaultValue: '{} (nobody can log in)', description: 'remote shell operators' });

// ---------------------------------------------------------------------------
// The schema
// ---------------------------------------------------------------------------

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LED_DRIVERS = ['virtual', 'gpio', 'sysfs'] as const;
export type LedDriver = (typeof LED_DRIVERS)[number];

/** RFC 862 echo, RFC 863 discard, RFC 864 chargen: fixed ports of `services.diag`. */
export const DIAG_PORTS = { echo: 7, discard: 9, chargen: 19 } as const;

/** Where the state directory goes when neither the file nor a flag says. */
const STATE_DIR_DEFAULT_TEXT = '$STATE_DIRECTORY (systemd), else ./state in a source checkout, else /var/lib/piwire';

const netSchema = z.strictObject({
  mtu: integer(296, 9000, 1500, 'IP MTU of the link; MSS advertised = mtu − 40'),
  ip: optionalChecked(IP_ALLOWED, checkIp, 'none: the simulated board picks its own; a real link needs one', 'device address'),
  gateway: optionalChecked(GATEWAY_ALLOWED, checkGateway, 'none (only the local subnet is reachable)', 'default router, on the subnet of net.ip'),
  mac: optionalChecked(MAC_ALLOWED, checkMac, "none: the link's own address", 'device MAC address'),
});

const tcpSchema = z.strictObject({
  keepalive: z
    .strictObject({
      idle: duration(1, 2 * HOUR, 10 * SECOND, 'idle time before the first keepalive probe (RFC 1122 §4.2.3.6)'),
      interval: duration(1, 10 * MINUTE, 2 * SECOND, 'time between unanswered keepalive probes'),
      count: integer(1, 127, 3, 'unanswered probes before the peer is declared lost'),
    })
    .prefault({}),
  userTimeout: duration(1, 24 * HOUR, 30 * SECOND, 'unacknowledged data this old aborts the connection (RFC 5482)'),
  persist: z
    .strictObject({
      max: duration(1, 10 * MINUTE, 60 * SECOND, 'cap of the zero-window probe back-off'),
    })
    .prefault({}),
  msl: duration(1, 2 * MINUTE, 5 * SECOND, 'maximum segment lifetime; TIME-WAIT lasts 2·MSL'),
  rcvBuf: size(KIB, 16 * MIB, 16 * KIB, 'per-connection receive buffer; the advertised window follows its free space'),
  sndBuf: size(KIB, 16 * MIB, 16 * KIB, 'per-connection send buffer'),
  minRto: duration(1, MINUTE, 200, 'lower bound of the retransmission timeout (RFC 6298 §2.4)'),
  maxConnections: integer(1, 65535, 1024, 'connections beyond this get no state'),
  synBacklog: integer(1, 65535, 128, 'half-open connections beyond this get no state'),
});

const servicesSchema = z.strictObject({
  sensors: z
    .strictObject({
      port: port(7070, 'sensor line protocol port'),
      maxLine: integer(16, 65536, 512, 'longest accepted request line in bytes; longer ones get ERR 413'),
    })
    .prefault({}),
  shell: z
    .strictObject({
      port: port(2323, 'remote shell, challenge-response login'),
      tlsPort: port(2324, 'remote shell over TLS'),
      users: shellUsers,
      cert: optionalChecked(PATH_ALLOWED, checkPath, 'none: a self-signed certificate made under stateDir', 'TLS certificate (PEM), set together with key'),
      key: optionalChecked(PATH_ALLOWED, checkPath, 'none: made together with the certificate', 'TLS private key (PEM), set together with cert'),
    })
    .prefault({}),
  diag: flag(false, 'RFC 862 echo (7), RFC 863 discard (9), RFC 864 chargen (19)'),
});

const storeSchema = z.strictObject({
  commitMs: duration(0, 10 * SECOND, 50, 'group-commit window of the readings log (0: commit each write)'),
  maxBytes: size(64 * KIB, 4 * GIB, 64 * MIB, 'size of the readings log before old segments are dropped'),
});

const ledsSchema = z.strictObject({
  driver: choice(LED_DRIVERS, 'virtual', 'LED driver; the installer sets sysfs on a Pi'),
  status: ledLine(17, 'status LED (green)'),
  link: ledLine(27, 'link LED (yellow)'),
  fault: ledLine(22, 'fault LED (red)'),
  mirrorAct: flag(false, 'mirror the fault code on the on-board ACT LED'),
  sysfsRoot: defaultedChecked(PATH_ALLOWED, checkPath, '/sys/class/leds', '/sys/class/leds', 'kernel LED class directory (sysfs driver)'),
});

const i2cSchema = z.strictObject({
  bus: defaultedChecked<I2cBus>(I2C_ALLOWED, checkI2c, 'sim', 'sim', 'local I2C sensors'),
});

const logSchema = z.strictObject({
  format: z
    .enum(LOG_FORMATS, { error: `must be one of ${LOG_FORMATS.join(', ')}` })
    .optional()
    .register(keyInfo, { allowed: `one of ${LOG_FORMATS.join(', ')}`, defaultValue: 'pretty on a terminal, else json', description: 'log line format' }),
  level: choice(LOG_LEVELS, 'info', 'lowest level written'),
});

const configObjectSchema = z.strictObject({
  net: netSchema.prefault({}),
  link: defaultedChecked(LINK_ALLOWED, checkLink, 'sim', 'sim', 'frame link'),
  tcp: tcpSchema.prefault({}),
  services: servicesSchema.prefault({}),
  store: storeSchema.prefault({}),
  leds: ledsSchema.prefault({}),
  i2c: i2cSchema.prefault({}),
  stateDir: optionalChecked(PATH_ALLOWED, checkPath, STATE_DIR_DEFAULT_TEXT, 'readings log, TLS certificate and other state'),
  log: logSchema.prefault({}),
});

type ParsedConfig = z.output<typeof configObjectSchema>;

/** Rules between keys. They run once every key on its own is valid. */
function checkCrossKeyRules(config: ParsedConfig, context: z.RefinementCtx<ParsedConfig>): void {
  const problem = (path: string, message: string, input: unknown): void => {
    context.addIssue({ code: 'custom', path: path.split('.'), message, input });
  };

  const { net, services, leds, tcp } = config;
  if (net.gateway !== undefined) {
    const cidr = net.ip === undefined || net.ip === 'dhcp' ? undefined : parseCidr(net.ip);
    const gateway = parseIpv4(net.gateway) ?? 0;
    if (!cidr) {
      problem('net.gateway', 'needs a static net.ip (with dhcp the server names the router)', net.gateway);
    } else if (!sameSubnet(cidr.address, gateway, cidr.prefixLength) || gateway === cidr.address) {
      problem('net.gateway', `must be another address on the subnet of net.ip ${net.ip}`, net.gateway);
    }
  }

  // TCP receive window below one segment makes the peer send runts forever (RFC 1122 §4.2.3.3).
  const segmentSize = net.mtu - 40;
  if (tcp.rcvBuf < segmentSize) {
    problem('tcp.rcvBuf', `must hold at least one segment (net.mtu − 40 = ${segmentSize} bytes)`, tcp.rcvBuf);
  }
  if (tcp.persist.max < tcp.minRto) {
    problem('tcp.persist.max', `must be at least tcp.minRto (${formatDuration(tcp.minRto)})`, formatDuration(tcp.persist.max));
  }

  // Two services cannot listen on one port of the same stack.
  const ports: [string, number][] = [
    ['services.sensors.port', services.sensors.port],
    ['services.shell.port', services.shell.port],
    ['services.shell.tlsPort', services.shell.tlsPort],
  ];
  for (const [index, [key, number]] of ports.entries()) {
    const earlier = ports.slice(0, index).find(([, other]) => other === number);
    if (earlier) problem(key, `must differ from ${earlier[0]}`, number);
    const diagService = Object.entries(DIAG_PORTS).find(([, diagPort]) => diagPort === number);
    if (services.diag && diagService) problem(key, `must not be ${number}: services.diag uses it for ${diagService[0]}`, number);
  }

  if ((services.shell.cert === undefined) !== (services.shell.key === undefined)) {
    const missing = services.shell.cert === undefined ? 'cert' : 'key';
    problem(`services.shell.${missing}`, `must be set together with services.shell.${missing === 'cert' ? 'key' : 'cert'}`, undefined);
  }

  const ledLines: [string, number | string][] = [
    ['leds.status', leds.status],
    ['leds.link', leds.link],
    ['leds.fault', leds.fault],
  ];
  for (const [index, [key, line]] of ledLines.entries()) {
    if (leds.driver === 'gpio' && typeof line !== 'number') problem(key, `must be a BCM GPIO number 0..${MAX_BCM_LINE} with leds.driver gpio`, line);
    const earlier = ledLines.slice(0, index).find(([, other]) => other === line);
    if (earlier) problem(key, `must differ from ${earlier[0]}`, line);
  }
}

/** The schema of the configuration file (after flags are laid over it). */
export const configSchema = configObjectSchema.superRefine(checkCrossKeyRules);

/** The configuration main runs with: every key present, durations in ms, sizes in bytes, paths absolute. */
export type ResolvedConfig = Omit<ParsedConfig, 'stateDir' | 'log'> & {
  stateDir: string;
  log: { format: LogFormat; level: LogLevel };
};

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

export interface ConfigIssue {
  /** Dotted key (`tcp.keepalive.idle`), or the file name for file-level problems. */
  key: string;
  /** What is wrong and what is allowed. */
  message: string;
  /** The flag the value came from, when it came from the command line. */
  flag?: string;
}

/** Start-up stops on this with exit status 2 (SPEC section 2). One line per issue. */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  readonly exitCode = 2;
  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

function formatIssue(issue: ConfigIssue): string {
  const source = issue.flag === undefined ? '' : ` (${issue.flag})`;
  return `config: ${issue.key}${source}: ${issue.message}`;
}

/** A value as the user wrote it, shortened so one bad key cannot flood the terminal. */
export function describeInput(input: unknown): string {
  if (input === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(input) ?? String(input);
  } catch {
    text = String(input);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

// ---------------------------------------------------------------------------
// Walking the schema: reference, per-key checks, unknown-key hints
// ---------------------------------------------------------------------------

type AnySchema = z.ZodType;

/** The object schema inside a (possibly defaulted) group, or undefined for a leaf. */
function groupShape(schema: AnySchema): Record<string, AnySchema> | undefined {
  const inner = schema instanceof z.ZodPrefault ? (schema.unwrap() as AnySchema) : schema;
  return inner instanceof z.ZodObject ? (inner.shape as Record<string, AnySchema>) : undefined;
}

function schemaAt(path: readonly string[]): AnySchema | undefined {
  let schema: AnySchema | undefined = configObjectSchema;
  for (const segment of path) {
    const shape: Record<string, AnySchema> | undefined = schema ? groupShape(schema) : undefined;
    schema = shape && Object.hasOwn(shape, segment) ? shape[segment] : undefined;
  }
  return schema;
}

/** Every key with what it accepts, its default and what it does, in schema order. */
export function describeConfig(): ConfigKeyDescription[] {
  const keys: ConfigKeyDescription[] = [];
  const walk = (shape: Record<string, AnySchema>, prefix: string): void => {
    for (const [name, child] of Object.entries(shape)) {
      const key = prefix + name;
      const info = keyInfo.get(child);
      const nested = groupShape(child);
      if (info) keys.push({ key, ...info });
      else if (nested) walk(nested, `${key}.`);
    }
  };
  walk(configObjectSchema.shape, '');
  return keys;
}

/** All dotted names, groups included: the vocabulary for "did you mean". */
function allKeyNames(): string[] {
  const names: string[] = [];
  const walk = (shape: Record<string, AnySchema>, prefix: string): void => {
    for (const [name, child] of Object.entries(shape)) {
      names.push(prefix + name);
      const nested = keyInfo.get(child) ? undefined : groupShape(child);
      if (nested) walk(nested, `${prefix + name}.`);
    }
  };
  walk(configObjectSchema.shape, '');
  return names;
}

/** Levenshtein distance, for typo hints; keys are short so the quadratic table is fine. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function unknownKeyMessage(parent: readonly string[], name: string): string {
  const shape = groupShape(schemaAt(parent) ?? configObjectSchema) ?? {};
  const siblings = Object.keys(shape);
  const prefix = parent.length > 0 ? `${parent.join('.')}.` : '';
  const lower = name.toLowerCase();
  const sibling =
    siblings.find((candidate) => candidate.toLowerCase() === lower) ??
    siblings.find((candidate) => editDistance(candidate.toLowerCase(), lower) <= 2);
  const elsewhere = sibling ? undefined : allKeyNames().find((key) => key.toLowerCase().endsWith(`.${lower}`));
  const hint = sibling ? `; did you mean ${prefix}${sibling}?` : elsewhere ? `; did you mean ${elsewhere}?` : '';
  return `unknown key${hint} (allowed here: ${siblings.join(', ')})`;
}

function issuesFromZod(error: z.ZodError, flagFor: (key: string) => string | undefined): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const issue of error.issues) {
    const path = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      for (const name of issue.keys) issues.push({ key: [...path, name].join('.'), message: unknownKeyMessage(path, name) });
      continue;
    }
    const key = path.length > 0 ? path.join('.') : '(top level)';
    const isGroup = issue.code === 'invalid_type' && issue.expected === 'object';
    const message = isGroup ? 'must be an object' : issue.message;
    const got = issue.input === undefined ? '' : ` (got ${describeInput(issue.input)})`;
    const flag = flagFor(key);
    issues.push(flag === undefined ? { key, message: message + got } : { key, message: message + got, flag });
  }
  return issues;
}

/**
 * Checks one value for one key on its own (cross-key rules aside): what the command
 * line uses so that `--mtu abc` is refused with the same words as `"mtu": "abc"`.
 */
export function checkConfigValue(key: string, value: unknown): { ok: true; value: unknown } | { ok: false; message: string } {
  const schema = schemaAt(key.split('.'));
  if (!schema || !keyInfo.get(schema)) return { ok: false, message: 'unknown key' };
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return { ok: true, value: result.data };
  const first = issuesFromZod(result.error, () => undefined)[0];
  return { ok: false, message: first?.message ?? 'invalid value' };
}

// ---------------------------------------------------------------------------
// Command-line flags and loading
// ---------------------------------------------------------------------------

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
} as const satisfies Record<keyof CliFlags, { key: string; flag: string }>;

/** Keys whose values are file system paths, resolved against where they were written. */
const PATH_KEYS = ['stateDir', 'services.shell.cert', 'services.shell.key', 'leds.sysfsRoot', 'i2c.bus'] as const;

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

/** The repository root (or installed package root): the parent of firmware/. */
const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Where state lives by default: systemd's `$STATE_DIRECTORY` when the unit sets
 * `StateDirectory=` (the first entry if it lists several); `./state` in a source
 * checkout, so development never needs root; `/var/lib/piwire` when installed.
 */
export function defaultStateDir(environment: NodeJS.ProcessEnv = process.env, packageRoot: string = PACKAGE_ROOT): string {
  const fromSystemd = environment['STATE_DIRECTORY']?.split(':')[0];
  if (fromSystemd) return fromSystemd;
  if (existsSync(join(packageRoot, '.git'))) return join(packageRoot, 'state');
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

// ---------------------------------------------------------------------------
// Features that are configured but not built yet
// ---------------------------------------------------------------------------

/** The parts of the firmware a configuration can ask for. */
export const Feature = {
  LINK_SIM: 'link.sim',
  LINK_PACKET: 'link.packet',
  LINK_TAP: 'link.tap',
  DHCP: 'dhcp',
  LEDS_VIRTUAL: 'leds.virtual',
  LEDS_GPIO: 'leds.gpio',
  LEDS_SYSFS: 'leds.sysfs',
  I2C_SIM: 'i2c.sim',
  I2C_REPLAY: 'i2c.replay',
  I2C_BUS: 'i2c.bus',
  SENSORS: 'sensors',
  SENSOR_STORE: 'store',
  SHELL: 'shell',
  SHELL_TLS: 'shell.tls',
  DIAG: 'diag',
} as const;
export type Feature = (typeof Feature)[keyof typeof Feature];

/** Every feature this configuration uses. */
export function usedFeatures(config: ResolvedConfig): Feature[] {
  const link = parseLinkSpec(config.link);
  const i2c = parseI2cSpec(config.i2c.bus);
  const used: Feature[] = [];
  if (link) used.push(link.kind === 'sim' ? Feature.LINK_SIM : link.kind === 'packet' ? Feature.LINK_PACKET : Feature.LINK_TAP);
  if (config.net.ip === 'dhcp') used.push(Feature.DHCP);
  used.push(config.leds.driver === 'gpio' ? Feature.LEDS_GPIO : config.leds.driver === 'sysfs' ? Feature.LEDS_SYSFS : Feature.LEDS_VIRTUAL);
  if (i2c?.kind === 'sim') used.push(i2c.file === undefined ? Feature.I2C_SIM : Feature.I2C_REPLAY);
  if (i2c?.kind === 'bus') used.push(Feature.I2C_BUS);
  used.push(Feature.SENSORS, Feature.SENSOR_STORE, Feature.SHELL, Feature.SHELL_TLS);
  if (config.services.diag) used.push(Feature.DIAG);
  return used;
}

/**
 * Features the configuration asks for that this build does not have yet: accepted
 * (so a configuration written today keeps working), and logged once by main as
 * "not available yet" rather than failing start-up.
 */
export function unavailableFeatures(config: ResolvedConfig, implemented: ReadonlySet<Feature>): Feature[] {
  return usedFeatures(config).filter((feature) => !implemented.has(feature));
}
