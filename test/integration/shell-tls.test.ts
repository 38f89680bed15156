/**
 * The shell's TLS port judged from outside by a tool nobody here wrote: Debian's
 * `testssl` (testssl.sh) in the peer namespace against the firmware on AF_PACKET
 * (issue 17). Asserted from its JSON verdicts: TLS 1.2 and 1.3 only, no NULL, export,
 * RC4, 3DES or CBC suites (so LUCKY13 and SWEET32 do not apply), forward secrecy,
 * client-initiated renegotiation refused, not vulnerable to Heartbleed, CCS injection,
 * ROBOT, POODLE, FREAK, DROWN, LOGJAM; the device still answers afterwards.
 *
 * The run is kept short with targeted checks (no full cipher enumeration, no HTTP
 * checks, one IP, no DNS).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { canUseNetns, createTopology, describeResult, exec, VETH_DEVICE_ADDRESS, type Topology } from '../support/netns.ts';
import { startFirmware, type FirmwareProcess } from '../support/firmware-process.ts';

const availability = canUseNetns();
const haveTestssl = spawnSync('sh', ['-c', 'command -v testssl']).status === 0;
const skip = !availability.ok
  ? `integration: needs root and network namespaces: ${availability.reason}`
  : haveTestssl
    ? false
    : 'integration: testssl is missing (apt-get install testssl.sh)';

/** One finding of testssl's flat JSON output. */
interface Finding {
  id: string;
  severity: string;
  finding: string;
}

/** The checks run: protocols, standard cipher categories, forward secrecy, renegotiation and the named vulnerabilities. */
const TESTSSL_CHECKS = ['--protocols', '--std', '--fs', '--renegotiation', '--heartbleed', '--ccs-injection', '--robot', '--poodle', '--freak', '--drown', '--logjam', '--sweet32', '--lucky13', '--rc4'];

describe('shell TLS port against testssl', { skip }, () => {
  let topology: Topology;
  let firmware: FirmwareProcess;
  let directory = '';
  let findings = new Map<string, Finding>();
  let report = '';

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'pw-tls-'));
    const configFile = join(directory, 'config.json');
    await writeFile(configFile, JSON.stringify({ services: { shell: { users: {} } } }));
    topology = await createTopology({ mtu: 1500, prefix: 'pwsh' });
    firmware = startFirmware({
      namespace: topology.deviceNamespace,
      args: [...topology.firmwareArgs(), '--config', configFile, '--log', 'json', '--state-dir', join(directory, 'state')],
      readyTimeoutMs: 45_000,
    });
    await firmware.ready;
    const jsonFile = join(directory, 'testssl.json');
    const result = await exec(
      topology.peerNamespace,
      ['testssl', '--quiet', '--color', '0', '--warnings', 'off', '--sneaky', '--jsonfile', jsonFile, ...TESTSSL_CHECKS, `${VETH_DEVICE_ADDRESS}:2324`],
      { timeoutMs: 600_000 },
    );
    report = describeResult(result);
    const text = await readFile(jsonFile, 'utf8').catch(() => assert.fail(`testssl wrote no JSON:\n${report}`));
    const parsed = JSON.parse(text) as Finding[];
    findings = new Map(parsed.map((entry) => [entry.id, entry]));
  });

  after(async () => {
    await firmware?.stop();
    await topology?.destroy();
    await rm(directory, { recursive: true, force: true });
  });

  const verdict = (id: string): Finding => {
    const finding = findings.get(id);
    assert.ok(finding, `testssl reported no ${id}:\n${[...findings.keys()].join(' ')}\n${report}`);
    return finding;
  };
  const notOffered = (id: string): void => assert.match(verdict(id).finding, /^not offered/, `${id}: ${JSON.stringify(verdict(id))}`);
  const notVulnerable = (id: string): void => {
    const finding = verdict(id);
    assert.equal(finding.severity, 'OK', `${id}: ${JSON.stringify(finding)}`);
    assert.match(finding.finding, /not vulnerable|not offered|no RC4|no DH|no SSLv/i, `${id}: ${JSON.stringify(finding)}`);
  };

  it('offers TLS 1.2 and 1.3 only', () => {
    for (const id of ['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1']) notOffered(id);
    assert.match(verdict('TLS1_2').finding, /^offered/);
    assert.match(verdict('TLS1_3').finding, /^offered/);
  });

  it('offers no NULL, anonymous, export, low, 3DES or CBC suites; strong AEAD ones with forward secrecy', () => {
    for (const id of ['cipherlist_NULL', 'cipherlist_aNULL', 'cipherlist_EXPORT', 'cipherlist_LOW', 'cipherlist_3DES_IDEA', 'cipherlist_AVERAGE']) notOffered(id);
    assert.match(verdict('cipherlist_STRONG').finding, /^offered/);
    // testssl 3.0 calls forward secrecy PFS; its cipher list must hold only AEAD suites.
    assert.match(verdict('PFS').finding, /offered/);
    assert.equal(verdict('PFS').severity, 'OK');
    for (const cipher of verdict('PFS_ciphers').finding.split(/\s+/)) assert.match(cipher, /GCM|CHACHA20-POLY1305|CHACHA20_POLY1305/, `a non-AEAD forward-secret suite: ${cipher}`);
  });

  it('refuses client-initiated renegotiation', () => {
    const finding = verdict('secure_client_renego');
    assert.equal(finding.severity, 'OK', JSON.stringify(finding));
    assert.match(finding.finding, /not vulnerable/);
  });

  it('is not vulnerable to Heartbleed, CCS, ROBOT, POODLE, FREAK, DROWN, LOGJAM, SWEET32, LUCKY13, RC4', () => {
    for (const id of ['heartbleed', 'CCS', 'ROBOT', 'POODLE_SSL', 'FREAK', 'DROWN', 'LOGJAM', 'SWEET32', 'LUCKY13', 'RC4']) notVulnerable(id);
  });

  it('stayed up: still serves after the scan', async () => {
    assert.equal(firmware.exitStatus(), undefined, firmware.describe());
    const result = await exec(topology.peerNamespace, ['openssl', 's_client', '-brief', '-connect', `${VETH_DEVICE_ADDRESS}:2324`], { input: '', timeoutMs: 30_000 });
    assert.match(result.stderr, /CONNECTION ESTABLISHED/, describeResult(result));
    assert.match(result.stderr, /Protocol version: TLSv1\.3/, describeResult(result));
  });
});
