/**
 * The systemd unit's exposure, as `systemd-analyze security --offline=true` rates it
 * (issue 17: at most 1.5, so hardening cannot creep back), and the settings that keep
 * what the service needs: AF_PACKET and CAP_NET_RAW for the packet link, the I2C and
 * GPIO devices, a private state directory. The drop-ins for the other link modes add
 * exactly what those modes need and are rated too.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandExists, REPOSITORY_ROOT } from './support.ts';

const UNIT = join(REPOSITORY_ROOT, 'deploy/systemd/piwire.service');
const MAX_EXPOSURE = 1.5;

/** The overall exposure of `piwire.service`, with `dropIn` (a file of deploy/systemd/) applied when given. */
function exposure(dropIn?: string): { level: number; report: string } {
  const root = mkdtempSync(join(tmpdir(), 'piwire-security-'));
  try {
    const unitDirectory = join(root, 'etc/systemd/system');
    mkdirSync(join(unitDirectory, 'piwire.service.d'), { recursive: true });
    copyFileSync(UNIT, join(unitDirectory, 'piwire.service'));
    if (dropIn !== undefined) copyFileSync(join(REPOSITORY_ROOT, 'deploy/systemd', dropIn), join(unitDirectory, 'piwire.service.d', dropIn));
    const result = spawnSync('systemd-analyze', ['security', '--offline=true', `--root=${root}`, '--no-pager', 'piwire.service'], { encoding: 'utf8' });
    const report = `${result.stdout}${result.stderr}`;
    const match = /Overall exposure level for piwire\.service: ([0-9.]+)/.exec(report);
    assert.ok(match?.[1], `no exposure level in:\n${report}`);
    return { level: Number(match[1]), report };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** The lines of the report for one check, e.g. `RestrictAddressFamilies=~AF_PACKET`. */
function check(report: string, name: string): string {
  const line = report.split('\n').find((candidate) => candidate.includes(` ${name} `));
  assert.ok(line, `${name} is not in the report`);
  return line;
}

function settings(text: string, key: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${key}=`))
    .map((line) => line.slice(key.length + 1));
}

describe('systemd unit exposure', { skip: commandExists('systemd-analyze') ? false : 'systemd-analyze is missing (apt-get install systemd)' }, () => {
  it(`rates the unit at ${MAX_EXPOSURE} or better`, () => {
    const { level, report } = exposure();
    assert.ok(level <= MAX_EXPOSURE, `exposure ${level} > ${MAX_EXPOSURE}:\n${report}`);
    // The denials that the rating rewards, each one checked by systemd itself.
    for (const name of ['RestrictAddressFamilies=~AF_(INET|INET6)', 'RestrictAddressFamilies=~AF_NETLINK', 'SystemCallFilter=~@privileged', 'SystemCallFilter=~@resources', 'CapabilityBoundingSet=~CAP_NET_ADMIN', 'ProtectKernelTunables=', 'UMask=', 'IPAddressDeny=', 'NotifyAccess=']) {
      assert.match(check(report, name), /^✓/, `${name} is not denied:\n${report}`);
    }
  });

  it('keeps what the packet link, the LEDs, the sensors and the state need', () => {
    const unit = readFileSync(UNIT, 'utf8');
    assert.deepEqual(settings(unit, 'RestrictAddressFamilies'), ['AF_PACKET AF_UNIX']);
    assert.deepEqual(settings(unit, 'AmbientCapabilities'), ['CAP_NET_RAW']);
    assert.deepEqual(settings(unit, 'CapabilityBoundingSet'), ['CAP_NET_RAW']);
    assert.deepEqual(settings(unit, 'DevicePolicy'), ['closed']);
    assert.deepEqual(settings(unit, 'DeviceAllow'), ['char-i2c rw', '/dev/gpiochip0 rw', '/dev/gpiomem rw']);
    assert.deepEqual(settings(unit, 'SupplementaryGroups'), ['gpio i2c']);
    assert.deepEqual(settings(unit, 'ReadWritePaths'), ['-/sys/devices/platform -/sys/class/gpio'], 'the LED class and sysfs GPIO stay writable under ProtectKernelTunables');
    assert.deepEqual(settings(unit, 'StateDirectory'), ['piwire']);
    assert.deepEqual(settings(unit, 'StateDirectoryMode'), ['0700']);
    assert.deepEqual(settings(unit, 'UMask'), ['0077']);
    assert.deepEqual(settings(unit, 'NotifyAccess'), ['main'], 'the firmware notifies from its main process (native addon)');
  });

  it('the IP-link drop-in adds AF_INET (raw sockets), lifts the IP deny list, and allows the nftables check', () => {
    const dropIn = readFileSync(join(REPOSITORY_ROOT, 'deploy/systemd/ip-link.conf'), 'utf8');
    // AF_NETLINK and CAP_NET_ADMIN: the firmware reads its RST guard rule with `nft list`
    // at start-up (hal/link/ip-guard.ts) and refuses to start without it.
    assert.deepEqual(settings(dropIn, 'RestrictAddressFamilies'), ['AF_INET AF_NETLINK']);
    assert.deepEqual(settings(dropIn, 'AmbientCapabilities'), ['CAP_NET_ADMIN']);
    const { report } = exposure('ip-link.conf');
    assert.match(check(report, 'RestrictAddressFamilies=~AF_(INET|INET6)'), /^✗/, 'raw IPv4 sockets are allowed');
    assert.match(check(report, 'RestrictAddressFamilies=~AF_PACKET'), /^✗/);
    assert.match(check(report, 'CapabilityBoundingSet=~CAP_NET_ADMIN'), /^✗/);
  });

  it('the TAP drop-in adds CAP_NET_ADMIN and /dev/net/tun', () => {
    const { report } = exposure('tap-link.conf');
    assert.match(check(report, 'CapabilityBoundingSet=~CAP_NET_ADMIN'), /^✗/);
    assert.match(check(report, 'DeviceAllow='), /\/dev\/net\/tun:rw/);
    assert.match(check(report, 'RestrictAddressFamilies=~AF_(INET|INET6)'), /^✓/);
  });
});
