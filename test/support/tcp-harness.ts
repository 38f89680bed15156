/**
 * Test harness for the TCP core, in the smoltcp / gVisor style: one TcpStack on a
 * ManualClock whose IpSender captures every segment it emits (parsed back with
 * parseTcp, checksum verified), a remote peer played by the test with segment
 * templates and overrides (`send`), exact expectations on what comes back (`recv`,
 * `recvNothing`), and state factories that drive a connection into a given RFC state.
 *
 * Addresses: the stack is LOCAL (198.18.0.1) port LOCAL_PORT; the peer is REMOTE
 * (198.18.0.2) port REMOTE_PORT. Our ISS is fixed (LOCAL_ISS, injectable), the peer's
 * is REMOTE_ISS, so every test can name exact sequence numbers.
 */
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/time.ts';
import { Counters } from '../../src/stats.ts';
import { RecordingEventSink } from '../../src/events.ts';
import { SeededRandom } from '../../src/random.ts';
import { parseIpv4 } from '../../src/net/address.ts';
import type { NetError } from '../../src/errors.ts';
import { emitTcp, formatTcp, parseTcp, tcpHeaderLength, TcpFlag, type TcpOptions, type TcpRepr } from '../../src/wire/tcp.ts';
import { defaultTcpConfig, type ConnectionSettings, type TcpConfig } from '../../src/tcp/config.ts';
import { TcpStack, type TcpListener } from '../../src/tcp/stack.ts';
import type { CloseReason, ConnectionHandler, TcpConnection } from '../../src/tcp/connection.ts';
import { FixedIsn } from '../../src/tcp/isn.ts';
import { FixedTimestampOffsets, windowShiftFor } from '../../src/tcp/timestamps.ts';
import { seqAdd } from '../../src/tcp/seq.ts';
import { delayedAckTimeout } from '../../src/tcp/ack-policy.ts';
import { tcpSegment, type Checker, type TcpSegment } from './checker.ts';

export const LOCAL = parseIpv4('198.18.0.1')!;
export const REMOTE = parseIpv4('198.18.0.2')!;
export const LOCAL_PORT = 80;
export const REMOTE_PORT = 49500;
export const LOCAL_ISS = 10_000;
export const REMOTE_ISS = 50_000;
export const REMOTE_WINDOW = 64_000;
/** Our RFC 7323 timestamp offset: TSval = the virtual clock in ms + TS_OFFSET. */
export const TS_OFFSET = 1_000_000;
export const { ACK, SYN, FIN, RST, PSH } = TcpFlag;

/** A segment as the tests describe it. */
export interface Segment {
  sourcePort: number;
  destinationPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  options: TcpOptions;
  payload: Uint8Array;
}

export interface HarnessOptions {
  config?: Partial<TcpConfig>;
  /** Our ISS (default LOCAL_ISS). */
  iss?: number;
  /** The peer's ISS used by the templates (default REMOTE_ISS). */
  remoteIss?: number;
  mss?: number;
  /** Our RFC 7323 timestamp offset (default TS_OFFSET). */
  tsOffset?: number;
}

/** Records every callback of a connection's handler. */
export class HandlerRecorder implements ConnectionHandler {
  readonly calls: string[] = [];
  closeReason: CloseReason | undefined;
  closeError: NetError | undefined;
  closes = 0;
  onEstablished(): void {
    this.calls.push('established');
  }
  onReadable(): void {
    this.calls.push('readable');
  }
  onWritable(): void {
    this.calls.push('writable');
  }
  onRemoteFin(): void {
    this.calls.push('remote-fin');
  }
  onIdleTimeout(): void {
    this.calls.push('idle');
  }
  onClose(reason: CloseReason, error?: NetError): void {
    this.calls.push(`close:${reason}`);
    this.closeReason = reason;
    this.closeError = error;
    this.closes++;
  }
}

export class TcpHarness {
  readonly clock = new ManualClock(0);
  readonly counters = new Counters();
  readonly events = new RecordingEventSink();
  readonly config: TcpConfig;
  readonly stack: TcpStack;
  readonly remoteIss: number;
  readonly localIss: number;
  readonly tsOffset: number;
  /** Segments the stack sent, oldest first. */
  readonly outbox: Segment[] = [];
  /** The bytes the stack emitted for each captured segment (for the checkers). */
  private readonly emitted = new WeakMap<Segment, Uint8Array>();
  /** Connections handed to onAccept. */
  readonly accepted: TcpConnection[] = [];
  readonly recorder = new HandlerRecorder();
  listener: TcpListener | undefined;
  connection: TcpConnection | undefined;
  pollRequests = 0;

  constructor(options: HarnessOptions = {}) {
    const base = defaultTcpConfig(options.mss ?? 1460);
    // Keepalive off unless a test turns it on, so idle tests see no probes.
    this.config = { ...base, keepalive: { ...base.keepalive, enabled: false }, ...options.config };
    this.localIss = options.iss ?? LOCAL_ISS;
    this.tsOffset = options.tsOffset ?? TS_OFFSET;
    this.remoteIss = options.remoteIss ?? REMOTE_ISS;
    this.stack = new TcpStack({
      ip: {
        sendIpv4: (destination, protocol, payloadLength, fill) => {
          assert.equal(destination, REMOTE);
          assert.equal(protocol, 6);
          const buffer = new Uint8Array(payloadLength);
          fill(buffer, 0);
          const parsed = parseTcp(buffer, LOCAL, destination, { verifyChecksum: true });
          assert.ok(parsed.ok, `the stack emitted an unparsable segment (${parsed.ok ? '' : parsed.error})`);
          const repr = parsed.value;
          const segment: Segment = {
            sourcePort: repr.sourcePort,
            destinationPort: repr.destinationPort,
            seq: repr.sequenceNumber,
            ack: repr.acknowledgmentNumber,
            flags: repr.flags,
            window: repr.window,
            options: repr.options,
            payload: repr.payload.slice(),
          };
          this.emitted.set(segment, buffer);
          this.outbox.push(segment);
          return 'sent';
        },
      },
      localAddress: LOCAL,
      config: this.config,
      clock: this.clock,
      random: new SeededRandom(1),
      counters: this.counters,
      events: this.events,
      requestPoll: () => {
        this.pollRequests++;
      },
      isn: new FixedIsn(this.localIss),
      timestampOffsets: new FixedTimestampOffsets(this.tsOffset),
    });
  }

  // ---- the peer's side ----------------------------------------------------------------------

  /** The peer's template: an ACK of everything up to our SYN, in sequence after its SYN. */
  template(): Segment {
    return {
      sourcePort: REMOTE_PORT,
      destinationPort: LOCAL_PORT,
      seq: seqAdd(this.remoteIss, 1),
      ack: seqAdd(this.localIss, 1),
      flags: ACK,
      window: REMOTE_WINDOW,
      options: {},
      payload: new Uint8Array(0),
    };
  }

  /** Delivers a segment from the peer (template + overrides) at the current instant. */
  send(overrides: Partial<Segment> = {}): void {
    const segment = { ...this.template(), ...overrides };
    this.stack.input(REMOTE, LOCAL, encode(segment), this.clock.now());
  }

  /** Runs `deliver` (segments sent with `send`) as one receive batch at the current instant (TcpStack.beginBatch). */
  batch(deliver: () => void): void {
    this.stack.beginBatch(this.clock.now());
    try {
      deliver();
    } finally {
      this.stack.endBatch();
    }
  }

  /** Raw bytes from the peer (fuzzing, corrupt checksums). */
  sendBytes(bytes: Uint8Array): void {
    this.stack.input(REMOTE, LOCAL, bytes, this.clock.now());
  }

  /** Takes the oldest emitted segment and checks the given fields exactly. */
  recv(expected: Partial<Segment> = {}): Segment {
    const segment = this.outbox.shift();
    assert.ok(segment !== undefined, `expected a segment ${describe(expected)}, got nothing`);
    for (const [key, value] of Object.entries(expected) as [keyof Segment, unknown][]) {
      if (key === 'payload') {
        assert.deepEqual(Buffer.from(segment.payload), Buffer.from(value as Uint8Array), `payload of ${show(segment)}`);
      } else if (key === 'flags') {
        assert.equal(formatFlags(segment.flags), formatFlags(value as number), `flags of ${show(segment)}`);
      } else {
        assert.deepEqual(segment[key], value, `${key} of ${show(segment)}`);
      }
    }
    return segment;
  }

  /**
   * Takes the oldest emitted segment and runs checkers (test/support/checker.ts) on the
   * bytes the stack sent: `h.expect(checker.tcpFlags(SYN | ACK), checker.ackNum(REMOTE_ISS + 1))`.
   */
  expect(...checkers: Checker<TcpSegment>[]): TcpSegment {
    const segment = this.outbox.shift();
    assert.ok(segment !== undefined, 'expected a segment, got nothing');
    return this.check(segment, ...checkers);
  }

  /** Runs checkers on the bytes the stack sent for `segment` (one of `outbox`/`drain()`). */
  check(segment: Segment, ...checkers: Checker<TcpSegment>[]): TcpSegment {
    const bytes = this.emitted.get(segment);
    assert.ok(bytes !== undefined, 'not a segment this harness captured');
    return tcpSegment(bytes, LOCAL, REMOTE, ...checkers);
  }

  recvNothing(): void {
    const segment = this.outbox[0];
    assert.equal(segment, undefined, segment ? `expected nothing, got ${show(segment)}` : '');
  }

  /** Takes every emitted segment. */
  drain(): Segment[] {
    return this.outbox.splice(0);
  }

  // ---- time ---------------------------------------------------------------------------------

  /** Moves the clock to `instant`, running every timer due on the way at its own instant. */
  advanceTo(instant: number): void {
    for (;;) {
      const next = this.stack.pollAt();
      if (next === undefined || next > instant) break;
      this.clock.set(Math.max(this.clock.now(), next));
      this.stack.poll(this.clock.now());
    }
    this.clock.set(instant);
    this.stack.poll(instant);
  }

  advance(ms: number): void {
    this.advanceTo(this.clock.now() + ms);
  }

  /** Moves the clock on by the connection's delayed-ACK timeout (ack-policy.ts `delayedAckTimeout`): a lone segment's ACK is then due. */
  advanceDelayedAck(): void {
    assert.ok(this.connection, 'a connection');
    this.advance(delayedAckTimeout(this.connection));
  }

  // ---- state factories ------------------------------------------------------------------------

  listen(port = LOCAL_PORT, backlog?: number, buffers: ConnectionSettings = {}): TcpListener {
    this.listener = this.stack.listen(port, backlog === undefined ? { ...buffers } : { backlog, ...buffers }, (connection) => {
      connection.handler = this.recorder;
      this.accepted.push(connection);
      this.connection = connection;
    });
    return this.listener;
  }

  /** LISTEN → SYN-RECEIVED: the peer's SYN arrived and our SYN-ACK was checked. */
  synReceived(options: TcpOptions = { mss: 1460 }): void {
    this.listen();
    this.send({ seq: this.remoteIss, ack: 0, flags: SYN, options });
    this.recv({ seq: this.localIss, ack: seqAdd(this.remoteIss, 1), flags: SYN | ACK });
  }

  /** A passive open completed: ESTABLISHED, accepted, handler recording. */
  established(options: TcpOptions = { mss: 1460 }): TcpConnection {
    this.synReceived(options);
    this.send();
    assert.equal(this.accepted.length, 1, 'the connection was accepted');
    const connection = this.accepted[0]!;
    assert.equal(connection.state, 'ESTABLISHED');
    return connection;
  }

  /** An active open in SYN-SENT from LOCAL_PORT, its SYN checked. */
  synSent(connectOptions: { timeout?: number } = {}): TcpConnection {
    const connection = this.stack.connect(REMOTE, REMOTE_PORT, { localPort: LOCAL_PORT, ...connectOptions });
    connection.handler = this.recorder;
    this.connection = connection;
    // RFC 2018 §2, RFC 7323 §2-3: our SYN offers SACK, window scaling and timestamps when configured (the default).
    this.recv({ seq: this.localIss, ack: 0, flags: SYN, options: this.synOptions() });
    assert.equal(connection.state, 'SYN-SENT');
    return connection;
  }

  /** The options our SYN carries at the current instant with this configuration. */
  synOptions(): TcpOptions {
    const options: TcpOptions = { mss: this.config.mss };
    if (this.config.sack) options.sackPermitted = true;
    if (this.config.timestamps) options.timestamps = { value: this.tsval(), echo: 0 };
    if (this.config.windowScale) options.windowScale = windowShiftFor(this.config.rcvBuf);
    return options;
  }

  /** Our TSval at the current instant (RFC 7323 §3.2). */
  tsval(): number {
    return (this.clock.now() + this.tsOffset) >>> 0;
  }

  /** An active open completed. */
  activeEstablished(options: TcpOptions = { mss: 1460 }): TcpConnection {
    const connection = this.synSent();
    this.send({ seq: this.remoteIss, flags: SYN | ACK, options });
    this.recv({ seq: seqAdd(this.localIss, 1), ack: seqAdd(this.remoteIss, 1), flags: ACK });
    assert.equal(connection.state, 'ESTABLISHED');
    return connection;
  }

  /** We closed first: FIN sent, not yet acknowledged. */
  finWait1(): TcpConnection {
    const connection = this.established();
    connection.shutdown();
    this.recv({ seq: seqAdd(this.localIss, 1), ack: seqAdd(this.remoteIss, 1), flags: FIN | ACK });
    assert.equal(connection.state, 'FIN-WAIT-1');
    return connection;
  }

  /** Our FIN acknowledged; the peer may still send. */
  finWait2(): TcpConnection {
    const connection = this.finWait1();
    this.send({ ack: seqAdd(this.localIss, 2) });
    this.recvNothing();
    assert.equal(connection.state, 'FIN-WAIT-2');
    return connection;
  }

  /** The peer closed first; we may still send. */
  closeWait(): TcpConnection {
    const connection = this.established();
    this.send({ flags: FIN | ACK });
    this.recv({ seq: seqAdd(this.localIss, 1), ack: seqAdd(this.remoteIss, 2), flags: ACK });
    assert.equal(connection.state, 'CLOSE-WAIT');
    return connection;
  }

  /** CLOSE-WAIT, then we closed: our FIN is outstanding. */
  lastAck(): TcpConnection {
    const connection = this.closeWait();
    connection.shutdown();
    this.recv({ seq: seqAdd(this.localIss, 1), ack: seqAdd(this.remoteIss, 2), flags: FIN | ACK });
    assert.equal(connection.state, 'LAST-ACK');
    return connection;
  }

  /** Both FINs crossed: CLOSING. */
  closing(): TcpConnection {
    const connection = this.finWait1();
    this.send({ flags: FIN | ACK });
    this.recv({ seq: seqAdd(this.localIss, 2), ack: seqAdd(this.remoteIss, 2), flags: ACK });
    assert.equal(connection.state, 'CLOSING');
    return connection;
  }

  /** We closed first and the peer's FIN followed: TIME-WAIT (entered at the current instant). */
  timeWait(): TcpConnection {
    const connection = this.finWait2();
    this.send({ flags: FIN | ACK, ack: seqAdd(this.localIss, 2) });
    this.recv({ seq: seqAdd(this.localIss, 2), ack: seqAdd(this.remoteIss, 2), flags: ACK });
    assert.equal(connection.state, 'TIME-WAIT');
    return connection;
  }
}

/** Serializes a segment from the peer (REMOTE → LOCAL), checksum filled. */
export function encode(segment: Segment): Uint8Array {
  const repr: TcpRepr = {
    sourcePort: segment.sourcePort,
    destinationPort: segment.destinationPort,
    sequenceNumber: segment.seq >>> 0,
    acknowledgmentNumber: segment.ack >>> 0,
    flags: segment.flags,
    window: segment.window,
    urgentPointer: 0,
    options: segment.options,
    payload: segment.payload,
  };
  const bytes = new Uint8Array(tcpHeaderLength(repr.options) + repr.payload.length);
  emitTcp(repr, bytes, REMOTE, LOCAL);
  return bytes;
}

export function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Deterministic test data: byte i is (i * 7 + seed) & 0xff. */
export function pattern(length: number, seed = 0): Uint8Array {
  const data = new Uint8Array(length);
  for (let i = 0; i < length; i++) data[i] = (i * 7 + seed) & 0xff;
  return data;
}

export function formatFlags(flags: number): string {
  const names: string[] = [];
  for (const [name, bit] of Object.entries(TcpFlag)) if (flags & bit) names.push(name);
  return names.join('|') || 'none';
}

function show(segment: Segment): string {
  return formatTcp({
    sourcePort: segment.sourcePort,
    destinationPort: segment.destinationPort,
    sequenceNumber: segment.seq,
    acknowledgmentNumber: segment.ack,
    flags: segment.flags,
    window: segment.window,
    urgentPointer: 0,
    options: segment.options,
    payload: segment.payload,
  });
}

function describe(expected: Partial<Segment>): string {
  const fields = Object.entries(expected).map(([key, value]) =>
    key === 'flags' ? `flags=${formatFlags(value as number)}` : key === 'payload' ? `payload[${(value as Uint8Array).length}]` : `${key}=${JSON.stringify(value)}`,
  );
  return `{ ${fields.join(', ')} }`;
}
