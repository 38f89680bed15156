/**
 * The arm64 VM part of the emulated-Pi stage (registered by arm.test.ts inside its
 * arm64 suite, after the build): a full Debian arm64 system under
 * qemu-system-aarch64, where the AF_PACKET link works (qemu-user cannot translate it).
 *
 * The VM gets the checkout built by the arm64 user-mode session as a disk (/build).
 * Inside, through the agent (vm.ts): deploy/install.sh --from-tree installs the program
 * and the systemd unit for a dedicated NIC (eth0, the VM's virtio NIC), the
 * configuration gets the test addresses, `systemctl start piwire` waits for the unit's
 * READY=1 (Type=notify). From the host, in the test's `pw-tap-*` namespace on the VM's
 * TAP (198.18.1.1, offloads off: the host must not send partial checksums), the
 * kernel's TCP checks: ping, the sensor protocol, 1 MiB through echo byte for byte, a
 * cable pull (QEMU's `set_link net0 off`) seen as fault 1 and cleared when the cable
 * comes back, and `systemctl stop` (SIGTERM) ending in a clean `stopped`. Before that,
 * the raw-socket addon (IP mode) built for arm64 pings through a raw socket with every
 * option IP mode sets: SO_MARK is the one qemu-user cannot translate.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import {
  createTapTopology,
  delay,
  describeResult,
  exec,
  execOrThrow,
  runClient,
  spawnInNamespace,
  TAP_DEVICE_ADDRESS,
  TAP_PEER_ADDRESS,
  PREFIX_LENGTH,
  type TapTopology,
} from '../support/netns.ts';
import { PI_SCRIPTS } from './stage.ts';
import { assertRawSocketProbe, RAW_SOCKET_PROBE } from './checks.ts';
import { connectAgent, monitorCommand, type Agent } from './vm.ts';

/** Bounds (hang guards for a TCG-emulated system, never performance limits). */
const IMAGE_TIMEOUT_MS = 40 * 60_000;
const BOOT_TIMEOUT_MS = 300_000;
const START_TIMEOUT_MS = 300_000;
const EVENT_TIMEOUT_MS = 120_000;
const VM_TAP = 'pwvm0';
/** A locally administered MAC (IEEE 802: bit 1 of the first octet). */
const VM_MAC = '02:00:5e:12:01:02';
const MiB = 1024 * 1024;

interface VirtualMachine {
  topology: TapTopology;
  agent: Agent;
  workdir: string;
}

/** Runs in the VM and fails with the command's output unless it exits 0. */
async function inVm(vm: VirtualMachine, command: string, timeoutMs?: number): Promise<string> {
  const result = await vm.agent.run(command, timeoutMs);
  assert.equal(result.status, 0, `in the VM: ${command}\n${result.output}`);
  return result.output;
}

/** The firmware's log lines (JSON, one a line) from the journal. */
async function firmwareLog(vm: VirtualMachine): Promise<Record<string, unknown>[]> {
  const text = await inVm(vm, 'journalctl -u piwire -o cat --no-pager');
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        return {};
      }
    });
}

/** Polls the journal until a log line after the first `after` lines matches; returns it. */
async function waitForLog(vm: VirtualMachine, after: number, what: string, match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  const deadline = performance.now() + EVENT_TIMEOUT_MS;
  for (;;) {
    const found = (await firmwareLog(vm)).slice(after).find(match);
    if (found) return found;
    if (performance.now() > deadline) {
      throw new Error(`no ${what} in the firmware's log within ${EVENT_TIMEOUT_MS} ms:\n${await inVm(vm, 'journalctl -u piwire -o cat --no-pager | tail -n 40')}`);
    }
    await delay(2_000);
  }
}

/** `session`: the arm64 user-mode session (test/pi/chroot.sh); its built checkout is the VM's /build. */
export function describeVirtualMachine(session: () => string): void {
  describe('arm64 VM (qemu-system-aarch64, virt)', () => {
    let vm: VirtualMachine | undefined;
    let setupError: unknown;
    const cleanups: (() => Promise<unknown>)[] = [];

    before(
      async () => {
        try {
          vm = await bootVirtualMachine(session(), cleanups);
        } catch (error) {
          setupError = error;
        }
      },
      { timeout: IMAGE_TIMEOUT_MS + BOOT_TIMEOUT_MS + 120_000 },
    );
    after(
      async () => {
        for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => console.error(`VM cleanup failed: ${String(error)}`));
      },
      { timeout: 60_000 },
    );
    const machine = (): VirtualMachine => {
      if (setupError !== undefined) throw setupError;
      assert.ok(vm, 'the VM did not start');
      return vm;
    };

    it("loads raw-socket (IP mode) and sets every option IP mode sets, SO_MARK too, on a real arm64 kernel", async (t) => {
      const vm = machine();
      const result = await vm.agent.run(`cd /build && node ${RAW_SOCKET_PROBE} lo 127.0.0.1 --mark required`);
      assertRawSocketProbe({ code: result.status, output: result.output, evidence: result.output }, { nodeArch: 'arm64', peer: '127.0.0.1', mark: 'required' });
      t.diagnostic(`raw-socket in the arm64 VM: ${result.output.trim()}`);
    });

    it('installs with deploy/install.sh and starts the systemd unit (Type=notify, ready on packet:eth0)', { timeout: START_TIMEOUT_MS + 60_000 }, async (t) => {
      const vm = machine();
      await inVm(vm, '/build/deploy/install.sh --from-tree --no-apt --no-start --layout dedicated --interface eth0', START_TIMEOUT_MS);
      await inVm(
        vm,
        `node /opt/piwire/deploy/lib/config-edit.mjs /etc/piwire/config.json net.ip=${TAP_DEVICE_ADDRESS}/${PREFIX_LENGTH} net.gateway=${TAP_PEER_ADDRESS} leds.driver=virtual i2c.bus=sim services.diag=true`,
      );
      const started = performance.now();
      await inVm(vm, 'systemctl start piwire', START_TIMEOUT_MS);
      t.diagnostic(`systemctl start piwire (until READY=1) in the emulated VM: ${((performance.now() - started) / 1000).toFixed(1)} s`);
      assert.equal((await inVm(vm, 'systemctl is-active piwire')).trim(), 'active');
      const ready = (await firmwareLog(vm)).find((line) => line['event'] === 'ready');
      assert.ok(ready, 'ready in the journal');
      assert.equal(ready['link'], 'packet:eth0');
      assert.equal(ready['ip'], TAP_DEVICE_ADDRESS);
      assert.equal(ready['mac'], VM_MAC, "the dedicated NIC's own MAC");
      const user = (await inVm(vm, 'ps -o user= -p "$(systemctl show -p MainPID --value piwire)"')).trim();
      assert.equal(user, 'piwire', 'the firmware runs as the unprivileged user');
    });

    it('answers ping, the sensor protocol and 1 MiB through echo (SHA-256 equal) from the host', { timeout: 600_000 }, async (t) => {
      const vm = machine();
      const ping = await exec(vm.topology.peerNamespace, ['ping', '-c', '3', '-W', '10', TAP_DEVICE_ADDRESS], { timeoutMs: 60_000 });
      assert.equal(ping.code, 0, describeResult(ping));
      const sensors = await runClient<{ checked: number; mismatches: unknown[]; eof: boolean }>(
        vm.topology.peerNamespace,
        'sensor_client.py',
        [TAP_DEVICE_ADDRESS, '7070', '--puts', '20', '--timeout', '60'],
        { timeoutMs: 180_000 },
      );
      assert.equal(sensors.result.code, 0, describeResult(sensors.result));
      assert.ok(sensors.report && sensors.report.checked > 20 && sensors.report.mismatches.length === 0, sensors.result.stdout);
      const echo = await runClient<{ received: number; sentSha256: string; receivedSha256: string; eof: boolean; elapsedSeconds: number }>(
        vm.topology.peerNamespace,
        'echo_bulk.py',
        [TAP_DEVICE_ADDRESS, '7', String(MiB), '--idle-timeout', '60'],
        { timeoutMs: 300_000 },
      );
      assert.equal(echo.result.code, 0, describeResult(echo.result));
      assert.ok(echo.report, echo.result.stdout);
      assert.equal(echo.report.received, MiB);
      assert.equal(echo.report.receivedSha256, echo.report.sentSha256);
      t.diagnostic(`echo through the emulated VM: ${((2 * 8 * MiB) / echo.report.elapsedSeconds / 1e6).toFixed(1)} Mbit/s (both directions, TCG)`);
    });

    it('sees a cable pull as fault 1 and clears it when the cable is back', { timeout: 4 * EVENT_TIMEOUT_MS + 60_000 }, async () => {
      const vm = machine();
      const monitor = join(vm.workdir, 'monitor.sock');
      // Only what the firmware logs after the pull counts (start-up may log a carrier change too).
      const beforePull = (await firmwareLog(vm)).length;
      await monitorCommand(monitor, 'set_link net0 off');
      await waitForLog(vm, beforePull, 'carrier down', (line) => line['event'] === 'link' && line['carrier'] === 'down');
      await waitForLog(vm, beforePull, 'fault 1', (line) => line['event'] === 'fault' && line['code'] === 1);
      const beforeReplug = (await firmwareLog(vm)).length;
      await monitorCommand(monitor, 'set_link net0 on');
      await waitForLog(vm, beforeReplug, 'carrier up', (line) => line['event'] === 'link' && line['carrier'] === 'up');
      await waitForLog(vm, beforeReplug, 'fault 1 cleared', (line) => line['event'] === 'fault_cleared' && line['code'] === 1);
      const ping = await exec(vm.topology.peerNamespace, ['ping', '-c', '3', '-W', '10', TAP_DEVICE_ADDRESS], { timeoutMs: 60_000 });
      assert.equal(ping.code, 0, describeResult(ping));
    });

    it('stops cleanly on SIGTERM (systemctl stop): `stopped` logged, unit result success', { timeout: 180_000 }, async () => {
      const vm = machine();
      await inVm(vm, 'systemctl stop piwire', 120_000);
      const log = await firmwareLog(vm);
      assert.equal(log.at(-1)?.['event'], 'stopped', JSON.stringify(log.slice(-5)));
      const result = await inVm(vm, 'systemctl show -p Result --value piwire');
      assert.equal(result.trim(), 'success');
    });
  });
}

async function bootVirtualMachine(session: string, cleanups: (() => Promise<unknown>)[]): Promise<VirtualMachine> {
  const image = (await execOrThrow(undefined, ['bash', join(PI_SCRIPTS, 'vm-image.sh')], { timeoutMs: IMAGE_TIMEOUT_MS })).stdout.trim();
  // Inside the session: removed with it, also by the next run when this one was killed.
  const workdir = await mkdtemp(join(session, 'vm-'));
  cleanups.push(() => rm(workdir, { recursive: true, force: true }));
  const buildDisk = join(workdir, 'build.img');
  await execOrThrow(undefined, ['bash', join(PI_SCRIPTS, 'vm.sh'), 'disk', join(session, 'upper/build'), buildDisk], { timeoutMs: 300_000 });
  const topology = await createTapTopology({ mtu: 1500, prefix: 'pw', tapName: VM_TAP });
  cleanups.push(() => topology.destroy());
  const qemu = spawnInNamespace(topology.deviceNamespace, ['bash', join(PI_SCRIPTS, 'vm.sh'), 'run', image, buildDisk, workdir, VM_TAP, VM_MAC]);
  cleanups.push(() => stopQemu(qemu));
  let qemuOutput = '';
  qemu.stdout?.on('data', (chunk: Buffer) => (qemuOutput += chunk.toString()));
  qemu.stderr?.on('data', (chunk: Buffer) => (qemuOutput += chunk.toString()));
  try {
    await topology.attachPeer({ timeoutMs: 60_000 });
    const agent = await connectAgent(join(workdir, 'agent.sock'), BOOT_TIMEOUT_MS);
    cleanups.push(async () => agent.close());
    return { topology, agent, workdir };
  } catch (error) {
    const console = await execOrThrow(undefined, ['tail', '-n', '40', join(workdir, 'console.log')]).then((r) => r.stdout, () => '');
    throw new Error(`${String(error)}\n--- qemu ---\n${qemuOutput.slice(-2000)}\n--- VM console ---\n${console}`);
  }
}

async function stopQemu(qemu: ChildProcess): Promise<void> {
  if (qemu.exitCode !== null || qemu.signalCode !== null) return;
  const exited = new Promise((resolve) => qemu.once('exit', resolve));
  qemu.kill('SIGKILL');
  await exited;
}
