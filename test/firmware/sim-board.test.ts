/**
 * The simulated board as a newcomer meets it: `npm start` (no root, no hardware: it
 * builds dist/piwire.mjs and runs it with plain node), then `nc localhost 7070`. Every byte goes through the device's own user-space TCP (host
 * socket → LAN stack → memory hub → device stack).
 *
 * Also the firmware-level crash test of SPEC §4: readings that got `OK` survive a
 * SIGKILL at any point; the firmware is killed repeatedly while PUTs are in flight and
 * the log on disk is checked after each restart.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { decodeRecords } from '../../src/storage/readings.ts';
import { SeededRandom } from '../../src/random.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const SENSOR_PORT = 7070;
/**
 * Hang guard for start-up: the test waits for the `ready` event (every service listens)
 * and then expects PONG at once. Not a speed limit: start-up takes under a second on a
 * PC and 10-20 s under ARM emulation (README "Emulated Raspberry Pi" has the figures).
 */
const READY_TIMEOUT_MS = 60_000;

interface Firmware {
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
  /** The `ready` event's fields; rejects if the firmware exits first or after `READY_TIMEOUT_MS`. */
  ready: Promise<Record<string, unknown>>;
}

function startFirmware(args: string[], viaNpm = false): Firmware {
  // SIGKILL must hit the firmware itself, so the crash test runs node directly;
  // the newcomer test runs the README's own command.
  const child = viaNpm
    ? spawn('npm', ['start', '--silent', '--', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    : spawn(process.execPath, ['--import', 'tsx', 'firmware/main.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  let onReady: ((event: Record<string, unknown>) => void) | undefined;
  child.stdout!.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const line of parts) {
      if (!line.includes('"ready"')) continue;
      try {
        const event = JSON.parse(line) as Record<string, unknown>;
        if (event['event'] === 'ready') onReady?.(event);
      } catch {
        // not a log object: the assertions on `lines` report it
      }
    }
  });
  child.stderr!.on('data', () => undefined);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready event within ${READY_TIMEOUT_MS} ms:\n${lines.slice(-20).join('\n')}`)), READY_TIMEOUT_MS);
    onReady = (event) => {
      clearTimeout(timer);
      resolve(event);
    };
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the firmware exited (status ${code}) before ready:\n${lines.slice(-20).join('\n')}`));
    });
  });
  // A test that fails before awaiting `ready` must not leave an unhandled rejection.
  ready.catch(() => undefined);
  return { child, lines, exited, ready };
}

function stopFirmware(firmware: Firmware, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (firmware.child.exitCode === null && firmware.child.signalCode === null) {
    // npm start runs the firmware in its own process group: signal the group.
    const pid = firmware.child.pid!;
    try {
      process.kill(-pid, signal);
    } catch {
      firmware.child.kill(signal);
    }
  }
  return firmware.exited;
}

/** Connects, retrying while the port is not up yet; gives up at `deadline` (epoch ms). */
async function connectBy(port: number, deadline: number): Promise<Socket> {
  for (;;) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => resolve(socket));
        socket.once('error', reject);
      });
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Sends `request` and resolves with the first `count` reply lines. */
function exchange(socket: Socket, request: string, count: number, onLine?: (line: string) => void): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    let partial = '';
    const onData = (chunk: Buffer): void => {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        onLine?.(line);
      }
      if (lines.length >= count) {
        socket.off('data', onData);
        resolve(lines.slice(0, count));
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(request);
  });
}

describe('the simulated board', () => {
  it('answers PING on localhost:7070 once `npm start` says ready, and shows its LEDs', async (t) => {
    const stateDir = mkdtempSync(join(tmpdir(), 'piwire-sim-'));
    const firmware = startFirmware(['--state-dir', stateDir, '--log', 'json'], true);
    after(async () => {
      await stopFirmware(firmware, 'SIGKILL');
      rmSync(stateDir, { recursive: true, force: true });
    });
    const started = Date.now();
    await firmware.ready;
    // Every service listens once ready: the first connection attempt must succeed.
    const socket = await connectBy(SENSOR_PORT, Date.now());
    const [pong] = await exchange(socket, 'PING hello\n', 1);
    assert.equal(pong, 'PONG hello');
    t.diagnostic(`PONG ${Date.now() - started} ms after npm start`);
    socket.destroy();

    const events = firmware.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const ready = events.find((e) => e['event'] === 'ready');
    assert.ok(ready, 'ready was logged');
    // npm start builds and runs the deployed bundle with plain node (package.json).
    const argv = readFileSync(`/proc/${Number(ready['pid'])}/cmdline`, 'utf8').split('\0').filter(Boolean);
    assert.deepEqual(argv.slice(1), ['dist/piwire.mjs', '--state-dir', stateDir, '--log', 'json'], `the firmware process is the built bundle: ${argv.join(' ')}`);
    const leds = events.filter((e) => e['event'] === 'led');
    assert.ok(leds.some((e) => e['led'] === 'status' && e['pattern'] === 'heartbeat'), 'status LED: heartbeat once running');
    assert.ok(leds.some((e) => e['led'] === 'link' && e['pattern'] === 'solid'), 'link LED: solid with carrier and address');
    // SIGTERM to the firmware itself (not npm): its log shows the graceful shutdown.
    process.kill(Number(ready['pid']), 'SIGTERM');
    await firmware.exited;
    const last = firmware.lines.map((line) => JSON.parse(line) as Record<string, unknown>).at(-1);
    assert.equal(last?.['event'], 'stopped', 'SIGTERM ends the firmware after a graceful shutdown');
  });

  it('--pcap FILE captures what the device saw and sent, readable by tcpdump', async (t) => {
    const tcpdump = spawnSync('tcpdump', ['--version'], { stdio: 'ignore' });
    if (tcpdump.error) {
      t.skip('tcpdump is not installed (test/run.sh installs it)');
      return;
    }
    const stateDir = mkdtempSync(join(tmpdir(), 'piwire-pcap-'));
    after(() => rmSync(stateDir, { recursive: true, force: true }));
    const capture = join(stateDir, 'device.pcap');
    const firmware = startFirmware(['--state-dir', stateDir, '--log', 'json', '--pcap', capture]);
    let pid: number | undefined;
    try {
      const socket = await connectBy(SENSOR_PORT, Date.now() + 30_000);
      const [pong] = await exchange(socket, 'PING captured\n', 1);
      assert.equal(pong, 'PONG captured');
      socket.destroy();
      const ready = firmware.lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((e) => e['event'] === 'ready');
      pid = Number(ready?.['pid']);
    } finally {
      // SIGTERM: the graceful shutdown closes the link, which flushes the capture.
      await stopFirmware(firmware);
    }
    assert.ok(pid, 'ready was logged');
    // tcpdump reads the file as a technician would: the device's side of the exchange.
    const read = spawnSync('tcpdump', ['-n', '-r', capture, '-A', 'tcp port 7070'], { encoding: 'utf8' });
    assert.equal(read.status, 0, read.stderr);
    assert.match(read.stdout, /198\.18\.0\.2\.7070 > .*Flags \[S\.\]/, 'the SYN-ACK the device sent');
    assert.match(read.stdout, /PING captured/, 'the request the device received');
    assert.match(read.stdout, /PONG captured/, 'the reply the device sent');
    const arp = spawnSync('tcpdump', ['-n', '-r', capture, 'arp'], { encoding: 'utf8' });
    assert.match(arp.stdout, /ARP, (Request|Reply)/, 'link-level frames are captured too');
    t.diagnostic(`${read.stdout.split('\n').filter((line) => / IP /.test(line)).length} TCP packets on port 7070 captured`);
  });

  it('a capture file that cannot be written stops start-up with exit status 2 naming the pcap key', () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'piwire-pcap-'));
    after(() => rmSync(stateDir, { recursive: true, force: true }));
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'firmware/bin.mjs', '--state-dir', stateDir, '--pcap', join(stateDir, 'missing', 'x.pcap')], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /^config: pcap: cannot write the capture file .*missing\/x\.pcap \(ENOENT\)$/m);
  });

  it('keeps every reading that got OK across SIGKILLs at random points', async (t) => {
    const stateDir = mkdtempSync(join(tmpdir(), 'piwire-crash-'));
    after(() => rmSync(stateDir, { recursive: true, force: true }));
    const random = new SeededRandom(2026);
    const acknowledged = new Map<string, number>();
    let sequence = 0;
    const rounds = 4;
    for (let round = 0; round < rounds; round++) {
      const firmware = startFirmware(['--state-dir', stateDir, '--log', 'json']);
      try {
        const socket = await connectBy(SENSOR_PORT, Date.now() + 30_000);
        // Pipeline a batch of PUTs; kill the firmware after a random number of OKs.
        const batch = 2500;
        const killAfter = 200 + (random.uint32() % 2000);
        const names: string[] = [];
        let request = '';
        for (let i = 0; i < batch; i++) {
          const name = `crash.r${round}.n${sequence++}`;
          names.push(name);
          request += `PUT ${name} ${i} ${1_700_000_000_000 + i}\n`;
        }
        let oks = 0;
        let replies = 0;
        await new Promise<void>((resolve) => {
          socket.on('close', () => resolve());
          void exchange(socket, request, batch, (line) => {
            // The n-th reply answers the n-th PUT (replies come in request order); only an
            // OK acknowledges it (an ERR 429 of the rate limiter under load does not).
            const index = replies++;
            if (line !== 'OK') return;
            acknowledged.set(names[index]!, index);
            oks++;
            if (oks === killAfter) firmware.child.kill('SIGKILL');
          }).catch(() => undefined);
        });
        assert.ok(oks >= killAfter, `round ${round}: ${oks} OKs before the kill`);
      } finally {
        firmware.child.kill('SIGKILL');
        await firmware.exited;
      }
    }
    // Everything acknowledged is in the log, read straight from the segments.
    const found = new Map<string, number>();
    const directory = join(stateDir, 'readings');
    for (const file of readdirSync(directory).filter((f) => f.endsWith('.log')).sort()) {
      const decoded = decodeRecords(readFileSync(join(directory, file)));
      for (const reading of decoded.records) found.set(reading.name, reading.value);
    }
    const missing = [...acknowledged.entries()].filter(([name, value]) => found.get(name) !== value);
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} acknowledged readings missing`);
    t.diagnostic(`${acknowledged.size} acknowledged readings over ${rounds} SIGKILLs, all present after restart`);
    // And the firmware starts again on the log it left behind.
    const last = startFirmware(['--state-dir', stateDir, '--log', 'json']);
    try {
      const socket = await connectBy(SENSOR_PORT, Date.now() + 30_000);
      const someName = [...acknowledged.keys()][0]!;
      const [value] = await exchange(socket, `GET ${someName}\n`, 1);
      assert.match(value ?? '', new RegExp(`^VAL ${someName.replace(/\./g, '\\.')} `));
      socket.destroy();
    } finally {
      last.child.kill('SIGKILL');
      await last.exited;
    }
  });
});
