/**
 * Real libraries on piwire sockets against the Linux kernel's servers and clients
 * (issue 14): a small application on piwire's stack (test/support/piwire-app.ts) owns
 * veth-dev in the device namespace; the kernel side runs in the LAN namespace.
 *
 * - Debian's `mosquitto` broker, started here on 198.18.0.1:1883; the npm `mqtt` client
 *   on a piwire socket subscribes, publishes QoS 1 and QoS 2 messages, and must get
 *   every one back in order with no error; the PUBACK round trips go to diagnostics.
 * - `curl` against node:http on a piwire listener: a GET, a 1 MiB POST checked by
 *   SHA-256, and two requests over one kept-alive connection.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns, createTopology, delay, execOrThrow, spawnInNamespace, type VethTopology } from '../support/netns.ts';
import { startFirmware } from '../support/firmware-process.ts';
import { suiteEnvironment, type Cleanup } from '../support/suite.ts';
import { SeededRandom } from '../../src/random.ts';

const MOSQUITTO = '/usr/sbin/mosquitto';
const CURL = '/usr/bin/curl';
const availability = canUseNetns();
const missing = [MOSQUITTO, CURL].filter((path) => !existsSync(path));
const skip = !availability.ok
  ? `integration: needs root and network namespaces: ${availability.reason}`
  : missing.length > 0
    ? `integration: ${missing.join(', ')} not installed (test/run.sh installs mosquitto and curl)`
    : false;

const APP = 'test/support/piwire-app.ts';
const MQTT_PORT = 1883;
const HTTP_PORT = 8080;

interface Environment {
  topology: VethTopology;
  directory: string;
}

const environment = suiteEnvironment<Environment>(skip, async (cleanups: Cleanup[]) => {
  const directory = await mkdtemp(join(tmpdir(), 'pw-libs-'));
  cleanups.push(() => rm(directory, { recursive: true, force: true }));
  const topology = await createTopology({ mtu: 1500, prefix: 'pw' });
  cleanups.push(() => topology.destroy());
  return { topology, directory };
});

function appArgs(topology: VethTopology, mode: string[]): string[] {
  return ['--link', topology.deviceInterface, '--ip', `${topology.deviceAddress}/${topology.prefixLength}`, ...mode];
}

describe('real libraries on piwire against kernel peers (namespaces)', { skip }, () => {
  it('mqtt client on a piwire socket with the mosquitto broker: QoS 1 and 2 in order, no errors', async (t: TestContext) => {
    const { topology, directory } = environment();
    const config = join(directory, 'mosquitto.conf');
    await writeFile(config, `listener ${MQTT_PORT} ${topology.peerAddress}\nallow_anonymous true\npersistence false\nlog_dest stderr\n`);
    const broker = spawnInNamespace(topology.peerNamespace, [MOSQUITTO, '-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let brokerLog = '';
    broker.stderr?.on('data', (chunk: Buffer) => (brokerLog += chunk.toString()));
    t.after(() => {
      broker.kill('SIGTERM');
    });
    // Wait (bounded) until the broker listens.
    for (let i = 0; i < 100; i++) {
      const listening = await execOrThrow(topology.peerNamespace, ['ss', '-ltnH', `sport = :${MQTT_PORT}`]);
      if (listening.stdout.trim() !== '') break;
      await delay(50);
    }
    const app = startFirmware({
      namespace: topology.deviceNamespace,
      entry: APP,
      args: appArgs(topology, ['--mode', 'mqtt', '--broker', `${topology.peerAddress}:${MQTT_PORT}`, '--count', '200']),
      readyTimeoutMs: 30_000,
    });
    t.after(() => app.stop());
    const result = await app.waitForEvent('mqtt_result', undefined, 60_000).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${app.describe()}\n--- mosquitto ---\n${brokerLog}`);
    });
    t.diagnostic(`PUBACK median ${Number(result['pubackMedianMs']).toFixed(2)} ms, PUBCOMP median ${Number(result['pubcompMedianMs']).toFixed(2)} ms`);
    assert.equal(result['qos1InOrder'], true, JSON.stringify(result));
    assert.equal(result['qos2InOrder'], true, JSON.stringify(result));
    assert.deepEqual(result['errors'], []);
    assert.match(brokerLog, /New client connected from 198\.18\.0\.2/);
    const status = await app.exited;
    assert.equal(status.code, 0, app.describe());
  });

  it('curl against node:http on a piwire listener: GET, 1 MiB POST, keep-alive reuse', async (t: TestContext) => {
    const { topology, directory } = environment();
    const app = startFirmware({
      namespace: topology.deviceNamespace,
      entry: APP,
      args: appArgs(topology, ['--mode', 'http', '--port', String(HTTP_PORT)]),
      readyTimeoutMs: 30_000,
    });
    t.after(() => app.stop());
    await app.ready;
    const base = `http://${topology.deviceAddress}:${HTTP_PORT}`;
    const curl = (args: string[]): Promise<{ stdout: string; stderr: string }> =>
      execOrThrow(topology.peerNamespace, [CURL, '--silent', '--show-error', '--max-time', '20', ...args], { timeoutMs: 30_000 });

    const hello = await curl([`${base}/hello`]);
    assert.equal(hello.stdout, 'hello from piwire\n');

    const body = Buffer.from(new SeededRandom(14).bytes(1024 * 1024));
    const bodyFile = join(directory, 'body.bin');
    await writeFile(bodyFile, body);
    const posted = await curl(['--data-binary', `@${bodyFile}`, '-H', 'content-type: application/octet-stream', `${base}/sha256`]);
    assert.equal(posted.stdout, `${body.length} ${createHash('sha256').update(body).digest('hex')}\n`);

    // Two URLs in one curl run share a connection when the server keeps it alive.
    const reuse = await curl(['--write-out', 'connects=%{num_connects}\n', `${base}/hello`, `${base}/hello`]);
    assert.equal(reuse.stdout, 'hello from piwire\nconnects=1\nhello from piwire\nconnects=0\n');
  });
});
