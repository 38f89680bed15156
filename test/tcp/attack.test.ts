/**
 * Attack and abuse resistance: RFC 5961 challenge ACKs and their rate limits (§7),
 * out-of-window segments, bad checksums, RST rate limiting for closed ports, bounded
 * TIME-WAIT, and RFC 6528 initial sequence numbers.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ACK, FIN, LOCAL_ISS, REMOTE, REMOTE_ISS, REMOTE_PORT, RST, SYN, TcpHarness, bytesOf, encode } from '../support/tcp-harness.ts';
import { CHALLENGE_ACK_INTERVAL_MS } from '../../src/tcp/input.ts';
import { RESETS_PER_SECOND } from '../../src/tcp/stack.ts';
import { Rfc6528Isn } from '../../src/tcp/isn.ts';
import { SeededRandom } from '../../src/random.ts';
import { parseIpv4 } from '../../src/net/address.ts';

const L1 = LOCAL_ISS + 1;
const R1 = REMOTE_ISS + 1;

describe('RFC 5961 challenge ACKs', () => {
  it('an in-window RST not at RCV.NXT gets one challenge ACK per 500 ms; only the exact RST resets', () => {
    const h = new TcpHarness();
    const connection = h.established();
    h.send({ seq: R1 + 100, flags: RST });
    h.recv({ seq: L1, ack: R1, flags: ACK });
    // A burst within the interval: counted, not answered (RFC 5961 §7).
    for (let i = 0; i < 50; i++) h.send({ seq: R1 + 200 + i, flags: RST });
    h.recvNothing();
    assert.equal(h.counters.get('tcp.drop.challenge-ack'), 51);
    assert.equal(h.counters.get('tcp.tx.challenge-ack-limited'), 50);
    h.advance(CHALLENGE_ACK_INTERVAL_MS - 1);
    h.send({ seq: R1 + 300, flags: RST });
    h.recvNothing();
    h.advance(1);
    h.send({ seq: R1 + 300, flags: RST });
    h.recv({ seq: L1, ack: R1, flags: ACK });
    assert.equal(connection.state, 'ESTABLISHED');
    h.send({ seq: R1, flags: RST });
    assert.equal(connection.state, 'CLOSED');
    assert.equal(h.recorder.closeError?.code, 'ECONNRESET');
  });

  it('an in-window SYN gets a challenge ACK and changes nothing (RFC 5961 §4.2)', () => {
    const h = new TcpHarness();
    const connection = h.established();
    h.send({ seq: R1 + 10, ack: 0, flags: SYN });
    h.recv({ seq: L1, ack: R1, flags: ACK });
    h.send({ seq: R1 + 5_000_000, ack: 0, flags: SYN }); // out of window: same answer, rate limited
    h.recvNothing();
    assert.equal(connection.state, 'ESTABLISHED');
    h.send({ payload: bytesOf('still fine') });
    assert.deepEqual(connection.read(100), bytesOf('still fine'));
  });

  it('an ACK older than SND.UNA − MAX.SND.WND gets a challenge ACK and is ignored (RFC 5961 §5.2)', () => {
    const h = new TcpHarness();
    const connection = h.established();
    connection.send(bytesOf('abc'));
    h.drain();
    h.send({ ack: L1 - 100_000, payload: bytesOf('x') });
    h.recv({ seq: L1 + 3, ack: R1, flags: ACK });
    assert.equal(connection.readableLength, 0, 'its data is not taken');
    assert.equal(connection.info().bytesInFlight, 3);
  });

  it('out-of-window segments get an ACK and change nothing; bare ACKs are rate limited, data is not', () => {
    const h = new TcpHarness();
    const connection = h.established();
    for (let i = 0; i < 5; i++) h.send({ seq: R1 + 100_000 + i, payload: bytesOf('junk') });
    assert.equal(h.drain().length, 5, 'segments with data are always answered');
    for (let i = 0; i < 5; i++) h.send({ seq: R1 - 100_000 });
    assert.equal(h.drain().length, 1, 'bare out-of-window ACKs: one per interval');
    assert.equal(connection.readableLength, 0);
    assert.equal(connection.tcb.rcvNxt, R1);
    assert.equal(connection.state, 'ESTABLISHED');
    assert.equal(h.counters.get('tcp.drop.out-of-window'), 10);
  });

  it('the stack-wide challenge ACK budget caps a flood spread over many connections', () => {
    const h = new TcpHarness({ config: { maxConnections: 4000 } });
    h.listen();
    // 2500 connections, each sent one in-window RST within the same second.
    const ports: number[] = [];
    for (let i = 0; i < 2500; i++) {
      const port = 10_000 + i;
      ports.push(port);
      h.send({ sourcePort: port, seq: REMOTE_ISS, ack: 0, flags: SYN });
      h.send({ sourcePort: port });
    }
    h.drain();
    for (const port of ports) h.send({ sourcePort: port, seq: R1 + 10, flags: RST });
    const answered = h.drain().length;
    assert.ok(answered >= 500 && answered < 1500, `randomized budget of 1000 ± 50%: ${answered}`);
    h.advance(1000);
    h.send({ sourcePort: ports[0]!, seq: R1 + 10, flags: RST });
    h.recv({ flags: ACK });
  });
});

describe('input validation', () => {
  it('drops a segment with a bad checksum, counts it, and changes nothing', () => {
    const h = new TcpHarness();
    const connection = h.established();
    const bytes = encode({ ...h.template(), seq: R1, flags: RST });
    bytes[16]! ^= 0x01; // checksum
    h.sendBytes(bytes);
    h.recvNothing();
    assert.equal(connection.state, 'ESTABLISHED');
    assert.equal(h.counters.get('tcp.drop.bad-checksum'), 1);
  });
});

describe('RSTs for closed ports', () => {
  it(`answers at most ${RESETS_PER_SECOND} per second`, () => {
    const h = new TcpHarness();
    for (let i = 0; i < RESETS_PER_SECOND + 200; i++) h.send({ destinationPort: 9, seq: i, ack: 0, flags: SYN });
    assert.equal(h.drain().length, RESETS_PER_SECOND);
    assert.equal(h.counters.get('tcp.tx.rst-rate-limited'), 200);
    h.advance(1000);
    h.send({ destinationPort: 9, ack: 0, flags: SYN });
    h.recv({ flags: RST | ACK });
  });
});

describe('TIME-WAIT', () => {
  it('timeWaitMax bounds TIME-WAIT: the oldest is recycled', () => {
    const h = new TcpHarness({ config: { timeWaitMax: 2 } });
    h.listen();
    const closed: number[] = [];
    for (let i = 0; i < 3; i++) {
      const port = 20_000 + i;
      h.send({ sourcePort: port, seq: REMOTE_ISS, ack: 0, flags: SYN });
      h.send({ sourcePort: port });
      const connection = h.accepted.at(-1)!;
      connection.shutdown();
      h.send({ sourcePort: port, ack: L1 + 1, flags: FIN | ACK });
      assert.equal(connection.state, 'TIME-WAIT');
      closed.push(connection.id);
      h.advance(10);
    }
    const states = h.accepted.map((connection) => connection.state);
    assert.deepEqual(states, ['CLOSED', 'TIME-WAIT', 'TIME-WAIT']);
    assert.equal(h.counters.get('tcp.time-wait.recycled'), 1);
  });

  it('TIME-WAIT lasts 2·MSL from the last FIN, then the tuple is free', () => {
    const h = new TcpHarness({ config: { msl: 2500 } });
    const connection = h.timeWait();
    const start = h.clock.now();
    h.advanceTo(start + 4999);
    assert.equal(connection.state, 'TIME-WAIT');
    h.advanceTo(start + 5000);
    assert.equal(connection.state, 'CLOSED');
    h.send({ seq: R1 + 1, ack: 0, flags: SYN });
    h.recv({ flags: SYN | ACK });
  });

  it('a new SYN reopening TIME-WAIT gets an ISS beyond the old incarnation (RFC 9293 §3.10.7.4)', () => {
    const h = new TcpHarness();
    const old = h.timeWait();
    const oldSndMax = old.tcb.sndMax;
    h.send({ seq: R1 + 100_000, ack: 0, flags: SYN });
    const synAck = h.recv({ flags: SYN | ACK });
    assert.ok(((synAck.seq - oldSndMax) | 0) > 0, 'ISS after the old SND.NXT');
  });

  it('simultaneous close: FIN-WAIT-1 → CLOSING → TIME-WAIT → CLOSED after 2·MSL', () => {
    const h = new TcpHarness({ config: { msl: 1000 } });
    const connection = h.closing();
    h.send({ seq: R1 + 1, ack: L1 + 1 });
    assert.equal(connection.state, 'TIME-WAIT');
    h.advance(1999);
    assert.equal(connection.state, 'TIME-WAIT');
    h.advance(1);
    assert.equal(connection.state, 'CLOSED');
    assert.equal(h.recorder.closeReason, 'fin');
  });

  it('retransmits an unacknowledged FIN with RTO back-off', () => {
    const h = new TcpHarness({ config: { minRto: 1000 } });
    const connection = h.finWait1();
    h.advanceTo(1000);
    h.recv({ seq: L1, flags: FIN | ACK });
    h.advanceTo(2999);
    h.recvNothing();
    h.advanceTo(3000);
    h.recv({ seq: L1, flags: FIN | ACK });
    h.send({ ack: L1 + 1 });
    assert.equal(connection.state, 'FIN-WAIT-2');
  });
});

describe('RFC 6528 initial sequence numbers', () => {
  it('differ per 4-tuple and per boot secret, and advance with time for one tuple', () => {
    const a = parseIpv4('198.18.0.1')!;
    const first = new Rfc6528Isn(new SeededRandom(1));
    const second = new Rfc6528Isn(new SeededRandom(2));
    const x = first.next(a, 80, REMOTE, REMOTE_PORT, 0);
    assert.notEqual(x, first.next(a, 80, REMOTE, REMOTE_PORT + 1, 0));
    assert.notEqual(x, second.next(a, 80, REMOTE, REMOTE_PORT, 0));
    assert.equal(first.next(a, 80, REMOTE, REMOTE_PORT, 1000), (x + 250_000) >>> 0, '4 µs ticks');
  });
});

