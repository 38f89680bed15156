/**
 * Path MTU against the Linux kernel (RFC 1191, RFC 4821 §7.6, RFC 5927): the firmware
 * on a 1500-byte link, a kernel host two routers away behind a 1280-byte hop
 * (test/support/netns.ts `addNarrowPathHost`: device ─1500─ router A ─1280─ router B
 * ─1500─ host). Both ends start at MSS 1460, so each direction's first full-sized
 * segments do not fit the middle hop.
 *
 *   1. Router A's ICMP is dropped (nft, output hook of its namespace): a black hole
 *      for the device. An echo of 2 MiB still completes: black-hole detection steps the
 *      device's MSS down to 1024 (the kernel host, whose router B still sends ICMP,
 *      uses ordinary PMTU discovery).
 *   2. With the ICMP let through, router A answers the device's 1500-byte segments with
 *      "fragmentation needed, MTU 1280", and the device sends 1280-byte datagrams from
 *      then on; the echo (both directions) completes byte for byte.
 *   3. A forged "fragmentation needed" (scapy, MTU 600) quoting a device segment with a
 *      sequence number far out of the window changes nothing: the device keeps sending
 *      1280-byte datagrams.
 *
 * The captures are taken on router A's side of the device's link and read back with
 * tshark; waits are hang guards, speeds are reported, never asserted.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  addNarrowPathHost,
  canUseNetns,
  CLIENTS_DIRECTORY,
  delay,
  describeResult,
  exec,
  execOrThrow,
  runClient,
  spawnInNamespace,
  SYSTEM_PYTHON,
  type NarrowPathHost,
  type VethTopology,
  createTopology,
} from '../support/netns.ts';
import { startFirmware, type FirmwareProcess, type ReadyEvent } from '../support/firmware-process.ts';
import { deviceCounters, writeShellOperatorConfig } from '../support/device-shell.ts';
import { analyseCapture, formatAnalysis, startCapture } from '../support/capture.ts';
import { suiteEnvironment } from '../support/suite.ts';

const availability = canUseNetns();
const skip = availability.ok ? false : `integration: needs root and network namespaces: ${availability.reason}`;

const MiB = 1024 * 1024;
const NARROW_MTU = 1280;
const ECHO_PORT = '7';
const SHELL_SECRET = 'path mtu test secret';

interface Environment {
  topology: VethTopology;
  host: NarrowPathHost;
  firmware: FirmwareProcess;
  ready: ReadyEvent;
  secretFile: string;
}

/** The device's counters, read over its remote shell from the LAN namespace. */
function countersOf(environment: Environment): Promise<Record<string, number>> {
  return deviceCounters(environment.topology.peerNamespace, environment.topology.deviceAddress, environment.secretFile);
}

interface EchoReport {
  sent: number;
  received: number;
  sentSha256: string;
  receivedSha256: string;
  eof: boolean;
  elapsedSeconds: number;
  error: string | null;
}

/** One frame of a capture, as far as these tests look at it. */
interface Frame {
  number: number;
  source: string;
  destination: string;
  ipLength: number;
  icmpType: number | undefined;
  icmpCode: number | undefined;
  icmpMtu: number | undefined;
  tcpLength: number | undefined;
}

/** Every IPv4 frame of a capture file (outer headers only: the first occurrence of each field). */
async function framesOf(file: string): Promise<Frame[]> {
  const fields = ['frame.number', 'ip.src', 'ip.dst', 'ip.len', 'icmp.type', 'icmp.code', 'icmp.mtu', 'tcp.len'];
  const result = await execOrThrow(
    undefined,
    ['tshark', '-n', '-r', file, '-Y', 'ip', '-d', 'tcp.port==1-65535,data', '-T', 'fields', '-E', 'separator=,', '-E', 'occurrence=f', ...fields.flatMap((field) => ['-e', field])],
    { timeoutMs: 120_000 },
  );
  const number = (text: string | undefined): number | undefined => (text === undefined || text === '' ? undefined : Number(text));
  return result.stdout
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [frame, source = '', destination = '', ipLength, icmpType, icmpCode, icmpMtu, tcpLength] = line.split(',');
      return {
        number: Number(frame),
        source,
        destination,
        ipLength: Number(ipLength),
        icmpType: number(icmpType),
        icmpCode: number(icmpCode),
        icmpMtu: number(icmpMtu),
        tcpLength: icmpType === undefined || icmpType === '' ? number(tcpLength) : undefined,
      };
    });
}

/** The device's TCP data segments (IPv4 total lengths, in capture order). */
/**
 * The device's data segments to the host behind the narrow hop. Not to anyone else: the
 * shell connection that reads the device's counters runs to the LAN's own host on the
 * 1500-byte link, and its replies (a `stats --json` of 1,319 bytes) are rightly larger.
 */
function deviceData(frames: Frame[], device: string, host: string): Frame[] {
  return frames.filter((frame) => frame.source === device && frame.destination === host && frame.icmpType === undefined && (frame.tcpLength ?? 0) > 0);
}

/**
 * Index of the last frame with an IPv4 total length above `size`, or -1. Not "the last
 * full-sized one": a shorter segment the device sent before the ICMP or the black-hole
 * step reached it (the tail of a write, say 1,319 bytes) may follow the last 1,500-byte
 * one in the capture, which is taken on the router's side of the device's link.
 */
function lastIndexAbove(frames: Frame[], size: number): number {
  for (let index = frames.length - 1; index >= 0; index--) if (frames[index]!.ipLength > size) return index;
  return -1;
}

/**
 * The most datagrams over NARROW_MTU the device's 256 KiB diag window can hold in flight
 * when the ICMP comes: each carries more than NARROW_MTU − 40 (IPv4 + TCP) − 12
 * (timestamps) bytes of data.
 */
const MAX_IN_FLIGHT_SEGMENTS = Math.ceil((256 * 1024) / (NARROW_MTU - 40 - 12 + 1));

function isFragmentationNeeded(frame: Frame, device: string): boolean {
  return frame.destination === device && frame.icmpType === 3 && frame.icmpCode === 4;
}

async function echo(t: TestContext, environment: Environment, bytes: number): Promise<void> {
  const { host, topology, firmware } = environment;
  // The host advertises its path MTU to the device in its MSS option: forget what an
  // earlier test taught it (RFC 1191 state lives in the kernel's route exceptions).
  await execOrThrow(host.namespace, ['ip', 'route', 'flush', 'cache']);
  const { result, report } = await runClient<EchoReport>(host.namespace, 'echo_bulk.py', [topology.deviceAddress, ECHO_PORT, String(bytes), '--idle-timeout', '60'], {
    timeoutMs: 240_000,
  });
  const evidence = `${describeResult(result)}\n${firmware.describe()}`;
  assert.ok(report, evidence);
  t.diagnostic(`echo ${bytes} bytes through the ${NARROW_MTU}-byte hop: ${report.elapsedSeconds?.toFixed(2)} s`);
  assert.equal(report.error, null, evidence);
  assert.equal(report.received, bytes, evidence);
  assert.equal(report.receivedSha256, report.sentSha256, 'echoed bytes differ from the bytes sent');
  assert.equal(report.eof, true);
}

/** Starts a capture on router A's end of the device's link; returns a function that stops it and reads it. */
async function capturing(environment: Environment): Promise<() => Promise<Frame[]>> {
  const { topology } = environment;
  const capture = await startCapture({ namespace: topology.peerNamespace, interfaceName: topology.peerInterface });
  return async () => {
    try {
      await capture.stop();
      const analysis = await analyseCapture(capture.file, { deviceAddress: topology.deviceAddress, mtu: topology.mtu });
      assert.deepEqual(analysis.malformed, [], formatAnalysis(analysis));
      assert.deepEqual(analysis.badChecksumsFromDevice, [], formatAnalysis(analysis));
      return await framesOf(capture.file);
    } finally {
      await capture.remove();
    }
  };
}

describe('path MTU through a kernel router (1500 → 1280 → 1500)', () => {
  const env = suiteEnvironment(skip, async (cleanups) => {
    const stateDirectory = await mkdtemp(join(tmpdir(), 'pw-state-'));
    cleanups.push(() => rm(stateDirectory, { recursive: true, force: true }));
    const topology = await createTopology({ mtu: 1500, prefix: 'pw' });
    cleanups.push(() => topology.destroy());
    const host = await addNarrowPathHost(topology, { mtu: NARROW_MTU, prefix: 'pw' });
    cleanups.push(() => host.destroy());
    const { configFile, secretFile } = await writeShellOperatorConfig(stateDirectory, SHELL_SECRET);
    const firmware = startFirmware({
      namespace: topology.deviceNamespace,
      args: [...topology.firmwareArgs(), '--config', configFile, '--diag', '--log', 'json', '--state-dir', join(stateDirectory, 'state')],
      readyTimeoutMs: 45_000,
    });
    cleanups.push(() => firmware.stop());
    const ready = await firmware.ready;
    return { topology, host, firmware, ready, secretFile };
  });

  it('without ICMP from router A (a black hole), black-hole detection lowers the MSS and the echo completes', { skip, timeout: 300_000 }, async (t) => {
    const environment = env();
    const { topology } = environment;
    const lan = topology.peerNamespace;
    await execOrThrow(lan, ['nft', 'add', 'table', 'ip', 'pw_icmp']);
    await execOrThrow(lan, ['nft', 'add', 'chain', 'ip', 'pw_icmp', 'out', '{ type filter hook output priority 0 ; }']);
    await execOrThrow(lan, ['nft', 'add', 'rule', 'ip', 'pw_icmp', 'out', 'icmp', 'type', 'destination-unreachable', 'drop']);
    const stepsBefore = (await countersOf(environment))['tcp.mtu.black-hole-steps'] ?? 0;
    const stop = await capturing(environment);
    try {
      await echo(t, environment, 2 * MiB);
    } finally {
      await exec(lan, ['nft', 'delete', 'table', 'ip', 'pw_icmp']);
    }
    const frames = await stop();
    const device = topology.deviceAddress;
    assert.equal(frames.filter((frame) => isFragmentationNeeded(frame, device)).length, 0, 'router A sent no ICMP');
    const data = deviceData(frames, device, environment.host.address);
    assert.ok(data.some((frame) => frame.ipLength === 1500), 'the device tried full-sized segments first');
    const lastBig = lastIndexAbove(data, 1024 + 40);
    const after = data.slice(lastBig + 1);
    assert.ok(after.length > 0, 'the device went on with smaller segments');
    assert.equal(Math.max(...after.map((frame) => frame.ipLength)), 1024 + 40, 'after the black-hole step: MSS 1024');
    assert.equal(((await countersOf(environment))['tcp.mtu.black-hole-steps'] ?? 0) - stepsBefore, 1, 'one black-hole step');
    t.diagnostic(`${lastBig + 1} segments before the step (${data.filter((frame) => frame.ipLength === 1500).length} full-sized, lost); ${after.length} of at most 1064 bytes after`);
  });

  it('with router A\'s fragmentation-needed, the device sends 1280-byte datagrams and the echo completes', { skip, timeout: 300_000 }, async (t) => {
    const environment = env();
    const device = environment.topology.deviceAddress;
    const stop = await capturing(environment);
    await echo(t, environment, 4 * MiB);
    assert.ok(((await countersOf(environment))['tcp.icmp.pmtu-lowered'] ?? 0) >= 1, 'the device counted the ICMP as a lower path MTU');
    const frames = await stop();
    const firstIcmp = frames.findIndex((frame) => isFragmentationNeeded(frame, device));
    assert.ok(firstIcmp >= 0, 'router A sent fragmentation-needed to the device');
    assert.equal(frames[firstIcmp]!.icmpMtu, NARROW_MTU);
    const data = deviceData(frames, device, environment.host.address);
    assert.ok(data.some((frame) => frame.ipLength === 1500), 'the device started with full-sized segments');
    const lastBig = lastIndexAbove(data, NARROW_MTU);
    const after = data.slice(lastBig + 1);
    assert.ok(after.length > 0, 'the device went on with smaller segments');
    // 1280, not black-hole detection's 1064: the MSS came from the ICMP's next-hop MTU.
    assert.equal(Math.max(...after.map((frame) => frame.ipLength)), NARROW_MTU, 'then 1280-byte datagrams, nothing bigger');
    // Bigger ones after the first ICMP are only what was already on its way when it came.
    const lateBig = data.filter((frame) => frame.number > frames[firstIcmp]!.number && frame.ipLength > NARROW_MTU).length;
    assert.ok(lateBig <= MAX_IN_FLIGHT_SEGMENTS, `${lateBig} datagrams over ${NARROW_MTU} bytes after the first ICMP: more than can have been in flight`);
    t.diagnostic(`${data.filter((frame) => frame.ipLength === 1500).length} full-sized segments before the device lowered its MSS to ${NARROW_MTU - 40}`);
  });

  it('a forged fragmentation-needed with a sequence number outside the window is ignored', { skip, timeout: 300_000 }, async (t) => {
    const environment = env();
    const { topology, ready, host } = environment;
    const device = topology.deviceAddress;
    const ignoredBefore = (await countersOf(environment))['tcp.icmp.drop.bad-sequence'] ?? 0;
    const stop = await capturing(environment);
    const forger = spawnInNamespace(
      topology.peerNamespace,
      [SYSTEM_PYTHON, `${CLIENTS_DIRECTORY}forged_icmp.py`, '--iface', topology.peerInterface, '--device-mac', ready.mac, '--device-ip', device, '--mtu', '600'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let forgerOutput = '';
    forger.stdout?.on('data', (chunk: Buffer) => (forgerOutput += chunk.toString()));
    forger.stderr?.on('data', (chunk: Buffer) => (forgerOutput += chunk.toString()));
    const forgerDone = new Promise<number | null>((resolve) => forger.on('exit', (code) => resolve(code)));
    await delay(3000); // scapy's start-up
    await echo(t, environment, 16 * MiB);
    const code = await forgerDone;
    assert.equal(code, 0, forgerOutput);
    const frames = await stop();
    const forged = frames.findIndex((frame) => isFragmentationNeeded(frame, device) && frame.icmpMtu === 600);
    assert.ok(forged >= 0, `the forged ICMP is in the capture\n${forgerOutput}`);
    const later = deviceData(frames, device, environment.host.address).filter((frame) => frame.number > frames[forged]!.number);
    assert.ok(later.length > 0, 'the transfer went on after the forged ICMP');
    assert.equal(Math.max(...later.map((frame) => frame.ipLength)), NARROW_MTU, 'still 1280-byte datagrams: the forgery was ignored');
    assert.equal(((await countersOf(environment))['tcp.icmp.drop.bad-sequence'] ?? 0) - ignoredBefore, 1, 'counted as tcp.icmp.drop.bad-sequence');
    t.diagnostic(`${later.length} device segments after the forged ICMP; host ${host.address}`);
  });
});
