/**
 * Fuzz target: the shell's command line (src/services/shell/commands.ts) on untrusted
 * text, with a fixed ShellContext (test/services/shell/fake-context.ts). The first byte
 * picks the role (odd: viewer).
 *
 * Invariants: runCommand never throws (it resolves with ok or not); output is text lines
 * (empty, or ending in LF); a failed command says why on an `error:` line; a viewer never
 * reaches kill, restart or config.
 */
import { runCommand } from '../../../src/services/shell/commands.ts';
import { FakeContext } from '../../services/shell/fake-context.ts';
import { invariant } from './invariant.ts';

export async function fuzz(data: Buffer): Promise<void> {
  if (data.length === 0) return;
  const role = (data[0]! & 1) === 1 ? 'viewer' : 'admin';
  const line = data.subarray(1).toString('utf8');
  const context = new FakeContext();
  // Any pings finish at once: the fuzzer must not wait on delays.
  context.lost = new Set();
  let output = '';
  const result = await runCommand(line, context, (text) => (output += text), role);
  invariant(typeof result.ok === 'boolean', 'no result');
  invariant(output === '' || output.endsWith('\n'), `output does not end a line: ${JSON.stringify(output.slice(-40))}`);
  if (!result.ok) invariant(/^error: /m.test(output), `a failed command without an error line: ${JSON.stringify(output.slice(0, 200))}`);
  if (role === 'viewer') {
    invariant(context.killed.length === 0 && context.restarts === 0, 'a viewer killed or restarted');
    const name = line.trim().split(/\s+/)[0]?.toLowerCase() ?? '';
    invariant(!['kill', 'restart', 'config'].includes(name) || result.denied === name, `a viewer ran ${name}`);
  }
}
