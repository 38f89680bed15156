/**
 * Two piwire stacks where one uploads while never reading the other's replies (issue
 * "bounded for a year"): the replier's window probes move its SND.NXT past SND.UNA,
 * and its ACKs for the upload must still be acceptable to an uploader whose receive
 * window is shut (RFC 9293 §3.10.7.4), or the upload stalls until ETIMEDOUT.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createStackPair, DEVICE_IP } from '../support/stack-pair.ts';
import { SeededRandom } from '../../src/random.ts';
import type { Socket } from '../../src/socket/socket.ts';
import type { NetError } from '../../src/errors.ts';

describe('an uploader that never reads the replies', () => {
  it('keeps getting its data acknowledged while the replier probes its closed window', async (t) => {
    const { world, device, peer, observeTcp } = createStackPair({ faults: { delayMs: 1, bandwidthBitsPerSecond: 1_000_000 } });
    const upload = Buffer.from(new SeededRandom(3).bytes(1_000_000));
    let received = 0;
    const errors: NetError[] = [];
    device.net
      .createServer((socket: Socket) => {
        socket.on('error', (error: NetError) => errors.push(error));
        socket.on('data', (chunk: Buffer) => (received += chunk.length));
        // A reply far larger than the uploader's receive buffer, which it never reads.
        socket.write(Buffer.alloc(200_000, 0x61));
      })
      .listen(7070);
    let probesSeen = 0;
    observeTcp((segment, to) => {
      if (to === 'peer' && segment.payload.length === 1) probesSeen++;
    });
    const client = peer.net.connect({ host: DEVICE_IP, port: 7070 });
    client.on('error', (error: NetError) => errors.push(error));
    client.write(upload);
    // At 1 Mbit/s the upload takes about 8 s: long after the uploader's window has shut.
    const done = await world.runUntilDone(() => received === upload.length, 600_000);
    t.diagnostic(`${received} of ${upload.length} bytes at ${world.now} ms; ${probesSeen} one-octet probes toward the uploader`);
    assert.ok(done, `upload complete (${received} of ${upload.length} bytes by ${world.now} ms)`);
    assert.ok(probesSeen > 0, 'the replier did probe the closed window');
    assert.deepEqual(errors, []);
    assert.equal(client.tcp.state, 'ESTABLISHED');
  });
});
