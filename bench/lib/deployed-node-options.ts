/**
 * The Node/V8 flags the deployed firmware runs with: those on the `ExecStart=` line of
 * deploy/systemd/piwire.service between the node binary and the script, so that the
 * bench (and bench/push-series.ts) measure the firmware the way a device runs it. (On
 * the command line rather than in NODE_OPTIONS: Node 20 refuses V8 heap-sizing flags
 * such as --initial-old-space-size there.) The Docker image's ENTRYPOINT carries the same
 * flags (test/deploy/node-options.test.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPOSITORY_ROOT } from '../../test/support/firmware-process.ts';

export const SERVICE_UNIT = join(REPOSITORY_ROOT, 'deploy/systemd/piwire.service');
export const DOCKERFILE = join(REPOSITORY_ROOT, 'Dockerfile');

/** The flags between `node` and the script on the unit's `ExecStart=` line; [] without any. */
export function nodeFlagsOfUnit(unit: string): string[] {
  const match = /^ExecStart=\S*\/node((?:\s+--?\S+)*)\s+\S+\.m?js\b/m.exec(unit);
  if (match === null) throw new Error('no ExecStart= line running node with a script in the service unit');
  return match[1]!.split(/\s+/).filter((flag) => flag.length > 0);
}

/**
 * The flags between the node binary and the script in a Dockerfile's exec-form
 * `ENTRYPOINT ["…/node", …flags, "…/x.mjs"]`; the image must run the firmware as the unit does.
 */
export function nodeFlagsOfDockerfile(dockerfile: string): string[] {
  const match = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile);
  if (match === null) throw new Error('no exec-form ENTRYPOINT [...] line in the Dockerfile');
  const words = JSON.parse(match[1]!) as unknown;
  if (!Array.isArray(words) || words.length < 2 || !words.every((word) => typeof word === 'string')) throw new Error(`ENTRYPOINT ${match[1]} is not a list of strings`);
  const script = words.findIndex((word) => /\.m?js$/.test(word as string));
  if (script < 1) throw new Error(`ENTRYPOINT ${match[1]} names no script after the node binary`);
  return (words as string[]).slice(1, script);
}

export function deployedNodeFlags(): string[] {
  return nodeFlagsOfUnit(readFileSync(SERVICE_UNIT, 'utf8'));
}
