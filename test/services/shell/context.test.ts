import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { createStackPair, PEER_IP } from '../../support/stack-pair.ts';
import { parseIpv4 } from '../../../src/net/address.ts';
import { stackShellContext } from '../../../src/services/shell/context.ts';
import { parseStoredSecret, verifyPassword } from '../../../src/services/shell/auth.ts';
import { runHashSecret } from '../../../firmware/shell-client.ts';

describe('stackShellContext', () => {
  it('ping sends ICMP echo from the device stack and reports replies; an absent host times out', async () => {
    const pair = createStackPair();
    const context = stackShellContext({ stack: pair.device, clock: pair.world.clock, delay: (ms) => pair.world.runFor(ms) });
    const lines: string[] = [];
    const summary = await context.ping(parseIpv4(PEER_IP)!, 3, (line) => lines.push(line));
    assert.deepEqual(summary, { sent: 3, received: 3 });
    assert.match(lines[0] ?? '', /^64 bytes from 198\.18\.0\.1: icmp_seq=1 time=[0-9.]+ ms$/);
    assert.equal(pair.peer.counters.get('icmp.rx.echo-request'), 3);
    const missing: string[] = [];
    const none = await context.ping(parseIpv4('198.18.0.77')!, 2, (line) => missing.push(line));
    assert.deepEqual(none, { sent: 2, received: 0 });
    assert.equal(missing.length, 2);
    assert.match(context.neighbors().map((entry) => entry.state).join(','), /reachable/);
    assert.equal(context.networkStatus()['ip'], '198.18.0.2/24');
  });

  it('status shows the TIME-WAIT records and orphans next to the connections', async () => {
    const pair = createStackPair();
    const context = stackShellContext({ stack: pair.device, clock: pair.world.clock, delay: (ms) => pair.world.runFor(ms) });
    pair.device.net.createServer((socket) => socket.end('bye\n')).listen(7070);
    const client = pair.peer.net.connect({ host: '198.18.0.2', port: 7070 });
    client.on('data', () => undefined);
    client.on('end', () => client.end());
    await pair.world.runFor(1000);
    // The device closed first: its side of the tuple waits in TIME-WAIT.
    assert.deepEqual(
      { connections: context.networkStatus()['connections'], timeWait: context.networkStatus()['timeWait'], orphans: context.networkStatus()['orphans'] },
      { connections: 0, timeWait: 1, orphans: 0 },
    );
    await pair.world.runFor(10_000);
    assert.equal(context.networkStatus()['timeWait'], 0, 'gone after 2·MSL');
  });
});

describe('piwire hash-secret', () => {
  it('prints a stored form that verifies the secret read from stdin', async () => {
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    stdin.end('hunter2\n');
    assert.equal(await runHashSecret(stdin, stdout, stderr), 0);
    const printed = String(stdout.read()).trim();
    const stored = parseStoredSecret(printed);
    assert.ok(stored, printed);
    assert.equal(await verifyPassword(stored, 'hunter2'), true);
    assert.equal(await verifyPassword(stored, 'hunter2\n'), false);
  });

  it('refuses an empty secret', async () => {
    const stdin = new PassThrough();
    stdin.end('\n');
    assert.equal(await runHashSecret(stdin, new PassThrough(), new PassThrough()), 2);
  });
});
