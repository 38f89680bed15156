/**
 * A memory Ethernet hub: N ports, each a Link; a frame sent on one port reaches every
 * other port after `delayMs` (every stack filters by destination MAC, as on a real
 * shared segment). Each port's cable can be pulled on its own, so the simulated board
 * can cut one sensor off the LAN while the device keeps its carrier: the case the
 * keepalive detector exists for (fault 3, not fault 1).
 *
 * Driven by an injected clock like the memory wire: a Pollable whose poll() delivers
 * due frames. Frames handed to receivers are valid only during the call.
 */
import type { MacAddress } from '../../src/net/address.ts';
import type { Clock, Instant, Pollable } from '../../src/time.ts';
import type { CarrierHandler, FrameHandler, Link } from './link.ts';

export interface HubOptions {
  clock: Clock;
  /** One-way delay through the hub, ms. */
  delayMs?: number;
  mtu?: number;
}

interface Pending {
  deliverAt: Instant;
  from: HubPort;
  frame: Uint8Array;
}

export class MemoryHub implements Pollable {
  private readonly ports: HubPort[] = [];
  private readonly queue: Pending[] = [];
  private readonly clock: Clock;
  private readonly delayMs: number;
  readonly mtu: number;

  constructor(options: HubOptions) {
    this.clock = options.clock;
    this.delayMs = options.delayMs ?? 0;
    this.mtu = options.mtu ?? 1500;
  }

  /** Adds a port with a cable plugged in. */
  port(name: string, mac: MacAddress): HubPort {
    const port = new HubPort(this, name, mac, this.mtu);
    this.ports.push(port);
    return port;
  }

  pollAt(): Instant | undefined {
    return this.queue[0]?.deliverAt;
  }

  poll(now: Instant): void {
    while (this.queue.length > 0 && (this.queue[0]?.deliverAt ?? Infinity) <= now) {
      const pending = this.queue.shift()!;
      // A cable pulled while the frame was in flight loses it.
      if (!pending.from.plugged) continue;
      for (const port of this.ports) {
        if (port !== pending.from && port.plugged) port.deliver(pending.frame);
      }
    }
  }

  /** Called by a port: frames keep their order (one FIFO, equal delays). */
  enqueue(from: HubPort, frame: Uint8Array): void {
    this.queue.push({ deliverAt: this.clock.now() + this.delayMs, from, frame });
  }
}

export class HubPort implements Link {
  private receiver: FrameHandler = () => undefined;
  private readonly carrierHandlers: CarrierHandler[] = [];
  private closed = false;
  private cable = true;
  private readonly counts = { 'tx.frames': 0, 'rx.frames': 0, 'drop.unplugged': 0 };

  constructor(
    private readonly hub: MemoryHub,
    readonly name: string,
    readonly mac: MacAddress,
    readonly mtu: number,
  ) {}

  get plugged(): boolean {
    return this.cable && !this.closed;
  }

  get carrier(): boolean {
    return this.plugged;
  }

  /** Pulls (false) or plugs (true) this port's cable; carrier handlers see the change. */
  setCable(plugged: boolean): void {
    if (plugged === this.cable) return;
    this.cable = plugged;
    for (const handler of this.carrierHandlers) handler(plugged);
  }

  setReceiver(handler: FrameHandler): void {
    this.receiver = handler;
  }

  onCarrierChange(handler: CarrierHandler): void {
    this.carrierHandlers.push(handler);
  }

  transmit(frame: Uint8Array): void {
    if (!this.plugged) {
      this.counts['drop.unplugged']++;
      return;
    }
    this.counts['tx.frames']++;
    this.hub.enqueue(this, frame);
  }

  flush(): void {
    // Frames leave at transmit(): nothing is batched.
  }

  close(): void {
    this.closed = true;
  }

  stats(): Record<string, number> {
    return { ...this.counts };
  }

  deliver(frame: Uint8Array): void {
    this.counts['rx.frames']++;
    this.receiver(frame);
  }
}
