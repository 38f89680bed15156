/**
 * Headless Chromium for tests: Debian's /usr/bin/chromium driven by playwright-core
 * (no browser download), in a network namespace when one is given (a wrapper script
 * runs it under `ip netns exec`; the DevTools pipe is inherited), with a fresh profile
 * and everything that would talk to the internet switched off.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function chromiumMissing(): string | false {
  return existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (test/run.sh installs Debian's chromium)`;
}

export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(options: { namespace?: string } = {}): Promise<TestBrowser> {
  const directory = mkdtempSync(join(tmpdir(), 'pw-chromium-'));
  let executablePath = CHROMIUM;
  if (options.namespace !== undefined) {
    executablePath = join(directory, 'chromium-in-namespace');
    writeFileSync(executablePath, `#!/bin/sh\nexec ip netns exec '${options.namespace}' ${CHROMIUM} "$@"\n`, { mode: 0o755 });
  }
  const context = await chromium.launchPersistentContext(join(directory, 'profile'), {
    executablePath,
    headless: true,
    args: FLAGS,
    viewport: { width: 420, height: 900 },
    timeout: 60_000,
  });
  return {
    context,
    close: async () => {
      await context.close().catch(() => undefined);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
