/**
 * Two complete stacks back to back on the memory wire (test/support/stack-pair.ts) with
 * seeded loss, delay jitter and reordering, on the virtual clock: bulk transfers must
 * arrive byte-exact. The wire's fault model is MemoryWire's (hal/link/memory.ts), the
 * same one every other layer is tested on; ARP crosses the same lossy wire.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TcpConnection } from '../../src/tcp/connection.ts';
import { noopHandler } from '../../src/tcp/connection.ts';
import type { TcpConfig } from '../../src/tcp/config.ts';
import { parseIpv4 } from '../../src/net/address.ts';
import { pattern } from '../support/tcp-harness.ts';
import { createStackPair, PEER_IP, sendAllThenClose, type StackPair } from '../support/stack-pair.ts';

interface WireOptions {
  loss: number;
  delay: number;
  /** Extra delay, uniform in [0, jitter); with `reorder` the share of frames held back `jitter` ms, letting later ones pass. */
  jitter: number;
  reorder: number;
  seed: number;
}

interface WireTotals {
  sent: number;
  lost: number;
  reordered: number;
}

function totals(pair: StackPair): WireTotals {
  const there = pair.wire.stats('a-to-b');
  const back = pair.wire.stats('b-to-a');
  return { sent: there.sent + back.sent, lost: there.lost + back.lost, reordered: there.reordered + back.reordered };
}

function transfer(options: WireOptions & { size: number; mss: number }): {
  received: Uint8Array;
  elapsed: number;
  pair: StackPair;
  wire: WireTotals;
  client: TcpConnection;
} {
  const tcp: Partial<TcpConfig> = { userTimeout: 0, keepalive: { enabled: false, idle: 10_000, interval: 2_000, count: 3 } };
  const pair = createStackPair({
    // MSS = MTU − 40 (RFC 9293 §3.7.1): the stacks derive it from the link.
    mtu: options.mss + 40,
    seed: options.seed,
    faults: { lossRate: options.loss, delayMs: options.delay, jitterMs: options.jitter, reorderRate: options.reorder, reorderDelayMs: options.jitter },
    deviceTcp: tcp,
    peerTcp: tcp,
  });
  const client = pair.device.tcp;
  const server = pair.peer.tcp;
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
  const connection = client.connect(parseIpv4(PEER_IP)!, 7000);
  sendAllThenClose(connection, data);
  const started = pair.world.now;
  pair.world.runUntilDoneSync(() => remoteFin && connection.state === 'TIME-WAIT', 3_600_000);
  assert.ok(serverConnection !== undefined, 'accepted');
  return { received: Buffer.concat(chunks), elapsed: pair.world.now - started, pair, wire: totals(pair), client: connection };
}

describe('bulk transfer through a lossy, reordering wire', () => {
  it('moves 1 MiB byte-exact through 5% loss and reordering (MSS 1460)', (t) => {
    const size = 1 << 20;
    const result = transfer({ size, mss: 1460, loss: 0.05, delay: 5, jitter: 6, reorder: 0.05, seed: 42 });
    assert.equal(result.received.length, size);
    assert.ok(Buffer.from(result.received).equals(Buffer.from(pattern(size, 3))), 'byte-exact');
    assert.equal(result.client.state, 'TIME-WAIT');
    assert.ok(result.wire.lost > 0, 'the wire did lose packets');
    assert.ok(result.wire.reordered > 0, 'the wire did reorder packets');
    const counters = result.pair.device.counters;
    assert.equal(counters.get('tcp.drop.internal-error'), 0);
    t.diagnostic(
      `1 MiB in ${(result.elapsed / 1000).toFixed(1)} s virtual, ${result.wire.lost}/${result.wire.sent} lost, ` +
        `${counters.get('tcp.tx.retransmits')} retransmits (${counters.get('tcp.tx.fast-retransmits')} fast), ` +
        `goodput ${((size * 8) / result.elapsed / 1000).toFixed(2)} Mbit/s`,
    );
  });

  it('moves 256 KiB byte-exact at MSS 256 through 5% loss', () => {
    const size = 256 * 1024;
    const result = transfer({ size, mss: 256, loss: 0.05, delay: 3, jitter: 4, reorder: 0.05, seed: 7 });
    assert.ok(Buffer.from(result.received).equals(Buffer.from(pattern(size, 3))), 'byte-exact');
  });

  for (const seed of [1, 2, 3]) {
    it(`survives 15% loss with heavy reordering (seed ${seed})`, () => {
      const size = 64 * 1024;
      const result = transfer({ size, mss: 536, loss: 0.15, delay: 2, jitter: 20, reorder: 0.3, seed });
      assert.ok(Buffer.from(result.received).equals(Buffer.from(pattern(size, 3))), 'byte-exact');
      assert.ok(result.wire.reordered > 0, 'the wire did reorder packets');
    });
  }
});
