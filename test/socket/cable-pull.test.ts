/**
 * Cable pulls on the memory wire, through two full stacks on virtual time (SPEC §1
 * "a keepalive-based detector that notices a pulled cable within seconds"):
 * - carrier loss raises fault 1 at once and does not kill connections;
 * - a pull shorter than the detection window loses no data and keeps the connection;
 * - a pull longer than idle + interval·count ends an idle connection with ETIMEDOUT,
 *   `peer_lost` and fault 3, at exactly that instant.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createStackPair, DEVICE_IP, type StackPair } from '../support/stack-pair.ts';
import { SeededRandom } from '../../src/random.ts';
import type { Socket } from '../../src/socket/socket.ts';
import type { NetError } from '../../src/errors.ts';
import { faultActionForEvent } from '../../src/diag/faults.ts';
import { followCarrier } from '../../firmware/device.ts';
import { coarseDeadline, KEEPALIVE_GRANULARITY_MS } from '../../src/tcp/timers.ts';

/** Both ends follow their link's carrier through the firmware's own wiring (firmware/device.ts). */
function wireCarrier(pair: StackPair): void {
  followCarrier(pair.wire.a, pair.device, pair.deviceEvents);
  followCarrier(pair.wire.b, pair.peer, pair.peerEvents);
}

/** The fault codes raised by the device's cause events, in order (src/diag/faults.ts). */
function faultsRaised(pair: StackPair): number[] {
  return pair.deviceEvents.events.flatMap((e) => {
    const action = faultActionForEvent(e.event, e.fields);
    return action?.action === 'raise' ? [action.code] : [];
  });
}

describe('cable pull (memory wire, virtual time)', () => {
  it('a 3 s pull in the middle of a transfer loses no data and keeps the connection', async (t) => {
    const pair = createStackPair({ faults: { delayMs: 1 } });
    wireCarrier(pair);
    const { world, device, peer, wire, deviceEvents } = pair;
    const payload = Buffer.from(new SeededRandom(5).bytes(300_000));
    const received: Buffer[] = [];
    let server: Socket | undefined;
    let ended = false;
    device.net
      .createServer((socket) => {
        server = socket;
        socket.on('data', (chunk: Buffer) => received.push(chunk));
        socket.on('end', () => {
          ended = true;
          socket.end();
        });
      })
      .listen(7070);
    const client = peer.net.connect({ host: DEVICE_IP, port: 7070 });
    const errors: NetError[] = [];
    client.on('error', (error: NetError) => errors.push(error));
    client.resume();
    client.end(payload);
    // Pull once data is flowing.
    assert.ok(await world.runUntilDone(() => received.length > 0, 5_000));
    const pulledAt = world.now;
    const before = Buffer.concat(received).length;
    assert.ok(before < payload.length, 'the pull happens mid-transfer');
    wire.pullCable();
    assert.deepEqual(deviceEvents.named('link').at(-1), { link: wire.a.name, carrier: 'down' });
    assert.deepEqual(faultsRaised(pair), [1], 'fault 1 at once');
    await world.runUntil(pulledAt + 3000);
    assert.equal(server?.tcp.state, 'ESTABLISHED', 'carrier loss alone kills nothing');
    wire.plugCable();
    assert.deepEqual(deviceEvents.named('link').at(-1), { link: wire.a.name, carrier: 'up' });
    assert.deepEqual(faultActionForEvent('link', { carrier: 'up' }), { action: 'clear', code: 1, announce: true }, 'fault 1 cleared');
    assert.ok(await world.runUntilDone(() => ended, 120_000), 'the transfer completes after the plug');
    assert.ok(Buffer.concat(received).equals(payload), 'byte-exact');
    assert.deepEqual(errors, []);
    assert.equal(deviceEvents.named('peer_lost').length, 0);
    assert.equal(pair.peerEvents.named('peer_lost').length, 0);
    t.diagnostic(
      `pulled at ${pulledAt} ms for 3 s with ${before} of ${payload.length} bytes delivered; done at ${world.now} ms, ` +
        `${peer.counters.get('tcp.tx.retransmits')} retransmissions`,
    );
  });

  it('a pull longer than idle + interval·count ends an idle connection at exactly that instant with peer_lost and fault 3', async () => {
    const pair = createStackPair({ deviceTcp: { keepalive: { enabled: true, idle: 10_000, interval: 2_000, count: 3 } } });
    wireCarrier(pair);
    const { world, device, peer, wire, deviceEvents } = pair;
    let server: Socket | undefined;
    const serverErrors: NetError[] = [];
    device.net
      .createServer((socket) => {
        server = socket;
        socket.on('error', (error: NetError) => serverErrors.push(error));
      })
      .listen(7070);
    const client = peer.net.connect({ host: DEVICE_IP, port: 7070 });
    client.on('error', () => undefined);
    client.setKeepAlive(false);
    assert.ok(await world.runUntilDone(() => server !== undefined, 5_000));
    const lastHeard = server!.tcp.lastReceivedAt;
    await world.runUntil(lastHeard + 1000);
    wire.pullCable();
    let closedAt: number | undefined;
    server!.on('close', () => (closedAt ??= world.now));
    assert.ok(await world.runUntilDone(() => closedAt !== undefined, 60_000));
    // idle + interval·count, each keepalive timer rounded up to the 64 ms grid that
    // batches the probes of many connections (timers.ts): at most 4 × 64 ms later.
    let expected = lastHeard + 10_000;
    for (let step = 0; step < 4; step++) expected = coarseDeadline(expected, 2_000) + (step < 3 ? 2_000 : 0);
    assert.equal(closedAt, expected, 'detected at idle + interval·count, on the keepalive grid');
    const detection = closedAt! - lastHeard;
    assert.ok(detection >= 16_000 && detection < 16_000 + 4 * KEEPALIVE_GRANULARITY_MS, `detected after ${detection} ms`);
    assert.equal(serverErrors[0]?.code, 'ETIMEDOUT');
    const lost = deviceEvents.named('peer_lost');
    assert.equal(lost.length, 1);
    assert.equal(lost[0]?.reason, 'keepalive_timeout');
    assert.equal(lost[0]?.silentMs, expected - lastHeard);
    assert.deepEqual(faultsRaised(pair), [1, 3]);
    assert.equal(deviceEvents.named('conn_close').at(-1)?.reason, 'keepalive_timeout');
    assert.equal(device.counters.get('tcp.tx.keepalives'), 3);
  });
});
