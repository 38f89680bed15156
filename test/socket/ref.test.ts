/**
 * node:net's ref()/unref() on piwire sockets: a program whose only handles are unref'd
 * piwire sockets and servers exits on its own, and ref'd ones keep it alive (the stack's
 * single timer in firmware/loop.ts is unref'd while no socket holds a ref). Runs
 * test/support/ref-probe.ts as a child process and reads what it printed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { REPOSITORY_ROOT } from '../support/firmware-process.ts';

function runProbe(mode: 'ref' | 'unref'): { status: number | null; stdout: string; stderr: string } {
  // The timeout is a hang guard: a probe that never exits is the failure being looked for.
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'test/support/ref-probe.ts', mode], {
    cwd: REPOSITORY_ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('ref and unref on piwire sockets', () => {
  it('unref() on the server and both sockets lets the process exit on its own', () => {
    const result = runProbe('unref');
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'connected accepted\n', 'exited before the unref\'d timer could fire');
  });

  it('ref\'d sockets keep the process alive until they are unref\'d', () => {
    const result = runProbe('ref');
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'connected accepted\nalive\n', 'the sockets kept the process alive for the timer');
  });
});
