/**
 * `--ip dhcp` in the firmware: the first lease is acquired on the link before the stack
 * exists (`acquireLease`, a DhcpBootstrap on the real-time loop), then the stack is built
 * on that address and its own DHCP client carries the lease on (`NetStack.continueDhcp`).
 *
 * The lease is kept under the state directory (`dhcp/lease.json`, written atomically on
 * every bind and renewal, removed when the lease is lost), so the next start asks for
 * the same address first (RFC 2131 §3.2 INIT-REBOOT). The file is untrusted input: a
 * broken one is ignored (logged), never fatal.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Link } from '../hal/link/link.ts';
import type { EventSink } from '../src/events.ts';
import type { RandomSource } from '../src/random.ts';
import type { Counters } from '../src/stats.ts';
import { DhcpBootstrap } from '../src/net/dhcp-host.ts';
import type { DhcpLease } from '../src/net/dhcp.ts';
import { formatIpv4, parseIpv4 } from '../src/net/address.ts';
import type { Ipv4Address } from '../src/net/address.ts';
import type { RealtimeLoop } from './loop.ts';
import { STATE_DIRECTORY_MODE, writePrivateFile } from './state-dir.ts';

const LEASE_DIRECTORY = 'dhcp';
const LEASE_FILE = 'lease.json';

export function leasePath(stateDir: string): string {
  return join(stateDir, LEASE_DIRECTORY, LEASE_FILE);
}

interface PersistedLease {
  address: string;
  prefixLength: number;
  router: string | null;
  server: string;
  leaseSeconds: number | null;
  /** Wall-clock (Unix ms) end of the lease; null for an infinite one. */
  expiresAtUnixMs: number | null;
}

/** Writes the lease privately (0600, temporary file + rename: a crash leaves the old file or the new one). */
export async function persistLease(stateDir: string, lease: DhcpLease, monotonicNow: number, wallNow: number): Promise<void> {
  const expiresIn = lease.acquiredAt + lease.leaseSeconds * 1000 - monotonicNow;
  const record: PersistedLease = {
    address: formatIpv4(lease.address),
    prefixLength: lease.prefixLength,
    router: lease.router === undefined ? null : formatIpv4(lease.router),
    server: formatIpv4(lease.server),
    leaseSeconds: Number.isFinite(lease.leaseSeconds) ? lease.leaseSeconds : null,
    expiresAtUnixMs: Number.isFinite(expiresIn) ? Math.round(wallNow + expiresIn) : null,
  };
  await mkdir(join(stateDir, LEASE_DIRECTORY), { recursive: true, mode: STATE_DIRECTORY_MODE });
  await writePrivateFile(leasePath(stateDir), JSON.stringify(record) + '\n');
}

export async function forgetLease(stateDir: string): Promise<void> {
  await rm(leasePath(stateDir), { force: true });
}

/**
 * The address of the kept lease, for INIT-REBOOT: undefined when there is none, or it is
 * unreadable, or it has run out (RFC 2131 §3.2 reuses only an unexpired lease).
 */
export async function loadLeaseAddress(stateDir: string, wallNow: number, events: EventSink): Promise<Ipv4Address | undefined> {
  let text: string;
  try {
    text = await readFile(leasePath(stateDir), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const record = JSON.parse(text) as Partial<PersistedLease>;
    const address = typeof record.address === 'string' ? parseIpv4(record.address) : undefined;
    const expires = record.expiresAtUnixMs;
    if (address === undefined || (expires !== null && typeof expires !== 'number')) throw new Error('missing fields');
    if (typeof expires === 'number' && expires <= wallNow) return undefined;
    return address;
  } catch (error) {
    events.emit('dhcp_lease_file_ignored', { path: leasePath(stateDir), text: error instanceof Error ? error.message : String(error) });
    return undefined;
  }
}

export interface AcquireOptions {
  loop: RealtimeLoop;
  random: RandomSource;
  events: EventSink;
  counters: Counters;
  mtu: number;
  previousAddress: Ipv4Address | undefined;
  /** Link LED traffic flicker. */
  onFrame?: () => void;
}

/**
 * Runs DHCP on `link` until the first lease is bound and probed. Resolves with the lease
 * and the bootstrap (stopped); the caller attaches the stack to the link next.
 */
export function acquireLease(link: Link, options: AcquireOptions): Promise<DhcpLease> {
  const { loop } = options;
  const bootstrap = new DhcpBootstrap(link, {
    clock: loop.clock,
    random: options.random,
    counters: options.counters,
    events: options.events,
    mtu: options.mtu,
  });
  link.setReceiver((frame) => {
    bootstrap.receiveFrame(frame);
    options.onFrame?.();
    loop.wake();
  });
  let finished = false;
  // Carrier handlers cannot be removed from a link: this one goes quiet once the stack has it.
  link.onCarrierChange((up) => {
    if (finished) return;
    bootstrap.setCarrier(up);
    loop.wake();
  });
  bootstrap.setCarrier(link.carrier);
  loop.add(bootstrap);
  loop.addLink(link);
  options.events.emit('dhcp_start', {
    link: link.name,
    previous: options.previousAddress === undefined ? null : formatIpv4(options.previousAddress),
  });
  bootstrap.start(loop.clock.now(), options.previousAddress);
  loop.wake();
  return new Promise((resolve) => {
    bootstrap.onBound((lease) => {
      finished = true;
      bootstrap.stop();
      loop.remove(bootstrap);
      resolve(lease);
    });
  });
}
