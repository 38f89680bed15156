/**
 * Loss sweep on the memory wire, in virtual time (smoltcp's loss benchmark in spirit):
 * two piwire stacks (test/support/stack-pair.ts), the device sending SIZE bytes to the
 * peer through random loss each way (and a little reordering), for each sender
 * configuration: SACK with RACK-TLP (the default), SACK without RACK-TLP (RFC 6675
 * DupThresh only), and no SACK (NewReno). Goodput = bytes / virtual seconds until the
 * peer has everything; seeded, so every run prints the same figures.
 *
 *   node --import tsx bench/memory-loss.ts [--size 1048576] [--seeds 3] [--loss 0,1,3,5,10]
 *
 * Pure computation (no namespaces, no root); a few seconds of CPU.
 */
import { parseArgs } from 'node:util';
import type { TcpConfig } from '../src/tcp/config.ts';
import type { TcpConnection } from '../src/tcp/connection.ts';
import { noopHandler } from '../src/tcp/connection.ts';
import { parseIpv4 } from '../src/net/address.ts';
import { createStackPair, PEER_IP, sendAllThenClose } from '../test/support/stack-pair.ts';

export interface LossRun {
  goodputMbps: number;
  seconds: number;
  retransmits: number;
  rtos: number;
  complete: boolean;
}

/** One seeded transfer from the device to the peer through `loss` (a fraction) each way. */
export function lossTransfer(options: { size: number; loss: number; seed: number; tcp: Partial<TcpConfig>; mtu?: number; delayMs?: number }): LossRun {
  const tcp: Partial<TcpConfig> = { userTimeout: 0, keepalive: { enabled: false, idle: 10_000, interval: 2_000, count: 3 }, ...options.tcp };
  const delay = options.delayMs ?? 5;
  const pair = createStackPair({
    mtu: options.mtu ?? 1500,
    seed: options.seed,
    faults: { lossRate: options.loss, delayMs: delay, jitterMs: 1, reorderRate: options.loss / 5, reorderDelayMs: 2 },
    deviceTcp: tcp,
    peerTcp: tcp,
  });
  let received = 0;
  let done = false;
  pair.peer.tcp.listen(7000, {}, (connection) => {
    connection.handler = {
      ...noopHandler(),
      onReadable: () => {
        for (let chunk = connection.read(65_536); chunk; chunk = connection.read(65_536)) received += chunk.length;
      },
      onRemoteFin: () => {
        done = true;
        connection.shutdown();
      },
    };
  });
  const data = new Uint8Array(options.size);
  const connection: TcpConnection = pair.device.tcp.connect(parseIpv4(PEER_IP)!, 7000);
  sendAllThenClose(connection, data);
  const started = pair.world.now;
  pair.world.runUntilDoneSync(() => done, 3_600_000);
  const seconds = (pair.world.now - started) / 1000;
  const counters = pair.device.counters;
  return {
    goodputMbps: (received * 8) / seconds / 1e6,
    seconds,
    retransmits: counters.get('tcp.tx.retransmits'),
    rtos: counters.get('tcp.timeout.rto'),
    complete: done && received === options.size,
  };
}

export const SENDERS: { name: string; tcp: Partial<TcpConfig> }[] = [
  { name: 'SACK + RACK-TLP', tcp: { sack: true, rack: true } },
  { name: 'SACK (RFC 6675 only)', tcp: { sack: true, rack: false } },
  { name: 'NewReno (no SACK)', tcp: { sack: false } },
];

function main(): void {
  const { values } = parseArgs({
    options: { size: { type: 'string', default: String(1 << 20) }, seeds: { type: 'string', default: '3' }, loss: { type: 'string', default: '0,1,3,5,10' } },
  });
  const size = Number(values.size);
  const seeds = Number(values.seeds);
  const losses = values.loss.split(',').map(Number);
  console.log(`| loss each way | ${SENDERS.map((sender) => sender.name).join(' | ')} |`);
  console.log(`| ---: | ${SENDERS.map(() => '---:').join(' | ')} |`);
  for (const loss of losses) {
    const cells = SENDERS.map((sender) => {
      const runs = Array.from({ length: seeds }, (_, seed) => lossTransfer({ size, loss: loss / 100, seed: seed + 1, tcp: sender.tcp }));
      const mean = runs.reduce((sum, run) => sum + run.goodputMbps, 0) / runs.length;
      const rtos = runs.reduce((sum, run) => sum + run.rtos, 0);
      const incomplete = runs.filter((run) => !run.complete).length;
      return `${mean.toFixed(2)} Mbit/s (${rtos} RTOs${incomplete > 0 ? `, ${incomplete} incomplete` : ''})`;
    });
    console.log(`| ${loss}% | ${cells.join(' | ')} |`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main();
