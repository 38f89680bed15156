/**
 * A `stream.Duplex` over one TcpConnection, shaped like `node:net`'s Socket so that
 * code written for Node sockets (readline, stream.pipeline, tls.TLSSocket, MQTT
 * clients) runs on piwire's own TCP unchanged.
 *
 * Backpressure, both ways:
 * - writing: `_write` completes only once every byte of the chunk is in the TCP
 *   send buffer; when the buffer is full the write waits for `onWritable`, which the
 *   connection raises as ACKs free space. The stream's highWaterMark then holds the
 *   application back.
 * - reading: received data stays in the TCP receive buffer until `_read` pulls it.
 *   Pulling is what frees receive buffer, so the advertised window (RFC 9293 §3.8.6)
 *   follows how fast the application really reads; a paused socket closes the window.
 *
 * Closing mirrors the kernel: `end()` sends FIN after queued data (half-close);
 * `destroy()` closes gracefully when nothing unread is left and resets (RST)
 * otherwise, as Linux does on close() with unread data (RFC 2525 §2.17);
 * `resetAndDestroy()` always resets. A remote FIN ends the readable side ('end');
 * a remote RST destroys the socket with ECONNRESET.
 */
import { Duplex } from 'node:stream';
import type { CloseReason, ConnectionHandler, TcpConnection } from '../tcp/connection.ts';
import { ErrorCode, NetError } from '../errors.ts';
import { formatIpv4 } from '../net/address.ts';

/** Largest chunk handed to the stream in one push. */
const READ_CHUNK = 64 * 1024;

export interface SocketOptions {
  allowHalfOpen?: boolean;
  /** Bytes the writable side buffers before write() returns false. */
  writableHighWaterMark?: number;
  readableHighWaterMark?: number;
}

export type ReadyState = 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed';

interface PendingWrite {
  chunk: Uint8Array;
  offset: number;
  callback: (error?: Error | null) => void;
}

export class Socket extends Duplex {
  /** Set once the connection is established; undefined while connecting. */
  private connected = false;
  private pulling = false;
  private remoteEnded = false;
  private endPushed = false;
  private closedReason: CloseReason | undefined;
  private pendingWrite: PendingWrite | undefined;
  private timeoutMs = 0;
  private bytesReceived = 0;
  private bytesSent = 0;

  constructor(
    private readonly connection: TcpConnection,
    options: SocketOptions = {},
  ) {
    super({
      allowHalfOpen: options.allowHalfOpen ?? false,
      writableHighWaterMark: options.writableHighWaterMark ?? 16 * 1024,
      readableHighWaterMark: options.readableHighWaterMark ?? 16 * 1024,
      decodeStrings: true,
      emitClose: true,
      autoDestroy: true,
    });
    connection.handler = this.createHandler();
    if (connection.state === 'ESTABLISHED' || connection.state === 'CLOSE-WAIT') this.connected = true;
  }

  // ---- node:net-compatible properties -------------------------------------------------

  get remoteAddress(): string | undefined {
    return formatIpv4(this.connection.remoteAddress);
  }
  get remotePort(): number | undefined {
    return this.connection.remotePort;
  }
  get remoteFamily(): string {
    return 'IPv4';
  }
  get localAddress(): string | undefined {
    return formatIpv4(this.connection.localAddress);
  }
  get localPort(): number | undefined {
    return this.connection.localPort;
  }
  get bytesRead(): number {
    return this.bytesReceived;
  }
  get bytesWritten(): number {
    return this.bytesSent;
  }
  get connecting(): boolean {
    return !this.connected && this.closedReason === undefined;
  }
  get pending(): boolean {
    return !this.connected;
  }
  get readyState(): ReadyState {
    if (!this.connected) return this.closedReason === undefined ? 'opening' : 'closed';
    if (this.destroyed) return 'closed';
    const readable = !this.readableEnded && !this.remoteEnded;
    const writable = !this.writableEnded;
    if (readable && writable) return 'open';
    if (readable) return 'readOnly';
    if (writable) return 'writeOnly';
    return 'closed';
  }
  /** The TCP connection under this socket (for diagnostics: state, counters). */
  get tcp(): TcpConnection {
    return this.connection;
  }

  address(): { address: string; family: string; port: number } {
    return { address: formatIpv4(this.connection.localAddress), family: 'IPv4', port: this.connection.localPort };
  }

  setNoDelay(noDelay = true): this {
    this.connection.setNoDelay(noDelay);
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    this.connection.setKeepAlive(enable, initialDelay > 0 ? initialDelay : undefined);
    return this;
  }

  /**
   * Emits 'timeout' after `ms` without activity and leaves the socket usable, as
   * node:net does: the application decides whether to end, destroy or go on.
   */
  setTimeout(ms: number, callback?: () => void): this {
    this.timeoutMs = ms;
    this.connection.setIdleTimeout(ms);
    if (callback) {
      if (ms === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    return this;
  }

  get timeout(): number | undefined {
    return this.timeoutMs === 0 ? undefined : this.timeoutMs;
  }

  /** Aborts the connection with a RST, whatever is queued (node:net resetAndDestroy). */
  resetAndDestroy(): this {
    this.connection.abort();
    return this.destroy();
  }

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  // ---- stream.Duplex implementation -------------------------------------------------------

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.closedReason !== undefined) {
      callback(new NetError(ErrorCode.EPIPE, 'the connection is closed'));
      return;
    }
    this.pendingWrite = { chunk, offset: 0, callback };
    if (this.connected) this.pumpWrite();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.closedReason === undefined) this.connection.shutdown();
    callback();
  }

  override _read(): void {
    this.pulling = true;
    this.pumpRead();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const pending = this.pendingWrite;
    this.pendingWrite = undefined;
    if (this.closedReason === undefined) {
      // Like close(2) on a kernel socket: unread data or an error means RST, else FIN.
      if (error || this.connection.readableLength > 0 || !this.connected) this.connection.abort();
      else this.connection.shutdown();
      // The connection finishes its close handshake on its own; this socket is done.
      this.connection.handler = orphanHandler(this.connection);
    }
    pending?.callback(error ?? new NetError(ErrorCode.EPIPE, 'the socket was destroyed'));
    callback(error);
  }

  // ---- data movement ------------------------------------------------------------------------

  private pumpWrite(): void {
    const pending = this.pendingWrite;
    if (!pending) return;
    const accepted = this.connection.send(pending.chunk.subarray(pending.offset));
    pending.offset += accepted;
    this.bytesSent += accepted;
    if (pending.offset === pending.chunk.length) {
      this.pendingWrite = undefined;
      pending.callback();
    }
  }

  private pumpRead(): void {
    while (this.pulling && this.connection.readableLength > 0) {
      const chunk = this.connection.read(Math.min(this.connection.readableLength, READ_CHUNK));
      if (!chunk) break;
      this.bytesReceived += chunk.length;
      this.pulling = this.push(chunk);
    }
    if (this.remoteEnded && !this.endPushed && this.connection.readableLength === 0) {
      this.endPushed = true;
      this.push(null);
    }
  }

  private createHandler(): ConnectionHandler {
    return {
      onEstablished: () => {
        this.connected = true;
        this.pumpWrite();
        this.emit('connect');
        this.emit('ready');
      },
      onReadable: () => this.pumpRead(),
      onWritable: () => this.pumpWrite(),
      onRemoteFin: () => {
        this.remoteEnded = true;
        this.pumpRead();
      },
      onIdleTimeout: () => {
        this.emit('timeout');
      },
      onClose: (reason, error) => {
        this.closedReason = reason;
        if (error) {
          this.destroy(error);
          return;
        }
        // A graceful close: whatever is still buffered stays readable, then 'end'.
        this.remoteEnded = true;
        this.pumpRead();
        const pending = this.pendingWrite;
        if (pending) {
          this.pendingWrite = undefined;
          pending.callback(new NetError(ErrorCode.EPIPE, 'the connection closed before the data was sent'));
        }
      },
    };
  }
}

/**
 * The handler of a connection whose socket is gone while its close handshake goes on
 * (an orphan, in Linux terms). Data that arrives now has no reader: reset, as Linux does
 * for data received after close() (RFC 9293 §3.10.7.4, "text" in FIN-WAIT with no user).
 */
function orphanHandler(connection: TcpConnection): ConnectionHandler {
  return {
    onEstablished: () => undefined,
    onReadable: () => connection.abort(),
    onWritable: () => undefined,
    onRemoteFin: () => undefined,
    onIdleTimeout: () => undefined,
    onClose: () => undefined,
  };
}
