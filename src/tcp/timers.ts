/**
 * Connection timers. Every timer is an absolute instant on the connection (or derived
 * from its fields); `nextDeadline` gives the earliest, which the stack keeps in its
 * deadline queue, and `timersExpired` runs whatever is due. Expiries record what must be
 * sent (a retransmission, a SYN, a keepalive probe, an RST) and output.ts sends it. A connection without armed
 * timers has no heap entry and costs nothing.
 *
 *   retransmission  RFC 6298 (back-off, Karn); SYN retries → connect_timeout; data
 *                   retries → retransmit_timeout (RFC 9293 §3.8.3, R2)
 *   persist         zero-window probes / SWS override (RFC 9293 §3.8.6.1), back-off
 *                   capped at persistMax; never gives up on a peer that answers
 *   loss probe      RFC 8985 §7 (PTO; recovery.ts arms it, output.ts sends the probe);
 *                   in SACK recovery the same timer is the recovery probe (recovery.ts)
 *   reorder         RFC 8985 §6.3 (RACK marks segments lost once their time has come)
 *   pacing          BBR connections only (pacing.ts): the next burst's release time
 *   delayed ACK     RFC 1122 §4.2.3.2
 *   keepalive       RFC 1122 §4.2.3.6: idle, then `count` probes `interval` apart
 *   user timeout    RFC 5482: data unacknowledged this long aborts; while the window
 *                   is closed, zero-window probes unanswered this long abort (Linux)
 *   connect         the `timeout` option of connect()
 *   idle            setIdleTimeout: tells the application, changes nothing
 *   path MSS        a lowered send MSS ages out (RFC 1191 §6.3, path-mtu.ts); black-hole
 *                   detection steps the MSS down at repeated RTOs (RFC 4821 §7.6)
 */
import type { Instant } from '../time.ts';
import { Notify, closeError, type TcpConnection } from './connection.ts';
import { persistExpired, persistInterval, windowClosed } from './output.ts';
import type { CloseReason } from './state.ts';
import { seqDiff } from './seq.ts';
import { blackHoleSuspected, pathMssExpired } from './path-mtu.ts';
import { probeTimerExpired, reorderTimerExpired, retransmitTimeoutRecovery } from './recovery.ts';

function earlier(a: Instant | undefined, b: Instant | undefined): Instant | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a < b ? a : b;
}

function keepaliveDeadline(connection: TcpConnection): Instant | undefined {
  if (!connection.keepaliveEnabled) return undefined;
  const state = connection.state;
  if (state !== 'ESTABLISHED' && state !== 'CLOSE-WAIT' && state !== 'FIN-WAIT-2') return undefined;
  const keepalive = connection.context.config.keepalive;
  if (connection.keepaliveSent === 0) {
    const idle = connection.keepaliveIdle;
    return coarseDeadline(Math.max(connection.lastReceivedAt, connection.keepaliveEnabledAt) + idle, idle);
  }
  return coarseDeadline(connection.lastKeepaliveAt + keepalive.interval, keepalive.interval);
}

/**
 * Keepalive timers fire on a grid of this many milliseconds (deadlines rounded up). The
 * keepalives of thousands of idle connections then fall on the same instants, so one
 * wake-up sends a batch of probes (one sendmmsg) and takes in a batch of answers,
 * instead of one wake-up and two system calls per connection: the slack Linux's timer
 * wheel gives its keepalive timers (kernel/time/timer.c). The grid is kept fine (16
 * instants a second at most) rather than the wheel's 12.5 % of the timeout: with 10,000
 * connections a 512 ms slot would send ~2,000 probes in one burst, more than a peer's
 * input queue (netdev_max_backlog, 1,000) takes, and the lost answers would cost
 * further probes. Only the keepalive is coarse; retransmission, persist and delayed-ACK
 * timers stay exact.
 */
export const KEEPALIVE_GRANULARITY_MS = 64;

/** `deadline` rounded up to the keepalive grid; a timeout under eight slots stays exact, so none is more than 12.5 % late. */
export function coarseDeadline(deadline: Instant, timeout: number): Instant {
  if (timeout < 8 * KEEPALIVE_GRANULARITY_MS) return deadline;
  return Math.ceil(deadline / KEEPALIVE_GRANULARITY_MS) * KEEPALIVE_GRANULARITY_MS;
}

/**
 * RFC 5482: data left unacknowledged for the user timeout aborts the connection. While
 * the peer's window is closed its data is unacknowledged by design, so the clock runs
 * from the first zero-window probe nothing has answered (any segment from the peer
 * stops it): a peer that keeps answering is probed forever, one that falls silent is
 * given up exactly userTimeout after the first unanswered probe (Linux tcp_probe_timer
 * with icsk_user_timeout).
 */
function userTimeoutDeadline(connection: TcpConnection): Instant | undefined {
  const userTimeout = connection.context.config.userTimeout;
  if (userTimeout <= 0) return undefined;
  const since = windowClosed(connection) ? connection.unansweredProbeSince : connection.unackedSince;
  return since === undefined ? undefined : since + userTimeout;
}

function idleDeadline(connection: TcpConnection): Instant | undefined {
  if (connection.idleTimeout <= 0 || connection.idleReported) return undefined;
  const state = connection.state;
  if (state === 'CLOSED' || state === 'TIME-WAIT') return undefined;
  return connection.lastActivityAt + connection.idleTimeout;
}

/** The earliest instant at which this connection has timer work. */
export function nextDeadline(connection: TcpConnection): Instant | undefined {
  if (connection.state === 'CLOSED') return undefined;
  let next = earlier(connection.retransmitAt, connection.persistAt);
  next = earlier(next, connection.delayedAckAt);
  next = earlier(next, connection.probeAt);
  next = earlier(next, connection.reorderAt);
  next = earlier(next, connection.pacingAt);
  next = earlier(next, connection.connectDeadline);
  next = earlier(next, connection.finWait2Deadline);
  next = earlier(next, userTimeoutDeadline(connection));
  next = earlier(next, keepaliveDeadline(connection));
  next = earlier(next, idleDeadline(connection));
  next = earlier(next, connection.pathMssExpiresAt);
  return next;
}

function due(deadline: Instant | undefined, now: Instant): boolean {
  return deadline !== undefined && deadline <= now;
}

/** Runs every timer of `connection` that is due at `now`. */
export function timersExpired(connection: TcpConnection, now: Instant): void {
  const context = connection.context;
  if (due(connection.connectDeadline, now)) {
    connection.setState('CLOSED', 'connect_timeout', connection.timeoutError('connect_timeout'));
    return;
  }
  if (due(connection.pathMssExpiresAt, now)) pathMssExpired(connection);
  if (due(connection.finWait2Deadline, now)) {
    // An orphan in FIN-WAIT-2 whose peer sits in CLOSE-WAIT: give up quietly, as
    // Linux does after tcp_fin_timeout.
    context.counters.increment('tcp.timeout.fin-wait-2');
    connection.setState('CLOSED', 'fin_timeout');
    return;
  }
  if (due(userTimeoutDeadline(connection), now)) {
    context.counters.increment('tcp.timeout.user');
    peerLost(connection, 'user_timeout', now);
    return;
  }
  if (due(connection.reorderAt, now)) reorderTimerExpired(connection, now);
  // The paced sender's next burst may leave: output (below, via touch) sends it.
  if (due(connection.pacingAt, now)) connection.pacingAt = undefined;
  // The PTO is never later than the RTO; when both are due the probe goes first and
  // moves the RTO to at least one PTO later (recovery.ts `retransmitDeadlineAfterProbe`).
  if (due(connection.probeAt, now)) probeTimerExpired(connection, now);
  if (due(connection.retransmitAt, now)) {
    retransmitTimeout(connection, now);
    if (connection.state === 'CLOSED') return;
  }
  if (due(connection.persistAt, now)) {
    // Probing goes on while the peer answers. Without a user timeout, a peer that
    // answers none of dataRetries probes in a row is gone (Linux tcp_probe_timer, retries2).
    if (windowClosed(connection) && connection.unansweredProbes >= context.config.dataRetries) {
      context.counters.increment('tcp.timeout.persist');
      connection.setState('CLOSED', 'retransmit_timeout', closeError('retransmit_timeout'));
      return;
    }
    // An orphan probes a zero window only until the probe interval has reached its cap
    // and orphanRetries back-offs have passed, answered or not (Linux tcp_probe_timer
    // for a dead socket): nobody will ever read what it holds.
    if (
      connection.orphaned &&
      windowClosed(connection) &&
      connection.persistBackoff >= context.config.orphanRetries &&
      persistInterval(connection) >= context.config.persistMax
    ) {
      orphanGivesUp(connection);
      return;
    }
    persistExpired(connection, now);
  }
  if (due(keepaliveDeadline(connection), now)) {
    keepaliveExpired(connection, now);
    if (connection.state === 'CLOSED') return;
  }
  if (due(connection.delayedAckAt, now)) {
    connection.delayedAckAt = undefined;
    connection.ackNow = true;
  }
  if (due(idleDeadline(connection), now)) {
    connection.idleReported = true;
    connection.notify(Notify.IDLE);
  }
  // What the timers owe (a probe, a retransmission, an ACK) leaves with the connection's
  // output when the entry point ends (scheduler.ts `flush`): one output pass, not two.
  context.touch(connection);
}

/** RFC 6298 §5.4–5.6 (and RFC 9293 §3.8.3 for the give-up thresholds). */
function retransmitTimeout(connection: TcpConnection, now: Instant): void {
  const context = connection.context;
  const config = context.config;
  connection.retransmitAt = undefined;
  const state = connection.state;
  if (state === 'SYN-SENT' || state === 'SYN-RECEIVED') {
    if (connection.backoffCount >= config.synRetries) {
      context.counters.increment('tcp.timeout.handshake');
      if (connection.active) connection.setState('CLOSED', 'connect_timeout', connection.timeoutError('connect_timeout'));
      else connection.setState('CLOSED', 'retransmit_timeout');
      return;
    }
    connection.backoffCount++;
    connection.handshakeRetransmitted = true;
    connection.rtt.backOff();
    connection.synResend = 'retransmission';
    return;
  }
  const inFlight = connection.bytesInFlight();
  if (inFlight <= 0) return;
  if (connection.orphaned && connection.backoffCount >= config.orphanRetries) {
    orphanGivesUp(connection);
    return;
  }
  if (connection.backoffCount >= config.dataRetries) {
    context.counters.increment('tcp.timeout.retransmit');
    connection.setState('CLOSED', 'retransmit_timeout', connection.timeoutError('retransmit_timeout'));
    return;
  }
  // Full-sized segments keep vanishing: perhaps an MTU black hole (path-mtu.ts).
  blackHoleSuspected(connection, now);
  // Which RTOs these are (bench/BASELINE.md): a second one without an ACK in between
  // (backed off), one that ended a SACK recovery, one after a tail loss probe.
  if (connection.backoffCount > 0) context.counters.increment('tcp.timeout.rto-again');
  if (connection.congestion.inRecovery) context.counters.increment('tcp.timeout.rto-in-recovery');
  if (connection.tlpEndSeq !== undefined) context.counters.increment('tcp.timeout.rto-after-tlp');
  const repeated = connection.backoffCount > 0;
  connection.backoffCount++;
  context.counters.increment('tcp.timeout.rto');
  connection.congestion.onRetransmitTimeout(inFlight, connection.tcb.sndMax, repeated);
  retransmitTimeoutRecovery(connection, repeated);
  connection.rtt.backOff();
  // Go back N: resend from SND.UNA; the rest follows as ACKs open cwnd again. Output
  // sends the retransmission and re-arms the timer with the backed-off RTO.
  connection.tcb.sndNxt = connection.tcb.sndUna;
  connection.retransmitNow = true;
}

/**
 * An orphan that has retransmitted or probed orphanRetries times ends with an RST, so
 * a peer that is still there (with its window shut, or its ACKs lost) frees its state
 * too (Linux resets orphans when it runs out of resources; we always do).
 */
function orphanGivesUp(connection: TcpConnection): void {
  connection.context.counters.increment('tcp.timeout.orphan');
  connection.resetNow = true;
  connection.setState('CLOSED', 'retransmit_timeout');
}

/** RFC 1122 §4.2.3.6. */
function keepaliveExpired(connection: TcpConnection, now: Instant): void {
  const config = connection.context.config;
  const unsent = connection.sendBuffer.length - seqDiff(connection.tcb.sndNxt, connection.tcb.sendBufferSeq);
  if (connection.bytesInFlight() > 0 || unsent > 0) {
    // Data is outstanding: the retransmission and persist timers watch the peer.
    connection.keepaliveSent = 0;
    connection.keepaliveEnabledAt = now;
    return;
  }
  if (connection.keepaliveSent >= config.keepalive.count) {
    connection.context.counters.increment('tcp.timeout.keepalive');
    // Like Linux, tell a peer that may only have lost its way back.
    connection.resetNow = true;
    peerLost(connection, 'keepalive_timeout', now);
    return;
  }
  connection.keepaliveProbeNow = true;
  connection.keepaliveSent++;
  connection.keepaliveProbes++;
  connection.lastKeepaliveAt = now;
  connection.context.counters.increment('tcp.tx.keepalives');
}

/**
 * The peer stopped answering (keepalive or user timeout): the connection ends with
 * ETIMEDOUT, and, unless the peer had sent its FIN, the loss is reported as the SPEC §2
 * cause event `peer_lost`, which the diagnostics layer turns into fault 3 (SPEC §6: a
 * sensor peer was lost).
 */
function peerLost(connection: TcpConnection, reason: CloseReason & ('keepalive_timeout' | 'user_timeout'), now: Instant): void {
  if (connection.tcb.remoteFinReceived) {
    // The peer had already ended the conversation with its FIN: a sensor that closes
    // and goes to deep sleep never ACKs ours. Give up quietly, as Linux does: no
    // `peer_lost`, so no fault 3 on every sleep cycle.
    connection.context.counters.increment('tcp.timeout.after-peer-fin');
    connection.setState('CLOSED', reason, connection.timeoutError(reason));
    return;
  }
  const silentMs = now - connection.lastReceivedAt;
  connection.context.counters.increment('tcp.peer-lost');
  connection.context.events.emit('peer_lost', { id: connection.id, remote: connection.remoteEndpoint(), reason, silentMs });
  connection.setState('CLOSED', reason, connection.timeoutError(reason));
}
