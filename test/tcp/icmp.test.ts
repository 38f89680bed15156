/**
 * ICMP errors to TCP (RFC 1122 §4.2.3.9, RFC 5927), path MTU discovery (RFC 1191) and
 * black-hole detection (RFC 4821 §7.6) on the virtual clock, against exact segments.
 * The ICMP messages are built as a router builds them (our IPv4 header and the first
 * bytes of our segment quoted) and parsed by src/net/icmp-error.ts, as the interface does.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ACK, LOCAL, LOCAL_ISS, LOCAL_PORT, REMOTE, REMOTE_ISS, REMOTE_PORT, RST, SYN, TcpHarness, pattern } from '../support/tcp-harness.ts';
import { parseIcmpError } from '../../src/net/icmp-error.ts';
import { emitIpv4Header } from '../../src/wire/ipv4.ts';
import { seqAdd } from '../../src/tcp/seq.ts';
import { PMTU_LIFETIME_MS } from '../../src/tcp/path-mtu.ts';

const ROUTER = 0xc6120101; // 198.18.1.1

interface Quoted {
  seq: number;
  /** The quoted datagram's total length (what did not fit). */
  length?: number;
  localPort?: number;
  remotePort?: number;
  destination?: number;
}

/** Delivers an ICMP error (type, code, next-hop MTU) quoting a segment we sent. */
function icmp(h: TcpHarness, type: number, code: number, mtu: number, quoted: Quoted): void {
  const quote = new Uint8Array(28);
  emitIpv4Header(
    quote,
    { source: LOCAL, destination: quoted.destination ?? REMOTE, protocol: 6, ttl: 63, identification: 1, dontFragment: true },
    (quoted.length ?? 1500) - 20,
  );
  const view = new DataView(quote.buffer);
  view.setUint16(20, quoted.localPort ?? LOCAL_PORT);
  view.setUint16(22, quoted.remotePort ?? REMOTE_PORT);
  view.setUint32(24, quoted.seq >>> 0);
  const parsed = parseIcmpError(ROUTER, { type, code, identifier: 0, sequence: mtu, payload: quote });
  assert.ok(parsed.ok);
  h.stack.icmpError(parsed.value, h.clock.now());
}

const fragmentationNeeded = (h: TcpHarness, mtu: number, quoted: Quoted): void => icmp(h, 3, 4, mtu, quoted);

/** ESTABLISHED (passive, MSS 1460 both ways) with `bytes` of data sent in full-sized segments. */
function sending(bytes: number, config: ConstructorParameters<typeof TcpHarness>[0] = {}): { h: TcpHarness; data: Uint8Array } {
  const h = new TcpHarness(config);
  const connection = h.established();
  const data = pattern(bytes);
  assert.equal(connection.send(data), bytes);
  return { h, data };
}

const first = seqAdd(LOCAL_ISS, 1);

/** The payload lengths and sequence numbers of the segments sent since the last drain. */
function sent(h: TcpHarness): [number, number][] {
  return h.drain().map((segment) => [segment.seq, segment.payload.length]);
}

describe('fragmentation needed (RFC 1191)', () => {
  it('lowers the send MSS to MTU − 40 and resends everything in flight at once in segments of the new size', () => {
    const { h, data } = sending(4 * 1460);
    assert.deepEqual(sent(h), [
      [first, 1460],
      [first + 1460, 1460],
      [first + 2920, 1460],
      [first + 4380, 1460],
    ]);
    fragmentationNeeded(h, 1280, { seq: first });
    assert.deepEqual(sent(h), [
      [first, 1240],
      [first + 1240, 1240],
      [first + 2480, 1240],
      [first + 3720, 1240],
      [first + 4960, 880],
    ]);
    assert.equal(h.counters.get('tcp.icmp.pmtu-lowered'), 1);
    assert.equal(h.counters.get('tcp.tx.pmtu-resends'), 1);
    assert.equal(h.connection!.tcb.sendMss, 1240);
    assert.equal(h.stack.pathMtu.lookup(REMOTE, h.clock.now())?.mtu, 1280);
    // The resent bytes are the data, in order.
    h.send({ ack: first + data.length });
    assert.equal(h.connection!.bytesInFlight(), 0);
    // New data goes out at the new size too, and nothing backed off the RTO.
    assert.equal(h.connection!.send(pattern(3000, 1)), 3000);
    assert.deepEqual(sent(h), [
      [first + 5840, 1240],
      [first + 7080, 1240],
      [first + 8320, 520],
    ]);
  });

  it('an ICMP quoting a segment ACKed already, or not yet sent, is ignored (RFC 5927 §4.1)', () => {
    const { h } = sending(2 * 1460);
    h.drain();
    h.send({ ack: first + 1460 });
    fragmentationNeeded(h, 1280, { seq: first }); // below SND.UNA
    fragmentationNeeded(h, 1280, { seq: first + 2920 }); // SND.MAX
    fragmentationNeeded(h, 1280, { seq: first + 1_000_000 }); // a blind guess
    h.recvNothing();
    assert.equal(h.counters.get('tcp.icmp.drop.bad-sequence'), 3);
    assert.equal(h.connection!.tcb.sendMss, 1460);
    assert.equal(h.stack.pathMtu.size, 0);
    // The edge of the window still counts: SND.UNA exactly, and SND.MAX − 1.
    fragmentationNeeded(h, 1400, { seq: first + 2919 });
    assert.equal(h.connection!.tcb.sendMss, 1360);
  });

  it('an ICMP quoting another connection (ports, address) is counted and dropped', () => {
    const { h } = sending(1460);
    h.drain();
    fragmentationNeeded(h, 1280, { seq: first, localPort: LOCAL_PORT + 1 });
    fragmentationNeeded(h, 1280, { seq: first, remotePort: REMOTE_PORT + 1 });
    fragmentationNeeded(h, 1280, { seq: first, destination: REMOTE + 1 });
    h.recvNothing();
    assert.equal(h.counters.get('tcp.icmp.drop.no-connection'), 3);
    assert.equal(h.connection!.tcb.sendMss, 1460);
  });

  it('an MTU we already fit under changes nothing; a tiny one is raised to 552; MTU 0 uses the RFC 1191 plateaus', () => {
    const { h } = sending(1460);
    h.drain();
    fragmentationNeeded(h, 0, { seq: first, length: 1500 }); // an old router: plateau below 1500 is 1492
    assert.equal(h.connection!.tcb.sendMss, 1452);
    assert.deepEqual(sent(h), [
      [first, 1452],
      [first + 1452, 8],
    ]);
    fragmentationNeeded(h, 1492, { seq: first, length: 1492 }); // an MTU the quote fitted: plateau again, 1006
    assert.equal(h.connection!.tcb.sendMss, 966);
    h.drain();
    fragmentationNeeded(h, 1400, { seq: first, length: 1500 }); // a late report for an old segment, not below 1006
    assert.equal(h.counters.get('tcp.icmp.pmtu-not-lower'), 1);
    assert.equal(h.connection!.tcb.sendMss, 966);
    h.recvNothing();
    fragmentationNeeded(h, 68, { seq: first, length: 1006 }); // below the floor
    assert.equal(h.connection!.tcb.sendMss, 512);
    assert.equal(h.stack.pathMtu.lookup(REMOTE, h.clock.now())?.mtu, 552);
    assert.equal(h.counters.get('tcp.icmp.pmtu-lowered'), 3);
  });

  it('the next connection to the destination starts with the learned MTU, until it ages out after 10 minutes', () => {
    const { h } = sending(1460);
    h.drain();
    fragmentationNeeded(h, 1280, { seq: first });
    h.drain();
    h.send({ ack: first + 1460 });
    // The same connection: full-sized again once the estimate ages (RFC 1191 §6.3).
    h.advance(PMTU_LIFETIME_MS - 1);
    assert.equal(h.connection!.tcb.sendMss, 1240);
    h.advance(1);
    assert.equal(h.connection!.tcb.sendMss, 1460);
    assert.equal(h.counters.get('tcp.mtu.raised'), 1);
    assert.equal(h.stack.pathMtu.lookup(REMOTE, h.clock.now()), undefined);
  });

  it('a connection opened while the cache holds the destination sends at that MTU from the start', () => {
    const h = new TcpHarness();
    h.stack.pathMtu.lower(REMOTE, 1000, 0);
    const connection = h.activeEstablished();
    assert.equal(connection.tcb.sendMss, 960);
    connection.send(pattern(2000));
    assert.deepEqual(sent(h), [
      [first, 960],
      [first + 960, 960],
      [first + 1920, 80],
    ]);
  });

  it('a fragmentation-needed for our SYN is kept and caps the MSS once the handshake is done', () => {
    const h = new TcpHarness();
    h.synSent();
    fragmentationNeeded(h, 1006, { seq: LOCAL_ISS, length: 1500 });
    assert.equal(h.counters.get('tcp.icmp.pmtu-lowered'), 1);
    h.recvNothing();
    h.send({ seq: REMOTE_ISS, flags: SYN | ACK, options: { mss: 1460 } });
    h.drain();
    assert.equal(h.connection!.tcb.sendMss, 966);
  });

  it('the PMTU cache is bounded: the oldest destination goes first', () => {
    const h = new TcpHarness();
    const cache = h.stack.pathMtu;
    for (let i = 0; i < cache.capacity + 5; i++) cache.lower(REMOTE + i, 1000, 0);
    assert.equal(cache.size, cache.capacity);
    assert.equal(cache.lookup(REMOTE, 0), undefined);
    assert.equal(cache.lookup(REMOTE + cache.capacity + 4, 0)?.mtu, 1000);
  });
});

describe('unreachable and time exceeded (RFC 1122 §4.2.3.9)', () => {
  it('port unreachable for our SYN ends the connect at once with ECONNREFUSED (a hard error)', () => {
    const h = new TcpHarness();
    const connection = h.synSent();
    icmp(h, 3, 3, 0, { seq: LOCAL_ISS, length: 64 });
    assert.equal(connection.state, 'CLOSED');
    assert.equal(h.recorder.closeReason, 'refused');
    assert.equal(h.recorder.closeError?.code, 'ECONNREFUSED');
    assert.match(h.recorder.closeError!.message, /port unreachable \(ICMP from 198\.18\.1\.1\)/);
    assert.equal(h.counters.get('tcp.icmp.hard-error'), 1);
    h.recvNothing();
  });

  it('protocol unreachable in SYN-SENT is hard too; host unreachable is soft: the SYN goes on, and the timeout reports it', () => {
    const h = new TcpHarness();
    const hard = h.synSent();
    icmp(h, 3, 2, 0, { seq: LOCAL_ISS, length: 64 });
    assert.equal(hard.state, 'CLOSED');

    const soft = new TcpHarness();
    const connection = soft.synSent({ timeout: 5000 });
    icmp(soft, 3, 1, 0, { seq: LOCAL_ISS, length: 64 });
    assert.equal(connection.state, 'SYN-SENT');
    assert.equal(soft.counters.get('tcp.icmp.soft-error'), 1);
    soft.advance(1000);
    soft.recv({ seq: LOCAL_ISS, flags: SYN }); // the retransmitted SYN
    soft.advanceTo(4999);
    assert.equal(connection.state, 'SYN-SENT');
    soft.advanceTo(5000);
    assert.equal(connection.state, 'CLOSED');
    assert.equal(soft.recorder.closeReason, 'connect_timeout');
    assert.equal(soft.recorder.closeError?.code, 'EHOSTUNREACH');
    assert.match(soft.recorder.closeError!.message, /connection attempt timed out after host unreachable, code 1 \(ICMP from 198\.18\.1\.1\)/);
  });

  it('port unreachable for our SYN-ACK drops the half-open connection before anyone accepts it', () => {
    const h = new TcpHarness();
    h.synReceived();
    icmp(h, 3, 3, 0, { seq: LOCAL_ISS, length: 64 });
    assert.equal(h.counters.get('tcp.icmp.hard-error'), 1);
    assert.equal(h.counters.get('tcp.state.closed'), 1);
    // The peer's late ACK finds no connection: an RST, and nothing was accepted.
    h.send();
    h.recv({ seq: first, flags: RST });
    assert.equal(h.accepted.length, 0);
  });

  it('a connect that times out without any ICMP still fails ETIMEDOUT', () => {
    const h = new TcpHarness();
    const connection = h.synSent({ timeout: 3000 });
    h.advanceTo(3000);
    assert.equal(connection.state, 'CLOSED');
    assert.equal(h.recorder.closeError?.code, 'ETIMEDOUT');
  });

  it('port unreachable on an established connection is only a soft error (RFC 5927 §4.2): nothing is aborted', () => {
    const { h } = sending(1460);
    h.drain();
    icmp(h, 3, 3, 0, { seq: first });
    assert.equal(h.connection!.state, 'ESTABLISHED');
    assert.equal(h.counters.get('tcp.icmp.soft-error'), 1);
    assert.equal(h.connection!.softError?.code, 'ECONNREFUSED');
    h.recvNothing();
  });

  it('a soft error is forgotten once data is acknowledged, and reported if the retransmissions give up', () => {
    const { h } = sending(1460, { config: { dataRetries: 2, mtuProbing: false } });
    h.drain();
    icmp(h, 11, 0, 0, { seq: first });
    assert.equal(h.connection!.softError?.code, 'EHOSTUNREACH');
    h.send({ ack: first + 1460 });
    assert.equal(h.connection!.softError, undefined);
    h.connection!.send(pattern(100));
    h.drain();
    icmp(h, 3, 0, 0, { seq: first + 1460 });
    h.advance(60_000);
    assert.equal(h.connection!.state, 'CLOSED');
    assert.equal(h.recorder.closeReason, 'retransmit_timeout');
    assert.equal(h.recorder.closeError?.code, 'ENETUNREACH');
    assert.match(h.recorder.closeError!.message, /connection timed out after network unreachable/);
  });

  it('a host unreachable for a backed-off retransmission undoes one RTO doubling (RFC 6069), a second one another; the retry count stays', () => {
    const { h } = sending(1460, { config: { mtuProbing: false } });
    const c = h.connection!;
    assert.deepEqual(sent(h), [[first, 1460]]);
    const rto = c.info().rto;
    const t0 = h.clock.now();
    // Two timeouts: the retransmissions at t0 + RTO and t0 + 3·RTO, the next due at t0 + 7·RTO.
    h.advanceTo(t0 + rto);
    assert.deepEqual(sent(h), [[first, 1460]]);
    const t2 = t0 + 3 * rto;
    h.advanceTo(t2);
    assert.deepEqual(sent(h), [[first, 1460]]);
    assert.equal(c.info().rto, 4 * rto);
    // The path is down: a router reports the retransmission's destination unreachable.
    h.advanceTo(t2 + 10);
    icmp(h, 3, 1, 0, { seq: first });
    assert.equal(h.counters.get('tcp.icmp.rto-reverted'), 1);
    assert.equal(c.info().rto, 2 * rto);
    h.advanceTo(t2 + 2 * rto - 1);
    assert.deepEqual(sent(h), []);
    h.advanceTo(t2 + 2 * rto);
    assert.deepEqual(sent(h), [[first, 1460]], 'retransmitted 2·RTO after the last one, not 4·RTO');
    assert.equal(c.backoffCount, 3, 'three timeouts count against dataRetries all the same');
    // Two reports for that retransmission: the doublings fall from two to one, then to none.
    const t3 = t2 + 2 * rto;
    h.advanceTo(t3 + 1);
    icmp(h, 3, 0, 0, { seq: first });
    icmp(h, 3, 0, 0, { seq: first });
    assert.equal(h.counters.get('tcp.icmp.rto-reverted'), 3);
    assert.equal(c.info().rto, rto);
    h.advanceTo(t3 + rto);
    assert.deepEqual(sent(h), [[first, 1460]]);
    // Nothing to undo without a backed-off timer, nor for a segment other than SND.UNA.
    icmp(h, 3, 1, 0, { seq: first });
    assert.equal(h.counters.get('tcp.icmp.rto-reverted'), 4, 'the fourth timeout had doubled it once');
    h.send({ ack: first + 1460 });
    c.send(pattern(100));
    h.drain();
    icmp(h, 3, 1, 0, { seq: first + 1460 });
    assert.equal(h.counters.get('tcp.icmp.rto-reverted'), 4, 'no timeout since the ACK');
  });

  it('an undefined Destination Unreachable code is counted and ignored', () => {
    const { h } = sending(1460);
    h.drain();
    icmp(h, 3, 16, 0, { seq: first });
    assert.equal(h.counters.get('tcp.icmp.drop.unhandled'), 1);
    assert.equal(h.connection!.softError, undefined);
  });
});

describe('black-hole detection (RFC 4821 §7.6, Linux tcp_mtu_probing=1)', () => {
  /** The instants and sizes of the retransmissions of a segment nobody ACKs. */
  function retransmissions(h: TcpHarness, until: number): [number, number, number][] {
    const seen: [number, number, number][] = [];
    while (h.clock.now() < until) {
      const next = h.stack.pollAt();
      if (next === undefined || next > until) break;
      h.advanceTo(next);
      for (const segment of h.drain()) seen.push([h.clock.now(), segment.seq, segment.payload.length]);
    }
    return seen;
  }

  it('after three timeouts of a full-sized segment the MSS steps to 1024, after the fourth to 536', () => {
    const { h } = sending(1460);
    assert.deepEqual(sent(h), [[first, 1460]]);
    const rto = h.connection!.rtt.rto;
    assert.equal(rto, 200);
    assert.deepEqual(retransmissions(h, 6200), [
      [200, first, 1460],
      [600, first, 1460],
      [1400, first, 1460],
      [3000, first, 1024], // BLACK_HOLE_RETRIES = 3 timeouts so far: 1024
      [3000, first + 1024, 436], // what else the window (1 MSS after the RTO: 1460 bytes) allows
      [6200, first, 536], // one more: the 536 floor
      [6200, first + 536, 536],
      [6200, first + 1072, 388],
    ]);
    assert.equal(h.counters.get('tcp.mtu.black-hole-steps'), 2);
    // The small segments get through: the transfer completes, and later data stays small.
    h.send({ ack: first + 1460 });
    h.connection!.send(pattern(1000));
    assert.deepEqual(sent(h), [
      [first + 1460, 536],
      [first + 1996, 464],
    ]);
  });

  it('a small segment that vanishes is no MTU problem: the MSS stays', () => {
    const { h } = sending(300);
    h.drain();
    h.advanceTo(6200);
    assert.ok(h.drain().every((segment) => segment.payload.length === 300));
    assert.equal(h.connection!.tcb.sendMss, 1460);
    assert.equal(h.counters.get('tcp.mtu.black-hole-steps'), 0);
  });

  it('switched off (tcp.mtuProbing false), full-sized retransmissions go on', () => {
    const { h } = sending(1460, { config: { mtuProbing: false } });
    h.drain();
    h.advanceTo(6200);
    const sizes = h.drain().map((segment) => segment.payload.length);
    assert.deepEqual(sizes, [1460, 1460, 1460, 1460, 1460]);
    assert.equal(h.connection!.tcb.sendMss, 1460);
  });

  it('the lowered MSS is raised again after 10 minutes', () => {
    const { h } = sending(1460);
    h.advanceTo(3000);
    assert.equal(h.connection!.tcb.sendMss, 1024);
    h.send({ ack: first + 1460 });
    h.drain();
    h.advanceTo(3000 + PMTU_LIFETIME_MS);
    assert.equal(h.connection!.tcb.sendMss, 1460);
    h.connection!.send(pattern(1460));
    assert.deepEqual(sent(h), [[first + 1460, 1460]]);
  });
});
