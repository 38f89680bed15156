/**
 * RFC 9293 §3.10.7.1: a segment for no connection (CLOSED) gets an RST, unless it is
 * one: <SEQ=SEG.ACK><CTL=RST> if it carries an ACK, else
 * <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. These replies can be triggered at will by
 * an off-path sender, so they share one rate limit (limits.ts, RESETS_PER_SECOND).
 */
import type { Ipv4Address } from '../net/address.ts';
import type { Counters } from '../stats.ts';
import type { Instant } from '../time.ts';
import { TcpFlag, type TcpRepr } from '../wire/tcp.ts';
import type { SegmentEmitter } from './emitter.ts';
import type { RateLimiter } from './rate-limit.ts';
import { seqAdd } from './seq.ts';

export function resetNoConnection(
  emitter: SegmentEmitter,
  limiter: RateLimiter,
  counters: Counters,
  now: Instant,
  source: Ipv4Address,
  segment: TcpRepr,
): void {
  if (segment.flags & TcpFlag.RST) return;
  if (!limiter.allow(now)) {
    counters.increment('tcp.tx.rst-rate-limited');
    return;
  }
  const hasAck = (segment.flags & TcpFlag.ACK) !== 0;
  const length = segment.payload.length + (segment.flags & TcpFlag.SYN ? 1 : 0) + (segment.flags & TcpFlag.FIN ? 1 : 0);
  emitter.emit({
    remoteAddress: source,
    sourcePort: segment.destinationPort,
    destinationPort: segment.sourcePort,
    sequenceNumber: hasAck ? segment.acknowledgmentNumber : 0,
    acknowledgmentNumber: hasAck ? 0 : seqAdd(segment.sequenceNumber, length),
    flags: hasAck ? TcpFlag.RST : TcpFlag.RST | TcpFlag.ACK,
    window: 0,
  });
}
