/**
 * The service unit's Node flags as the bench reads them (bench/lib/deployed-node-options.ts),
 * so that the bench measures the firmware with the V8 flags a device runs it with: the
 * flags between the node binary and the script on `ExecStart=`, none when there are none;
 * and what the unit holds now is accepted by Node (a flag Node refuses would stop the
 * service at start).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { DOCKERFILE, deployedNodeFlags, nodeFlagsOfDockerfile, nodeFlagsOfUnit } from '../../bench/lib/deployed-node-options.ts';

describe('the service unit’s Node flags', () => {
  it('reads the flags between node and the script on ExecStart, and none without any', () => {
    const unit = (line: string): string => `[Service]\nEnvironment=NODE_ENV=production\n${line}\nUser=piwire\n`;
    assert.deepEqual(nodeFlagsOfUnit(unit('ExecStart=/usr/bin/node --initial-old-space-size=64 /opt/piwire/dist/piwire.mjs run --config /etc/piwire/config.json')), ['--initial-old-space-size=64']);
    assert.deepEqual(nodeFlagsOfUnit(unit('ExecStart=/usr/bin/node --a=1 --b /opt/piwire/dist/piwire.mjs run')), ['--a=1', '--b']);
    assert.deepEqual(nodeFlagsOfUnit(unit('ExecStart=/usr/bin/node /opt/piwire/dist/piwire.mjs run --config /etc/piwire/config.json')), []);
    assert.throws(() => nodeFlagsOfUnit('[Service]\nExecStart=/bin/true\n'), /ExecStart/);
  });

  it('holds flags that Node accepts', () => {
    const flags = deployedNodeFlags();
    const run = spawnSync(process.execPath, [...flags, '-e', '0'], { encoding: 'utf8' });
    assert.equal(run.status, 0, `node ${flags.join(' ')}: ${run.stderr}`);
    const refused = spawnSync(process.execPath, ['--no-such-flag-here', '-e', '0'], { encoding: 'utf8' });
    assert.notEqual(refused.status, 0, 'Node refuses a flag it does not know (the check can fail)');
  });

  it('are the Docker image’s too: its ENTRYPOINT passes the same flags to node before the script', () => {
    assert.deepEqual(nodeFlagsOfDockerfile('FROM x\nENTRYPOINT ["/usr/local/bin/piwire-node", "--a=1", "--b", "/opt/piwire/dist/piwire.mjs"]\nCMD ["run"]\n'), ['--a=1', '--b']);
    assert.deepEqual(nodeFlagsOfDockerfile('ENTRYPOINT ["/usr/local/bin/node", "/opt/piwire/dist/piwire.mjs"]\n'), []);
    assert.throws(() => nodeFlagsOfDockerfile('ENTRYPOINT /usr/bin/node x.mjs\n'), /exec-form/);
    assert.deepEqual(nodeFlagsOfDockerfile(readFileSync(DOCKERFILE, 'utf8')), deployedNodeFlags());
  });
});
