/**
 * The Docker image, emulated: the repository's Dockerfile built for linux/arm64 and
 * linux/arm/v7 without a Docker engine (buildah, `--isolation chroot`) and run once with
 * podman as the README says to run it (`--cap-drop ALL --cap-add NET_RAW --cap-add
 * NET_ADMIN`, host network), ARM code through qemu-user. test/pi/image.sh does the
 * building: the Dockerfile's base image (ARG NODE_IMAGE) is a local stand-in imported
 * from the stage's cached Debian root file system, since no image registry is reachable.
 *
 * For each architecture:
 *  1. the image builds (the addon and raw-socket from source, offline headers), is for
 *     the right platform, runs as `node`, and its firmware binary carries the file
 *     capabilities the README relies on;
 *  2. raw-socket (IP mode, issue 16) loads in the image and, run by the image's user
 *     and firmware binary, pings through a raw socket (raw-socket-probe.mjs);
 *  3. the image's default entry point runs the simulated board: `ready`, the sensor
 *     protocol answering on localhost:7070 (the container shares the test's `pw-tap-*`
 *     namespace: `--network host` there), and SIGTERM (podman's signal proxy) ending in
 *     a clean `stopped` with exit status 0.
 * Where podman differs from Docker: it puts the --cap-add capabilities in a non-root
 * user's ambient set, so `node` has NET_RAW and NET_ADMIN here without the image's file
 * capabilities (which Docker needs; they are checked present, but qemu-user ignores
 * them: binfmt without the `C` flag takes credentials from the interpreter). The packet
 * link cannot open under qemu-user at all: the arm64 VM (vm-check.ts) covers it.
 *
 * Skips with one line where the stage cannot run (stage.ts) or buildah/podman/runc are
 * missing; PIWIRE_PI_DOCKER=0 skips this part on purpose, PIWIRE_PI_ARCHES selects the
 * architectures. The built image keeps its tag in the stage's storage: the next build's
 * layer cache (image.sh). Bounds are hang guards for emulation, never performance limits.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createTapTopology, delay, describeResult, exec, type ExecResult } from '../support/netns.ts';
import { startFirmware } from '../support/firmware-process.ts';
import { architectures, NODE_ARCH, PI_SCRIPTS, piStageSkipReason, type PiArch } from './stage.ts';
import { assertRawSocketProbe, assertSensorProtocol, RAW_SOCKET_PROBE } from './checks.ts';
import { deployedNodeFlags } from '../../bench/lib/deployed-node-options.ts';

const IMAGE_SCRIPT = join(PI_SCRIPTS, 'image.sh');
const BUILD_TIMEOUT_MS = 45 * 60_000;
const RUN_TIMEOUT_MS = 180_000;
const READY_TIMEOUT_MS = 180_000;
const STOP_TIMEOUT_MS = 60_000;
/** The probe inside the container (bind-mounted read-only); the image's WORKDIR is /opt/piwire. */
const PROBE_IN_CONTAINER = '/tmp/raw-socket-probe.mjs';
const PLATFORM: Record<PiArch, { architecture: string; variant: string }> = {
  arm64: { architecture: 'arm64', variant: '' },
  armv7: { architecture: 'arm', variant: 'v7' },
};

function skipReason(): string | false {
  const stage = piStageSkipReason();
  if (stage) return stage;
  if (process.env['PIWIRE_PI_DOCKER'] === '0') return 'emulated Pi stage, Docker image: skipped (PIWIRE_PI_DOCKER=0)';
  const check = spawnSync('bash', [IMAGE_SCRIPT, 'check'], { encoding: 'utf8' });
  if (check.status !== 0) return `emulated Pi stage, Docker image: ${check.stderr.trim().split('\n').pop() ?? 'image.sh check failed'}`;
  return false;
}
const skip = skipReason();

/** `podman ARGS...` on the stage's storage (image.sh podman). */
function podman(args: readonly string[]): string[] {
  return ['bash', IMAGE_SCRIPT, 'podman', ...args];
}

/** The --ulimit options podman needs here (image.sh ulimits: within this process's hard limits). */
function ulimits(): string[] {
  const result = spawnSync('bash', [IMAGE_SCRIPT, 'ulimits'], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.trim().split('\n');
}

/**
 * `podman run` as the README runs the image: capabilities dropped but the two it needs,
 * the network of the host it runs on, here the test's own namespace (podman joins it:
 * `ip netns exec` would hide the cgroup mounts runc needs behind a fresh /sys).
 */
function runArgs(name: string, namespace: string): string[] {
  return ['run', '--rm', '--name', name, '--pull', 'never', '--network', `ns:/run/netns/${namespace}`, '--cap-drop', 'ALL', '--cap-add', 'NET_RAW', '--cap-add', 'NET_ADMIN', ...ulimits()];
}

describe('Docker image built and run without a Docker engine (buildah/podman, emulated ARM)', { skip }, () => {
  for (const arch of architectures()) {
    describe(arch, () => {
      const image = `localhost/piwire-pi-test:${arch}`;
      let build: ExecResult | undefined;
      const containers: string[] = [];
      const container = (what: string): string => {
        const name = `piwire-pi-${what}-${randomBytes(4).toString('hex')}`;
        containers.push(name);
        return name;
      };

      before(
        async () => {
          build = await exec(undefined, ['bash', IMAGE_SCRIPT, 'build', arch, image], { timeoutMs: BUILD_TIMEOUT_MS });
        },
        { timeout: BUILD_TIMEOUT_MS + 60_000 },
      );
      // A container whose podman was killed is still running under conmon: remove it.
      after(async () => {
        for (const name of containers) await exec(undefined, podman(['rm', '--force', '--volumes', '--time', '0', '--ignore', name]), { timeoutMs: 60_000 });
      });
      const built = (): void => {
        assert.ok(build, 'the build did not run');
        assert.equal(build.code, 0, `image.sh build ${arch}:\n${describeResult(build)}`);
      };

      it(`builds the Dockerfile for ${arch === 'arm64' ? 'linux/arm64' : 'linux/arm/v7'}: platform, user, entry point, file capabilities`, { timeout: RUN_TIMEOUT_MS }, async (t) => {
        built();
        t.diagnostic(`image build (emulated ${arch}, layer cache as left by the last run): ${(build!.elapsedMs / 1000).toFixed(0)} s`);
        // buildah's view holds the OCI image configuration as written (podman's omits the variant).
        const inspect = await exec(undefined, ['bash', IMAGE_SCRIPT, 'buildah', 'inspect', '--type', 'image', image], { timeoutMs: 60_000 });
        assert.equal(inspect.code, 0, describeResult(inspect));
        const oci = (JSON.parse(inspect.stdout) as { OCIv1?: { architecture?: string; variant?: string; os?: string; config?: { User?: string; Entrypoint?: string[] } } }).OCIv1;
        assert.deepEqual([oci?.os, oci?.architecture, oci?.variant ?? ''], ['linux', PLATFORM[arch].architecture, PLATFORM[arch].variant]);
        assert.equal(oci?.config?.User, 'node');
        // The service unit's V8 flags (test/deploy/node-options.test.ts); the board test below runs them on the image's Node.
        assert.deepEqual(oci?.config?.Entrypoint, ['/usr/local/bin/piwire-node', ...deployedNodeFlags(), '/opt/piwire/dist/piwire.mjs']);
        const namespace = await createTapTopology({ mtu: 1500, prefix: 'pw', after: (fn) => t.after(fn) });
        const caps = await exec(undefined, podman([...runArgs(container('getcap'), namespace.deviceNamespace), '--user', 'root', '--entrypoint', '/usr/sbin/getcap', image, '/usr/local/bin/piwire-node', '/usr/sbin/nft']), { timeoutMs: RUN_TIMEOUT_MS });
        assert.equal(caps.code, 0, describeResult(caps));
        assert.match(caps.stdout, /^\/usr\/local\/bin\/piwire-node cap_net_admin,cap_net_raw=ep$/m, caps.stdout);
        assert.match(caps.stdout, /^\/usr\/sbin\/nft cap_net_admin=ep$/m, caps.stdout);
      });

      it('loads raw-socket (IP mode) as the image user and pings through a raw socket with the capabilities given', { timeout: RUN_TIMEOUT_MS + 60_000 }, async (t) => {
        built();
        const namespace = await createTapTopology({ mtu: 1500, prefix: 'pw', after: (fn) => t.after(fn) });
        // The image's user and firmware binary (its entry point), the probe bind-mounted.
        const run = await exec(
          undefined,
          podman([
            ...runArgs(container('probe'), namespace.deviceNamespace),
            '--volume', `${join(PI_SCRIPTS, '../..', RAW_SOCKET_PROBE)}:${PROBE_IN_CONTAINER}:ro`,
            '--entrypoint', '/usr/local/bin/piwire-node',
            image, PROBE_IN_CONTAINER, 'lo', '127.0.0.1',
          ]),
          { timeoutMs: RUN_TIMEOUT_MS },
        );
        // qemu-user does not translate SO_MARK (arm.test.ts, vm-check.ts).
        assertRawSocketProbe({ code: run.code, output: run.stdout, evidence: describeResult(run) }, { nodeArch: NODE_ARCH[arch], peer: '127.0.0.1', mark: 'emulated' });
        t.diagnostic(`raw-socket in the ${arch} image: ${run.stdout.trim()}`);
      });

      it('runs the simulated board from the entry point: ready, the sensor protocol on localhost:7070, a clean stop on SIGTERM', { timeout: READY_TIMEOUT_MS + STOP_TIMEOUT_MS + 180_000 }, async (t) => {
        built();
        const topology = await createTapTopology({ mtu: 1500, prefix: 'pw', after: (fn) => t.after(fn) });
        const started = performance.now();
        // The state directory is the image's VOLUME: an anonymous volume, removed with the container.
        const firmware = startFirmware({
          namespace: undefined,
          command: podman([...runArgs(container('board'), topology.deviceNamespace), image]),
          args: ['--log', 'json'],
          readyTimeoutMs: READY_TIMEOUT_MS,
          after: (fn) => t.after(fn),
        });
        const ready = await firmware.ready;
        t.diagnostic(`podman run to ready (emulated ${arch}): ${((performance.now() - started) / 1000).toFixed(1)} s`);
        // The entry point is the container's PID 1 (so podman's SIGTERM reaches the firmware).
        assert.equal(ready['pid'], 1, JSON.stringify(ready));
        assert.equal((ready['hostPorts'] as Record<string, number> | undefined)?.['sensors'], 7070, JSON.stringify(ready));
        await assertSensorProtocol(topology.deviceNamespace);
        // SIGTERM to podman, which passes it on (the helper's stop() would SIGKILL after 3 s,
        // too soon for an emulated graceful stop; it stays as the after-hook's guard).
        assert.ok(firmware.pid, 'podman has a pid');
        process.kill(firmware.pid, 'SIGTERM');
        const status = await Promise.race([firmware.exited, delay(STOP_TIMEOUT_MS).then(() => undefined)]);
        assert.deepEqual(status, { code: 0, signal: null }, `no clean stop within ${STOP_TIMEOUT_MS} ms\n${firmware.describe()}`);
        assert.equal(firmware.logs.at(-1)?.event, 'stopped', firmware.describe());
      });
    });
  }
});
