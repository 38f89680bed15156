/**
 * Keepalive probes of many idle connections go out in batches (timers.ts,
 * KEEPALIVE_GRANULARITY_MS): connections that fell quiet at scattered instants probe on
 * a few shared instants of the 64 ms grid, each probe no earlier than its idle time
 * and less than one grid slot after it. This is what lets one wake-up of the device
 * send many probes in one sendmmsg (idle CPU, bench `idle` section).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createStackPair, DEVICE_IP } from '../support/stack-pair.ts';
import type { Socket } from '../../src/socket/socket.ts';
import { KEEPALIVE_GRANULARITY_MS } from '../../src/tcp/timers.ts';

const CONNECTIONS = 100;
const IDLE_MS = 10_000;
/** Connections open one every 7 ms, so their idle deadlines scatter over 700 ms. */
const OPEN_SPACING_MS = 7;

describe('keepalive batching', () => {
  it('probes of connections that fell quiet at scattered instants share a few instants of the 64 ms grid', async () => {
    const pair = createStackPair({ deviceTcp: { keepalive: { enabled: true, idle: IDLE_MS, interval: 2_000, count: 3 } } });
    const { world, device, peer } = pair;
    const servers: Socket[] = [];
    device.net.createServer((socket) => servers.push(socket)).listen(7070);
    for (let index = 0; index < CONNECTIONS; index++) {
      const client = peer.net.connect({ host: DEVICE_IP, port: 7070 });
      client.setKeepAlive(false);
      await world.runFor(OPEN_SPACING_MS);
    }
    assert.ok(await world.runUntilDone(() => servers.length === CONNECTIONS, 5_000), `${servers.length} of ${CONNECTIONS} accepted`);
    const quietSince = new Map(servers.map((socket) => [socket.tcp.localPort * 65_536 + socket.tcp.remotePort, socket.tcp.lastReceivedAt]));
    const probes: { key: number; at: number }[] = [];
    pair.observeTcp((segment, to) => {
      if (to !== 'peer' || segment.payload.length > 0) return;
      probes.push({ key: segment.sourcePort * 65_536 + segment.destinationPort, at: world.now });
    });
    assert.ok(await world.runUntilDone(() => probes.length >= CONNECTIONS, 2 * IDLE_MS));

    assert.equal(new Set(probes.map((probe) => probe.key)).size, CONNECTIONS, 'one probe per connection');
    for (const probe of probes) {
      const due = quietSince.get(probe.key)! + IDLE_MS;
      assert.ok(probe.at >= due && probe.at < due + KEEPALIVE_GRANULARITY_MS, `probe at ${probe.at} for a deadline at ${due}`);
      assert.equal(probe.at % KEEPALIVE_GRANULARITY_MS, 0, 'on the grid');
    }
    const instants = new Set(probes.map((probe) => probe.at));
    const spread = CONNECTIONS * OPEN_SPACING_MS;
    assert.ok(instants.size <= Math.ceil(spread / KEEPALIVE_GRANULARITY_MS) + 1, `${CONNECTIONS} probes on ${instants.size} instants`);
    assert.equal(device.counters.get('tcp.tx.keepalives'), CONNECTIONS);
  });
});
