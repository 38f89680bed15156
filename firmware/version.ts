/** piwire's version, as package.json states it (`--version`, the shell's `status`). */
import { readFileSync } from 'node:fs';
import { packagePath } from '../hal/package-root.ts';

export function packageVersion(): string {
  const path = packagePath('package.json');
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}
