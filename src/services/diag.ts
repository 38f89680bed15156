/**
 * The classic diagnostic services, for field checks and benchmarks (SPEC §2,
 * `services.diag`): RFC 862 echo (TCP 7), RFC 863 discard (TCP 9) and RFC 864
 * character generator (TCP 19), served on the device's own TCP.
 */
import type { SocketApi } from '../socket/net.ts';
import type { Server } from '../socket/server.ts';
import type { Socket } from '../socket/socket.ts';

export const DiagPort = { ECHO: 7, DISCARD: 9, CHARGEN: 19 } as const;

/**
 * Buffers of a diag connection by default (`services.diagBuffer`): large, so that a
 * throughput check is limited by the path and not the window (RFC 7323 window scaling
 * negotiates the shift from it). The sensor and shell services keep tcp.rcvBuf/sndBuf.
 * Rings take memory only while they hold data, so idle diag connections cost nothing;
 * a busy one up to twice this.
 */
export const DIAG_BUFFER_DEFAULT = 256 * 1024;

export interface DiagServers {
  echo: Server;
  discard: Server;
  chargen: Server;
  close(): void;
}

/** RFC 862: whatever arrives is sent back; the peer's FIN ends our side once all is echoed. */
export function serveEcho(socket: Socket): void {
  socket.on('error', () => socket.destroy());
  socket.pipe(socket);
}

/** RFC 863: read and throw away; close when the peer closes. */
export function serveDiscard(socket: Socket): void {
  socket.on('error', () => socket.destroy());
  socket.on('data', () => undefined);
  socket.on('end', () => socket.end());
}

/**
 * RFC 864: the 95 printable ASCII characters, 72 per line, each line starting one
 * character further on, CR LF after each; sent until the peer closes. The pattern
 * repeats every 95 lines (7,030 bytes), so one precomputed block of whole periods
 * serves every write. Nine periods (63,270 bytes): each write costs the socket layer
 * and Node's stream machinery the same whatever its size, so large writes keep that
 * cost per byte low (a GiB is ~17,000 writes instead of ~153,000).
 *
 * The block is built by the first chargen connection, not when this module loads: the
 * configuration imports the module whether diag is on or not (off by default), and a
 * device that never serves chargen need not hold the 63 KB (issue 13, idle RSS).
 */
export const CHARGEN_PERIOD_LINES = 95;
const CHARGEN_BLOCK_PERIODS = 9;
let block: Buffer | undefined;

/** The block every chargen write sends, built on the first call. */
export function chargenBlock(): Buffer {
  block ??= buildChargenBlock();
  return block;
}

/** Whether `chargenBlock` has built the block yet (for the test of the idle footprint). */
export function chargenBlockBuilt(): boolean {
  return block !== undefined;
}

function buildChargenBlock(): Buffer {
  const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');
  const lines: string[] = [];
  for (let line = 0; line < CHARGEN_PERIOD_LINES; line++) {
    const start = line % 95;
    lines.push((printable + printable).slice(start, start + 72) + '\r\n');
  }
  return Buffer.from(lines.join('').repeat(CHARGEN_BLOCK_PERIODS), 'ascii');
}

export function serveChargen(socket: Socket): void {
  const pattern = chargenBlock();
  let stopped = false;
  const stop = (): void => {
    stopped = true;
  };
  socket.on('error', () => {
    stop();
    socket.destroy();
  });
  socket.on('close', stop);
  // The peer's data is ignored (RFC 864); its FIN ends the generator.
  socket.on('data', () => undefined);
  socket.on('end', () => {
    stop();
    socket.end();
  });
  const fill = (): void => {
    while (!stopped && socket.write(pattern)) {
      // keep writing until the stream asks us to wait
    }
  };
  socket.on('drain', fill);
  fill();
}

export function startDiagServices(api: SocketApi, buffer = DIAG_BUFFER_DEFAULT): DiagServers {
  const buffers = { rcvBuf: buffer, sndBuf: buffer };
  const echo = api.createServer({ allowHalfOpen: true, ...buffers }, serveEcho);
  const discard = api.createServer({ allowHalfOpen: true, ...buffers }, serveDiscard);
  const chargen = api.createServer(buffers, serveChargen);
  echo.listen(DiagPort.ECHO);
  discard.listen(DiagPort.DISCARD);
  chargen.listen(DiagPort.CHARGEN);
  return {
    echo,
    discard,
    chargen,
    close: () => {
      echo.close();
      discard.close();
      chargen.close();
    },
  };
}
