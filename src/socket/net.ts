/**
 * The application-facing API of one stack instance, mirroring `node:net`:
 * `createServer([options][, connectionListener])` and `connect({ host, port, timeout })`.
 * Hosts are IPv4 dotted quads (the device has no resolver).
 */
import type { TcpStack } from '../tcp/stack.ts';
import { ErrorCode, NetError } from '../errors.ts';
import { parseIpv4 } from '../net/address.ts';
import { Server, type ConnectionListener, type ServerOptions } from './server.ts';
import { Socket, type SocketOptions } from './socket.ts';

export interface ConnectOptions extends SocketOptions {
  host: string;
  port: number;
  localPort?: number;
  /** Milliseconds for the handshake to finish; past it the socket fails with ETIMEDOUT. */
  timeout?: number;
}

export class SocketApi {
  constructor(
    private readonly tcp: TcpStack,
    private readonly localAddress: () => number,
  ) {}

  createServer(options?: ServerOptions | ConnectionListener, connectionListener?: ConnectionListener): Server {
    if (typeof options === 'function') return new Server(this.tcp, this.localAddress(), {}, options);
    return new Server(this.tcp, this.localAddress(), options ?? {}, connectionListener);
  }

  /**
   * Opens a connection. Like node:net, network failures (refused, reset, timeout) are
   * reported as an 'error' event on the returned socket; a malformed address or port is
   * a programmer error and throws at once (node:net throws ERR_SOCKET_BAD_PORT too).
   */
  connect(options: ConnectOptions, connectListener?: () => void): Socket {
    const address = parseIpv4(options.host);
    const validPort = Number.isInteger(options.port) && options.port > 0 && options.port < 65536;
    if (address === undefined || !validPort) {
      throw new NetError(ErrorCode.EINVAL, `cannot connect to ${options.host}:${options.port}: an IPv4 address and a port 1-65535 are needed`);
    }
    const connection = this.tcp.connect(address, options.port, { localPort: options.localPort, timeout: options.timeout });
    const socket = new Socket(connection, options);
    if (connectListener) socket.once('connect', connectListener);
    return socket;
  }
}
