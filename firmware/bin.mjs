#!/usr/bin/env node
// The `piwire` command: registers tsx so the TypeScript sources run as they are, then
// hands over to firmware/main.ts.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
const status = await main(process.argv.slice(2));
if (status !== 0) process.exit(status);
