/**
 * Reading a running firmware's counters in integration tests: one shell operator in
 * the firmware's configuration (`writeShellOperatorConfig`), and `deviceCounters`, which
 * logs in over the device's remote shell from the kernel's namespace and runs
 * `stats --json`.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createStoredSecret, formatStoredSecret } from '../../src/services/shell/auth.ts';
import { describeResult, exec } from './netns.ts';
import { REPOSITORY_ROOT } from './firmware-process.ts';

/** The shell operator the tests log in as. */
export const SHELL_USER = 'op';

export interface ShellAccess {
  /** The firmware configuration file (`--config`): one shell operator. */
  configFile: string;
  /** The secret file for `piwire shell --secret-file`. */
  secretFile: string;
}

/** Writes a configuration with one shell operator, whose secret is `secret`, into `directory`. */
export async function writeShellOperatorConfig(directory: string, secret: string): Promise<ShellAccess> {
  const secretFile = join(directory, 'secret');
  await writeFile(secretFile, `${secret}\n`, { mode: 0o600 });
  const stored = formatStoredSecret(await createStoredSecret(secret, randomBytes(16)));
  const configFile = join(directory, 'config.json');
  await writeFile(configFile, JSON.stringify({ services: { shell: { users: { [SHELL_USER]: stored } } } }));
  return { configFile, secretFile };
}

/** The device's counters, read over its remote shell from `namespace` (`stats --json`). */
export async function deviceCounters(namespace: string, deviceAddress: string, secretFile: string): Promise<Record<string, number>> {
  const argv = [process.execPath, '--import', 'tsx', 'firmware/main.ts', 'shell', deviceAddress, '--user', SHELL_USER, '--secret-file', secretFile, '-c', 'stats --json'];
  const result = await exec(namespace, argv, { cwd: REPOSITORY_ROOT, timeoutMs: 60_000 });
  assert.equal(result.code, 0, `piwire shell -c "stats --json"\n${describeResult(result)}`);
  return JSON.parse(result.stdout) as Record<string, number>;
}
