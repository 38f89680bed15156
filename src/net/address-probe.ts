/**
 * RFC 5227 §2.1 address probing: before an address is used, ask the link three times
 * whether anybody has it, and listen.
 *
 * Timeline (RFC 5227 §1.1 constants, all injectable for tests):
 *   start → wait random 0..PROBE_WAIT → probe 1 → random PROBE_MIN..PROBE_MAX → probe 2
 *   → random PROBE_MIN..PROBE_MAX → probe 3 → ANNOUNCE_WAIT → done (the address is ours)
 *
 * Conflict (RFC 5227 §2.1.1): during the whole probe, any ARP packet from another MAC
 * whose *sender* address is the target (the owner answering, or announcing), or an ARP
 * Probe (sender address 0.0.0.0) from another MAC whose *target* is the target (another
 * host probing for the same address at the same time).
 *
 * Pure: `poll(now)` at `pollAt()`; sending a probe is the caller's callback.
 */
import type { RandomSource } from '../random.ts';
import type { Instant } from '../time.ts';
import type { ArpRepr } from '../wire/arp.ts';
import { macEquals } from './address.ts';
import type { Ipv4Address, MacAddress } from './address.ts';

export interface ProbeSettings {
  /** PROBE_WAIT: the random delay before the first probe (0..this). */
  probeWaitMs: number;
  /** PROBE_NUM. */
  probeCount: number;
  /** PROBE_MIN, PROBE_MAX: spacing of the probes. */
  probeMinMs: number;
  probeMaxMs: number;
  /** ANNOUNCE_WAIT: silence after the last probe before the address is ours. */
  announceWaitMs: number;
}

/** RFC 5227 §1.1. */
export const RFC5227_PROBE: Readonly<ProbeSettings> = Object.freeze({
  probeWaitMs: 1000,
  probeCount: 3,
  probeMinMs: 1000,
  probeMaxMs: 2000,
  announceWaitMs: 2000,
});

export type ProbeOutcome = 'probing' | 'free';

/** A uniformly random duration in [minimum, maximum] from a 32-bit random word. */
export function randomBetween(random: RandomSource, minimum: number, maximum: number): number {
  return minimum + Math.floor(((maximum - minimum) * random.uint32()) / 0x1_0000_0000);
}

export class AddressProbe {
  private probesSent = 0;
  private nextAt: Instant;

  constructor(
    readonly target: Ipv4Address,
    private readonly mac: MacAddress,
    private readonly settings: ProbeSettings,
    private readonly random: RandomSource,
    now: Instant,
    private readonly sendProbe: (target: Ipv4Address) => void,
  ) {
    this.nextAt = now + randomBetween(random, 0, settings.probeWaitMs);
  }

  pollAt(): Instant {
    return this.nextAt;
  }

  /** Sends the probe that is due, or reports the address free once ANNOUNCE_WAIT passed. */
  poll(now: Instant): ProbeOutcome {
    if (now < this.nextAt) return 'probing';
    if (this.probesSent >= this.settings.probeCount) return 'free';
    this.sendProbe(this.target);
    this.probesSent++;
    this.nextAt =
      this.probesSent < this.settings.probeCount
        ? now + randomBetween(this.random, this.settings.probeMinMs, this.settings.probeMaxMs)
        : now + this.settings.announceWaitMs;
    return 'probing';
  }

  /** RFC 5227 §2.1.1: whether this ARP packet means somebody else has or wants the address. */
  conflicts(packet: ArpRepr): boolean {
    if (macEquals(packet.senderHardwareAddr, this.mac)) return false;
    if (packet.senderProtocolAddr === this.target) return true;
    return packet.senderProtocolAddr === 0 && packet.targetProtocolAddr === this.target;
  }
}
