/**
 * Shared by the deploy tests: a throw-away Raspberry Pi OS-like tree (accounts with the
 * gpio and i2c groups, a boot partition with config.txt) and a file-by-file snapshot of
 * a tree (path, type, mode, owner, content hash) to compare before and after.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { REPOSITORY_ROOT } from '../support/firmware-process.ts';

export { REPOSITORY_ROOT };
export const INSTALL_SCRIPT = join(REPOSITORY_ROOT, 'deploy/install.sh');
export const CUSTOMISE_SCRIPT = join(REPOSITORY_ROOT, 'deploy/image/customise.sh');

export const ORIGINAL_BOOT_CONFIG = '# Raspberry Pi OS\ndtparam=audio=on\n\n[cm4]\notg_mode=1\n\n[all]\n';

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** A minimal Raspberry Pi OS root file system; `/boot/firmware` holds the boot partition. */
export function makePiTree(prefix = 'piwire-deploy-'): string {
  const root = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(root, 0o755);
  mkdirSync(join(root, 'etc'));
  mkdirSync(join(root, 'boot/firmware'), { recursive: true });
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000::/home/pi:/bin/bash\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\ngpio:x:997:pi\ni2c:x:998:pi\npi:x:1000:\n');
  writeFileSync(join(root, 'etc/shadow'), '', { mode: 0o640 });
  writeFileSync(join(root, 'etc/gshadow'), '', { mode: 0o640 });
  writeFileSync(join(root, 'etc/os-release'), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n');
  writeFileSync(join(root, 'etc/hostname'), 'raspberrypi\n');
  writeFileSync(join(root, 'etc/hosts'), '127.0.0.1\tlocalhost\n127.0.1.1\traspberrypi\n');
  writeFileSync(join(root, 'boot/firmware/config.txt'), ORIGINAL_BOOT_CONFIG);
  return root;
}

export interface Entry {
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  /** sha256 of a file, the target of a link. */
  content: string;
}

/** Every path under `root` (relative), with what it is; `skip` prunes subtrees. */
export function snapshot(root: string, skip: readonly string[] = []): Map<string, Entry> {
  const entries = new Map<string, Entry>();
  const visit = (path: string): void => {
    const name = relative(root, path);
    if (skip.includes(name)) return;
    const stat = lstatSync(path);
    const common = { mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid };
    if (stat.isSymbolicLink()) {
      entries.set(name, { type: 'symlink', ...common, content: readlinkSync(path) });
    } else if (stat.isDirectory()) {
      if (name !== '') entries.set(name, { type: 'directory', ...common, content: '' });
      for (const child of readdirSync(path).sort()) visit(join(path, child));
    } else {
      entries.set(name, { type: 'file', ...common, content: createHash('sha256').update(readFileSync(path)).digest('hex') });
    }
  };
  visit(root);
  return entries;
}

/** Runs a script with bash and returns the result; the message of a failed assertion shows its output. */
export function runScript(script: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
  return spawnSync('bash', [script, ...args], { encoding: 'utf8', timeout: 300_000, env: options.env ?? process.env });
}

export function describeRun(result: SpawnSyncReturns<string>): string {
  return `status ${result.status}${result.error ? ` (${result.error.message})` : ''}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`;
}

export function commandExists(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).status === 0;
}

/**
 * A frozen copy of the checkout (without .git and the test suites) to install from:
 * other work in the same tree must not change files between two runs that are
 * compared with each other.
 */
export function freezeCheckout(): string {
  const copy = mkdtempSync(join(tmpdir(), 'piwire-checkout-'));
  chmodSync(copy, 0o755);
  const result = spawnSync('sh', ['-c', 'tar -C "$1" --exclude=./.git --exclude=./test --exclude=./bench -cf - . | tar -C "$2" -xf -', 'freeze', REPOSITORY_ROOT, copy], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`could not copy the checkout: ${result.stderr}`);
  return copy;
}
