/**
 * SACK as a data receiver (RFC 2018): negotiation on the handshake, and SACK blocks on
 * our ACKs while data is held out of order, the most recent first (§4), at most four
 * without timestamps (§3), with data segments shortened by the option bytes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ACK, FIN, LOCAL_ISS, PSH, REMOTE_ISS, SYN, TcpHarness, bytesOf, pattern } from '../support/tcp-harness.ts';

const L1 = LOCAL_ISS + 1;
const R1 = REMOTE_ISS + 1;
const SACK_SYN = { mss: 1460, sackPermitted: true };

describe('SACK-permitted negotiation (RFC 2018 §2)', () => {
  it('answers a SYN that offers SACK with SACK-permitted', () => {
    const h = new TcpHarness();
    h.listen();
    h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, options: SACK_SYN });
    h.recv({ flags: SYN | ACK, options: { mss: 1460, sackPermitted: true } });
  });

  it('does not offer it to a SYN without it, nor when switched off', () => {
    const h = new TcpHarness();
    h.listen();
    h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, options: { mss: 1460 } });
    h.recv({ flags: SYN | ACK, options: { mss: 1460 } });
    const off = new TcpHarness({ config: { sack: false } });
    off.listen();
    off.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, options: SACK_SYN });
    off.recv({ flags: SYN | ACK, options: { mss: 1460 } });
  });

  it('uses SACK on an active open only when the SYN-ACK agreed', () => {
    const h = new TcpHarness();
    h.synSent(); // the SYN offered SACK-permitted
    h.send({ seq: REMOTE_ISS, flags: SYN | ACK, options: { mss: 1460 } });
    h.recv({ flags: ACK });
    h.send({ seq: R1 + 100, flags: ACK | PSH, payload: bytesOf('late') });
    h.recv({ ack: R1, flags: ACK, options: {} });
  });
});

describe('SACK blocks (RFC 2018 §3-4)', () => {
  function sackConnection(): TcpHarness {
    const h = new TcpHarness();
    h.established(SACK_SYN);
    return h;
  }
  const segment = (h: TcpHarness, offset: number, length: number): void =>
    h.send({ seq: R1 + offset, flags: ACK | PSH, payload: pattern(length, offset) });

  it('reports held ranges, the block of the latest arrival first, until the hole fills', () => {
    const h = sackConnection();
    segment(h, 100, 100);
    h.recv({ ack: R1, options: { sackBlocks: [[R1 + 100, R1 + 200]] } });
    segment(h, 300, 100);
    h.recv({ ack: R1, options: { sackBlocks: [[R1 + 300, R1 + 400], [R1 + 100, R1 + 200]] } });
    segment(h, 500, 100);
    h.recv({ ack: R1, options: { sackBlocks: [[R1 + 500, R1 + 600], [R1 + 300, R1 + 400], [R1 + 100, R1 + 200]] } });
    // Filling the gap between the first two merges them; that block comes first.
    segment(h, 200, 100);
    h.recv({ ack: R1, options: { sackBlocks: [[R1 + 100, R1 + 400], [R1 + 500, R1 + 600]] } });
    // The first hole fills: the cumulative ACK moves on, one block remains.
    segment(h, 0, 100);
    h.recv({ ack: R1 + 400, options: { sackBlocks: [[R1 + 500, R1 + 600]] } });
    segment(h, 400, 100);
    h.recv({ ack: R1 + 600, options: {} });
  });

  it('a FIN held out of order is in the block its data ends, as Linux reports it; the block after the hole stays as it was', () => {
    const h = sackConnection();
    segment(h, 100, 100);
    h.recv({ ack: R1, options: { sackBlocks: [[R1 + 100, R1 + 200]] } });
    // The last segment, with the FIN, beyond a second hole: its block ends after the FIN.
    h.send({ seq: R1 + 300, flags: ACK | PSH | FIN, payload: pattern(100, 300) });
    h.recv({ ack: R1, options: { sackBlocks: [[R1 + 300, R1 + 401], [R1 + 100, R1 + 200]] } });
    // The hole before it fills: still held out of order, still in its block.
    segment(h, 200, 100);
    h.recv({ ack: R1, options: { sackBlocks: [[R1 + 100, R1 + 401]] } });
    // The first hole fills: everything, the FIN too, is acknowledged.
    segment(h, 0, 100);
    h.recv({ ack: R1 + 401, options: {} });
  });

  it('sends at most four blocks, the most recent ones', () => {
    const h = sackConnection();
    for (const offset of [100, 300, 500, 700, 900, 1100]) {
      segment(h, offset, 50);
      h.drain();
    }
    // A duplicate of a held range: a D-SACK block for it (RFC 2883 §4), then the block
    // that holds it (the latest arrival), then the most recent others.
    segment(h, 300, 10);
    h.recv({ ack: R1, options: { sackBlocks: [[R1 + 300, R1 + 310], [R1 + 300, R1 + 350], [R1 + 1100, R1 + 1150], [R1 + 900, R1 + 950]] } });
  });

  it('shortens data segments by the option bytes while blocks ride on them (RFC 9293 §3.7.1)', () => {
    const h = sackConnection();
    const connection = h.connection!;
    segment(h, 100, 100);
    h.drain();
    connection.send(pattern(3000));
    const first = h.recv({ seq: L1, ack: R1, options: { sackBlocks: [[R1 + 100, R1 + 200]] } });
    assert.equal(first.payload.length, 1460 - 12, 'MSS less NOP, NOP, kind, length and one 8-byte block');
  });
});
