/**
 * Shared by the emulated-Pi suites (test/pi/*.test.ts): where the stage's scripts are
 * and whether the stage can run here. The skip reason is one line, so a machine that
 * cannot emulate ARM says why once and the rest of the suite goes on.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { canUseNetns } from '../support/netns.ts';

export type PiArch = 'arm64' | 'armv7';

/** PIWIRE_PI_ARCHES=arm64 (a comma list) runs a part of the stage; default both. */
export function architectures(): PiArch[] {
  const chosen = (process.env['PIWIRE_PI_ARCHES'] ?? 'arm64,armv7').split(',');
  return (['arm64', 'armv7'] as const).filter((arch) => chosen.includes(arch));
}

/** ELF e_machine of the native code each architecture must build (ELF spec: EM_AARCH64, EM_ARM). */
export const ELF_MACHINE: Record<PiArch, number> = { arm64: 183, armv7: 40 };

/** Node's `process.arch` on each architecture. */
export const NODE_ARCH: Record<PiArch, string> = { arm64: 'arm64', armv7: 'arm' };

/** test/pi/ (the scripts next to this file). */
export const PI_SCRIPTS = fileURLToPath(new URL('.', import.meta.url));

let reason: string | false | undefined;

/**
 * False when the stage can run; else why not: PIWIRE_PI=0 (skipped on purpose), not
 * root or no network namespaces, or qemu-user not registered with binfmt_misc
 * (test/pi/binfmt.sh sets it up and says what failed). Checked once per process.
 */
export function piStageSkipReason(): string | false {
  reason ??= probe();
  return reason;
}

function probe(): string | false {
  if (process.env['PIWIRE_PI'] === '0') return 'emulated Pi stage: skipped (PIWIRE_PI=0)';
  const netns = canUseNetns();
  if (!netns.ok) return `emulated Pi stage: needs root and network namespaces: ${netns.reason}`;
  const binfmt = spawnSync('bash', [`${PI_SCRIPTS}binfmt.sh`], { encoding: 'utf8', timeout: 60_000 });
  if (binfmt.status !== 0) {
    const why = binfmt.stderr.trim().split('\n').pop() || binfmt.error?.message || `binfmt.sh exited with ${binfmt.status}`;
    return `emulated Pi stage: cannot run ARM binaries here: ${why}`;
  }
  for (const tool of ['debootstrap', 'unshare', 'flock']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `emulated Pi stage: ${tool} is not installed`;
  }
  return false;
}
