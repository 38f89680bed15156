/**
 * The stack-wide budget for buffers above the default sizes (src/tcp/buffer-budget.ts):
 * a service that asks for large buffers gets them while the budget lasts, then the
 * defaults; a closed connection gives its share back.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createStackPair, DEVICE_IP } from '../support/stack-pair.ts';
import { parseIpv4 } from '../../src/net/address.ts';
import type { TcpConnection } from '../../src/tcp/connection.ts';
import { noopHandler } from '../../src/tcp/connection.ts';

const KIB = 1024;
const LARGE = 256 * KIB;
/** Each large connection reserves (256 − 16) KiB for each of its two rings. */
const EXTRA = 2 * (LARGE - 16 * KIB);

describe('buffer budget', () => {
  it('gives large buffers while the budget lasts, then the defaults, and takes a closed connection\'s share back', () => {
    const pair = createStackPair({ deviceTcp: { bufferBudget: EXTRA + EXTRA / 2 } });
    const { world, device, peer } = pair;
    const accepted: TcpConnection[] = [];
    device.tcp.listen(7, { rcvBuf: LARGE, sndBuf: LARGE }, (connection) => {
      connection.handler = noopHandler();
      accepted.push(connection);
    });
    const open = (): TcpConnection => {
      const before = accepted.length;
      peer.tcp.connect(parseIpv4(DEVICE_IP)!, 7);
      assert.ok(world.runUntilDoneSync(() => accepted.length === before + 1, 5_000));
      return accepted[before]!;
    };

    const first = open();
    assert.equal(first.receiveBuffer.capacity, LARGE);
    assert.equal(first.sendBuffer.capacity, LARGE);
    assert.equal(device.tcp.bufferBudget.reserved, EXTRA);

    const second = open();
    assert.equal(second.receiveBuffer.capacity, 16 * KIB, 'half a share left: the defaults');
    assert.equal(second.sendBuffer.capacity, 16 * KIB);
    assert.equal(device.counters.get('tcp.buffers.over-budget'), 1);
    assert.equal(device.tcp.bufferBudget.reserved, EXTRA);

    first.abort();
    world.runUntilSync(world.now + 10);
    assert.equal(device.tcp.bufferBudget.reserved, 0, 'the closed connection gave its share back');

    const third = open();
    assert.equal(third.receiveBuffer.capacity, LARGE);
    assert.equal(device.tcp.bufferBudget.reserved, EXTRA);
  });
});
