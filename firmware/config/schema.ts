/**
 * The configuration file's schema (SPEC section 2): every key, what it accepts, its
 * default and its reference text, and the rules between keys. Loading (file and
 * flags) is `load.ts`; the key reference and per-key checks are `describe.ts`.
 *
 * Rules the schema enforces:
 * - The file holds nested objects (`{"tcp": {"keepalive": {"idle": "10s"}}}`); the
 *   dotted names in SPEC are paths into it. Every key is optional.
 * - Objects are strict: an unknown key is an error (a typo must not silently fall
 *   back to a default on a device in the field).
 * - Every message names the full dotted key and what is allowed, and shows the
 *   value it got: `config: tcp.keepalive.idle: must be a duration between 1ms and 2h (got "ten")`.
 * - Durations resolve to milliseconds, sizes to bytes.
 * - The `tcp.*` defaults are the stack's own (`defaultTcpConfig`, src/tcp/config.ts):
 *   one source, so the file, `--help` and a stack built without a file agree.
 *
 * The parsed configuration stays plain JSON (strings, numbers, booleans): printing
 * it gives a valid configuration file back, which is what the shell's `config` shows.
 * Addresses stay in their canonical text form; run.ts turns them into stack values with
 * `src/net/address.ts` (`parseCidr`, `parseIpv4`, `parseMac`) and `parseLinkSpec`.
 */
import * as z from 'zod/mini';
import {
  formatIpv4,
  formatMac,
  isMulticastMac,
  isUnicastHostAddress,
  parseCidr,
  parseIpv4,
  parseMac,
  prefixMask,
  sameSubnet,
} from '../../src/net/address.ts';
import { CONGESTION_ALGORITHMS, defaultTcpConfig, type TcpConfig } from '../../src/tcp/config.ts';
import { isShellRole, SHELL_ROLES, type ShellRole, type ShellUserEntry } from '../../src/services/shell/roles.ts';
import { DIAG_BUFFER_DEFAULT, DiagPort } from '../../src/services/diag.ts';
import { DEFAULT_RATE_LIMIT } from '../../src/services/sensors/rate-limiter.ts';
import { formatDuration } from '../units.ts';
import { LINK_ALLOWED, parseLinkSpec } from '../link.ts';
import { formatI2cSpec, I2C_ALLOWED, parseI2cSpec, type I2cBusSetting } from '../i2c.ts';
import {
  choice,
  defaultedChecked,
  duration,
  flag,
  GIB,
  HOUR,
  integer,
  keyInfo,
  KIB,
  MIB,
  MINUTE,
  optionalChecked,
  port,
  SECOND,
  size,
  type Check,
} from './keys.ts';

// ---------------------------------------------------------------------------
// Checks for the structured string values
// ---------------------------------------------------------------------------

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

const checkLink: Check<string> = (input) =>
  typeof input === 'string' && parseLinkSpec(input) ? { value: input } : { message: `must be ${LINK_ALLOWED}` };

const checkI2c: Check<I2cBusSetting> = (input) => {
  const spec = parseI2cSpec(input);
  return spec ? { value: formatI2cSpec(spec) } : { message: `must be ${I2C_ALLOWED}` };
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
function checkShellUsers(input: unknown, payload: z.core.ParsePayload): Record<string, ShellUserEntry> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    payload.issues.push({ code: 'custom', message: `must be ${USERS_ALLOWED}`, input });
    return z.NEVER;
  }
  const users: [string, ShellUserEntry][] = [];
  for (const [name, entry] of Object.entries(input)) {
    const withRole = typeof entry === 'object' && entry !== null && !Array.isArray(entry) ? (entry as Record<string, unknown>) : undefined;
    const unknownKey = withRole ? Object.keys(withRole).find((key) => key !== 'secret' && key !== 'role') : undefined;
    const secret = withRole ? withRole['secret'] : entry;
    if (!USER_NAME.test(name)) {
      payload.issues.push({ code: 'custom', path: [name], message: 'user name must be 1 to 32 of A-Z a-z 0-9 _ . -', input: name });
    } else if (unknownKey !== undefined) {
      payload.issues.push({ code: 'custom', path: [name, unknownKey], message: 'unknown key (allowed: secret, role)', input: unknownKey });
    } else if (typeof secret !== 'string' || !STORED_SECRET.test(secret)) {
      payload.issues.push({ code: 'custom', path: withRole ? [name, 'secret'] : [name], message: 'must be the stored form that `piwire hash-secret` prints', input: undefined });
    } else if (withRole && !isShellRole(withRole['role'])) {
      payload.issues.push({ code: 'custom', path: [name, 'role'], message: `must be one of ${SHELL_ROLES.join(', ')}`, input: withRole['role'] });
    } else {
      users.push([name, withRole ? { secret, role: withRole['role'] as ShellRole } : secret]);
    }
  }
  // fromEntries defines own properties, so a user called `__proto__` stays a user.
  return Object.fromEntries(users);
}

const shellUsers = z
  ._default(z.pipe(z.unknown(), z.transform(checkShellUsers)), () => ({}))
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
export const DIAG_PORTS = { echo: DiagPort.ECHO, discard: DiagPort.DISCARD, chargen: DiagPort.CHARGEN } as const;

/** Where the state directory goes when neither the file nor a flag says. */
const STATE_DIR_DEFAULT_TEXT = '$STATE_DIRECTORY (systemd), else ./state in a source checkout, else /var/lib/piwire';

/** The net.mtu default; the TCP defaults are read for the MSS it gives (MTU − 40). */
const DEFAULT_MTU = 1500;

const netSchema = z.strictObject({
  mtu: integer(296, 9000, DEFAULT_MTU, 'IP MTU of the link; MSS advertised = mtu − 40'),
  ip: optionalChecked(IP_ALLOWED, checkIp, 'none: the simulated board picks its own; a real link needs one', 'device address'),
  gateway: optionalChecked(GATEWAY_ALLOWED, checkGateway, 'none (only the local subnet is reachable)', 'default router, on the subnet of net.ip'),
  mac: optionalChecked(MAC_ALLOWED, checkMac, "none: the link's own address", 'device MAC address'),
  segmentOffload: flag(
    true,
    'packet links: TCP hands the kernel super-segments of up to 64 KiB, which it cuts into MSS-sized segments and checksums (PACKET_VNET_HDR, software GSO; the interface offloads stay off); false: every segment built by the stack',
  ),
  receiveOffload: flag(
    true,
    "packet links: GRO is left as the interface has it, and when the kernel merges received segments (GRO or LRO on; a macvlan whose parent merges cannot switch it off) the link receives with recvmsg and takes each merged frame, verified by the kernel, as one TCP segment of up to 64 KiB; the link also merges each run of a flow's in-order segments in a receive batch by GRO's rules (not with `pcap`); false: GRO is switched off, nothing is merged, frames are received through the ring",
  ),
});

/** The stack's own TCP defaults: the `tcp.*` keys default to these and nothing else. */
const TCP_DEFAULTS = defaultTcpConfig(DEFAULT_MTU - 40);

const tcpSchema = z.strictObject({
  keepalive: z.prefault(
    z.strictObject({
      idle: duration(1, 2 * HOUR, TCP_DEFAULTS.keepalive.idle, 'idle time before the first keepalive probe (RFC 1122 §4.2.3.6)'),
      interval: duration(1, 10 * MINUTE, TCP_DEFAULTS.keepalive.interval, 'time between unanswered keepalive probes'),
      count: integer(1, 127, TCP_DEFAULTS.keepalive.count, 'unanswered probes before the peer is declared lost'),
    }),
    {},
  ),
  userTimeout: duration(1, 24 * HOUR, TCP_DEFAULTS.userTimeout, 'unacknowledged data this old aborts the connection (RFC 5482)'),
  persist: z.prefault(
    z.strictObject({
      max: duration(1, 10 * MINUTE, TCP_DEFAULTS.persistMax, 'cap of the zero-window probe back-off'),
    }),
    {},
  ),
  msl: duration(1, 2 * MINUTE, TCP_DEFAULTS.msl, 'maximum segment lifetime; TIME-WAIT lasts 2·MSL'),
  rcvBuf: size(KIB, 16 * MIB, TCP_DEFAULTS.rcvBuf, 'per-connection receive buffer; the advertised window follows its free space'),
  sndBuf: size(KIB, 16 * MIB, TCP_DEFAULTS.sndBuf, 'per-connection send buffer'),
  minRto: duration(1, MINUTE, TCP_DEFAULTS.minRto, 'lower bound of the retransmission timeout (RFC 6298 §2.4)'),
  maxConnections: integer(1, 65535, TCP_DEFAULTS.maxConnections, 'connections beyond this get no state'),
  synBacklog: integer(1, 65535, TCP_DEFAULTS.synBacklog, 'half-open connections beyond this get no state'),
  finTimeout: duration(1, 10 * MINUTE, TCP_DEFAULTS.finTimeout, 'an orphaned FIN-WAIT-2 connection ends after this (Linux tcp_fin_timeout)'),
  orphanRetries: integer(1, 32, TCP_DEFAULTS.orphanRetries, 'back-offs after which an orphan still retransmitting or probing gives up (Linux tcp_orphan_retries)'),
  sack: flag(TCP_DEFAULTS.sack, 'offer and accept SACK (RFC 2018): report out-of-order data, recover from losses with the peer\'s reports (RFC 6675)'),
  mtuProbing: flag(TCP_DEFAULTS.mtuProbing, 'black-hole detection (RFC 4821, Linux tcp_mtu_probing=1): lower the MSS when full-sized segments keep vanishing without ICMP'),
  rack: flag(TCP_DEFAULTS.rack, 'with SACK: RACK time-based loss detection and the tail loss probe (RFC 8985)'),
  congestion: choice(CONGESTION_ALGORITHMS, TCP_DEFAULTS.congestion, 'congestion control: cubic (RFC 9438, as Linux), reno (NewReno, RFC 5681 and RFC 6582) or bbr (BBR v1, paced, as Linux tcp_bbr; needs a SACK peer, else cubic)'),
  prr: flag(TCP_DEFAULTS.prr, 'with SACK: Proportional Rate Reduction (RFC 6937/9937) paces what leaves during loss recovery, as Linux'),
  recoveryProbe: flag(TCP_DEFAULTS.recoveryProbe, 'with SACK: resend the segment at SND.UNA when recovery gets no ACK for max(2·SRTT, 10 ms), at most twice without an ACK reporting delivery in between, before the RTO (not in RFC 8985 or Linux)'),
  tlpFollowUp: flag(TCP_DEFAULTS.tlpFollowUp, 'with SACK: resend the segment at SND.UNA when a tail loss probe gets no ACK for max(2·SRTT, 10 ms), at most twice without an ACK advancing SND.UNA in between, before the RTO (not in RFC 8985 or Linux)'),
  frto: flag(TCP_DEFAULTS.frto, 'with SACK: F-RTO (RFC 5682, Linux tcp_frto): after an RTO, detect a spurious timeout by sending new data, and undo it instead of resending everything'),
  lossProbeNewData: flag(TCP_DEFAULTS.lossProbeNewData, 'with RACK: the tail loss probe sends new data when some waits (RFC 8985 §7.3, Linux); off: it resends the last segment, which a delayed-ACK receiver acknowledges at once'),
  ptoFloor: flag(TCP_DEFAULTS.ptoFloor, 'with SACK: the loss probes\' timeouts are max(2·SRTT, 10 ms) (the first TLP, Linux before 4.14); off: 2·SRTT + 2 ms (Linux tcp_schedule_loss_probe since 4.14), which probes needlessly where the peer ACKs a burst late'),
  windowScale: flag(TCP_DEFAULTS.windowScale, 'offer and accept window scaling (RFC 7323 §2): windows beyond 64 KiB'),
  timestamps: flag(TCP_DEFAULTS.timestamps, 'offer and accept timestamps (RFC 7323): RTT from every ACK, PAWS'),
  maxBuf: size(KIB, 64 * MIB, TCP_DEFAULTS.maxBuf, 'largest receive or send buffer a service may ask for per connection'),
  bufferBudget: size(0, 1024 * MIB, TCP_DEFAULTS.bufferBudget, 'buffer capacity beyond rcvBuf/sndBuf that all connections together may hold; past it, a connection asking for more gets the defaults'),
});

/**
 * The `tcp.*` keys as the stack's settings. The key names are SPEC's (`persist.max`),
 * the rest map one to one; keepalive is on for every connection (SPEC section 2), so a
 * pulled cable is noticed in seconds.
 */
export function tcpSettings(tcp: z.output<typeof tcpSchema>): Partial<TcpConfig> {
  const { keepalive, persist, ...sameNames } = tcp;
  return { ...sameNames, persistMax: persist.max, keepalive: { enabled: true, ...keepalive } };
}

const servicesSchema = z.strictObject({
  sensors: z.prefault(
    z.strictObject({
      port: port(7070, 'sensor line protocol port'),
      maxLine: integer(16, 65536, 512, 'longest accepted request line in bytes; longer ones get ERR 413'),
      // A token bucket per connection (src/services/sensors/rate-limiter.ts): the sustained
      // rate caps one connection's share of the device; a gateway that forwards many
      // sensors over one connection needs more than a single sensor.
      rateLimit: z.prefault(
        z.strictObject({
          rate: integer(1, 1_000_000, DEFAULT_RATE_LIMIT.rate, 'requests per second one connection may sustain; beyond it ERR 429'),
          burst: integer(1, 1_000_000, DEFAULT_RATE_LIMIT.burst, 'requests one connection may send at once after a quiet spell'),
        }),
        {},
      ),
    }),
    {},
  ),
  shell: z.prefault(
    z.strictObject({
      port: port(2323, 'remote shell, challenge-response login'),
      tlsPort: port(2324, 'remote shell over TLS'),
      users: shellUsers,
      cert: optionalChecked(PATH_ALLOWED, checkPath, 'none: a self-signed certificate made under stateDir', 'TLS certificate (PEM), set together with key'),
      key: optionalChecked(PATH_ALLOWED, checkPath, 'none: made together with the certificate', 'TLS private key (PEM), set together with cert'),
    }),
    {},
  ),
  diag: flag(false, 'RFC 862 echo (7), RFC 863 discard (9), RFC 864 chargen (19)'),
  diagBuffer: size(KIB, 64 * MIB, DIAG_BUFFER_DEFAULT, 'receive and send buffer of each diag connection (window scaling uses it; within tcp.maxBuf)'),
  http: z.prefault(
    z.strictObject({
      port: port(8080, 'status page (HTTP, SPEC §5a), login with the shell users'),
      enabled: flag(false, 'serve the status page'),
    }),
    {},
  ),
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
  bus: defaultedChecked<I2cBusSetting>(I2C_ALLOWED, checkI2c, 'sim', 'sim', 'local I2C sensors'),
});

const logSchema = z.strictObject({
  format: z
    .optional(z.enum(LOG_FORMATS, { error: `must be one of ${LOG_FORMATS.join(', ')}` }))
    .register(keyInfo, { allowed: `one of ${LOG_FORMATS.join(', ')}`, defaultValue: 'pretty on a terminal, else json', description: 'log line format' }),
  level: choice(LOG_LEVELS, 'info', 'lowest level written'),
});

export const configObjectSchema = z.strictObject({
  net: z.prefault(netSchema, {}),
  link: defaultedChecked(LINK_ALLOWED, checkLink, 'sim', 'sim', 'frame link'),
  pcap: optionalChecked(PATH_ALLOWED, checkPath, 'none (no capture)', 'capture every frame the device receives and sends to this file (pcap: tcpdump -r, Wireshark)'),
  tcp: z.prefault(tcpSchema, {}),
  services: z.prefault(servicesSchema, {}),
  store: z.prefault(storeSchema, {}),
  leds: z.prefault(ledsSchema, {}),
  i2c: z.prefault(i2cSchema, {}),
  stateDir: optionalChecked(PATH_ALLOWED, checkPath, STATE_DIR_DEFAULT_TEXT, 'readings log, TLS certificate and other state'),
  log: z.prefault(logSchema, {}),
});

export type ParsedConfig = z.output<typeof configObjectSchema>;

/** Rules between keys. They run once every key on its own is valid. */
function checkCrossKeyRules(config: ParsedConfig, context: z.core.$RefinementCtx<ParsedConfig>): void {
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
  for (const key of ['rcvBuf', 'sndBuf'] as const) {
    if (tcp[key] > tcp.maxBuf) problem(`tcp.${key}`, `must not exceed tcp.maxBuf (${tcp.maxBuf} bytes)`, tcp[key]);
  }
  if (services.diagBuffer > tcp.maxBuf) problem('services.diagBuffer', `must not exceed tcp.maxBuf (${tcp.maxBuf} bytes)`, services.diagBuffer);
  if (tcp.persist.max < tcp.minRto) {
    problem('tcp.persist.max', `must be at least tcp.minRto (${formatDuration(tcp.minRto)})`, formatDuration(tcp.persist.max));
  }

  // Two services cannot listen on one port of the same stack.
  const ports: [string, number][] = [
    ['services.sensors.port', services.sensors.port],
    ['services.shell.port', services.shell.port],
    ['services.shell.tlsPort', services.shell.tlsPort],
    ...(services.http.enabled ? [['services.http.port', services.http.port] as [string, number]] : []),
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
export const configSchema = configObjectSchema.check(z.superRefine(checkCrossKeyRules));

/** The configuration main runs with: every key present, durations in ms, sizes in bytes, paths absolute. */
export type ResolvedConfig = Omit<ParsedConfig, 'stateDir' | 'log'> & {
  stateDir: string;
  log: { format: LogFormat; level: LogLevel };
};
