/**
 * What a device left in the field for months meets (issue "bounded for a year"): the
 * sequence number of our ACKs and RSTs while a zero-window probe is outstanding, the
 * right edge of the receive window, liveness from validated segments only, a sensor
 * that closes and sleeps, NewReno after 2^31 loss-free bytes, and MUST-46.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ACK, FIN, LOCAL_ISS, PSH, REMOTE_ISS, REMOTE_PORT, RST, SYN, TcpHarness, bytesOf } from '../support/tcp-harness.ts';
import { NewReno } from '../../src/tcp/congestion.ts';
import { Cubic } from '../../src/tcp/cubic.ts';
import { parseIpv4 } from '../../src/net/address.ts';
import { SynCookies, type CookieCheck } from '../../src/tcp/syn-cookie.ts';
import { SeededRandom } from '../../src/random.ts';
import type { NetError } from '../../src/errors.ts';

const L1 = LOCAL_ISS + 1;
const R1 = REMOTE_ISS + 1;

describe('ACK and RST sequence numbers while a zero-window probe is out (RFC 9293 §3.10.7.4)', () => {
  it('a pure ACK carries SND.UNA + SND.WND, which a peer with a closed window accepts, not SND.NXT past the probe octet', () => {
    const h = new TcpHarness({ config: { persistMax: 2000 } });
    const connection = h.established();
    h.send({ window: 0 });
    connection.send(bytesOf('payload'));
    h.advanceTo(200);
    h.recv({ seq: L1, flags: ACK | PSH, payload: bytesOf('p') }); // the probe octet: SND.MAX = L1 + 1
    // The peer keeps its window shut and sends data of its own: our ACK must sit at its RCV.NXT.
    h.send({ seq: R1, window: 0, flags: ACK | PSH, payload: bytesOf('hello') });
    h.advance(40);
    h.recv({ seq: L1, ack: R1 + 5, flags: ACK });
    // An RST (abort) goes at the same acceptable sequence number.
    connection.abort();
    h.recv({ seq: L1, flags: RST });
  });

  it('with the window open the ACK carries the highest sequence number sent, as before', () => {
    const h = new TcpHarness();
    const connection = h.established();
    connection.send(bytesOf('abc'));
    h.recv({ seq: L1, payload: bytesOf('abc') });
    h.send({ seq: R1, ack: L1, flags: ACK | PSH, payload: bytesOf('x') });
    h.advance(40);
    h.recv({ seq: L1 + 3, ack: R1 + 1, flags: ACK });
  });
});

describe('the right edge of the receive window', () => {
  it('accepts a zero-length ACK at exactly RCV.NXT + RCV.WND, as Linux does', () => {
    const h = new TcpHarness({ config: { rcvBuf: 4096 } });
    const connection = h.established();
    connection.send(bytesOf('data'));
    h.recv({ seq: L1, payload: bytesOf('data') });
    const window = connection.info().receiveWindow;
    assert.ok(window > 0);
    h.send({ seq: R1 + window, ack: L1 + 4 });
    assert.equal(connection.info().bytesInFlight, 0, 'its ACK was processed');
    assert.equal(h.counters.get('tcp.drop.out-of-window'), 0);
    h.send({ seq: R1 + window + 1, ack: L1 + 4 });
    assert.equal(h.counters.get('tcp.drop.out-of-window'), 1, 'one past the edge is still out of window');
  });
});

describe('liveness from acceptable segments only', () => {
  it('out-of-window segments and ACKs of unsent data do not keep a silent peer alive', () => {
    const h = new TcpHarness({ config: { keepalive: { enabled: true, idle: 10_000, interval: 2_000, count: 3 } } });
    const connection = h.established();
    const errors: NetError[] = [];
    h.recorder.onClose = (_reason, error) => {
      if (error) errors.push(error);
    };
    // An off-path sender that knows the 4-tuple sends junk every second.
    for (let t = 1000; t <= 15_000; t += 1000) {
      h.advanceTo(t);
      h.send({ seq: R1 + 1_000_000, flags: ACK }); // out of window
      h.send({ seq: R1, ack: L1 + 500_000, flags: ACK }); // acknowledges data never sent
    }
    // idle + interval·count = 16 s, on the 64 ms keepalive grid: probes at 10 048,
    // 12 096, 14 144, lost at 16 192 (timers.ts, KEEPALIVE_GRANULARITY_MS).
    h.advanceTo(16_191);
    assert.equal(connection.state, 'ESTABLISHED');
    h.advanceTo(16_192);
    assert.equal(connection.state, 'CLOSED', 'declared lost at idle + interval·count, junk or not');
    assert.equal(h.events.named('peer_lost')[0]?.reason, 'keepalive_timeout');
  });

  it('an acceptable segment does restart the keepalive clock', () => {
    const h = new TcpHarness({ config: { keepalive: { enabled: true, idle: 10_000, interval: 2_000, count: 3 } } });
    const connection = h.established();
    h.advanceTo(9_000);
    h.send({ seq: R1, flags: ACK });
    // 9 000 + 10 000 on the 64 ms keepalive grid: 19 008.
    h.advanceTo(19_007);
    h.recvNothing();
    h.advanceTo(19_008);
    h.recv({ seq: L1 - 1, flags: ACK });
    assert.equal(connection.state, 'ESTABLISHED');
  });
});

describe('a sensor that closes and sleeps', () => {
  it('never ACKing our FIN after its own ends the connection quietly: no peer_lost, no fault 3', () => {
    const h = new TcpHarness({ config: { userTimeout: 30_000 } });
    const connection = h.established();
    h.send({ seq: R1, flags: ACK | FIN });
    h.recv({ ack: R1 + 1, flags: ACK });
    assert.equal(connection.state, 'CLOSE-WAIT');
    connection.shutdown();
    h.recv({ seq: L1, flags: ACK | FIN });
    assert.equal(connection.state, 'LAST-ACK');
    // The sensor is asleep: our FIN is never acknowledged.
    h.advanceTo(29_999);
    assert.equal(connection.state, 'LAST-ACK');
    h.advanceTo(30_000);
    assert.equal(connection.state, 'CLOSED');
    assert.deepEqual(h.events.named('peer_lost'), []);
    assert.equal(h.counters.get('tcp.timeout.after-peer-fin'), 1);
    assert.equal(h.events.named('conn_close').at(-1)?.reason, 'user_timeout');
  });

  it('a peer that goes silent without a FIN is still reported lost', () => {
    const h = new TcpHarness({ config: { userTimeout: 30_000 } });
    const connection = h.established();
    connection.shutdown();
    h.recv({ seq: L1, flags: ACK | FIN });
    h.advanceTo(30_000);
    assert.equal(connection.state, 'CLOSED');
    assert.equal(h.events.named('peer_lost')[0]?.reason, 'user_timeout');
  });
});

describe('NewReno and CUBIC after 2^31 bytes without a loss (RFC 6582 §3.2 step 2)', () => {
  for (const Algorithm of [NewReno, Cubic]) {
    it(`${new Algorithm().algorithm}: the third duplicate ACK still starts fast retransmit`, () => {
      const congestion = new Algorithm();
      congestion.start(1460, 1, false);
      let ack = 1;
      // Three jumps of 2^30 bytes: SND.UNA ends 3·2^30 past where `recover` was set, which
      // sequence arithmetic reads as 2^30 behind it.
      for (let i = 0; i < 3; i++) {
        ack = (ack + 2 ** 30) >>> 0;
        congestion.onAck(ack, 2 ** 30, 10 * 1460, i * 10, 10);
      }
      const flight = 10 * 1460;
      const highest = (ack + flight) >>> 0;
      assert.equal(congestion.onDuplicateAck(ack, flight, highest), 'none');
      assert.equal(congestion.onDuplicateAck(ack, flight, highest), 'none');
      assert.equal(congestion.onDuplicateAck(ack, flight, highest), 'retransmit');
    });
  }
});

describe('OPEN to a non-unicast address (RFC 9293 MUST-46)', () => {
  for (const address of ['224.0.0.1', '239.255.255.250', '240.0.0.1', '255.255.255.255', '0.0.0.0']) {
    it(`rejects ${address}`, () => {
      const h = new TcpHarness();
      assert.throws(() => h.stack.connect(parseIpv4(address)!, 80), { code: 'EINVAL' });
      assert.equal([...h.stack.connections()].length, 0);
      h.recvNothing();
    });
  }
});

describe('orphans: connections the application let go of (Linux tcp_fin_timeout, tcp_orphan_retries, tcp_max_orphans)', () => {
  it('an orphan in FIN-WAIT-2 ends quietly after finTimeout; an owned one waits for the peer', () => {
    const h = new TcpHarness({ config: { finTimeout: 60_000 } });
    const orphan = h.finWait2();
    orphan.orphan();
    assert.equal(h.stack.orphanCount, 1);
    h.advanceTo(59_999);
    assert.equal(orphan.state, 'FIN-WAIT-2');
    h.advanceTo(60_000);
    assert.equal(orphan.state, 'CLOSED');
    h.recvNothing();
    assert.equal(h.events.named('conn_close').at(-1)?.reason, 'fin_timeout');
    assert.equal(h.stack.orphanCount, 0);
  });

  it('an owned FIN-WAIT-2 connection is not bounded by finTimeout', () => {
    const h = new TcpHarness({ config: { finTimeout: 60_000 } });
    const connection = h.finWait2();
    h.advanceTo(600_000);
    assert.equal(connection.state, 'FIN-WAIT-2');
  });

  it('an orphan probing a zero window that the peer answers gives up with RST once the interval is capped and orphanRetries probes are out', () => {
    const h = new TcpHarness({ config: { persistMax: 2000, orphanRetries: 8, userTimeout: 0 } });
    const connection = h.established();
    h.send({ window: 0 });
    connection.send(bytesOf('payload'));
    connection.orphan();
    assert.equal(connection.state, 'FIN-WAIT-1');
    let probes = 0;
    const closed = (): boolean => connection.state === 'CLOSED';
    for (let t = 0; t <= 60_000 && !closed(); t += 50) {
      h.advanceTo(t);
      for (const segment of h.drain()) {
        if (segment.flags & RST) continue;
        probes++;
        h.send({ window: 0 }); // the peer answers every probe: alive, window shut
      }
    }
    assert.equal(connection.state, 'CLOSED');
    assert.equal(probes, 8);
    assert.equal(h.counters.get('tcp.timeout.orphan'), 1);
    assert.equal(h.counters.get('tcp.tx.rst'), 1, 'the peer is told');
    assert.equal(h.events.named('conn_close').at(-1)?.reason, 'retransmit_timeout');
  });

  it('an orphan retransmitting to a silent peer gives up after orphanRetries back-offs, not dataRetries', () => {
    const h = new TcpHarness({ config: { orphanRetries: 3, dataRetries: 15, userTimeout: 0 } });
    const connection = h.established();
    connection.send(bytesOf('data'));
    h.recv({ payload: bytesOf('data') });
    connection.orphan();
    h.recv({ flags: ACK | FIN });
    h.advance(600_000);
    assert.equal(connection.state, 'CLOSED');
    assert.equal(connection.info().retransmits, 3);
    assert.equal(h.counters.get('tcp.timeout.orphan'), 1);
  });

  it('data for an orphan is answered with RST', () => {
    const h = new TcpHarness();
    const connection = h.finWait2();
    connection.orphan();
    h.send({ seq: R1, flags: ACK | PSH, payload: bytesOf('late') });
    assert.equal(connection.state, 'CLOSED');
    h.recv({ flags: RST });
    assert.equal(h.counters.get('tcp.rx.data-for-orphan'), 1);
  });

  it('beyond maxOrphans the oldest orphan is reset', () => {
    const h = new TcpHarness({ config: { maxOrphans: 1 } });
    const first = h.finWait2();
    first.orphan();
    // A second connection on the same listener, from another port of the peer.
    h.send({ sourcePort: REMOTE_PORT + 1, seq: REMOTE_ISS, ack: 0, flags: SYN, options: { mss: 1460 } });
    const synAck = h.recv({ destinationPort: REMOTE_PORT + 1, flags: SYN | ACK });
    h.send({ sourcePort: REMOTE_PORT + 1, seq: R1, ack: synAck.seq + 1, flags: ACK });
    const second = h.accepted.at(-1)!;
    assert.equal(second.state, 'ESTABLISHED');
    second.orphan();
    assert.equal(second.state, 'FIN-WAIT-1');
    assert.equal(first.state, 'CLOSED');
    assert.equal(h.stack.orphanCount, 1);
    assert.equal(h.counters.get('tcp.orphans.reset'), 1);
  });
});

describe('SYN cookies', () => {
  it('carry the MSS sizes real peers send: 1380 stays 1380, 200 rounds to 128, not 64', () => {
    const cookies = new SynCookies(new SeededRandom(3));
    const local = parseIpv4('198.18.0.1')!;
    const remote = parseIpv4('198.18.0.2')!;
    const roundTrip = (peerMss: number): CookieCheck => {
      const cookie = cookies.make(local, 80, remote, 40_000, 1234, peerMss, 0);
      return cookies.check(local, 80, remote, 40_000, 1234, cookie, 0);
    };
    assert.equal(roundTrip(1380), 1380);
    assert.equal(roundTrip(1460), 1460);
    assert.equal(roundTrip(536), 536);
    assert.equal(roundTrip(256), 256);
    assert.equal(roundTrip(200), 128);
    assert.equal(roundTrip(64), 64);
  });

  it('never reopen a TIME-WAIT tuple: with the backlog full its SYN gets a challenge ACK, not a cookie', () => {
    const h = new TcpHarness({ config: { synBacklog: 1 } });
    const old = h.timeWait();
    // Fill the backlog with a half-open connection from another port.
    h.send({ sourcePort: REMOTE_PORT + 1, seq: REMOTE_ISS, ack: 0, flags: SYN });
    h.recv({ destinationPort: REMOTE_PORT + 1, flags: SYN | ACK });
    // The old peer opens again: a cookie's ISS could fall inside the old incarnation.
    h.send({ seq: R1 + 100_000, ack: 0, flags: SYN });
    h.recv({ seq: old.tcb.sndMax, ack: R1 + 1, flags: ACK });
    assert.equal(h.counters.get('tcp.tx.syn-cookies'), 0);
    assert.equal(h.stack.timeWaitCount, 1, 'TIME-WAIT is kept');
  });
});

describe("Nagle in Minshall's form (Linux tcp_minshall_check)", () => {
  it('sends the short tail of a response at once, and holds a small segment only behind an unacknowledged small one', () => {
    const h = new TcpHarness();
    const connection = h.established();
    connection.send(new Uint8Array(2000));
    h.recv({ seq: L1, payload: new Uint8Array(1460) });
    h.recv({ seq: L1 + 1460, payload: new Uint8Array(540) }); // strict Nagle held this for the delayed ACK
    connection.send(bytesOf('more'));
    h.recvNothing(); // the 540-byte segment is still unacknowledged
    h.send({ ack: L1 + 2000 });
    h.recv({ seq: L1 + 2000, payload: bytesOf('more') });
  });
});
