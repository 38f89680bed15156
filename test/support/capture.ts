/**
 * Packet captures for the integration tests: dumpcap (Wireshark's capture engine, the
 * one tshark runs underneath) records the kernel's side of the link while the tests
 * run, then tshark reads the file back with checksum validation on to
 * find what the firmware got wrong on the wire (SPEC §9: "captures read by tshark").
 *
 * Call order: `startCapture` → traffic → `capture.stop()` → `analyseCapture(capture.file,
 * { deviceAddress, mtu })` → `capture.remove()`.
 *
 * Complete by proof, not by waiting "long enough" (dumpcap.c, libpcap pcap-linux.c):
 *   - start: dumpcap prints "Capturing on" before it even opens the interface; its
 *     packet socket, ring and filter exist only once it prints "File: ...". After that a
 *     start marker frame is sent out of the interface and startCapture resolves once
 *     dumpcap has written it to the file.
 *   - stop: on SIGINT dumpcap leaves its loop at once; frames still in the kernel ring
 *     (TPACKET_V3 hands a block over only when it fills or its 250 ms timer retires
 *     it) are lost without being counted as dropped. So stop() sends an end marker and
 *     signals dumpcap only once the marker is in the file: the ring is read in order, so
 *     every frame that crossed the interface before the marker is in the file too.
 * A marker that never shows up (bounded waits) rejects with CaptureIncompleteError, so a
 * capture fault is never reported as a protocol failure. Markers are broadcast frames of
 * EtherType 0x88B5 (test/support/clients/capture_marker.py): the device counts each as
 * `ethernet.drop.unknown-type`; `analyseCapture` leaves them out of its counts.
 *
 * What is judged: malformed packets (any source), bad IPv4/TCP/UDP/ICMP checksums from
 * the device, and device packets longer than the MTU. TCP analysis warnings (zero
 * window, retransmissions, out-of-order) are only reported: they describe behaviour
 * under load, which a capture alone cannot call right or wrong.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { CLIENTS_DIRECTORY, CommandError, describeResult, exec, spawnInNamespace, SYSTEM_PYTHON } from './netns.ts';

/** Hang guards for a machine under heavy load, not performance bounds. */
const START_TIMEOUT_MS = 30_000;
const MARKER_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
const ANALYSIS_TIMEOUT_MS = 300_000;
/** How often the file is read while a marker is awaited (dumpcap flushes every 100 ms). */
const MARKER_POLL_MS = 20;
/** The file is searched this much at a time (the state bound of a marker search). */
const MARKER_READ_CHUNK = 1024 * 1024;
/** Kernel capture buffer: big enough that a burst at veth speed does not overrun it. */
const CAPTURE_BUFFER_MIB = 64;
/** IEEE 802 Local Experimental EtherType 1: the marker frames' type. */
const MARKER_ETHERTYPE = 0x88b5;
/** Marker payload: this tag, then 16 random bytes unique to the marker. */
const MARKER_TAG = Buffer.from('piwire-capture-marker:', 'latin1');
/** tshark display filter that leaves the markers out. */
export const NOT_A_MARKER = `!(eth.type == 0x${MARKER_ETHERTYPE.toString(16)} && frame contains ${[...MARKER_TAG].map((byte) => byte.toString(16).padStart(2, '0')).join(':')})`;

export interface CaptureOptions {
  /** The test's own namespace: markers are sent there, never on the host's interfaces. */
  namespace: string;
  interfaceName: string;
  /** Directory for the capture file; a fresh temporary directory by default. */
  directory?: string;
  /** A capture filter (pcap-filter syntax): only matching frames (and the markers) are written. */
  filter?: string;
}

export interface Capture {
  readonly file: string;
  readonly namespace: string;
  readonly interfaceName: string;
  /**
   * Proves the capture complete (end marker written), then stops dumpcap (SIGINT so it
   * finishes the file) and reports what it said at exit. Rejects with
   * CaptureIncompleteError when it cannot prove that.
   */
  stop(): Promise<CaptureStopReport>;
  /** Stops if needed and deletes the capture file and its directory (kept when PIWIRE_KEEP_CAPTURES=1). */
  remove(): Promise<void>;
}

export interface CaptureStopReport {
  /** dumpcap's own closing words: packets captured, received and dropped. */
  summary: string;
  /** Packets dropped before dumpcap saw them (0 when it says nothing). */
  dropped: number;
}

/** The capture itself failed: its file cannot show everything that crossed the interface. */
export class CaptureIncompleteError extends Error {
  constructor(detail: string, stderr: string) {
    super(`capture incomplete (a capture fault, not a protocol failure): ${detail}\ndumpcap said:\n${stderr}`);
    this.name = 'CaptureIncompleteError';
  }
}

/**
 * Starts dumpcap on an interface inside a namespace; resolves once a marker sent after
 * dumpcap opened the interface is in the file. dumpcap itself, not tshark: one process,
 * so a signal reaches the one that writes the file, and no child outlives it holding its
 * output open.
 */
export async function startCapture(options: CaptureOptions): Promise<Capture> {
  const ownDirectory = options.directory === undefined;
  const directory = options.directory ?? (await mkdtemp(join(tmpdir(), 'pw-capture-')));
  const file = join(directory, `${options.namespace}-${options.interfaceName}.pcapng`);
  const filter = options.filter === undefined ? [] : ['-f', `(${options.filter}) or ether proto 0x${MARKER_ETHERTYPE.toString(16)}`];
  const child = spawnInNamespace(options.namespace, [
    'dumpcap', '-n', '-q', '-i', options.interfaceName, '-B', String(CAPTURE_BUFFER_MIB), '-w', file, ...filter,
  ]);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  child.stdout?.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
    child.on('error', () => resolve({ code: 127, signal: null }));
  });
  killOnExit(child);
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  const reader = new MarkerReader(file);
  const mark = async (which: string): Promise<void> => {
    const payload = Buffer.concat([MARKER_TAG, randomBytes(16)]);
    const sent = await exec(options.namespace, [SYSTEM_PYTHON, `${CLIENTS_DIRECTORY}capture_marker.py`, options.interfaceName, payload.toString('hex')], {
      timeoutMs: MARKER_TIMEOUT_MS,
    });
    if (sent.code !== 0 || sent.timedOut) throw new CaptureIncompleteError(`the ${which} marker could not be sent: ${describeResult(sent)}`, stderr);
    const found = await reader.waitFor(payload, MARKER_TIMEOUT_MS, running);
    if (found !== 'written') {
      const why = found === 'exited' ? 'dumpcap exited first' : `not within ${MARKER_TIMEOUT_MS} ms`;
      throw new CaptureIncompleteError(`dumpcap did not write the ${which} marker (${why})`, stderr);
    }
  };

  try {
    // "File: PATH" comes after the interface, ring and filter are set up; "Capturing on" before.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`dumpcap did not start capturing within ${START_TIMEOUT_MS} ms:\n${stderr}`)), START_TIMEOUT_MS);
      const check = (): void => {
        if (/^File: /m.test(stderr)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stderr?.on('data', check);
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`dumpcap exited before capturing (status ${code}, signal ${signal}):\n${stderr}`));
      });
      check();
    });
    await mark('start');
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    if (ownDirectory) await rm(directory, { recursive: true, force: true });
    throw error;
  }

  let stopped: Promise<CaptureStopReport> | undefined;
  const stop = (): Promise<CaptureStopReport> =>
    (stopped ??= (async () => {
      let incomplete: unknown;
      if (!running()) incomplete = new CaptureIncompleteError('dumpcap exited before stop()', stderr);
      else {
        try {
          await mark('end');
        } catch (error) {
          incomplete = error;
        }
        child.kill('SIGINT');
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
      if (incomplete !== undefined) throw incomplete;
      // "Packets captured: N" (after a carriage return) and "Packets received/dropped on interface 'IF': R/D (...)".
      const summary = stderr
        .split(/[\r\n]+/)
        .filter((line) => /^Packets /.test(line))
        .join('; ');
      const droppedMatch = /received\/dropped[^:]*: [0-9]+\/([0-9]+)/.exec(stderr);
      return { summary, dropped: droppedMatch ? Number(droppedMatch[1]) : 0 };
    })());

  return {
    file,
    namespace: options.namespace,
    interfaceName: options.interfaceName,
    stop,
    remove: async () => {
      // A failed stop was reported where it was awaited; cleanup only needs dumpcap gone.
      await stop().catch(() => undefined);
      if (process.env.PIWIRE_KEEP_CAPTURES === '1') return;
      if (ownDirectory) await rm(directory, { recursive: true, force: true });
      else await rm(file, { force: true });
    },
  };
}

/**
 * Reads a growing capture file forward, looking for marker payloads: each search starts
 * where the last one ended, in chunks of MARKER_READ_CHUNK, so a long capture is read
 * once however many markers are awaited.
 */
class MarkerReader {
  private scanned = 0;

  constructor(private readonly file: string) {}

  /** Polls until `payload` is in the file, dumpcap is gone, or `timeoutMs` has passed. */
  async waitFor(payload: Buffer, timeoutMs: number, running: () => boolean): Promise<'written' | 'exited' | 'timed out'> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      // Checked before the search: a marker written just before dumpcap died still counts.
      const alive = running();
      if (await this.search(payload)) return 'written';
      if (!alive) return 'exited';
      if (performance.now() >= deadline) return 'timed out';
      await new Promise((resolve) => setTimeout(resolve, MARKER_POLL_MS));
    }
  }

  private async search(payload: Buffer): Promise<boolean> {
    const handle = await open(this.file, 'r').catch(() => undefined);
    if (handle === undefined) return false;
    try {
      const buffer = Buffer.alloc(MARKER_READ_CHUNK + payload.length);
      for (;;) {
        // Overlap by the payload's length so a marker split across two reads is found.
        const from = Math.max(0, this.scanned - payload.length);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, from);
        if (bytesRead === 0) return false;
        const at = buffer.subarray(0, bytesRead).indexOf(payload);
        if (at >= 0) {
          this.scanned = from + at + payload.length;
          return true;
        }
        this.scanned = from + bytesRead;
        if (bytesRead < buffer.length) return false;
      }
    } finally {
      await handle.close();
    }
  }
}

/** One packet the analysis flagged, as tshark describes it. */
export interface FlaggedPacket {
  frame: number;
  source: string;
  destination: string;
  protocol: string;
  info: string;
  /** Expert messages attached to the packet (checksum, malformed, TCP analysis). */
  messages: string[];
}

export interface CaptureAnalysis {
  /** Frames in the file but the capture markers, and frames sent by the device (IPv4 source = device address). */
  packets: number;
  packetsFromDevice: number;
  /** Malformed packets, whoever sent them. */
  malformed: FlaggedPacket[];
  /** IPv4 header, TCP, UDP or ICMP checksum wrong, in packets from the device. */
  badChecksumsFromDevice: FlaggedPacket[];
  /** Same, from anyone else: informational (a kernel with offloads on would show here). */
  badChecksumsFromOthers: number;
  /**
   * TCP/UDP checksums sent as 0xFFFF where 0x0000 was computed, from the device. Both
   * are one's-complement zero and every receiver accepts them (RFC 1624 §3); Wireshark
   * marks them "Bad" with a warning of their own. Informational, kept apart.
   */
  negativeZeroChecksumsFromDevice: FlaggedPacket[];
  /** Device IPv4 packets longer than the MTU (only when `mtu` is given). */
  oversizedFromDevice: FlaggedPacket[];
  /** Every other expert message of warning level or above, with how often it appeared. */
  expertWarnings: Record<string, number>;
}

export interface AnalysisOptions {
  /** The firmware's IPv4 address: checksums are judged on its packets. */
  deviceAddress: string;
  mtu?: number;
  timeoutMs?: number;
  /**
   * Let Wireshark dissect TCP/UDP payloads (default false: payloads are plain data).
   * Random test bytes otherwise get claimed by heuristic dissectors (Thrift, ...) whose
   * complaints about them, even "malformed", say nothing about the device.
   */
  dissectPayloads?: boolean;
}

// Field order of the tshark -T fields output below.
const FIELDS = [
  'frame.number', 'ip.src', 'ip.dst', 'ip.len', '_ws.col.Protocol', '_ws.col.Info',
  'ip.checksum.status', 'tcp.checksum.status', 'udp.checksum.status', 'icmp.checksum.status',
  '_ws.malformed', '_ws.expert.message', '_ws.expert.severity',
] as const;

/** Wireshark's expert severity for warnings (PI_WARN); errors are higher. */
const SEVERITY_WARNING = 0x00600000;

/** Checksum status 0 is "Bad" in Wireshark's checksum-status value string. */
const BAD = '0';
/** Wireshark's note for a checksum of 0xFFFF where it computed 0x0000. */
const NEGATIVE_ZERO_MESSAGE = /0xffff instead of 0x0000/i;
/** Separates repeated occurrences of one field; never appears in tshark's text. */
const AGGREGATOR = '\u001f';

/**
 * Reads a capture back with IPv4/TCP/UDP checksum validation switched on (Wireshark
 * leaves it off by default) and classifies every packet that is malformed, has a bad
 * checksum, is oversized from the device, or carries an expert warning.
 */
export async function analyseCapture(file: string, options: AnalysisOptions): Promise<CaptureAnalysis> {
  const device = options.deviceAddress;
  if (!/^[0-9.]+$/.test(device)) throw new Error(`not an IPv4 address: ${device}`);
  const flaggedFilter = `${NOT_A_MARKER} && (${[
    '_ws.malformed',
    '_ws.expert.severity >= warning',
    'ip.checksum.status == "Bad"',
    'tcp.checksum.status == "Bad"',
    'udp.checksum.status == "Bad"',
    'icmp.checksum.status == "Bad"',
    ...(options.mtu === undefined ? [] : [`(ip.src == ${device} && ip.len > ${options.mtu})`]),
  ].join(' || ')})`;
  const argv = [
    'tshark', '-n', '-r', file,
    '-o', 'ip.check_checksum:TRUE',
    '-o', 'tcp.check_checksum:TRUE',
    '-o', 'udp.check_checksum:TRUE',
    // "Decode as data" on every port wins over the heuristic dissectors, which only run
    // when no port dissector took the payload.
    ...(options.dissectPayloads ? [] : ['-d', 'tcp.port==1-65535,data', '-d', 'udp.port==1-65535,data']),
    '-Y', flaggedFilter,
    '-T', 'fields', '-E', 'separator=/t', '-E', `aggregator=${AGGREGATOR}`, '-E', 'occurrence=a',
    ...FIELDS.flatMap((field) => ['-e', field]),
    // Whole-file counts ride along in the same pass: statistics taps see every packet,
    // not only the ones the display filter prints.
    '-z', `io,stat,0,${NOT_A_MARKER},ip.src==${device}`,
  ];
  const result = await exec(undefined, argv, { timeoutMs: options.timeoutMs ?? ANALYSIS_TIMEOUT_MS });
  if (result.code !== 0 || result.timedOut) throw new CommandError(result);

  const [fieldText = '', statisticsText = ''] = splitAtStatistics(result.stdout);
  const counts = parseIoStatCounts(statisticsText);
  const analysis: CaptureAnalysis = {
    packets: counts[0] ?? 0,
    packetsFromDevice: counts[1] ?? 0,
    malformed: [],
    badChecksumsFromDevice: [],
    badChecksumsFromOthers: 0,
    negativeZeroChecksumsFromDevice: [],
    oversizedFromDevice: [],
    expertWarnings: {},
  };
  for (const line of fieldText.split('\n')) {
    if (line.trim() === '') continue;
    const columns = line.split('\t');
    const column = (name: (typeof FIELDS)[number]): string => columns[FIELDS.indexOf(name)] ?? '';
    const values = (name: (typeof FIELDS)[number]): string[] => column(name).split(AGGREGATOR).filter((value) => value !== '');
    const messages = values('_ws.expert.message');
    const packet: FlaggedPacket = {
      frame: Number(column('frame.number')),
      source: values('ip.src')[0] ?? '',
      destination: values('ip.dst')[0] ?? '',
      protocol: column('_ws.col.Protocol'),
      info: column('_ws.col.Info'),
      messages,
    };
    const malformed = column('_ws.malformed') !== '' || messages.some((message) => /^Malformed Packet/.test(message));
    const badChecksum = (['ip.checksum.status', 'tcp.checksum.status', 'udp.checksum.status', 'icmp.checksum.status'] as const).some(
      (field) => values(field).includes(BAD),
    );
    // An ICMP error quotes the offending datagram; its inner IP source is a second ip.src.
    const fromDevice = packet.source === device;
    if (malformed) analysis.malformed.push(packet);
    const negativeZero = messages.some((message) => NEGATIVE_ZERO_MESSAGE.test(message));
    if (badChecksum && negativeZero && !messages.some((message) => /^Bad checksum/.test(message))) {
      if (fromDevice) analysis.negativeZeroChecksumsFromDevice.push(packet);
    } else if (badChecksum) {
      if (fromDevice) analysis.badChecksumsFromDevice.push(packet);
      else analysis.badChecksumsFromOthers++;
    }
    const length = Number(values('ip.len')[0] ?? '0');
    if (options.mtu !== undefined && fromDevice && length > options.mtu) analysis.oversizedFromDevice.push(packet);
    // Messages and severities are repeated fields in the same order: pair them up.
    const severities = values('_ws.expert.severity').map(Number);
    for (const [index, message] of messages.entries()) {
      if ((severities[index] ?? SEVERITY_WARNING) < SEVERITY_WARNING) continue;
      if (/^Bad checksum|^Malformed Packet/.test(message) || NEGATIVE_ZERO_MESSAGE.test(message)) continue;
      const key = normaliseMessage(message);
      analysis.expertWarnings[key] = (analysis.expertWarnings[key] ?? 0) + 1;
    }
  }
  return analysis;
}

/** A one-paragraph summary for assertion messages and t.diagnostic(). */
export function formatAnalysis(analysis: CaptureAnalysis, limit = 10): string {
  const list = (packets: FlaggedPacket[]): string =>
    packets
      .slice(0, limit)
      .map((p) => `  #${p.frame} ${p.source} → ${p.destination} ${p.protocol} ${p.info} [${p.messages.join('; ')}]`)
      .join('\n');
  const warnings = Object.entries(analysis.expertWarnings)
    .sort(([, a], [, b]) => b - a)
    .map(([message, count]) => `${count}× ${message}`)
    .join(', ');
  return [
    `${analysis.packets} packets, ${analysis.packetsFromDevice} from the device`,
    `malformed: ${analysis.malformed.length}${analysis.malformed.length ? '\n' + list(analysis.malformed) : ''}`,
    `bad checksums from the device: ${analysis.badChecksumsFromDevice.length}${analysis.badChecksumsFromDevice.length ? '\n' + list(analysis.badChecksumsFromDevice) : ''}`,
    `bad checksums from others: ${analysis.badChecksumsFromOthers}`,
    `0xFFFF-for-zero checksums from the device (valid, RFC 1624): ${analysis.negativeZeroChecksumsFromDevice.length}`,
    `oversized from the device: ${analysis.oversizedFromDevice.length}${analysis.oversizedFromDevice.length ? '\n' + list(analysis.oversizedFromDevice) : ''}`,
    `expert warnings: ${warnings || 'none'}`,
  ].join('\n');
}

function splitAtStatistics(stdout: string): [string, string] {
  const marker = stdout.indexOf('\n====');
  if (marker < 0) return stdout.startsWith('====') ? ['', stdout] : [stdout, ''];
  return [stdout.slice(0, marker), stdout.slice(marker)];
}

/**
 * Frame counts per column from tshark's `io,stat,0,...` table: the one data row looks
 * like `| 0.000 <> 12.345 | 1000 | 123456 | 400 | 23456 |` (frames, bytes per column).
 */
function parseIoStatCounts(text: string): number[] {
  const row = text.split('\n').find((line) => line.includes('<>'));
  if (row === undefined) return [];
  const cells = row
    .split('|')
    .map((cell) => cell.trim())
    .filter((cell) => cell !== '');
  // cells: interval, frames1, bytes1, frames2, bytes2, ...
  const counts: number[] = [];
  for (let index = 1; index < cells.length; index += 2) counts.push(Number(cells[index]));
  return counts;
}

/** Groups messages that differ only in numbers (`should be 0x1a2b`, sequence numbers). */
function normaliseMessage(message: string): string {
  return message.replace(/0x[0-9a-f]+/gi, 'N').replace(/[0-9]+/g, 'N');
}

const liveCaptures = new Set<ChildProcess>();
let exitHandlerInstalled = false;

/** dumpcap must not outlive the test process (it would keep the namespace alive). */
function killOnExit(child: ChildProcess): void {
  liveCaptures.add(child);
  child.on('exit', () => liveCaptures.delete(child));
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', () => {
    for (const capture of liveCaptures) capture.kill('SIGKILL');
  });
}

/**
 * `tshark -T fields` rows of a capture for a display filter: one array of field values a
 * packet, tab-separated by tshark. Absolute sequence numbers, every TCP port dissected as
 * data, TCP checksums verified (`tcp.checksum.status`: 1 good, 0 bad).
 */
export async function tsharkRows(file: string, filter: string, fields: string[]): Promise<string[][]> {
  const result = await exec(
    undefined,
    [
      'tshark', '-n', '-r', file, '-o', 'tcp.check_checksum:TRUE', '-o', 'tcp.relative_sequence_numbers:FALSE', '-d', 'tcp.port==1-65535,data',
      '-Y', filter, '-T', 'fields', '-E', 'separator=\t', ...fields.flatMap((field) => ['-e', field]),
    ],
    { timeoutMs: ANALYSIS_TIMEOUT_MS },
  );
  if (result.code !== 0) throw new Error(`tshark failed: ${describeResult(result)}`);
  return result.stdout
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => line.split('\t'));
}
