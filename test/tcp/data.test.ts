/**
 * Data transfer in ESTABLISHED (RFC 9293 §3.8, §3.10.7.4 seventh check): both
 * directions, delayed ACK, Nagle, MSS clamping, window management, out-of-order
 * reassembly, sequence wrap-around.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ACK, FIN, LOCAL_ISS, PSH, REMOTE_ISS, TcpHarness, bytesOf, pattern } from '../support/tcp-harness.ts';
import { seqAdd } from '../../src/tcp/seq.ts';
import { delayedAckTimeout } from '../../src/tcp/ack-policy.ts';

const L1 = LOCAL_ISS + 1;
const R1 = REMOTE_ISS + 1;

describe('receiving data', () => {
  it('delivers in-order data, ACKs after the delayed-ACK timeout, and shrinks the window by what is held', () => {
    const h = new TcpHarness();
    const connection = h.established();
    const timeout = delayedAckTimeout(connection);
    h.send({ payload: bytesOf('hello') });
    h.recvNothing();
    assert.deepEqual(h.recorder.calls, ['readable']);
    assert.equal(connection.readableLength, 5);
    h.advanceTo(timeout - 1);
    h.recvNothing();
    h.advanceTo(timeout);
    h.recv({ seq: L1, ack: R1 + 5, flags: ACK, window: 16384 - 5 });
    assert.deepEqual(connection.read(100), bytesOf('hello'));
    assert.equal(connection.read(100), undefined);
  });

  it('ACKs every second segment at once', () => {
    const h = new TcpHarness();
    h.established();
    h.send({ payload: pattern(100) });
    h.recvNothing();
    h.send({ seq: R1 + 100, payload: pattern(100) });
    h.recv({ ack: R1 + 200, flags: ACK });
  });

  it('holds out-of-order data, sends duplicate ACKs, and delivers when the hole fills', () => {
    const h = new TcpHarness();
    const connection = h.established();
    const data = pattern(300);
    h.send({ seq: R1 + 200, payload: data.subarray(200, 300) });
    h.recv({ ack: R1, flags: ACK });
    h.send({ seq: R1 + 100, payload: data.subarray(100, 200) });
    h.recv({ ack: R1, flags: ACK });
    assert.equal(connection.readableLength, 0);
    h.send({ seq: R1, payload: data.subarray(0, 100) });
    h.recv({ ack: R1 + 300, flags: ACK });
    assert.deepEqual(connection.read(1000), data);
    assert.equal(h.counters.get('tcp.rx.out-of-order'), 2);
  });

  it('trims a segment overlapping already received data', () => {
    const h = new TcpHarness();
    const connection = h.established();
    const data = pattern(200);
    h.send({ payload: data.subarray(0, 100) });
    h.send({ seq: R1 + 50, payload: data.subarray(50, 200) });
    h.recv({ ack: R1 + 200 });
    assert.deepEqual(connection.read(1000), data);
  });

  it('re-ACKs a duplicate segment entirely below RCV.NXT', () => {
    const h = new TcpHarness();
    h.established();
    h.send({ payload: pattern(10) });
    h.advance(40);
    h.recv({ ack: R1 + 10 });
    h.send({ payload: pattern(10) });
    h.recv({ seq: L1, ack: R1 + 10, flags: ACK });
    // Its text is dropped; its ACK field is still read (input.ts `carriesFreshAck`).
    assert.equal(h.counters.get('tcp.rx.duplicate-ack-field'), 1);
    assert.equal(h.connection!.readableLength, 10);
  });

  it('closes the window to zero when the application does not read, and reopens it on read', () => {
    const h = new TcpHarness({ config: { rcvBuf: 4096 } });
    const connection = h.established();
    h.drain();
    const data = pattern(4096);
    for (let offset = 0; offset < 4096; offset += 1024) h.send({ seq: R1 + offset, payload: data.subarray(offset, offset + 1024) });
    const acks = h.drain();
    assert.equal(acks.at(-1)?.ack, R1 + 4096);
    assert.equal(acks.at(-1)?.window, 0);
    // Beyond the zero window: not acceptable, re-ACKed with window 0, not stored.
    h.send({ seq: R1 + 4096, payload: pattern(100) });
    h.recv({ ack: R1 + 4096, window: 0 });
    // A zero-window probe (one byte at RCV.NXT) is answered with the current window.
    h.send({ seq: R1 + 4096, payload: pattern(1) });
    h.recv({ ack: R1 + 4096, window: 0 });
    // Reading less than min(MSS, rcvBuf/2) = 1460 does not announce a window (receiver SWS).
    assert.equal(connection.read(1000)?.length, 1000);
    h.recvNothing();
    // Reading enough to open the window by >= 1460 sends a window update at once.
    assert.equal(connection.read(1000)?.length, 1000);
    h.recv({ ack: R1 + 4096, window: 2000, flags: ACK });
    assert.deepEqual(connection.read(4096), data.subarray(2000));
  });

  it('never shrinks the advertised right edge', () => {
    const h = new TcpHarness({ config: { rcvBuf: 4096 } });
    h.established();
    let edge = R1 + 16384; // placeholder, replaced by the first ACK
    let first = true;
    for (let offset = 0; offset < 4096; offset += 512) {
      h.send({ seq: R1 + offset, payload: pattern(512) });
      for (const segment of h.drain()) {
        const right = seqAdd(segment.ack, segment.window);
        if (!first) assert.ok(right >= edge, `right edge moved left: ${right} < ${edge}`);
        edge = right;
        first = false;
      }
    }
  });

  it('delivers data then the FIN in order when the FIN arrives before a hole is filled', () => {
    const h = new TcpHarness();
    const connection = h.established();
    h.send({ seq: R1 + 5, payload: bytesOf('world'), flags: FIN | ACK });
    h.recv({ ack: R1 });
    assert.equal(connection.state, 'ESTABLISHED');
    h.send({ seq: R1, payload: bytesOf('hello') });
    h.recv({ ack: R1 + 11, flags: ACK });
    assert.equal(connection.state, 'CLOSE-WAIT');
    assert.deepEqual(h.recorder.calls, ['readable', 'remote-fin']);
    assert.equal(new TextDecoder().decode(connection.read(100)), 'helloworld');
  });
});

describe('sending data', () => {
  it('sends queued data at once, with PSH, and stops the RTO when it is acknowledged', () => {
    const h = new TcpHarness();
    const connection = h.established();
    assert.equal(connection.send(bytesOf('hello')), 5);
    h.recv({ seq: L1, ack: R1, flags: ACK | PSH, payload: bytesOf('hello') });
    h.send({ ack: L1 + 5 });
    h.recvNothing();
    h.advanceTo(10_000);
    h.recvNothing();
    assert.equal(connection.info().bytesInFlight, 0);
  });

  it('Nagle holds a small segment while data is unacknowledged; setNoDelay releases it', () => {
    const h = new TcpHarness();
    const connection = h.established();
    connection.send(bytesOf('a'));
    h.recv({ payload: bytesOf('a') });
    connection.send(bytesOf('b'));
    h.recvNothing();
    connection.send(bytesOf('c'));
    h.recvNothing();
    h.send({ ack: L1 + 1 });
    h.recv({ seq: L1 + 1, payload: bytesOf('bc') });
    connection.setNoDelay(true);
    connection.send(bytesOf('d'));
    h.recv({ seq: L1 + 3, payload: bytesOf('d') });
  });

  it('segments by the peer MSS and by the congestion window (RFC 6928 initial window: 10 × 536)', () => {
    const h = new TcpHarness();
    const connection = h.established({}); // no MSS option: 536 (RFC 9293 §3.7.1)
    connection.send(pattern(8000));
    const segments = h.drain();
    assert.deepEqual(
      segments.map((segment) => segment.payload.length),
      Array.from({ length: 10 }, () => 536),
    );
    assert.equal(segments[9]?.seq, L1 + 9 * 536);
    assert.equal(connection.info().cwnd, 5360);
  });

  it('initial window is min(10·MSS, max(2·MSS, 14600)) (RFC 6928 §2)', () => {
    for (const [mss, expected] of [
      [1460, 14_600],
      [536, 5360],
      [256, 2560],
    ] as const) {
      const h = new TcpHarness({ mss });
      const connection = h.established({ mss });
      assert.equal(connection.info().cwnd, expected, `MSS ${mss}`);
    }
  });

  it('never sends more than the peer window', () => {
    const h = new TcpHarness();
    const connection = h.established();
    h.send({ window: 1000 });
    connection.send(pattern(3000));
    // 1000 bytes is neither a full segment nor half the largest window offered (64000):
    // sender SWS avoidance (RFC 9293 §3.8.6.2.1) waits for the override timeout,
    // which is the persist timer (RTO = 200 ms after the handshake's 0 ms sample).
    h.recvNothing();
    h.advance(200);
    const segments = h.drain();
    assert.equal(segments.length, 1);
    assert.equal(segments[0]?.payload.length, 1000);
  });

  it('grows cwnd by the bytes an ACK covers in slow start (RFC 3465 byte counting, as Linux) and sends what it allows', () => {
    const h = new TcpHarness();
    const connection = h.established();
    connection.send(pattern(16384));
    let sent = h.drain();
    assert.equal(sent.length, 10); // IW = 10 × 1460 (RFC 6928)
    const before = connection.info().cwnd;
    h.send({ ack: L1 + 2920 });
    sent = h.drain();
    assert.equal(connection.info().cwnd, before + 2920, 'two segments acknowledged, two segments more');
    // cwnd allows 5840 more: the 1784 unsent bytes go, a full segment and the 324-byte
    // tail (Nagle in Minshall's form: no small segment is unacknowledged).
    assert.deepEqual(
      sent.map((segment) => segment.payload.length),
      [1460, 324],
    );
  });

  it('send() takes what fits in the send buffer and reports onWritable when space frees', () => {
    const h = new TcpHarness({ config: { sndBuf: 2000 } });
    const connection = h.established();
    assert.equal(connection.send(pattern(3000)), 2000);
    assert.equal(connection.sendBufferSpace, 0);
    h.drain();
    h.send({ ack: L1 + 1460 });
    assert.deepEqual(h.recorder.calls, ['writable']);
    assert.equal(connection.sendBufferSpace, 1460);
  });
});

describe('MSS 256 (MTU 296)', () => {
  it('advertises 256 and never sends a segment with more than 256 bytes of data', () => {
    const h = new TcpHarness({ mss: 256 });
    h.listen();
    h.send({ seq: REMOTE_ISS, ack: 0, flags: 2, options: { mss: 1460 } });
    h.recv({ options: { mss: 256 } });
    h.send();
    const connection = h.accepted[0]!;
    connection.send(pattern(8000));
    let acked = L1;
    let total = 0;
    for (let round = 0; round < 100 && total < 8000; round++) {
      for (const segment of h.drain()) {
        assert.ok(segment.payload.length <= 256, `segment of ${segment.payload.length}`);
        total += segment.payload.length;
        acked = Math.max(acked, segment.seq + segment.payload.length);
      }
      h.send({ ack: acked });
    }
    assert.equal(total, 8000);
  });

  it('honours a peer MSS smaller than ours', () => {
    const h = new TcpHarness();
    const connection = h.established({ mss: 300 });
    connection.send(pattern(1000));
    assert.deepEqual(
      h.drain().map((segment) => segment.payload.length),
      [300, 300, 300, 100],
    );
    // More small data waits behind the unacknowledged 100-byte segment (Nagle).
    connection.send(pattern(50));
    h.recvNothing();
    h.send({ ack: L1 + 1000 });
    h.recv({ seq: L1 + 1000, payload: pattern(50) });
  });
});

describe('sequence numbers across 2^32', () => {
  it('transfers both ways with both ISNs just below the wrap', () => {
    const localIss = 0xffffff00;
    const remoteIss = 0xffffff80;
    const h = new TcpHarness({ iss: localIss, remoteIss });
    const connection = h.established();
    const outbound = pattern(3000, 1);
    connection.setNoDelay(true);
    connection.send(outbound);
    const received: Uint8Array[] = [];
    for (let round = 0; round < 20; round++) {
      const segments = h.drain();
      if (segments.length === 0) break;
      let ack = 0;
      for (const segment of segments) {
        received.push(segment.payload);
        ack = seqAdd(segment.seq, segment.payload.length);
      }
      h.send({ ack });
    }
    assert.deepEqual(Buffer.concat(received), Buffer.from(outbound));
    assert.equal(connection.info().bytesInFlight, 0);
    // Inbound: 3000 bytes in 300-byte segments across the peer's wrap.
    const inbound = pattern(3000, 2);
    for (let offset = 0; offset < 3000; offset += 300) {
      h.send({ seq: seqAdd(remoteIss, 1 + offset), ack: seqAdd(localIss, 3001), payload: inbound.subarray(offset, offset + 300) });
    }
    assert.deepEqual(connection.read(10_000), inbound);
    const acks = h.drain();
    assert.equal(acks.at(-1)?.ack, seqAdd(remoteIss, 3001));
  });
});
