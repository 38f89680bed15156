/**
 * The remote shell against the Linux kernel (SPEC §5, §9): the firmware in one network
 * namespace, clients in the other: `piwire shell` (challenge-response on 2323),
 * Debian's `telnet`, and `openssl s_client` / `socat` for the password login on 2324.
 *
 * The firmware entry is firmware/main.ts; PIWIRE_SHELL_TEST_ENTRY overrides it (for a
 * build where the shell is wired elsewhere). Every wait is a hang guard.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { canUseNetns, createTopology, describeResult, exec, VETH_DEVICE_ADDRESS, VETH_PEER_ADDRESS, type Topology } from '../support/netns.ts';
import { REPOSITORY_ROOT, startFirmware, type FirmwareProcess } from '../support/firmware-process.ts';
import { createStoredSecret, formatStoredSecret } from '../../src/services/shell/auth.ts';
import { randomBytes } from 'node:crypto';

const availability = canUseNetns();
const missingTools = ['telnet', 'socat', 'openssl'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
const skip = !availability.ok
  ? `integration: needs root and network namespaces: ${availability.reason}`
  : missingTools.length > 0
    ? `integration: missing ${missingTools.join(', ')}`
    : false;

const ENTRY = process.env['PIWIRE_SHELL_TEST_ENTRY'] ?? 'firmware/main.ts';
const SECRET = 'correct horse battery';
const USER = 'op';

describe('remote shell against the kernel', { skip }, () => {
  let topology: Topology;
  let firmware: FirmwareProcess;
  let directory = '';
  let secretFile = '';
  let wrongSecretFile = '';

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'pw-shell-'));
    secretFile = join(directory, 'secret');
    wrongSecretFile = join(directory, 'wrong');
    await writeFile(secretFile, `${SECRET}\n`, { mode: 0o600 });
    await writeFile(wrongSecretFile, 'not it\n', { mode: 0o600 });
    const stored = formatStoredSecret(await createStoredSecret(SECRET, randomBytes(16)));
    const configFile = join(directory, 'config.json');
    await writeFile(configFile, JSON.stringify({ services: { shell: { users: { [USER]: stored } } } }));
    topology = await createTopology({ mtu: 1500, prefix: 'pwsh' });
    firmware = startFirmware({
      namespace: topology.deviceNamespace,
      args: [...topology.firmwareArgs(), '--config', configFile, '--log', 'json', '--state-dir', join(directory, 'state')],
      entry: ENTRY,
      readyTimeoutMs: 45_000,
    });
    await firmware.ready;
  });

  after(async () => {
    await firmware?.stop();
    await topology?.destroy();
    await rm(directory, { recursive: true, force: true });
  });

  const shell = (args: string[], secret = secretFile) =>
    exec(topology.peerNamespace, [process.execPath, '--import', 'tsx', ENTRY, 'shell', VETH_DEVICE_ADDRESS, '--user', USER, '--secret-file', secret, ...args], {
      cwd: REPOSITORY_ROOT,
      timeoutMs: 60_000,
    });

  it('piwire shell -c "conns --json" shows its own connection ESTABLISHED', async () => {
    const result = await shell(['-c', 'conns --json']);
    assert.equal(result.code, 0, describeResult(result));
    const connections = JSON.parse(result.stdout) as { state: string; localPort: number; remoteAddress: string }[];
    const own = connections.filter((c) => c.localPort === 2323 && c.remoteAddress === VETH_PEER_ADDRESS && c.state === 'ESTABLISHED');
    assert.equal(own.length, 1, result.stdout);
    assert.ok(firmware.events('shell_login').length >= 1);
  });

  it('a failing command makes piwire shell exit non-zero; stats --json is JSON', async () => {
    const failed = await shell(['-c', 'kill 999999']);
    assert.equal(failed.code, 1, describeResult(failed));
    assert.match(failed.stdout, /error: no connection 999999/);
    const stats = await shell(['-c', 'stats --json']);
    assert.equal(stats.code, 0, describeResult(stats));
    assert.ok((JSON.parse(stats.stdout) as Record<string, number>)['ethernet.rx.frames']! > 0);
  });

  it('ping from the device stack reaches the kernel', async () => {
    const result = await shell(['-c', `ping ${VETH_PEER_ADDRESS} 2`]);
    assert.equal(result.code, 0, describeResult(result));
    assert.match(result.stdout, /2 packets transmitted, 2 received/);
  });

  it('telnet sees the banner, no negotiation garbage, and cannot log in with a password', async () => {
    // telnet quits at the end of its input: the input comes slowly, so the answers arrive first.
    const script = `(sleep 1; printf '${USER}\\r\\n'; sleep 2) | telnet ${VETH_DEVICE_ADDRESS} 2323`;
    const result = await exec(topology.peerNamespace, ['sh', '-c', script], { timeoutMs: 20_000 });
    assert.match(result.stdout, /use `piwire shell HOST`/, describeResult(result));
    assert.equal(result.stdout.includes('\u00ff'), false);
    assert.equal(result.stdout.includes('\ufffd'), false);
  });

  it('password login over TLS with openssl s_client', async () => {
    const result = await exec(topology.peerNamespace, ['openssl', 's_client', '-quiet', '-connect', `${VETH_DEVICE_ADDRESS}:2324`], {
      input: `${USER}\n${SECRET}\nconns --json\nquit\n`,
      timeoutMs: 30_000,
    });
    assert.match(result.stdout, /logged in as op/, describeResult(result));
    assert.match(result.stdout, /"localPort": 2324,[\s\S]*"state": "ESTABLISHED"|"state": "ESTABLISHED"[\s\S]*"localPort": 2324/);
    assert.match(result.stdout, /bye/);
  });

  it('password login over TLS with socat', async () => {
    // Input is held open for a while: after close_notify the TLS side stops answering.
    const script = `(printf '${USER}\\n${SECRET}\\nstatus\\nquit\\n'; sleep 3) | socat -t 10 - OPENSSL:${VETH_DEVICE_ADDRESS}:2324,verify=0`;
    const result = await exec(topology.peerNamespace, ['sh', '-c', script], { timeoutMs: 30_000 });
    assert.match(result.stdout, /logged in as op/, describeResult(result));
    assert.match(result.stdout, /piwire> ip: 198\.18\.0\.2\/24\r?$/m);
  });

  it('a wrong secret never logs in; 6 bad logins lock the address out (fault 6)', async () => {
    const logins = firmware.events('shell_login').length;
    for (let attempt = 1; attempt <= 5; attempt++) {
      const result = await shell(['-c', 'status'], wrongSecretFile);
      assert.equal(result.code, 3, describeResult(result));
      assert.match(result.stderr, /login failed/);
    }
    const sixth = await shell(['-c', 'status']);
    assert.equal(sixth.code, 3, describeResult(sixth));
    assert.match(sixth.stderr, /too many failed logins/);
    await firmware.waitForEvent('auth_lockout', (line) => line['address'] === VETH_PEER_ADDRESS);
    await firmware.waitForEvent('fault', (line) => line['code'] === 6);
    assert.equal(firmware.events('shell_login').length, logins, 'no login during the lockout');
  });
});
