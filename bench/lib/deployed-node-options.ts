/**
 * The Node/V8 flags the deployed firmware runs with: those on the `ExecStart=` line of
 * deploy/systemd/piwire.service between the node binary and the script, so that the
 * bench (and bench/push-series.ts) measure the firmware the way a device runs it. (On
 * the command line rather than in NODE_OPTIONS: Node 20 refuses V8 heap-sizing flags
 * such as --initial-old-space-size there.)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPOSITORY_ROOT } from '../../test/support/firmware-process.ts';

export const SERVICE_UNIT = join(REPOSITORY_ROOT, 'deploy/systemd/piwire.service');

/** The flags between `node` and the script on the unit's `ExecStart=` line; [] without any. */
export function nodeFlagsOfUnit(unit: string): string[] {
  const match = /^ExecStart=\S*\/node((?:\s+--?\S+)*)\s+\S+\.m?js\b/m.exec(unit);
  if (match === null) throw new Error('no ExecStart= line running node with a script in the service unit');
  return match[1]!.split(/\s+/).filter((flag) => flag.length > 0);
}

export function deployedNodeFlags(): string[] {
  return nodeFlagsOfUnit(readFileSync(SERVICE_UNIT, 'utf8'));
}
