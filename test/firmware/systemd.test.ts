/**
 * firmware/systemd.ts: sd_notify through the native addon (the default) and through
 * `systemd-notify` (the fallback). The transport tests bind a real AF_UNIX datagram
 * socket (with Debian's python3: Node has none) and check the bytes systemd would
 * receive; the rest substitutes the sender and the timers.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { defaultNotifySender, notifyReady, notifyStopping, sendWithNativeAddon, sendWithSystemdNotify, startWatchdog, watchdogIntervalMs, type NotifySender } from '../../firmware/systemd.ts';
import { loadNativeAddon } from '../../hal/link/native.ts';

const SYSTEM_PYTHON = '/usr/bin/python3';

/** Receives datagrams like PID 1 does: closes the BARRIER=1 fd so systemd-notify returns. */
const RECEIVER = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    message, fds, _, _ = socket.recv_fds(s, 4096, 4)
    for fd in fds:
        os.close(fd)
    print(message.decode().replace("\\n", "|"), flush=True)
`;

/** Runs `body` with a bound datagram socket (PID 1's stand-in) and the lines it receives. */
async function withReceiver(body: (socketPath: string, lines: AsyncIterator<string>) => Promise<void>): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'piwire-notify-'));
  const socketPath = join(directory, 'notify.sock');
  const receiver = spawn(SYSTEM_PYTHON, ['-c', RECEIVER, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const lines = createInterface({ input: receiver.stdout! })[Symbol.asyncIterator]();
    assert.equal((await lines.next()).value, 'bound');
    await body(socketPath, lines);
  } finally {
    receiver.kill();
    rmSync(directory, { recursive: true, force: true });
  }
}

function recordingLogger() {
  const errors: { event: string; fields: Record<string, unknown> | undefined }[] = [];
  return { errors, error: (event: string, fields?: Record<string, unknown>) => void errors.push({ event, fields }), info: () => undefined };
}

describe('systemd notify', () => {
  const haveTools = spawnSync('systemd-notify', ['--version']).status === 0 && spawnSync(SYSTEM_PYTHON, ['-c', 'import socket; socket.recv_fds']).status === 0;

  it('delivers READY=1, WATCHDOG=1 and STOPPING=1 to $NOTIFY_SOCKET through systemd-notify', { skip: haveTools ? false : 'needs systemd-notify and python3 >= 3.9' }, async () => {
    await withReceiver(async (socketPath, lines) => {
      const environment = { ...process.env, NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '60000000' };
      const send = sendWithSystemdNotify;
      const ready = await notifyReady({ environment, send }, 'serving');
      assert.deepEqual(ready, { sent: true });
      assert.equal((await lines.next()).value, 'READY=1|STATUS=serving');
      assert.equal((await lines.next()).value, 'BARRIER=1');
      const watchdog = startWatchdog({ environment, pid: process.pid, send });
      assert.ok(watchdog);
      assert.equal(watchdog.intervalMs, 30_000);
      assert.equal((await lines.next()).value, 'WATCHDOG=1');
      watchdog.stop();
      assert.deepEqual(await notifyStopping({ environment, send }), { sent: true });
      assert.equal((await lines.next()).value, 'BARRIER=1');
      assert.equal((await lines.next()).value, 'STOPPING=1|STATUS=stopping');
    });
  });

  it('sends from this process through the native addon, the default (the unit says NotifyAccess=main)', { skip: haveTools ? false : 'needs python3 >= 3.9' }, async () => {
    assert.equal(defaultNotifySender(), sendWithNativeAddon, 'the addon is built by npm install, so it is the default');
    await withReceiver(async (socketPath, lines) => {
      const environment = { NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '60000000' };
      assert.deepEqual(await notifyReady({ environment }, 'serving'), { sent: true });
      assert.equal((await lines.next()).value, 'READY=1|STATUS=serving');
      const watchdog = startWatchdog({ environment, pid: process.pid });
      assert.equal((await lines.next()).value, 'WATCHDOG=1');
      watchdog?.stop();
      assert.deepEqual(await notifyStopping({ environment }), { sent: true });
      assert.equal((await lines.next()).value, 'STOPPING=1|STATUS=stopping');
    });
    assert.equal(loadNativeAddon().notify('/nonexistent/piwire-notify.sock', 'READY=1'), 'ENOENT');
  });

  it('reports a socket nobody listens on as a logged failure, never as success', { skip: haveTools ? false : 'needs systemd-notify' }, async () => {
    const logger = recordingLogger();
    const result = await notifyReady({ environment: { ...process.env, NOTIFY_SOCKET: '/nonexistent/piwire-notify.sock' }, logger, send: sendWithSystemdNotify });
    assert.equal(result.sent, false);
    assert.equal(result.reason, 'failed');
    assert.equal(logger.errors.length, 1);
    assert.equal(logger.errors[0]?.event, 'systemd_notify_failed');
  });

  it('a missing systemd-notify is a logged failure', async () => {
    const logger = recordingLogger();
    const result = await notifyReady({ environment: { NOTIFY_SOCKET: '/run/systemd/notify', PATH: '/nonexistent' }, logger, send: sendWithSystemdNotify });
    assert.equal(result.sent, false);
    assert.match(result.error ?? '', /cannot run systemd-notify/);
    assert.equal(logger.errors[0]?.event, 'systemd_notify_failed');
  });

  it('does nothing outside systemd', async () => {
    let calls = 0;
    const send: NotifySender = async () => {
      calls += 1;
      return undefined;
    };
    assert.deepEqual(await notifyReady({ environment: {}, send }), { sent: false, reason: 'not-under-systemd' });
    assert.equal(startWatchdog({ environment: { WATCHDOG_USEC: '1000000' }, send }), undefined);
    assert.equal(calls, 0);
  });
});

describe('systemd watchdog', () => {
  it('pings at half of WATCHDOG_USEC, only for the process WATCHDOG_PID names', () => {
    assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 42), 15_000);
    assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42), 15_000);
    assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, 42), undefined);
    assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '0' }, 42), undefined);
    assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: 'soon' }, 42), undefined);
    assert.equal(watchdogIntervalMs({}, 42), undefined);
  });

  it('sends WATCHDOG=1 on every tick, skips a tick while a ping is in flight, and stops', async () => {
    const sent: string[][] = [];
    let release: (() => void) | undefined;
    const send: NotifySender = (assignments) => {
      sent.push([...assignments]);
      return new Promise((resolve) => {
        release = () => resolve(undefined);
      });
    };
    let tick: (() => void) | undefined;
    let cleared = false;
    const timers = {
      setInterval: (callback: () => void, ms: number) => {
        assert.equal(ms, 5_000);
        tick = callback;
        return 'handle';
      },
      clearInterval: (handle: unknown) => {
        assert.equal(handle, 'handle');
        cleared = true;
      },
    };
    const watchdog = startWatchdog({ environment: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '10000000' }, send, timers, pid: 1 });
    assert.ok(watchdog && tick);
    assert.deepEqual(sent, [['WATCHDOG=1']]);
    tick();
    assert.equal(sent.length, 1, 'a ping still in flight makes the tick skip');
    release?.();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(watchdog.sent, 1);
    tick();
    assert.equal(sent.length, 2);
    watchdog.stop();
    assert.ok(cleared);
    release?.();
    await new Promise((resolve) => setImmediate(resolve));
    tick();
    assert.equal(sent.length, 2, 'no ping after stop');
  });
});
