/**
 * The sender of the link-cost benchmarks (bench/link-cost.ts, bench/outgoing-cost.ts):
 * `frames` copies of one frame (to `peer`, from the link's MAC, a local experimental
 * EtherType no kernel protocol takes) through a packet link, in batches of 64 with one
 * flush per event-loop turn (`floodFrames`), on a veth pair of their own (`createFloodNamespace`); `done` gets the process's CPU time over the flood (before the
 * link closes) and the link's counters.
 */
import { parseMac } from '../../src/net/address.ts';
import type { PacketLink } from '../../hal/link/packet.ts';
import { createNamespace, deleteNamespace, execIn, ipIn } from '../../test/hal/fixtures/netns.ts';

export const TEST_ETHERTYPE = 0x88b5;
const BATCH = 64;

export function floodFrames(
  link: PacketLink,
  peer: string,
  frameBytes: number,
  frames: number,
  done: (used: NodeJS.CpuUsage, stats: Record<string, number>) => void,
): void {
  const peerMac = parseMac(peer);
  if (peerMac === undefined) throw new Error(`bad peer MAC ${peer}`);
  const template = new Uint8Array(frameBytes);
  template.set(peerMac, 0);
  template.set(link.mac, 6);
  template[12] = TEST_ETHERTYPE >> 8;
  template[13] = TEST_ETHERTYPE & 0xff;
  let sent = 0;
  const start = process.cpuUsage();
  const step = (): void => {
    for (let i = 0; i < BATCH && sent < frames; i++, sent++) link.transmit(template.slice());
    link.flush();
    if (sent < frames) {
      setImmediate(step);
      return;
    }
    const used = process.cpuUsage(start);
    const stats = link.stats();
    link.close();
    done(used, stats);
  };
  step();
}

/** A namespace of its own with the veth pair `pwa`–`pwb`, both up with their offloads off; the caller deletes it. */
export function createFloodNamespace(): string {
  const namespace = createNamespace();
  try {
    ipIn(namespace, 'link', 'add', 'pwa', 'type', 'veth', 'peer', 'name', 'pwb');
    for (const name of ['pwa', 'pwb']) {
      ipIn(namespace, 'link', 'set', name, 'up');
      execIn(namespace, 'ethtool', ['-K', name, 'tx', 'off', 'rx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off']);
    }
  } catch (error) {
    deleteNamespace(namespace);
    throw error;
  }
  return namespace;
}

/** CPU seconds over `count` frames, as microseconds per frame with two decimals. */
export function microsPerFrame(seconds: number, count: number): string {
  return ((seconds / Math.max(count, 1)) * 1e6).toFixed(2);
}
