/**
 * The emulated-Pi stage's shell scripts pass shellcheck (style level, sourced files
 * followed) and are executable. Runs everywhere, also where the stage itself skips.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PI_SCRIPTS } from './stage.ts';

const ROOT = join(PI_SCRIPTS, '../..');
const scripts = readdirSync(PI_SCRIPTS)
  .filter((name) => name.endsWith('.sh'))
  .map((name) => join('test/pi', name));
const shellcheck = spawnSync('shellcheck', ['--version']).status === 0;

describe('test/pi scripts', () => {
  it('are shellcheck clean', { skip: shellcheck ? false : 'shellcheck is not installed (apt-get install shellcheck)' }, () => {
    const result = spawnSync('shellcheck', ['--severity=style', '--external-sources', ...scripts], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(result.status, 0, `shellcheck found problems:\n${result.stdout}${result.stderr}`);
  });

  it('are executable (except common.sh, which is sourced)', () => {
    assert.ok(scripts.length >= 6, scripts.join(' '));
    for (const script of scripts.filter((name) => !name.endsWith('common.sh'))) {
      assert.doesNotThrow(() => accessSync(join(ROOT, script), constants.X_OK), `${script} is not executable`);
    }
  });
});
