/**
 * The TLS port's certificate (SPEC §5): `services.shell.cert` / `.key` when configured,
 * else a self-signed one made on first start under the state directory
 * (`shell-cert.pem`, `shell-key.pem`, key mode 0600) and reused afterwards.
 *
 * It is made with the `openssl` command (present on Raspberry Pi OS and installed by
 * test/run.sh): an ECDSA P-256 key and a ten-year certificate for CN=piwire. No network,
 * no native module. Files are written to a temporary name and renamed, so an
 * interrupted first start never leaves half a key behind.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const CERTIFICATE_FILE = 'shell-cert.pem';
export const KEY_FILE = 'shell-key.pem';
const VALID_DAYS = 3650;

export interface ShellCertificateOptions {
  stateDir: string;
  cert?: string | undefined;
  key?: string | undefined;
  /** Common name of a generated certificate (default `piwire`). */
  commonName?: string;
  openssl?: string;
}

export interface ShellCertificate {
  cert: string;
  key: string;
  /** Where they came from, for the log. */
  source: 'config' | 'state' | 'generated';
  certPath: string;
  keyPath: string;
}

export async function loadOrCreateShellCertificate(options: ShellCertificateOptions): Promise<ShellCertificate> {
  if (options.cert !== undefined || options.key !== undefined) {
    if (options.cert === undefined || options.key === undefined) throw new Error('services.shell.cert and services.shell.key must be set together');
    return { cert: await readFile(options.cert, 'utf8'), key: await readFile(options.key, 'utf8'), source: 'config', certPath: options.cert, keyPath: options.key };
  }
  const certPath = join(options.stateDir, CERTIFICATE_FILE);
  const keyPath = join(options.stateDir, KEY_FILE);
  const existing = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]).catch(() => undefined);
  if (existing) return { cert: existing[0], key: existing[1], source: 'state', certPath, keyPath };

  await mkdir(options.stateDir, { recursive: true });
  const suffix = `.tmp-${process.pid}`;
  const temporaryCert = certPath + suffix;
  const temporaryKey = keyPath + suffix;
  try {
    await run(options.openssl ?? 'openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', temporaryKey, '-out', temporaryCert, '-days', String(VALID_DAYS),
      '-subj', `/CN=${options.commonName ?? 'piwire'}`,
    ]);
    await chmod(temporaryKey, 0o600);
    await rename(temporaryKey, keyPath);
    await rename(temporaryCert, certPath);
  } catch (error) {
    await rm(temporaryKey, { force: true });
    await rm(temporaryCert, { force: true });
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot make the shell's TLS certificate with openssl (set services.shell.cert and .key instead): ${message}`);
  }
  return { cert: await readFile(certPath, 'utf8'), key: await readFile(keyPath, 'utf8'), source: 'generated', certPath, keyPath };
}
