/**
 * `npx tsx bench/stall-causes.ts`: what the stalls of the memory-wire loss sweep are
 * (issue 12's "no transfer stalls for more than one RTO"), counted exactly in virtual
 * time. Runs sweep points (bench/lib/loss-sweep.ts) over seeds, MTUs, loss and
 * reordering, and classifies every gap in the receiver's in-order progress longer than
 * `--gap` ms by the counters that moved on the sender (and receiver) during it:
 *
 *   handshake      no data had arrived yet: a lost SYN or SYN-ACK (initial RTO 1 s)
 *   persist        a zero-window probe or sender SWS override ended it (a lost window update)
 *   RTO after TLP  the RTO fired with a tail loss probe outstanding (the probe or its ACK lost)
 *   RTO backed off a second RTO without an ACK between (the RTO retransmission or its ACK lost)
 *   RTO in recovery an RTO ended a SACK recovery
 *   RTO, other     any other RTO
 *   TLP only       a tail loss probe and no RTO (e.g. the lone last segment: its PTO,
 *                  2·SRTT + WCDelAckT, is capped at the RTO)
 *   none of these  nothing the sender counts: the receiver's side
 *
 * usage: npx tsx bench/stall-causes.ts [--seeds 1-8] [--mtu 1500,576] [--loss 0.02,0.03,0.05]
 *        [--reorder 0,0.02] [--bytes MiB] [--gap 100] [--tcp '{"frto":false}'] [--verbose]
 */
import { parseArgs } from 'node:util';
import type { TcpConfig } from '../src/tcp/config.ts';
import { runSweepPoint, SWEEP_PATH, type SweepGap } from './lib/loss-sweep.ts';

const { values: flags } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1-8' },
    mtu: { type: 'string', default: '1500,576' },
    loss: { type: 'string', default: '0.02,0.03,0.05' },
    reorder: { type: 'string', default: '0,0.02' },
    bytes: { type: 'string', default: '1' },
    gap: { type: 'string', default: '100' },
    tcp: { type: 'string', default: '{}' },
    verbose: { type: 'boolean', default: false },
  },
});
const numbers = (list: string): number[] => list.split(',').map(Number);
const [firstSeed, lastSeed] = flags.seeds.includes('-') ? flags.seeds.split('-').map(Number) : [Number(flags.seeds), Number(flags.seeds)];
const tcp = JSON.parse(flags.tcp) as Partial<TcpConfig>;
const gapThresholdMs = Number(flags.gap);

/** The cause of a gap, from the counters that moved in it (first match wins; see the module comment). */
function classify(gap: SweepGap): string {
  const moved = (name: string): boolean => (gap.sender[name] ?? 0) > 0;
  if (gap.receivedBefore === 0) return 'handshake';
  if (moved('tcp.tx.zero-window-probes') || moved('tcp.tx.sws-overrides')) return 'persist';
  if (moved('tcp.timeout.rto-after-tlp')) return 'RTO after TLP';
  if (moved('tcp.timeout.rto-again')) return 'RTO backed off';
  if (moved('tcp.timeout.rto-in-recovery')) return 'RTO in recovery';
  if (moved('tcp.timeout.rto')) return 'RTO, other';
  if (moved('tcp.tx.loss-probes')) return 'TLP only';
  return 'none of these';
}

const classes = new Map<string, { count: number; shortest: number; longest: number }>();
let points = 0;
let pointsWithGap = 0;
let rtos = 0;
let spuriousRtos = 0;
let goodputSum = 0;
for (let seed = firstSeed!; seed <= lastSeed!; seed++) {
  for (const mtu of numbers(flags.mtu)) {
    for (const reorder of numbers(flags.reorder)) {
      for (const loss of numbers(flags.loss)) {
        let gaps = 0;
        const point = runSweepPoint({
          ...SWEEP_PATH,
          mtu,
          loss,
          reorder,
          bytes: Math.round(Number(flags.bytes) * 1024 * 1024),
          seed,
          limitMs: 3_600_000,
          tcp,
          gapThresholdMs,
          onGap: (gap) => {
            gaps++;
            const cause = classify(gap);
            const length = gap.toMs - gap.fromMs;
            const entry = classes.get(cause) ?? { count: 0, shortest: Infinity, longest: 0 };
            entry.count++;
            entry.shortest = Math.min(entry.shortest, length);
            entry.longest = Math.max(entry.longest, length);
            classes.set(cause, entry);
            if (flags.verbose) {
              const sender = Object.entries(gap.sender).map(([name, value]) => `${name.replace(/^tcp\./, '')} ${value}`).join(', ');
              process.stdout.write(`seed ${seed} MTU ${mtu} loss ${loss} reorder ${reorder}: ${length.toFixed(0)} ms at ${gap.fromMs.toFixed(0)} ms (byte ${gap.receivedBefore}): ${cause} [${sender}]\n`);
            }
          },
        });
        points++;
        if (gaps > 0) pointsWithGap++;
        rtos += point.rtos;
        spuriousRtos += point.spuriousRtos;
        goodputSum += point.goodputMbitPerSecond;
        if (!point.completed) process.stdout.write(`seed ${seed} MTU ${mtu} loss ${loss} reorder ${reorder}: did not complete\n`);
      }
    }
  }
}
process.stdout.write(
  `\n${points} points (seeds ${firstSeed}–${lastSeed}, MTU ${flags.mtu}, loss ${flags.loss}, reorder ${flags.reorder}, ${flags.bytes} MiB, tcp ${flags.tcp}): ` +
    `mean goodput ${(goodputSum / points).toFixed(2)} Mbit/s, ${rtos} RTOs (${spuriousRtos} found spurious by F-RTO), ${pointsWithGap} points with a gap over ${gapThresholdMs} ms\n\n`,
);
process.stdout.write('| cause | gaps | shortest | longest |\n| --- | ---: | ---: | ---: |\n');
for (const [cause, entry] of [...classes].sort((a, b) => b[1].count - a[1].count)) {
  process.stdout.write(`| ${cause} | ${entry.count} | ${entry.shortest.toFixed(0)} ms | ${entry.longest.toFixed(0)} ms |\n`);
}
