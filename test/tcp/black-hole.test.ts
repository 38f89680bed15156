/**
 * An MTU black hole on the memory wire (RFC 4821 §7.6, src/tcp/path-mtu.ts): a hop that
 * silently drops every frame above 1294 bytes (a 1280-byte IP MTU) and sends no ICMP.
 * Two piwire stacks move 64 KiB each way over one connection; full-sized segments
 * vanish: the tail loss probe (RFC 8985, at the 10 ms PTO floor: the RTT is 2 ms) resends
 * the last one, then, after BLACK_HOLE_RETRIES timeouts (200 + 400 + 800 + 1600 ms of
 * back-off, the first counted from the first transmission: the probe does not move the
 * RTO, src/tcp/recovery.ts `retransmitDeadlineAfterProbe`) both senders step down to 1024-byte segments, which get through, and both transfers
 * complete byte-exact; behind a 576-byte hop a second step, to 536, follows. With
 * black-hole detection off, nothing gets through.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createStackPair, DEVICE_IP } from '../support/stack-pair.ts';
import { parseIpv4 } from '../../src/net/address.ts';
import { noopHandler, type TcpConnection } from '../../src/tcp/connection.ts';
import type { TcpConfig } from '../../src/tcp/config.ts';
import { pattern } from '../support/tcp-harness.ts';

const SIZE = 64 * 1024;
/** The tail loss probe's timeout: 2·SRTT (4-6 ms) is below its 10 ms floor (src/tcp/recovery.ts `twoRoundTrips`). */
const PTO = 10;
/** Both stacks negotiate RFC 7323 timestamps: every segment carries 12 option bytes less payload than the MSS. */
const TS = 12;

interface Side {
  received: number[];
  /** [instant, payload length] of every data segment this side sent. */
  segments: [number, number][];
  done: boolean;
}

/** Sends `data` on `connection` as the window allows, then half-closes. */
function pumping(connection: TcpConnection, data: Uint8Array, side: Side): void {
  let sent = 0;
  const pump = (): void => {
    while (sent < data.length) {
      const accepted = connection.send(data.subarray(sent));
      if (accepted === 0) return;
      sent += accepted;
    }
    connection.shutdown();
  };
  connection.handler = {
    ...noopHandler(),
    onEstablished: pump,
    onWritable: pump,
    onReadable: () => {
      for (let chunk = connection.read(65_536); chunk; chunk = connection.read(65_536)) side.received.push(...chunk);
    },
    onRemoteFin: () => {
      side.done = true;
    },
  };
  if (connection.state === 'ESTABLISHED') pump();
}

function run(mtuProbing: boolean, pathMtu = 1280): { device: Side; peer: Side; steps: number[]; now: number } {
  const tcp: Partial<TcpConfig> = { mtuProbing, keepalive: { enabled: false, idle: 10_000, interval: 2_000, count: 3 } };
  const pair = createStackPair({ faults: { delayMs: 1, blackHoleAboveBytes: 14 + pathMtu }, deviceTcp: tcp, peerTcp: tcp });
  const device: Side = { received: [], segments: [], done: false };
  const peer: Side = { received: [], segments: [], done: false };
  // What each sender puts on the wire (lost or not): the wire's transmit, watched.
  const sentBy = (side: Side) => (frame: Uint8Array) => {
    // Ethernet 14 + IPv4 20 + TCP header (data offset) = payload start.
    const tcpHeader = 34;
    const payload = frame.length - tcpHeader - ((frame[tcpHeader + 12]! >>> 4) * 4);
    if (frame[23] === 6 && payload > 0) side.segments.push([pair.world.now, payload]);
  };
  const wireA = pair.wire.a;
  const wireB = pair.wire.b;
  const transmitA = wireA.transmit.bind(wireA);
  const transmitB = wireB.transmit.bind(wireB);
  wireA.transmit = (frame: Uint8Array) => {
    sentBy(device)(frame);
    transmitA(frame);
  };
  wireB.transmit = (frame: Uint8Array) => {
    sentBy(peer)(frame);
    transmitB(frame);
  };
  pair.device.tcp.listen(7000, {}, (connection) => pumping(connection, pattern(SIZE, 1), device));
  const client = pair.peer.tcp.connect(parseIpv4(DEVICE_IP)!, 7000);
  pumping(client, pattern(SIZE, 2), peer);
  // Virtual-time hang guard (the user timeout ends a transfer that never completes).
  for (let step = 0; step < 120 && !(device.done && peer.done); step++) pair.world.runUntilSync(pair.world.now + 500);
  return {
    device,
    peer,
    steps: [pair.device.counters.get('tcp.mtu.black-hole-steps'), pair.peer.counters.get('tcp.mtu.black-hole-steps')],
    now: pair.world.now,
  };
}

describe('an MTU black hole on the memory wire (no ICMP)', () => {
  it('both directions step down to 1024-byte segments exactly 3 s after the first transmission, and complete', () => {
    const { device, peer, steps } = run(true);
    assert.ok(device.done && peer.done, 'both FINs arrived');
    assert.deepEqual(Buffer.from(device.received), Buffer.from(pattern(SIZE, 2)), 'peer → device byte-exact');
    assert.deepEqual(Buffer.from(peer.received), Buffer.from(pattern(SIZE, 1)), 'device → peer byte-exact');
    assert.deepEqual(steps, [1, 1]);
    for (const side of [device, peer]) {
      const [firstAt] = side.segments[0]!;
      const firstSmall = side.segments.findIndex(([, length]) => length < 1460 - TS);
      assert.ok(firstSmall > 0);
      // Before the step: only full-sized segments (the first flight, the loss probe, its
      // follow-ups and three retransmissions).
      assert.ok(side.segments.slice(0, firstSmall).every(([, length]) => length === 1460 - TS));
      // The first flight (ten segments), then the tail loss probe one PTO later and its
      // four follow-ups (tcp.tlpFollowUp), each waiting twice as long as the one before,
      // then the RTO.
      assert.deepEqual(side.segments.slice(9, 16).map(([when]) => when - firstAt), [0, PTO, 2 * PTO, 4 * PTO, 8 * PTO, 16 * PTO, 200], 'the tail loss probe and its follow-ups');
      // The step comes at the fourth timeout: RTO 200 ms from the first transmission (the
      // probe left it there), backed off 200 + 400 + 800 + 1600.
      assert.deepEqual(side.segments[firstSmall], [firstAt + 3000, 1024 - TS]);
      // From then on nothing above the new MSS.
      assert.ok(side.segments.slice(firstSmall).every(([, length]) => length <= 1024 - TS));
    }
  });

  it('behind a 576-byte hop both directions take the second step, to 536, 3.2 s after the first, and complete', () => {
    const { device, peer, steps } = run(true, 576);
    assert.ok(device.done && peer.done, 'both FINs arrived');
    assert.deepEqual(Buffer.from(device.received), Buffer.from(pattern(SIZE, 2)));
    assert.deepEqual(Buffer.from(peer.received), Buffer.from(pattern(SIZE, 1)));
    assert.deepEqual(steps, [2, 2]);
    for (const side of [device, peer]) {
      const [firstAt] = side.segments[0]!;
      const sentAt = (instant: number): number[] => side.segments.filter(([when]) => when === instant).map(([, length]) => length);
      assert.ok(side.segments.filter(([when]) => when < firstAt + 3000).every(([, length]) => length === 1460 - TS));
      // The fourth timeout: at most 1024 (SACK blocks may take a few bytes of it), still lost.
      const firstStep = Math.max(...sentAt(firstAt + 3000));
      assert.ok(firstStep > 536 && firstStep <= 1024 - TS, `first step ${firstStep}`);
      // The fifth, 3200 ms later (RTO backed off once more): 536 (less SACK option room), which gets through.
      const secondStep = Math.max(...sentAt(firstAt + 6200));
      assert.ok(secondStep > 500 - TS && secondStep <= 536 - TS, `second step ${secondStep}`);
      assert.ok(side.segments.filter(([when]) => when >= firstAt + 6200).every(([, length]) => length <= 536 - TS));
    }
  });

  it('with tcp.mtuProbing off, nothing above the black hole gets through', () => {
    const { device, peer, steps } = run(false);
    assert.deepEqual(steps, [0, 0]);
    assert.equal(device.received.length, 0);
    assert.equal(peer.received.length, 0);
    assert.ok(!device.done && !peer.done);
  });
});
