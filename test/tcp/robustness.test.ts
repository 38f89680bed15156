/**
 * The input path never throws and never hits an internal error, whatever arrives:
 * random segments with valid checksums aimed at a live connection and a listener.
 * After every segment the connection's TCB holds its invariants; afterwards the
 * listener still completes a handshake and the new connection carries data both ways.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../../src/random.ts';
import { ACK, LOCAL_PORT, PSH, REMOTE_ISS, REMOTE_PORT, SYN, TcpHarness, encode, pattern } from '../support/tcp-harness.ts';
import { assertTcbInvariants } from '../support/tcb-invariants.ts';
import * as checker from '../support/checker.ts';
import { seqAdd } from '../../src/tcp/seq.ts';

describe('robustness', () => {
  it('survives 20 000 random segments in every state it reaches', (t) => {
    const random = new SeededRandom(99);
    const h = new TcpHarness();
    const connection = h.established();
    connection.send(pattern(5000));
    let aliveFor = 0;
    for (let i = 0; i < 20_000; i++) {
      const near = random.fraction() < 0.7;
      h.sendBytes(
        encode({
          sourcePort: random.fraction() < 0.8 ? REMOTE_PORT : random.uint32() & 0xffff,
          destinationPort: random.fraction() < 0.9 ? LOCAL_PORT : random.uint32() & 0xffff,
          seq: near ? REMOTE_ISS + (random.uint32() % 40_000) - 1000 : random.uint32(),
          ack: near ? connection.tcb.sndUna + (random.uint32() % 8000) - 2000 : random.uint32(),
          flags: random.uint32() & 0xff,
          window: random.uint32() & 0xffff,
          options: random.fraction() < 0.2 ? { mss: random.uint32() & 0xffff } : {},
          payload: pattern(random.uint32() % 600, i),
        }),
      );
      if (i % 500 === 0) h.advance(random.uint32() % 3000);
      assertTcbInvariants(connection, `random segment ${i}`);
      if (connection.state !== 'CLOSED') aliveFor = i + 1;
      connection.read(100_000);
      h.drain();
    }
    assert.equal(h.counters.get('tcp.drop.internal-error'), 0);
    assert.equal(h.counters.get('tcp.handler-error'), 0);
    assert.ok(aliveFor > 1000, `the fuzzed connection lived through ${aliveFor} segments: the invariants were checked on a live TCB`);
    t.diagnostic(`connection alive for ${aliveFor} of 20000 random segments, ended ${connection.state}`);

    // The stack still works: a new peer port completes a handshake and exchanges data.
    const port = REMOTE_PORT + 1;
    const iss = 900_000;
    const acceptedBefore = h.accepted.length;
    h.send({ sourcePort: port, seq: iss, ack: 0, flags: SYN, options: { mss: 1460 } });
    const synAck = h.drain().find((segment) => segment.destinationPort === port);
    assert.ok(synAck, 'the listener answered a new SYN');
    h.check(synAck, checker.tcpFlags(SYN | ACK), checker.ackNum(seqAdd(iss, 1)), checker.mss(1460));
    h.send({ sourcePort: port, seq: seqAdd(iss, 1), ack: seqAdd(synAck.seq, 1), flags: ACK });
    assert.equal(h.accepted.length, acceptedBefore + 1, 'the new connection was accepted');
    const fresh = h.accepted.at(-1)!;
    assert.equal(fresh.state, 'ESTABLISHED');
    h.send({ sourcePort: port, seq: seqAdd(iss, 1), ack: seqAdd(synAck.seq, 1), flags: ACK | PSH, payload: pattern(300, 9) });
    assert.deepEqual(Buffer.from(fresh.read(1000) ?? []), Buffer.from(pattern(300, 9)), 'data in');
    assert.equal(fresh.send(pattern(200, 4)), 200);
    h.advance(h.config.delayedAckMs);
    const out = h.drain().find((segment) => segment.destinationPort === port && segment.payload.length > 0);
    assert.ok(out, 'data went out');
    h.check(out, checker.payload(pattern(200, 4)), checker.ackNum(seqAdd(iss, 301)), checker.tcpFlagsMatch(ACK, ACK));
    assertTcbInvariants(fresh, 'the exchange after the fuzz');
  });
});
