/**
 * `npx tsx bench/loss-counters.ts`: why piwire's sends stall under loss, counted rather
 * than timed. The loss section's bridged path (bench/lib/lossy-path.ts: device — bridge
 * dropping frames at random — LAN with the Linux kernel's client), the firmware with the
 * diag services, and for each sender configuration (`tcp.*` keys switched in its config
 * file) a run of chargen transfers out of the device into Linux, with the device's
 * counters read over its remote shell before and after (test/support/device-shell.ts).
 * The configurations take turns transfer by transfer, so the machine's load (wall clock,
 * noisy) falls on all of them alike; the counters (RTOs, recovery probes, recoveries,
 * spurious retransmissions) do not depend on it much.
 *
 * `--mode echo` moves the data through the device instead (the kernel's client sends too,
 * so a stall may be the kernel's own sending), `--mode push` into it (discard: the kernel
 * sends, piwire only receives, so its counters say what its receiver did); `--configs` picks configurations by their
 * short names; `--capture DIR` keeps, for every transfer whose longest stall passed
 * 150 ms (`--capture-over MS`), tcpdump captures (headers only) of both ends of the bridge: the device's
 * `veth-dev` sees every frame piwire sent and every frame that reached it, the LAN's
 * `veth-lan` the kernel's side, so a frame the bridge dropped shows on one side only.
 *
 * usage (root, nft): npx tsx bench/loss-counters.ts [--rate 0.03] [--transfers 10] [--mib 4] [--mtu 1500]
 *                    [--mode pull|echo|push] [--configs default,no-frto,no-probe,neither,no-follow-up,diag-1m,bbr,linux-pto] [--capture DIR] [--capture-over MS] [--conns]
 *                    [--firmware-pcap PREFIX] [--kernel-congestion NAME]
 *
 * `--firmware-pcap PREFIX` has the firmware capture what it received and sent, when it
 * handled each frame (`--pcap`, PREFIX-CONFIG-N.pcap; it switches receive coalescing off):
 * beside `--capture`'s interface captures it shows how long a frame waited between the
 * interface and the stack, either way.
 *
 * `--conns` also reads the device's `conns --json` over the shell every second while a
 * transfer runs and prints the range of the diag connection's RTO, SRTT and RTTVAR (what
 * "one RTO" is on this path; use transfers of a few seconds, e.g. `--mib 64`).
 *
 * Stalls are the wire's (bench/lib/wire-stall.ts: a capture on the client's interface),
 * with the client's own timing of the same transfer next to each. The kernel end's RTOs
 * (TcpExt TCPTimeouts of the LAN namespace) are counted per transfer too: in `--mode push`
 * the kernel is the sender, and its RTOs are what piwire's receiver can cause.
 */
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { createLossyPath } from './lib/lossy-path.ts';
import { startCapture, type RunningCapture } from './lib/capture.ts';
import { clientStallMs, median, runStallMs, runTransfer, type LossDirection, type LossTransfer } from './lib/loss.ts';
import { DEVICE_INTERFACE, exec, LAN_INTERFACE } from '../test/support/netns.ts';
import { REPOSITORY_ROOT, startFirmware } from '../test/support/firmware-process.ts';
import { deviceCounters, SHELL_USER, writeShellOperatorConfig } from '../test/support/device-shell.ts';

const ALL_CONFIGURATIONS: readonly { key: string; name: string; tcp: Record<string, boolean | string>; services?: Record<string, string> }[] = [
  { key: 'default', name: 'PRR + recovery probe + F-RTO (default)', tcp: {} },
  { key: 'no-frto', name: 'PRR + recovery probe, no F-RTO', tcp: { frto: false } },
  { key: 'no-probe', name: 'PRR, no recovery probe', tcp: { recoveryProbe: false } },
  { key: 'neither', name: 'neither (RFC 6675 + RACK-TLP)', tcp: { prr: false, recoveryProbe: false } },
  { key: 'no-follow-up', name: 'no follow-up of the tail loss probe (RFC 8985 §7.3, Linux)', tcp: { tlpFollowUp: false } },
  { key: 'diag-1m', name: 'diag buffers of 1 MiB (services.diagBuffer; the default is 256 KiB)', tcp: {}, services: { diagBuffer: '1MiB' } },
  { key: 'bbr', name: 'BBR v1 (tcp.congestion bbr)', tcp: { congestion: 'bbr' } },
  { key: 'linux-pto', name: 'probe timeouts 2·SRTT + 2 ms (Linux since 4.14; tcp.ptoFloor off)', tcp: { ptoFloor: false } },
];
/** A transfer whose longest stall passes this keeps its captures (`--capture`; `--capture-over` changes it). */
const CAPTURE_STALL_MS = 150;
const COUNTERS = ['tcp.timeout.rto', 'tcp.timeout.rto-again', 'tcp.timeout.rto-in-recovery', 'tcp.timeout.rto-after-tlp', 'tcp.frto.spurious', 'tcp.frto.real', 'tcp.tx.recovery-probes', 'tcp.sack.recoveries', 'tcp.tx.loss-probes', 'tcp.tx.tlp-follow-ups', 'tcp.tlp.repaired', 'tcp.tx.retransmits', 'tcp.tx.spurious-retransmits', 'tcp.drop.internal-error', 'link.drop.rx-overflow', 'link.drop.queue-full', 'link.drop.tx-full', 'link.drop.send-error', 'link.drop.tx-error', 'link.rx.frames', 'link.rx.batches', 'link.tx.frames', 'link.tx.super-frames', 'link.tx.batches', 'tcp.tx.segments'] as const;

const { values: flags } = parseArgs({
  options: {
    rate: { type: 'string', default: '0.03' },
    transfers: { type: 'string', default: '10' },
    mib: { type: 'string', default: '4' },
    mtu: { type: 'string', default: '1500' },
    mode: { type: 'string', default: 'pull' },
    configs: { type: 'string', default: ALL_CONFIGURATIONS.map((configuration) => configuration.key).join(',') },
    capture: { type: 'string' },
    'capture-over': { type: 'string', default: String(CAPTURE_STALL_MS) },
    conns: { type: 'boolean', default: false },
    'firmware-pcap': { type: 'string' },
    'kernel-congestion': { type: 'string' },
  },
});
const mode = flags.mode as LossDirection;
if (mode !== 'pull' && mode !== 'echo' && mode !== 'push') throw new Error('--mode must be pull, echo or push');
const CONFIGURATIONS = flags.configs.split(',').map((key) => {
  const configuration = ALL_CONFIGURATIONS.find((candidate) => candidate.key === key);
  if (configuration === undefined) throw new Error(`--configs: no configuration ${key} (${ALL_CONFIGURATIONS.map((candidate) => candidate.key).join(', ')})`);
  return configuration;
});
const captureDirectory = flags.capture;
const captureOverMs = Number(flags['capture-over']);
if (captureDirectory !== undefined) mkdirSync(captureDirectory, { recursive: true });
const rate = Number(flags.rate);
const transfers = Number(flags.transfers);
const bytes = Number(flags.mib) * 1024 * 1024;
const mtu = Number(flags.mtu);


/** `--conns`: the device's RTO, SRTT and RTTVAR of the diag connections, from `conns --json` while transfers run. */
const connectionSamples: { rto: number; srtt: number; rttvar: number }[] = [];

const path = await createLossyPath({ mtu, prefix: 'pw' });
/** The shell's secret, for `--conns` (set once the configuration is written). */
let shellSecretFile = '';
const directory = mkdtempSync(join(tmpdir(), 'pw-loss-counters-'));
// Per configuration: the transfers' reports and the counters' growth over them.
const runs: LossTransfer[][] = CONFIGURATIONS.map(() => []);
/** One line per transfer: its stall and the counters that moved in it. */
const transferLines: string[] = [];
const totals = CONFIGURATIONS.map(() => Object.fromEntries(COUNTERS.map((name) => [name, 0])) as Record<string, number>);
/** Per configuration: the RTOs of the kernel's end (TcpExt TCPTimeouts of the LAN namespace). */
const kernelTotals = CONFIGURATIONS.map(() => 0);
try {
  const access = await writeShellOperatorConfig(directory, randomBytes(12).toString('hex'));
  shellSecretFile = access.secretFile;
  const base = JSON.parse(readFileSync(access.configFile, 'utf8')) as Record<string, unknown>;
  // `--kernel-congestion NAME`: the kernel client's TCP_CONGESTION (else the host's default).
  const kernelCongestion = flags['kernel-congestion'] === undefined ? {} : { kernelCongestion: flags['kernel-congestion'] };
  const plan = { rates: [rate], bytes, repetitions: 1, deadlineSeconds: 60, warmUpRuns: 0, ...kernelCongestion };
  const read = (): Promise<Record<string, number>> => deviceCounters(path.peerNamespace, path.deviceAddress, access.secretFile);
  for (let transfer = 0; transfer < transfers; transfer++) {
    // One firmware at a time owns the device's link: the configurations take turns.
    for (const [index, configuration] of CONFIGURATIONS.entries()) {
      const configFile = join(directory, `config-${index}.json`);
      writeFileSync(configFile, JSON.stringify({ ...base, tcp: configuration.tcp, ...(configuration.services ? { services: { ...(base.services as object | undefined), ...configuration.services } } : {}) }));
      const stateDirectory = mkdtempSync(join(directory, 'state-'));
      const firmware = startFirmware({ namespace: path.deviceNamespace, args: [...path.firmwareArgs(), '--diag', '--config', configFile, '--state-dir', stateDirectory, '--log', 'json', ...(flags['firmware-pcap'] === undefined ? [] : ['--pcap', `${flags['firmware-pcap']}-${configuration.key}-${transfer + 1}.pcap`])] });
      try {
        await firmware.ready;
        await path.setLoss(0);
        const before = await read();
        const kernelBefore = await kernelTimeouts();
        const captures = captureDirectory === undefined ? [] : await startCaptures(join(directory, 'capture'));
        await path.setLoss(rate);
        const transferring = runTransfer(path, mode, plan, join(REPOSITORY_ROOT, 'bench/clients/'), { stack: 'piwire' });
        if (flags.conns) await sampleConnections(transferring);
        const run = await transferring;
        runs[index]!.push(run);
        await path.setLoss(0);
        await stopCaptures(captures);
        const after = await read();
        const kernelRtos = (await kernelTimeouts()) - kernelBefore;
        kernelTotals[index]! += kernelRtos;
        const moved: string[] = kernelRtos > 0 ? [`the kernel's RTOs ${kernelRtos}`] : [];
        for (const name of COUNTERS) {
          const delta = (after[name] ?? 0) - (before[name] ?? 0);
          totals[index]![name]! += delta;
          if (delta > 0) moved.push(`${name.replace(/^tcp\./, '')} ${delta}`);
        }
        // The wire's figure (bench/lib/wire-stall.ts); echo: the longest of either side's.
        const stall = run.wire?.longestStallMs ?? run.longest_stall_ms ?? 0;
        let kept = '';
        if (captureDirectory !== undefined && stall > captureOverMs) {
          const stem = join(captureDirectory, `${configuration.key}-${transfer + 1}`);
          for (const capture of captures) renameSync(capture.file, `${stem}-${capture.side}.pcap`);
          kept = `, captures ${stem}-{device,lan}.pcap`;
        }
        const serverStall = run.wire?.serverStallMs ?? run.server_stall_ms;
        const split = typeof serverStall === 'number' ? ` (the server's own ${serverStall.toFixed(0)} ms, held up by the client's sending ${(run.wire?.clientStallMs ?? run.client_stall_ms ?? 0).toFixed(0)} ms)` : '';
        transferLines.push(`${configuration.key} #${transfer + 1}: stall ${stall.toFixed(0)} ms (the client timed ${clientStallMs(run).toFixed(0)} ms) at byte ${run.wire?.stallAtByte ?? run.stall_at_byte ?? '?'}${split}, ${moved.join(', ')}${kept}`);
      } finally {
        await firmware.stop();
        rmSync(stateDirectory, { recursive: true, force: true });
      }
    }
    process.stderr.write(`transfer ${transfer + 1} of ${transfers} done\n`);
  }
  process.stdout.write(`${transferLines.join('\n')}\n\n`);
  if (flags.conns) process.stdout.write(`${describeConnectionSamples()}\n\n`);
  process.stdout.write(`${mode === 'pull' ? 'chargen out of the device into Linux' : mode === 'push' ? 'discard: the kernel client sending into the device' : 'echo through the device, the kernel client sending and reading'}, ${(rate * 100).toFixed(1)}% loss each way, MTU ${mtu}, ${flags.mib} MiB × ${transfers} per configuration\n\n`);
  process.stdout.write(`| configuration | goodput, median | stalls > 150 ms | worst stall | the kernel's RTOs | ${COUNTERS.join(' | ')} |\n`);
  process.stdout.write(`| --- | ---: | ---: | ---: | ---: | ${COUNTERS.map(() => '---:').join(' | ')} |\n`);
  for (const [index, configuration] of CONFIGURATIONS.entries()) {
    const done = runs[index]!;
    const goodputs = done.map((run) => (run.seconds > 0 ? (run.bytes * 8) / run.seconds / 1e6 : 0));
    const stalls = done.map(runStallMs);
    process.stdout.write(
      `| ${configuration.name} | ${median(goodputs).toFixed(1)} Mbit/s | ${stalls.filter((stall) => stall > 150).length} of ${done.length} | ${Math.max(...stalls).toFixed(0)} ms | ${kernelTotals[index]} | ` +
        `${COUNTERS.map((name) => totals[index]![name]).join(' | ')} |\n`,
    );
  }
} finally {
  rmSync(directory, { recursive: true, force: true });
  await path.destroy();
}

/** The kernel end's RTOs so far: TcpExt TCPTimeouts in the LAN namespace's /proc/net/netstat (per network namespace). */
async function kernelTimeouts(): Promise<number> {
  const result = await exec(path.peerNamespace, ['cat', '/proc/net/netstat']);
  const lines = result.stdout.split('\n').filter((line) => line.startsWith('TcpExt:'));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  const index = names.indexOf('TCPTimeouts');
  if (index < 0 || values[index] === undefined) throw new Error('loss-counters: no TcpExt TCPTimeouts in the LAN namespace\'s /proc/net/netstat');
  return Number(values[index]);
}

/** Reads `conns --json` over the shell every second until `transfer` settles (each read crosses the lossy path too). */
async function sampleConnections(transfer: Promise<unknown>): Promise<void> {
  let settled = false;
  void transfer.finally(() => {
    settled = true;
  });
  while (!settled) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (settled) break;
    const argv = [process.execPath, '--import', 'tsx', 'firmware/main.ts', 'shell', path.deviceAddress, '--user', SHELL_USER, '--secret-file', shellSecretFile, '-c', 'conns --json'];
    const result = await exec(path.peerNamespace, argv, { cwd: REPOSITORY_ROOT, timeoutMs: 30_000 });
    if (result.code !== 0) continue;
    const connections = JSON.parse(result.stdout) as { localPort: number; srtt?: number; rttvar?: number; rto: number }[];
    for (const connection of connections) {
      if ([7, 9, 19].includes(connection.localPort)) connectionSamples.push({ rto: connection.rto, srtt: connection.srtt ?? NaN, rttvar: connection.rttvar ?? NaN });
    }
  }
}

function describeConnectionSamples(): string {
  if (connectionSamples.length === 0) return 'conns: no sample (transfers shorter than a second: use --mib 64)';
  const range = (key: 'rto' | 'srtt' | 'rttvar'): string => {
    const values = connectionSamples.map((sample) => sample[key]).filter(Number.isFinite);
    return `${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)} ms`;
  };
  return `conns (${connectionSamples.length} samples of the diag connection during transfers): RTO ${range('rto')}, SRTT ${range('srtt')}, RTTVAR ${range('rttvar')}`;
}

interface Capture {
  side: 'device' | 'lan';
  file: string;
  running: RunningCapture;
}

/** tcpdump on both ends of the bridge, headers only (bench/lib/capture.ts); resolves once both listen. */
async function startCaptures(stem: string): Promise<Capture[]> {
  const sides: [Capture['side'], string, string][] = [
    ['device', path.deviceNamespace, DEVICE_INTERFACE],
    ['lan', path.peerNamespace, LAN_INTERFACE],
  ];
  return Promise.all(
    sides.map(async ([side, namespace, device]): Promise<Capture> => {
      const file = `${stem}-${side}.pcap`;
      return { side, file, running: await startCapture(namespace, device, file, ['tcp']) };
    }),
  );
}

async function stopCaptures(captures: readonly Capture[]): Promise<void> {
  // Frames are written as they come; give the transfer's last ones a moment, then stop.
  if (captures.length > 0) await new Promise((resolve) => setTimeout(resolve, 200));
  await Promise.all(captures.map((capture) => capture.running.stop()));
}
