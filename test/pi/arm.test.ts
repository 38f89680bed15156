/**
 * Runs on the Pi, emulated: piwire installed, built and run on 64-bit (arm64) and
 * 32-bit (armv7) ARM Debian systems through qemu-user, on this x86 machine.
 *
 * For each architecture: a cached Debian root file system with Node for ARM
 * (test/pi/rootfs.sh), a clean copy of the checkout in a throw-away overlay over it
 * (test/pi/chroot.sh), then
 *  1. `npm ci` there: the dependencies and the native addon, built for ARM; raw-socket
 *     (IP mode's addon) built for ARM too, loaded, and pinging the kernel over veth
 *     through a raw socket with IP_HDRINCL (raw-socket-probe.mjs);
 *  2. the simulated board (`run` with no link flags) answers the sensor protocol on
 *     localhost, checked from the kernel side with the protocol client;
 *  3. the firmware on a TAP link answers ping and echoes 1 MiB byte for byte;
 *  4. (arm64) the unit-level suites, run by the ARM node (UNIT_SUITES below);
 *  5. (arm64) a full VM with the installed systemd unit, checked from the host (vm-check.ts).
 * The AF_PACKET link cannot open under qemu-user (it does not translate
 * PACKET_AUXDATA, PACKET_ADD_MEMBERSHIP, ...): step 5 boots a full system for that.
 *
 * Everything runs in namespaces made here: the chroot in a private mount and PID
 * namespace (gone with its last process), the network in a `pw-tap-*` namespace
 * (198.18.1.0/24 only). The root file systems are cached under /var/cache/piwire-pi.
 * Skips with one line when not root, or when binfmt/qemu-user cannot be set up.
 * `PIWIRE_PI=0` skips the stage on purpose (a quick local run).
 *
 * Bounds on waits are hang guards sized for emulation (roughly 10-20x slower than the
 * host), never performance assertions; timings are reported as diagnostics.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTapTopology, createTopology, describeResult, exec, execOrThrow, runClient } from '../support/netns.ts';
import { startFirmware } from '../support/firmware-process.ts';
import { architectures, ELF_MACHINE, NODE_ARCH, PI_SCRIPTS, piStageSkipReason } from './stage.ts';
import { assertRawSocketProbe, assertSensorProtocol, RAW_SOCKET_PROBE } from './checks.ts';
import { describeVirtualMachine } from './vm-check.ts';

const skip = piStageSkipReason();

/**
 * The unit-level suites run on arm64: the codecs, storage, interface layer, sensors,
 * diagnostics, TCP and sockets (everything that needs no namespace, root or firmware
 * process; not test/fuzz, test/hal, test/firmware). They run in one node process: under
 * emulation a process per file costs ~10 s of start-up each, more than the tests.
 */
const UNIT_SUITES = ['test/wire', 'test/storage', 'test/net', 'test/sensors', 'test/diag', 'test/tcp', 'test/socket'];

const MiB = 1024 * 1024;
const BUILD_TIMEOUT_MS = 20 * 60_000;
const ROOTFS_TIMEOUT_MS = 30 * 60_000;
const READY_TIMEOUT_MS = 180_000;

describe('emulated Raspberry Pi (qemu-user)', { skip }, () => {
  for (const arch of architectures()) {
    describe(arch, () => {
      let session: string | undefined;
      let setupError: unknown;
      const chroot = (argv: readonly string[]): string[] => ['bash', join(PI_SCRIPTS, 'chroot.sh'), 'run', session!, ...argv];

      before(
        async () => {
          try {
            const rootfs = await execOrThrow(undefined, ['bash', join(PI_SCRIPTS, 'rootfs.sh'), arch], { timeoutMs: ROOTFS_TIMEOUT_MS });
            const created = await execOrThrow(undefined, ['bash', join(PI_SCRIPTS, 'chroot.sh'), 'new', arch, rootfs.stdout.trim()]);
            session = created.stdout.trim();
          } catch (error) {
            setupError = error;
          }
        },
        { timeout: ROOTFS_TIMEOUT_MS + 60_000 },
      );
      after(async () => {
        if (session !== undefined) await exec(undefined, ['bash', join(PI_SCRIPTS, 'chroot.sh'), 'remove', session]);
      });
      const ready = (): void => {
        if (setupError !== undefined) throw setupError;
        assert.ok(session, 'no session');
      };

      it('installs and builds from a clean copy of the checkout (npm ci, native addon for ARM)', { timeout: BUILD_TIMEOUT_MS + 10_000 }, async (t) => {
        ready();
        const install = await exec(undefined, chroot(['npm', 'ci', '--no-audit', '--no-fund']), { timeoutMs: BUILD_TIMEOUT_MS });
        assert.equal(install.code, 0, describeResult(install));
        t.diagnostic(`npm ci under emulation: ${(install.elapsedMs / 1000).toFixed(1)} s`);
        const addon = await readFile(join(session!, 'upper/build/build/Release/piwire_link.node'));
        assert.equal(addon.subarray(0, 4).toString('latin1'), '\x7fELF');
        assert.equal(addon.readUInt16LE(18), ELF_MACHINE[arch], 'the addon is built for the emulated CPU');
        const versions = await execOrThrow(undefined, chroot(['node', '-p', 'process.arch + " " + process.version']));
        t.diagnostic(`node on the emulated system: ${versions.stdout.trim()}`);
        assert.equal(versions.stdout.trim().split(' ')[0], NODE_ARCH[arch]);
      });

      it("builds raw-socket (IP mode's addon) for ARM: it loads and pings the kernel through a raw socket", { timeout: 180_000 }, async (t) => {
        ready();
        const addon = await readFile(join(session!, 'upper/build/node_modules/raw-socket/build/Release/raw.node'));
        assert.equal(addon.subarray(0, 4).toString('latin1'), '\x7fELF');
        assert.equal(addon.readUInt16LE(18), ELF_MACHINE[arch], 'raw.node is built for the emulated CPU');
        // The device namespace's kernel owns the address, as in IP mode (--link ip:veth-dev).
        const topology = await createTopology({ mtu: 1500, prefix: 'pw', after: (fn) => t.after(fn) });
        await execOrThrow(topology.deviceNamespace, ['ip', 'addr', 'add', `${topology.deviceAddress}/${topology.prefixLength}`, 'dev', topology.deviceInterface]);
        const probe = await exec(topology.deviceNamespace, chroot(['node', RAW_SOCKET_PROBE, topology.deviceInterface, topology.peerAddress]), { timeoutMs: 120_000 });
        // SO_MARK (the RST guard's mark) is set for real on the arm64 VM's kernel (vm-check.ts).
        assertRawSocketProbe({ code: probe.code, output: probe.stdout, evidence: describeResult(probe) }, { nodeArch: NODE_ARCH[arch], peer: topology.peerAddress, mark: 'emulated' });
        t.diagnostic(`raw-socket on emulated ${arch}: ${probe.stdout.trim()}`);
      });

      it('runs the simulated board: the sensor protocol answers on localhost:7070', { timeout: READY_TIMEOUT_MS + 120_000 }, async (t) => {
        ready();
        const topology = await createTapTopology({ mtu: 1500, prefix: 'pw', after: (fn) => t.after(fn) });
        const started = performance.now();
        const firmware = startFirmware({
          namespace: topology.deviceNamespace,
          command: chroot(['node', '--import', 'tsx', 'firmware/main.ts']),
          args: ['--state-dir', '/tmp/piwire-state', '--log', 'json'],
          readyTimeoutMs: READY_TIMEOUT_MS,
          after: (fn) => t.after(fn),
        });
        await firmware.ready;
        t.diagnostic(`simulated board ready ${((performance.now() - started) / 1000).toFixed(1)} s after start (emulated)`);
        await assertSensorProtocol(topology.deviceNamespace);
      });

      it('owns a TAP link: ping, and 1 MiB through echo byte for byte', { timeout: READY_TIMEOUT_MS + 240_000 }, async (t) => {
        ready();
        const topology = await createTapTopology({ mtu: 1500, prefix: 'pw', after: (fn) => t.after(fn) });
        const firmware = startFirmware({
          namespace: topology.deviceNamespace,
          command: chroot(['node', '--import', 'tsx', 'firmware/main.ts']),
          args: [...topology.firmwareArgs(), '--diag', '--state-dir', '/tmp/piwire-state', '--log', 'json'],
          readyTimeoutMs: READY_TIMEOUT_MS,
          after: (fn) => t.after(fn),
        });
        await topology.attachPeer({ timeoutMs: READY_TIMEOUT_MS });
        await firmware.ready;
        const ping = await exec(topology.peerNamespace, ['ping', '-c', '3', '-W', '10', topology.deviceAddress], { timeoutMs: 60_000 });
        assert.equal(ping.code, 0, describeResult(ping));
        const echo = await runClient<{ sent: number; received: number; sentSha256: string; receivedSha256: string; eof: boolean; elapsedSeconds: number }>(
          topology.peerNamespace,
          'echo_bulk.py',
          [topology.deviceAddress, '7', String(MiB), '--idle-timeout', '60'],
          { timeoutMs: 180_000 },
        );
        assert.equal(echo.result.code, 0, describeResult(echo.result));
        const report = echo.report;
        assert.ok(report, echo.result.stdout);
        assert.equal(report.received, MiB);
        assert.equal(report.receivedSha256, report.sentSha256);
        assert.ok(report.eof, 'the echo closed after the half-close');
        t.diagnostic(`echo through the emulated ${arch} firmware: ${((2 * 8 * MiB) / report.elapsedSeconds / 1e6).toFixed(1)} Mbit/s (both directions, emulated)`);
      });

      if (arch === 'arm64') {
        it(`passes the unit-level suites on ARM (${UNIT_SUITES.join(', ')})`, { timeout: BUILD_TIMEOUT_MS + 10_000 }, async (t) => {
          ready();
          const run = await exec(
            undefined,
            chroot(['node', 'test/support/run-tests.mjs', '--one-process', ...UNIT_SUITES]),
            { timeoutMs: BUILD_TIMEOUT_MS },
          );
          assert.equal(run.code, 0, describeResult(run));
          t.diagnostic(`unit-level suites on emulated arm64: ${(run.elapsedMs / 1000).toFixed(0)} s`);
        });

        describeVirtualMachine(() => session!);
      }
    });
  }
});
