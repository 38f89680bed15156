/**
 * `npm run link-cost`: what the AF_PACKET link alone costs the firmware process per frame,
 * without the stack above it (issue 13: "native calls and copies"). One namespace, one veth
 * pair (offloads off): a receiver process holds a packet link on `pwa` in each receive mode
 * (TPACKET_V2 ring, TPACKET_V3 ring, recvmmsg), a sender process a packet link on `pwb`
 * that floods full-size frames of a local
 * experimental EtherType (no kernel protocol takes them) in batches of 64, one batch per
 * event-loop turn. Each reports its own user and system CPU time (process.cpuUsage) over
 * the run; the receiver counts frames seen and the kernel's drops.
 *
 * The receiver's system time is where the modes differ most: recvmmsg copies each frame in
 * the receiver's own system call, a ring has it copied by the kernel where the frame arrives
 * (here: the sender's softirq, on a real NIC its driver's), so the sender's figures are
 * printed too. CPU time, not wall time: the machine is shared, so run it a few times.
 *
 * usage: npm run link-cost -- [--frames N] [--runs N]   (root: it makes a namespace)
 *   (internal: --role receive|send --interface NAME --mode M --peer MAC)
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { formatMac } from '../src/net/address.ts';
import { openPacketLink } from '../hal/link/packet.ts';
import { createFloodNamespace, floodFrames, microsPerFrame } from './lib/frame-flood.ts';
import type { ReceiveMode } from '../hal/link/native.ts';
import { deleteNamespace, REPOSITORY_ROOT } from '../test/hal/fixtures/netns.ts';

const FRAME_BYTES = 1514;

const { values: flags } = parseArgs({
  options: {
    role: { type: 'string' },
    interface: { type: 'string' },
    mode: { type: 'string', default: 'tpacket-v2' },
    peer: { type: 'string' },
    frames: { type: 'string', default: '200000' },
    runs: { type: 'string', default: '2' },
  },
});

interface CpuReport {
  role: string;
  frames: number;
  drops: number;
  /** Receiver: wakeups that delivered frames (one JS callback each). */
  batches?: number;
  userSeconds: number;
  systemSeconds: number;
  mode?: string;
}

function print(report: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

/** Receives until `frames` frames are accounted for (seen or dropped) or 2 s pass without one after the first. */
function receive(interfaceName: string, mode: ReceiveMode, frames: number): void {
  const link = openPacketLink({ interfaceName, receiveMode: mode, disableOffloads: true });
  let seen = 0;
  // Until the first frame, the sender may still be starting (tsx compiles it): 60 s.
  let lastFrameAt = Date.now() + 58_000;
  let start: NodeJS.CpuUsage | undefined;
  link.setReceiver((frame) => {
    if (frame.length !== FRAME_BYTES) return;
    start ??= process.cpuUsage();
    seen++;
    lastFrameAt = Date.now();
  });
  print({ role: 'receive', ready: true, mac: formatMac(link.mac), mode: link.receiveMode, fallback: link.ringFallback ?? null });
  const timer = setInterval(() => {
    const stats = link.stats();
    const drops = stats['link.drop.rx-overflow'] ?? 0;
    if (seen + drops < frames && Date.now() - lastFrameAt < 2000) return;
    clearInterval(timer);
    const used = process.cpuUsage(start);
    link.close();
    print({ role: 'receive', frames: seen, drops, batches: stats['link.rx.batches'] ?? 0, userSeconds: used.user / 1e6, systemSeconds: used.system / 1e6, mode: link.receiveMode });
  }, 50);
}

/** Sends `frames` frames to `peer`, one batch of 64 per event-loop turn. */
function send(interfaceName: string, peer: string, frames: number): void {
  const link = openPacketLink({ interfaceName, disableOffloads: true });
  floodFrames(link, peer, FRAME_BYTES, frames, (used, stats) => {
    print({ role: 'send', frames: stats['link.tx.frames'] ?? 0, drops: stats['link.drop.tx-full'] ?? 0, userSeconds: used.user / 1e6, systemSeconds: used.system / 1e6 });
  });
}

function child(namespace: string, args: string[]): { lines: AsyncIterableIterator<string>; done: Promise<number | null> } {
  const process_ = spawn('ip', ['netns', 'exec', namespace, process.execPath, '--import', 'tsx', 'bench/link-cost.ts', ...args], {
    cwd: REPOSITORY_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: process_.stdout })[Symbol.asyncIterator]();
  const done = new Promise<number | null>((resolve) => process_.on('exit', resolve));
  return { lines, done };
}

async function nextReport(lines: AsyncIterableIterator<string>): Promise<Record<string, unknown>> {
  const next = await lines.next();
  if (next.done === true) throw new Error('child ended without a report');
  return JSON.parse(next.value) as Record<string, unknown>;
}

async function measure(namespace: string, mode: ReceiveMode, frames: number): Promise<{ receive: CpuReport; send: CpuReport }> {
  const receiver = child(namespace, ['--role', 'receive', '--interface', 'pwa', '--mode', mode, '--frames', String(frames)]);
  const ready = await nextReport(receiver.lines);
  if (ready.fallback !== null) throw new Error(`receiver fell back to recvmmsg: ${String(ready.fallback)}`);
  const sender = child(namespace, ['--role', 'send', '--interface', 'pwb', '--peer', String(ready.mac), '--frames', String(frames)]);
  const sent = (await nextReport(sender.lines)) as unknown as CpuReport;
  const received = (await nextReport(receiver.lines)) as unknown as CpuReport;
  await Promise.all([sender.done, receiver.done]);
  return { receive: received, send: sent };
}

async function main(): Promise<void> {
  if (flags.role === 'receive') return receive(flags.interface ?? 'pwa', flags.mode as ReceiveMode, Number(flags.frames));
  if (flags.role === 'send') return send(flags.interface ?? 'pwb', flags.peer ?? '', Number(flags.frames));
  const frames = Number(flags.frames);
  const runs = Number(flags.runs);
  const namespace = createFloodNamespace();
  try {
    const per = microsPerFrame;
    process.stdout.write(`| receive mode | frames received | kernel drops | frames per wakeup | receiver user µs/frame | receiver system µs/frame | sender user µs/frame | sender system µs/frame |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n`);
    for (let run = 0; run < runs; run++) {
      for (const mode of ['recvmmsg', 'tpacket-v2', 'tpacket-v3'] as const) {
        const { receive: r, send: s } = await measure(namespace, mode, frames);
        process.stdout.write(`| ${mode} | ${r.frames} | ${r.drops} | ${(r.frames / Math.max(r.batches ?? 1, 1)).toFixed(1)} | ${per(r.userSeconds, r.frames)} | ${per(r.systemSeconds, r.frames)} | ${per(s.userSeconds, s.frames)} | ${per(s.systemSeconds, s.frames)} |\n`);
      }
    }
  } finally {
    deleteNamespace(namespace);
  }
}

await main();
