/**
 * The Node/V8 options the deployed firmware runs with: the `NODE_OPTIONS` of
 * deploy/systemd/piwire.service, so the bench (and bench/push-series.ts) measure the
 * firmware the way a device runs it. Empty when the unit sets none.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPOSITORY_ROOT } from '../../test/support/firmware-process.ts';

export const SERVICE_UNIT = join(REPOSITORY_ROOT, 'deploy/systemd/piwire.service');

/** `Environment=NODE_OPTIONS=...` (optionally quoted) of the unit text, '' without one. */
export function nodeOptionsOfUnit(unit: string): string {
  const match = /^Environment="?NODE_OPTIONS=([^"\n]*)"?$/m.exec(unit);
  return match?.[1]?.trim() ?? '';
}

export function deployedNodeOptions(): string {
  return nodeOptionsOfUnit(readFileSync(SERVICE_UNIT, 'utf8'));
}
