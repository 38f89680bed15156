/**
 * A SYN flood from spoofed sources (crafted segments injected straight into the device's
 * TCP input) while a legitimate client connects over the memory wire: the backlog fills,
 * SYN cookies take over (RFC 4987 §3.6), fault 7 is reported, and the client gets in.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createStackPair, DEVICE_IP } from '../support/stack-pair.ts';
import { SeededRandom } from '../../src/random.ts';
import { raisedFault } from '../support/faults.ts';
import { parseIpv4 } from '../../src/net/address.ts';
import { emitTcp, tcpHeaderLength, TcpFlag, type TcpRepr } from '../../src/wire/tcp.ts';
import type { Socket } from '../../src/socket/socket.ts';

describe('SYN flood', () => {
  it('10 000 spoofed SYNs against a backlog of 128 do not stop a legitimate client', async () => {
    const pair = createStackPair({ faults: { delayMs: 1 } });
    const { world, device, peer, deviceEvents } = pair;
    const deviceAddress = parseIpv4(DEVICE_IP)!;
    const random = new SeededRandom(77);
    let echoed = '';
    device.net.createServer((socket) => socket.pipe(socket)).listen(7070);
    const flood = (count: number): void => {
      for (let i = 0; i < count; i++) {
        // Spoofed on-link and off-link sources, random ports and sequence numbers.
        const source = ((198 << 24) | (18 << 16) | (random.uint32() & 0xfffe)) >>> 0;
        if (source === deviceAddress || source === parseIpv4('198.18.0.1')) continue;
        const repr: TcpRepr = {
          sourcePort: 1024 + (random.uint32() % 60_000),
          destinationPort: 7070,
          sequenceNumber: random.uint32(),
          acknowledgmentNumber: 0,
          flags: TcpFlag.SYN,
          window: 65_535,
          urgentPointer: 0,
          options: { mss: 1460 },
          payload: new Uint8Array(0),
        };
        const bytes = new Uint8Array(tcpHeaderLength(repr.options));
        emitTcp(repr, bytes, source, deviceAddress);
        device.tcp.input(source, deviceAddress, bytes, world.now);
      }
    };
    flood(5000);
    const client: Socket = peer.net.connect({ host: DEVICE_IP, port: 7070 });
    client.on('data', (chunk: Buffer) => (echoed += chunk.toString()));
    client.write('hello through the flood');
    flood(5000);
    assert.ok(await world.runUntilDone(() => echoed === 'hello through the flood', 30_000), `echoed: ${JSON.stringify(echoed)}`);
    assert.equal(client.tcp.state, 'ESTABLISHED');
    assert.ok(device.counters.get('tcp.tx.syn-cookies') >= 9000, 'the overflow was answered with cookies');
    assert.equal(device.counters.get('tcp.rx.syn-cookie-valid'), 1, 'the client got in on a cookie');
    assert.equal(device.counters.get('tcp.drop.internal-error'), 0);
    const connections = [...device.tcp.connections()];
    assert.ok(connections.length <= 128 + 1, `state is bounded: ${connections.length}`);
    const limits = deviceEvents.named('resource_limit');
    assert.equal(limits.length, 1, 'reported once: rate limited');
    assert.equal(limits[0]?.limit, 'syn_backlog');
    assert.equal(raisedFault('resource_limit', limits[0]), 7, 'fault 7');
  });
});
