/**
 * TIME-WAIT (RFC 9293 §3.4.2, §3.10.7.4) as a compact record, as Linux's
 * inet_timewait_sock: when a connection enters TIME-WAIT its application has already
 * been told of the close, so the stack keeps only what TIME-WAIT needs (the 4-tuple,
 * both sequence numbers, the window to advertise, the expiry) and lets go of the
 * connection, its buffers and its handler. A device that closes first for thousands
 * of sensor sessions holds a few numbers per session for 2·MSL, not 32 KiB.
 *
 * What arrives for a TIME-WAIT tuple (`segmentArrives`):
 *   - RST: ignored (RFC 1337 §3, "TIME-WAIT assassination");
 *   - a SYN with a sequence number above RCV.NXT while a listener has the port: ends
 *     TIME-WAIT early (RFC 6191); the new ISS must lie beyond the old incarnation
 *     (`minimumIss`, RFC 1122 §4.2.2.13);
 *   - any other SYN: a challenge ACK (RFC 5961 §4.2);
 *   - a retransmitted FIN: ACKed, and 2·MSL starts again;
 *   - anything else that occupies sequence space: ACKed; a bare ACK out of the window:
 *     ACKed within the challenge-ACK limits (RFC 5961 §7); an in-window bare ACK: nothing.
 *
 * Bounds: `timeWaitMax` (optional) recycles the oldest entry when exceeded (Linux's
 * tcp_max_tw_buckets drops the new one instead; keeping the newest keeps the entry
 * most likely to see a retransmitted FIN), and at the connection limit the oldest
 * entry makes room for a new connection. Entries are kept oldest first: every entry
 * lives 2·MSL from its last FIN, so the first one expires first.
 */
import type { Ipv4Address } from '../net/address.ts';
import type { Counters } from '../stats.ts';
import type { Instant } from '../time.ts';
import { TcpFlag, type TcpRepr } from '../wire/tcp.ts';
import type { SegmentEmitter } from './emitter.ts';
import { seqAdd, seqGt } from './seq.ts';
import { CHALLENGE_ACK_INTERVAL_MS } from './limits.ts';

/** BSD's ISS increment: a reopened TIME-WAIT tuple starts this far past the old SND.NXT (RFC 9293 §3.10.7.4). */
export const TIME_WAIT_ISS_INCREMENT = 128_000;

/** One TIME-WAIT tuple: no buffers, no handler, no timers of its own. */
export class TimeWaitEntry {
  /** Set when the entry ended (expired, recycled or reopened). */
  closed = false;
  lastAckAt: Instant | undefined;

  constructor(
    readonly localPort: number,
    readonly remoteAddress: Ipv4Address,
    readonly remotePort: number,
    /** Our highest sequence number sent (our FIN included): the SEQ of our ACKs. */
    readonly sndNxt: number,
    /** The peer's FIN included. */
    readonly rcvNxt: number,
    /** The window our ACKs advertise. */
    readonly window: number,
    public expiresAt: Instant,
  ) {}
}

export interface TimeWaitContext {
  readonly counters: Counters;
  readonly emitter: SegmentEmitter;
  /** 2·MSL in ms. */
  readonly lifetime: number;
  readonly bound: number | undefined;
  /** The stack-wide challenge-ACK budget (RFC 5961 §7). */
  allowChallengeAck(now: Instant): boolean;
}

export class TimeWaitTable {
  /** local port → (remote address · 65536 + remote port) → entry. */
  private readonly byLocalPort = new Map<number, Map<number, TimeWaitEntry>>();
  /** Oldest first (insertion order; a restarted entry moves to the end). */
  private readonly order = new Set<TimeWaitEntry>();

  constructor(private readonly context: TimeWaitContext) {}

  get size(): number {
    return this.order.size;
  }

  lookup(localPort: number, remoteAddress: Ipv4Address, remotePort: number): TimeWaitEntry | undefined {
    return this.byLocalPort.get(localPort)?.get(remoteAddress * 65536 + remotePort);
  }

  /** A connection entered TIME-WAIT at `now`; beyond the bound the oldest entry is recycled. */
  add(entry: TimeWaitEntry): void {
    const existing = this.lookup(entry.localPort, entry.remoteAddress, entry.remotePort);
    if (existing !== undefined) this.remove(existing);
    let byRemote = this.byLocalPort.get(entry.localPort);
    if (byRemote === undefined) {
      byRemote = new Map();
      this.byLocalPort.set(entry.localPort, byRemote);
    }
    byRemote.set(entry.remoteAddress * 65536 + entry.remotePort, entry);
    this.order.add(entry);
    if (this.context.bound !== undefined && this.order.size > this.context.bound) this.recycleOldest();
  }

  /** Ends the oldest entry to make room; false if there is none. */
  recycleOldest(): boolean {
    const oldest = this.order.values().next();
    if (oldest.done === true) return false;
    this.context.counters.increment('tcp.time-wait.recycled');
    this.remove(oldest.value);
    return true;
  }

  pollAt(): Instant | undefined {
    const oldest = this.order.values().next();
    return oldest.done === true ? undefined : oldest.value.expiresAt;
  }

  /** Ends every entry whose 2·MSL is over. */
  poll(now: Instant): void {
    for (const entry of this.order) {
      if (entry.expiresAt > now) return;
      this.remove(entry);
    }
  }

  /**
   * A segment for a TIME-WAIT tuple. Returns 'reopen' when it is a SYN that may start a
   * new incarnation (the entry is then gone and `minimumIss` applies), else 'handled'.
   */
  segmentArrives(entry: TimeWaitEntry, segment: TcpRepr, listening: boolean, now: Instant): 'reopen' | 'handled' {
    const { counters } = this.context;
    const flags = segment.flags;
    if (flags & TcpFlag.RST) {
      counters.increment('tcp.drop.rst-in-time-wait');
      return 'handled';
    }
    if (flags & TcpFlag.SYN) {
      if (listening && (flags & TcpFlag.ACK) === 0 && seqGt(segment.sequenceNumber, entry.rcvNxt)) {
        counters.increment('tcp.rx.time-wait-reuse');
        this.remove(entry);
        return 'reopen';
      }
      counters.increment('tcp.drop.challenge-ack');
      this.challengeAck(entry, now);
      return 'handled';
    }
    const length = segment.payload.length + (flags & TcpFlag.FIN ? 1 : 0);
    if (flags & TcpFlag.FIN && seqAdd(segment.sequenceNumber, length) === entry.rcvNxt) {
      // The peer did not get our ACK of its FIN: ACK again and wait 2·MSL from now.
      entry.expiresAt = now + this.context.lifetime;
      this.order.delete(entry);
      this.order.add(entry);
      this.ack(entry);
      return 'handled';
    }
    if (length > 0) {
      counters.increment('tcp.rx.data-after-fin');
      this.ack(entry);
      return 'handled';
    }
    if (segment.sequenceNumber !== entry.rcvNxt) {
      counters.increment('tcp.drop.out-of-window');
      this.challengeAck(entry, now);
    }
    return 'handled';
  }

  /** The lowest ISS for a new incarnation of `entry`'s tuple (RFC 1122 §4.2.2.13). */
  static minimumIss(entry: TimeWaitEntry): number {
    return seqAdd(entry.sndNxt, TIME_WAIT_ISS_INCREMENT);
  }

  private remove(entry: TimeWaitEntry): void {
    entry.closed = true;
    this.order.delete(entry);
    const byRemote = this.byLocalPort.get(entry.localPort);
    if (byRemote === undefined) return;
    const key = entry.remoteAddress * 65536 + entry.remotePort;
    if (byRemote.get(key) === entry) byRemote.delete(key);
    if (byRemote.size === 0) this.byLocalPort.delete(entry.localPort);
  }

  private challengeAck(entry: TimeWaitEntry, now: Instant): void {
    const last = entry.lastAckAt;
    if ((last !== undefined && now - last < CHALLENGE_ACK_INTERVAL_MS) || !this.context.allowChallengeAck(now)) {
      this.context.counters.increment('tcp.tx.challenge-ack-limited');
      return;
    }
    entry.lastAckAt = now;
    this.ack(entry);
  }

  /** <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> with the window the connection last offered. */
  private ack(entry: TimeWaitEntry): void {
    this.context.emitter.emit({
      remoteAddress: entry.remoteAddress,
      sourcePort: entry.localPort,
      destinationPort: entry.remotePort,
      sequenceNumber: entry.sndNxt,
      acknowledgmentNumber: entry.rcvNxt,
      flags: TcpFlag.ACK,
      window: entry.window,
    });
  }
}
