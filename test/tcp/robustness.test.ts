/**
 * The input path never throws and never hits an internal error, whatever arrives:
 * random segments with valid checksums aimed at a live connection and a listener.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../../src/random.ts';
import { LOCAL_PORT, REMOTE_ISS, REMOTE_PORT, TcpHarness, encode, pattern } from '../support/tcp-harness.ts';

describe('robustness', () => {
  it('survives 20 000 random segments in every state it reaches', () => {
    const random = new SeededRandom(99);
    const h = new TcpHarness();
    const connection = h.established();
    connection.send(pattern(5000));
    for (let i = 0; i < 20_000; i++) {
      const near = random.fraction() < 0.7;
      h.sendBytes(
        encode({
          sourcePort: random.fraction() < 0.8 ? REMOTE_PORT : random.uint32() & 0xffff,
          destinationPort: random.fraction() < 0.9 ? LOCAL_PORT : random.uint32() & 0xffff,
          seq: near ? REMOTE_ISS + (random.uint32() % 40_000) - 1000 : random.uint32(),
          ack: near ? connection.tcb.sndUna + (random.uint32() % 8000) - 2000 : random.uint32(),
          flags: random.uint32() & 0xff,
          window: random.uint32() & 0xffff,
          options: random.fraction() < 0.2 ? { mss: random.uint32() & 0xffff } : {},
          payload: pattern(random.uint32() % 600, i),
        }),
      );
      if (i % 500 === 0) h.advance(random.uint32() % 3000);
      connection.read(100_000);
      h.drain();
    }
    assert.equal(h.counters.get('tcp.drop.internal-error'), 0);
    assert.equal(h.counters.get('tcp.handler-error'), 0);
    assert.ok(h.counters.get('tcp.rx.segments') >= 20_000);
  });
});
