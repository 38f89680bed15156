/**
 * What the shell's commands read and do: the interface the firmware provides
 * (SPEC §5). `stackShellContext` implements the network half from a NetStack (status
 * of the interface, connections, counters, ARP cache, ping, kill); the firmware adds
 * the rest (LEDs, sensors, configuration, log, restart), which live outside src/.
 *
 * `ping` waits between echoes and for replies; src/ has no timers, so the firmware
 * passes `delay` (a setTimeout promise), and tests pass one on their virtual clock.
 */
import type { ConnectionInfo } from '../../tcp/info.ts';
import type { NeighborEntry } from '../../net/neighbor.ts';
import type { NetStack } from '../../stack.ts';
import type { Clock } from '../../time.ts';
import { formatIpv4, formatMac } from '../../net/address.ts';

export interface LedState {
  led: string;
  pattern: string;
  code: number | null;
}

export interface SensorReading {
  name: string;
  source: string;
  value: number;
  /** Unix milliseconds. */
  at: number;
}

export interface PingSummary {
  sent: number;
  received: number;
}

export interface ShellContext {
  /** Uptime, ip, mac, mtu, carrier, version, faults...: shown as `key: value` lines. */
  status(): Record<string, unknown>;
  connections(): ConnectionInfo[];
  counters(): Record<string, number>;
  neighbors(): NeighborEntry[];
  /** Sends `count` echo requests from the device's stack; `onReply` gets one line per outcome. */
  ping(address: number, count: number, onReply: (line: string) => void): Promise<PingSummary>;
  leds(): LedState[];
  /** The latest reading of every known name. */
  sensors(): SensorReading[];
  /** The most recent `n` readings of `name`, oldest first. */
  readings(name: string, n: number): { value: number; at: number }[];
  config(): unknown;
  /** The last `n` log lines. */
  log(n: number): string[];
  /** Aborts connection `id` with a RST; false when there is none. */
  kill(id: number): boolean;
  restart(): void;
}

/** The network half of ShellContext, built from the device's own stack. */
export type StackShellContext = Pick<ShellContext, 'connections' | 'counters' | 'neighbors' | 'ping' | 'kill'> & {
  /** ip, prefix, mac, mtu, uptime (the firmware merges its own fields in). */
  networkStatus(): Record<string, unknown>;
};

export interface StackShellContextOptions {
  stack: NetStack;
  clock: Clock;
  /** Resolves after `ms` (firmware: setTimeout; tests: the virtual clock). */
  delay: (ms: number) => Promise<void>;
  /** Identifier of our echo requests (RFC 792); several pings in a row use distinct ones. */
  firstIdentifier?: number;
}

/** Echo spacing and reply wait, as iputils ping does by default. */
export const PING_INTERVAL_MS = 1000;
export const PING_PAYLOAD_LENGTH = 56;

export function stackShellContext(options: StackShellContextOptions): StackShellContext {
  const { stack, clock, delay } = options;
  const startedAt = clock.now();
  let nextIdentifier = (options.firstIdentifier ?? 0x7077) & 0xffff;
  const waiting = new Map<string, { sentAt: number; resolve: (rtt: number) => void }>();
  stack.interface.onEchoReply((source, identifier, sequence, _payload, now) => {
    const key = `${source}/${identifier}/${sequence}`;
    const entry = waiting.get(key);
    if (!entry) return;
    waiting.delete(key);
    entry.resolve(now - entry.sentAt);
  });

  return {
    networkStatus: () => ({
      ...addressStatus(stack, clock.now()),
      mac: formatMac(stack.config.mac),
      mtu: stack.config.mtu,
      uptimeMs: Math.round(clock.now() - startedAt),
      connections: [...stack.tcp.connections()].length,
      // Compact TIME-WAIT records and orphans (closing with no socket): bounded, shown so
      // a technician sees the plateau.
      timeWait: stack.tcp.timeWaitCount,
      orphans: stack.tcp.orphanCount,
    }),
    connections: () => [...stack.tcp.connections()].map((connection) => connection.info()),
    counters: () => stack.counters.snapshot(),
    neighbors: () => stack.interface.neighbors(),
    kill: (id) => {
      for (const connection of stack.tcp.connections()) {
        if (connection.id === id) {
          connection.abort();
          return true;
        }
      }
      return false;
    },
    ping: async (address, count, onReply) => {
      const identifier = nextIdentifier;
      nextIdentifier = (nextIdentifier + 1) & 0xffff;
      const payload = new Uint8Array(PING_PAYLOAD_LENGTH);
      for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff;
      const target = formatIpv4(address);
      let received = 0;
      for (let sequence = 1; sequence <= count; sequence++) {
        const key = `${address}/${identifier}/${sequence}`;
        let answered = false;
        const reply = new Promise<number>((resolve) => waiting.set(key, { sentAt: clock.now(), resolve }));
        void reply.then((rtt) => {
          answered = true;
          received++;
          onReply(`${PING_PAYLOAD_LENGTH + 8} bytes from ${target}: icmp_seq=${sequence} time=${rtt.toFixed(1)} ms`);
        });
        const result = stack.interface.ping(address, identifier, sequence, payload);
        if (result === 'no-route' || result === 'dropped') {
          waiting.delete(key);
          onReply(`icmp_seq=${sequence}: cannot send (${result})`);
        }
        await delay(PING_INTERVAL_MS);
        if (!answered && waiting.delete(key)) onReply(`icmp_seq=${sequence}: no reply within ${PING_INTERVAL_MS} ms`);
      }
      return { sent: count, received };
    },
  };
}

export function neighborMac(entry: NeighborEntry): string {
  return entry.mac ? formatMac(entry.mac) : '(incomplete)';
}

/**
 * The address in use now (it can change under DHCP) and, with DHCP, the client's state,
 * server and lease times: `dhcp: BOUND`, `lease: 3600 s, renew in 1795 s, expires in 3595 s`.
 */
function addressStatus(stack: NetStack, now: number): Record<string, unknown> {
  const current = stack.interface.addressConfig;
  const fields: Record<string, unknown> = {
    ip: current.address === 0 ? null : `${formatIpv4(current.address)}/${current.prefixLength}`,
    gateway: current.gateway === undefined ? null : formatIpv4(current.gateway),
  };
  const dhcp = stack.dhcp?.status(now);
  if (dhcp === undefined) return { ...fields, addressSource: 'static' };
  const seconds = (ms: number | null): string => (ms === null ? 'never' : `${Math.max(0, Math.round(ms / 1000))} s`);
  return {
    ...fields,
    addressSource: 'dhcp',
    dhcp: dhcp.state,
    dhcpServer: dhcp.server,
    router: dhcp.router,
    lease:
      dhcp.address === null
        ? null
        : `${dhcp.leaseSeconds === null ? 'infinite' : `${dhcp.leaseSeconds} s`}, renew in ${seconds(dhcp.renewInMs)}, expires in ${seconds(dhcp.expiresInMs)}`,
  };
}
