/**
 * `npx tsx bench/loss-warm-up.ts`: how many untimed transfers the loss section's cells need
 * before piwire is in its steady state (bench/run.ts LOSS_WARM_UP_RUNS). The loss section's
 * path (bench/lib/lossy-path.ts), the built firmware as the bench runs it, one 64 MiB
 * transfer each way without loss (the section's own warm-up), then the section's cells in
 * its order (0, 1 and 3% loss; into, out of and through the device), each as `--per`
 * transfers of 4 MiB in a row, printing every transfer's firmware main-thread CPU per GiB
 * (bench/lib/loss.ts `serverCpuSeconds`), and the medians of transfers 2–10 and 11–20 of
 * that CPU and of the goodput (the CPU moves less with the machine's load; a transfer
 * costing less CPU per byte is what V8's compiled code looks like).
 *
 * usage (root, nft; it builds the bench bundle first): npx tsx bench/loss-warm-up.ts [--mtu 1500] [--per 20]
 *                                            [--piwire-congestion cubic|reno|bbr]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLossyPath } from './lib/lossy-path.ts';
import { DIRECTION_LABELS, LOSS_DIRECTIONS, LOSS_RATES, median, runTransfer, type LossPlan } from './lib/loss.ts';
import { deployedNodeFlags } from './lib/deployed-node-options.ts';
import { BENCH_BUNDLE, buildBenchBundle } from './lib/bench-bundle.ts';
import { REPOSITORY_ROOT, startFirmware } from '../test/support/firmware-process.ts';

const { values: flags } = parseArgs({
  options: {
    mtu: { type: 'string', default: '1500' },
    per: { type: 'string', default: '20' },
    'piwire-congestion': { type: 'string' },
  },
});
const perCell = Number(flags.per);
if (!Number.isInteger(perCell) || perCell < 2) {
  process.stderr.write(`loss-warm-up: --per ${flags.per} is not a count of at least 2\n`);
  process.exit(2);
}
const CLIENTS = join(REPOSITORY_ROOT, 'bench/clients/');
const MIB = 1024 * 1024;
const plan = (mib: number): LossPlan => ({ rates: [0], bytes: mib * MIB, repetitions: 1, deadlineSeconds: 60, warmUpRuns: 0 });

await buildBenchBundle();
const path = await createLossyPath({ mtu: Number(flags.mtu), prefix: 'pw' });
const stateDirectory = mkdtempSync(join(tmpdir(), 'pw-loss-warm-up-'));
const configArgs: string[] = [];
if (flags['piwire-congestion'] !== undefined) {
  writeFileSync(join(stateDirectory, 'config.json'), JSON.stringify({ tcp: { congestion: flags['piwire-congestion'] } }));
  configArgs.push('--config', join(stateDirectory, 'config.json'));
}
const firmware = startFirmware({
  namespace: path.deviceNamespace,
  args: [...path.firmwareArgs(), '--diag', '--state-dir', stateDirectory, '--log', 'json', ...configArgs],
  command: [process.execPath, ...deployedNodeFlags(), BENCH_BUNDLE],
});
try {
  await firmware.ready;
  for (const mode of ['push', 'pull'] as const) await runTransfer(path, mode, plan(64), CLIENTS, { stack: 'piwire' });
  process.stdout.write(`MTU ${flags.mtu}, piwire ${flags['piwire-congestion'] ?? 'default congestion control'}: firmware main-thread CPU s/GiB of each 4 MiB transfer, in order\n`);
  for (const rate of LOSS_RATES) {
    await path.setLoss(rate);
    for (const mode of LOSS_DIRECTIONS) {
      const cpu: number[] = [];
      const mbit: number[] = [];
      for (let transfer = 0; transfer < perCell; transfer++) {
        const run = await runTransfer(path, mode, plan(4), CLIENTS, { stack: 'piwire', pid: firmware.pid });
        cpu.push((run.serverCpuSeconds ?? NaN) / (run.bytes / (1024 * MIB)));
        mbit.push((run.bytes * 8) / run.seconds / 1e6);
      }
      const medians = (values: number[], digits: number): string =>
        `${median(values.slice(1, 10)).toFixed(digits)} → ${values.length > 10 ? median(values.slice(10, 20)).toFixed(digits) : '—'}`;
      process.stdout.write(
        `${(rate * 100).toFixed(0)}% ${DIRECTION_LABELS[mode]}: ${cpu.map((value) => value.toFixed(1)).join(' ')}; ` +
          `medians of transfers 2–10 → 11–20: ${medians(cpu, 1)} CPU s/GiB, ${medians(mbit, 0)} Mbit/s\n`,
      );
    }
  }
} finally {
  await path.setLoss(0);
  await firmware.stop();
  await path.destroy();
  rmSync(stateDirectory, { recursive: true, force: true });
}
