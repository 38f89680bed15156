/**
 * Two TcpStacks back to back through an in-test wire with seeded loss, delay jitter
 * (hence reordering) and a ManualClock: bulk transfers must arrive byte-exact.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/time.ts';
import { Counters } from '../../src/stats.ts';
import { RecordingEventSink } from '../../src/events.ts';
import { SeededRandom } from '../../src/random.ts';
import { parseIpv4, type Ipv4Address } from '../../src/net/address.ts';
import { defaultTcpConfig, type TcpConfig } from '../../src/tcp/config.ts';
import { TcpStack } from '../../src/tcp/stack.ts';
import type { TcpConnection } from '../../src/tcp/connection.ts';
import { noopHandler } from '../../src/tcp/connection.ts';
import { pattern } from '../support/tcp-harness.ts';

const A = parseIpv4('198.18.0.1')!;
const B = parseIpv4('198.18.0.2')!;

interface Packet {
  deliverAt: number;
  order: number;
  source: Ipv4Address;
  destination: Ipv4Address;
  bytes: Uint8Array;
}

interface WireOptions {
  loss: number;
  delay: number;
  jitter: number;
  seed: number;
}

class LossyWire {
  readonly clock = new ManualClock(0);
  readonly stacks = new Map<Ipv4Address, TcpStack>();
  readonly counters = new Map<Ipv4Address, Counters>();
  private readonly queue: Packet[] = [];
  private readonly random: SeededRandom;
  private order = 0;
  sent = 0;
  lost = 0;

  constructor(private readonly options: WireOptions) {
    this.random = new SeededRandom(options.seed);
  }

  addStack(address: Ipv4Address, config: TcpConfig, seed: number): TcpStack {
    const counters = new Counters();
    const stack = new TcpStack({
      ip: {
        sendIpv4: (destination, _protocol, payloadLength, fill) => {
          const bytes = new Uint8Array(payloadLength);
          fill(bytes);
          this.sent++;
          if (this.random.fraction() < this.options.loss) {
            this.lost++;
            return 'sent';
          }
          const deliverAt = this.clock.now() + this.options.delay + this.random.fraction() * this.options.jitter;
          this.queue.push({ deliverAt, order: this.order++, source: address, destination, bytes });
          return 'sent';
        },
      },
      localAddress: address,
      config,
      clock: this.clock,
      random: new SeededRandom(seed),
      counters,
      events: new RecordingEventSink(),
    });
    this.stacks.set(address, stack);
    this.counters.set(address, counters);
    return stack;
  }

  /** Runs until `done()` or `limit` ms of virtual time; returns the instant reached. */
  run(done: () => boolean, limit: number): number {
    while (!done()) {
      let next = Infinity;
      for (const packet of this.queue) next = Math.min(next, packet.deliverAt);
      for (const stack of this.stacks.values()) next = Math.min(next, stack.pollAt() ?? Infinity);
      if (next === Infinity || next > limit) break;
      this.clock.set(Math.max(this.clock.now(), next));
      const now = this.clock.now();
      const due = this.queue.filter((packet) => packet.deliverAt <= now).sort((x, y) => x.deliverAt - y.deliverAt || x.order - y.order);
      for (const packet of due) this.queue.splice(this.queue.indexOf(packet), 1);
      for (const packet of due) this.stacks.get(packet.destination)?.input(packet.source, packet.destination, packet.bytes, now);
      for (const stack of this.stacks.values()) stack.poll(now);
    }
    return this.clock.now();
  }
}

function transfer(options: WireOptions & { size: number; mss: number }): { received: Uint8Array; elapsed: number; wire: LossyWire; client: TcpConnection } {
  const wire = new LossyWire(options);
  const config: TcpConfig = { ...defaultTcpConfig(options.mss), userTimeout: 0, keepalive: { enabled: false, idle: 10_000, interval: 2_000, count: 3 } };
  const client = wire.addStack(A, config, 11);
  const server = wire.addStack(B, config, 22);
  const data = pattern(options.size, 3);
  const chunks: Uint8Array[] = [];
  let serverConnection: TcpConnection | undefined;
  let remoteFin = false;
  server.listen(7000, {}, (connection) => {
    serverConnection = connection;
    connection.handler = {
      ...noopHandler(),
      onReadable: () => {
        for (let chunk = connection.read(65_536); chunk; chunk = connection.read(65_536)) {
          chunks.push(chunk);
        }
      },
      onRemoteFin: () => {
        remoteFin = true;
        connection.shutdown();
      },
    };
  });
  const connection = client.connect(B, 7000);
  let offset = 0;
  const pump = (): void => {
    while (offset < data.length) {
      const accepted = connection.send(data.subarray(offset));
      if (accepted === 0) return;
      offset += accepted;
    }
    connection.shutdown();
  };
  connection.handler = { ...noopHandler(), onEstablished: pump, onWritable: pump };
  const elapsed = wire.run(() => remoteFin && connection.state === 'TIME-WAIT', 3_600_000);
  assert.ok(serverConnection !== undefined, 'accepted');
  return { received: Buffer.concat(chunks), elapsed, wire, client: connection };
}

describe('bulk transfer through a lossy, reordering wire', () => {
  it('moves 1 MiB byte-exact through 5% loss and reordering (MSS 1460)', (t) => {
    const size = 1 << 20;
    const result = transfer({ size, mss: 1460, loss: 0.05, delay: 5, jitter: 6, seed: 42 });
    assert.equal(result.received.length, size);
    assert.ok(Buffer.from(result.received).equals(Buffer.from(pattern(size, 3))), 'byte-exact');
    assert.equal(result.client.state, 'TIME-WAIT');
    assert.ok(result.wire.lost > 0, 'the wire did lose packets');
    const counters = result.wire.counters.get(A)!;
    assert.equal(counters.get('tcp.drop.internal-error'), 0);
    t.diagnostic(
      `1 MiB in ${(result.elapsed / 1000).toFixed(1)} s virtual, ${result.wire.lost}/${result.wire.sent} lost, ` +
        `${counters.get('tcp.tx.retransmits')} retransmits (${counters.get('tcp.tx.fast-retransmits')} fast), ` +
        `goodput ${((size * 8) / result.elapsed / 1000).toFixed(2)} Mbit/s`,
    );
  });

  it('moves 256 KiB byte-exact at MSS 256 through 5% loss', () => {
    const size = 256 * 1024;
    const result = transfer({ size, mss: 256, loss: 0.05, delay: 3, jitter: 4, seed: 7 });
    assert.ok(Buffer.from(result.received).equals(Buffer.from(pattern(size, 3))), 'byte-exact');
  });

  for (const seed of [1, 2, 3]) {
    it(`survives 15% loss with heavy reordering (seed ${seed})`, () => {
      const size = 64 * 1024;
      const result = transfer({ size, mss: 536, loss: 0.15, delay: 2, jitter: 20, seed });
      assert.ok(Buffer.from(result.received).equals(Buffer.from(pattern(size, 3))), 'byte-exact');
    });
  }
});
