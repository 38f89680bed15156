/**
 * `npm run loss-sweep`: the seeded loss sweep on the memory wire in virtual time
 * (bench/lib/loss-sweep.ts), printed as a Markdown table. No root, no namespaces: it runs
 * anywhere in about a minute; the same seed gives the same table.
 *
 * usage: npm run loss-sweep -- [--bytes MiB] [--seed N] [--mtu 1500,576] [--senders] [--quick]
 *
 * `--senders` runs every point with each sender configuration (CUBIC with SACK +
 * RACK-TLP + PRR + the recovery probe, then without the probe, without PRR, without
 * either; NewReno with all of them; CUBIC with SACK alone; CUBIC and NewReno without
 * SACK) instead of the defaults only: what each recovery mechanism and each congestion
 * control buys.
 */
import { parseArgs } from 'node:util';
import { describeSweepPath, renderSweepTable, runLossSweep, SENDERS, SWEEP_PATH, SWEEP_SEED } from './lib/loss-sweep.ts';

const { values: flags } = parseArgs({
  options: {
    bytes: { type: 'string' },
    seed: { type: 'string', default: String(SWEEP_SEED) },
    mtu: { type: 'string', default: '1500,576' },
    quick: { type: 'boolean', default: false },
    senders: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  process.stdout.write('usage: npm run loss-sweep -- [--bytes MiB] [--seed N] [--mtu 1500,576] [--senders] [--quick]\n');
  process.exit(0);
}
const mebibytes = Number(flags.bytes ?? (flags.quick ? 1 : 4));
const seed = Number(flags.seed);
const mtus = flags.mtu.split(',').map(Number);
if (!(mebibytes > 0) || !Number.isInteger(seed) || mtus.some((mtu) => !(mtu >= 576 && mtu <= 9000))) {
  process.stderr.write('loss-sweep: --bytes must be a positive number of MiB, --seed an integer, --mtu values in 576–9000\n');
  process.exit(2);
}
const bytes = Math.round(mebibytes * 1024 * 1024);
process.stderr.write(`loss-sweep: ${mebibytes} MiB per point, seed ${seed}, MTU ${mtus.join(', ')}\n`);
const points = runLossSweep({
  bytes,
  seed,
  mtus,
  ...(flags.senders ? { senders: SENDERS } : {}),
  onPoint: (p) => process.stderr.write(`  ${p.sender} MTU ${p.mtu} loss ${(p.loss * 100).toFixed(1)}% reorder ${(p.reorder * 100).toFixed(0)}%: ${p.goodputMbitPerSecond.toFixed(2)} Mbit/s, ${p.rtos} RTOs\n`),
});
process.stdout.write(`${describeSweepPath({ ...SWEEP_PATH }, undefined, seed)} ${mebibytes} MiB per point.\n\n${renderSweepTable(points)}\n`);
process.exit(points.every((point) => point.completed) ? 0 : 1);
