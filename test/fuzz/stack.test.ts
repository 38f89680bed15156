/**
 * Fuzzing the whole input path: frames recorded from a real exchange between two
 * stacks (ARP, handshake, data, FIN) are mutated (truncations, bit flips, length and
 * option damage, random bytes) and fed to a stack that has live connections.
 * Nothing may throw out of receiveFrame, no internal error may be counted, and every
 * frame must be accounted for: delivered to a protocol or counted in one drop counter.
 * The run is seeded and bounded by a frame count, so CI replays the same corpus.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createStackPair, DEVICE_IP } from '../support/stack-pair.ts';
import { SeededRandom } from '../../src/random.ts';
import type { Socket } from '../../src/socket/socket.ts';
import { receiveAccounting } from '../../src/net/interface.ts';

const MUTATIONS_PER_FRAME = 40;

async function recordCorpus(): Promise<Uint8Array[]> {
  const { world, observe, device, peer } = createStackPair({ seed: 5 });
  const corpus: Uint8Array[] = [];
  observe((frame) => corpus.push(Uint8Array.from(frame)));
  let done = false;
  device.net
    .createServer((socket) => {
      socket.on('data', () => undefined);
      socket.on('end', () => {
        socket.end('bye');
      });
    })
    .listen(7100);
  const client = peer.net.connect({ host: DEVICE_IP, port: 7100 });
  client.on('data', () => undefined);
  client.on('close', () => (done = true));
  client.end(Buffer.alloc(5000, 0x61));
  assert.ok(await world.runUntilDone(() => done, 20_000));
  return corpus;
}

function mutate(frame: Uint8Array, random: SeededRandom): Uint8Array {
  const copy = Uint8Array.from(frame);
  switch (random.uint32() % 6) {
    case 0: // truncate anywhere, including inside the Ethernet header
      return copy.subarray(0, random.uint32() % (copy.length + 1));
    case 1: {
      // flip 1-4 bits
      const flips = 1 + (random.uint32() % 4);
      for (let i = 0; i < flips && copy.length > 0; i++) {
        const at = random.uint32() % copy.length;
        copy[at] = (copy[at] ?? 0) ^ (1 << random.uint32() % 8);
      }
      return copy;
    }
    case 2: // damage the IPv4 total length / header length fields
      if (copy.length > 18) {
        copy[14] = random.uint32() & 0xff;
        copy[16] = random.uint32() & 0xff;
        copy[17] = random.uint32() & 0xff;
      }
      return copy;
    case 3: // damage the TCP data offset and the first option bytes
      if (copy.length > 56) {
        copy[46] = random.uint32() & 0xff;
        copy[54] = random.uint32() & 0xff;
        copy[55] = random.uint32() & 0xff;
      }
      return copy;
    case 4: // random bytes after a valid Ethernet header
      for (let i = 14; i < copy.length; i++) copy[i] = random.uint32() & 0xff;
      return copy;
    default: {
      // grow with garbage (Ethernet padding, trailing bytes)
      const grown = new Uint8Array(copy.length + (random.uint32() % 64));
      grown.set(copy);
      for (let i = copy.length; i < grown.length; i++) grown[i] = random.uint32() & 0xff;
      return grown;
    }
  }
}

describe('fuzz: mutated frames through the whole stack', () => {
  it('never throws, never counts an internal error, and accounts for every frame', async (t) => {
    const corpus = await recordCorpus();
    assert.ok(corpus.length > 10, 'the corpus has the frames of a full exchange');

    // A fresh pair with a live connection at the target, so mutated segments can hit it.
    const { world, device, peer } = createStackPair({ seed: 6 });
    let serverSocket: Socket | undefined;
    device.net.createServer((socket) => (serverSocket = socket)).listen(7100);
    const client = peer.net.connect({ host: DEVICE_IP, port: 7100 });
    client.on('error', () => undefined);
    assert.ok(await world.runUntilDone(() => serverSocket !== undefined, 5_000));
    serverSocket!.on('error', () => undefined);
    serverSocket!.resume();

    const random = new SeededRandom(1234);
    const before = device.counters.get('ethernet.rx.frames');
    let fed = 0;
    for (const frame of corpus) {
      for (let i = 0; i < MUTATIONS_PER_FRAME; i++) {
        device.receiveFrame(mutate(frame, random));
        fed++;
      }
      world.runUntilSync(world.now + 1);
    }
    await world.settle();
    const counters = device.counters;
    // Genuine frames from the peer (ACKs, retransmissions) arrive in between, so at least `fed`.
    assert.ok(counters.get('ethernet.rx.frames') - before >= fed, 'every frame was seen');
    const accounting = receiveAccounting(counters);
    assert.equal(accounting.frames, accounting.delivered + accounting.dropped, 'every frame delivered or counted as one drop');
    // TCP's own parse drops happen after delivery to it: they must cover every bad segment it got.
    assert.ok(counters.sum('tcp.drop.') > 0, 'damaged TCP segments were counted by TCP');
    assert.equal(counters.get('stack.drop.internal-error'), 0, 'no exception escaped a layer');
    assert.equal(counters.get('tcp.drop.internal-error'), 0, 'no exception inside TCP');
    t.diagnostic(`fed ${fed} mutated frames; drops ${JSON.stringify(
      Object.fromEntries(Object.entries(counters.snapshot()).filter(([name]) => name.includes('.drop.'))),
    )}`);
  });
});
