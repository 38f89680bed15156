/**
 * A tcpdump capture in a network namespace, headers only, for the loss benches
 * (bench/lib/wire-stall.ts per transfer, bench/loss-counters.ts `--capture`).
 *
 * Started, it resolves once tcpdump says it is listening, so no frame of what follows is
 * missed. It writes every frame as it comes: `--immediate-mode` (no libpcap block timeout
 * holding frames back) and `-U` (a write per packet); without them the frames still in
 * the capture ring when tcpdump is stopped were lost without being counted as dropped,
 * and a capture ended early, often right where a stall began. `-B`: a 16 MiB capture
 * buffer, so a loaded machine does not make tcpdump drop frames. Stopped with SIGINT, it
 * flushes its file and reports the frames the kernel dropped, as on Ctrl-C.
 */
import type { ChildProcess } from 'node:child_process';
import { spawnInNamespace } from '../../test/support/netns.ts';

/** Bytes kept of each frame: Ethernet, IPv4 and TCP headers with options. */
export const SNAP_LENGTH = 128;
const LISTEN_TIMEOUT_MS = 10_000;

export interface RunningCapture {
  /** Stops tcpdump once it has written its file; resolves to the frames the kernel dropped. */
  stop(): Promise<number>;
}

/** Starts tcpdump on `interfaceName` in `namespace`, writing the frames `filter` selects to `file`. */
export async function startCapture(namespace: string, interfaceName: string, file: string, filter: readonly string[]): Promise<RunningCapture> {
  const child = spawnInNamespace(namespace, ['tcpdump', '-i', interfaceName, '-n', '--immediate-mode', '-U', '-s', String(SNAP_LENGTH), '-B', '16384', '-w', file, ...filter]);
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr += chunk;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump did not start listening on ${interfaceName}: ${stderr}`)), LISTEN_TIMEOUT_MS);
    const check = (): void => {
      if (stderr.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stderr?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tcpdump exited (${code}) before listening: ${stderr}`));
    });
    check();
  });
  return {
    async stop() {
      await stopProcess(child);
      const dropped = /(\d+) packets? dropped by kernel/.exec(stderr);
      return dropped ? Number(dropped[1]) : 0;
    },
  };
}

function stopProcess(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    // SIGINT: tcpdump flushes its file and prints its counts, as on Ctrl-C.
    child.kill('SIGINT');
  });
}
