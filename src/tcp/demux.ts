/**
 * The connection table: demultiplexing by (local port, remote address, remote port)
 * (RFC 9293 §3.10.7: "the segment's connection"), and the choice of a local port for
 * an active open (RFC 6056 §3.3.1: random start, linear probe through the ephemeral
 * range). The local address is the stack's one address, so it is not part of the key.
 *
 * The last connection found is remembered (Linux's early demux keeps the socket on the
 * skb's route for the same reason): a bulk transfer's segments come for one connection
 * in a row, and comparing three numbers is cheaper than two Map lookups with a key
 * that is a heap number (remote address · 65536 + port exceeds 2^31). The memory is
 * forgotten when that connection leaves the table.
 */
import type { Ipv4Address } from '../net/address.ts';
import type { RandomSource } from '../random.ts';
import { ErrorCode, NetError } from '../errors.ts';
import type { TcpConnection } from './connection.ts';

/** RFC 6335 §6: the dynamic (ephemeral) port range. */
export const EPHEMERAL_FIRST = 49152;
export const EPHEMERAL_COUNT = 65536 - EPHEMERAL_FIRST;

/** A random port of the ephemeral range for which `free(port)` holds, or undefined. */
export function freeEphemeralPort(random: RandomSource, free: (port: number) => boolean): number | undefined {
  const start = random.uint32() % EPHEMERAL_COUNT;
  for (let i = 0; i < EPHEMERAL_COUNT; i++) {
    const port = EPHEMERAL_FIRST + ((start + i) % EPHEMERAL_COUNT);
    if (free(port)) return port;
  }
  return undefined;
}

export class ConnectionTable {
  /** local port → (remote address · 65536 + remote port) → connection. */
  private readonly byLocalPort = new Map<number, Map<number, TcpConnection>>();
  private count = 0;
  /** The connection the last successful lookup found, or undefined. */
  private last: TcpConnection | undefined;

  /** Connections in the table, TIME-WAIT included. */
  get size(): number {
    return this.count;
  }

  lookup(localPort: number, remoteAddress: Ipv4Address, remotePort: number): TcpConnection | undefined {
    const last = this.last;
    if (last !== undefined && last.remotePort === remotePort && last.localPort === localPort && last.remoteAddress === remoteAddress) return last;
    const found = this.byLocalPort.get(localPort)?.get(remoteAddress * 65536 + remotePort);
    if (found !== undefined) this.last = found;
    return found;
  }

  /** True when some connection uses `localPort`. */
  usesLocalPort(localPort: number): boolean {
    return this.byLocalPort.has(localPort);
  }

  insert(connection: TcpConnection): void {
    let byRemote = this.byLocalPort.get(connection.localPort);
    if (byRemote === undefined) {
      byRemote = new Map();
      this.byLocalPort.set(connection.localPort, byRemote);
    }
    byRemote.set(connection.remoteAddress * 65536 + connection.remotePort, connection);
    this.last = undefined; // it may have held a connection this one replaced
    this.count++;
  }

  /** Removes `connection` if it is the one held for its tuple. */
  remove(connection: TcpConnection): void {
    const byRemote = this.byLocalPort.get(connection.localPort);
    const key = connection.remoteAddress * 65536 + connection.remotePort;
    if (byRemote?.get(key) !== connection) return;
    if (this.last === connection) this.last = undefined;
    byRemote.delete(key);
    if (byRemote.size === 0) this.byLocalPort.delete(connection.localPort);
    this.count--;
  }

  /** Connections on `localPort`. */
  onLocalPort(localPort: number): Iterable<TcpConnection> {
    return this.byLocalPort.get(localPort)?.values() ?? [];
  }

  *values(): Iterable<TcpConnection> {
    for (const byRemote of this.byLocalPort.values()) yield* byRemote.values();
  }

  /** A local port for connecting to (remoteAddress, remotePort) that no connection uses for it, nor `taken`. */
  freeConnectPort(random: RandomSource, remoteAddress: Ipv4Address, remotePort: number, taken: (port: number) => boolean): number {
    const port = freeEphemeralPort(random, (candidate) => !taken(candidate) && this.lookup(candidate, remoteAddress, remotePort) === undefined);
    if (port === undefined) throw new NetError(ErrorCode.EADDRNOTAVAIL, 'no free ephemeral port');
    return port;
  }
}

/**
 * RFC 1122 §4.2.3.10: segments from an unspecified, broadcast or multicast source get
 * no connection and no reply; RFC 9293 MUST-46: no OPEN to such an address. The one
 * unicast check of the stack (src/net/address.ts) also refuses 0/8 and 127/8.
 */
export { isUnicastHostAddress as isUnicast } from '../net/address.ts';
