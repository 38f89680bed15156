/**
 * `--ip dhcp` against real DHCP servers (SPEC §2, issue 16), started by the test in the
 * LAN namespace of a veth topology:
 *
 * - Debian's `dnsmasq`, authoritative for 198.18.0.100–150: the firmware starts with a
 *   kept lease for 198.18.0.77 (outside the range), so its INIT-REBOOT is NAKed; it
 *   starts over, binds an address from the range after the RFC 5227 probe, serves on it
 *   (ping, TCP echo), shows router and lease in the shell's `status`, keeps the lease
 *   under the state directory, and a restart gets the same address back by INIT-REBOOT.
 * - Debian's `isc-dhcp-server` with 20-second leases: the firmware renews at T1; then the
 *   server goes away, the lease runs out (REBINDING at T2, `dhcp_lost` at expiry, fault 2,
 *   the open TCP connection told), and when the server returns the address comes back
 *   and fault 2 clears.
 *
 * Every wait is a hang guard, never a performance limit.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns, createTopology, describeResult, exec, spawnInNamespace, VETH_PEER_ADDRESS, type Topology } from '../support/netns.ts';
import { REPOSITORY_ROOT, startFirmware, type FirmwareProcess, type LogLine } from '../support/firmware-process.ts';
import { suiteEnvironment, type Cleanup } from '../support/suite.ts';
import { createStoredSecret, formatStoredSecret } from '../../src/services/shell/auth.ts';

const availability = canUseNetns();
const hasTool = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const skipFor = (tools: string[]): string | false => {
  if (!availability.ok) return `integration: needs root and network namespaces: ${availability.reason}`;
  const missing = tools.filter((tool) => !hasTool(tool));
  return missing.length > 0 ? `integration: missing ${missing.join(', ')} (Debian: dnsmasq-base, isc-dhcp-server)` : false;
};

const SECRET = 'dhcp test secret';
const USER = 'op';
const KEPT_ADDRESS = '198.18.0.77';

function addressInRange(address: string, first: number, last: number): boolean {
  const match = /^198\.18\.0\.(\d+)$/.exec(address);
  return match !== null && Number(match[1]) >= first && Number(match[1]) <= last;
}

/** A server process in the LAN namespace, with its output kept for failure messages. */
interface Server {
  process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

function startServer(namespace: string, argv: string[]): Server {
  const child = spawnInNamespace(namespace, argv);
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    process: child,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

async function makeDirectory(cleanups: Cleanup[]): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'pw-dhcp-'));
  cleanups.push(() => rm(directory, { recursive: true, force: true }));
  return directory;
}

function launchFirmware(topology: Topology, directory: string, extra: string[], cleanups: Cleanup[]): FirmwareProcess {
  const firmware = startFirmware({
    namespace: topology.deviceNamespace,
    args: ['--link', topology.linkSpec, '--ip', 'dhcp', '--diag', '--log', 'json', '--state-dir', join(directory, 'state'), ...extra],
    readyTimeoutMs: 90_000,
  });
  cleanups.push(() => firmware.stop());
  return firmware;
}

const byEvent = (firmware: FirmwareProcess, name: string): LogLine[] => firmware.events(name);

describe('DHCP client against dnsmasq (authoritative: NAKs a foreign address)', { skip: skipFor(['dnsmasq']) }, () => {
  const environment = suiteEnvironment(skipFor(['dnsmasq']), async (cleanups) => {
    const directory = await makeDirectory(cleanups);
    const topology = await createTopology({ mtu: 1500, prefix: 'pw' });
    cleanups.push(() => topology.destroy());
    const dnsmasq = startServer(topology.peerNamespace, [
      'dnsmasq',
      '--no-daemon',
      '--conf-file=/dev/null',
      '--port=0',
      `--interface=${topology.peerInterface}`,
      '--bind-interfaces',
      '--dhcp-authoritative',
      '--dhcp-range=198.18.0.100,198.18.0.150,255.255.255.0,10m',
      `--dhcp-option=option:router,${VETH_PEER_ADDRESS}`,
      `--dhcp-leasefile=${join(directory, 'dnsmasq.leases')}`,
      '--pid-file=',
      '--log-dhcp',
      '--user=root',
    ]);
    cleanups.push(() => dnsmasq.stop());
    // A lease kept from "another network": INIT-REBOOT asks for it, dnsmasq refuses.
    await mkdir(join(directory, 'state', 'dhcp'), { recursive: true });
    await writeFile(
      join(directory, 'state', 'dhcp', 'lease.json'),
      JSON.stringify({ address: KEPT_ADDRESS, prefixLength: 24, router: null, server: '198.18.5.1', leaseSeconds: 3600, expiresAtUnixMs: Date.now() + 3_600_000 }),
    );
    const stored = formatStoredSecret(await createStoredSecret(SECRET, randomBytes(16)));
    const configFile = join(directory, 'config.json');
    await writeFile(configFile, JSON.stringify({ services: { shell: { users: { [USER]: stored } } } }));
    const secretFile = join(directory, 'secret');
    await writeFile(secretFile, `${SECRET}\n`, { mode: 0o600 });
    const firmware = launchFirmware(topology, directory, ['--config', configFile], cleanups);
    const ready = await firmware.ready.catch((error: unknown) => {
      throw new Error(`${String(error)}\n--- dnsmasq ---\n${dnsmasq.output()}`);
    });
    return { directory, topology, dnsmasq, firmware, ready, configFile, secretFile };
  });

  it('INIT-REBOOT for a foreign kept address is NAKed; the client starts over and binds an address from the range', () => {
    const { firmware, ready, dnsmasq } = environment();
    const naks = byEvent(firmware, 'dhcp_nak');
    assert.equal(naks.length, 1, JSON.stringify(naks));
    assert.equal(naks[0]!['state'], 'REBOOTING');
    assert.equal(naks[0]!['server'], VETH_PEER_ADDRESS);
    assert.equal(byEvent(firmware, 'dhcp_start')[0]?.['previous'], KEPT_ADDRESS);
    assert.ok(addressInRange(ready.ip, 100, 150), `ready.ip ${ready.ip}\n${dnsmasq.output()}`);
    assert.equal(ready['prefix'], 24);
    assert.equal(ready['gateway'], VETH_PEER_ADDRESS);
    assert.equal(ready['addressSource'], 'dhcp');
    const bound = byEvent(firmware, 'dhcp_bound');
    assert.equal(bound.length, 1);
    assert.equal(bound[0]!['ip'], ready.ip);
    assert.equal(bound[0]!['leaseSeconds'], 600);
    assert.match(dnsmasq.output(), /DHCPNAK\(veth-lan\) 198\.18\.0\.77/);
    assert.match(dnsmasq.output(), new RegExp(`DHCPACK\\(veth-lan\\) ${ready.ip.replaceAll('.', '\\.')} ${ready.mac}`));
  });

  it('probed the address with three RFC 5227 ARP probes before using it, and keeps the lease in the state directory', async () => {
    const { firmware, ready, directory } = environment();
    const stats = await shell(environment(), ['-c', 'stats --json']);
    assert.equal(stats.code, 0, describeResult(stats));
    const counters = JSON.parse(stats.stdout) as Record<string, number>;
    assert.equal(counters['arp.tx.probe'], 3, 'PROBE_NUM probes, for the one address bound');
    assert.equal(counters['dhcp.bound'], 1);
    assert.equal(counters['dhcp.rx.nak'], 1);
    assert.ok(firmware.events('dhcp_state').some((line) => line['to'] === 'PROBING'));
    const kept = JSON.parse(await readFile(join(directory, 'state', 'dhcp', 'lease.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(kept['address'], ready.ip);
    assert.equal(kept['router'], VETH_PEER_ADDRESS);
    assert.equal(kept['server'], VETH_PEER_ADDRESS);
    assert.equal(kept['leaseSeconds'], 600);
  });

  it('serves on the leased address: ping and TCP echo from the kernel', async () => {
    const { topology, ready } = environment();
    const ping = await exec(topology.peerNamespace, ['ping', '-c', '2', '-W', '5', ready.ip], { timeoutMs: 20_000 });
    assert.equal(ping.code, 0, describeResult(ping));
    const echo = await exec(topology.peerNamespace, ['sh', '-c', `printf 'hello dhcp\\n' | nc -q 2 -w 10 ${ready.ip} 7`], { timeoutMs: 20_000 });
    assert.equal(echo.stdout, 'hello dhcp\n', describeResult(echo));
  });

  it("the shell's status shows the DHCP state, server, router and lease", async () => {
    const env = environment();
    const result = await shell(env, ['-c', 'status --json']);
    assert.equal(result.code, 0, describeResult(result));
    const status = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.equal(status['ip'], `${env.ready.ip}/24`);
    assert.equal(status['addressSource'], 'dhcp');
    assert.equal(status['dhcp'], 'BOUND');
    assert.equal(status['dhcpServer'], VETH_PEER_ADDRESS);
    assert.equal(status['router'], VETH_PEER_ADDRESS);
    assert.match(String(status['lease']), /^600 s, renew in \d+ s, expires in \d+ s$/);
    const text = await shell(env, ['-c', 'status']);
    assert.match(text.stdout, /^router: 198\.18\.0\.1$/m, describeResult(text));
  });

  it('a restart asks for the kept address (INIT-REBOOT) and gets it back without a DISCOVER', async (t) => {
    const env = environment();
    const status = await env.firmware.stop();
    assert.ok(status.code === 0 || status.signal === 'SIGTERM', JSON.stringify(status));
    const cleanups: Cleanup[] = [];
    t.after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });
    const again = launchFirmware(env.topology, env.directory, ['--config', env.configFile], cleanups);
    const ready = await again.ready;
    assert.equal(ready.ip, env.ready.ip);
    assert.equal(again.events('dhcp_start')[0]?.['previous'], env.ready.ip);
    assert.equal(again.events('dhcp_nak').length, 0);
    assert.ok(!again.events('dhcp_state').some((line) => line['to'] === 'SELECTING'), 'no DISCOVER was needed');
  });
});

async function shell(env: { topology: Topology; ready: { ip: string }; secretFile: string }, args: string[]) {
  return exec(
    env.topology.peerNamespace,
    [process.execPath, '--import', 'tsx', 'firmware/main.ts', 'shell', env.ready.ip, '--user', USER, '--secret-file', env.secretFile, ...args],
    { cwd: REPOSITORY_ROOT, timeoutMs: 60_000 },
  );
}

const ISC_LEASE_SECONDS = 20;

describe('DHCP client against isc-dhcp-server (short leases; the server goes away)', { skip: skipFor(['dhcpd', 'nc']) }, () => {
  const environment = suiteEnvironment(skipFor(['dhcpd', 'nc']), async (cleanups) => {
    const directory = await makeDirectory(cleanups);
    const topology = await createTopology({ mtu: 1500, prefix: 'pw' });
    cleanups.push(() => topology.destroy());
    const configuration = join(directory, 'dhcpd.conf');
    await writeFile(
      configuration,
      [
        'authoritative;',
        `default-lease-time ${ISC_LEASE_SECONDS};`,
        `max-lease-time ${ISC_LEASE_SECONDS};`,
        `min-lease-time ${ISC_LEASE_SECONDS};`,
        'ddns-update-style none;',
        'subnet 198.18.0.0 netmask 255.255.255.0 {',
        '  range 198.18.0.160 198.18.0.170;',
        `  option routers ${VETH_PEER_ADDRESS};`,
        '}',
        '',
      ].join('\n'),
    );
    const leases = join(directory, 'dhcpd.leases');
    await writeFile(leases, '');
    // Debian's AppArmor profile for /usr/sbin/dhcpd (enforced where AppArmor is on) would
    // keep it from reading a configuration under /tmp; a copy elsewhere runs unconfined.
    const dhcpd = join(directory, 'dhcpd');
    await copyFile(spawnSync('sh', ['-c', 'command -v dhcpd'], { encoding: 'utf8' }).stdout.trim(), dhcpd);
    await chmod(dhcpd, 0o755);
    const serverArgv = [dhcpd, '-4', '-f', '-d', '-cf', configuration, '-lf', leases, '-pf', join(directory, 'dhcpd.pid'), topology.peerInterface];
    let server = startServer(topology.peerNamespace, serverArgv);
    cleanups.push(() => server.stop());
    const firmware = launchFirmware(topology, directory, [], cleanups);
    const ready = await firmware.ready.catch((error: unknown) => {
      throw new Error(`${String(error)}\n--- dhcpd ---\n${server.output()}`);
    });
    return {
      topology,
      firmware,
      ready,
      server: () => server,
      restartServer: () => {
        server = startServer(topology.peerNamespace, serverArgv);
      },
    };
  });

  it('binds a 20 s lease and renews it at T1 (unicast to the server)', async () => {
    const { firmware, ready, server } = environment();
    assert.ok(addressInRange(ready.ip, 160, 170), `${ready.ip}\n${server().output()}`);
    assert.equal(firmware.events('dhcp_bound')[0]?.['leaseSeconds'], ISC_LEASE_SECONDS);
    const renewed = await firmware.waitForEvent('dhcp_renewed', () => true, 30_000);
    assert.equal(renewed['ip'], ready.ip);
    assert.match(server().output(), new RegExp(`DHCPREQUEST for ${ready.ip.replaceAll('.', '\\.')} from ${ready.mac}`));
  });

  it('the server goes away: REBINDING at T2, the lease runs out, connections are told, fault 2; it comes back with the server', async () => {
    const { firmware, ready, topology, server, restartServer } = environment();
    // A TCP connection that is open when the lease ends.
    const held = spawnInNamespace(topology.peerNamespace, ['sh', '-c', `sleep 60 | nc ${ready.ip} 7`]);
    try {
      const opened = await firmware.waitForEvent('conn_open', (line) => line['local'] === `${ready.ip}:7`, 15_000);
      await server().stop();
      await firmware.waitForEvent('dhcp_state', (line) => line['to'] === 'REBINDING', 30_000);
      const lost = await firmware.waitForEvent('dhcp_lost', () => true, 30_000);
      assert.equal(lost['reason'], 'expired');
      assert.equal(lost['ip'], ready.ip);
      const fault = await firmware.waitForEvent('fault', (line) => line['code'] === 2, 5_000);
      assert.match(String(fault['text']), /expired/);
      const closed = await firmware.waitForEvent('conn_close', (line) => line['id'] === opened['id'], 5_000);
      assert.equal(closed['reason'], 'aborted');
      restartServer();
      const after = (line: LogLine): boolean => firmware.logs.indexOf(line) > firmware.logs.indexOf(lost);
      const bound = await firmware.waitForEvent('dhcp_bound', after, 60_000);
      assert.equal(bound['ip'], ready.ip, 'isc-dhcp-server gives the client its address back');
      await firmware.waitForEvent('fault_cleared', (line) => line['code'] === 2 && after(line), 5_000);
      await firmware.waitForEvent('led', (line) => line['led'] === 'link' && line['pattern'] === 'solid' && after(line), 5_000);
      assert.equal(firmware.exitStatus(), undefined);
      const ping = await exec(topology.peerNamespace, ['ping', '-c', '1', '-W', '5', ready.ip], { timeoutMs: 20_000 });
      assert.equal(ping.code, 0, describeResult(ping));
    } finally {
      held.kill('SIGKILL');
    }
  });
});
