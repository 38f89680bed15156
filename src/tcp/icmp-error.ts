/**
 * ICMP errors for a TCP connection (RFC 1122 §4.2.3.9; RFC 5927 against blind attacks;
 * RFC 1191 for "fragmentation needed"), as Linux's tcp_v4_err decides them. The stack
 * (stack.ts `icmpError`) finds the connection from the quoted TCP header's ports and
 * the quoted destination; `icmpErrorArrives` does the rest and returns the name of the
 * one counter the message ends in:
 *
 *   tcp.icmp.drop.bad-sequence  the quoted sequence number is not in flight: outside
 *                               [SND.UNA, SND.MAX) (RFC 5927 §4.1; a blind attacker
 *                               must guess it, as for an RST)
 *   tcp.icmp.drop.unhandled     a Destination Unreachable code no RFC defines (above 15)
 *   tcp.icmp.pmtu-lowered       "fragmentation needed": the send MSS dropped (path-mtu.ts)
 *   tcp.icmp.pmtu-not-lower     "fragmentation needed" with an MTU we already fit under
 *   tcp.icmp.hard-error         protocol or port unreachable during the handshake: the
 *                               connection ends (ECONNREFUSED, RFC 1122 §4.2.3.9)
 *   tcp.icmp.soft-error         anything else (net/host unreachable, time exceeded,
 *                               parameter problem; or any error once synchronized):
 *                               remembered as the connection's `softError`, the cause
 *                               reported if it later times out (Linux sk_err_soft);
 *                               a net/host unreachable for a backed-off retransmission
 *                               also undoes one RTO doubling (RFC 6069, `revertBackOff`,
 *                               counted as tcp.icmp.rto-reverted)
 *
 * Never aborts an established connection: RFC 1122 §4.2.3.9 says soft errors MUST NOT,
 * and RFC 5927 §4.2 recommends treating hard errors as soft once synchronized.
 */
import type { Instant } from '../time.ts';
import { formatIpv4 } from '../net/address.ts';
import type { IcmpErrorReport } from '../net/icmp-error.ts';
import { ErrorCode, NetError } from '../errors.ts';
import { IcmpType, IcmpUnreachableCode } from '../wire/icmp.ts';
import type { TcpConnection } from './connection.ts';
import { seqGe, seqLt } from './seq.ts';
import { pathMtuReported } from './path-mtu.ts';
import type { PathMtuCache } from './path-mtu-cache.ts';

export type IcmpErrorOutcome =
  | 'tcp.icmp.drop.bad-sequence'
  | 'tcp.icmp.drop.unhandled'
  | 'tcp.icmp.pmtu-lowered'
  | 'tcp.icmp.pmtu-not-lower'
  | 'tcp.icmp.hard-error'
  | 'tcp.icmp.soft-error';

/** RFC 1122 §4.2.3.9: Destination Unreachable codes 2 and 3 are hard errors (4 is RFC 1191's). */
function isHardUnreachable(code: number): boolean {
  return code === IcmpUnreachableCode.PROTOCOL || code === IcmpUnreachableCode.PORT;
}

/** The error code and text an ICMP error is reported with. */
function describe(report: IcmpErrorReport): { code: ErrorCode; text: string } {
  const from = ` (ICMP from ${formatIpv4(report.reporter)})`;
  if (report.type === IcmpType.TIME_EXCEEDED) return { code: ErrorCode.EHOSTUNREACH, text: `time exceeded in transit${from}` };
  if (report.type === IcmpType.PARAMETER_PROBLEM) return { code: ErrorCode.EHOSTUNREACH, text: `parameter problem${from}` };
  switch (report.code) {
    case IcmpUnreachableCode.NETWORK:
    case IcmpUnreachableCode.NETWORK_UNKNOWN:
    case IcmpUnreachableCode.NETWORK_PROHIBITED:
    case IcmpUnreachableCode.NETWORK_UNREACHABLE_FOR_TOS:
      return { code: ErrorCode.ENETUNREACH, text: `network unreachable${from}` };
    case IcmpUnreachableCode.PROTOCOL:
      return { code: ErrorCode.ECONNREFUSED, text: `protocol unreachable${from}` };
    case IcmpUnreachableCode.PORT:
      return { code: ErrorCode.ECONNREFUSED, text: `port unreachable${from}` };
    default:
      return { code: ErrorCode.EHOSTUNREACH, text: `host unreachable, code ${report.code}${from}` };
  }
}

/**
 * An ICMP error quoting a segment of `connection` whose sequence number was
 * `quotedSequence`. Records what must happen; output follows at the end of the entry point.
 */
export function icmpErrorArrives(
  connection: TcpConnection,
  report: IcmpErrorReport,
  quotedSequence: number,
  cache: PathMtuCache,
  now: Instant,
): IcmpErrorOutcome {
  const tcb = connection.tcb;
  // RFC 5927 §4.1 (Linux tcp_v4_err): only a segment still in flight can have caused it.
  if (seqLt(quotedSequence, tcb.sndUna) || seqGe(quotedSequence, tcb.sndMax)) return 'tcp.icmp.drop.bad-sequence';
  if (report.type === IcmpType.DESTINATION_UNREACHABLE && report.code === IcmpUnreachableCode.FRAGMENTATION_NEEDED) {
    return pathMtuReported(connection, report.nextHopMtu, report.quotedTotalLength, cache, now);
  }
  if (report.type === IcmpType.DESTINATION_UNREACHABLE && report.code > IcmpUnreachableCode.PRECEDENCE_CUTOFF) {
    return 'tcp.icmp.drop.unhandled';
  }
  const error = describe(report);
  const handshake = connection.state === 'SYN-SENT' || connection.state === 'SYN-RECEIVED';
  if (handshake && report.type === IcmpType.DESTINATION_UNREACHABLE && isHardUnreachable(report.code)) {
    connection.setState('CLOSED', 'refused', new NetError(error.code, `connection refused: ${error.text}`));
    return 'tcp.icmp.hard-error';
  }
  connection.softError = error;
  if (!handshake) revertBackOff(connection, report, quotedSequence, now);
  return 'tcp.icmp.soft-error';
}

/**
 * RFC 6069 (Linux tcp_ld_RTO_revert): a net or host unreachable quoting SND.UNA while
 * the retransmission timer is backed off says the path is down, not congested: one
 * doubling of the RTO is undone, and the timer runs from the last retransmission with
 * the reverted RTO (at once if that has passed), so the connection resumes sooner when
 * the path comes back. Only once per backed-off retransmission: the next ICMP for the
 * same retransmission finds one doubling less.
 */
function revertBackOff(connection: TcpConnection, report: IcmpErrorReport, quotedSequence: number, now: Instant): void {
  if (report.type !== IcmpType.DESTINATION_UNREACHABLE || (report.code !== IcmpUnreachableCode.NETWORK && report.code !== IcmpUnreachableCode.HOST)) return;
  const retransmitAt = connection.retransmitAt;
  const doublings = connection.backoffCount - connection.rtoReverts;
  if (quotedSequence !== connection.tcb.sndUna || doublings <= 0 || retransmitAt === undefined) return;
  const retransmittedAt = retransmitAt - connection.rtt.rto;
  // The retry count (backoffCount: the give-up limit, black-hole detection) stays, as
  // Linux keeps icsk_retransmits and lowers only icsk_backoff.
  connection.rtoReverts++;
  connection.rtt.revertBackOff(doublings - 1);
  connection.retransmitAt = Math.max(now, retransmittedAt + connection.rtt.rto);
  connection.context.counters.increment('tcp.icmp.rto-reverted');
  connection.context.touch(connection);
}
