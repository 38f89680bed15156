/**
 * A closed connection is garbage: nothing in the stack keeps it (its buffers, its
 * handler and the application objects the handler reaches) alive. Checked with the
 * collector itself: a WeakRef to the connection is empty after a full GC, while the
 * stack still runs, and before the deadlines the connection once had.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ACK, FIN, LOCAL_ISS, REMOTE_ISS, RST, SYN, TcpHarness, bytesOf } from '../support/tcp-harness.ts';
import type { TcpConnection } from '../../src/tcp/connection.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Builds `count` idle connections in `h` (their one deadline: keepalive, far away), then resets them all. */
function openAndReset(h: TcpHarness, count: number): WeakRef<TcpConnection>[] {
  const refs: WeakRef<TcpConnection>[] = [];
  for (let i = 0; i < count; i++) {
    h.drain();
    h.send({ sourcePort: 40_000 + i, seq: 1000, ack: 0, flags: SYN, options: { mss: 1460 } });
    const synAck = h.recv({ flags: SYN | ACK });
    h.send({ sourcePort: 40_000 + i, seq: 1001, ack: synAck.seq + 1, flags: ACK });
    refs.push(new WeakRef(h.accepted.pop()!));
  }
  h.drain();
  for (let i = 0; i < count; i++) {
    const ref = refs[i]!.deref()!;
    h.send({ sourcePort: 40_000 + i, seq: 1001, ack: ref.tcb.sndUna, flags: RST });
  }
  return refs;
}

describe('closed connections are not retained', () => {
  it('by the scheduler or the deadline heap, before their old deadlines come round', async () => {
    const h = new TcpHarness({ config: { keepalive: { enabled: true, idle: 3_600_000, interval: 2_000, count: 3 } } });
    // One live connection whose early deadline (a delayed ACK) sits on top of the heap,
    // in front of the closed connections' stale keepalive entries.
    const live = h.established();
    h.send({ payload: bytesOf('data') });
    const refs = openAndReset(h, 50);
    h.connection = undefined;
    h.drain();
    // The clock stays before the deadlines the connections had (delayed ACK, RTO, keepalive).
    h.advance(10);
    await nextTurn();
    gc();
    await nextTurn();
    const alive = refs.filter((ref) => ref.deref() !== undefined).length;
    assert.equal(alive, 0, `${alive} of ${refs.length} closed connections still reachable`);
    assert.deepEqual([...h.stack.connections()], [live]);
  });
});

describe('TIME-WAIT is a compact record (as Linux inet_timewait_sock)', () => {
  it('lets go of the connection at once and still answers a retransmitted FIN for 2·MSL', async () => {
    const h = new TcpHarness({ config: { msl: 5000 } });
    let ref: WeakRef<TcpConnection> | undefined = new WeakRef(h.timeWait());
    h.accepted.length = 0;
    h.connection = undefined;
    await nextTurn();
    gc();
    await nextTurn();
    assert.equal(ref.deref(), undefined, 'the connection (buffers, handler) is garbage');
    ref = undefined;
    assert.equal(h.stack.timeWaitCount, 1);
    assert.deepEqual([...h.stack.connections()], []);
    // The peer did not get our ACK of its FIN and sends it again: ACK, and 2·MSL restarts.
    h.advance(9000);
    h.send({ seq: REMOTE_ISS + 1, ack: LOCAL_ISS + 2, flags: FIN | ACK });
    h.recv({ seq: LOCAL_ISS + 2, ack: REMOTE_ISS + 2, flags: ACK });
    h.advance(9999);
    assert.equal(h.stack.timeWaitCount, 1);
    h.advance(1);
    assert.equal(h.stack.timeWaitCount, 0);
    assert.equal(h.stack.pollAt(), undefined, 'nothing left to wake up for');
  });
});

describe('buffers on demand (an idle connection holds none)', () => {
  it('takes the rings when data moves and gives them back once drained and acknowledged', () => {
    const h = new TcpHarness();
    const connection = h.established();
    assert.equal(connection.sendBuffer.allocated, false);
    assert.equal(connection.receiveBuffer.allocated, false);
    h.send({ seq: REMOTE_ISS + 1, flags: ACK, payload: bytesOf('request') });
    assert.equal(connection.receiveBuffer.allocated, true);
    assert.deepEqual(connection.read(100), bytesOf('request'));
    assert.equal(connection.receiveBuffer.allocated, false, 'read to the end: given back');
    connection.send(bytesOf('reply'));
    assert.equal(connection.sendBuffer.allocated, true);
    h.recv({ payload: bytesOf('reply') });
    assert.equal(connection.sendBuffer.allocated, true, 'kept until acknowledged');
    h.send({ seq: REMOTE_ISS + 8, ack: LOCAL_ISS + 6, flags: ACK });
    assert.equal(connection.sendBuffer.allocated, false, 'acknowledged: given back');
  });

  it('keeps the receive ring while data is held out of order', () => {
    const h = new TcpHarness();
    const connection = h.established();
    h.send({ seq: REMOTE_ISS + 1 + 100, flags: ACK, payload: bytesOf('later') });
    assert.equal(connection.readableLength, 0);
    assert.equal(connection.read(10), undefined);
    assert.equal(connection.receiveBuffer.allocated, true, 'the held bytes live in the ring');
  });
});
