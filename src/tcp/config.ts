/**
 * Per-stack TCP settings (SPEC section 2, `tcp.*`). The stack owner computes `mss`
 * from the link MTU (MTU − 40: IPv4 and TCP headers without options, RFC 9293 §3.7.1).
 */
export interface KeepaliveConfig {
  enabled: boolean;
  /** ms without any segment from the peer before the first probe (RFC 1122 §4.2.3.6). */
  idle: number;
  /** ms between unanswered probes. */
  interval: number;
  /** Unanswered probes before the peer is declared lost. */
  count: number;
}

export interface TcpConfig {
  /** Our MSS, advertised in SYN and SYN-ACK and the cap on every segment we send. */
  mss: number;
  /** Receive buffer in bytes: the advertised window follows its free space. */
  rcvBuf: number;
  /** Send buffer in bytes. */
  sndBuf: number;
  /** Maximum segment lifetime in ms; TIME-WAIT lasts 2·msl (RFC 9293 §3.4.2). */
  msl: number;
  /** RTO before the first RTT sample (RFC 6298 §2.1). */
  initialRto: number;
  /** Lower bound on the RTO (RFC 6298 §2.4 says 1 s; Linux uses 200 ms). */
  minRto: number;
  /** Upper bound on the backed-off RTO (RFC 6298 §2.5). */
  maxRto: number;
  /** Retransmissions of a SYN before an active open fails (Linux tcp_syn_retries). */
  synRetries: number;
  /** Retransmissions of data before the connection is aborted (Linux tcp_retries2). */
  dataRetries: number;
  /** ms data may stay unacknowledged before the connection aborts (RFC 5482); 0 = off. */
  userTimeout: number;
  /** Delayed-ACK timeout in ms (RFC 1122 §4.2.3.2: < 500 ms); a connection's SRTT lowers it, not under 5 ms (ack-policy.ts `delayedAckTimeout`). */
  delayedAckMs: number;
  keepalive: KeepaliveConfig;
  /** Cap of the zero-window probe back-off in ms. */
  persistMax: number;
  maxConnections: number;
  /** SYN-RECEIVED connections allowed per listener (half-open backlog). */
  synBacklog: number;
  /** Optional cap on connections held in TIME-WAIT; the oldest is recycled beyond it. */
  timeWaitMax?: number;
  /** An orphaned connection (the application let go) in FIN-WAIT-2 ends after this many ms (Linux tcp_fin_timeout). */
  finTimeout: number;
  /** Back-offs after which an orphan still retransmitting or probing gives up (Linux tcp_orphan_retries). */
  orphanRetries: number;
  /** Orphans kept at most; beyond it the oldest is reset (Linux tcp_max_orphans). */
  maxOrphans: number;
  /**
   * Offer and accept SACK (RFC 2018): as a receiver, report out-of-order data (and
   * duplicates, RFC 2883) in SACK blocks; as a sender, recover from losses with the
   * peer's blocks (RFC 6675, recovery.ts).
   */
  sack: boolean;
  /**
   * Black-hole detection (RFC 4821 §7.6, Linux tcp_mtu_probing=1): after repeated
   * retransmission timeouts of full-sized segments, step the send MSS down (1024, then
   * 536) for PMTU_LIFETIME_MS (path-mtu.ts). ICMP-driven path MTU discovery (RFC 1191)
   * is always on.
   */
  mtuProbing: boolean;
  /**
   * With SACK in use: RACK time-based loss detection and the tail loss probe
   * (RFC 8985). Off: RFC 6675 DupThresh loss marking only, and a lost tail waits for the RTO.
   */
  rack: boolean;
  /**
   * The congestion-control algorithm of each connection (listen/connect may choose their
   * own): CUBIC (RFC 9438, as Linux), NewReno (RFC 5681, RFC 6582; congestion.ts) or
   * BBR v1 (draft-cardwell-iccrg-bbr-congestion-control-00, as Linux tcp_bbr.c; bbr.ts,
   * paced: pacing.ts; with a peer that does SACK, else CUBIC).
   */
  congestion: CongestionAlgorithm;
  /**
   * With SACK in use: Proportional Rate Reduction (RFC 6937, RFC 9937; prr.ts) governs
   * what leaves during recovery, as Linux does. Off: RFC 6675's pipe < cwnd rule alone.
   */
  prr: boolean;
  /**
   * With SACK in use: the recovery probe (recovery.ts): in recovery, when no ACK has come
   * for max(2·SRTT, 10 ms) (`ptoFloor`) after the last transmission or ACK, the segment at SND.UNA is
   * resent (twice at most without an ACK reporting delivery in between) instead of waiting for the RTO. Not in RFC 8985 or
   * Linux, which arm no probe in recovery (README, deliberate differences).
   */
  recoveryProbe: boolean;
  /**
   * With SACK and RACK in use: the tail probe's follow-up (recovery.ts
   * `tlpFollowUpTimeout`): when a tail loss probe draws no ACK for max(2·SRTT, 10 ms) (`ptoFloor`),
   * the segment at SND.UNA is resent (twice at most without an ACK that advances
   * SND.UNA in between, each such ACK restarting the wait), so a lost probe or a lost or delayed answer costs a few
   * round trips, not the RTO. Not in RFC 8985 or Linux, which allow one probe per flight
   * and then wait for the RTO (README, deliberate differences).
   */
  tlpFollowUp: boolean;
  /**
   * With SACK in use: F-RTO (RFC 5682 §3, the SACK-enhanced version; Linux `tcp_frto`):
   * after an RTO, the first ACK that advances sends new data instead of going back N,
   * and if the next ACK then shows segments sent before the timeout arrived, the timeout
   * was spurious: the window reduction is undone and nothing more is resent (recovery.ts).
   */
  frto: boolean;
  /**
   * With RACK: the tail loss probe sends one segment of new data when some waits and the
   * peer's window allows (RFC 8985 §7.3, as Linux). Off (the default): it resends the last
   * segment not SACKed, which a receiver that delays ACKs acknowledges at once (output.ts
   * `sendLossProbe` says why).
   */
  lossProbeNewData: boolean;
  /**
   * The probe timeouts (the tail loss probe's PTO, RFC 8985 §7.2, the recovery probe's and
   * the follow-up's) as max(2·SRTT, 10 ms), the first TLP's floor (Linux 3.10-4.13), the
   * default. Off: 2·SRTT + 2 ms, as Linux's tcp_schedule_loss_probe since 4.14
   * (recovery.ts `twoRoundTrips` says why the floor stays the default).
   */
  ptoFloor: boolean;
  /** Offer and accept window scaling (RFC 7323 §2): windows beyond 64 KiB. */
  windowScale: boolean;
  /** Offer and accept timestamps (RFC 7323 §3-5): RTT measurement on every ACK and PAWS. */
  timestamps: boolean;
  /** Largest receive or send buffer one connection may ask for (listen/connect options). */
  maxBuf: number;
  /**
   * Buffer capacity beyond the default sizes that all connections together may hold
   * (buffer-budget.ts): the stack's buffer memory stays within
   * maxConnections × (rcvBuf + sndBuf) + bufferBudget.
   */
  bufferBudget: number;
}

/** The congestion-control algorithms (`tcp.congestion`): cubic.ts, NewReno in congestion.ts, bbr.ts. */
export const CONGESTION_ALGORITHMS = ['cubic', 'reno', 'bbr'] as const;
export type CongestionAlgorithm = (typeof CONGESTION_ALGORITHMS)[number];

/** Per-connection buffer sizes a listener or an active open may ask for (clamped to [MIN_BUFFER_SIZE, maxBuf]). */
export interface BufferSizes {
  rcvBuf?: number;
  sndBuf?: number;
}

/** Options a listener or an active open may switch on or off for its connections (default: the stack's). */
export interface OptionOffers {
  sack?: boolean;
  windowScale?: boolean;
  timestamps?: boolean;
}

/** What one listener or active open may ask for its connections. */
export interface ConnectionSettings extends BufferSizes, OptionOffers {
  /** The congestion-control algorithm (default: tcp.congestion). */
  congestion?: CongestionAlgorithm;
}

/** The smallest per-connection buffer (one small-MTU segment fits). */
export const MIN_BUFFER_SIZE = 1024;

export const DEFAULT_BUFFER_SIZE = 16 * 1024;
/** The largest window a 16-bit field carries unscaled (every SYN; connections without RFC 7323 window scaling). */
export const MAX_UNSCALED_WINDOW = 0xffff;
/** RFC 9293 §3.7.1: the send MSS to assume when the peer sends no MSS option. */
export const DEFAULT_SEND_MSS = 536;

export function defaultTcpConfig(mss: number): TcpConfig {
  return {
    mss,
    rcvBuf: DEFAULT_BUFFER_SIZE,
    sndBuf: DEFAULT_BUFFER_SIZE,
    msl: 5000,
    initialRto: 1000,
    minRto: 200,
    maxRto: 60_000,
    synRetries: 6,
    dataRetries: 15,
    userTimeout: 30_000,
    delayedAckMs: 40,
    keepalive: { enabled: true, idle: 10_000, interval: 2_000, count: 3 },
    persistMax: 60_000,
    maxConnections: 1024,
    synBacklog: 128,
    finTimeout: 60_000,
    orphanRetries: 8,
    maxOrphans: 256,
    sack: true,
    mtuProbing: true,
    rack: true,
    congestion: 'cubic',
    prr: true,
    recoveryProbe: true,
    tlpFollowUp: true,
    frto: true,
    lossProbeNewData: false,
    ptoFloor: true,
    windowScale: true,
    timestamps: true,
    maxBuf: 4 * 1024 * 1024,
    bufferBudget: 32 * 1024 * 1024,
  };
}

/** The stack's own offers, one shared object per configuration (no object per connection). */
const defaultOffers = new WeakMap<TcpConfig, Readonly<Required<OptionOffers>>>();

/** The options one connection offers (and accepts): its request, else the stack's configuration. */
export function connectionOffers(config: TcpConfig, requested: OptionOffers | undefined): Readonly<Required<OptionOffers>> {
  const sack = requested?.sack ?? config.sack;
  const windowScale = requested?.windowScale ?? config.windowScale;
  const timestamps = requested?.timestamps ?? config.timestamps;
  if (sack !== config.sack || windowScale !== config.windowScale || timestamps !== config.timestamps) return { sack, windowScale, timestamps };
  let shared = defaultOffers.get(config);
  if (shared === undefined) {
    shared = Object.freeze({ sack, windowScale, timestamps });
    defaultOffers.set(config, shared);
  }
  return shared;
}

/** The buffer sizes of one connection: its request, else the stack's defaults, within [MIN_BUFFER_SIZE, maxBuf]. */
export function connectionBuffers(config: TcpConfig, requested: BufferSizes | undefined): { rcvBuf: number; sndBuf: number } {
  const pick = (value: number | undefined, fallback: number): number => {
    const size = value !== undefined && Number.isFinite(value) ? Math.floor(value) : fallback;
    return Math.min(Math.max(MIN_BUFFER_SIZE, config.maxBuf), Math.max(MIN_BUFFER_SIZE, size));
  };
  return { rcvBuf: pick(requested?.rcvBuf, config.rcvBuf), sndBuf: pick(requested?.sndBuf, config.sndBuf) };
}
