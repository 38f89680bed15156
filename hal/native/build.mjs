// Builds the native frame-link addon with node-gyp during `npm install`.
// A machine without a C toolchain still installs (the simulated board needs no addon);
// the packet and tap links then fail at open with a message saying the addon is missing,
// and the test suite's addon test fails, so CI never passes without it.
import { spawnSync } from 'node:child_process';

// npm tells lifecycle scripts where its bundled node-gyp lives.
const nodeGyp = process.env.npm_config_node_gyp;
const [command, args] = nodeGyp ? [process.execPath, [nodeGyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const result = spawnSync(command, args, { stdio: 'inherit' });
if (result.status !== 0) {
  console.warn('piwire: the native addon did not build; the packet and tap links will be unavailable (sim still works).');
}
