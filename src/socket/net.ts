/**
 * The application-facing API of one stack instance, mirroring `node:net`:
 * `createServer([options][, connectionListener])`, `connect(options[, listener])`,
 * `connect(port, host[, listener])` (and `createConnection`, the same), and `Socket`, a
 * class bound to this stack so that `new api.Socket().connect(port, host)` works, as
 * libraries that build their own socket (`pg`, `mqtt`'s stream builders) expect.
 * Hosts are IPv4 dotted quads (the device has no resolver).
 */
import type { TcpStack } from '../tcp/stack.ts';
import type { ListenOptions, TcpListener } from '../tcp/listen.ts';
import type { TcpConnection } from '../tcp/connection.ts';
import { Server, type ConnectionListener, type ServerOptions } from './server.ts';
import { Socket, type ConnectOptions, type RefRegistry, type SocketOptions } from './socket.ts';

export type { ConnectOptions } from './socket.ts';

export class SocketApi implements RefRegistry {
  /** `new api.Socket([options])`: an unconnected socket on this stack. */
  readonly Socket: new (options?: SocketOptions) => Socket;
  /** Open sockets and listening servers that keep the process alive (not unref'd). */
  private readonly refs = new Set<object>();

  /** `onRefChange` is called when `hasRefs` changes (the loop's owner re-arms its timer). */
  constructor(
    private readonly tcp: TcpStack,
    private readonly localAddress: () => number,
    private readonly onRefChange: () => void = () => undefined,
  ) {
    const binding = { stack: tcp, refs: this as RefRegistry };
    this.Socket = class BoundSocket extends Socket {
      constructor(options: SocketOptions = {}) {
        super(options, binding);
      }
    };
  }

  /** True while a socket or server of this stack keeps the process alive (node:net ref). */
  get hasRefs(): boolean {
    return this.refs.size > 0;
  }

  hold(handle: object, held: boolean): void {
    const before = this.refs.size > 0;
    if (held) this.refs.add(handle);
    else this.refs.delete(handle);
    if (this.refs.size > 0 !== before) this.onRefChange();
  }

  /**
   * Listens for bare TCP connections, for a service that needs no stream per connection
   * (the sensor service: a Duplex with its two stream states costs ~0.8 KB per idle
   * connection, issue 13). Like a listening Server it keeps the process alive until the
   * returned listener is closed; unlike `listen()`, a taken port throws at once
   * (NetError EADDRINUSE).
   */
  listenConnections(port: number, options: ListenOptions, onAccept: (connection: TcpConnection) => void): TcpListener {
    const listener = this.tcp.listen(port, options, onAccept);
    const handle = {};
    this.hold(handle, true);
    return {
      port: listener.port,
      close: () => {
        listener.close();
        this.hold(handle, false);
      },
    };
  }

  createServer(options?: ServerOptions | ConnectionListener, connectionListener?: ConnectionListener): Server {
    if (typeof options === 'function') return new Server(this.tcp, this.localAddress(), {}, options, this);
    return new Server(this.tcp, this.localAddress(), options ?? {}, connectionListener, this);
  }

  /**
   * Opens a connection. Like node:net, network failures (refused, reset, timeout) are
   * reported as an 'error' event on the returned socket; a malformed address or port is
   * a programmer error and throws at once (node:net throws ERR_SOCKET_BAD_PORT too).
   */
  connect(options: ConnectOptions & SocketOptions, listener?: () => void): Socket;
  connect(port: number | string, host?: string, listener?: () => void): Socket;
  connect(first: (ConnectOptions & SocketOptions) | number | string, second?: string | (() => void), third?: () => void): Socket {
    if (typeof first === 'object') {
      return new this.Socket(first).connect(first, typeof second === 'function' ? second : undefined);
    }
    const socket = new this.Socket();
    return typeof second === 'function' ? socket.connect(first, second) : socket.connect(first, second, third);
  }

  /** node:net's alias of connect(). */
  createConnection(options: ConnectOptions & SocketOptions, listener?: () => void): Socket;
  createConnection(port: number | string, host?: string, listener?: () => void): Socket;
  createConnection(first: (ConnectOptions & SocketOptions) | number | string, second?: string | (() => void), third?: () => void): Socket {
    if (typeof first === 'object') return this.connect(first, typeof second === 'function' ? second : undefined);
    return typeof second === 'function' ? this.connect(first, undefined, second) : this.connect(first, second, third);
  }
}
