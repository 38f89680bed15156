/**
 * Secrets stay secret (issue 17): what the firmware shows of its configuration, and the
 * warning for a configuration file with credentials that others can read.
 *
 * - `redactConfig` is what the shell's `config` prints: every operator's stored form
 *   (`services.shell.users`) and any value under a key named like a credential
 *   (`password`, `secret`, `token`, `passphrase`) is replaced by REDACTED; a role stays.
 *   Stored forms are not passwords (SPEC §5), but they are what an offline guesser
 *   needs, so they never leave the device.
 * - `exposedConfigFile` says whether a file that holds credentials is readable by users
 *   other than its owner and group (mode o+r); the firmware logs it as a `warn` event
 *   naming the file and still starts (deploy/install.sh writes it 0640 root:piwire).
 */
import { statSync } from 'node:fs';

export const REDACTED = '(redacted)';

const CREDENTIAL_KEY = /^(password|secret|token|passphrase)$/i;

/** A deep copy of `value` with every credential replaced by REDACTED. */
export function redactConfig<T>(value: T): T {
  return redact(value, []) as T;
}

function redact(value: unknown, path: readonly string[]): unknown {
  if (Array.isArray(value)) return value.map((item) => redact(item, path));
  if (typeof value !== 'object' || value === null) return value;
  const inUsers = path.join('.') === 'services.shell.users';
  const result: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    let shown: unknown;
    if (inUsers && typeof child === 'string') shown = REDACTED;
    else if (CREDENTIAL_KEY.test(key) && child !== undefined && child !== null) shown = REDACTED;
    else shown = redact(child, [...path, key]);
    // defineProperty: a key called `__proto__` (a user name) stays a plain key.
    Object.defineProperty(result, key, { value: shown, enumerable: true, writable: true, configurable: true });
  }
  return result;
}

/** True when the configuration holds a credential (an operator, a password). */
export function holdsCredentials(config: unknown): boolean {
  const users = (config as { services?: { shell?: { users?: Record<string, unknown> } } }).services?.shell?.users;
  if (users && Object.keys(users).length > 0) return true;
  return JSON.stringify(redactConfig(config)) !== JSON.stringify(config);
}

/** The file's mode when it holds credentials and others (not owner, not group) may read it; else undefined. */
export function exposedConfigFile(file: string | undefined, config: unknown): { file: string; mode: string } | undefined {
  if (file === undefined || !holdsCredentials(config)) return undefined;
  let mode: number;
  try {
    mode = statSync(file).mode & 0o777;
  } catch {
    return undefined;
  }
  return (mode & 0o004) !== 0 ? { file, mode: `0${mode.toString(8)}` } : undefined;
}
