/**
 * Timers on a ManualClock: RFC 6298 retransmission (exact instants, back-off, Karn),
 * retransmission limits, user timeout (RFC 5482), fast retransmit (RFC 5681 §3.2),
 * persist (zero-window probes), keepalive (RFC 1122 §4.2.3.6), idle timeout.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ACK, LOCAL_ISS, REMOTE_ISS, RST, TcpHarness, bytesOf, pattern } from '../support/tcp-harness.ts';

const L1 = LOCAL_ISS + 1;
const R1 = REMOTE_ISS + 1;

/** Instants (from `from` to `to` in 50 ms steps) at which a segment was emitted. */
function emissionInstants(h: TcpHarness, from: number, to: number): number[] {
  const instants: number[] = [];
  for (let t = from; t <= to; t += 50) {
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
    const h = new TcpHarness({ config: { minRto: 1000 } });
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
    const h = new TcpHarness();
    const connection = h.established();
    const data = pattern(14_600);
    connection.send(data);
    assert.equal(h.drain().length, 3);
    h.send({ ack: L1 + 1460 });
    assert.equal(h.drain().length, 2); // cwnd 5840: segments up to L1 + 7300
    h.send({ ack: L1 + 1460 });
    h.send({ ack: L1 + 1460 });
    h.recvNothing();
    h.send({ ack: L1 + 1460 });
    h.recv({ seq: L1 + 1460, payload: data.subarray(1460, 2920) });
    assert.equal(h.counters.get('tcp.tx.fast-retransmits'), 1);
    assert.ok(connection.congestion.inRecovery);
    assert.equal(connection.info().ssthresh, 2920);
    h.drain();
    h.send({ ack: connection.sndMax });
    assert.equal(connection.congestion.inRecovery, false);
    assert.ok(connection.info().cwnd <= 2920);
  });
});

describe('persist timer (RFC 9293 §3.8.6.1)', () => {
  it('probes a zero window with exponential back-off capped at persistMax, never aborting a peer that answers', () => {
    const h = new TcpHarness({ config: { persistMax: 2000, userTimeout: 5000 } });
    const connection = h.established();
    h.send({ window: 0 });
    connection.send(bytesOf('payload'));
    h.recvNothing();
    const instants: number[] = [];
    for (let t = 0; t <= 60_000; t += 50) {
      h.advanceTo(t);
      for (const segment of h.drain()) {
        // Linux-style probe: an old sequence number, no data, always answered.
        assert.equal(segment.seq, L1 - 1);
        assert.equal(segment.payload.length, 0);
        instants.push(t);
        h.send({ window: 0 });
      }
    }
    assert.deepEqual(instants.slice(0, 5), [200, 600, 1400, 3000, 5000]);
    assert.equal(instants.at(-1), 59_000);
    assert.equal(connection.state, 'ESTABLISHED');
    assert.equal(connection.info().zeroWindowProbes, instants.length);
    // The window opens: the data goes at once.
    h.send({ window: 1000 });
    h.recv({ seq: L1, payload: bytesOf('payload') });
  });

  it('a peer that stops answering probes is given up after the user timeout', () => {
    const h = new TcpHarness({ config: { persistMax: 2000, userTimeout: 5000 } });
    const connection = h.established();
    h.send({ window: 0 });
    connection.send(bytesOf('payload'));
    h.advanceTo(20_000);
    assert.equal(connection.state, 'CLOSED');
    assert.equal(h.recorder.closeReason, 'user_timeout');
  });
});

describe('keepalive (RFC 1122 §4.2.3.6)', () => {
  it('probes after idle, every interval, and declares the peer lost after count probes', () => {
    const h = new TcpHarness({ config: { keepalive: { enabled: true, idle: 10_000, interval: 2_000, count: 3 } } });
    const connection = h.established();
    const instants: number[] = [];
    for (let t = 0; t <= 20_000; t += 50) {
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
    assert.deepEqual(instants, [10_000, 12_000, 14_000, -16_000]);
    assert.equal(h.recorder.closeReason, 'keepalive_timeout');
    assert.equal(h.recorder.closeError?.code, 'ETIMEDOUT');
    assert.equal(connection.info().keepaliveProbes, 3);
  });

  it('an answered probe keeps the connection and restarts the idle period', () => {
    const h = new TcpHarness();
    const connection = h.established();
    connection.setKeepAlive(true, 5000);
    h.advanceTo(5000);
    h.recv({ seq: L1 - 1, flags: ACK });
    h.send();
    h.advanceTo(9999);
    h.recvNothing();
    h.advanceTo(10_000);
    h.recv({ seq: L1 - 1, flags: ACK });
    assert.equal(connection.state, 'ESTABLISHED');
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
