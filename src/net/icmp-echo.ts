/**
 * ICMP echo (RFC 792 "Echo or Echo Reply Message", RFC 1122 §3.2.2.6): answers pings
 * to our address and delivers the replies to our own pings (the shell's `ping`).
 *
 * Contract: the interface hands `input()` the payload of every valid, unfragmented
 * IPv4 packet with protocol 1 that is for us, and counts the outcome name it returns
 * (one per frame). Replies and requests go out through the interface's `sendIpv4`,
 * so they follow the same route, ARP and MTU rules as everything else.
 *
 * Policy:
 * - Echo requests to a broadcast address are not answered (Linux's default
 *   `icmp_echo_ignore_broadcasts=1`; RFC 1122 §3.2.2.6 allows it): one ping must not
 *   make every host on the segment answer at once.
 * - Error messages that quote one of our datagrams (Destination Unreachable, Time
 *   Exceeded, Parameter Problem: icmp-error.ts) go to the `errors` delegate, which
 *   reports them to the transport that sent the datagram (RFC 1122 §3.2.2, §4.2.3.9).
 * - Every other ICMP type (timestamps, redirects, source quench: RFC 6633...) is
 *   counted and dropped.
 * - Reply handlers see the payload as a view into the received frame, valid only
 *   during the call.
 */
import type { Counters } from '../stats.ts';
import type { Instant } from '../time.ts';
import type { Ipv4Address } from './address.ts';
import { emitIcmp, icmpLength, IcmpType, parseIcmp } from '../wire/icmp.ts';
import type { IcmpRepr } from '../wire/icmp.ts';
import { IpProtocol } from '../wire/ipv4.ts';
import { isReportedIcmpError } from './icmp-error.ts';
import type { IpSender, IpSendResult } from './ip-sender.ts';

export type EchoReplyHandler = (
  source: Ipv4Address,
  identifier: number,
  sequence: number,
  payload: Uint8Array,
  now: Instant,
) => void;

/** Outcome counter names for a received ICMP message: exactly one per frame. */
export type IcmpOutcome =
  | 'icmp.rx.echo-request'
  | 'icmp.rx.echo-reply'
  | 'icmp.drop.broadcast-echo'
  | 'icmp.drop.unhandled-type'
  | 'icmp.rx.error'
  | `icmp.drop.${string}`;

/** Reports an ICMP error message to its transport; returns the frame's outcome. */
export type IcmpErrorDelegate = (source: Ipv4Address, message: IcmpRepr, broadcast: boolean, now: Instant) => IcmpOutcome;

export class IcmpEcho {
  private readonly replyHandlers: EchoReplyHandler[] = [];

  constructor(
    private readonly ip: IpSender,
    private readonly counters: Counters,
    private readonly errors: IcmpErrorDelegate,
  ) {}

  onEchoReply(handler: EchoReplyHandler): void {
    this.replyHandlers.push(handler);
  }

  /** `broadcast`: the IPv4 destination was a broadcast address, not ours. */
  input(source: Ipv4Address, payload: Uint8Array, broadcast: boolean, now: Instant): IcmpOutcome {
    const parsed = parseIcmp(payload);
    if (!parsed.ok) return `icmp.drop.${parsed.error}`;
    const message = parsed.value;
    switch (message.type) {
      case IcmpType.ECHO_REQUEST:
        if (broadcast) return 'icmp.drop.broadcast-echo';
        this.reply(source, message);
        return 'icmp.rx.echo-request';
      case IcmpType.ECHO_REPLY:
        for (const handler of this.replyHandlers) {
          handler(source, message.identifier, message.sequence, message.payload, now);
        }
        return 'icmp.rx.echo-reply';
      default:
        return isReportedIcmpError(message.type) ? this.errors(source, message, broadcast, now) : 'icmp.drop.unhandled-type';
    }
  }

  /** Sends an echo request; the reply, if any, reaches the onEchoReply handlers. */
  ping(destination: Ipv4Address, identifier: number, sequence: number, payload: Uint8Array): IpSendResult {
    checkUint16('identifier', identifier);
    checkUint16('sequence', sequence);
    const request: IcmpRepr = { type: IcmpType.ECHO_REQUEST, code: 0, identifier, sequence, payload };
    const result = this.ip.sendIpv4(destination, IpProtocol.ICMP, icmpLength(request), (frame, offset) =>
      emitIcmp(request, frame.subarray(offset)),
    );
    if (result === 'sent' || result === 'queued') this.counters.increment('icmp.tx.echo-request');
    return result;
  }

  /**
   * RFC 792: the reply carries the request's identifier, sequence number and data
   * unchanged, type 0, code 0, with a fresh checksum. The data is copied into the
   * reply frame before this returns, so the request's frame can go.
   */
  private reply(destination: Ipv4Address, request: IcmpRepr): void {
    const reply: IcmpRepr = {
      type: IcmpType.ECHO_REPLY,
      code: 0,
      identifier: request.identifier,
      sequence: request.sequence,
      payload: request.payload,
    };
    const result = this.ip.sendIpv4(destination, IpProtocol.ICMP, icmpLength(reply), (frame, offset) =>
      emitIcmp(reply, frame.subarray(offset)),
    );
    if (result === 'sent' || result === 'queued') this.counters.increment('icmp.tx.echo-reply');
  }
}

function checkUint16(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new RangeError(`ping ${name} must be an integer in 0..65535, got ${value}`);
  }
}
