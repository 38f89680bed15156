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
