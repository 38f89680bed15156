/**
 * A listening server shaped like `node:net`'s Server: `listen(port)`, 'listening',
 * 'connection' with a Socket per accepted connection, `address()`, `close()`.
 * Errors (EADDRINUSE) are emitted asynchronously as 'error', as node:net does.
 */
import { EventEmitter } from 'node:events';
import type { TcpStack, TcpListener } from '../tcp/stack.ts';
import type { TcpConnection } from '../tcp/connection.ts';
import { formatIpv4 } from '../net/address.ts';
import { Socket, type SocketOptions } from './socket.ts';

export interface ServerOptions extends SocketOptions {
  /** Connections waiting in SYN-RECEIVED beyond this are dropped (the stack's synBacklog caps it). */
  backlog?: number;
}

export type ConnectionListener = (socket: Socket) => void;

export class Server extends EventEmitter {
  private listener: TcpListener | undefined;
  private readonly sockets = new Set<Socket>();
  private closing = false;

  constructor(
    private readonly tcp: TcpStack,
    private readonly localAddress: number,
    private readonly options: ServerOptions = {},
    connectionListener?: ConnectionListener,
  ) {
    super();
    if (connectionListener) this.on('connection', connectionListener);
  }

  get listening(): boolean {
    return this.listener !== undefined;
  }

  /** `listen(port[, backlog][, callback])`; port 0 binds a free ephemeral port. */
  listen(port = 0, backlogOrCallback?: number | (() => void), callback?: () => void): this {
    const onListening = typeof backlogOrCallback === 'function' ? backlogOrCallback : callback;
    const backlog = typeof backlogOrCallback === 'number' ? backlogOrCallback : this.options.backlog;
    if (onListening) this.once('listening', onListening);
    try {
      this.listener = this.tcp.listen(port, { backlog }, (connection) => this.accept(connection));
      this.closing = false;
      process.nextTick(() => this.emit('listening'));
    } catch (error) {
      process.nextTick(() => this.emit('error', error));
    }
    return this;
  }

  address(): { address: string; family: 'IPv4'; port: number } | null {
    if (!this.listener) return null;
    return { address: formatIpv4(this.localAddress), family: 'IPv4', port: this.listener.port };
  }

  /** Stops accepting; 'close' follows once every accepted socket has closed (node:net semantics). */
  close(callback?: (error?: Error) => void): this {
    if (!this.listener) {
      if (callback) process.nextTick(() => callback(new Error('ERR_SERVER_NOT_RUNNING: server is not running')));
      return this;
    }
    if (callback) this.once('close', callback);
    this.listener.close();
    this.listener = undefined;
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

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  private accept(connection: TcpConnection): void {
    const socket = new Socket(connection, this.options);
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.maybeEmitClose();
    });
    this.emit('connection', socket);
  }

  private maybeEmitClose(): void {
    if (this.closing && this.sockets.size === 0) {
      this.closing = false;
      process.nextTick(() => this.emit('close'));
    }
  }
}
