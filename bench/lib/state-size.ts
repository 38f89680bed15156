/**
 * Memory per piece of TCP state, measured in-process with the collector (heap after a
 * full GC, and ArrayBuffer memory for buffers): one TcpStack driven segment by segment
 * (the test harness's encoder), COUNT connections of the peer 198.18.0.2 brought into
 * the state measured, everything else dropped. Two figures:
 *
 *   - bytes per TIME-WAIT record: the device closed first, the peer's FIN came back,
 *     the tuple sits in TIME-WAIT (time-wait.ts keeps a compact record);
 *   - bytes per established idle connection, for comparison: what a TIME-WAIT entry
 *     cost while it was a whole connection with its buffers.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { TcpStack } from '../../src/tcp/stack.ts';
import { defaultTcpConfig } from '../../src/tcp/config.ts';
import { Counters } from '../../src/stats.ts';
import { nullEventSink } from '../../src/events.ts';
import { SeededRandom } from '../../src/random.ts';
import { ManualClock } from '../../src/time.ts';
import { parseTcp, TcpFlag } from '../../src/wire/tcp.ts';
import type { TcpConnection } from '../../src/tcp/connection.ts';
import { LOCAL, REMOTE, encode } from '../../test/support/tcp-harness.ts';

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

export interface StateSizes {
  count: number;
  timeWaitBytes: number;
  establishedBytes: number;
}

/**
 * Heap plus ArrayBuffer memory after full collections, read again until it stops
 * falling: buffers of earlier work (the stack-only run) are released a little late.
 * (Also bench/lib/idle-size.ts.)
 */
export function settledMemory(): number {
  let previous = Infinity;
  for (let round = 0; round < 10; round++) {
    collect();
    collect();
    const usage = process.memoryUsage();
    const now = usage.heapUsed + usage.arrayBuffers;
    if (now >= previous - 1024) return Math.min(now, previous);
    previous = now;
  }
  return previous;
}

function build(count: number, state: 'TIME-WAIT' | 'ESTABLISHED'): { stack: TcpStack; kept: TcpConnection[] } {
  const clock = new ManualClock(0);
  let lastSegment: { seq: number } | undefined;
  const stack = new TcpStack({
    ip: {
      sendIpv4: (destination, _protocol, length, fill) => {
        const buffer = new Uint8Array(length);
        fill(buffer, 0);
        const parsed = parseTcp(buffer, LOCAL, destination, { verifyChecksum: false });
        if (parsed.ok) lastSegment = { seq: parsed.value.sequenceNumber };
        return 'sent';
      },
    },
    localAddress: LOCAL,
    config: { ...defaultTcpConfig(1460), maxConnections: count + 16, keepalive: { enabled: false, idle: 10_000, interval: 2_000, count: 3 } },
    clock,
    random: new SeededRandom(1),
    counters: new Counters(),
    events: nullEventSink,
  });
  const kept: TcpConnection[] = [];
  stack.listen(80, {}, (connection) => kept.push(connection));
  const send = (port: number, seq: number, ack: number, flags: number): void =>
    stack.input(REMOTE, LOCAL, encode({ sourcePort: port, destinationPort: 80, seq, ack, flags, window: 65_535, options: {}, payload: new Uint8Array(0) }), 0);
  for (let i = 0; i < count; i++) {
    const port = 1024 + i;
    send(port, 1000, 0, TcpFlag.SYN);
    const iss = lastSegment!.seq;
    send(port, 1001, iss + 1, TcpFlag.ACK);
    if (state === 'TIME-WAIT') {
      const connection = kept.pop()!;
      connection.shutdown();
      send(port, 1001, iss + 2, TcpFlag.ACK | TcpFlag.FIN);
      if (connection.state !== 'TIME-WAIT') throw new Error(`state-size: expected TIME-WAIT, got ${connection.state}`);
    }
  }
  // Let the connections' last timers (delayed ACK, the FIN's retransmission timer) run
  // out, well inside TIME-WAIT (2·MSL = 10 s): what is left is the state itself.
  clock.set(3_000);
  stack.poll(3_000);
  return { stack, kept };
}

export function measureStateSizes(count: number): StateSizes {
  // A first run of each kind compiles and warms the code paths, so the figures below
  // are the state's, not the JIT's.
  build(count, 'TIME-WAIT');
  build(Math.min(count, 1000), 'ESTABLISHED');
  const baseline = settledMemory();
  const timeWait = build(count, 'TIME-WAIT');
  if (timeWait.stack.timeWaitCount !== count) throw new Error(`state-size: ${timeWait.stack.timeWaitCount} TIME-WAIT records, expected ${count}`);
  const timeWaitBytes = (settledMemory() - baseline) / count;
  const keepTimeWait = timeWait.stack;
  const middle = settledMemory();
  const established = build(count, 'ESTABLISHED');
  const establishedBytes = (settledMemory() - middle) / count;
  // Both stacks stay reachable until both figures are taken.
  if (keepTimeWait.timeWaitCount + established.kept.length === 0) throw new Error('unreachable');
  return { count, timeWaitBytes, establishedBytes };
}
