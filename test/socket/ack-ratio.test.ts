/**
 * Delayed ACK with a reader that keeps up (RFC 5681 §4.2, RFC 9293 §3.8.6.3): the
 * receiver acknowledges at least every second full-sized segment, and reading does not
 * add a window update per segment (an explicit update is sent only when the window at
 * least doubles, as Linux's tcp_cleanup_rbuf decides). Frames delivered one by one (a link
 * that cannot tell receive batches); test/tcp/ack-batch.test.ts has the batched rule.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createStackPair, DEVICE_IP } from '../support/stack-pair.ts';
import { SeededRandom } from '../../src/random.ts';
import { TcpFlag } from '../../src/wire/tcp.ts';

describe('delayed ACK with a fast reader', () => {
  it('sends about one ACK per two full segments, not one per segment', async (t) => {
    const { world, device, peer, observeTcp } = createStackPair({ seed: 11, faults: { delayMs: 1 }, receiveBatches: false });
    let dataSegments = 0;
    let pureAcks = 0;
    observeTcp((segment, to) => {
      if (to === 'device' && segment.payload.length > 0) dataSegments++;
      if (to === 'peer' && segment.payload.length === 0 && (segment.flags & (TcpFlag.SYN | TcpFlag.FIN | TcpFlag.RST)) === 0) pureAcks++;
    });
    const payload = Buffer.from(new SeededRandom(4).bytes(2 * 1024 * 1024));
    let received = 0;
    let ended = false;
    device.net
      .createServer((socket) => {
        socket.on('data', (chunk: Buffer) => (received += chunk.length));
        socket.on('end', () => (ended = true));
      })
      .listen(7300);
    peer.net.connect({ host: DEVICE_IP, port: 7300 }).end(payload);
    assert.ok(await world.runUntilDone(() => ended, 600_000));
    assert.equal(received, payload.length);
    t.diagnostic(`${dataSegments} data segments, ${pureAcks} pure ACKs`);
    assert.ok(dataSegments > 1000);
    assert.ok(pureAcks <= dataSegments * 0.6, `${pureAcks} ACKs for ${dataSegments} segments`);
    assert.ok(pureAcks >= dataSegments * 0.4, 'still at least one ACK per two segments');
  });
});
