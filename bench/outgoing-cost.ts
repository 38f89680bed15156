/**
 * `npm run outgoing-cost`: what this host's outgoing frames cost the packet link's receive
 * socket, with and without PACKET_IGNORE_OUTGOING (issue 13, idle CPU). One namespace, one
 * veth pair (offloads off); a sender process holds a packet link on `pwb` as the firmware
 * opens it (segmentation offload on: every frame leaves through the transmit-only socket)
 * and sends keepalive-sized frames (66 bytes, a local experimental EtherType no kernel
 * protocol takes) to `pwa`, in batches of 64, one batch per event-loop turn. Without the
 * option the kernel clones each of them for the link's own receive socket, whose filter
 * then drops it; with it, the socket is skipped before the clone. Runs alternate between
 * the two; each reports the sender's own user and system CPU time (process.cpuUsage) per
 * frame. A third variant, the link without segmentation offload (every frame through the
 * receive socket itself, which the kernel never loops back to), is the floor both compare
 * with. CPU time, not wall time: the machine is shared, so run it a few times.
 *
 * usage: npm run outgoing-cost -- [--frames N] [--runs N]   (root: it makes a namespace)
 *   (internal: --role send --interface NAME --peer MAC --keep-outgoing --no-offload)
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { openPacketLink } from '../hal/link/packet.ts';
import { createFloodNamespace, floodFrames, microsPerFrame } from './lib/frame-flood.ts';
import { deleteNamespace, execIn, REPOSITORY_ROOT } from '../test/hal/fixtures/netns.ts';

/** Ethernet, IPv4 and TCP headers with TSopt: a keepalive probe's size. */
const FRAME_BYTES = 66;

const { values: flags } = parseArgs({
  options: {
    role: { type: 'string' },
    interface: { type: 'string' },
    peer: { type: 'string' },
    'keep-outgoing': { type: 'boolean', default: false },
    'no-offload': { type: 'boolean', default: false },
    frames: { type: 'string', default: '400000' },
    runs: { type: 'string', default: '3' },
  },
});

const VARIANTS = ['keep-outgoing', 'ignore-outgoing', 'no-offload'] as const;
type Variant = (typeof VARIANTS)[number];
const VARIANT_LABELS: Record<Variant, string> = {
  'keep-outgoing': 'offload socket, receive socket offered its frames (TX_MARK filter)',
  'ignore-outgoing': 'offload socket, receive socket with PACKET_IGNORE_OUTGOING',
  'no-offload': 'no offload: the receive socket sends (PACKET_IGNORE_OUTGOING)',
};

interface SendReport {
  frames: number;
  userSeconds: number;
  systemSeconds: number;
  outgoingFallback: string | null;
  ownFrames: number;
}

/** Sends `frames` frames to `peer`, one batch of 64 per event-loop turn, then prints a SendReport. */
function send(interfaceName: string, peer: string, frames: number, variant: Variant): void {
  const link = openPacketLink({ interfaceName, disableOffloads: true, ignoreOutgoing: variant !== 'keep-outgoing', segmentOffload: variant !== 'no-offload' });
  floodFrames(link, peer, FRAME_BYTES, frames, (used, stats) => {
    const report: SendReport = {
      frames: stats['link.tx.frames'] ?? 0,
      userSeconds: used.user / 1e6,
      systemSeconds: used.system / 1e6,
      outgoingFallback: link.outgoingFallback ?? null,
      ownFrames: stats['link.drop.own-frame'] ?? 0,
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
  });
}

function measure(namespace: string, peer: string, frames: number, variant: Variant): SendReport {
  const args = ['--role', 'send', '--interface', 'pwb', '--peer', peer, '--frames', String(frames), ...(variant === 'ignore-outgoing' ? [] : [`--${variant}`])];
  const result = spawnSync('ip', ['netns', 'exec', namespace, process.execPath, '--import', 'tsx', 'bench/outgoing-cost.ts', ...args], {
    cwd: REPOSITORY_ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (result.status !== 0) throw new Error(`sender failed (${String(result.status)})`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '') as SendReport;
}

function main(): void {
  if (flags.role === 'send') {
    const variant: Variant = flags['keep-outgoing'] ? 'keep-outgoing' : flags['no-offload'] ? 'no-offload' : 'ignore-outgoing';
    return send(flags.interface ?? 'pwb', flags.peer ?? '', Number(flags.frames), variant);
  }
  const frames = Number(flags.frames);
  const runs = Number(flags.runs);
  const namespace = createFloodNamespace();
  try {
    const peer = execIn(namespace, 'cat', ['/sys/class/net/pwa/address']).trim();
    const per = microsPerFrame;
    process.stdout.write(
      `| sender | frames sent | sender user µs/frame | sender system µs/frame | own frames seen | fallback |\n| --- | ---: | ---: | ---: | ---: | --- |\n`,
    );
    for (let run = 0; run < runs; run++) {
      for (const variant of VARIANTS) {
        const report = measure(namespace, peer, frames, variant);
        process.stdout.write(
          `| ${VARIANT_LABELS[variant]} | ${report.frames} | ${per(report.userSeconds, report.frames)} | ${per(report.systemSeconds, report.frames)} | ${report.ownFrames} | ${report.outgoingFallback ?? '—'} |\n`,
        );
      }
    }
  } finally {
    deleteNamespace(namespace);
  }
}

main();
