/**
 * Seeded loss sweep in virtual time (issue 12; smoltcp's benchmark style): two piwire
 * stacks on the memory wire (hal/link/memory.ts and its fault model), one bulk transfer
 * per point, loss each way from 0 to 10%, with and without reordering. Everything runs
 * on the virtual clock from one seed, so a point is exactly repeatable and the figures
 * measure the protocol (how it recovers), not this machine's CPU.
 *
 * The path: a line of `bandwidthBitsPerSecond` each way with `delayMs` one-way
 * propagation (RTT 2·delay plus serialisation), no queue limit (loss is only the random
 * loss asked for). Reordering holds a share of frames back `reorderDelayMs` so later
 * frames overtake them. The stacks run their DEFAULT TCP configuration (buffers, RTO
 * bounds, SACK setting), so a change to the defaults shows here.
 *
 * Per point: goodput = bytes·8 / virtual seconds from connect() until the receiver has
 * every byte; RTOs = the sender's data retransmission timeouts (`tcp.timeout.rto`);
 * longest stall = the longest virtual time the receiver saw no new in-order data.
 * Each point verifies the data byte for byte and is bounded by `limitMs` of virtual time.
 */
import type { TcpConfig } from '../../src/tcp/config.ts';
import { parseIpv4 } from '../../src/net/address.ts';
import { noopHandler } from '../../src/tcp/connection.ts';
import { createStackPair, PEER_IP } from '../../test/support/stack-pair.ts';

export interface SweepPath {
  mtu: number;
  bandwidthBitsPerSecond: number;
  delayMs: number;
  reorderDelayMs: number;
}

export interface SweepPointOptions extends SweepPath {
  /** Loss each way, 0–1. */
  loss: number;
  /** Share of frames reordered each way, 0–1. */
  reorder: number;
  bytes: number;
  seed: number;
  /** Virtual time after which the point is reported unfinished. */
  limitMs: number;
  /** TCP settings for both stacks, over their defaults (a sender configuration to compare). */
  tcp?: Partial<TcpConfig>;
  /** Called for every gap in the receiver's in-order progress longer than `gapThresholdMs` (bench/stall-causes.ts). */
  onGap?: (gap: SweepGap) => void;
  gapThresholdMs?: number;
}

/** A gap in the receiver's progress, with the counters of both stacks that moved during it. */
export interface SweepGap {
  fromMs: number;
  toMs: number;
  /** Bytes the receiver had in order when the gap began. */
  receivedBefore: number;
  /** Counter increments over the gap: the sender's (device) and the receiver's (peer). */
  sender: Record<string, number>;
  receiver: Record<string, number>;
}

function counterGrowth(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const grown: Record<string, number> = {};
  for (const [name, value] of Object.entries(after)) if (value > (before[name] ?? 0)) grown[name] = value - (before[name] ?? 0);
  return grown;
}

export interface SweepPoint {
  /** The sender configuration's name (`SENDERS`), or 'default'. */
  sender: string;
  loss: number;
  reorder: number;
  mtu: number;
  bytes: number;
  /** Every byte arrived, in order and intact, and the sender saw its FIN acknowledged. */
  completed: boolean;
  /** Bytes that arrived in order and matched what was sent. */
  received: number;
  /** Why the sender's connection ended ('fin' normally; e.g. 'user_timeout' when it gave up), or undefined if it had not. */
  senderClose: string | undefined;
  /** First offset where the received data differed from the sent data, or -1. */
  firstMismatch: number;
  virtualMs: number;
  goodputMbitPerSecond: number;
  rtos: number;
  /** RTOs F-RTO (RFC 5682) found spurious and undid (`tcp.frto.spurious`). */
  spuriousRtos: number;
  retransmits: number;
  fastRetransmits: number;
  longestStallMs: number;
  /** Times the sender lowered its MSS suspecting an MTU black hole (RFC 4821 §7.6; random loss can look like one). */
  blackHoleSteps: number;
  framesSent: number;
  framesLost: number;
  framesReordered: number;
}

export const SWEEP_PATH: Readonly<SweepPath> = Object.freeze({ mtu: 1500, bandwidthBitsPerSecond: 100e6, delayMs: 1, reorderDelayMs: 1 });
export const SWEEP_LOSSES: readonly number[] = [0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1];
export const SWEEP_REORDER = 0.02;
export const SWEEP_SEED = 1;

/** Sender configurations `--senders` compares: what each recovery mechanism and each congestion control buys. */
export const SENDERS: readonly { name: string; tcp: Partial<TcpConfig> }[] = [
  { name: 'CUBIC, SACK + RACK-TLP + PRR + recovery probe', tcp: { congestion: 'cubic', sack: true, rack: true, prr: true, recoveryProbe: true } },
  { name: 'BBR v1 (paced), SACK + RACK-TLP + recovery probe', tcp: { congestion: 'bbr', sack: true, rack: true, prr: true, recoveryProbe: true } },
  { name: 'CUBIC, without the recovery probe', tcp: { congestion: 'cubic', sack: true, rack: true, prr: true, recoveryProbe: false } },
  { name: 'CUBIC, without PRR', tcp: { congestion: 'cubic', sack: true, rack: true, prr: false, recoveryProbe: true } },
  { name: 'CUBIC, SACK + RACK-TLP (neither)', tcp: { congestion: 'cubic', sack: true, rack: true, prr: false, recoveryProbe: false } },
  { name: 'NewReno, SACK + RACK-TLP + PRR + recovery probe', tcp: { congestion: 'reno', sack: true, rack: true, prr: true, recoveryProbe: true } },
  { name: 'CUBIC, SACK (RFC 6675 only)', tcp: { congestion: 'cubic', sack: true, rack: false, prr: false, recoveryProbe: false } },
  { name: 'CUBIC, no SACK', tcp: { congestion: 'cubic', sack: false } },
  { name: 'NewReno, no SACK (RFC 6582)', tcp: { congestion: 'reno', sack: false } },
];

const PORT = 9;
const READ_CHUNK = 65_536;

/** The byte at `offset` of the transfer: a pattern no shift or repetition of a window can fake. */
function expectedByte(offset: number): number {
  return (offset * 7 + (offset >>> 8) * 13 + (offset >>> 16) * 3) & 0xff;
}

export function runSweepPoint(options: SweepPointOptions, senderName = 'default'): SweepPoint {
  const pair = createStackPair({
    mtu: options.mtu,
    seed: options.seed,
    ...(options.tcp === undefined ? {} : { deviceTcp: options.tcp, peerTcp: options.tcp }),
    faults: {
      lossRate: options.loss,
      reorderRate: options.reorder,
      reorderDelayMs: options.reorderDelayMs,
      delayMs: options.delayMs,
      bandwidthBitsPerSecond: options.bandwidthBitsPerSecond,
    },
  });
  const { world } = pair;
  let received = 0;
  let firstMismatch = -1;
  let lastProgress = world.now;
  let longestStall = 0;
  let receiverGotFin = false;
  // With an onGap hook: both stacks' counters at the last progress, to diff at the next.
  const observe = options.onGap;
  const gapThreshold = options.gapThresholdMs ?? 100;
  let senderAtProgress = observe === undefined ? {} : pair.device.counters.snapshot();
  let receiverAtProgress = observe === undefined ? {} : pair.peer.counters.snapshot();
  const progressed = (): void => {
    if (observe === undefined) return;
    const sender = pair.device.counters.snapshot();
    const receiver = pair.peer.counters.snapshot();
    if (world.now - lastProgress > gapThreshold) {
      observe({ fromMs: lastProgress, toMs: world.now, receivedBefore: received, sender: counterGrowth(senderAtProgress, sender), receiver: counterGrowth(receiverAtProgress, receiver) });
    }
    senderAtProgress = sender;
    receiverAtProgress = receiver;
  };
  pair.peer.tcp.listen(PORT, {}, (connection) => {
    connection.handler = {
      ...noopHandler(),
      onReadable: () => {
        for (let chunk = connection.read(READ_CHUNK); chunk; chunk = connection.read(READ_CHUNK)) {
          if (firstMismatch === -1) {
            for (let i = 0; i < chunk.length; i++) {
              if (chunk[i] !== expectedByte(received + i)) {
                firstMismatch = received + i;
                break;
              }
            }
          }
          progressed();
          received += chunk.length;
          longestStall = Math.max(longestStall, world.now - lastProgress);
          lastProgress = world.now;
        }
      },
      onRemoteFin: () => {
        receiverGotFin = true;
        connection.shutdown();
      },
    };
  });

  const block = new Uint8Array(READ_CHUNK);
  const started = world.now;
  const sender = pair.device.tcp.connect(parseIpv4(PEER_IP)!, PORT);
  let sent = 0;
  const pump = (): void => {
    while (sent < options.bytes) {
      const length = Math.min(block.length, options.bytes - sent);
      for (let i = 0; i < length; i++) block[i] = expectedByte(sent + i);
      const accepted = sender.send(block.subarray(0, length));
      if (accepted === 0) return;
      sent += accepted;
    }
    sender.shutdown();
  };
  let senderClose: string | undefined;
  sender.handler = { ...noopHandler(), onEstablished: pump, onWritable: pump, onClose: (reason) => (senderClose = reason) };

  let finishedAt: number | undefined;
  world.runUntilDoneSync(() => {
    if (finishedAt === undefined && received >= options.bytes) finishedAt = world.now;
    return receiverGotFin && (sender.state === 'TIME-WAIT' || sender.state === 'CLOSED');
  }, options.limitMs);
  const end = finishedAt ?? world.now;
  // A point cut by the limit has stalled at least since its last progress.
  if (finishedAt === undefined) longestStall = Math.max(longestStall, world.now - lastProgress);
  const virtualMs = end - started;
  const there = pair.wire.stats('a-to-b');
  const back = pair.wire.stats('b-to-a');
  const counters = pair.device.counters;
  return {
    sender: senderName,
    loss: options.loss,
    reorder: options.reorder,
    mtu: options.mtu,
    bytes: options.bytes,
    completed: receiverGotFin && received === options.bytes && firstMismatch === -1 && sender.state === 'TIME-WAIT',
    received,
    senderClose,
    firstMismatch,
    virtualMs,
    goodputMbitPerSecond: virtualMs > 0 ? (received * 8) / virtualMs / 1000 : 0,
    rtos: counters.get('tcp.timeout.rto'),
    spuriousRtos: counters.get('tcp.frto.spurious'),
    retransmits: counters.get('tcp.tx.retransmits'),
    fastRetransmits: counters.get('tcp.tx.fast-retransmits'),
    longestStallMs: longestStall,
    blackHoleSteps: counters.get('tcp.mtu.black-hole-steps'),
    framesSent: there.sent + back.sent,
    framesLost: there.lost + back.lost,
    framesReordered: there.reordered + back.reordered,
  };
}

export interface SweepOptions {
  losses?: readonly number[];
  /** Reorder shares to combine with each loss (default: none and SWEEP_REORDER). */
  reorders?: readonly number[];
  mtus?: readonly number[];
  bytes: number;
  seed?: number;
  path?: Partial<SweepPath>;
  limitMs?: number;
  /** Sender configurations to run each point with (default: the stacks' defaults only). */
  senders?: readonly { name: string; tcp: Partial<TcpConfig> }[];
  onPoint?: (point: SweepPoint) => void;
}

export function runLossSweep(options: SweepOptions): SweepPoint[] {
  const points: SweepPoint[] = [];
  for (const mtu of options.mtus ?? [SWEEP_PATH.mtu]) {
    for (const reorder of options.reorders ?? [0, SWEEP_REORDER]) {
      for (const loss of options.losses ?? SWEEP_LOSSES) {
        for (const sender of options.senders ?? [{ name: 'default', tcp: undefined }]) {
          const point = runSweepPoint(
            {
              ...SWEEP_PATH,
              ...options.path,
              mtu,
              loss,
              reorder,
              bytes: options.bytes,
              seed: options.seed ?? SWEEP_SEED,
              limitMs: options.limitMs ?? 3_600_000,
              tcp: sender.tcp,
            },
            sender.name,
          );
          options.onPoint?.(point);
          points.push(point);
        }
      }
    }
  }
  return points;
}

const percent = (share: number): string => `${+(share * 100).toFixed(1)}%`;

/** The sweep as a Markdown table, one row per point. */
export function renderSweepTable(points: readonly SweepPoint[]): string {
  const lines = [
    '| sender | MTU | loss each way | reordered | goodput (virtual) | virtual time | RTOs | retransmits (fast) | longest stall | MSS lowered (black hole) | frames lost / sent | completed |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const p of points) {
    lines.push(
      `| ${p.sender} | ${p.mtu} | ${percent(p.loss)} | ${percent(p.reorder)} | ${p.goodputMbitPerSecond.toFixed(2)} Mbit/s | ${(p.virtualMs / 1000).toFixed(2)} s | ${p.rtos} | ` +
        `${p.retransmits} (${p.fastRetransmits}) | ${p.longestStallMs.toFixed(0)} ms | ${p.blackHoleSteps} | ${p.framesLost} / ${p.framesSent} | ${p.completed ? 'yes' : `**no**: ${p.received} of ${p.bytes} B${p.senderClose === undefined ? '' : `, sender closed: ${p.senderClose}`}`} |`,
    );
  }
  return lines.join('\n');
}

export function describeSweepPath(path: SweepPath = SWEEP_PATH, reorder = SWEEP_REORDER, seed = SWEEP_SEED): string {
  return (
    `Two piwire stacks (default TCP settings) on the memory wire, virtual time, seed ${seed}: ` +
    `${path.bandwidthBitsPerSecond / 1e6} Mbit/s each way, ${path.delayMs} ms one-way delay, no queue limit; ` +
    `loss drawn per frame each way; "reordered" holds ${percent(reorder)} of frames back ${path.reorderDelayMs} ms so later ones overtake them.`
  );
}
