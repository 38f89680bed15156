#!/usr/bin/env node
// The `piwire` command: registers tsx so the TypeScript sources run as they are, then
// hands over to firmware/main.ts. A running firmware keeps the process alive; the
// one-shot commands (and failures) exit with their status.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
const args = process.argv.slice(2);
const status = await main(args);
if (status !== 0 || args[0] === 'shell' || args[0] === 'hash-secret') process.exit(status);
