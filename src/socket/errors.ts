/**
 * Errors shaped as node:net raises them, so code that inspects more than `code` works
 * unchanged: `errno` (negative, libuv style), `syscall`, and `address`/`port` where Node
 * gives them, with Node's message forms:
 *   connect ECONNREFUSED 198.18.0.2:7070     (syscall, code, address:port)
 *   read ECONNRESET                          (syscall, code)
 *   listen EADDRINUSE: address already in use 0.0.0.0:7070
 * They stay `NetError`s, so `instanceof NetError` and `code` checks keep working.
 */
import { ErrorCode, NetError } from '../errors.ts';

/** Linux errno values (asm-generic/errno.h); Node reports them negated, as libuv does. */
const LINUX_ERRNO: Record<ErrorCode, number> = {
  EPIPE: 32,
  EINVAL: 22,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETUNREACH: 101,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTUNREACH: 113,
};

/** libuv's uv_strerror texts, used in the `listen` message form. */
const DESCRIPTION: Partial<Record<ErrorCode, string>> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available',
  EINVAL: 'invalid argument',
};

export type Syscall = 'connect' | 'read' | 'write' | 'listen';

export class SocketError extends NetError {
  readonly errno: number;
  readonly syscall: Syscall;
  readonly address: string | undefined;
  readonly port: number | undefined;

  constructor(code: ErrorCode, syscall: Syscall, endpoint?: { address: string; port: number }) {
    super(code, syscall);
    this.name = 'Error';
    this.errno = -LINUX_ERRNO[code];
    this.syscall = syscall;
    this.address = endpoint?.address;
    this.port = endpoint?.port;
    const where = endpoint ? ` ${endpoint.address}:${endpoint.port}` : '';
    const description = syscall === 'listen' ? DESCRIPTION[code] : undefined;
    this.message = description ? `${syscall} ${code}: ${description}${where}` : `${syscall} ${code}${where}`;
  }
}

/** node:net's ERR_SERVER_NOT_RUNNING (close() on a server that is not listening). */
export class ServerNotRunningError extends Error {
  readonly code = 'ERR_SERVER_NOT_RUNNING';
  constructor() {
    super('Server is not running.');
    this.name = 'Error';
  }
}

/** node:net's ERR_SOCKET_BAD_PORT, thrown for a port that is not 0..65535 (1..65535 to connect). */
export class BadPortError extends RangeError {
  readonly code = 'ERR_SOCKET_BAD_PORT';
  constructor(port: unknown, allowZero: boolean) {
    super(`Port should be >= ${allowZero ? 0 : 1} and < 65536. Received ${String(port)}.`);
    this.name = 'RangeError';
  }
}

/** Re-shapes an error from the TCP core (which knows no syscall) for the socket API. */
export function socketError(error: NetError, syscall: Syscall, endpoint?: { address: string; port: number }): SocketError {
  return error instanceof SocketError ? error : new SocketError(error.code, syscall, endpoint);
}
