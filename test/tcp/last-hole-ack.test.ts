/**
 * The ACK of a segment that fills the last hole of the receive queue leaves twice
 * (`tcp.repeatLastHoleAck`, src/tcp/ack-policy.ts `lastHoleFilled`; not in RFC 5681 or
 * Linux): exact segments on the TCP harness, frame by frame and in a receive batch, a
 * hole filled with another left (one ACK, with the SACK block of what is still held), and
 * the switch off (one ACK, as RFC 5681 §4.2 and Linux).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ACK, REMOTE_ISS, TcpHarness, pattern, type Segment } from '../support/tcp-harness.ts';
import type { TcpConfig } from '../../src/tcp/config.ts';

const R1 = REMOTE_ISS + 1;
const MSS = 1000;
const DATA = pattern(MSS * 8);

function established(config: Partial<TcpConfig> = {}): TcpHarness {
  const h = new TcpHarness({ config: { rcvBuf: 64 * 1024, ...config } });
  h.established({ mss: MSS, sackPermitted: true });
  return h;
}

/** Segment `index` (0-based) of DATA. */
function segment(index: number): Partial<Segment> {
  return { seq: R1 + index * MSS, payload: DATA.subarray(index * MSS, (index + 1) * MSS) };
}

/** Segments 0 and 2..4 arrive frame by frame (1 is lost): one ACK for 0 (delayed), a duplicate ACK with a SACK block each. */
function withHoleAt1(h: TcpHarness): void {
  h.send(segment(0));
  for (let i = 2; i <= 4; i++) h.send(segment(i));
  const acks = h.drain();
  assert.deepEqual(acks.map((a) => a.ack), [R1 + MSS, R1 + MSS, R1 + MSS], 'three duplicate ACKs at the hole');
  assert.deepEqual(acks.at(-1)!.options.sackBlocks, [[R1 + 2 * MSS, R1 + 5 * MSS]]);
}

describe('the ACK of the last filled hole, twice (tcp.repeatLastHoleAck)', () => {
  it('frame by frame: the retransmission that fills the last hole draws two identical ACKs, without SACK blocks', () => {
    const h = established();
    withHoleAt1(h);
    h.send(segment(1));
    const first = h.recv({ ack: R1 + 5 * MSS, flags: ACK });
    const copy = h.recv({ ack: R1 + 5 * MSS, flags: ACK });
    h.recvNothing();
    assert.equal(copy.seq, first.seq);
    assert.equal(copy.window, first.window);
    assert.equal(first.options.sackBlocks, undefined, 'nothing held any more: no SACK block');
    assert.equal(copy.options.sackBlocks, undefined);
    assert.equal(h.counters.get('tcp.tx.ack-repeats'), 1);
    // In-order data after it is acknowledged as usual: every second segment, once.
    h.send(segment(5));
    h.send(segment(6));
    h.recv({ ack: R1 + 7 * MSS, flags: ACK });
    h.recvNothing();
    assert.equal(h.counters.get('tcp.tx.ack-repeats'), 1);
  });

  it('in a receive batch: both leave before the batch\'s next segment is processed', () => {
    const h = established();
    withHoleAt1(h);
    h.batch(() => {
      h.send(segment(1));
      h.send(segment(5));
      assert.deepEqual(h.outbox.map((a) => a.ack), [R1 + 5 * MSS, R1 + 5 * MSS], 'the filled hole\'s ACK and its copy, before segment 6');
    });
    // Segment 5, alone in order after them: the delayed-ACK timer, as any lone segment of a batch.
    assert.deepEqual(h.drain().map((a) => a.ack), [R1 + 5 * MSS, R1 + 5 * MSS]);
    h.advance(1000);
    h.recv({ ack: R1 + 6 * MSS, flags: ACK });
    h.recvNothing();
  });

  it('a hole filled while another is left: one ACK, with the SACK block of what is still held', () => {
    const h = established();
    h.send(segment(0));
    h.send(segment(2));
    h.send(segment(4));
    assert.equal(h.drain().length, 2, 'a duplicate ACK for each out-of-order segment');
    h.send(segment(1)); // fills the first hole; 3 is still missing
    h.recv({ ack: R1 + 3 * MSS, flags: ACK, options: { sackBlocks: [[R1 + 4 * MSS, R1 + 5 * MSS]] } });
    h.recvNothing();
    assert.equal(h.counters.get('tcp.tx.ack-repeats'), 0);
    h.send(segment(3)); // the last hole
    h.recv({ ack: R1 + 5 * MSS, flags: ACK });
    h.recv({ ack: R1 + 5 * MSS, flags: ACK });
    h.recvNothing();
    assert.equal(h.counters.get('tcp.tx.ack-repeats'), 1);
  });

  it('off: one ACK, as RFC 5681 §4.2 and Linux', () => {
    const h = established({ repeatLastHoleAck: false });
    withHoleAt1(h);
    h.send(segment(1));
    h.recv({ ack: R1 + 5 * MSS, flags: ACK });
    h.recvNothing();
    assert.equal(h.counters.get('tcp.tx.ack-repeats'), 0);
  });
});
