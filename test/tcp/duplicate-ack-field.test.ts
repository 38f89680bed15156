/**
 * The ACK field of a retransmitted segment we already hold (src/tcp/input.ts
 * `carriesFreshAck`): processed, as 4.4BSD and Linux do for a recent duplicate, where
 * RFC 9293 §3.10.7.4 would drop the segment whole. When the peer has nothing new to
 * send, a retransmission may be the only segment that carries its ACK of our data.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ACK, LOCAL_ISS, REMOTE_ISS, TcpHarness, pattern } from '../support/tcp-harness.ts';

const R1 = REMOTE_ISS + 1;
const L1 = LOCAL_ISS + 1;
const MSS = 1000;

/** ESTABLISHED with SACK, 2 KiB of the peer's data received and acknowledged, 1000 bytes of ours in flight. */
function withOursInFlight(rcvBuf = 8 * 1024): { h: TcpHarness; data: Uint8Array } {
  const h = new TcpHarness({ config: { rcvBuf } });
  h.established({ mss: MSS, sackPermitted: true });
  const c = h.connection!;
  const data = pattern(2 * MSS);
  h.send({ seq: R1, payload: data.subarray(0, MSS) });
  h.send({ seq: R1 + MSS, payload: data.subarray(MSS) });
  h.recv({ ack: R1 + 2 * MSS, flags: ACK });
  c.send(pattern(MSS, 7));
  h.recv({ seq: L1, payload: pattern(MSS, 7) });
  assert.equal(c.info().bytesInFlight, MSS);
  return { h, data };
}

describe('the ACK field of a duplicate segment', () => {
  it('acknowledges our data when it rides on a retransmission of text we hold, and answers with a D-SACK at once', () => {
    const { h, data } = withOursInFlight();
    h.send({ seq: R1 + MSS, ack: L1 + MSS, payload: data.subarray(MSS) });
    assert.equal(h.connection!.info().bytesInFlight, 0, 'SND.UNA moved: the ACK field was processed');
    h.recv({ seq: L1 + MSS, ack: R1 + 2 * MSS, flags: ACK, options: { sackBlocks: [[R1 + MSS, R1 + 2 * MSS]] } });
    h.recvNothing();
    assert.equal(h.connection!.readableLength, 2 * MSS, 'the duplicate text was not taken again');
    assert.equal(h.counters.get('tcp.rx.duplicate-ack-field'), 1);
    assert.equal(h.counters.get('tcp.drop.out-of-window'), 0);
  });

  it('still drops a duplicate from further back than one receive buffer, ACK field and all', () => {
    const rcvBuf = 2 * MSS;
    const { h } = withOursInFlight(rcvBuf);
    const c = h.connection!;
    c.read(1 << 20);
    // Another buffer's worth in order, read: RCV.NXT is now 4000 past R1.
    const more = pattern(2 * MSS, 3);
    h.send({ seq: R1 + 2 * MSS, payload: more.subarray(0, MSS) });
    h.send({ seq: R1 + 3 * MSS, payload: more.subarray(MSS) });
    c.read(1 << 20);
    h.drain();
    h.send({ seq: R1 + MSS, ack: L1 + MSS, payload: pattern(MSS) });
    assert.equal(c.info().bytesInFlight, MSS, 'older than one buffer: RFC 9293 §3.10.7.4, ACK and drop');
    h.recv({ ack: R1 + 4 * MSS, flags: ACK });
    assert.equal(h.counters.get('tcp.drop.out-of-window'), 1);
    assert.equal(h.counters.get('tcp.rx.duplicate-ack-field'), 0);
  });

  it('does not count the duplicate as a duplicate ACK (it carries text, RFC 5681 §2)', () => {
    const { h, data } = withOursInFlight();
    for (let i = 0; i < 3; i++) h.send({ seq: R1 + MSS, ack: L1, payload: data.subarray(MSS) });
    assert.equal(h.connection!.duplicateAcks, 0);
    assert.equal(h.counters.get('tcp.tx.fast-retransmits'), 0);
    assert.equal(h.connection!.info().retransmits, 0);
  });
});
