/**
 * `npx tsx bench/connect-burst.ts`: the skeleton test's "200 echo connections opened at
 * once" (test/support/clients/echo_many.py, the kernel's TCP in the LAN namespace) run
 * many times over one veth pair, counted: per burst, how many connections echoed their
 * message, and the growth of the device's counters that tell why one did not (frames
 * the receive ring dropped, SYN cookies sent and checked, resets). Each firmware serves
 * `--bursts` bursts, `--firmwares` firmwares one after another (the first burst of each
 * meets a firmware whose code is not yet optimised, the stall that fills the ring).
 *
 * `--capture DIR` keeps a capture of the device's interface, as the device sees it
 * (the order frames reached the firmware's packet socket), in DIR.
 *
 * usage (root): npx tsx bench/connect-burst.ts [--mtu 576] [--firmwares 3] [--bursts 3] [--connections 200] [--capture DIR]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { createTopology, runClient } from '../test/support/netns.ts';
import { startFirmware } from '../test/support/firmware-process.ts';
import { deviceCounters, writeShellOperatorConfig } from '../test/support/device-shell.ts';
import { startCapture, type Capture } from '../test/support/capture.ts';

const COUNTERS = [
  'link.drop.rx-overflow',
  'tcp.tx.syn-cookies',
  'tcp.rx.syn-cookie-valid',
  'tcp.rx.syn-cookie-invalid',
  'tcp.drop.syn-cookie-sequence',
  'tcp.drop.listen-ack',
  'tcp.tx.rst',
] as const;

const { values: flags } = parseArgs({
  options: {
    mtu: { type: 'string', default: '576' },
    firmwares: { type: 'string', default: '3' },
    bursts: { type: 'string', default: '3' },
    connections: { type: 'string', default: '200' },
    /** A directory to keep a capture of the device's interface in (dumpcap, TCP only). */
    capture: { type: 'string' },
    /** Print every counter that grew, not only the ones above. */
    'all-counters': { type: 'boolean', default: false },
  },
});
const mtu = Number(flags.mtu);
const connections = Number(flags.connections);

interface BurstReport {
  count: number;
  succeeded: number;
  failures: { index: number; stage: string; error: string }[];
  connectSeconds: number | null;
  elapsedSeconds: number;
}

const topology = await createTopology({ mtu, prefix: 'pw' });
const directory = mkdtempSync(join(tmpdir(), 'pw-burst-'));
let failedBursts = 0;
let bursts = 0;
let capture: Capture | undefined;
try {
  if (flags.capture !== undefined) {
    capture = await startCapture({ namespace: topology.deviceNamespace, interfaceName: 'veth-dev', directory: flags.capture, filter: 'tcp' });
  }
  const access = await writeShellOperatorConfig(directory, randomBytes(12).toString('hex'));
  const read = (): Promise<Record<string, number>> => deviceCounters(topology.peerNamespace, topology.deviceAddress, access.secretFile);
  for (let f = 0; f < Number(flags.firmwares); f++) {
    const stateDirectory = mkdtempSync(join(directory, 'state-'));
    const firmware = startFirmware({
      namespace: topology.deviceNamespace,
      args: [...topology.firmwareArgs(), '--config', access.configFile, '--diag', '--log', 'json', '--state-dir', stateDirectory],
      readyTimeoutMs: 45_000,
    });
    try {
      await firmware.ready;
      process.stdout.write(`${JSON.stringify({ firmware: f, receiveRingKiB: ringKiB(firmware.pid) })}\n`);
      for (let b = 0; b < Number(flags.bursts); b++) {
        const before = await read();
        const { report } = await runClient<BurstReport>(topology.peerNamespace, 'echo_many.py', [topology.deviceAddress, '7', String(connections), '--deadline', '90'], { timeoutMs: 120_000 });
        const after = await read();
        const names = flags['all-counters'] ? Object.keys(after).filter((name) => (after[name] ?? 0) !== (before[name] ?? 0)) : COUNTERS;
        const grew = Object.fromEntries(names.map((name) => [name, (after[name] ?? 0) - (before[name] ?? 0)]));
        const failures = new Map<string, number>();
        for (const failure of report?.failures ?? []) failures.set(`${failure.stage}: ${failure.error}`, (failures.get(`${failure.stage}: ${failure.error}`) ?? 0) + 1);
        bursts++;
        if (report?.succeeded !== connections) failedBursts++;
        process.stdout.write(`${JSON.stringify({ mtu, firmware: f, burst: b, succeeded: report?.succeeded, of: connections, connectSeconds: report?.connectSeconds, elapsedSeconds: report?.elapsedSeconds, failures: [...failures], counters: grew })}\n`);
      }
    } finally {
      await firmware.stop();
      rmSync(stateDirectory, { recursive: true, force: true });
    }
  }
} finally {
  if (capture !== undefined) process.stdout.write(`${JSON.stringify({ capture: capture.file, ...(await capture.stop()) })}\n`);
  await topology.destroy();
  rmSync(directory, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify({ mtu, bursts, failedBursts })}\n`);

/** The size of the firmware's PACKET_MMAP ring: its `socket:[…]` mapping in /proc/PID/smaps. */
function ringKiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
    const match = /socket:\[\d+\]\n(?:.*\n)*?Size:\s+(\d+) kB/.exec(smaps);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}
