/**
 * The loss section's longest stall, measured from the wire (issue 12): a tcpdump capture
 * on the kernel client's interface (`veth-lan`, the LAN end of the bridged path) for
 * each transfer, and the longest time without progress read from the frames' kernel
 * timestamps, so neither the Python client's scheduling nor tcpdump's own changes it
 * (the packet socket stamps a frame when it crosses the interface, not when it is read).
 *
 * Progress, per mode (bench/clients/lossy_bulk.py's modes; the client is on this side):
 *   push  the device's cumulative ACK of the client's data advancing, as it arrives at
 *         the client (the sender's view: what its TCP can free and send past); timed
 *         from the client's first data segment.
 *   pull  the in-order edge of the device's data arriving at the client advancing (a
 *         segment beyond a hole counts when the hole is filled, as a receiving
 *         application sees it); timed from the first data byte (a lost handshake ACK
 *         is not data recovery, as the client's own measure).
 *   echo  the in-order edge of the echoed data, timed from the client's first data
 *         segment; each stall is also charged to the side that held it up: the
 *         server's own sending when, at the stall's start, the device had acknowledged
 *         client data it had not yet echoed (`serverStallMs`), else the client's sending.
 *
 * The longest stall is the longest gap between consecutive progress events from the
 * start to the last progress; a transfer that never completed also counts its tail, up
 * to the last frame captured. A capture that lost frames (tcpdump's "dropped by
 * kernel") cannot be trusted for this and says so (`captureDropped`).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startCapture, type RunningCapture } from './capture.ts';

export type WireMode = 'push' | 'pull' | 'echo';

export interface WireStall {
  /** The longest time without progress, ms (see the module comment). */
  longestStallMs: number;
  /** Progress (bytes) at the start of the longest stall. */
  stallAtByte: number;
  /** echo only: the longest stall that began while the device held data to echo; and the longest that began with none held. */
  serverStallMs: number | null;
  clientStallMs: number | null;
  /** Whether the capture shows all `bytes` delivered (push: acknowledged). */
  completed: boolean;
  /** Frames of the connection in the capture. */
  frames: number;
  /** Frames tcpdump reported dropped (the figure is then not trustworthy). */
  captureDropped: number;
  /** Where the capture was kept (a stall over the `keep` threshold), if it was. */
  capture?: string;
}

/** One captured frame: its kernel timestamp (µs) and its first bytes. */
export interface CapturedFrame {
  timeUs: number;
  data: Uint8Array;
}

/** How long `finish` waits for the capture to show the whole transfer. */
const FINISH_WAIT_MS = 3000;

export interface WireCapture {
  /**
   * Stops tcpdump, reads the capture and measures the transfer; the file is removed, or
   * kept as `keep.file` when the longest stall passed `keep.overMs`.
   */
  finish(mode: WireMode, bytes: number, keep?: { overMs: number; file: string }): Promise<WireStall>;
  /** Stops tcpdump and removes the file without measuring (a failed transfer). */
  discard(): Promise<void>;
}

/**
 * Starts tcpdump on `interfaceName` in `namespace` for TCP to or from `port`, headers
 * only (bench/lib/capture.ts), and resolves once it is listening.
 */
export async function startWireCapture(namespace: string, interfaceName: string, port: number): Promise<WireCapture> {
  const directory = mkdtempSync(join(tmpdir(), 'pw-wire-stall-'));
  const file = join(directory, 'transfer.pcap');
  let capture: RunningCapture;
  try {
    capture = await startCapture(namespace, interfaceName, file, ['tcp', 'port', String(port)]);
  } catch (error) {
    rmSync(directory, { recursive: true, force: true });
    throw error;
  }
  return {
    async finish(mode, bytes, keep) {
      try {
        // Until the file shows the transfer complete (tcpdump may trail the transfer on a
        // loaded machine), at most FINISH_WAIT_MS; a transfer that never completed waits it all.
        const deadline = Date.now() + FINISH_WAIT_MS;
        while (Date.now() < deadline && !measureWireStall(readPcap(readFileSync(file)), mode, port, bytes).completed) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const dropped = await capture.stop();
        const frames = readPcap(readFileSync(file));
        const stall: WireStall = { ...measureWireStall(frames, mode, port, bytes), captureDropped: dropped };
        if (keep !== undefined && stall.longestStallMs > keep.overMs) {
          mkdirSync(dirname(keep.file), { recursive: true });
          copyFileSync(file, keep.file);
          stall.capture = keep.file;
        }
        return stall;
      } finally {
        rmSync(directory, { recursive: true, force: true });
      }
    },
    async discard() {
      await capture.stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** The frames of a classic pcap file (microsecond or nanosecond magic, either byte order). */
export function readPcap(file: Uint8Array): CapturedFrame[] {
  if (file.length < 24) return [];
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = view.getUint32(0, true);
  let little: boolean;
  let nanoseconds: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) {
    little = true;
    nanoseconds = magic === 0xa1b23c4d;
  } else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) {
    little = false;
    nanoseconds = magic === 0x4d3cb2a1;
  } else {
    throw new Error(`not a pcap file (magic ${magic.toString(16)})`);
  }
  const frames: CapturedFrame[] = [];
  let offset = 24;
  while (offset + 16 <= file.length) {
    const seconds = view.getUint32(offset, little);
    const fraction = view.getUint32(offset + 4, little);
    const captured = view.getUint32(offset + 8, little);
    offset += 16;
    if (offset + captured > file.length) break; // a truncated last record
    frames.push({ timeUs: seconds * 1e6 + (nanoseconds ? fraction / 1000 : fraction), data: file.subarray(offset, offset + captured) });
    offset += captured;
  }
  return frames;
}

interface Segment {
  timeUs: number;
  /** From the client (the port is the destination). */
  fromClient: boolean;
  syn: boolean;
  seq: number;
  ack: number;
  hasAck: boolean;
  payload: number;
}

/** IPv4/TCP over Ethernet to or from `port`; anything else is skipped. */
function parseSegment(frame: CapturedFrame, port: number): Segment | undefined {
  const data = frame.data;
  if (data.length < 14 + 20 + 20) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (view.getUint16(12) !== 0x0800) return undefined;
  const ip = 14;
  const ipHeader = (view.getUint8(ip) & 0x0f) * 4;
  if (view.getUint8(ip + 9) !== 6) return undefined;
  const totalLength = view.getUint16(ip + 2);
  const tcp = ip + ipHeader;
  if (data.length < tcp + 20) return undefined;
  const sourcePort = view.getUint16(tcp);
  const destinationPort = view.getUint16(tcp + 2);
  if (sourcePort !== port && destinationPort !== port) return undefined;
  const tcpHeader = (view.getUint8(tcp + 12) >> 4) * 4;
  const flags = view.getUint8(tcp + 13);
  return {
    timeUs: frame.timeUs,
    fromClient: destinationPort === port,
    syn: (flags & 0x02) !== 0,
    seq: view.getUint32(tcp + 4),
    ack: view.getUint32(tcp + 8),
    hasAck: (flags & 0x10) !== 0,
    payload: Math.max(0, totalLength - ipHeader - tcpHeader),
  };
}

/** Sequence number relative to an ISN (transfers here are far below 2^31 bytes). */
const relative = (seq: number, isn: number): number => (seq - isn - 1) >>> 0;

/** In-order edge of one direction's data: bytes from 0, with the segments beyond a hole kept until it is filled. */
class InOrderEdge {
  edge = 0;
  private readonly beyond: [number, number][] = [];

  /** Adds [start, end); true when the edge moved. */
  add(start: number, end: number): boolean {
    if (end <= this.edge) return false;
    if (start > this.edge) {
      this.beyond.push([start, end]);
      return false;
    }
    this.edge = end;
    // Fold in what the filled hole joined (bounded by the segments of one transfer).
    let moved = true;
    while (moved) {
      moved = false;
      for (let index = this.beyond.length - 1; index >= 0; index--) {
        const [from, to] = this.beyond[index]!;
        if (from <= this.edge) {
          if (to > this.edge) this.edge = to;
          this.beyond.splice(index, 1);
          moved = true;
        }
      }
    }
    return true;
  }
}

/** The longest stall of one transfer in `frames` (see the module comment); exported for its test. */
export function measureWireStall(frames: readonly CapturedFrame[], mode: WireMode, port: number, bytes: number): Omit<WireStall, 'captureDropped'> {
  let clientIsn: number | undefined;
  let deviceIsn: number | undefined;
  let origin: number | undefined;
  let lastProgress: number | undefined;
  let position = 0;
  let longest = 0;
  let stallAt = 0;
  let longestServer = 0;
  let longestClient = 0;
  let heldAtLast = 0;
  let deviceAcked = 0;
  let lastTime = 0;
  let count = 0;
  const echoed = new InOrderEdge();
  const progress = (timeUs: number, to: number): void => {
    if (lastProgress !== undefined) {
      const gap = timeUs - lastProgress;
      if (gap > longest) {
        longest = gap;
        stallAt = position;
      }
      if (heldAtLast > 0) longestServer = Math.max(longestServer, gap);
      else longestClient = Math.max(longestClient, gap);
    }
    lastProgress = timeUs;
    position = to;
    heldAtLast = mode === 'echo' ? deviceAcked - echoed.edge : 0;
  };
  for (const frame of frames) {
    const segment = parseSegment(frame, port);
    if (segment === undefined) continue;
    count++;
    lastTime = segment.timeUs;
    if (segment.syn) {
      if (segment.fromClient) clientIsn = segment.seq;
      else deviceIsn = segment.seq;
      continue;
    }
    if (clientIsn === undefined || deviceIsn === undefined) continue;
    if (segment.fromClient) {
      if (segment.payload > 0 && origin === undefined && mode !== 'pull') {
        origin = segment.timeUs;
        progress(origin, 0);
      }
      continue;
    }
    // From the device: its ACK of the client's data, and its data.
    if (segment.hasAck) {
      const acked = Math.min(bytes, relative(segment.ack, clientIsn));
      if (acked > deviceAcked && acked <= bytes) {
        deviceAcked = acked;
        if (mode === 'push' && origin !== undefined) progress(segment.timeUs, acked);
      }
    }
    if (segment.payload > 0 && mode !== 'push') {
      const start = relative(segment.seq, deviceIsn);
      const end = Math.min(bytes, start + segment.payload);
      if (start >= bytes) continue;
      if (mode === 'pull' && origin === undefined) {
        origin = segment.timeUs;
        progress(origin, 0);
      }
      if (echoed.add(start, end)) progress(segment.timeUs, echoed.edge);
    }
  }
  const delivered = mode === 'push' ? deviceAcked : echoed.edge;
  const completed = delivered >= bytes;
  // A transfer that did not complete has stalled at least since its last progress.
  const tail = !completed && lastProgress !== undefined ? lastTime - lastProgress : 0;
  const serverTail = heldAtLast > 0 ? tail : 0;
  return {
    longestStallMs: Math.max(longest, tail) / 1000,
    stallAtByte: stallAt,
    serverStallMs: mode === 'echo' ? Math.max(longestServer, serverTail) / 1000 : null,
    clientStallMs: mode === 'echo' ? Math.max(longestClient, tail - serverTail) / 1000 : null,
    completed,
    frames: count,
  };
}
