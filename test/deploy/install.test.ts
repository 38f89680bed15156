/**
 * deploy/install.sh --root into a throw-away tree: checked file by file, run twice (the
 * second run changes nothing), the installed unit passes `systemd-analyze verify`, then
 * --uninstall keeps exactly configuration, state and account, and --uninstall --purge
 * gives the original tree back. The installer manages accounts and ownership, so
 * these tests need root; --from-tree keeps them off the network.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../firmware/config/load.ts';
import { commandExists, describeRun, freezeCheckout, isRoot, makePiTree, ORIGINAL_BOOT_CONFIG, runScript, snapshot, type Entry } from './support.ts';

/** Written by the account tools (shadow-utils, systemd-sysusers) on every change: backups and a lock file. */
const ACCOUNT_TOOL_LEFTOVERS = ['etc/passwd-', 'etc/group-', 'etc/shadow-', 'etc/gshadow-', 'etc/.pwd.lock'];

function withoutLeftovers(entries: Map<string, Entry>): Map<string, Entry> {
  return new Map([...entries].filter(([path]) => !ACCOUNT_TOOL_LEFTOVERS.includes(path)));
}

function accountId(root: string, file: 'passwd' | 'group', name: string): number | undefined {
  const line = readFileSync(join(root, 'etc', file), 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${name}:`));
  return line === undefined ? undefined : Number(line.split(':')[2]);
}

describe('deploy/install.sh --root', { skip: isRoot() ? false : 'not running as root: install.sh manages accounts and ownership' }, () => {
  let root = '';
  let original = new Map<string, Entry>();
  let checkout = '';
  let installScript = '';
  before(() => {
    root = makePiTree();
    original = snapshot(root);
    checkout = freezeCheckout();
    installScript = join(checkout, 'deploy/install.sh');
  });
  after(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(checkout, { recursive: true, force: true });
  });

  let firstInstall = new Map<string, Entry>();
  it('installs program, account, unit, boot configuration and configuration', () => {
    const result = runScript(installScript, ['--root', root, '--from-tree']);
    assert.equal(result.status, 0, describeRun(result));
    firstInstall = snapshot(root);

    // The program, root-owned and read-only to the service, with its dependencies and addon.
    for (const file of ['firmware/bin.mjs', 'firmware/main.ts', 'src/time.ts', 'hal/link/packet.ts', 'package.json', 'build/Release/piwire_link.node', 'dist/piwire.mjs', 'node_modules/zod/package.json']) {
      const stat = statSync(join(root, 'opt/piwire', file));
      assert.equal(stat.uid, 0, `${file} is owned by root`);
      assert.equal(stat.mode & 0o022, 0, `${file} is not writable by group or others`);
    }
    assert.ok(!existsSync(join(root, 'opt/piwire/node_modules/typescript')), 'development dependencies stay behind');
    assert.ok(!existsSync(join(root, 'opt/piwire/node_modules/tsx')), 'no TypeScript loader: the service runs the built dist/piwire.mjs');
    assert.ok(!existsSync(join(root, 'opt/piwire/test')), 'tests stay behind');
    assert.ok(statSync(join(root, 'opt/piwire/deploy/interfaces/piwire-link')).mode & 0o100, 'the ExecStartPre helper is executable');

    // The account: a system user in gpio and i2c with no login shell.
    const uid = accountId(root, 'passwd', 'piwire');
    const gid = accountId(root, 'group', 'piwire');
    assert.ok(uid !== undefined && uid > 0 && uid < 1000, `piwire is a system user (uid ${uid})`);
    assert.match(readFileSync(join(root, 'etc/passwd'), 'utf8'), /^piwire:x:\d+:\d+:piwire firmware:\/var\/lib\/piwire:\/usr\/sbin\/nologin$/m);
    assert.match(readFileSync(join(root, 'etc/group'), 'utf8'), /^gpio:x:997:pi,piwire$/m);
    assert.match(readFileSync(join(root, 'etc/group'), 'utf8'), /^i2c:x:998:pi,piwire$/m);

    // The unit, installed and enabled.
    const unit = readFileSync(join(root, 'etc/systemd/system/piwire.service'), 'utf8');
    assert.equal(unit, readFileSync(join(checkout, 'deploy/systemd/piwire.service'), 'utf8'), 'default prefix: the unit as written');
    assert.equal(readlinkSync(join(root, 'etc/systemd/system/multi-user.target.wants/piwire.service')), '/etc/systemd/system/piwire.service');

    // I2C and the three LEDs in the boot configuration, after the original content.
    const bootConfig = readFileSync(join(root, 'boot/firmware/config.txt'), 'utf8');
    assert.ok(bootConfig.startsWith(ORIGINAL_BOOT_CONFIG), 'the original lines stay first and untouched');
    const block = bootConfig.slice(ORIGINAL_BOOT_CONFIG.length).trim().split('\n');
    assert.deepEqual(block.slice(1, -1), [
      '[all]',
      'dtparam=i2c_arm=on',
      'dtoverlay=gpio-led,gpio=17,label=piwire-status,trigger=none',
      'dtoverlay=gpio-led,gpio=27,label=piwire-link,trigger=none',
      'dtoverlay=gpio-led,gpio=22,label=piwire-fault,trigger=none',
    ]);
    assert.equal(readFileSync(join(root, 'etc/modules-load.d/piwire-i2c.conf'), 'utf8').split('\n').filter((line) => line && !line.startsWith('#')).join(), 'i2c-dev');

    // The configuration: the example with the Pi's settings, readable by the service only.
    const configPath = join(root, 'etc/piwire/config.json');
    const configStat = statSync(configPath);
    assert.equal(configStat.mode & 0o777, 0o640);
    assert.equal(configStat.uid, 0);
    assert.equal(configStat.gid, gid);
    const config = loadConfig({ file: configPath, flags: {}, stdoutIsTty: false });
    assert.equal(config.link, 'packet:piwire0');
    assert.equal(config.net.mac, undefined, 'the interface keeps its own MAC');
    assert.deepEqual([config.leds.driver, config.leds.status, config.leds.link, config.leds.fault], ['sysfs', 'piwire-status', 'piwire-link', 'piwire-fault']);
    assert.equal(config.i2c.bus, 1);
    assert.match(readFileSync(join(root, 'etc/piwire/link.env'), 'utf8'), /^LAYOUT=macvlan\nINTERFACE=piwire0\nPARENT=eth0$/m);
    assert.match(readFileSync(join(root, 'etc/NetworkManager/conf.d/piwire-unmanaged.conf'), 'utf8'), /^unmanaged-devices=interface-name:piwire0$/m);
  });

  it('is idempotent: a second run leaves every file, mode and owner as it was', () => {
    const result = runScript(installScript, ['--root', root, '--from-tree']);
    assert.equal(result.status, 0, describeRun(result));
    const second = snapshot(root);
    const isProgram = (path: string): boolean => path.startsWith('opt/piwire/');
    const outside = (entries: Map<string, Entry>): Map<string, Entry> => withoutLeftovers(new Map([...entries].filter(([path]) => !isProgram(path))));
    assert.deepEqual(outside(second), outside(firstInstall));
    // The program tree is replaced as a whole (staged, then renamed): same paths, modes, owners and content.
    const program = (entries: Map<string, Entry>): Map<string, Entry> => new Map([...entries].filter(([path]) => isProgram(path)));
    const programFirst = program(firstInstall);
    const programSecond = program(second);
    assert.deepEqual(programSecond, programFirst);
  });

  it('keeps a configuration the operator edited', () => {
    const configPath = join(root, 'etc/piwire/config.json');
    const edited = readFileSync(configPath, 'utf8').replace('198.18.0.2/24', '198.18.0.77/24');
    writeFileSync(configPath, edited);
    const result = runScript(installScript, ['--root', root, '--from-tree']);
    assert.equal(result.status, 0, describeRun(result));
    assert.equal(readFileSync(configPath, 'utf8'), edited);
  });

  it('installs a unit that `systemd-analyze verify` accepts', { skip: commandExists('systemd-analyze') ? false : 'systemd-analyze is missing (apt-get install systemd)' }, () => {
    // verify checks that the Exec* programs exist: point them at the installed tree.
    const directory = mkdtempSync(join(tmpdir(), 'piwire-unit-'));
    try {
      const unit = readFileSync(join(root, 'etc/systemd/system/piwire.service'), 'utf8').replaceAll('/opt/piwire', join(root, 'opt/piwire'));
      writeFileSync(join(directory, 'piwire.service'), unit);
      const result = spawnSync('systemd-analyze', ['verify', join(directory, 'piwire.service')], { encoding: 'utf8' });
      assert.equal(result.status, 0, `systemd-analyze verify failed:\n${result.stdout}${result.stderr}`);
      assert.equal(result.stderr.trim(), '', `systemd-analyze verify warned:\n${result.stderr}`);
      // The same check fails on a broken unit, so a pass means something.
      writeFileSync(join(directory, 'piwire.service'), unit.replace('ExecStart=/usr/bin/node', 'ExecStart=/nonexistent/node'));
      const broken = spawnSync('systemd-analyze', ['verify', join(directory, 'piwire.service')], { encoding: 'utf8' });
      assert.notEqual(broken.status, 0);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('--uninstall removes the program and keeps configuration, state and the account', () => {
    const result = runScript(installScript, ['--root', root, '--uninstall']);
    assert.equal(result.status, 0, describeRun(result));
    const now = withoutLeftovers(snapshot(root));
    const added = [...now.keys()].filter((path) => !original.has(path)).sort();
    assert.deepEqual(added, ['etc/piwire', 'etc/piwire/config.json', 'etc/piwire/link.env', 'etc/sysusers.d', 'etc/sysusers.d/piwire.conf']);
    assert.equal(readFileSync(join(root, 'boot/firmware/config.txt'), 'utf8'), ORIGINAL_BOOT_CONFIG);
    assert.ok(accountId(root, 'passwd', 'piwire') !== undefined);
  });

  it('--uninstall --purge gives the original tree back', () => {
    const result = runScript(installScript, ['--root', root, '--uninstall', '--purge']);
    assert.equal(result.status, 0, describeRun(result));
    assert.deepEqual(withoutLeftovers(snapshot(root)), withoutLeftovers(original));
  });
});

describe('deploy/install.sh --root --layout wifi (IP mode)', { skip: isRoot() ? false : 'not running as root: install.sh manages accounts and ownership' }, () => {
  let root = '';
  let checkout = '';
  before(() => {
    root = makePiTree('piwire-deploy-wifi-');
    checkout = freezeCheckout();
  });
  after(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(checkout, { recursive: true, force: true });
  });

  it('configures IP mode on wlan0: link ip:wlan0, no static address, NetworkManager left alone, raw-socket installed', () => {
    const result = runScript(join(checkout, 'deploy/install.sh'), ['--root', root, '--from-tree', '--layout', 'wifi']);
    assert.equal(result.status, 0, describeRun(result));
    const config = JSON.parse(readFileSync(join(root, 'etc/piwire/config.json'), 'utf8')) as { link: string; net: Record<string, unknown> };
    assert.equal(config.link, 'ip:wlan0');
    assert.equal(config.net['ip'], undefined, "the address is the interface's own");
    assert.equal(config.net['gateway'], undefined);
    const linkEnv = readFileSync(join(root, 'etc/piwire/link.env'), 'utf8');
    assert.match(linkEnv, /^LAYOUT=wifi$/m);
    assert.match(linkEnv, /^INTERFACE=wlan0$/m);
    assert.ok(!existsSync(join(root, 'etc/NetworkManager/conf.d/piwire-unmanaged.conf')), 'NetworkManager keeps the Wi-Fi');
    assert.ok(existsSync(join(root, 'opt/piwire/node_modules/raw-socket/build/Release/raw.node')), 'the raw-socket addon is installed');
    assert.ok(statSync(join(root, 'opt/piwire/deploy/interfaces/piwire-rst-guard')).mode & 0o100, 'the RST guard helper is executable');
    const dropIn = readFileSync(join(root, 'etc/systemd/system/piwire.service.d/ip-link.conf'), 'utf8');
    assert.match(dropIn, /^RestrictAddressFamilies=AF_INET AF_NETLINK$/m, 'raw IPv4 sockets and nft allowed');
    assert.match(dropIn, /^AmbientCapabilities=CAP_NET_ADMIN$/m);
    // The configuration as installed is one the firmware accepts.
    assert.doesNotThrow(() => loadConfig({ file: join(root, 'etc/piwire/config.json'), flags: {} }));
    const removed = runScript(join(checkout, 'deploy/install.sh'), ['--root', root, '--uninstall']);
    assert.equal(removed.status, 0, describeRun(removed));
    assert.ok(!existsSync(join(root, 'etc/systemd/system/piwire.service.d')), 'the drop-in goes with the unit');
  });
});
