/**
 * Roles (src/services/shell/roles.ts): a viewer looks, an admin also acts. The command
 * table refuses an admin command for a viewer before it runs, and says which.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { COMMAND_NAMES, runCommand } from '../../../src/services/shell/commands.ts';
import { ADMIN_COMMANDS, mayRun, userEntry, type ShellRole } from '../../../src/services/shell/roles.ts';
import { FakeContext } from './fake-context.ts';

async function run(line: string, role: ShellRole, context = new FakeContext()) {
  let output = '';
  const result = await runCommand(line, context, (text) => (output += text), role);
  return { ...result, output, context };
}

const VIEWER_COMMANDS = ['help', 'status', 'conns', 'stats', 'arp', 'ping', 'leds', 'sensors', 'readings', 'plot', 'log', 'quit'];

describe('shell roles', () => {
  it('a viewer may run exactly the looking commands; kill, restart and config are the admin ones', () => {
    assert.deepEqual([...ADMIN_COMMANDS].sort(), ['config', 'kill', 'restart']);
    for (const name of COMMAND_NAMES) {
      assert.equal(mayRun('viewer', name), VIEWER_COMMANDS.includes(name), name);
      assert.equal(mayRun('admin', name), true, name);
    }
  });

  it("a viewer's kill is refused before it runs, with a clear message", async () => {
    const refused = await run('kill 7', 'viewer');
    assert.equal(refused.ok, false);
    assert.equal(refused.denied, 'kill');
    assert.equal(refused.output, 'error: permission denied: kill needs the admin role (this user is a viewer)\n');
    assert.deepEqual(refused.context.killed, [], 'nothing was killed');
    const restart = await run('RESTART', 'viewer');
    assert.equal(restart.denied, 'restart');
    assert.equal(restart.context.restarts, 0);
    assert.equal((await run('config', 'viewer')).denied, 'config');
  });

  it('an admin runs them; a viewer still runs the rest', async () => {
    const killed = await run('kill 7', 'admin');
    assert.equal(killed.ok, true);
    assert.equal(killed.denied, undefined);
    assert.deepEqual(killed.context.killed, [7]);
    const status = await run('status', 'viewer');
    assert.equal(status.ok, true);
    assert.match(status.output, /^ip: /m);
  });

  it("help lists what the user's role may run", async () => {
    const viewer = (await run('help', 'viewer')).output;
    const admin = (await run('help', 'admin')).output;
    for (const name of ADMIN_COMMANDS) {
      assert.doesNotMatch(viewer, new RegExp(`^${name}\\b`, 'm'));
      assert.match(admin, new RegExp(`^${name}\\b`, 'm'));
    }
    assert.match(viewer, /^status\b/m);
  });

  it('the stored form alone means admin; the object form names the role', () => {
    assert.deepEqual(userEntry('scrypt$x'), { form: 'scrypt$x', role: 'admin' });
    assert.deepEqual(userEntry({ secret: 'scrypt$y', role: 'viewer' }), { form: 'scrypt$y', role: 'viewer' });
  });
});
