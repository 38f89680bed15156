/**
 * The kernel side of the bench's `libraries` section, run inside a namespace:
 * `node --import tsx bench/clients/libraries.ts [--quick]` prints one JSON line
 * (bench/lib/libraries.ts `LibrariesResult`) measured with node:net over loopback.
 */
import { measureLibraries } from '../lib/libraries.ts';

measureLibraries('kernel', process.argv.includes('--quick')).then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  },
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  },
);
