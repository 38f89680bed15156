/**
 * The UDP layer (RFC 768, RFC 1122 §4.1): port demultiplexing on top of the interface.
 * It is as small as the one user that needs it today, the DHCP client: bind a port to
 * a handler, send a datagram from a port. No sockets, no queues: a handler gets each
 * datagram synchronously, as a view valid only during the call.
 *
 * Call order: construct → `interface.registerProtocol(IpProtocol.UDP, udp)` →
 * `bind(port, handler)` → `input(...)` from the interface, `send(...)` from users.
 *
 * Receive accounting: the interface counts the hand-off (`ipv4.rx.delivered.udp`);
 * after that every datagram ends in `udp.rx.delivered` or one `udp.drop.<reason>`
 * (`truncated`, `bad-length`, `bad-checksum`, `no-port`). RFC 1122 §4.1.3.1 would have
 * us answer an unbound port with ICMP Port Unreachable; like TCP's closed ports we stay
 * silent on a segment a device shares with strangers.
 */
import type { Counters } from '../stats.ts';
import type { Instant } from '../time.ts';
import type { Ipv4Address } from './address.ts';
import type { ProtocolHandler } from './interface.ts';
import type { IpSender, IpSendResult } from './ip-sender.ts';
import { emitUdp, parseUdp, UDP_HEADER_LENGTH } from '../wire/udp.ts';
import { IpProtocol } from '../wire/ipv4.ts';

export interface UdpDatagram {
  source: Ipv4Address;
  sourcePort: number;
  destination: Ipv4Address;
  /** A view into the received frame: valid only during the handler call. */
  payload: Uint8Array;
}

export type UdpHandler = (datagram: UdpDatagram, now: Instant) => void;

/** What UDP needs from the interface layer: the send contract, and our address now. */
export interface UdpIp extends IpSender {
  /** 0 while unconfigured; for the checksum's pseudo header. */
  readonly address: Ipv4Address;
}

/** Few users, few ports: a bound on the table all the same. */
const MAX_BOUND_PORTS = 64;

export class UdpLayer implements ProtocolHandler {
  private readonly handlers = new Map<number, UdpHandler>();

  constructor(
    private readonly ip: UdpIp,
    private readonly counters: Counters,
  ) {}

  /** Programmer errors throw: a bad port, a port already bound, the table full. */
  bind(port: number, handler: UdpHandler): void {
    if (!Number.isInteger(port) || port < 1 || port > 0xffff) throw new RangeError(`UDP port must be in 1..65535, got ${port}`);
    if (this.handlers.has(port)) throw new RangeError(`UDP port ${port} is already bound`);
    if (this.handlers.size >= MAX_BOUND_PORTS) throw new RangeError(`at most ${MAX_BOUND_PORTS} UDP ports can be bound`);
    this.handlers.set(port, handler);
  }

  unbind(port: number): void {
    this.handlers.delete(port);
  }

  input(source: Ipv4Address, destination: Ipv4Address, payload: Uint8Array, now: Instant): void {
    const parsed = parseUdp(payload, source, destination);
    if (!parsed.ok) {
      this.counters.increment(`udp.drop.${parsed.error}`);
      return;
    }
    const datagram = parsed.value;
    const handler = this.handlers.get(datagram.destinationPort);
    if (handler === undefined) {
      this.counters.increment('udp.drop.no-port');
      return;
    }
    this.counters.increment('udp.rx.delivered');
    handler({ source, sourcePort: datagram.sourcePort, destination, payload: datagram.payload }, now);
  }

  /** One datagram from our address; `payload` is copied into the packet. */
  send(sourcePort: number, destination: Ipv4Address, destinationPort: number, payload: Uint8Array): IpSendResult {
    const source = this.ip.address;
    const result = this.ip.sendIpv4(destination, IpProtocol.UDP, UDP_HEADER_LENGTH + payload.length, (frame, offset) => {
      emitUdp({ sourcePort, destinationPort, payload }, frame.subarray(offset), source, destination);
    });
    if (result === 'sent' || result === 'queued') this.counters.increment('udp.tx.datagrams');
    return result;
  }
}
