/**
 * The shell's command table (SPEC §5). `runCommand` parses one line, runs it against
 * the ShellContext and writes the output through `write` (text with LF line ends; the
 * session turns them into CRLF for the terminal). It never throws: a bad argument or a
 * failing context call is a failed command (`ok: false`) with an `error:` line.
 *
 * `status`, `conns`, `stats` and `arp` take `--json` (one JSON document, for scripts).
 */
import type { ConnectionInfo } from '../../tcp/info.ts';
import type { ShellContext } from './context.ts';
import { neighborMac } from './context.ts';
import { formatIpv4, parseIpv4 } from '../../net/address.ts';
import { mayRun, type ShellRole } from './roles.ts';

export interface CommandResult {
  ok: boolean;
  /** The session should end (quit) after this command. */
  close?: boolean;
  /** The command that the user's role may not run (the session reports `auth_denied`). */
  denied?: string;
}

export type Writer = (text: string) => void;

interface CommandSpec {
  usage: string;
  summary: string;
  run(args: string[], context: ShellContext, write: Writer, role: ShellRole): Promise<CommandResult> | CommandResult;
}

const OK: CommandResult = { ok: true };
const MAX_PING_COUNT = 100;
const DEFAULT_PING_COUNT = 4;
const DEFAULT_READINGS = 20;
const MAX_READINGS = 1000;
const DEFAULT_LOG_LINES = 20;
const MAX_LOG_LINES = 1000;
export const PLOT_WIDTH = 60;
export const PLOT_HEIGHT = 12;

function fail(write: Writer, text: string): CommandResult {
  write(`error: ${text}\n`);
  return { ok: false };
}

/** `--json` anywhere in the arguments; the rest must be empty for these commands. */
function jsonFlag(args: string[], write: Writer): boolean | CommandResult {
  const others = args.filter((arg) => arg !== '--json');
  if (others.length > 0) return fail(write, `unexpected argument ${others[0]}`);
  return args.length > 0;
}

function count(text: string | undefined, fallback: number, max: number): number | undefined {
  if (text === undefined) return fallback;
  if (!/^[0-9]{1,7}$/.test(text)) return undefined;
  const value = Number(text);
  return value >= 1 && value <= max ? value : undefined;
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Left-aligned columns, two spaces apart. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]): string => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return '-';
  return JSON.stringify(value);
}

function ms(value: number | undefined): string {
  return value === undefined ? '-' : `${Math.round(value)}`;
}

/** A ConnectionInfo with addresses as text, for `conns --json`. */
export function connectionJson(info: ConnectionInfo): Record<string, unknown> {
  return { ...info, localAddress: formatIpv4(info.localAddress), remoteAddress: formatIpv4(info.remoteAddress) };
}

function formatTime(unixMs: number): string {
  return Number.isFinite(unixMs) ? new Date(unixMs).toISOString() : String(unixMs);
}

/**
 * A terminal chart of `values` (oldest first): PLOT_HEIGHT rows of `*` over the last
 * PLOT_WIDTH values, a y axis labelled with the extremes, and a caption line.
 */
export function renderPlot(name: string, points: { value: number; at: number }[], width = PLOT_WIDTH, height = PLOT_HEIGHT): string {
  const values = points.slice(-width).map((point) => point.value).filter((value) => Number.isFinite(value));
  if (values.length === 0) return `no readings of ${name}\n`;
  const min = Math.min(...values);
  const max = Math.max(...values);
  const span = max - min;
  const row = (value: number): number => (span === 0 ? Math.floor((height - 1) / 2) : Math.round(((value - min) / span) * (height - 1)));
  const grid: string[][] = Array.from({ length: height }, () => Array.from({ length: values.length }, () => ' '));
  values.forEach((value, column) => {
    const line = grid[height - 1 - row(value)];
    if (line) line[column] = '*';
  });
  const labelTop = formatNumber(max);
  const labelBottom = formatNumber(min);
  const labelWidth = Math.max(labelTop.length, labelBottom.length);
  const lines = grid.map((cells, index) => {
    const label = index === 0 ? labelTop : index === height - 1 ? labelBottom : '';
    return `${label.padStart(labelWidth)} |${cells.join('')}`.trimEnd();
  });
  lines.push(`${' '.repeat(labelWidth)} +${'-'.repeat(values.length)}`);
  const first = points[points.length - values.length];
  const last = points[points.length - 1];
  const range = first && last ? `, ${formatTime(first.at)} .. ${formatTime(last.at)}` : '';
  lines.push(`${name}: ${values.length} readings, min ${formatNumber(min)}, max ${formatNumber(max)}, last ${formatNumber(values[values.length - 1] ?? 0)}${range}`);
  return lines.join('\n') + '\n';
}

function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(Math.abs(value) >= 100 ? 1 : 2);
}

const COMMANDS: Readonly<Record<string, CommandSpec>> = {
  help: {
    usage: 'help',
    summary: 'this list (the commands your role may run)',
    run: (_args, _context, write, role) => {
      const rows = Object.entries(COMMANDS)
        .filter(([name]) => mayRun(role, name))
        .map(([, spec]) => [spec.usage, spec.summary]);
      write(formatTable(['command', 'what it does'], rows));
      return OK;
    },
  },
  status: {
    usage: 'status [--json]',
    summary: 'uptime, address, link, version, active faults',
    run: (args, context, write) => {
      const flag = jsonFlag(args, write);
      if (typeof flag !== 'boolean') return flag;
      const status = context.status();
      if (flag) write(json(status));
      else write(Object.entries(status).map(([key, value]) => `${key}: ${formatValue(value)}\n`).join(''));
      return OK;
    },
  },
  conns: {
    usage: 'conns [--json]',
    summary: 'TCP connections: state, srtt, rto, mss, cwnd, windows, retransmits, probes',
    run: (args, context, write) => {
      const flag = jsonFlag(args, write);
      if (typeof flag !== 'boolean') return flag;
      const connections = context.connections();
      if (flag) {
        write(json(connections.map(connectionJson)));
        return OK;
      }
      const rows = connections.map((info) => [
        String(info.id),
        `${formatIpv4(info.localAddress)}:${info.localPort}`,
        `${formatIpv4(info.remoteAddress)}:${info.remotePort}`,
        info.state,
        ms(info.srtt),
        ms(info.rto),
        String(info.mss),
        String(info.cwnd),
        String(info.sendWindow),
        String(info.receiveWindow),
        String(info.retransmits),
        `${info.zeroWindowProbes}/${info.zeroWindowProbesAnswered}`,
        String(info.keepaliveProbes),
      ]);
      write(formatTable(['id', 'local', 'remote', 'state', 'srtt', 'rto', 'mss', 'cwnd', 'snd-wnd', 'rcv-wnd', 'rexmit', 'zwp', 'keepalive'], rows));
      return OK;
    },
  },
  stats: {
    usage: 'stats [--json]',
    summary: 'frame, IP and TCP counters (checksum errors, retransmits, probes, resets, drops)',
    run: (args, context, write) => {
      const flag = jsonFlag(args, write);
      if (typeof flag !== 'boolean') return flag;
      const counters = context.counters();
      if (flag) write(json(counters));
      else {
        const names = Object.keys(counters).sort();
        const width = Math.max(0, ...names.map((name) => name.length));
        write(names.map((name) => `${name.padEnd(width)}  ${counters[name]}\n`).join(''));
      }
      return OK;
    },
  },
  arp: {
    usage: 'arp [--json]',
    summary: 'the ARP cache',
    run: (args, context, write) => {
      const flag = jsonFlag(args, write);
      if (typeof flag !== 'boolean') return flag;
      const entries = context.neighbors();
      if (flag) {
        write(json(entries.map((entry) => ({ address: formatIpv4(entry.address), mac: entry.mac ? neighborMac(entry) : null, state: entry.state, expiresAt: entry.expiresAt }))));
      } else {
        write(formatTable(['address', 'mac', 'state'], entries.map((entry) => [formatIpv4(entry.address), neighborMac(entry), entry.state])));
      }
      return OK;
    },
  },
  ping: {
    usage: 'ping <ip> [count]',
    summary: `ICMP echo from the device's own stack (count 1-${MAX_PING_COUNT}, default ${DEFAULT_PING_COUNT})`,
    run: async (args, context, write) => {
      const address = parseIpv4(args[0] ?? '');
      if (address === undefined || args.length > 2) return fail(write, 'usage: ping <ip> [count]');
      const echoes = count(args[1], DEFAULT_PING_COUNT, MAX_PING_COUNT);
      if (echoes === undefined) return fail(write, `count must be 1-${MAX_PING_COUNT}`);
      write(`PING ${formatIpv4(address)}: ${echoes} echo requests\n`);
      const summary = await context.ping(address, echoes, (line) => write(`${line}\n`));
      const loss = summary.sent === 0 ? 0 : Math.round((100 * (summary.sent - summary.received)) / summary.sent);
      write(`${summary.sent} packets transmitted, ${summary.received} received, ${loss}% packet loss\n`);
      return { ok: summary.received > 0 };
    },
  },
  leds: {
    usage: 'leds',
    summary: 'LED patterns and the fault code shown',
    run: (_args, context, write) => {
      write(formatTable(['led', 'pattern', 'code'], context.leds().map((led) => [led.led, led.pattern, led.code === null ? '-' : String(led.code)])));
      return OK;
    },
  },
  sensors: {
    usage: 'sensors',
    summary: 'the latest reading of every sensor',
    run: (_args, context, write) => {
      const rows = context.sensors().map((reading) => [reading.name, String(reading.value), reading.source, formatTime(reading.at)]);
      write(formatTable(['name', 'value', 'source', 'at'], rows));
      return OK;
    },
  },
  readings: {
    usage: 'readings <name> [n]',
    summary: `the last n readings of a sensor (default ${DEFAULT_READINGS})`,
    run: (args, context, write) => {
      const name = args[0];
      if (name === undefined || args.length > 2) return fail(write, 'usage: readings <name> [n]');
      const n = count(args[1], DEFAULT_READINGS, MAX_READINGS);
      if (n === undefined) return fail(write, `n must be 1-${MAX_READINGS}`);
      const readings = context.readings(name, n);
      if (readings.length === 0) return fail(write, `no readings of ${name}`);
      write(readings.map((reading) => `${formatTime(reading.at)}  ${reading.value}\n`).join(''));
      return OK;
    },
  },
  plot: {
    usage: 'plot <name>',
    summary: 'a terminal chart of recent readings',
    run: (args, context, write) => {
      const name = args[0];
      if (name === undefined || args.length > 1) return fail(write, 'usage: plot <name>');
      const readings = context.readings(name, PLOT_WIDTH);
      if (readings.length === 0) return fail(write, `no readings of ${name}`);
      write(renderPlot(name, readings));
      return OK;
    },
  },
  config: {
    usage: 'config',
    summary: 'the running configuration (secrets redacted; admin)',
    run: (_args, context, write) => {
      write(json(context.config()));
      return OK;
    },
  },
  log: {
    usage: 'log [n]',
    summary: `the last n log lines (default ${DEFAULT_LOG_LINES})`,
    run: (args, context, write) => {
      if (args.length > 1) return fail(write, 'usage: log [n]');
      const n = count(args[0], DEFAULT_LOG_LINES, MAX_LOG_LINES);
      if (n === undefined) return fail(write, `n must be 1-${MAX_LOG_LINES}`);
      write(context.log(n).map((line) => `${line}\n`).join(''));
      return OK;
    },
  },
  kill: {
    usage: 'kill <conn-id>',
    summary: 'reset a TCP connection (ids from conns; admin)',
    run: (args, context, write) => {
      const id = args.length === 1 && /^[0-9]{1,10}$/.test(args[0] ?? '') ? Number(args[0]) : undefined;
      if (id === undefined) return fail(write, 'usage: kill <conn-id>');
      if (!context.kill(id)) return fail(write, `no connection ${id}`);
      write(`connection ${id} reset\n`);
      return OK;
    },
  },
  restart: {
    usage: 'restart',
    summary: 'restart the firmware (admin)',
    run: (_args, context, write) => {
      write('restarting\n');
      context.restart();
      return { ok: true, close: true };
    },
  },
  quit: {
    usage: 'quit',
    summary: 'end the session',
    run: (_args, _context, write) => {
      write('bye\n');
      return { ok: true, close: true };
    },
  },
};

export const COMMAND_NAMES: readonly string[] = Object.keys(COMMANDS);

/**
 * Runs one command line for a user of `role` (roles.ts). An empty line is a successful
 * no-op; a command the role may not run is refused before it runs (`denied` says which).
 */
export async function runCommand(line: string, context: ShellContext, write: Writer, role: ShellRole = 'admin'): Promise<CommandResult> {
  const words = line.trim().split(/\s+/).filter((word) => word.length > 0);
  const [name, ...args] = words;
  if (name === undefined) return OK;
  const key = name.toLowerCase();
  const spec = Object.hasOwn(COMMANDS, key) ? COMMANDS[key] : undefined;
  if (!spec) return fail(write, `unknown command ${name.slice(0, 40)}; try help`);
  if (!mayRun(role, key)) {
    write(`error: permission denied: ${key} needs the admin role (this user is a ${role})\n`);
    return { ok: false, denied: key };
  }
  try {
    return await spec.run(args, context, write, role);
  } catch (error) {
    return fail(write, error instanceof Error ? error.message : String(error));
  }
}
