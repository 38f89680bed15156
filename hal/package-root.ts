/**
 * Where piwire's package lives on disk: the nearest directory at or above this module
 * that holds a `package.json`. The same answer from the TypeScript sources
 * (`hal/package-root.ts`) and from the built bundle (`dist/piwire.mjs`, where every
 * module shares the bundle's `import.meta.url`), so paths to package files (the native
 * addon, package.json, the checkout's `.git`) never depend on how deep the calling
 * module sits. This is hal/: it reads the file system, once.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The package root; throws only for a module copied outside any package (a programmer error). */
export function packageRoot(): string {
  if (cached !== undefined) return cached;
  let directory = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(directory, 'package.json'))) return (cached = directory);
    const parent = dirname(directory);
    if (parent === directory) throw new Error(`piwire: no package.json above ${fileURLToPath(import.meta.url)}`);
    directory = parent;
  }
}

/** A path inside the package, e.g. `packagePath('build', 'Release', 'piwire_link.node')`. */
export function packagePath(...segments: string[]): string {
  return join(packageRoot(), ...segments);
}
