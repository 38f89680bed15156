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
 * usage (root, nft): npx tsx bench/loss-counters.ts [--rate 0.03] [--transfers 10] [--mib 4] [--mtu 1500]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { createLossyPath } from './lib/lossy-path.ts';
import { median, runTransfer, type LossTransfer } from './lib/loss.ts';
import { REPOSITORY_ROOT, startFirmware } from '../test/support/firmware-process.ts';
import { deviceCounters, writeShellOperatorConfig } from '../test/support/device-shell.ts';

const CONFIGURATIONS: readonly { name: string; tcp: Record<string, boolean> }[] = [
  { name: 'PRR + recovery probe (default)', tcp: {} },
  { name: 'PRR, no recovery probe', tcp: { recoveryProbe: false } },
  { name: 'neither (RFC 6675 + RACK-TLP)', tcp: { prr: false, recoveryProbe: false } },
];
const COUNTERS = ['tcp.timeout.rto', 'tcp.timeout.rto-again', 'tcp.timeout.rto-in-recovery', 'tcp.timeout.rto-after-tlp', 'tcp.tx.recovery-probes', 'tcp.sack.recoveries', 'tcp.tx.loss-probes', 'tcp.tx.retransmits', 'tcp.tx.spurious-retransmits'] as const;

const { values: flags } = parseArgs({
  options: { rate: { type: 'string', default: '0.03' }, transfers: { type: 'string', default: '10' }, mib: { type: 'string', default: '4' }, mtu: { type: 'string', default: '1500' } },
});
const rate = Number(flags.rate);
const transfers = Number(flags.transfers);
const bytes = Number(flags.mib) * 1024 * 1024;
const mtu = Number(flags.mtu);


const path = await createLossyPath({ mtu, prefix: 'pw' });
const directory = mkdtempSync(join(tmpdir(), 'pw-loss-counters-'));
// Per configuration: the transfers' reports and the counters' growth over them.
const runs: LossTransfer[][] = CONFIGURATIONS.map(() => []);
const totals = CONFIGURATIONS.map(() => Object.fromEntries(COUNTERS.map((name) => [name, 0])) as Record<string, number>);
try {
  const access = await writeShellOperatorConfig(directory, randomBytes(12).toString('hex'));
  const base = JSON.parse(readFileSync(access.configFile, 'utf8')) as Record<string, unknown>;
  const plan = { rates: [rate], bytes, repetitions: 1, deadlineSeconds: 60 };
  const read = (): Promise<Record<string, number>> => deviceCounters(path.peerNamespace, path.deviceAddress, access.secretFile);
  for (let transfer = 0; transfer < transfers; transfer++) {
    // One firmware at a time owns the device's link: the configurations take turns.
    for (const [index, configuration] of CONFIGURATIONS.entries()) {
      const configFile = join(directory, `config-${index}.json`);
      writeFileSync(configFile, JSON.stringify({ ...base, tcp: configuration.tcp }));
      const stateDirectory = mkdtempSync(join(directory, 'state-'));
      const firmware = startFirmware({ namespace: path.deviceNamespace, args: [...path.firmwareArgs(), '--diag', '--config', configFile, '--state-dir', stateDirectory, '--log', 'json'] });
      try {
        await firmware.ready;
        await path.setLoss(0);
        const before = await read();
        await path.setLoss(rate);
        runs[index]!.push(await runTransfer(path, 'pull', plan, join(REPOSITORY_ROOT, 'bench/clients/')));
        await path.setLoss(0);
        const after = await read();
        for (const name of COUNTERS) totals[index]![name]! += (after[name] ?? 0) - (before[name] ?? 0);
      } finally {
        await firmware.stop();
        rmSync(stateDirectory, { recursive: true, force: true });
      }
    }
    process.stderr.write(`transfer ${transfer + 1} of ${transfers} done\n`);
  }
  process.stdout.write(`chargen out of the device into Linux, ${(rate * 100).toFixed(1)}% loss each way, MTU ${mtu}, ${flags.mib} MiB × ${transfers} per configuration\n\n`);
  process.stdout.write(`| configuration | goodput, median | stalls > 150 ms | worst stall | ${COUNTERS.join(' | ')} |\n`);
  process.stdout.write(`| --- | ---: | ---: | ---: | ${COUNTERS.map(() => '---:').join(' | ')} |\n`);
  for (const [index, configuration] of CONFIGURATIONS.entries()) {
    const done = runs[index]!;
    const goodputs = done.map((run) => (run.seconds > 0 ? (run.bytes * 8) / run.seconds / 1e6 : 0));
    const stalls = done.map((run) => run.longest_stall_ms ?? 0);
    process.stdout.write(
      `| ${configuration.name} | ${median(goodputs).toFixed(1)} Mbit/s | ${stalls.filter((stall) => stall > 150).length} of ${done.length} | ${Math.max(...stalls).toFixed(0)} ms | ` +
        `${COUNTERS.map((name) => totals[index]![name]).join(' | ')} |\n`,
    );
  }
} finally {
  rmSync(directory, { recursive: true, force: true });
  await path.destroy();
}
