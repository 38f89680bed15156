/**
 * IP mode (`--link ip:IFNAME`, hal/link/ip.ts) against the kernel over veth: the device
 * namespace's kernel owns 198.18.0.2/24 on veth-dev (as it owns a Wi-Fi interface's
 * address), the firmware sends and receives IPv4 through raw sockets there, and the
 * nftables rule of deploy/interfaces/piwire-rst-guard (added only inside this test's
 * device namespace) keeps the kernel's TCP from resetting the device's connections.
 *
 * Cases as in the frame-level suites: echo and discard byte for byte, the sensor protocol
 * pipelined; then the proof that no kernel RST reached the peer: tshark finds no RST
 * from the device in the capture on the peer's side except the one our stack sent for a
 * closed port, while the rule's counter shows the kernel did try.
 * Without the rule the firmware refuses to start, naming it.
 *
 * Every wait is a hang guard; speeds are reported, never asserted.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { canUseNetns, createTopology, describeResult, exec, runClient, type Topology } from '../support/netns.ts';
import { REPOSITORY_ROOT, startFirmware, type FirmwareProcess, type ReadyEvent } from '../support/firmware-process.ts';
import { startCapture, type Capture } from '../support/capture.ts';
import { suiteEnvironment, type Cleanup } from '../support/suite.ts';

const availability = canUseNetns();
const missing = ['nft', 'tshark', 'nc'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
let rawSocket = true;
try {
  await import('raw-socket');
} catch {
  rawSocket = false;
}
const skip = !availability.ok
  ? `integration: needs root and network namespaces: ${availability.reason}`
  : missing.length > 0
    ? `integration: missing ${missing.join(', ')} (Debian: nftables, tshark, netcat-openbsd)`
    : !rawSocket
      ? 'integration: the raw-socket package (optional dependency) is not built'
      : false;

const MiB = 1024 * 1024;
const ECHO_BYTES = 10 * MiB;
const DISCARD_BYTES = 50 * MiB;
const CLOSED_PORT = '7071';
const GUARD = join(REPOSITORY_ROOT, 'deploy', 'interfaces', 'piwire-rst-guard');

interface Environment {
  topology: Topology;
  firmware: FirmwareProcess;
  ready: ReadyEvent;
  capture: Capture;
  refusal: { code: number | null; stderr: string };
}

async function setUp(cleanups: Cleanup[]): Promise<Environment> {
  const directory = await mkdtemp(join(tmpdir(), 'pw-ipmode-'));
  cleanups.push(() => rm(directory, { recursive: true, force: true }));
  const topology = await createTopology({ mtu: 1500, prefix: 'pw' });
  cleanups.push(() => topology.destroy());
  const device = topology.deviceNamespace;
  // The kernel owns the device's address, as it owns a Wi-Fi interface's.
  const added = await exec(device, ['ip', 'addr', 'add', `${topology.deviceAddress}/${topology.prefixLength}`, 'dev', topology.deviceInterface]);
  assert.equal(added.code, 0, describeResult(added));
  const args = ['--link', `ip:${topology.deviceInterface}`, '--diag', '--log', 'json', '--state-dir', join(directory, 'state')];

  // Without the nftables rule the firmware must refuse to start.
  const refused = startFirmware({ namespace: device, args, readyTimeoutMs: 45_000 });
  cleanups.push(() => refused.stop());
  const refusedStatus = await refused.exited;
  const refusal = { code: refusedStatus.code, stderr: refused.stderr() };

  // Only ever inside this test's own namespace.
  const guard = await exec(device, ['bash', GUARD, 'add', topology.deviceInterface]);
  assert.equal(guard.code, 0, describeResult(guard));
  // Only RSTs are kept: the RST check reads a small file, not the bulk transfers.
  const capture = await startCapture({ namespace: topology.peerNamespace, interfaceName: topology.peerInterface, filter: 'tcp[tcpflags] & tcp-rst != 0' });
  cleanups.push(() => capture.remove());
  const firmware = startFirmware({ namespace: device, args, readyTimeoutMs: 45_000 });
  cleanups.push(() => firmware.stop());
  const ready = await firmware.ready;
  return { topology, firmware, ready, capture, refusal };
}

function throughput(bytes: number, seconds: number | null | undefined): string {
  return seconds ? `${((bytes * 8) / seconds / 1e6).toFixed(1)} Mbit/s` : 'n/a';
}

describe('IP mode (--link ip:IFNAME on raw sockets) against the kernel over veth', { skip }, () => {
  const env = suiteEnvironment(skip, setUp);

  it('refuses to start without the nftables rule, and says which', () => {
    const { refusal } = env();
    assert.equal(refusal.code, 1, refusal.stderr);
    assert.match(refusal.stderr, /--link ip:veth-dev: .*nftables.*piwire-rst-guard add veth-dev/, refusal.stderr);
  });

  it("reports ready on the interface's own address", () => {
    const { ready, topology } = env();
    assert.equal(ready.ip, topology.deviceAddress);
    assert.equal(ready['link'], `ip:${topology.deviceInterface}`);
    assert.equal(ready['prefix'], topology.prefixLength);
  });

  it(`echoes ${ECHO_BYTES / MiB} MiB byte for byte`, { timeout: 330_000 }, async (t: TestContext) => {
    const { topology, firmware } = env();
    const { result, report } = await runClient<{ sent: number; received: number; sentSha256: string; receivedSha256: string; eof: boolean; elapsedSeconds: number; error: string | null }>(
      topology.peerNamespace,
      'echo_bulk.py',
      [topology.deviceAddress, '7', String(ECHO_BYTES), '--idle-timeout', '30'],
      { timeoutMs: 300_000 },
    );
    const evidence = `${describeResult(result)}\n${firmware.describe()}`;
    assert.ok(report, evidence);
    t.diagnostic(`echo: ${throughput(report.sent + report.received, report.elapsedSeconds)} both ways`);
    assert.equal(report.error, null, evidence);
    assert.equal(report.received, ECHO_BYTES, evidence);
    assert.equal(report.receivedSha256, report.sentSha256);
    assert.equal(report.eof, true);
  });

  it(`accepts ${DISCARD_BYTES / MiB} MiB into discard`, { timeout: 330_000 }, async (t: TestContext) => {
    const { topology, firmware } = env();
    const { result, report } = await runClient<{ sent: number; received: number; eof: boolean; unacknowledged: number | null; elapsedSeconds: number; error: string | null }>(
      topology.peerNamespace,
      'discard_push.py',
      [topology.deviceAddress, '9', String(DISCARD_BYTES), '--idle-timeout', '30'],
      { timeoutMs: 300_000 },
    );
    const evidence = `${describeResult(result)}\n${firmware.describe()}`;
    assert.ok(report, evidence);
    t.diagnostic(`discard: ${throughput(report.sent, report.elapsedSeconds)}`);
    assert.equal(report.error, null, evidence);
    assert.equal(report.sent, DISCARD_BYTES);
    assert.equal(report.eof, true, evidence);
    assert.equal(report.unacknowledged, 0);
  });

  it('serves the sensor protocol, pipelined, reply by reply', { timeout: 120_000 }, async () => {
    const { topology, firmware } = env();
    const { result, report } = await runClient<{ checked: number; mismatches: unknown[]; eof: boolean; error: string | null }>(
      topology.peerNamespace,
      'sensor_client.py',
      [topology.deviceAddress, '7070', '--sensor-id', 'ipmode.sensor', '--puts', '50'],
      { timeoutMs: 90_000 },
    );
    const evidence = `${describeResult(result)}\n${firmware.describe()}`;
    assert.ok(report, evidence);
    assert.equal(report.error, null, evidence);
    assert.deepEqual(report.mismatches, [], evidence);
    assert.ok(report.checked > 50);
    assert.equal(report.eof, true);
    assert.equal(result.code, 0, evidence);
  });

  it("a closed port is refused by the device's own RST (marked, so the rule lets it pass)", { timeout: 30_000 }, async () => {
    const { topology } = env();
    const nc = await exec(topology.peerNamespace, ['nc', '-z', '-w', '5', topology.deviceAddress, CLOSED_PORT], { timeoutMs: 20_000 });
    assert.equal(nc.code, 1, describeResult(nc));
    assert.doesNotMatch(nc.stderr, /timed out/i, 'refused at once, not timed out');
  });

  it('no kernel RST reached the peer (tshark), while the rule dropped the kernel’s attempts', { timeout: 120_000 }, async (t: TestContext) => {
    const { capture, topology, firmware } = env();
    await capture.stop();
    const resets = await exec(undefined, [
      'tshark', '-n', '-r', capture.file, '-Y', `ip.src == ${topology.deviceAddress} && tcp.flags.reset == 1`, '-T', 'fields', '-e', 'tcp.srcport', '-e', 'tcp.dstport',
    ], { timeoutMs: 90_000 });
    assert.equal(resets.code, 0, describeResult(resets));
    const lines = resets.stdout.trim().split('\n').filter((line) => line !== '');
    t.diagnostic(`RSTs from the device: ${JSON.stringify(lines)}`);
    assert.ok(lines.length >= 1, 'the closed-port RST is in the capture: the capture saw RSTs at all');
    for (const line of lines) assert.equal(line.split('\t')[0], CLOSED_PORT, `an RST from the device's port ${line}: the kernel's`);
    const chain = await exec(topology.deviceNamespace, ['nft', 'list', 'chain', 'inet', 'piwire', 'rst-guard'], { timeoutMs: 10_000 });
    const dropped = /counter packets (\d+)/.exec(chain.stdout);
    t.diagnostic(`kernel RSTs dropped by the rule: ${dropped?.[1]}`);
    assert.ok(dropped && Number(dropped[1]) > 0, `the kernel never tried to reset (the test would prove nothing)\n${chain.stdout}`);
    assert.equal(firmware.exitStatus(), undefined);
  });
});
