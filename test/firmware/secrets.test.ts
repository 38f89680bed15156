/**
 * firmware/secrets.ts, firmware/state-dir.ts and firmware/lockout-store.ts: what the
 * `config` command shows, the warning for a readable configuration with credentials,
 * the private state directory and files, and lockouts that survive a restart.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exposedConfigFile, holdsCredentials, REDACTED, redactConfig } from '../../firmware/secrets.ts';
import { prepareStateDirectory, writePrivateFile } from '../../firmware/state-dir.ts';
import { LOCKOUT_FILE, loadLockouts, lockoutWriter } from '../../firmware/lockout-store.ts';
import { BASE_LOCKOUT_MS, LoginLockout, MAX_LOCKOUT_MS } from '../../src/services/shell/lockout.ts';
import { RecordingEventSink } from '../../src/events.ts';
import { ManualClock } from '../../src/time.ts';

const FORM = 'scrypt$N=16384,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA==$a2V5a2V5a2V5$c2VydmVy';

function temporary(): string {
  return mkdtempSync(join(tmpdir(), 'piwire-secrets-'));
}

describe('redacted configuration', () => {
  it('hides every stored form and password, keeps roles and everything else', () => {
    const config = {
      net: { mtu: 1500 },
      services: {
        shell: { port: 2323, users: { op: FORM, watcher: { secret: FORM, role: 'viewer' }, ['__proto__']: FORM } },
        uplink: { url: 'mqtts://broker', password: 'hunter2', username: 'pi' },
      },
    };
    const shown = redactConfig(config);
    const text = JSON.stringify(shown);
    assert.equal(text.includes(FORM), false);
    assert.equal(text.includes('hunter2'), false);
    assert.deepEqual(shown.services.shell.users, { op: REDACTED, watcher: { secret: REDACTED, role: 'viewer' }, ['__proto__']: REDACTED });
    assert.equal(Object.getPrototypeOf(shown.services.shell.users), Object.prototype, 'a user called __proto__ stays a key');
    assert.equal(shown.services.uplink.username, 'pi');
    assert.equal(shown.net.mtu, 1500);
    assert.equal(config.services.shell.users.op, FORM, 'the running configuration is untouched');
  });

  it('knows when a configuration holds credentials', () => {
    assert.equal(holdsCredentials({ services: { shell: { users: {} } } }), false);
    assert.equal(holdsCredentials({ services: { shell: { users: { op: FORM } } } }), true);
    assert.equal(holdsCredentials({ services: { uplink: { password: 'x' } } }), true);
  });

  it('names a world-readable file with credentials; 0640 or no credentials is fine', () => {
    const directory = temporary();
    try {
      const file = join(directory, 'config.json');
      writeFileSync(file, '{}');
      const withUsers = { services: { shell: { users: { op: FORM } } } };
      chmodSync(file, 0o644);
      assert.deepEqual(exposedConfigFile(file, withUsers), { file, mode: '0644' });
      assert.equal(exposedConfigFile(file, { services: { shell: { users: {} } } }), undefined);
      chmodSync(file, 0o640);
      assert.equal(exposedConfigFile(file, withUsers), undefined);
      assert.equal(exposedConfigFile(undefined, withUsers), undefined);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});

describe('private state directory', () => {
  it('is created 0700, a looser one is tightened, private files are 0600', async () => {
    const directory = temporary();
    try {
      const state = join(directory, 'state');
      assert.deepEqual(await prepareStateDirectory(state), {});
      assert.equal(statSync(state).mode & 0o777, 0o700);
      chmodSync(state, 0o755);
      assert.deepEqual(await prepareStateDirectory(state), { tightenedFrom: '0755' });
      assert.equal(statSync(state).mode & 0o777, 0o700);
      await writePrivateFile(join(state, 'x.json'), 'x');
      assert.equal(statSync(join(state, 'x.json')).mode & 0o777, 0o600);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});

describe('persisted lockouts', () => {
  it('a lockout written by one process is in force in the next, on the wall clock', async () => {
    const directory = temporary();
    try {
      const wall = { time: 1_700_000_000_000, now() { return this.time; } };
      const firstClock = new ManualClock(10_000);
      const store = { stateDir: directory, clock: firstClock, wallClock: wall, onError: (message: string) => assert.fail(message) };
      const lockout: LoginLockout = new LoginLockout({ clock: firstClock, events: new RecordingEventSink(), onChange: lockoutWriter(() => lockout, store) });
      for (let i = 0; i < 5; i++) lockout.recordFailure('198.18.0.1', 'op');
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(statSync(join(directory, LOCKOUT_FILE)).mode & 0o777, 0o600);

      // The next process: its monotonic clock starts again; 10 s of wall time went by.
      wall.time += 10_000;
      const secondClock = new ManualClock(0);
      const loaded = await loadLockouts({ stateDir: directory, clock: secondClock, wallClock: wall });
      const next = new LoginLockout({ clock: secondClock, events: new RecordingEventSink() });
      next.restore(loaded.records);
      assert.equal(next.lockedFor('198.18.0.1'), BASE_LOCKOUT_MS - 10_000);
      assert.equal(next.failures('198.18.0.1'), 5);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('a wall clock far behind cannot make a lockout longer than the cap; bad files and records are skipped', async () => {
    const directory = temporary();
    try {
      const clock = new ManualClock(0);
      const wall = { now: () => 0 };
      const record = (address: unknown, lockedUntil: unknown) => ({ address, failures: 9, lastFailure: 0, lockedUntil });
      writeFileSync(join(directory, LOCKOUT_FILE), JSON.stringify({ version: 1, records: [record('a', 1e15), record(7, 5), 'junk', record('b', 'soon')] }));
      const loaded = await loadLockouts({ stateDir: directory, clock, wallClock: wall });
      assert.deepEqual(loaded.records.map(([address, saved]) => [address, saved.lockedUntil]), [['a', MAX_LOCKOUT_MS]]);
      writeFileSync(join(directory, LOCKOUT_FILE), '{not json');
      assert.match((await loadLockouts({ stateDir: directory, clock, wallClock: wall })).error ?? '', /not JSON/);
      mkdirSync(join(directory, 'empty'));
      assert.deepEqual(await loadLockouts({ stateDir: join(directory, 'empty'), clock, wallClock: wall }), { records: [] });
      assert.equal(readFileSync(join(directory, LOCKOUT_FILE), 'utf8'), '{not json', 'loading never rewrites the file');
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
