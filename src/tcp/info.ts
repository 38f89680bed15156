/**
 * A snapshot of one connection for diagnostics (the shell's `conns`, SPEC section 5).
 */
import type { Ipv4Address } from '../net/address.ts';
import type { TcpState } from './state.ts';
import type { CongestionAlgorithm } from './config.ts';

export interface ConnectionInfo {
  id: number;
  state: TcpState;
  localAddress: Ipv4Address;
  localPort: number;
  remoteAddress: Ipv4Address;
  remotePort: number;
  /** Smoothed RTT in ms (undefined before the first sample). */
  srtt: number | undefined;
  rttvar: number | undefined;
  /** Current retransmission timeout in ms. */
  rto: number;
  /**
   * Payload of a full-sized segment in bytes: the send MSS after path MTU discovery and
   * black-hole detection (RFC 1191, RFC 4821), less the options every segment carries.
   */
  mss: number;
  /** The congestion-control algorithm (tcp.congestion or the listener's/connect()'s choice). */
  congestion: CongestionAlgorithm;
  /**
   * BBR's model (bbr.ts), only for a connection that runs BBR: its mode, BtlBw and the
   * pacing rate in bytes per second, RTprop in ms (undefined before a sample).
   */
  bbr?: { mode: string; bandwidth: number; minRtt: number | undefined; pacingRate: number };
  /** Congestion window in bytes. */
  cwnd: number;
  ssthresh: number;
  /** The peer's advertised window (SND.WND). */
  sendWindow: number;
  /** The window we advertise (RCV.WND). */
  receiveWindow: number;
  bytesInFlight: number;
  retransmits: number;
  /** Zero-window probes sent, and those the peer answered (with any segment). */
  zeroWindowProbes: number;
  zeroWindowProbesAnswered: number;
  keepaliveProbes: number;
  segmentsIn: number;
  segmentsOut: number;
  /** What the handshake agreed (RFC 2018, RFC 7323): shifts are ours (receive) and the peer's (send). */
  negotiated: { sack: boolean; timestamps: boolean; windowScale: { receive: number; send: number } | undefined };
}
