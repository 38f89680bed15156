/**
 * Closing (RFC 9293 §3.6): both orders, half-close, simultaneous close, TIME-WAIT,
 * and RST handling with RFC 5961 challenge ACKs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ACK, FIN, LOCAL_ISS, REMOTE_ISS, RST, SYN, TcpHarness, bytesOf } from '../support/tcp-harness.ts';

const L1 = LOCAL_ISS + 1;
const R1 = REMOTE_ISS + 1;

describe('we close first: FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT → CLOSED', () => {
  it('keeps receiving in FIN-WAIT-2 (half-close), then TIME-WAIT lasts exactly 2·MSL', () => {
    const h = new TcpHarness({ config: { msl: 5000 } });
    const connection = h.finWait2();
    h.send({ ack: L1 + 1, payload: bytesOf('late data') });
    assert.equal(new TextDecoder().decode(connection.read(100)), 'late data');
    h.advance(40);
    h.recv({ seq: L1 + 1, ack: R1 + 9, flags: ACK });
    const start = h.clock.now();
    h.send({ seq: R1 + 9, ack: L1 + 1, flags: FIN | ACK });
    h.recv({ seq: L1 + 1, ack: R1 + 10, flags: ACK });
    assert.equal(connection.state, 'TIME-WAIT');
    assert.deepEqual(h.recorder.calls, ['readable', 'remote-fin', 'close:fin']);
    assert.equal(h.events.named('conn_close')[0]?.reason, 'fin');
    h.advanceTo(start + 9999);
    assert.equal(connection.state, 'TIME-WAIT');
    h.advanceTo(start + 10_000);
    assert.equal(connection.state, 'CLOSED');
    assert.equal([...h.stack.connections()].length, 0);
    assert.equal(h.recorder.closes, 1, 'onClose exactly once');
  });

  it('FIN-WAIT-1 + FIN with ACK of our FIN goes straight to TIME-WAIT', () => {
    const h = new TcpHarness();
    const connection = h.finWait1();
    h.send({ ack: L1 + 1, flags: FIN | ACK });
    h.recv({ seq: L1 + 1, ack: R1 + 1, flags: ACK });
    assert.equal(connection.state, 'TIME-WAIT');
  });

  it('sends the FIN after the data, not held by Nagle', () => {
    const h = new TcpHarness();
    const connection = h.established();
    connection.send(bytesOf('bye'));
    connection.shutdown();
    h.recv({ seq: L1, payload: bytesOf('bye'), flags: ACK | 8 /* PSH */ });
    h.recv({ seq: L1 + 3, payload: new Uint8Array(0), flags: ACK | FIN });
    assert.equal(connection.state, 'FIN-WAIT-1');
    assert.equal(connection.send(bytesOf('more')), 0, 'no data after shutdown');
  });

  it('TIME-WAIT re-ACKs a retransmitted FIN and restarts 2·MSL', () => {
    const h = new TcpHarness({ config: { msl: 1000 } });
    const connection = h.timeWait();
    h.advance(1500);
    h.send({ seq: R1, ack: L1 + 1, flags: FIN | ACK });
    h.recv({ seq: L1 + 1, ack: R1 + 1, flags: ACK });
    h.advance(1999);
    assert.equal(connection.state, 'TIME-WAIT');
    h.advance(1);
    assert.equal(connection.state, 'CLOSED');
  });

  it('TIME-WAIT ignores an in-window RST (RFC 1337)', () => {
    const h = new TcpHarness();
    const connection = h.timeWait();
    h.send({ seq: R1 + 1, flags: RST });
    assert.equal(connection.state, 'TIME-WAIT');
  });

  it('a new SYN with a higher sequence number reopens a TIME-WAIT connection', () => {
    const h = new TcpHarness();
    const old = h.timeWait();
    h.send({ seq: R1 + 100_000, ack: 0, flags: SYN });
    assert.equal(old.state, 'CLOSED');
    h.recv({ flags: SYN | ACK, ack: R1 + 100_001 });
    assert.equal([...h.stack.connections()][0]?.state, 'SYN-RECEIVED');
  });
});

describe('the peer closes first: CLOSE-WAIT → LAST-ACK → CLOSED', () => {
  it('keeps sending in CLOSE-WAIT and closes on the ACK of our FIN', () => {
    const h = new TcpHarness();
    const connection = h.closeWait();
    assert.deepEqual(h.recorder.calls, ['remote-fin']);
    connection.send(bytesOf('reply'));
    h.recv({ seq: L1, ack: R1 + 1, payload: bytesOf('reply') });
    connection.shutdown();
    assert.equal(connection.state, 'LAST-ACK');
    h.send({ seq: R1 + 1, ack: L1 + 5 });
    h.recv({ seq: L1 + 5, ack: R1 + 1, flags: FIN | ACK });
    h.send({ seq: R1 + 1, ack: L1 + 6 });
    assert.equal(connection.state, 'CLOSED');
    assert.equal(h.recorder.closeReason, 'fin');
    assert.equal(h.recorder.closeError, undefined);
  });

  it('retransmits the FIN in LAST-ACK', () => {
    const h = new TcpHarness();
    h.lastAck();
    h.advance(200);
    h.recv({ seq: L1, ack: R1 + 1, flags: FIN | ACK });
  });
});

describe('simultaneous close: FIN-WAIT-1 → CLOSING → TIME-WAIT', () => {
  it('enters TIME-WAIT when the peer acknowledges our FIN', () => {
    const h = new TcpHarness();
    const connection = h.closing();
    h.send({ seq: R1 + 1, ack: L1 + 1 });
    assert.equal(connection.state, 'TIME-WAIT');
    assert.equal(h.recorder.closeReason, 'fin');
  });
});

describe('RST in synchronized states (RFC 9293 §3.10.7.4, RFC 5961 §3)', () => {
  it('an RST exactly at RCV.NXT resets the connection with ECONNRESET', () => {
    const h = new TcpHarness();
    const connection = h.established();
    h.send({ flags: RST });
    h.recvNothing();
    assert.equal(connection.state, 'CLOSED');
    assert.equal(h.recorder.closeReason, 'rst');
    assert.equal(h.recorder.closeError?.code, 'ECONNRESET');
  });

  it('an in-window RST not at RCV.NXT gets a challenge ACK and changes nothing', () => {
    const h = new TcpHarness();
    const connection = h.established();
    h.send({ seq: R1 + 100, flags: RST });
    h.recv({ seq: L1, ack: R1, flags: ACK });
    assert.equal(connection.state, 'ESTABLISHED');
  });

  it('an out-of-window RST is dropped without reply', () => {
    const h = new TcpHarness();
    const connection = h.established();
    h.send({ seq: R1 + 1_000_000, flags: RST });
    h.recvNothing();
    assert.equal(connection.state, 'ESTABLISHED');
  });

  it('a SYN in ESTABLISHED gets a challenge ACK (RFC 5961 §4)', () => {
    const h = new TcpHarness();
    const connection = h.established();
    h.send({ seq: R1 + 10, ack: 0, flags: SYN });
    h.recv({ seq: L1, ack: R1, flags: ACK });
    assert.equal(connection.state, 'ESTABLISHED');
  });

  it('an ACK for data never sent is answered with an ACK and dropped', () => {
    const h = new TcpHarness();
    const connection = h.established();
    h.send({ ack: L1 + 5000, payload: bytesOf('x') });
    h.recv({ seq: L1, ack: R1, flags: ACK });
    assert.equal(connection.readableLength, 0);
  });

  it('abort() sends RST <SEQ=SND.NXT> and reports aborted once', () => {
    const h = new TcpHarness();
    const connection = h.established();
    connection.send(bytesOf('abc'));
    h.drain();
    connection.abort();
    h.recv({ seq: L1 + 3, flags: RST });
    assert.equal(connection.state, 'CLOSED');
    assert.deepEqual(h.recorder.calls, ['close:aborted']);
    connection.abort();
    h.recvNothing();
    assert.equal(h.recorder.closes, 1);
  });

  it('an RST in LAST-ACK closes without an error', () => {
    const h = new TcpHarness();
    const connection = h.lastAck();
    h.send({ seq: R1 + 1, flags: RST });
    assert.equal(connection.state, 'CLOSED');
    assert.equal(h.recorder.closeError, undefined);
  });
});

describe('handler robustness', () => {
  it('a throwing handler is counted and the stack carries on', () => {
    const h = new TcpHarness();
    const connection = h.established();
    connection.handler = {
      ...h.recorder,
      onReadable: () => {
        throw new Error('application bug');
      },
      onEstablished: () => undefined,
      onWritable: () => undefined,
      onRemoteFin: () => undefined,
      onIdleTimeout: () => undefined,
      onClose: () => undefined,
    };
    h.send({ payload: bytesOf('x') });
    assert.equal(h.counters.get('tcp.handler-error'), 1);
    assert.deepEqual(h.events.named('handler_error').map((fields) => [fields.callback, fields.error]), [['onReadable', 'Error: application bug']]);
    h.send({ seq: R1 + 1, payload: bytesOf('y') });
    h.recv({ ack: R1 + 2 });
  });
});
