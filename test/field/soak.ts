/**
 * `npm run soak -- --days N [--sensors N] [--seed N]`: the field-life simulator for N
 * simulated days; prints one line a day (heap after GC, device connections, TIME-WAIT
 * records, orphans, sessions, acknowledged readings, faults) and exits non-zero when
 * an acknowledged reading was lost or state did not return to its plateau.
 */
import { parseArgs } from 'node:util';
import { DAY, FieldLife, MINUTE } from './simulator.ts';

const { values } = parseArgs({
  options: { days: { type: 'string', default: '1' }, sensors: { type: 'string', default: '50' }, seed: { type: 'string', default: '1' } },
});
const days = Number(values.days);
const sensors = Number(values.sensors);
if (!Number.isInteger(days) || days < 1 || !Number.isInteger(sensors) || sensors < 1) {
  console.error('soak: --days and --sensors take whole numbers >= 1');
  process.exit(2);
}

const field = new FieldLife({ seed: Number(values.seed), sensors });
console.log(`soak: ${sensors} sensors ${JSON.stringify(field.behaviours())}, ${days} simulated day(s)`);
const started = Date.now();
let plateau: number | undefined;
let failed = false;
for (let day = 1; day <= days; day++) {
  await field.run(DAY);
  const s = field.snapshot();
  plateau ??= s.heapUsed;
  const growth = s.heapUsed - plateau;
  console.log(
    `day ${day}: heap ${(s.heapUsed / 1e6).toFixed(1)} MB (${growth >= 0 ? '+' : ''}${(growth / 1e6).toFixed(1)} MB vs day 1), ` +
      `connections ${s.deviceConnections}, TIME-WAIT ${s.timeWaits}, orphans ${s.orphans}, sessions ${s.sessions}, ` +
      `acknowledged ${s.acknowledged}, lost ${s.lostAcknowledged}, shell logins ${s.operatorLogins} (open ${s.shellSessions}), ` +
      `faults raised ${s.raised.length} cleared ${s.cleared.length}, ` +
      `wall ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
  if (s.lostAcknowledged > 0 || growth > 5e6) failed = true;
}
await field.quiesce(10 * MINUTE);
const quiet = field.snapshot();
console.log(
  `quiet: connections ${quiet.deviceConnections}, TIME-WAIT ${quiet.timeWaits}, orphans ${quiet.orphans}, shell sessions ${quiet.shellSessions}, ` +
    `active faults [${quiet.activeFaults.join(', ')}], heap ${(quiet.heapUsed / 1e6).toFixed(1)} MB`,
);
if (quiet.deviceConnections + quiet.timeWaits + quiet.orphans + quiet.shellSessions > 0 || quiet.activeFaults.length > 0) failed = true;
process.exit(failed ? 1 : 0);
