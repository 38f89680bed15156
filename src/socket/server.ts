/**
 * A listening server shaped like `node:net`'s Server: `listen(port[, host][, backlog][, cb])`
 * or `listen({ port, host, backlog }[, cb])`, 'listening', 'connection' with a Socket per
 * accepted connection, `address()`, `close([cb])`, `getConnections(cb)`,
 * `maxConnections` with 'drop', and the `pauseOnConnect`, `noDelay`, `keepAlive`,
 * `keepAliveInitialDelay` and `allowHalfOpen` options.
 *
 * As node:net: errors (`listen EADDRINUSE: address already in use 198.18.0.2:7070`) and
 * 'listening' come asynchronously; `close()` stops accepting at once and emits 'close'
 * once every accepted socket has closed; `close(cb)` on a server that is not listening
 * calls back with ERR_SERVER_NOT_RUNNING.
 */
import { EventEmitter } from 'node:events';
import type { ConnectionSettings } from '../tcp/config.ts';
import type { TcpStack, TcpListener } from '../tcp/stack.ts';
import type { TcpConnection } from '../tcp/connection.ts';
import { ErrorCode, NetError } from '../errors.ts';
import { formatIpv4, parseIpv4 } from '../net/address.ts';
import { Socket, type RefRegistry, type SocketBinding, type SocketOptions } from './socket.ts';
import { BadPortError, ServerNotRunningError, socketError } from './errors.ts';

export interface ServerOptions extends SocketOptions, ConnectionSettings {
  /** Connections waiting in SYN-RECEIVED beyond this are dropped (the stack's synBacklog caps it). */
  backlog?: number;
  /** Accepted sockets start paused: nothing is read until the application resumes them. */
  pauseOnConnect?: boolean;
}

export interface ListenOptions {
  port?: number | string;
  /** The device's own address (or 0.0.0.0 / omitted): the stack has one address. */
  host?: string;
  backlog?: number;
}

export type ConnectionListener = (socket: Socket) => void;

/** What node:net passes with 'drop' when maxConnections turns a connection away. */
export interface DropInfo {
  localAddress: string;
  localPort: number;
  localFamily: 'IPv4';
  remoteAddress: string;
  remotePort: number;
  remoteFamily: 'IPv4';
}

export class Server extends EventEmitter {
  /** Connections beyond this many open sockets are closed at once, with 'drop' (node:net). */
  maxConnections: number | undefined;
  private listener: TcpListener | undefined;
  private readonly sockets = new Set<Socket>();
  private closing = false;
  private refed = true;
  /** What every accepted socket is bound to: one object per server, not per socket. */
  private readonly socketBinding: SocketBinding;
  /** Every accepted socket's 'close' listener (`this` is the socket): one function per server. */
  private readonly socketClosed: (this: Socket) => void;

  constructor(
    private readonly tcp: TcpStack,
    private readonly localAddress: number,
    private readonly options: ServerOptions = {},
    connectionListener?: ConnectionListener,
    private readonly refs?: RefRegistry,
  ) {
    super();
    this.socketBinding = { refs };
    const forget = (socket: Socket): void => {
      this.sockets.delete(socket);
      this.maybeEmitClose();
    };
    this.socketClosed = function socketClosed(this: Socket): void {
      forget(this);
    };
    if (connectionListener) this.on('connection', connectionListener);
  }

  get listening(): boolean {
    return this.listener !== undefined;
  }

  /** `listen([port[, host[, backlog]]][, callback])` or `listen(options[, callback])`; port 0 binds a free port. */
  listen(port?: number | string | ListenOptions | (() => void), ...rest: unknown[]): this {
    const callback = [port, ...rest].find((argument): argument is () => void => typeof argument === 'function');
    const options: ListenOptions =
      typeof port === 'object' && port !== null
        ? port
        : {
            port: typeof port === 'function' ? 0 : port,
            host: typeof rest[0] === 'string' ? rest[0] : undefined,
            backlog: typeof rest[0] === 'number' ? rest[0] : typeof rest[1] === 'number' ? rest[1] : undefined,
          };
    const requested = options.port === undefined ? 0 : typeof options.port === 'string' && /^\d+$/.test(options.port) ? Number(options.port) : options.port;
    if (typeof requested !== 'number' || !Number.isInteger(requested) || requested < 0 || requested > 65535) {
      throw new BadPortError(options.port, true);
    }
    if (options.host !== undefined && !this.isOwnAddress(options.host)) {
      throw new NetError(ErrorCode.EADDRNOTAVAIL, `${options.host} is not this device's address ${formatIpv4(this.localAddress)}`);
    }
    if (this.listener) throw new NetError(ErrorCode.EINVAL, 'the server is already listening (ERR_SERVER_ALREADY_LISTEN)');
    if (callback) this.once('listening', callback);
    try {
      this.listener = this.tcp.listen(
        requested,
        {
          backlog: options.backlog ?? this.options.backlog,
          rcvBuf: this.options.rcvBuf,
          sndBuf: this.options.sndBuf,
          sack: this.options.sack,
          windowScale: this.options.windowScale,
          timestamps: this.options.timestamps,
          congestion: this.options.congestion,
        },
        (connection) => this.accept(connection),
      );
      this.closing = false;
      this.refs?.hold(this, this.refed);
      process.nextTick(() => this.emit('listening'));
    } catch (error) {
      const cause = error instanceof NetError ? error : new NetError(ErrorCode.EINVAL, String(error));
      process.nextTick(() => this.emit('error', socketError(cause, 'listen', { address: formatIpv4(this.localAddress), port: requested })));
    }
    return this;
  }

  address(): { address: string; family: 'IPv4'; port: number } | null {
    if (!this.listener) return null;
    return { address: formatIpv4(this.localAddress), family: 'IPv4', port: this.listener.port };
  }

  /** Stops accepting; 'close' follows once every accepted socket has closed (node:net semantics). */
  close(callback?: (error?: Error) => void): this {
    if (callback) {
      if (this.listener) this.once('close', callback);
      else this.once('close', () => callback(new ServerNotRunningError()));
    }
    this.listener?.close();
    this.listener = undefined;
    this.refs?.hold(this, false);
    this.closing = true;
    this.maybeEmitClose();
    return this;
  }

  getConnections(callback: (error: Error | null, count: number) => void): this {
    process.nextTick(() => callback(null, this.sockets.size));
    return this;
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  /** node:net's ref/unref: an unref'd server does not keep the process alive (see Socket.ref). */
  ref(): this {
    this.refed = true;
    if (this.listener) this.refs?.hold(this, true);
    return this;
  }
  unref(): this {
    this.refed = false;
    this.refs?.hold(this, false);
    return this;
  }

  private isOwnAddress(host: string): boolean {
    const address = parseIpv4(host);
    return address === 0 || address === this.localAddress;
  }

  private accept(connection: TcpConnection): void {
    if (this.maxConnections !== undefined && this.sockets.size >= this.maxConnections) {
      // node:net closes the accepted handle: FIN, or RST if the peer already sent data.
      const drop: DropInfo = {
        localAddress: formatIpv4(connection.localAddress),
        localPort: connection.localPort,
        localFamily: 'IPv4',
        remoteAddress: formatIpv4(connection.remoteAddress),
        remotePort: connection.remotePort,
        remoteFamily: 'IPv4',
      };
      connection.orphan();
      this.emit('drop', drop);
      return;
    }
    const socket = new Socket(this.options, this.socketBinding, connection);
    if (this.options.pauseOnConnect) socket.pause();
    this.sockets.add(socket);
    // 'close' comes once per socket: a plain listener, no once() wrapper per socket.
    socket.on('close', this.socketClosed);
    this.emit('connection', socket);
  }

  private maybeEmitClose(): void {
    if (this.closing && this.sockets.size === 0) {
      this.closing = false;
      process.nextTick(() => this.emit('close'));
    }
  }
}
