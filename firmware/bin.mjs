#!/usr/bin/env node
// The `piwire` command. It runs the built program, dist/piwire.mjs (`npm run build`;
// the installer and the Docker image always build it), with plain node; in a checkout
// that has not been built, it registers tsx and runs the TypeScript sources instead
// (firmware/entry.ts). A running firmware keeps the process alive; the one-shot
// commands (and failures) exit with their status.
import { existsSync } from 'node:fs';

const built = new URL('../dist/piwire.mjs', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./entry.ts');
}
