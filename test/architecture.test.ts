/**
 * The layering of CONVENTIONS 1 and the "no import circle" rule of the TCP core's shape,
 * checked on the real import graph (madge reads every import, type-only ones included):
 * - no circular import anywhere in src/;
 * - src/ imports nothing from hal/ or firmware/, hal/ nothing from firmware/;
 * - inside src/tcp, input.ts and timers.ts do not send (they do not import emitter.ts),
 *   and only output.ts and the connectionless replies (closed.ts, listen.ts) use it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import madge from 'madge';

const root = fileURLToPath(new URL('..', import.meta.url));

async function graph(directory: string): Promise<Record<string, string[]>> {
  const result = await madge(`${root}${directory}`, { fileExtensions: ['ts'], baseDir: root });
  return result.obj();
}

describe('architecture', () => {
  it('has no import circle in src/', async () => {
    const result = await madge(`${root}src`, { fileExtensions: ['ts'], baseDir: root });
    assert.deepEqual(result.circular(), []);
  });

  it('keeps the layers: src/ below hal/ below firmware/', async () => {
    const upward: string[] = [];
    for (const [layer, forbidden] of [
      ['src', ['hal/', 'firmware/']],
      ['hal', ['firmware/']],
    ] as const) {
      for (const [file, imports] of Object.entries(await graph(layer))) {
        for (const target of imports) if (forbidden.some((prefix) => target.startsWith(prefix))) upward.push(`${file} -> ${target}`);
      }
    }
    assert.deepEqual(upward, []);
  });

  it('sends TCP segments from output.ts and the connectionless replies only', async () => {
    const senders = Object.entries(await graph('src'))
      .filter(([, imports]) => imports.includes('src/tcp/emitter.ts'))
      .map(([file]) => file)
      .filter((file) => file.startsWith('src/tcp/'))
      .sort();
    // stack.ts and scheduler/connection import it for types and construction only.
    assert.ok(!senders.includes('src/tcp/input.ts'), 'input.ts records, it does not send');
    assert.ok(!senders.includes('src/tcp/timers.ts'), 'timers.ts records, it does not send');
    const graphTcp = await graph('src');
    assert.ok(!(graphTcp['src/tcp/connection.ts'] ?? []).includes('src/tcp/output.ts'), 'connection.ts does not import output.ts');
    assert.ok(!(graphTcp['src/tcp/input.ts'] ?? []).includes('src/tcp/output.ts'), 'input.ts does not import output.ts');
  });
});
