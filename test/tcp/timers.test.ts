/**
 * Timers on a ManualClock: RFC 6298 retransmission (exact instants, back-off, Karn),
 * retransmission limits, user timeout (RFC 5482), fast retransmit (RFC 5681 §3.2),
 * persist (zero-window probes), keepalive (RFC 1122 §4.2.3.6), idle timeout.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { raisedFault } from '../support/faults.ts';
import { ACK, LOCAL_ISS, PSH, REMOTE_ISS, RST, TcpHarness, bytesOf, pattern } from '../support/tcp-harness.ts';
import * as checker from '../support/checker.ts';

const L1 = LOCAL_ISS + 1;
const R1 = REMOTE_ISS + 1;

/** Instants (from `from` to `to` in 50 ms steps) at which a segment was emitted. */
function emissionInstants(h: TcpHarness, from: number, to: number, step = 50): number[] {
  const instants: number[] = [];
  for (let t = from; t <= to; t += step) {
    h.advanceTo(t);
    for (let count = h.drain().length; count > 0; count--) instants.push(t);
  }
  return instants;
}

describe('retransmission timer (RFC 6298)', () => {
  it('retransmits at RTO, doubling up to maxRto, and gives up after dataRetries with ETIMEDOUT', () => {
    const h = new TcpHarness({ config: { minRto: 1000, maxRto: 4000, dataRetries: 4, userTimeout: 0 } });
    const connection = h.established();
    connection.send(bytesOf('data'));
    h.recv({ seq: L1, payload: bytesOf('data') });
    assert.deepEqual(emissionInstants(h, 0, 20_000), [1000, 3000, 7000, 11_000]);
    assert.equal(connection.state, 'CLOSED');
    assert.equal(h.recorder.closeReason, 'retransmit_timeout');
    assert.equal(h.recorder.closeError?.code, 'ETIMEDOUT');
    assert.equal(connection.info().retransmits, 4);
    assert.equal(h.counters.get('tcp.tx.retransmits'), 4);
  });

  it('closes at the give-up instant exactly (11 s + 4 s)', () => {
    const h = new TcpHarness({ config: { minRto: 1000, maxRto: 4000, dataRetries: 4, userTimeout: 0 } });
    const connection = h.established();
    connection.send(bytesOf('data'));
    h.advanceTo(14_999);
    assert.equal(connection.state, 'ESTABLISHED');
    h.advanceTo(15_000);
    assert.equal(connection.state, 'CLOSED');
  });

  it('takes no RTT sample from a retransmitted segment (Karn) and keeps the backed-off RTO', () => {
    const h = new TcpHarness({ config: { minRto: 1000 } });
    h.synReceived();
    h.advance(50);
    h.send(); // handshake RTT sample: 50 ms
    const connection = h.accepted[0]!;
    assert.equal(connection.info().srtt, 50);
    assert.equal(connection.info().rttvar, 25);
    connection.send(bytesOf('a'));
    h.drain();
    h.advance(1000);
    h.recv({ seq: L1, payload: bytesOf('a') }); // retransmission
    assert.equal(connection.info().rto, 2000);
    h.advance(300);
    h.send({ ack: L1 + 1 }); // ambiguous: no sample
    assert.equal(connection.info().srtt, 50);
    assert.equal(connection.info().rto, 2000, 'back-off kept until a valid sample');
    connection.send(bytesOf('b'));
    h.drain();
    h.advance(100);
    h.send({ ack: L1 + 2 });
    assert.equal(connection.info().srtt, 56.25); // 7/8·50 + 1/8·100
    assert.equal(connection.info().rttvar, 31.25); // 3/4·25 + 1/4·|50 − 100|
    assert.equal(connection.info().rto, 1000); // max(minRto, 56.25 + 4·31.25)
  });

  it('after an RTO, resends from SND.UNA with cwnd = 1 MSS and continues go-back-N', () => {
    // NewReno: ssthresh = FlightSize / 2 (CUBIC's 0.7: test/tcp/cubic.test.ts).
    const h = new TcpHarness({ config: { minRto: 1000, congestion: 'reno' } });
    const connection = h.established();
    connection.send(pattern(4380));
    assert.equal(h.drain().length, 3);
    h.advance(1000);
    h.recv({ seq: L1, payload: pattern(4380).subarray(0, 1460) });
    h.recvNothing();
    assert.equal(connection.info().cwnd, 1460);
    assert.equal(connection.info().ssthresh, 2920);
    h.send({ ack: L1 + 1460 });
    const resent = h.drain();
    assert.deepEqual(
      resent.map((segment) => segment.seq),
      [L1 + 1460, L1 + 2920],
    );
  });

  it('user timeout: data unacknowledged for userTimeout aborts with ETIMEDOUT', () => {
    const h = new TcpHarness({ config: { userTimeout: 5000 } });
    const connection = h.established();
    connection.send(bytesOf('x'));
    h.advanceTo(4999);
    assert.equal(connection.state, 'ESTABLISHED');
    h.advanceTo(5000);
    assert.equal(connection.state, 'CLOSED');
    assert.equal(h.recorder.closeReason, 'user_timeout');
    assert.equal(h.recorder.closeError?.code, 'ETIMEDOUT');
  });
});

describe('fast retransmit and NewReno (RFC 5681 §3.2, RFC 6582)', () => {
  it('retransmits on the third duplicate ACK, not before, and leaves recovery on the full ACK', () => {
    const h = new TcpHarness({ config: { congestion: 'reno' } });
    const connection = h.established();
    const data = pattern(14_600);
    connection.send(data);
    assert.equal(h.drain().length, 10); // IW 10 (RFC 6928)
    h.send({ ack: L1 + 1460 });
    assert.equal(h.drain().length, 0, 'the 14 600-byte buffer is all sent');
    h.send({ ack: L1 + 1460 });
    h.send({ ack: L1 + 1460 });
    h.recvNothing();
    h.send({ ack: L1 + 1460 });
    h.recv({ seq: L1 + 1460, payload: data.subarray(1460, 2920) });
    h.recvNothing();
    assert.equal(h.counters.get('tcp.tx.fast-retransmits'), 1);
    assert.ok(connection.congestion.inRecovery);
    // RFC 5681 §3.2: ssthresh = max(FlightSize / 2, 2·SMSS), cwnd = ssthresh + 3·SMSS.
    assert.equal(connection.info().ssthresh, 6570);
    assert.equal(connection.info().cwnd, 6570 + 3 * 1460);
    // NewReno (RFC 6582 §3.2): a partial ACK retransmits the next hole at once.
    h.send({ ack: L1 + 4380 });
    h.recv({ seq: L1 + 4380, payload: data.subarray(4380, 5840) });
    assert.ok(connection.congestion.inRecovery);
    h.send({ ack: connection.tcb.sndMax });
    assert.equal(connection.congestion.inRecovery, false);
    assert.ok(connection.info().cwnd <= 6570);
  });

  it('a fourth and later duplicate ACK does not retransmit again', () => {
    const h = new TcpHarness();
    const connection = h.established();
    connection.send(pattern(14_600));
    h.drain();
    for (let i = 0; i < 3; i++) h.send({ ack: L1 });
    h.recv({ seq: L1 });
    h.send({ ack: L1 });
    h.send({ ack: L1 });
    h.recvNothing();
    assert.equal(connection.info().retransmits, 1);
  });
});

describe('persist timer (RFC 9293 §3.8.6.1)', () => {
  it('probes a zero window with one new octet, backing off exponentially up to persistMax, never aborting a peer that answers', () => {
    const h = new TcpHarness({ config: { persistMax: 2000, userTimeout: 5000 } });
    const connection = h.established();
    h.send({ window: 0 });
    connection.send(bytesOf('payload'));
    h.recvNothing();
    const instants: number[] = [];
    for (let t = 0; t <= 60_000; t += 50) {
      h.advanceTo(t);
      for (const segment of h.drain()) {
        // RFC 1122 §4.2.2.17: one octet of new data at SND.UNA, beyond the closed window.
        h.check(segment, checker.seqNum(L1), checker.payload('p'), checker.tcpFlags(ACK | PSH));
        instants.push(t);
        h.send({ window: 0 }); // dropped by the receiver; its ACK repeats the zero window
      }
    }
    assert.deepEqual(instants.slice(0, 6), [200, 600, 1400, 3000, 5000, 7000]);
    assert.equal(instants.at(-1), 59_000);
    assert.equal(connection.state, 'ESTABLISHED');
    const info = connection.info();
    assert.equal(info.zeroWindowProbes, instants.length);
    assert.equal(info.zeroWindowProbesAnswered, instants.length);
    assert.equal(info.retransmits, 0, 'probes are not retransmissions');
    assert.equal(h.counters.get('tcp.tx.fast-retransmits'), 0, 'probe answers are not duplicate ACKs');
    // The window opens without the probe octet accepted: everything goes from SND.UNA at once.
    h.send({ window: 1000 });
    h.recv({ seq: L1, payload: bytesOf('payload') });
    h.send({ ack: L1 + 7, window: 1000 });
    h.recvNothing();
    assert.equal(connection.info().bytesInFlight, 0);
    h.advance(120_000);
    h.recvNothing();
  });

  it('a probe octet the receiver accepts is ordinary data: the rest follows at once', () => {
    const h = new TcpHarness({ config: { persistMax: 2000 } });
    const connection = h.established();
    h.send({ window: 0 });
    connection.send(bytesOf('payload'));
    h.advanceTo(200);
    h.recv({ seq: L1, payload: bytesOf('p') });
    h.send({ ack: L1 + 1, window: 4000 });
    h.recv({ seq: L1 + 1, payload: bytesOf('ayload') });
    h.recvNothing();
  });

  it('a peer that stops answering probes is given up exactly userTimeout after the first unanswered probe', () => {
    const h = new TcpHarness({ config: { persistMax: 2000, userTimeout: 5000 } });
    const connection = h.established();
    h.send({ window: 0 });
    connection.send(bytesOf('payload'));
    h.advanceTo(200); // first probe
    h.advanceTo(5199);
    assert.equal(connection.state, 'ESTABLISHED');
    h.advanceTo(5200);
    assert.equal(connection.state, 'CLOSED');
    assert.equal(h.recorder.closeReason, 'user_timeout');
    assert.equal(h.recorder.closeError?.code, 'ETIMEDOUT');
    assert.deepEqual(h.events.named('peer_lost'), [{ id: connection.id, remote: '198.18.0.2:49500', reason: 'user_timeout', silentMs: 5200 }]);
    assert.equal(raisedFault('peer_lost', h.events.named('peer_lost')[0]), 3);
    assert.deepEqual(h.events.named('fault'), [], 'no fault code from the protocol core');
    assert.equal(h.events.named('conn_close')[0]?.reason, 'user_timeout');
  });

  it('the user timeout counts from the first unanswered probe, not from the last window update', () => {
    const h = new TcpHarness({ config: { persistMax: 2000, userTimeout: 5000 } });
    const connection = h.established();
    h.send({ window: 0 });
    connection.send(bytesOf('payload'));
    // The peer answers the probes at 200, 600, 1400 and 3000, then falls silent.
    for (const t of [200, 600, 1400, 3000]) {
      h.advanceTo(t);
      h.recv({ seq: L1, payload: bytesOf('p') });
      h.send({ window: 0 });
    }
    h.advanceTo(5000); // the first unanswered probe
    h.recv({ seq: L1 });
    h.advanceTo(9999);
    assert.equal(connection.state, 'ESTABLISHED');
    h.advanceTo(10_000);
    assert.equal(connection.state, 'CLOSED');
    assert.equal(h.recorder.closeReason, 'user_timeout');
  });

  it('data in flight when the window closes is never aborted by the retransmission limit while the peer answers', () => {
    const h = new TcpHarness({ config: { minRto: 1000, dataRetries: 3, userTimeout: 0, persistMax: 4000 } });
    const connection = h.established();
    const data = pattern(2920);
    connection.send(data);
    assert.equal(h.drain().length, 2);
    // The peer shrinks its window to zero without acknowledging anything.
    h.send({ ack: L1, window: 0 });
    const probeInstants: number[] = [];
    for (let t = 0; t <= 120_000; t += 50) {
      h.advanceTo(t);
      for (const segment of h.drain()) {
        h.check(segment, checker.seqNum(L1), checker.payloadLength(1));
        probeInstants.push(t);
        h.send({ ack: L1, window: 0 });
      }
    }
    assert.deepEqual(probeInstants.slice(0, 4), [1000, 3000, 7000, 11_000]);
    assert.ok(probeInstants.length > 3 * 3, 'far more probes than dataRetries');
    assert.equal(connection.state, 'ESTABLISHED');
    h.send({ ack: L1, window: 64_000 });
    const resent = h.drain();
    assert.deepEqual(Buffer.concat(resent.map((segment) => segment.payload)), Buffer.from(data));
  });

  it('with no user timeout, dataRetries probes in a row without an answer end the connection', () => {
    const h = new TcpHarness({ config: { minRto: 1000, dataRetries: 3, userTimeout: 0, persistMax: 60_000 } });
    const connection = h.established();
    h.send({ window: 0 });
    connection.send(bytesOf('x'));
    assert.deepEqual(emissionInstants(h, 0, 20_000), [1000, 3000, 7000]);
    assert.equal(connection.state, 'CLOSED');
    assert.equal(h.recorder.closeReason, 'retransmit_timeout');
    assert.equal(h.clock.now(), 20_000);
    assert.equal(h.counters.get('tcp.timeout.persist'), 1);
  });
});

describe('keepalive (RFC 1122 §4.2.3.6)', () => {
  it('probes after idle, every interval, and declares the peer lost after count probes', () => {
    const h = new TcpHarness({ config: { keepalive: { enabled: true, idle: 10_000, interval: 2_000, count: 3 } } });
    const connection = h.established();
    const instants: number[] = [];
    for (let t = 0; t <= 20_000; t += 16) {
      h.advanceTo(t);
      for (const segment of h.drain()) {
        if (segment.flags === RST) {
          instants.push(-t);
          continue;
        }
        assert.equal(segment.seq, L1 - 1);
        assert.equal(segment.flags, ACK);
        instants.push(t);
      }
    }
    // Detection at idle + interval·count = 16 s (SPEC §2 defaults), each keepalive timer
    // rounded up to the 64 ms grid that batches the probes of many connections
    // (timers.ts, KEEPALIVE_GRANULARITY_MS): 10 000 → 10 048, +2 000 → 12 096, 14 144,
    // and the peer is declared lost at 16 192.
    assert.deepEqual(instants, [10_048, 12_096, 14_144, -16_192]);
    assert.equal(h.recorder.closeReason, 'keepalive_timeout');
    assert.equal(h.recorder.closeError?.code, 'ETIMEDOUT');
    assert.equal(connection.info().keepaliveProbes, 3);
    assert.equal(h.counters.get('tcp.tx.keepalives'), 3);
    assert.deepEqual(h.events.named('peer_lost'), [{ id: connection.id, remote: '198.18.0.2:49500', reason: 'keepalive_timeout', silentMs: 16_192 }]);
    assert.equal(raisedFault('peer_lost', h.events.named('peer_lost')[0]), 3);
    assert.equal(h.events.named('conn_close')[0]?.reason, 'keepalive_timeout');
    const order = h.events.events.map((e) => e.event).filter((name) => name !== 'conn_open');
    assert.deepEqual(order, ['peer_lost', 'conn_close'], 'the cause, then the close; no fault code from the core');
  });

  it('per-socket setKeepAlive overrides the global idle time; the interval and count stay global', () => {
    const h = new TcpHarness({ config: { keepalive: { enabled: false, idle: 10_000, interval: 1_000, count: 2 } } });
    const connection = h.established();
    h.advanceTo(30_000);
    h.recvNothing();
    connection.setKeepAlive(true, 3000);
    // On the 64 ms keepalive grid: 33 000 → 33 024, +1 000 → 34 048, +1 000 → 35 072.
    assert.deepEqual(emissionInstants(h, 30_000, 40_000, 16), [33_024, 34_048, 35_072]);
    assert.equal(h.recorder.closeReason, 'keepalive_timeout');
  });

  it('an answered probe keeps the connection and restarts the idle period', () => {
    const h = new TcpHarness();
    const connection = h.established();
    connection.setKeepAlive(true, 5000);
    // Keepalive timers run on the 64 ms grid: 5 000 → 5 056.
    h.advanceTo(5055);
    h.recvNothing();
    h.advanceTo(5056);
    h.recv({ seq: L1 - 1, flags: ACK });
    h.send();
    // The answer at 5 056 restarts the idle period: 10 056 → 10 112.
    h.advanceTo(10_111);
    h.recvNothing();
    h.advanceTo(10_112);
    h.recv({ seq: L1 - 1, flags: ACK });
    assert.equal(connection.state, 'ESTABLISHED');
  });

  it("an answered probe's interval deadline becomes the next idle deadline: woken once, nothing sent, then probed on time", () => {
    const h = new TcpHarness();
    const connection = h.established();
    connection.setKeepAlive(true, 5000);
    h.advanceTo(5056);
    h.recv({ seq: L1 - 1, flags: ACK });
    h.send();
    // The probe armed the interval deadline (5 056 + 2 000 → 7 104 on the grid); the answer
    // moved the deadline to 10 112, and the heap entry at 7 104 is re-armed when it comes.
    assert.equal(h.stack.pollAt(), 7104);
    h.stack.poll(7104);
    h.recvNothing();
    assert.equal(h.stack.pollAt(), 10_112);
    h.advanceTo(10_111);
    h.recvNothing();
    h.advanceTo(10_112);
    h.recv({ seq: L1 - 1, flags: ACK });
    assert.equal(connection.info().keepaliveProbes, 2);
  });
});

describe('delayed ACK and idle timeout', () => {
  it('a data segment we send carries the pending ACK and cancels the delayed ACK', () => {
    const h = new TcpHarness();
    const connection = h.established();
    h.send({ payload: bytesOf('ping') });
    connection.send(bytesOf('pong'));
    h.recv({ ack: R1 + 4, payload: bytesOf('pong') });
    h.advance(100);
    h.recvNothing();
  });

  it('reports idleness once per quiet period and leaves the connection usable', () => {
    const h = new TcpHarness();
    const connection = h.established();
    connection.setIdleTimeout(1000);
    h.advanceTo(999);
    assert.deepEqual(h.recorder.calls, []);
    h.advanceTo(1000);
    assert.deepEqual(h.recorder.calls, ['idle']);
    h.advanceTo(5000);
    assert.deepEqual(h.recorder.calls, ['idle']);
    h.send({ payload: bytesOf('x') });
    h.advanceTo(6000);
    assert.deepEqual(h.recorder.calls, ['idle', 'readable', 'idle']);
    assert.equal(connection.state, 'ESTABLISHED');
  });
});
