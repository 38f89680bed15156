/**
 * The walking skeleton's acceptance tests, end to end: the firmware on one end of a
 * link, the Linux kernel's TCP/IP on the other (SPEC §9), checked byte for byte.
 *
 * Each suite runs the same checks over one link: a veth pair at MTU 1500, the same at
 * MTU 576 (SPEC §2 "small MTU"), and a TAP at MTU 1500. The suite starts a capture on
 * the kernel's side, then the firmware with `--diag` (echo 7, discard 9, chargen 19),
 * and drives it from the LAN namespace with ping, Python kernel-socket clients, nc and
 * scapy. Foreign frames must go unanswered and end in their drop counters, which the
 * test reads from the device's remote shell (`piwire shell -c 'stats --json'`, one
 * operator configured). The last test of each suite reads the capture back: no
 * malformed packet, no bad checksum, nothing over the MTU from the device.
 *
 * Bounds on every wait are hang guards (a broken firmware fails, it does not stall CI);
 * speeds are reported with t.diagnostic and never asserted.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  canUseNetns,
  createTapTopology,
  createTopology,
  describeResult,
  runClient,
  type Topology,
} from '../support/netns.ts';
import { startFirmware, type FirmwareProcess, type ReadyEvent } from '../support/firmware-process.ts';
import { analyseCapture, formatAnalysis, startCapture, type Capture } from '../support/capture.ts';
import { suiteEnvironment, type Cleanup } from '../support/suite.ts';
import { deviceCounters, writeShellOperatorConfig } from '../support/device-shell.ts';

const availability = canUseNetns();
const skip = availability.ok ? false : `integration: needs root and network namespaces: ${availability.reason}`;

const MiB = 1024 * 1024;
const ECHO_BYTES = 10 * MiB;
const DISCARD_BYTES = 50 * MiB;
const CONCURRENT_CONNECTIONS = 200;
const ECHO_PORT = '7';
const DISCARD_PORT = '9';

interface Variant {
  name: string;
  kind: 'veth' | 'tap';
  mtu: number;
}

const VARIANTS: readonly Variant[] = [
  { name: 'veth, MTU 1500', kind: 'veth', mtu: 1500 },
  { name: 'veth, MTU 576', kind: 'veth', mtu: 576 },
  { name: 'tap, MTU 1500', kind: 'tap', mtu: 1500 },
];

const SHELL_SECRET = 'skeleton test secret';

interface Environment {
  topology: Topology;
  firmware: FirmwareProcess;
  ready: ReadyEvent;
  capture: Capture;
  /** The secret file for `piwire shell --secret-file`. */
  secretFile: string;
}

/** The device's counters, read over its remote shell from the LAN namespace. */
function countersOf(environment: Environment): Promise<Record<string, number>> {
  return deviceCounters(environment.topology.peerNamespace, environment.topology.deviceAddress, environment.secretFile);
}

/**
 * Topology, capture and firmware for one suite. Each piece pushes its own cleanup as
 * soon as it exists, so a setup that fails half-way still removes what it made.
 */
async function setUp(variant: Variant, cleanups: Cleanup[]): Promise<Environment> {
  const stateDirectory = await mkdtemp(join(tmpdir(), 'pw-state-'));
  cleanups.push(() => rm(stateDirectory, { recursive: true, force: true }));
  const { configFile, secretFile } = await writeShellOperatorConfig(stateDirectory, SHELL_SECRET);

  if (variant.kind === 'veth') {
    const topology = await createTopology({ mtu: variant.mtu, prefix: 'pw' });
    cleanups.push(() => topology.destroy());
    // Capture from before the firmware starts: its first frames (gratuitous ARP) count too.
    const capture = await startCapture({ namespace: topology.peerNamespace, interfaceName: topology.peerInterface });
    cleanups.push(() => capture.remove());
    const firmware = launch(topology, stateDirectory, configFile, cleanups);
    const ready = await firmware.ready;
    return { topology, firmware, ready, capture, secretFile };
  }

  const topology = await createTapTopology({ mtu: variant.mtu, prefix: 'pw' });
  cleanups.push(() => topology.destroy());
  const firmware = launch(topology, stateDirectory, configFile, cleanups);
  const ready = await firmware.ready;
  // The TAP exists once the firmware opened it; only then can the kernel side be set up.
  await topology.attachPeer({ timeoutMs: 20_000 });
  const capture = await startCapture({ namespace: topology.peerNamespace, interfaceName: topology.peerInterface });
  cleanups.push(() => capture.remove());
  return { topology, firmware, ready, capture, secretFile };
}

function launch(topology: Topology, stateDirectory: string, configFile: string, cleanups: Cleanup[]): FirmwareProcess {
  const firmware = startFirmware({
    namespace: topology.deviceNamespace,
    args: [...topology.firmwareArgs(), '--config', configFile, '--diag', '--log', 'json', '--state-dir', stateDirectory],
    readyTimeoutMs: 45_000,
  });
  cleanups.push(() => firmware.stop());
  return firmware;
}

/** Every number anywhere in the `ports` field of `ready`, whatever its shape. */
function portNumbers(ports: unknown): number[] {
  if (typeof ports === 'number') return [ports];
  if (Array.isArray(ports)) return ports.flatMap(portNumbers);
  if (typeof ports === 'object' && ports !== null) return Object.values(ports).flatMap(portNumbers);
  return [];
}

function assertAlive(environment: Environment): void {
  assert.equal(environment.firmware.exitStatus(), undefined, `the firmware died\n${environment.firmware.describe()}`);
}

function throughput(bytes: number, seconds: number | null | undefined): string {
  if (!seconds) return 'n/a';
  return `${((bytes * 8) / seconds / 1e6).toFixed(1)} Mbit/s`;
}

for (const variant of VARIANTS) {
  describe(`skeleton over ${variant.name}`, () => {
    const env = suiteEnvironment(skip, (cleanups) => setUp(variant, cleanups));

    it('reports ready with its address, MAC, MTU and the diag ports', { skip, timeout: 10_000 }, (t: TestContext) => {
      const { ready, topology, firmware } = env();
      t.diagnostic(`ready: ${JSON.stringify(ready)}`);
      assert.equal(ready.ip, topology.deviceAddress);
      assert.equal(ready.mtu, variant.mtu);
      assert.match(ready.mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i);
      const ports = portNumbers(ready.ports);
      for (const port of [7, 9, 19]) assert.ok(ports.includes(port), `port ${port} missing from ${JSON.stringify(ready.ports)}`);
      assert.deepEqual(firmware.nonJsonLines, [], 'every stdout line is a JSON log object (SPEC §2)');
    });

    it('answers ping, and ARP with its own MAC', { skip, timeout: 45_000 }, async (t) => {
      const environment = env();
      const { topology, ready } = environment;
      const ping = await topology.execPeer(['ping', '-c', '3', '-i', '0.2', '-W', '2', topology.deviceAddress], { timeoutMs: 30_000 });
      assert.equal(ping.code, 0, `${describeResult(ping)}\n${environment.firmware.describe()}`);
      assert.match(ping.stdout, /3 packets transmitted, 3 received/);
      t.diagnostic(ping.stdout.trim().split('\n').pop() ?? '');
      const neighbour = await topology.execPeer(['ip', '-json', 'neigh', 'show', topology.deviceAddress, 'dev', topology.peerInterface]);
      const [entry] = JSON.parse(neighbour.stdout || '[]') as { lladdr?: string }[];
      assert.equal(entry?.lladdr?.toLowerCase(), ready.mac.toLowerCase(), neighbour.stdout);
      assertAlive(environment);
    });

    it(`echoes ${ECHO_BYTES / MiB} MiB byte for byte`, { skip, timeout: 330_000 }, async (t) => {
      const environment = env();
      const { topology } = environment;
      const { result, report } = await runClient<{
        sent: number; received: number; sentSha256: string; receivedSha256: string; eof: boolean; elapsedSeconds: number; error: string | null;
      }>(topology.peerNamespace, 'echo_bulk.py', [topology.deviceAddress, ECHO_PORT, String(ECHO_BYTES), '--idle-timeout', '30'], { timeoutMs: 300_000 });
      const evidence = `${describeResult(result)}\n${environment.firmware.describe()}`;
      assert.ok(report, evidence);
      t.diagnostic(`echo: ${report.received} bytes back in ${report.elapsedSeconds?.toFixed(2)} s, ${throughput(report.sent + report.received, report.elapsedSeconds)} both ways`);
      assert.equal(report.error, null, evidence);
      assert.equal(report.sent, ECHO_BYTES);
      assert.equal(report.received, ECHO_BYTES, evidence);
      assert.equal(report.receivedSha256, report.sentSha256, 'echoed bytes differ from the bytes sent');
      assert.equal(report.eof, true, 'the echo server closes after our FIN');
      assert.equal(result.code, 0, evidence);
      assertAlive(environment);
    });

    it(`accepts ${DISCARD_BYTES / MiB} MiB into discard`, { skip, timeout: 330_000 }, async (t) => {
      const environment = env();
      const { topology } = environment;
      const { result, report } = await runClient<{
        sent: number; received: number; eof: boolean; unacknowledged: number | null; elapsedSeconds: number; error: string | null;
      }>(topology.peerNamespace, 'discard_push.py', [topology.deviceAddress, DISCARD_PORT, String(DISCARD_BYTES), '--idle-timeout', '30'], { timeoutMs: 300_000 });
      const evidence = `${describeResult(result)}\n${environment.firmware.describe()}`;
      assert.ok(report, evidence);
      t.diagnostic(`discard: ${report.sent} bytes in ${report.elapsedSeconds?.toFixed(2)} s, ${throughput(report.sent, report.elapsedSeconds)}`);
      assert.equal(report.error, null, evidence);
      assert.equal(report.sent, DISCARD_BYTES);
      // EOF after our FIN: the server read everything before it; nothing comes back from discard.
      assert.equal(report.eof, true, evidence);
      assert.equal(report.received, 0);
      assert.equal(report.unacknowledged, 0, 'every byte and the FIN acknowledged');
      assert.equal(result.code, 0, evidence);
      assertAlive(environment);
    });

    it(`serves ${CONCURRENT_CONNECTIONS} echo connections opened at once`, { skip, timeout: 150_000 }, async (t) => {
      const environment = env();
      const { topology } = environment;
      const before = await countersOf(environment);
      const { result, report } = await runClient<{
        count: number; succeeded: number; failures: { index: number; stage: string; error: string }[]; connectSeconds: number | null; elapsedSeconds: number;
      }>(topology.peerNamespace, 'echo_many.py', [topology.deviceAddress, ECHO_PORT, String(CONCURRENT_CONNECTIONS), '--deadline', '90'], { timeoutMs: 120_000 });
      // What a failure needs explained: the frames the receive ring dropped, and what the
      // SYN cookies made of the handshakes that overflowed the backlog.
      const after = await countersOf(environment);
      const burstCounters = JSON.stringify(Object.fromEntries(
        ['link.drop.rx-overflow', 'tcp.tx.syn-cookies', 'tcp.rx.syn-cookie-valid', 'tcp.rx.syn-cookie-invalid', 'tcp.drop.syn-cookie-sequence', 'tcp.tx.rst']
          .map((name) => [name, (after[name] ?? 0) - (before[name] ?? 0)]),
      ));
      const evidence = `${describeResult(result)}\ndevice counters over the burst: ${burstCounters}\n${environment.firmware.describe()}`;
      assert.ok(report, evidence);
      t.diagnostic(`${report.succeeded}/${report.count} connections echoed their own message; all connected after ${report.connectSeconds?.toFixed(2)} s, done after ${report.elapsedSeconds.toFixed(2)} s`);
      t.diagnostic(`device counters over the burst: ${burstCounters}`);
      const stages = new Map<string, number>();
      for (const failure of report.failures) stages.set(`${failure.stage}: ${failure.error}`, (stages.get(`${failure.stage}: ${failure.error}`) ?? 0) + 1);
      assert.equal(report.succeeded, CONCURRENT_CONNECTIONS, `failures: ${JSON.stringify([...stages])}\n${evidence}`);
      assert.equal(result.code, 0, evidence);
      assertAlive(environment);
    });

    it('exchanges a line with echo through nc', { skip, timeout: 45_000 }, async () => {
      const environment = env();
      const { topology } = environment;
      const line = `hello piwire ${randomBytes(6).toString('hex')}\n`;
      // netcat-openbsd: -N sends our FIN at end of input, so the echo server closes and nc ends.
      const nc = await topology.execPeer(['nc', '-N', '-w', '10', topology.deviceAddress, ECHO_PORT], { input: line, timeoutMs: 30_000 });
      assert.equal(nc.stdout, line, `${describeResult(nc)}\n${environment.firmware.describe()}`);
      assert.equal(nc.code, 0, describeResult(nc));
      assertAlive(environment);
    });

    it('ignores frames for another MAC or IP, IPv6 and unknown EtherTypes', { skip, timeout: 90_000 }, async (t) => {
      const environment = env();
      const { topology, ready } = environment;
      const before = await countersOf(environment);
      const { result, report } = await runClient<{
        probes: Record<string, { description: string; expectReply: boolean; replies: string[] }>; otherFromDevice: string[];
      }>(
        topology.peerNamespace,
        'foreign_frames.py',
        ['--iface', topology.peerInterface, '--device-mac', ready.mac, '--device-ip', topology.deviceAddress, '--own-ip', topology.peerAddress, '--wait', '2'],
        { timeoutMs: 60_000 },
      );
      const evidence = `${describeResult(result)}\n${environment.firmware.describe()}`;
      assert.equal(result.code, 0, evidence);
      assert.ok(report?.probes, evidence);
      t.diagnostic(`other frames from the device meanwhile: ${JSON.stringify(report.otherFromDevice)}`);
      const probes = Object.entries(report.probes);
      assert.ok(probes.length >= 8, 'the probe list ran');
      for (const [name, probe] of probes) {
        if (probe.expectReply) {
          assert.notDeepEqual(probe.replies, [], `${name} (${probe.description}): no reply, so silence to the others proves nothing`);
        } else {
          assert.deepEqual(probe.replies, [], `${name} (${probe.description}) was answered`);
        }
      }
      // Silence on the wire is half the evidence; the other half is that each foreign frame
      // ended in its drop counter (SPEC: every dropped frame increments exactly one). Other
      // traffic (the kernel's own IPv6 neighbour discovery) may add to them: at least.
      // The ARP request for another IP is no drop: RFC 826 merges the known sender first.
      const after = await countersOf(environment);
      const grew = (name: string): number => (after[name] ?? 0) - (before[name] ?? 0);
      const expected: [string, number, string][] = [
        ['ethernet.drop.not-for-us', 2, 'ICMP and TCP to another MAC'],
        ['ipv4.drop.not-for-us', 2, 'ICMP and TCP to another IP'],
        ['ethernet.drop.ipv6', 2, 'ICMPv6 unicast and to all nodes'],
        ['ethernet.drop.unknown-type', 1, 'EtherType 0x88b5'],
      ];
      for (const [name, least, what] of expected) {
        assert.ok(grew(name) >= least, `${name} grew by ${grew(name)}, expected at least ${least} (${what})`);
      }
      t.diagnostic(`drop counters grew by ${JSON.stringify(Object.fromEntries(expected.map(([name]) => [name, grew(name)])))}`);
      assert.equal(grew('stack.drop.internal-error'), 0, 'no exception in the stack');
      assertAlive(environment);
    });

    it('puts no malformed packet, bad checksum or oversized packet on the wire', { skip, timeout: 360_000 }, async (t) => {
      const environment = env();
      const { capture, topology } = environment;
      const stopped = await capture.stop();
      t.diagnostic(`capture: ${stopped.summary}`);
      const analysis = await analyseCapture(capture.file, { deviceAddress: topology.deviceAddress, mtu: variant.mtu, timeoutMs: 300_000 });
      t.diagnostic(formatAnalysis(analysis));
      assert.ok(analysis.packetsFromDevice > 0, `the capture saw nothing from the device\n${formatAnalysis(analysis)}`);
      assert.deepEqual(analysis.malformed, [], formatAnalysis(analysis));
      assert.deepEqual(analysis.badChecksumsFromDevice, [], formatAnalysis(analysis));
      assert.deepEqual(analysis.oversizedFromDevice, [], formatAnalysis(analysis));
      assertAlive(environment);
    });
  });
}
