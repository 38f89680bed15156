/**
 * The objects of the per-segment paths keep their V8 shape (map) when a field first
 * holds a value outside the small integers: a sequence number, timestamp or address at
 * or above 2^31, or a fraction (CUBIC). Such fields start at `DOUBLE_ZERO`
 * (src/wire/bytes.ts), so they have a double representation from the first object on;
 * started at 0, the first such value (a random moment, ISNs and TSvals being random)
 * made V8 deprecate the map and deoptimise every function optimised for it, the whole
 * receive path at once (bench/BASELINE.md, "the receive path's warm-up").
 *
 * Checked with V8's own `%HaveSameMap` on two fresh objects, one of them then given
 * such values: a field that changed representation gives the written object a new map.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { parseIpv4 } from '../../src/net/address.ts';
import { reusableTcpRepr } from '../../src/wire/tcp.ts';
import { emptyIpv4HeaderRepr } from '../../src/wire/ipv4.ts';
import { Scoreboard } from '../../src/tcp/scoreboard.ts';
import { NewReno } from '../../src/tcp/congestion.ts';
import { Cubic } from '../../src/tcp/cubic.ts';
import { createStackPair, PEER_IP } from '../support/stack-pair.ts';
import type { TcpConnection } from '../../src/tcp/connection.ts';
import { allocatedInOptimisedLoop } from '../support/allocated-bytes.ts';

setFlagsFromString('--allow-natives-syntax');
const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;
const isSmallInteger = new Function('value', 'return %IsSmi(value)') as (value: unknown) => boolean;

const HIGH_SEQUENCE = 0xffff_fff0;

/** CUBIC's private state object (src/tcp/cubic.ts), undefined until its first use. */
function stateField(cubic: Cubic): object | undefined {
  return (cubic as unknown as { state: object | undefined }).state;
}

/** A fresh CUBIC's state object, created as its first congestion-avoidance ACK or event would. */
function cubicState(cubic = new Cubic()): object {
  return (cubic as unknown as { stateOf(): object }).stateOf();
}

/** Writes `value` into each named field of `target` (private ones included), which must exist already. */
function store(target: object, fields: readonly string[], value: number): void {
  const record = target as Record<string, unknown>;
  for (const field of fields) {
    assert.equal(typeof record[field], 'number', `${field} is a number field`);
    record[field] = value;
  }
}

/** Two fresh objects; one gets `value` in `fields`; they must still share their map. */
function assertKeepsShape(make: () => object, fields: readonly string[], value: number): void {
  const written = make();
  const fresh = make();
  assert.ok(haveSameMap(written, fresh), 'two fresh objects share a map');
  store(written, fields, value);
  assert.ok(haveSameMap(written, fresh), `${fields.join(', ')} = ${value} kept the map`);
}

/**
 * Sequence-number fields kept as int32 bit patterns (as the TCB's, tcb.ts): `value` reads
 * back as written, and the field behind each accessor (`<name>Bits`) holds a small
 * integer, stored in the object itself rather than in a 16-byte heap number per
 * connection (idle memory).
 */
function assertStoredInline(target: object, fields: readonly string[], value: number): void {
  store(target, fields, value);
  const record = target as Record<string, unknown>;
  for (const field of fields) {
    assert.equal(record[field], value, `${field} reads back as written`);
    assert.ok(isSmallInteger(record[`${field}Bits`]), `${field} is stored as a small integer`);
  }
}

describe('field representation of the per-segment objects', () => {
  it('the check itself: a small-integer field given 2^31 changes the map', () => {
    const make = (): object => ({ sequence: 0, other: 1 });
    const written = make();
    const fresh = make();
    store(written, ['sequence'], 2 ** 31);
    assert.equal(haveSameMap(written, fresh), false);
  });

  it('the receive path’s reused TCP repr: sequence, acknowledgment, TSopt and SACK block numbers', () => {
    assertKeepsShape(reusableTcpRepr, ['sequenceNumber', 'acknowledgmentNumber'], HIGH_SEQUENCE);
    const written = reusableTcpRepr();
    const fresh = reusableTcpRepr();
    store(written.scratch.timestamps, ['value', 'echo'], HIGH_SEQUENCE);
    assert.ok(haveSameMap(written.scratch.timestamps, fresh.scratch.timestamps));
    const block = written.scratch.blockLists[4]![0]!;
    block[0] = HIGH_SEQUENCE;
    block[1] = HIGH_SEQUENCE;
    assert.ok(haveSameMap(block, fresh.scratch.blockLists[4]![0]!), 'a SACK block tuple keeps its elements kind');
  });

  it('the IPv4 header repr: addresses at or above 2^31', () => {
    assertKeepsShape(emptyIpv4HeaderRepr, ['source', 'destination'], parseIpv4('198.18.0.1')!);
  });

  it('the scoreboard’s sequence numbers and timestamp offset', () => {
    assertKeepsShape(() => new Scoreboard(16), ['highestSacked', 'sackedFrom', 'rackEndSeq', 'tsOffset'], HIGH_SEQUENCE);
    assertStoredInline(new Scoreboard(16), ['highestSacked', 'sackedFrom', 'rackEndSeq', 'tsOffset'], HIGH_SEQUENCE);
  });

  it('congestion control: NewReno’s recovery point and round end, CUBIC’s fractional state', () => {
    assertKeepsShape(() => new NewReno(), ['recover', 'roundEnd'], HIGH_SEQUENCE);
    assertKeepsShape(() => new Cubic(), ['recover', 'roundEnd'], HIGH_SEQUENCE);
    assertStoredInline(new Cubic(), ['recover', 'roundEnd'], HIGH_SEQUENCE);
    assertKeepsShape(cubicState, ['wMax', 'k', 'wEst', 'cwndPrior', 'carry', 'undoWMax', 'undoK', 'undoWEst', 'undoCwndPrior'], 12.5);
    // Instants: fractional milliseconds on a real clock.
    assertKeepsShape(cubicState, ['epochStart', 'undoEpochStart'], 1234.5678);
    assertKeepsShape(() => new Cubic(), ['lastAckAt'], 1234.5678);
    assertKeepsShape(() => new NewReno(), ['lastAckAt'], 1234.5678);
  });

  it('CUBIC creates its state (double fields, a heap number each) at its first reduction, not in slow start, and keeps its own map', () => {
    const mss = 1000;
    const written = new Cubic();
    const fresh = new Cubic();
    written.start(mss, HIGH_SEQUENCE, false);
    // Slow start, as every idle connection's whole life: one ACK per segment.
    let una = HIGH_SEQUENCE;
    for (let ack = 0; ack < 20; ack++) {
      una = (una + mss) >>> 0;
      written.onAck(una, mss, written.congestionWindow, 1000 + ack + 0.25, 10);
    }
    assert.ok(written.congestionWindow > 20 * mss, 'slow start grew cwnd');
    assert.equal(stateField(written), undefined, 'no state after slow start');
    assert.ok(written.enterRecovery(una, 10 * mss, (una + 10 * mss) >>> 0));
    assert.equal(typeof stateField(written), 'object', 'the first reduction created it');
    assert.ok(haveSameMap(written, fresh), 'the state field kept the map');
  });

  it('a connection’s D-SACK end, undo marker and F-RTO resume point', () => {
    const pair = createStackPair();
    const connect = (): object => pair.device.tcp.connect(parseIpv4(PEER_IP)!, 9);
    assertKeepsShape(connect, ['dsackEnd', 'undoMarker', 'frtoResume'], HIGH_SEQUENCE);
    assertStoredInline(connect(), ['dsackEnd', 'undoMarker', 'frtoResume'], HIGH_SEQUENCE);
  });

  it('a connection’s scheduled, keepalive and activity instants: a fraction of a millisecond (scheduled: never undefined, scheduler.ts)', () => {
    const pair = createStackPair();
    const connect = (): object => pair.device.tcp.connect(parseIpv4(PEER_IP)!, 9);
    assertKeepsShape(connect, ['scheduledAt', 'lastKeepaliveAt', 'keepaliveEnabledAt', 'lastReceivedAt', 'lastActivityAt', 'rttStart'], 1234.5678);
    assertKeepsShape(() => (connect() as TcpConnection).tcb, ['tsRecentAt'], 1234.5678);
  });

  it('the instants written per segment or keepalive round are written in place: no heap number per write', () => {
    const pair = createStackPair();
    const connection = pair.device.tcp.connect(parseIpv4(PEER_IP)!, 9);
    for (const field of ['lastReceivedAt', 'lastActivityAt', 'lastKeepaliveAt', 'keepaliveEnabledAt', 'scheduledAt', 'rttStart']) {
      assertWrittenInPlace(connection, field);
    }
    assertWrittenInPlace(connection.tcb, 'tsRecentAt');
  });

  it('the check itself: a field declared without a value (tagged) boxes every fraction written to it', () => {
    class Declared {
      instant: number | undefined;
    }
    assert.throws(() => assertWrittenInPlace(new Declared(), 'instant'), /boxes/);
  });

  it('the scoreboard’s ACK echo is written in place: no heap number per ACK', () => {
    const scoreboard = new Scoreboard(16);
    scoreboard.ackEcho = HIGH_SEQUENCE;
    assert.equal(scoreboard.ackEcho, HIGH_SEQUENCE);
    const bits = (scoreboard as unknown as { ackEchoBits: unknown }).ackEchoBits;
    assert.ok(isSmallInteger(bits), 'kept as int32 bits');
    scoreboard.ackEcho = undefined;
    assert.equal(scoreboard.ackEcho, undefined, 'no echo reads back as undefined');
  });
});

const WRITES = 50_000;

/**
 * Writing WRITES fractions into `target[field]` from optimised code allocates almost
 * nothing: the field is a double field, whose box V8 writes in place. A field that held
 * `undefined` or an object first (declared without a value) is tagged, and each write
 * boxes a new 16-byte heap number: on a connection field written once per keepalive
 * round that number lives ~10 s, is promoted, and grows the old generation until a full
 * collection (bench/BASELINE.md, "heap numbers an idle round promoted").
 */
function assertWrittenInPlace(target: object, field: string): void {
  const bytes = allocatedInOptimisedLoop(target, `target.${field} = i + 0.5;`, WRITES);
  // A quarter of what boxing costs (16 bytes a write), far above the profiler's own few tens of kilobytes.
  assert.ok(bytes < WRITES * 4, `${field}: ${WRITES} writes allocated ${bytes} bytes (a tagged field boxes each one)`);
}
