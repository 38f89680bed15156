/**
 * The state directory is private (issue 17): readings, the TLS key and the login
 * lockouts live there. `prepareStateDirectory` makes it 0700 (and tightens an existing
 * one that others could enter, saying so in its result); `writePrivateFile` writes a
 * file 0600 through a temporary name and a rename, so a crash never leaves half of it.
 */
import { chmod, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';

export const STATE_DIRECTORY_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates the directory 0700 or tightens it; returns the mode it had when that was looser. */
export async function prepareStateDirectory(directory: string): Promise<{ tightenedFrom?: string }> {
  await mkdir(directory, { recursive: true, mode: STATE_DIRECTORY_MODE });
  const mode = (await stat(directory)).mode & 0o777;
  if ((mode & 0o077) === 0) return {};
  await chmod(directory, STATE_DIRECTORY_MODE);
  return { tightenedFrom: `0${mode.toString(8)}` };
}

/** Writes `path` with mode 0600 atomically (temporary file, then rename). */
export async function writePrivateFile(path: string, content: string): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(temporary, content, { mode: PRIVATE_FILE_MODE });
    // The mode argument is masked by the umask; say it again.
    await chmod(temporary, PRIVATE_FILE_MODE);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
