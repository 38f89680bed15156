/**
 * Fuzz target: the configuration loader (firmware/config/load.ts) on an untrusted file (the
 * technician's, the SD card's). The input is written to a file and loaded.
 *
 * Invariants: loading either succeeds or throws ConfigError (exit 2 in the firmware),
 * never anything else; every problem names a key; a message never repeats a user's
 * stored form (secrets stay out of error messages); a loaded configuration has every
 * section the firmware reads.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../../firmware/config/errors.ts';
import { loadConfig } from '../../../firmware/config/load.ts';
import { invariant } from './invariant.ts';

const directory = mkdtempSync(join(tmpdir(), 'piwire-fuzz-config-'));
const file = join(directory, 'config.json');

/** The users' secrets in the input, if it is JSON with `services.shell.users` (what a message must not repeat). */
function userSecrets(text: string): string[] {
  let users: unknown;
  try {
    users = (JSON.parse(text) as { services?: { shell?: { users?: unknown } } } | null)?.services?.shell?.users;
  } catch {
    return [];
  }
  if (typeof users !== 'object' || users === null) return [];
  return Object.values(users)
    .map((entry: unknown) => (typeof entry === 'object' && entry !== null ? (entry as { secret?: unknown }).secret : entry))
    .filter((secret): secret is string => typeof secret === 'string' && secret.length >= 8);
}

export function fuzz(data: Buffer): void {
  writeFileSync(file, data);
  try {
    const config = loadConfig({ file, defaultStateDir: directory, stdoutIsTty: false });
    invariant(typeof config.net === 'object' && typeof config.tcp === 'object' && typeof config.services.shell === 'object', 'a loaded configuration lacks a section');
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    invariant(error.issues.length > 0 && error.issues.every((issue) => typeof issue.key === 'string' && issue.key.length > 0), 'a problem without a key');
    // The users' secrets may only leak through the problems reported about the users;
    // another key's own value may happen to equal one (a fuzz finding: test/fuzz/crashes/config/).
    const secrets = userSecrets(data.toString('utf8'));
    for (const issue of error.issues.filter((problem) => problem.key.startsWith('services.shell'))) {
      for (const secret of secrets) invariant(!issue.message.includes(secret), 'a configuration error repeats a user\'s secret');
    }
  }
}
