/**
 * The receive side's ACK rule per receive batch (src/tcp/ack-policy.ts): the segments a
 * link delivered together are acknowledged by one stretch ACK at the end of the batch,
 * every 16th in-order segment at once, and at once whatever must not be merged (an
 * out-of-order segment's duplicate ACK, a hole filled, a FIN): before the connection's
 * next segment of the batch is processed, or at the batch's end. Exact segments on the
 * TCP harness, then the same pattern end to end on the memory wire (one wire poll is one
 * batch), where the socket also gets one chunk per batch.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ACK, FIN, LOCAL_ISS, REMOTE_ISS, RST, TcpHarness, pattern, type Segment } from '../support/tcp-harness.ts';
import { noopHandler } from '../../src/tcp/connection.ts';
import { DELAYED_ACK_FLOOR_MS, delayedAckTimeout, STRETCH_ACK_SEGMENTS } from '../../src/tcp/ack-policy.ts';
import { createStackPair, DEVICE_IP } from '../support/stack-pair.ts';
import { TcpFlag, type TcpRepr } from '../../src/wire/tcp.ts';
import { SeededRandom } from '../../src/random.ts';

const R1 = REMOTE_ISS + 1;
const MSS = 1460;

/** A harness with a connection ESTABLISHED whose receive window holds 40 full segments. */
function established(): TcpHarness {
  const h = new TcpHarness({ config: { rcvBuf: 64 * 1024 } });
  h.established();
  return h;
}

/** Segment `index` (0-based) of a stream of full-sized segments from R1. */
function segment(index: number, data = pattern(MSS * 64)): Partial<Segment> {
  return { seq: R1 + index * MSS, payload: data.subarray(index * MSS, (index + 1) * MSS) };
}

describe('ACKs per receive batch (harness)', () => {
  it('a batch the link went on reading later (continueBatch) ends at that later instant: its stretch ACK carries the later timestamp', () => {
    const h = new TcpHarness({ config: { rcvBuf: 64 * 1024 } });
    h.established({ mss: 1460, timestamps: { value: 1000, echo: 0 } });
    const withTimestamp = (index: number): Partial<Segment> => ({ ...segment(index), options: { timestamps: { value: h.tsval(), echo: 0 } } });
    h.batch(() => {
      h.send(withTimestamp(0));
      h.send(withTimestamp(1));
    });
    const before = h.recv({ ack: R1 + 2 * MSS, flags: ACK }).options.timestamps;
    assert.ok(before !== undefined, 'timestamps negotiated');
    h.batch(() => {
      h.send(withTimestamp(2));
      h.clock.set(h.clock.now() + 5);
      h.stack.continueBatch(h.clock.now());
      h.send(withTimestamp(3));
    });
    const after = h.recv({ ack: R1 + 4 * MSS, flags: ACK }).options.timestamps;
    assert.equal(after!.value - before.value, 5, 'the ACK left at the instant of the last read, 5 ms on');
    h.recvNothing();
  });

  it('acknowledges a batch of 10 in-order segments with one ACK at its end', () => {
    const h = established();
    h.batch(() => {
      for (let i = 0; i < 10; i++) {
        h.send(segment(i));
        h.recvNothing();
      }
    });
    h.recv({ ack: R1 + 10 * MSS, flags: ACK });
    h.recvNothing();
    assert.equal(h.connection!.readableLength, 10 * MSS);
    h.advance(1000);
    h.recvNothing();
  });

  it('sends the duplicate ACKs of a batch with a hole at segment 3 one per segment after it, none merged', () => {
    const h = established();
    const data = pattern(MSS * 10);
    h.batch(() => {
      for (let i = 0; i < 10; i++) {
        if (i === 2) continue;
        h.send(segment(i, data));
        // The ACK a segment owes at once leaves before the next segment is processed
        // (the last one's at the batch's end): after index i, those of 3..i−1.
        assert.equal(h.outbox.length, Math.max(0, i - 3), `ACKs out after segment ${i + 1}`);
      }
    });
    // Segments 4..10: seven ACKs, each for RCV.NXT at the hole; the first also covers
    // segments 1 and 2, the other six are duplicates (RFC 5681 §4.2).
    const acks = h.drain();
    assert.deepEqual(acks.map((a) => [a.ack, a.flags]), Array(7).fill([R1 + 2 * MSS, ACK]));
    // The hole filled: acknowledged at the batch's end.
    h.batch(() => h.send(segment(2, data)));
    h.recv({ ack: R1 + 10 * MSS, flags: ACK });
    h.recvNothing();
    assert.deepEqual(h.connection!.read(1 << 20), data);
  });

  it(`acknowledges 40 in-order segments in one batch with 3 ACKs: at the ${STRETCH_ACK_SEGMENTS}th, the ${2 * STRETCH_ACK_SEGMENTS}nd and the end`, () => {
    const h = established();
    h.batch(() => {
      for (let i = 0; i < 40; i++) h.send(segment(i));
      // The two at the 16th and 32nd left in the middle of the batch.
      assert.deepEqual(h.outbox.map((a) => a.ack - R1), [16 * MSS, 32 * MSS]);
    });
    assert.deepEqual(h.drain().map((a) => [a.ack - R1, a.flags]), [[16 * MSS, ACK], [32 * MSS, ACK], [40 * MSS, ACK]]);
  });

  it('acknowledges a FIN at once: not merged with the segment after it, no delayed-ACK wait', () => {
    const h = established();
    h.batch(() => {
      h.send(segment(0));
      h.send({ seq: R1 + MSS, flags: ACK | FIN });
      h.recvNothing();
      // A retransmitted FIN in the same batch: its duplicate ACK is a segment of its own.
      h.send({ seq: R1 + MSS, flags: ACK | FIN });
      h.recv({ ack: R1 + MSS + 1, flags: ACK });
    });
    h.recv({ ack: R1 + MSS + 1, flags: ACK });
    h.recvNothing();
    assert.equal(h.connection!.state, 'CLOSE-WAIT');
  });

  it('keeps a FIN right after data that fills the window in one batch (the application reads only after it)', () => {
    const h = new TcpHarness();
    h.established();
    const window = h.connection!.receiveWindow();
    const data = pattern(window);
    h.batch(() => {
      for (let offset = 0; offset < window; offset += MSS) {
        const last = offset + MSS >= window;
        h.send({ seq: R1 + offset, flags: last ? ACK | FIN : ACK, payload: data.subarray(offset, Math.min(window, offset + MSS)) });
      }
    });
    assert.equal(h.connection!.state, 'CLOSE-WAIT', 'the FIN one past the full window was taken');
    const acks = h.drain();
    assert.deepEqual(acks.map((a) => [a.ack - R1, a.window]), [[window + 1, 0]]);
    assert.deepEqual(h.connection!.read(window), data);
  });

  it('still drops a bare FIN against a closed window (RFC 9293 §3.10.7.4)', () => {
    const h = new TcpHarness();
    h.established();
    const window = h.connection!.receiveWindow();
    h.batch(() => {
      for (let offset = 0; offset < window; offset += MSS) h.send({ seq: R1 + offset, payload: pattern(Math.min(MSS, window - offset)) });
    });
    h.drain();
    h.send({ seq: R1 + window, flags: ACK | FIN });
    assert.equal(h.connection!.state, 'ESTABLISHED');
    h.recv({ ack: R1 + window, window: 0, flags: ACK });
  });

  it('leaves a lone in-order segment of a batch to the delayed-ACK timer, as without batches', () => {
    const h = established();
    h.batch(() => h.send(segment(0)));
    h.recvNothing();
    h.advanceTo(delayedAckTimeout(h.connection!) - 1);
    h.recvNothing();
    h.advanceTo(delayedAckTimeout(h.connection!));
    h.recv({ ack: R1 + MSS, flags: ACK });
  });

  it("bounds a lone segment's delayed ACK by the SRTT, not under 5 ms and not over delayedAckMs (ack-policy.ts delayedAckTimeout)", () => {
    // The harness's handshake takes no time: an SRTT under the floor, so the floor.
    const h = established();
    assert.ok(h.connection!.rtt.srtt !== undefined && h.connection!.rtt.srtt < DELAYED_ACK_FLOOR_MS);
    assert.equal(delayedAckTimeout(h.connection!), DELAYED_ACK_FLOOR_MS);
    h.send(segment(0));
    h.advance(DELAYED_ACK_FLOOR_MS - 1);
    h.recvNothing();
    h.advance(1);
    h.recv({ ack: R1 + MSS, flags: ACK });
    // A longer path: the SRTT itself, up to delayedAckMs (40 ms), as Linux bounds its
    // delayed-ACK timeout (with a floor of 40 ms there).
    const rtt = h.connection!.rtt;
    for (const [srtt, timeout] of [[20, 20], [39, 39], [100, 40]] as const) {
      while (Math.abs(rtt.srtt! - srtt) > 0.01) rtt.sample(srtt, 1);
      const actual = delayedAckTimeout(h.connection!);
      assert.ok(Math.abs(actual - timeout) <= 0.01, `SRTT ${srtt} ms: ${actual} ms, not ${timeout}`);
    }
  });

  it('acknowledges a merged segment (GRO: two MSS or more in one) alone in a batch at its end, not after the delayed-ACK timer', () => {
    const h = established();
    const data = pattern(20 * MSS);
    h.batch(() => h.send({ seq: R1, payload: data.subarray(0, 2 * MSS) }));
    h.recv({ ack: R1 + 2 * MSS, flags: ACK });
    // Twenty MSS count as twenty segments: past the stretch bound, so at once.
    h.batch(() => {
      h.send({ seq: R1 + 2 * MSS, payload: data.subarray(2 * MSS, 20 * MSS) });
      h.send(segment(20, pattern(MSS * 64)));
      assert.deepEqual(h.outbox.map((a) => a.ack - R1), [20 * MSS], 'the merged segment acknowledged before the next one');
    });
    // The single segment after it is a lone one again: the delayed-ACK timer's.
    assert.deepEqual(h.drain().map((a) => a.ack - R1), [20 * MSS]);
    h.advanceDelayedAck();
    h.recv({ ack: R1 + 21 * MSS, flags: ACK });
    h.recvNothing();
  });

  it('acknowledges a merged segment delivered alone (no batch) at once, as every second segment', () => {
    const h = established();
    h.send({ seq: R1, payload: pattern(2 * MSS) });
    h.recv({ ack: R1 + 2 * MSS, flags: ACK });
    h.recvNothing();
  });

  it('keeps every second segment for frames delivered one by one (no batch)', () => {
    const h = established();
    const acks: number[] = [];
    for (let i = 0; i < 10; i++) {
      h.send(segment(i));
      for (const ack of h.drain()) acks.push(ack.ack - R1);
    }
    assert.deepEqual(acks, [2, 4, 6, 8, 10].map((n) => n * MSS));
  });

  it('lets the application read what a filled hole made readable before that ACK leaves in the middle of a batch, so it carries the reopened window', () => {
    const h = established();
    const c = h.connection!;
    const shift = c.tcb.rcvShift;
    const data = pattern(MSS * 64);
    const received: Uint8Array[] = [];
    c.handler = {
      ...noopHandler(),
      onReadable: () => {
        for (let chunk = c.read(1 << 20); chunk; chunk = c.read(1 << 20)) received.push(chunk);
      },
    };
    const fullWindow = c.receiveWindow();
    // Segment 0 is lost; 1..40 fill the buffer out of order: the right edge stays where
    // the handshake put it, and the sender, having reached it, can send nothing new.
    h.batch(() => {
      for (let i = 1; i <= 40; i++) h.send(segment(i, data));
    });
    const duplicates = h.drain();
    assert.equal(duplicates.length, 40);
    const edge = R1 + (duplicates.at(-1)!.window << shift);
    assert.equal(edge, R1 + fullWindow, 'the right edge has not moved');
    // The retransmission of segment 0 and segment 41 (sent after it) in one batch: the ACK
    // of the filled hole leaves before segment 41 is processed, after the application read.
    h.batch(() => {
      h.send(segment(0, data));
      h.send(segment(41, data));
    });
    const holeAck = h.outbox[0]!;
    assert.equal(holeAck.ack, R1 + 41 * MSS);
    assert.equal(received.reduce((total, chunk) => total + chunk.length, 0) >= 41 * MSS, true, 'read before segment 41 arrived');
    assert.equal(holeAck.window << shift, fullWindow, 'the whole buffer free again: the edge moves 41 segments on');
    assert.equal(h.counters.get('tcp.drop.closed-in-batch'), 0);
  });

  it('leaves the read to the batch end for a connection established in the same batch (its listener hands it a handler first)', () => {
    const h = new TcpHarness({ config: { rcvBuf: 64 * 1024 } });
    h.synReceived();
    const data = pattern(MSS * 4);
    h.batch(() => {
      h.send(); // the handshake's ACK: ESTABLISHED, to be accepted at the batch's end
      h.send(segment(1, data));
      h.send(segment(0, data)); // fills the hole: its ACK leaves before the next segment
      h.send({ seq: R1 + 2 * MSS }); // a bare ACK (a window update): nothing new to read after it
    });
    assert.equal(h.accepted.length, 1);
    assert.deepEqual(h.recorder.calls, ['readable'], 'the handler set at accept hears of the data');
    assert.equal(h.connection!.readableLength, 2 * MSS);
  });

  it('drops the rest of a batch for a connection its application aborted while reading before a mid-batch ACK', () => {
    const h = established();
    const c = h.connection!;
    const data = pattern(MSS * 8);
    c.handler = { ...noopHandler(), onReadable: () => c.abort() };
    h.batch(() => h.send(segment(1, data)));
    h.drain();
    h.batch(() => {
      h.send(segment(0, data));
      h.send(segment(2, data));
    });
    assert.equal(c.state, 'CLOSED');
    assert.equal(h.drain().filter((segment) => (segment.flags & RST) !== 0).length, 1, 'one RST for the abort');
    assert.equal(h.counters.get('tcp.drop.closed-in-batch'), 1);
  });
});

/** A pure ACK: no data, no SYN, FIN or RST. */
function isPureAck(segment: TcpRepr): boolean {
  return segment.payload.length === 0 && (segment.flags & (TcpFlag.SYN | TcpFlag.FIN | TcpFlag.RST)) === 0;
}

describe('a sender in a receive batch stays clocked by its ACKs', () => {
  it('sends what each bare ACK of the batch allows before the next one is processed, not all at the batch end', () => {
    const h = new TcpHarness({ config: { sndBuf: 64 * 1024 } });
    const connection = h.established();
    const L1 = LOCAL_ISS + 1;
    assert.equal(connection.send(pattern(40 * MSS)), 40 * MSS);
    assert.equal(h.drain().length, 10, 'the initial window');
    const sentAfter: number[] = [];
    h.batch(() => {
      // The peer acknowledges two segments at a time; each ACK opens cwnd in slow start.
      for (let i = 1; i <= 4; i++) {
        h.send({ ack: L1 + 2 * i * MSS, window: 0xffff });
        sentAfter.push(h.outbox.length);
      }
    });
    // What an ACK allowed left before the next ACK was processed: after the first ACK
    // nothing yet (it goes as the second arrives), then four segments per ACK (two
    // acknowledged, two more of cwnd). The last ACK's share goes at the batch's end.
    assert.deepEqual(sentAfter, [0, 4, 8, 12]);
    assert.equal(h.drain().length, 16);
  });
});

describe('ACKs per receive batch (memory wire, one poll = one batch)', () => {
  /** The peer sends `count` full segments in one burst once connected; the device reads them as a socket. */
  async function burst(count: number, dropIndex?: number) {
    const pair = createStackPair({ seed: 5, faults: { delayMs: 1 }, deviceTcp: { rcvBuf: 256 * 1024 } });
    const { world, device, peer, observeTcp, dropTcp } = pair;
    const chunks: number[] = [];
    device.net.createServer((socket) => socket.on('data', (chunk: Buffer) => chunks.push(chunk.length))).listen(7400);
    const client = peer.net.connect({ host: DEVICE_IP, port: 7400 });
    assert.ok(await world.runUntilDone(() => client.readyState === 'open', 1000));
    await world.runFor(10);
    let dataStart: number | undefined;
    let mss = 0;
    const dataArrivals: number[] = [];
    const acks: { at: number; ack: number; sackBlocks: number }[] = [];
    observeTcp((segment, to) => {
      if (to === 'device' && segment.payload.length > 0) {
        dataStart ??= segment.sequenceNumber;
        mss = Math.max(mss, segment.payload.length);
        dataArrivals.push(world.now);
      }
      if (to === 'peer' && isPureAck(segment) && dataStart !== undefined) {
        acks.push({ at: world.now, ack: (segment.acknowledgmentNumber - dataStart) >>> 0, sackBlocks: segment.options.sackBlocks?.length ?? 0 });
      }
    });
    let seen = 0;
    if (dropIndex !== undefined) {
      dropTcp('device', (segment) => segment.payload.length > 0 && seen++ === dropIndex);
    }
    const payload = Buffer.from(new SeededRandom(9).bytes(count * 1448));
    client.write(payload);
    assert.ok(await world.runUntilDone(() => chunks.reduce((a, b) => a + b, 0) === payload.length, 5000));
    // The last ACK still travels (1 ms); nothing else follows within a delayed-ACK period.
    await world.runFor(100);
    return { acks, dataArrivals, chunks, mss, total: payload.length, counters: device.counters };
  }

  it('answers a burst of 10 segments with one ACK and hands the socket one chunk', async () => {
    const { acks, dataArrivals, chunks, mss, total } = await burst(10);
    assert.equal(mss, 1448, 'MSS 1460 less the timestamp option');
    assert.equal(dataArrivals.length, 10);
    assert.equal(new Set(dataArrivals).size, 1, 'the burst arrives in one poll');
    assert.deepEqual(acks.map((a) => a.ack), [total]);
    assert.equal(acks[0]!.at, dataArrivals[0]! + 1, 'acknowledged at the batch end (the wire takes 1 ms), no delayed-ACK wait');
    assert.deepEqual(chunks, [total], "one 'data' event for the batch");
  });

  it('sends an immediate duplicate ACK for each segment after a lost third one, and recovers', async () => {
    const { acks, dataArrivals, chunks, total } = await burst(10, 2);
    const first = dataArrivals[0]!;
    const inBurst = acks.filter((a) => a.at === first + 1);
    assert.deepEqual(inBurst.map((a) => a.ack), Array(7).fill(2 * 1448), 'segments 4..10: one ACK each, at the hole');
    assert.deepEqual(inBurst.map((a) => a.sackBlocks), Array(7).fill(1));
    // Fast retransmit after the third duplicate; the retransmission fills the hole.
    assert.equal(acks.at(-1)!.ack, total);
    assert.equal(chunks.reduce((a, b) => a + b, 0), total);
    assert.equal(chunks.length, 2, 'segments 1..2 in the burst, the rest once the hole filled');
  });
});
