/**
 * The deployed program's entry: deploy/build.mjs bundles this file (and everything it
 * imports) into dist/piwire.mjs, which the systemd unit, the Docker image and the
 * `piwire` command run with plain `node`. It only starts `main` (firmware/main.ts).
 */
import { runProgram } from './main.ts';

runProgram(process.argv.slice(2));
