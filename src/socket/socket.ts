/**
 * A `stream.Duplex` over one TcpConnection, shaped like `node:net`'s Socket so that
 * code written for Node sockets (readline, stream.pipeline, tls.TLSSocket, http, MQTT
 * and WebSocket libraries) runs on piwire's own TCP unchanged. Node 20/22 semantics are
 * the reference; where this file says "as node:net", the behaviour was checked against it.
 *
 * Life cycle: a Socket is made around a connection (accepted by a Server, or opened by
 * SocketApi.connect), or unconnected (`new api.Socket()`) and opened later with
 * `socket.connect(port, host)` / `socket.connect({ host, port })`, as `pg` and others do.
 *
 * Backpressure, both ways:
 * - writing: `_write`/`_writev` complete only once every byte is in the TCP send buffer;
 *   when the buffer is full the write waits for `onWritable`. Corked writes arrive in
 *   one `_writev` and go to TCP as one send, so `cork(); write(a); write(b); uncork()`
 *   is one segment, not a small one followed by a second held by Nagle.
 * - reading: received data stays in the TCP receive buffer until `_read` pulls it, so
 *   the advertised window (RFC 9293 §3.8.6) follows how fast the application reads.
 *
 * Closing, as node:net over the Linux kernel:
 * - `end()` sends FIN after queued data (half-close); before the handshake completes it
 *   waits for it (the peer sees a connection, then FIN), as Node's deferred shutdown does.
 * - `destroy([err])` closes with FIN when nothing unread is left, with RST otherwise
 *   (close(2) with unread data, RFC 2525 §2.17); `resetAndDestroy()` always resets.
 * - a remote FIN ends the readable side: 'end' comes even if the application never
 *   reads (Node's read(0) at EOF); with allowHalfOpen false the socket then ends its own
 *   side, and a later write() fails with EPIPE, as Node's writeAfterFIN does.
 * - a remote RST destroys the socket with `read ECONNRESET`.
 * - 'close' (with `hadError`) comes from a later turn of the event loop than 'end' and
 *   'error', as Node's does (it follows the handle's close callback), so
 *   `await once(socket, 'end'); await once(socket, 'close')` works.
 */
import { Duplex } from 'node:stream';
import { noopHandler, type CloseReason, type ConnectionHandler, type TcpConnection } from '../tcp/connection.ts';
import type { TcpStack } from '../tcp/stack.ts';
import type { CongestionAlgorithm } from '../tcp/config.ts';
import { ErrorCode, NetError } from '../errors.ts';
import { formatIpv4, parseIpv4 } from '../net/address.ts';
import { BadPortError, SocketError, socketError } from './errors.ts';

/** Largest chunk handed to the stream in one push. */
const READ_CHUNK = 64 * 1024;

export interface SocketOptions {
  allowHalfOpen?: boolean;
  /** Bytes the writable side buffers before write() returns false. */
  writableHighWaterMark?: number;
  readableHighWaterMark?: number;
  /** setNoDelay(true) as soon as there is a connection. */
  noDelay?: boolean;
  /** setKeepAlive(true, keepAliveInitialDelay) as soon as there is a connection. */
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

export interface ConnectOptions {
  /** IPv4 dotted quad: the device has no resolver. */
  host?: string;
  port: number | string;
  localPort?: number;
  /**
   * Milliseconds for the handshake to finish; past it the socket fails with ETIMEDOUT
   * (SPEC §3; node:net's `timeout` option is an idle timeout instead).
   */
  timeout?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  /** piwire: this connection's receive and send buffers (tcp.rcvBuf/sndBuf by default, at most tcp.maxBuf). */
  rcvBuf?: number;
  sndBuf?: number;
  /** piwire: offer SACK, window scaling, timestamps on this connection (default: tcp.sack, tcp.windowScale, tcp.timestamps). */
  sack?: boolean;
  windowScale?: boolean;
  timestamps?: boolean;
  /** piwire: this connection's congestion control, 'cubic', 'reno' or 'bbr' (default: tcp.congestion). */
  congestion?: CongestionAlgorithm;
}

export type ReadyState = 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed';

/**
 * Where sockets and servers say whether they keep the process alive (node:net's
 * ref/unref): SocketApi holds the set; the event loop's owner asks `NetStack.hasRefs()`.
 */
export interface RefRegistry {
  hold(handle: object, held: boolean): void;
}

/** What a socket is bound to: the stack `connect()` opens connections on, the ref registry. */
export interface SocketBinding {
  stack?: TcpStack;
  refs?: RefRegistry;
}

/** Bits of `Socket.flags` (one field instead of seven: idle memory, issue 13). */
const SocketFlag = {
  CONNECTED: 1,
  PULLING: 2,
  REMOTE_ENDED: 4,
  END_PUSHED: 8,
  NO_DELAY: 16,
  REFED: 32,
  CLOSE_EMITTED: 64,
} as const;

interface KeepAliveSetting {
  readonly enable: boolean;
  readonly initialDelay: number;
}

/** The usual settings (on or off, the stack's idle time) are shared, not an object per socket. */
const KEEPALIVE_ON: KeepAliveSetting = Object.freeze({ enable: true, initialDelay: 0 });
const KEEPALIVE_OFF: KeepAliveSetting = Object.freeze({ enable: false, initialDelay: 0 });

function keepAliveSetting(enable: boolean, initialDelay: number): KeepAliveSetting {
  if (initialDelay === 0) return enable ? KEEPALIVE_ON : KEEPALIVE_OFF;
  return { enable, initialDelay };
}

interface PendingWrite {
  /** One write, or the writes queued behind it (`_writev`), sent in order without concatenation. */
  chunks: readonly Uint8Array[];
  /** Where sending resumes: `chunks[index]` at byte `offset`. */
  index: number;
  offset: number;
  /** Bytes of all the chunks, and of them already in the TCP send buffer. */
  length: number;
  accepted: number;
  callback: (error?: Error | null) => void;
}

export class Socket extends Duplex {
  private connection: TcpConnection | undefined;
  /** The socket's yes/no state in one small integer (`SocketFlag`; the accessors below read it). */
  private flags: number = SocketFlag.REFED;
  private closedReason: CloseReason | undefined;
  private pendingWrite: PendingWrite | undefined;
  /** end() before the handshake completed: the FIN waits for ESTABLISHED. */
  private pendingFinal: ((error?: Error | null) => void) | undefined;
  private timeoutMs: number | undefined;
  private keepAlive: KeepAliveSetting | undefined;
  private bytesReceived = 0;
  private bytesSent = 0;

  /**
   * `options` as node:net; `binding` is what SocketApi binds (`new api.Socket()`): the
   * stack `connect()` opens connections on and the ref registry; `connection` wraps an
   * open connection (accepted by a Server).
   */
  constructor(
    options: SocketOptions = {},
    private readonly binding: SocketBinding = {},
    connection?: TcpConnection,
  ) {
    super({
      allowHalfOpen: options.allowHalfOpen ?? false,
      writableHighWaterMark: options.writableHighWaterMark ?? 16 * 1024,
      readableHighWaterMark: options.readableHighWaterMark ?? 16 * 1024,
      decodeStrings: true,
      // 'close' is emitted by _destroy, a turn later and with hadError (node:net does the same).
      emitClose: false,
      autoDestroy: true,
    });
    this.noDelay = options.noDelay ?? false;
    if (options.keepAlive) this.keepAlive = keepAliveSetting(true, options.keepAliveInitialDelay ?? 0);
    // As node:net (onReadableStreamEnd): with allowHalfOpen false, the stream ends the
    // writable side after 'end'; writing after that is EPIPE, not a silent failure.
    // A shared listener, not a closure per socket (idle memory, issue 13).
    this.on('end', onReadableStreamEnd);
    if (connection) this.attach(connection);
  }

  // ---- the flags ------------------------------------------------------------------------

  /** Set once the connection is established; false while connecting. */
  private get connected(): boolean {
    return (this.flags & SocketFlag.CONNECTED) !== 0;
  }
  private set connected(on: boolean) {
    this.flags = on ? this.flags | SocketFlag.CONNECTED : this.flags & ~SocketFlag.CONNECTED;
  }
  /** The stream asked for data (`_read`) and has not said stop. */
  private get pulling(): boolean {
    return (this.flags & SocketFlag.PULLING) !== 0;
  }
  private set pulling(on: boolean) {
    this.flags = on ? this.flags | SocketFlag.PULLING : this.flags & ~SocketFlag.PULLING;
  }
  /** The peer's FIN (or a graceful close) ended the data to read. */
  private get remoteEnded(): boolean {
    return (this.flags & SocketFlag.REMOTE_ENDED) !== 0;
  }
  private set remoteEnded(on: boolean) {
    this.flags = on ? this.flags | SocketFlag.REMOTE_ENDED : this.flags & ~SocketFlag.REMOTE_ENDED;
  }
  /** The end of the readable side has been pushed. */
  private get endPushed(): boolean {
    return (this.flags & SocketFlag.END_PUSHED) !== 0;
  }
  private set endPushed(on: boolean) {
    this.flags = on ? this.flags | SocketFlag.END_PUSHED : this.flags & ~SocketFlag.END_PUSHED;
  }
  /** setNoDelay(true): passed on to the connection. */
  private get noDelay(): boolean {
    return (this.flags & SocketFlag.NO_DELAY) !== 0;
  }
  private set noDelay(on: boolean) {
    this.flags = on ? this.flags | SocketFlag.NO_DELAY : this.flags & ~SocketFlag.NO_DELAY;
  }
  /** ref() (the default) rather than unref(). */
  private get refed(): boolean {
    return (this.flags & SocketFlag.REFED) !== 0;
  }
  private set refed(on: boolean) {
    this.flags = on ? this.flags | SocketFlag.REFED : this.flags & ~SocketFlag.REFED;
  }
  /** 'close' has been emitted. */
  private get closeEmitted(): boolean {
    return (this.flags & SocketFlag.CLOSE_EMITTED) !== 0;
  }
  private set closeEmitted(on: boolean) {
    this.flags = on ? this.flags | SocketFlag.CLOSE_EMITTED : this.flags & ~SocketFlag.CLOSE_EMITTED;
  }

  // ---- node:net-compatible properties -------------------------------------------------

  get remoteAddress(): string | undefined {
    return this.connection ? formatIpv4(this.connection.remoteAddress) : undefined;
  }
  get remotePort(): number | undefined {
    return this.connection?.remotePort;
  }
  get remoteFamily(): string | undefined {
    return this.connection ? 'IPv4' : undefined;
  }
  get localAddress(): string | undefined {
    return this.connection ? formatIpv4(this.connection.localAddress) : undefined;
  }
  get localPort(): number | undefined {
    return this.connection?.localPort;
  }
  get localFamily(): string | undefined {
    return this.connection ? 'IPv4' : undefined;
  }
  get bytesRead(): number {
    return this.bytesReceived;
  }
  /** Every byte the application has written, sent or still queued (node:net counts the same). */
  get bytesWritten(): number {
    return this.bytesSent + this.writableLength - (this.pendingWrite?.accepted ?? 0);
  }
  /** Deprecated in node:net, kept for old code: bytes queued for writing. */
  get bufferSize(): number {
    return this.writableLength;
  }
  get connecting(): boolean {
    return this.connection !== undefined && !this.connected && this.closedReason === undefined && !this.destroyed;
  }
  get pending(): boolean {
    return !this.connected;
  }
  get readyState(): ReadyState {
    if (this.connecting) return 'opening';
    if (!this.connected || this.destroyed) return 'closed';
    const readable = !this.readableEnded && !this.remoteEnded;
    const writable = !this.writableEnded;
    if (readable && writable) return 'open';
    if (readable) return 'readOnly';
    if (writable) return 'writeOnly';
    return 'closed';
  }
  /** The TCP connection under this socket (for diagnostics: state, counters). */
  get tcp(): TcpConnection {
    if (!this.connection) throw new NetError(ErrorCode.EINVAL, 'the socket has no connection yet');
    return this.connection;
  }

  address(): { address: string; family: string; port: number } | Record<string, never> {
    if (!this.connection) return {};
    return { address: formatIpv4(this.connection.localAddress), family: 'IPv4', port: this.connection.localPort };
  }

  // ---- opening ------------------------------------------------------------------------------

  /**
   * `connect(options[, listener])`, `connect(port, host[, listener])`. Network failures
   * come as 'error' (`connect ECONNREFUSED 198.18.0.2:7070`); a bad port throws
   * ERR_SOCKET_BAD_PORT and a host that is not an IPv4 address throws EINVAL at once.
   */
  connect(options: ConnectOptions, listener?: () => void): this;
  connect(port: number | string, host?: string, listener?: () => void): this;
  connect(port: number | string, listener?: () => void): this;
  connect(first: ConnectOptions | number | string, second?: string | (() => void), third?: () => void): this {
    const options: ConnectOptions =
      typeof first === 'object' ? first : { port: first, host: typeof second === 'string' ? second : undefined };
    const listener = typeof second === 'function' ? second : third;
    const stack = this.binding.stack;
    if (!stack) throw new NetError(ErrorCode.EINVAL, 'this socket is not bound to a stack: use api.Socket or api.connect()');
    if (this.connection) throw new NetError(ErrorCode.EINVAL, 'the socket is already connected or connecting');
    const port = typeof options.port === 'string' && /^\d+$/.test(options.port) ? Number(options.port) : options.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port <= 0 || port > 65535) throw new BadPortError(options.port, false);
    const address = options.host === undefined ? undefined : parseIpv4(options.host);
    if (address === undefined) {
      throw new NetError(ErrorCode.EINVAL, `cannot connect to ${String(options.host)}:${port}: an IPv4 address is needed (no resolver)`);
    }
    if (options.noDelay !== undefined) this.noDelay = options.noDelay;
    if (options.keepAlive) this.keepAlive = keepAliveSetting(true, options.keepAliveInitialDelay ?? 0);
    if (listener) this.once('connect', listener);
    let connection: TcpConnection;
    try {
      connection = stack.connect(address, port, {
        localPort: options.localPort,
        timeout: options.timeout,
        rcvBuf: options.rcvBuf,
        sndBuf: options.sndBuf,
        sack: options.sack,
        windowScale: options.windowScale,
        timestamps: options.timestamps,
        congestion: options.congestion,
      });
    } catch (error) {
      // Out of ports or connections: an 'error' event, as node:net reports EADDRNOTAVAIL.
      const cause = error instanceof NetError ? error : new NetError(ErrorCode.EINVAL, String(error));
      process.nextTick(() => this.destroy(socketError(cause, 'connect', { address: options.host ?? '', port })));
      return this;
    }
    this.attach(connection);
    return this;
  }

  private attach(connection: TcpConnection): void {
    this.connection = connection;
    this.holdRef();
    connection.handler = this.createHandler();
    if (this.noDelay) connection.setNoDelay(true);
    if (this.keepAlive) connection.setKeepAlive(this.keepAlive.enable, this.keepAlive.initialDelay > 0 ? this.keepAlive.initialDelay : undefined);
    if (this.timeoutMs !== undefined && this.timeoutMs > 0) connection.setIdleTimeout(this.timeoutMs);
    if (connection.state === 'ESTABLISHED' || connection.state === 'CLOSE-WAIT') this.connected = true;
  }

  // ---- options ----------------------------------------------------------------------------------

  setNoDelay(noDelay = true): this {
    this.noDelay = noDelay;
    this.connection?.setNoDelay(noDelay);
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    this.keepAlive = keepAliveSetting(enable, initialDelay);
    this.connection?.setKeepAlive(enable, initialDelay > 0 ? initialDelay : undefined);
    return this;
  }

  /**
   * Emits 'timeout' after `ms` without activity (reads or writes) and leaves the socket
   * usable, as node:net does: the application decides whether to end, destroy or go on.
   * `setTimeout(0)` turns it off; `timeout` then reads 0.
   */
  setTimeout(ms: number, callback?: () => void): this {
    this.timeoutMs = ms;
    this.connection?.setIdleTimeout(ms);
    if (callback) {
      if (ms === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    return this;
  }

  get timeout(): number | undefined {
    return this.timeoutMs;
  }

  /** Aborts the connection with a RST, whatever is queued (node:net resetAndDestroy). */
  resetAndDestroy(): this {
    const connection = this.connection;
    if (this.closedReason === undefined && connection) {
      this.closedReason = 'aborted';
      connection.handler = noopHandler();
      connection.abort();
      this.holdRef();
    }
    return this.destroy();
  }

  /** Ends the writable side and destroys the socket once it finished (node:net destroySoon). */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  /**
   * node:net's ref/unref: an unref'd socket does not keep the process alive. The stack's
   * one timer (firmware/loop.ts) is unref'd while no socket or server of the stack holds
   * a ref, so a program whose only handles are unref'd piwire sockets can exit.
   */
  ref(): this {
    this.refed = true;
    this.holdRef();
    return this;
  }
  unref(): this {
    this.refed = false;
    this.holdRef();
    return this;
  }

  private holdRef(): void {
    // A connection that has ended can do no more I/O: it holds nothing alive, and the
    // registry must not keep a socket nobody destroyed.
    const open = this.connection !== undefined && this.closedReason === undefined && !this.closeEmitted;
    this.binding.refs?.hold(this, this.refed && open);
  }

  // ---- stream.Duplex implementation -------------------------------------------------------

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.startWrite([chunk], chunk.length, callback);
  }

  /**
   * Corked or queued writes go to TCP as one send (one segment where they fit one), chunk
   * by chunk into the send buffer: no concatenated copy.
   */
  override _writev(chunks: { chunk: Buffer; encoding: BufferEncoding }[], callback: (error?: Error | null) => void): void {
    const list: Uint8Array[] = new Array<Uint8Array>(chunks.length);
    let length = 0;
    for (let i = 0; i < chunks.length; i++) {
      const chunk = chunks[i]!.chunk;
      list[i] = chunk;
      length += chunk.length;
    }
    this.startWrite(list, length, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.closedReason !== undefined || !this.connection) {
      callback();
      return;
    }
    if (!this.connected) {
      // node:net defers shutdown until 'connect': the handshake completes, then FIN.
      this.pendingFinal = callback;
      return;
    }
    this.connection.shutdown();
    callback();
  }

  override _read(): void {
    this.pulling = true;
    this.pumpRead();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const pending = this.pendingWrite;
    this.pendingWrite = undefined;
    this.pendingFinal = undefined;
    const connection = this.connection;
    if (this.closedReason === undefined && connection) {
      // Like close(2) on a kernel socket (TcpConnection.orphan): FIN after what is queued,
      // RST when data is left unread; an error given to destroy() changes nothing on the
      // wire (node:net). The connection finishes its close on its own, within the orphan bounds.
      connection.orphan();
    }
    pending?.callback(error ?? this.writeError());
    callback(error);
    // node:net emits 'close' from the handle's close callback: a later loop turn.
    setImmediate(() => {
      this.closeEmitted = true;
      this.holdRef();
      this.emit('close', error !== null && error !== undefined);
    });
  }

  // ---- data movement ------------------------------------------------------------------------

  private startWrite(chunks: readonly Uint8Array[], length: number, callback: (error?: Error | null) => void): void {
    if (this.closedReason !== undefined || !this.connection) {
      callback(this.writeError());
      return;
    }
    this.pendingWrite = { chunks, index: 0, offset: 0, length, accepted: 0, callback };
    if (!this.connected) return;
    // As node:net, every write restarts the inactivity timer, even one that must wait.
    if (this.timeoutMs !== undefined && this.timeoutMs > 0) this.connection.setIdleTimeout(this.timeoutMs);
    this.pumpWrite();
  }

  private pumpWrite(): void {
    const pending = this.pendingWrite;
    const connection = this.connection;
    if (!pending || !connection) return;
    const accepted = connection.sendChunks(pending.chunks, pending.index, pending.offset);
    advance(pending, accepted);
    this.bytesSent += accepted;
    if (pending.accepted === pending.length) {
      this.pendingWrite = undefined;
      pending.callback();
    } else if (accepted === 0 && connection.sendBufferSpace === 0 && !canStillSend(connection)) {
      // The connection takes no more data (the peer reset it, or it is closing): EPIPE.
      this.pendingWrite = undefined;
      pending.callback(this.writeError());
    }
  }

  private pumpRead(): void {
    const connection = this.connection;
    if (!connection) return;
    // Called once per receive batch (scheduler.ts): one chunk, one 'data' event, for all
    // the segments the batch brought (up to READ_CHUNK), read straight into a Buffer of
    // its own (not a slice of Node's shared pool, which a small chunk the application
    // keeps would pin whole), not zero-filled: readInto fills all of it.
    while (this.pulling && connection.readableLength > 0) {
      const chunk = Buffer.allocUnsafeSlow(Math.min(connection.readableLength, READ_CHUNK));
      const count = connection.readInto(chunk);
      if (count === 0) break;
      this.bytesReceived += count;
      this.pulling = this.push(count === chunk.length ? chunk : chunk.subarray(0, count));
    }
    if (this.remoteEnded && !this.endPushed && connection.readableLength === 0) {
      this.endPushed = true;
      this.push(null);
      // As node:net at EOF: a read(0) lets 'end' come even if the application never reads.
      this.read(0);
    }
  }

  private writeError(): SocketError {
    return new SocketError(ErrorCode.EPIPE, 'write');
  }

  private remoteEndpoint(): { address: string; port: number } | undefined {
    return this.connection ? { address: formatIpv4(this.connection.remoteAddress), port: this.connection.remotePort } : undefined;
  }

  private createHandler(): ConnectionHandler {
    return new SocketEvents(this);
  }

  // ---- connection events (called through SocketEvents) -------------------------------

  /** @internal */
  tcpEstablished(): void {
    this.connected = true;
    this.pumpWrite();
    const final = this.pendingFinal;
    if (final && this.pendingWrite === undefined) {
      this.pendingFinal = undefined;
      this.connection?.shutdown();
      final();
    }
    this.emit('connect');
    this.emit('ready');
  }

  /** @internal */
  tcpReadable(): void {
    this.pumpRead();
  }

  /** @internal */
  tcpWritable(): void {
    this.pumpWrite();
  }

  /** @internal */
  tcpRemoteFin(): void {
    this.remoteEnded = true;
    this.pumpRead();
  }

  /** @internal */
  tcpClosed(reason: CloseReason, error?: NetError): void {
    this.closedReason = reason;
    this.holdRef();
    if (error) {
      const syscall = this.connected ? 'read' : 'connect';
      this.destroy(socketError(error, syscall, syscall === 'connect' ? this.remoteEndpoint() : undefined));
      return;
    }
    // A graceful close: whatever is still buffered stays readable, then 'end'.
    this.remoteEnded = true;
    this.pumpRead();
    const pending = this.pendingWrite;
    if (pending) {
      this.pendingWrite = undefined;
      pending.callback(this.writeError());
    }
  }
}

/** node:net's onReadableStreamEnd: without allowHalfOpen, the end of the peer's data ends ours. */
function onReadableStreamEnd(this: Socket): void {
  if (!this.allowHalfOpen) this.write = writeAfterFin;
}

/** node:net's writeAfterFIN: once the stream has ended our side, a write is EPIPE. */
function writeAfterFin(this: Socket, chunk: unknown, encodingOrCallback?: unknown, callback?: unknown): boolean {
  if (!this.writableEnded) {
    return (Duplex.prototype.write as (...args: unknown[]) => boolean).call(this, chunk, encodingOrCallback, callback);
  }
  const done = typeof encodingOrCallback === 'function' ? encodingOrCallback : callback;
  const error = new NetError(ErrorCode.EPIPE, 'write');
  error.message = 'This socket has been ended by the other party';
  if (typeof done === 'function') process.nextTick(() => (done as (error: Error) => void)(error));
  this.destroy(error);
  return false;
}

/**
 * The connection's handler for a socket: one small object whose methods live on the
 * prototype, instead of six closures per connection (idle memory, issue 13).
 */
class SocketEvents implements ConnectionHandler {
  constructor(private readonly socket: Socket) {}
  onEstablished(): void {
    this.socket.tcpEstablished();
  }
  onReadable(): void {
    this.socket.tcpReadable();
  }
  onWritable(): void {
    this.socket.tcpWritable();
  }
  onRemoteFin(): void {
    this.socket.tcpRemoteFin();
  }
  onIdleTimeout(): void {
    this.socket.emit('timeout');
  }
  onClose(reason: CloseReason, error?: NetError): void {
    this.socket.tcpClosed(reason, error);
  }
}

/** Moves a pending write's resume point `count` bytes on. */
function advance(pending: PendingWrite, count: number): void {
  pending.accepted += count;
  let left = count;
  while (left > 0) {
    const chunk = pending.chunks[pending.index];
    if (chunk === undefined) return;
    const rest = chunk.length - pending.offset;
    if (left < rest) {
      pending.offset += left;
      return;
    }
    left -= rest;
    pending.index++;
    pending.offset = 0;
  }
}

/** True while the connection's state still lets data be queued (RFC 9293 §3.10.2). */
function canStillSend(connection: TcpConnection): boolean {
  const state = connection.state;
  return state === 'SYN-SENT' || state === 'SYN-RECEIVED' || state === 'ESTABLISHED' || state === 'CLOSE-WAIT';
}
