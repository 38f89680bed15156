/**
 * The service unit's NODE_OPTIONS as the bench reads them (bench/lib/deployed-node-options.ts),
 * so that the bench measures the firmware with the V8 options a device runs it with: the
 * `Environment=NODE_OPTIONS=` line, quoted or not, and nothing without one; and what the
 * unit holds now is accepted by Node from the environment (a flag Node refuses in
 * NODE_OPTIONS would stop the service at start).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { deployedNodeOptions, nodeOptionsOfUnit } from '../../bench/lib/deployed-node-options.ts';

describe('the service unit NODE_OPTIONS', () => {
  it('reads the Environment line, quoted or not, and nothing without one', () => {
    assert.equal(nodeOptionsOfUnit('[Service]\nEnvironment=NODE_ENV=production\nEnvironment=NODE_OPTIONS=--max-semi-space-size=1\n'), '--max-semi-space-size=1');
    assert.equal(nodeOptionsOfUnit('[Service]\nEnvironment="NODE_OPTIONS=--a --b"\n'), '--a --b');
    assert.equal(nodeOptionsOfUnit('[Service]\nEnvironment=NODE_ENV=production\n'), '');
  });

  it('holds options that Node accepts from the environment', () => {
    const options = deployedNodeOptions();
    const run = spawnSync(process.execPath, ['-e', '0'], { env: { ...process.env, NODE_OPTIONS: options }, encoding: 'utf8' });
    assert.equal(run.status, 0, `NODE_OPTIONS="${options}": ${run.stderr}`);
    const refused = spawnSync(process.execPath, ['-e', '0'], { env: { ...process.env, NODE_OPTIONS: '--cpu-prof' }, encoding: 'utf8' });
    assert.notEqual(refused.status, 0, 'Node refuses options it does not allow in NODE_OPTIONS (the check can fail)');
  });
});
