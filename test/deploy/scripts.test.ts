/**
 * Every shell script of the deploy tree passes shellcheck (the bar: clean, with
 * no warning of any severity), and the scripts the unit and the image run are executable.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { commandExists, REPOSITORY_ROOT } from './support.ts';

/** Files under deploy/ whose first line is a bash or sh shebang, plus *.sh files. */
function shellScripts(): string[] {
  const found: string[] = [];
  const visit = (directory: string): void => {
    for (const name of readdirSync(directory).sort()) {
      const path = join(directory, name);
      if (statSync(path).isDirectory()) {
        visit(path);
        continue;
      }
      const firstLine = readFileSync(path, 'utf8').split('\n', 1)[0] ?? '';
      if (name.endsWith('.sh') || /^#!.*\b(bash|sh)\b/.test(firstLine)) found.push(path);
    }
  };
  visit(join(REPOSITORY_ROOT, 'deploy'));
  return found;
}

describe('deploy scripts', () => {
  const scripts = shellScripts();

  it('finds the installer, the interface helper and the image scripts', () => {
    const names = scripts.map((path) => relative(REPOSITORY_ROOT, path)).sort();
    assert.deepEqual(names, ['deploy/image/customise.sh', 'deploy/image/piwire-firstboot', 'deploy/install.sh', 'deploy/interfaces/piwire-link', 'deploy/interfaces/piwire-rst-guard']);
  });

  it('are shellcheck clean', { skip: commandExists('shellcheck') ? false : 'shellcheck is not installed (apt-get install shellcheck)' }, () => {
    const result = spawnSync('shellcheck', ['--severity=style', '--shell=bash', ...scripts], { encoding: 'utf8' });
    assert.equal(result.status, 0, `shellcheck found problems:\n${result.stdout}${result.stderr}`);
  });

  it('are executable', () => {
    for (const script of scripts) assert.doesNotThrow(() => accessSync(script, constants.X_OK), `${script} is not executable`);
  });
});
