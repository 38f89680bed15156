/**
 * The installed firmware, started exactly as the installed unit says: the unit's
 * ExecStartPre (piwire-link up, dedicated layout, on the topology's veth) and then its
 * ExecStart line, with the installed paths mapped into the test tree, inside a network
 * namespace; it must reach `ready` on the packet link and answer ping and the sensor
 * protocol's PING, and the helper must have left the interface with no kernel address
 * and the offloads off. The unit runs the built bundle (dist/piwire.mjs) with plain
 * node: this is the test that the deployed artefact works, native addon included.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canUseNetns, createTopology, exec, SYSTEM_PYTHON, type VethTopology } from '../support/netns.ts';
import { startFirmware } from '../support/firmware-process.ts';
import { describeRun, freezeCheckout, makePiTree, runScript } from './support.ts';
import { nodeFlagsOfUnit } from '../../bench/lib/deployed-node-options.ts';

/** `Key=value` lines of a unit's [Service] section, in order. */
function serviceLines(unit: string, key: string): string[] {
  return unit
    .split('\n')
    .filter((line) => line.startsWith(`${key}=`))
    .map((line) => line.slice(key.length + 1));
}

/** One sensor-protocol exchange from the LAN side (SPEC §4): prints the reply line. */
const SENSOR_PING = [
  'import socket, sys',
  'with socket.create_connection((sys.argv[1], 7070), timeout=10) as s:',
  '    s.sendall(b"PING installed\\n")',
  '    data = b""',
  '    while not data.endswith(b"\\n"):',
  '        chunk = s.recv(100)',
  '        if not chunk: break',
  '        data += chunk',
  '    print(data.decode().strip())',
].join('\n');

const netns = canUseNetns();

describe('the installed unit in a network namespace', { skip: netns.ok ? false : `network namespaces unavailable: ${netns.ok ? '' : netns.reason}` }, () => {
  let root = '';
  let checkout = '';
  let topology: VethTopology | undefined;
  before(async () => {
    root = makePiTree('piwire-unit-');
    checkout = freezeCheckout();
    const installed = runScript(join(checkout, 'deploy/install.sh'), ['--root', root, '--from-tree', '--layout', 'dedicated', '--interface', 'veth-dev']);
    assert.equal(installed.status, 0, describeRun(installed));
    topology = await createTopology({ mtu: 1500 });
  });
  after(async () => {
    await topology?.destroy();
    rmSync(root, { recursive: true, force: true });
    rmSync(checkout, { recursive: true, force: true });
  });

  it('runs ExecStartPre and ExecStart from the installed tree and reaches ready', async (t) => {
    assert.ok(topology);
    const mapPath = (text: string): string => text.replaceAll('/opt/piwire', join(root, 'opt/piwire')).replaceAll('/etc/piwire', join(root, 'etc/piwire'));
    const unit = readFileSync(join(root, 'etc/systemd/system/piwire.service'), 'utf8');

    // What the operator sets for this site: the veth's addresses, and what this test
    // machine has (virtual LEDs and simulated I2C instead of the Pi's), state in the tree.
    const configPath = join(root, 'etc/piwire/config.json');
    const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown> & { net: object; leds: object; services: object };
    config.net = { ...config.net, ip: `${topology.deviceAddress}/${topology.prefixLength}`, gateway: topology.peerAddress };
    config.leds = { ...config.leds, driver: 'virtual' };
    config['i2c'] = { bus: 'sim' };
    config['stateDir'] = join(root, 'var/lib/piwire');
    config.services = { ...config.services, diag: true };
    writeFileSync(configPath, JSON.stringify(config, null, 2));
    assert.equal(config['link'], 'packet:veth-dev', 'the installer wrote the interface it was given');

    // Dirty the interface the way a careless OS would: the helper must clean it.
    await exec(topology.deviceNamespace, ['ip', 'address', 'add', '198.18.0.99/24', 'dev', 'veth-dev']);
    await exec(topology.deviceNamespace, ['ethtool', '-K', 'veth-dev', 'tx', 'on']);

    const [pre] = serviceLines(unit, 'ExecStartPre');
    assert.ok(pre !== undefined && pre.startsWith('+'), 'the helper runs with full privileges');
    const preArgv = mapPath(pre.slice(1)).split(' ');
    const helper = await exec(topology.deviceNamespace, [preArgv[0]!, '--config', join(root, 'etc/piwire/link.env'), ...preArgv.slice(1)]);
    assert.equal(helper.code, 0, helper.stderr + helper.stdout);
    const check = await exec(topology.deviceNamespace, [preArgv[0]!, '--config', join(root, 'etc/piwire/link.env'), 'check']);
    assert.equal(check.code, 0, check.stderr + check.stdout);
    const addresses = await exec(topology.deviceNamespace, ['ip', '-o', '-4', 'address', 'show', 'dev', 'veth-dev']);
    assert.equal(addresses.stdout.trim(), '', 'the kernel holds no IPv4 address on the interface');

    const [start] = serviceLines(unit, 'ExecStart');
    assert.ok(start);
    const argv = mapPath(start).split(' ');
    assert.equal(argv[0], '/usr/bin/node');
    // node, its flags (V8 heap sizing, read as the bench reads them), the bundle, the command.
    const nodeFlags = nodeFlagsOfUnit(unit);
    const script = 1 + nodeFlags.length;
    assert.deepEqual(argv.slice(1, script), nodeFlags);
    assert.equal(argv[script], join(root, 'opt/piwire/dist/piwire.mjs'), 'the unit runs the built bundle');
    assert.deepEqual(argv.slice(script + 1), ['run', '--config', configPath]);
    // The unit's node is the target's; here the one running the tests, as plain node
    // (no TypeScript loader: the installed tree has none), with the unit's flags.
    const firmware = startFirmware({
      namespace: topology.deviceNamespace,
      args: argv.slice(script + 2),
      command: [process.execPath, ...nodeFlags, argv[script]!],
      after: (fn) => t.after(fn),
      env: { NODE_ENV: 'production' },
    });
    const ready = await firmware.ready;
    assert.equal(ready.ip, topology.deviceAddress);
    assert.equal(ready['link'], 'packet:veth-dev');
    const ping = await topology.execPeer(['ping', '-c', '1', '-W', '5', topology.deviceAddress]);
    assert.equal(ping.code, 0, `the installed firmware answers ping\n${ping.stdout}${ping.stderr}\n${firmware.describe()}`);
    // The sensor service on the device's own TCP (the native addon's packet link, loaded
    // from the installed tree's build/Release through the bundle).
    const pong = await topology.execPeer([SYSTEM_PYTHON, '-c', SENSOR_PING, topology.deviceAddress], { timeoutMs: 30_000 });
    assert.equal(pong.stdout.trim(), 'PONG installed', `the installed firmware answers PING on 7070\n${pong.stderr}\n${firmware.describe()}`);
    await firmware.stop();
  });
});
