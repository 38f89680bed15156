/**
 * Window scaling where it matters, on the memory wire in virtual time: a 100 Mbit/s
 * path with 10 ms each way (a bandwidth-delay product of 250 KB). With the old 16 KiB
 * unscaled window the sender can have at most 16 KiB in flight per 20 ms round trip;
 * a listener that asks for 256 KiB buffers negotiates a window scale of 3, advertises
 * windows past 64 KiB and fills the pipe. Both stacks are piwire, so RTTM and PAWS run
 * on both ends. Goodput in virtual time goes to t.diagnostic.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createStackPair, DEVICE_IP } from '../support/stack-pair.ts';
import { SeededRandom } from '../../src/random.ts';

const KIB = 1024;
const BYTES = 4 * 1024 * 1024;
const ONE_WAY_MS = 10;

interface Run {
  virtualMs: number;
  largestWindow: number;
  received: number;
  pawsDrops: number;
}

async function transfer(buffer: number, rfc7323: boolean): Promise<Run> {
  const tcp = { windowScale: rfc7323, timestamps: rfc7323 };
  const { world, device, peer, observeTcp } = createStackPair({
    seed: 7,
    faults: { delayMs: ONE_WAY_MS, bandwidthBitsPerSecond: 100e6 },
    deviceTcp: tcp,
    peerTcp: tcp,
  });
  let shift = 0;
  let largestWindow = 0;
  observeTcp((segment, to) => {
    if (to !== 'peer') return;
    if (segment.flags & 2) {
      shift = segment.options.windowScale ?? 0;
      return;
    }
    largestWindow = Math.max(largestWindow, segment.window * 2 ** shift);
  });
  let received = 0;
  let ended = false;
  device.net
    .createServer({ rcvBuf: buffer, sndBuf: buffer }, (socket) => {
      socket.on('data', (chunk: Buffer) => (received += chunk.length));
      socket.on('end', () => {
        ended = true;
        socket.end();
      });
    })
    .listen(9);
  const start = world.now;
  const client = peer.net.connect({ host: DEVICE_IP, port: 9, sndBuf: buffer, rcvBuf: buffer });
  client.end(Buffer.from(new SeededRandom(1).bytes(BYTES)));
  assert.ok(await world.runUntilDone(() => ended, 120_000), `transfer finished (${received} bytes)`);
  return { virtualMs: world.now - start, largestWindow, received, pawsDrops: device.counters.get('tcp.drop.paws') + peer.counters.get('tcp.drop.paws') };
}

describe('window scaling on a long fat path (RFC 7323 §1.1)', () => {
  it('a 256 KiB scaled window fills a path that a 16 KiB window cannot', async (t) => {
    const small = await transfer(16 * KIB, false);
    const large = await transfer(256 * KIB, true);
    const goodput = (run: Run): string => `${((BYTES * 8) / (run.virtualMs / 1000) / 1e6).toFixed(1)} Mbit/s`;
    t.diagnostic(`16 KiB unscaled: ${small.virtualMs.toFixed(0)} ms virtual, ${goodput(small)}, largest window ${small.largestWindow}`);
    t.diagnostic(`256 KiB, wscale 3 + timestamps: ${large.virtualMs.toFixed(0)} ms virtual, ${goodput(large)}, largest window ${large.largestWindow}`);
    assert.equal(small.received, BYTES);
    assert.equal(large.received, BYTES);
    assert.ok(small.largestWindow <= 16 * KIB);
    assert.ok(large.largestWindow > 0xffff, `the device advertised a scaled window past 64 KiB (${large.largestWindow})`);
    // Physics of a window-limited sender: at most one window per round trip.
    assert.ok(small.virtualMs >= (BYTES / (16 * KIB)) * 2 * ONE_WAY_MS * 0.9, `16 KiB per RTT bounds the small window (${small.virtualMs.toFixed(0)} ms)`);
    assert.ok(large.virtualMs * 4 < small.virtualMs, 'the scaled window moves the data at least four times faster');
    assert.equal(large.pawsDrops, 0, 'no segment of a clean transfer looked like an old duplicate');
  });
});
