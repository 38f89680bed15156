/**
 * 20 MiB through the memory wire (two full stacks: Ethernet, ARP, IPv4, TCP) at 1%, 5%
 * and 10% loss with reordering, on virtual time: the data must arrive byte-exact.
 * Goodput and retransmissions are reported with t.diagnostic, never asserted.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createStackPair, DEVICE_IP } from '../support/stack-pair.ts';
import { parseIpv4 } from '../../src/net/address.ts';
import { noopHandler, type TcpConnection } from '../../src/tcp/connection.ts';
import { pattern } from '../support/tcp-harness.ts';

const SIZE = 20 * 1024 * 1024;
const CHUNK = pattern(64 * 1024, 9);

function expectedDigest(): string {
  const hash = createHash('sha256');
  for (let offset = 0; offset < SIZE; offset += CHUNK.length) hash.update(CHUNK.subarray(0, Math.min(CHUNK.length, SIZE - offset)));
  return hash.digest('hex');
}

describe('20 MiB through a lossy, reordering memory wire', () => {
  const digest = expectedDigest();
  for (const lossRate of [0.01, 0.05, 0.1]) {
    it(`arrives byte-exact at ${lossRate * 100}% loss with reordering`, (t) => {
      const tcp = { keepalive: { enabled: false, idle: 10_000, interval: 2_000, count: 3 }, userTimeout: 0 };
      const pair = createStackPair({
        seed: Math.round(lossRate * 1000),
        faults: { lossRate, reorderRate: 0.02, reorderDelayMs: 3, delayMs: 2, jitterMs: 1 },
        deviceTcp: tcp,
        peerTcp: tcp,
      });
      const { world, device, peer } = pair;
      const hash = createHash('sha256');
      let received = 0;
      let finished = false;
      device.tcp.listen(7000, {}, (connection) => {
        connection.handler = {
          ...noopHandler(),
          onReadable: () => {
            for (let chunk = connection.read(65_536); chunk; chunk = connection.read(65_536)) {
              hash.update(chunk);
              received += chunk.length;
            }
          },
          onRemoteFin: () => {
            finished = true;
            connection.shutdown();
          },
        };
      });
      const client: TcpConnection = peer.tcp.connect(parseIpv4(DEVICE_IP)!, 7000);
      let sent = 0;
      const pump = (): void => {
        while (sent < SIZE) {
          const offset = sent % CHUNK.length;
          const accepted = client.send(CHUNK.subarray(offset, Math.min(CHUNK.length, offset + SIZE - sent)));
          if (accepted === 0) return;
          sent += accepted;
        }
        client.shutdown();
      };
      client.handler = { ...noopHandler(), onEstablished: pump, onWritable: pump };
      // Virtual-time hang guard, not a performance limit.
      for (let step = 0; step < 100_000 && !finished; step++) world.runUntilSync(world.now + 1000);
      assert.ok(finished, 'the FIN arrived');
      assert.equal(received, SIZE);
      assert.equal(hash.digest('hex'), digest, 'byte-exact');
      const lost = pair.wire.stats('a-to-b').lost + pair.wire.stats('b-to-a').lost;
      const counters = peer.counters;
      const seconds = world.now / 1000;
      t.diagnostic(
        `${lossRate * 100}% loss: 20 MiB in ${seconds.toFixed(1)} s virtual, goodput ${((SIZE * 8) / seconds / 1e6).toFixed(2)} Mbit/s, ` +
          `${counters.get('tcp.tx.retransmits')} retransmissions (${counters.get('tcp.tx.fast-retransmits')} fast), ` +
          `${counters.get('tcp.tx.segments')} segments sent, ${lost} frames lost, RTO ${client.info().rto} ms, cwnd ${client.info().cwnd}`,
      );
      assert.equal(counters.get('tcp.drop.internal-error') + device.counters.get('tcp.drop.internal-error'), 0);
    });
  }
});
