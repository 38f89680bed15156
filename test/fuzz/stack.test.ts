/**
 * Fuzzing the whole input path: frames recorded from a real exchange between two
 * stacks (ARP, handshake, data, ACKs) are mutated (truncations, bit flips, length and
 * option damage, random bytes) and fed to a stack that has live connections.
 * Nothing may throw out of receiveFrame, no internal error may be counted, every
 * frame must be accounted for (delivered to a protocol or counted in one drop counter),
 * the live connection's TCB holds its invariants after every frame
 * (test/support/tcb-invariants.ts), and afterwards that connection still carries data
 * both ways, byte-exact.
 * The run is seeded and bounded by a frame count, so CI replays the same corpus.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createStackPair, DEVICE_IP, type StackPair } from '../support/stack-pair.ts';
import { SeededRandom } from '../../src/random.ts';
import type { Socket } from '../../src/socket/socket.ts';
import { receiveAccounting } from '../../src/net/interface.ts';
import { assertTcbInvariants } from '../support/tcb-invariants.ts';

const MUTATIONS_PER_FRAME = 40;

/** The seed of both pairs: the fuzzed connection gets the recorded one's ports and ISNs. */
const PAIR_SEED = 6;
const UPLOAD = Buffer.alloc(20_000, 0x61);
const REPLY = 'bye';

interface Exchange {
  server: Socket;
  client: Socket;
  /** Everything each side has received so far. */
  atServer: Buffer[];
  atClient: Buffer[];
}

/**
 * The exchange the corpus is recorded from, and that the fuzzed connection goes through
 * first: handshake, 20 000 bytes from the peer, a short reply, the peer's ACK of it. Both
 * pairs are built alike, so the corpus carries the live connection's 4-tuple and sequence
 * numbers: its mutations reach that connection's TCB as segments of its own past, not a
 * listener, and none of them is data the peer did not really send.
 */
async function exchange(pair: StackPair): Promise<Exchange> {
  const { world, device, peer } = pair;
  const atServer: Buffer[] = [];
  const atClient: Buffer[] = [];
  let server: Socket | undefined;
  device.net
    .createServer((socket) => {
      server = socket;
      socket.on('data', (chunk: Buffer) => {
        atServer.push(chunk);
        if (Buffer.concat(atServer).length === UPLOAD.length) socket.write(REPLY);
      });
    })
    .listen(7100);
  const client = peer.net.connect({ host: DEVICE_IP, port: 7100 });
  client.on('data', (chunk: Buffer) => atClient.push(chunk));
  client.write(UPLOAD);
  assert.ok(await world.runUntilDone(() => Buffer.concat(atClient).toString() === REPLY, 20_000), 'the exchange completed');
  // The peer's ACK of the reply goes out too.
  await world.runFor(1_000);
  assert.ok(server);
  return { server, client, atServer, atClient };
}

/** The frames the device received during the exchange. */
async function recordCorpus(): Promise<Uint8Array[]> {
  const pair = createStackPair({ seed: PAIR_SEED });
  const corpus: Uint8Array[] = [];
  pair.observe((frame, to) => {
    if (to === 'device') corpus.push(Uint8Array.from(frame));
  });
  await exchange(pair);
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
  it('never throws, never counts an internal error, accounts for every frame, keeps the TCB sound and the connection working', async (t) => {
    const corpus = await recordCorpus();
    assert.ok(corpus.length > 10, 'the corpus has the frames of a full exchange');

    // A fresh pair whose connection went through the same exchange: the target.
    const pair = createStackPair({ seed: PAIR_SEED });
    const { world, device } = pair;
    const live = await exchange(pair);
    const serverErrors: Error[] = [];
    live.server.on('error', (error: Error) => serverErrors.push(error));
    live.client.on('error', () => undefined);
    const target = live.server.tcp;
    const segmentsBefore = target.segmentsIn;

    const random = new SeededRandom(1234);
    const before = device.counters.get('ethernet.rx.frames');
    let fed = 0;
    for (const frame of corpus) {
      for (let i = 0; i < MUTATIONS_PER_FRAME; i++) {
        device.receiveFrame(mutate(frame, random));
        fed++;
        assertTcbInvariants(target, `mutated frame ${fed}`);
      }
      world.runUntilSync(world.now + 1);
      assertTcbInvariants(target, `the timers after mutated frame ${fed}`);
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

    // The connection the mutations were aimed at still carries data, both ways, byte-exact.
    assert.ok(target.segmentsIn - segmentsBefore > 100, `${target.segmentsIn - segmentsBefore} mutated segments reached the fuzzed connection`);
    assert.equal(target.state, 'ESTABLISHED', 'the fuzzed connection is still open');
    const up = Buffer.from(new SeededRandom(77).bytes(20_000));
    const down = Buffer.from(new SeededRandom(78).bytes(20_000));
    const receivedUp = (): Buffer => Buffer.concat(live.atServer).subarray(UPLOAD.length);
    const receivedDown = (): Buffer => Buffer.concat(live.atClient).subarray(REPLY.length);
    live.client.write(up);
    live.server.write(down);
    assert.ok(
      await world.runUntilDone(() => receivedUp().length >= up.length && receivedDown().length >= down.length, 60_000),
      `data crossed both ways after the fuzz: ${receivedUp().length} of ${up.length} in, ${receivedDown().length} of ${down.length} out`,
    );
    assert.ok(receivedUp().equals(up), 'client → device byte-exact');
    assert.ok(receivedDown().equals(down), 'device → client byte-exact');
    assert.deepEqual(serverErrors, []);
    assertTcbInvariants(target, 'the exchange after the fuzz');
    t.diagnostic(`${target.segmentsIn - segmentsBefore} segments reached the fuzzed connection`);
    t.diagnostic(`fed ${fed} mutated frames; drops ${JSON.stringify(
      Object.fromEntries(Object.entries(counters.snapshot()).filter(([name]) => name.includes('.drop.'))),
    )}`);
  });
});
