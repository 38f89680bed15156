/**
 * TIME-WAIT bookkeeping (RFC 9293 §3.4.2, RFC 1122 §4.2.2.13): the connections that
 * wait 2·MSL, oldest first, with the two rules that bound them on a small device:
 *   - `timeWaitMax` (optional): entering TIME-WAIT beyond it recycles the oldest entry
 *     (Linux's tcp_max_tw_buckets drops the new one instead; keeping the newest keeps
 *     the entry most likely to see a retransmitted FIN);
 *   - at the connection limit, the oldest entry makes room for a new connection.
 * and the rule by which a new SYN may end TIME-WAIT early (`reopens`).
 */
import type { Counters } from '../stats.ts';
import { TcpFlag, type TcpRepr } from '../wire/tcp.ts';
import type { TcpConnection } from './connection.ts';
import { seqAdd, seqGt } from './seq.ts';

/** BSD's ISS increment: a reopened TIME-WAIT tuple starts this far past the old SND.NXT (RFC 9293 §3.10.7.4). */
export const TIME_WAIT_ISS_INCREMENT = 128_000;

export class TimeWaitTable {
  /** Oldest first (insertion order). */
  private readonly entries = new Set<TcpConnection>();

  constructor(
    private readonly bound: number | undefined,
    private readonly counters: Counters,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** `connection` entered TIME-WAIT; beyond the bound the oldest entry is recycled. */
  add(connection: TcpConnection): void {
    this.entries.add(connection);
    if (this.bound !== undefined && this.entries.size > this.bound) this.recycleOldest();
  }

  remove(connection: TcpConnection): void {
    this.entries.delete(connection);
  }

  /** Ends the oldest TIME-WAIT connection to make room; false if there is none. */
  recycleOldest(): boolean {
    const oldest = this.entries.values().next();
    if (oldest.done === true) return false;
    this.counters.increment('tcp.time-wait.recycled');
    oldest.value.setState('CLOSED', 'fin');
    return true;
  }

  /**
   * RFC 9293 §3.10.7.4 / RFC 6191: a new SYN with a sequence number above the old
   * incarnation's RCV.NXT may end TIME-WAIT early when a listener would take it.
   */
  static reopens(connection: TcpConnection, segment: TcpRepr, listening: boolean): boolean {
    const control = segment.flags & (TcpFlag.SYN | TcpFlag.ACK | TcpFlag.RST);
    return listening && control === TcpFlag.SYN && seqGt(segment.sequenceNumber, connection.tcb.rcvNxt);
  }

  /** The lowest ISS for the new incarnation: beyond anything the old one sent (RFC 1122 §4.2.2.13). */
  static minimumIss(connection: TcpConnection): number {
    return seqAdd(connection.tcb.sndMax, TIME_WAIT_ISS_INCREMENT);
  }
}
