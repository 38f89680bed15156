/**
 * BBR on a connection: where bbr.ts, delivery-rate.ts and pacing.ts meet the stack.
 * Only connections whose congestion control is BBR get here (`connection.bbr`); the
 * others never call these functions.
 *
 * Call order:
 *   - `bbrEstablished` at establishment (input.ts), after the window's `start`: with a SACK
 *     peer, the rate estimator, the scoreboard that carries its snapshots and the
 *     pacer; without SACK, CUBIC takes the connection over (BBR's rate samples are read
 *     off the scoreboard's records; counted as `tcp.bbr.no-sack`);
 *   - per acceptable ACK (input.ts): `bbrAckArrives` before its SACK blocks and
 *     cumulative ACK reach the scoreboard, `bbrAckProcessed` after loss marking (recovery.ts
 *     `detectLoss`): the rate sample goes to the model, cwnd and the pacing rate follow
 *     (Linux tcp_ack → tcp_rate_gen → bbr_main);
 *   - output.ts consults the pacer before each data segment, and `pacedOutputDone`
 *     after each pass: the pacing timer, and the application-limited check of
 *     draft-cheng-iccrg-delivery-rate-estimation §3.4.
 */
import type { Instant } from '../time.ts';
import type { TcpConnection } from './connection.ts';
import { Cubic } from './cubic.ts';
import { DeliveryRate } from './delivery-rate.ts';
import { Pacer } from './pacing.ts';

/** The connection reached ESTABLISHED: BBR's companions, or CUBIC if the peer does not do SACK. */
export function bbrEstablished(connection: TcpConnection, now: Instant, handshakeLost: boolean): DeliveryRate | undefined {
  const bbr = connection.bbr;
  if (bbr === undefined) return undefined;
  if (!connection.tcb.sackPermitted) {
    connection.bbr = undefined;
    connection.congestion = new Cubic();
    connection.congestion.start(connection.fullSegmentPayload(), connection.tcb.sndMax, handshakeLost);
    connection.context.counters.increment('tcp.bbr.no-sack');
    return undefined;
  }
  bbr.init(connection.rtt.srtt, now);
  connection.rate = new DeliveryRate();
  const pacer = new Pacer();
  connection.pacer = pacer;
  pacer.rate = bbr.pacingRate;
  pacer.quantum = bbr.sendQuantum();
  return connection.rate;
}

/**
 * The bytes in the network now (RFC 6675 pipe; Linux tcp_packets_in_flight): the
 * scoreboard's pipe when something is SACKed, in recovery or after an RTO; else the flight.
 */
export function bytesInNetwork(connection: TcpConnection): number {
  const scoreboard = connection.scoreboard;
  if (scoreboard === undefined || scoreboard.count === 0) return connection.bytesInFlight();
  if (scoreboard.sackedBytes === 0 && !connection.congestion.inRecovery && connection.rtoRecoveryPoint === undefined) return connection.bytesInFlight();
  return scoreboard.pipe();
}

/** An acceptable ACK arrives, before the scoreboard sees it: the sample starts with the flight before it. */
export function bbrAckArrives(connection: TcpConnection): void {
  connection.rate!.beginAck(bytesInNetwork(connection));
}

/** The ACK has been processed (scoreboard, loss marking, recovery entry): BBR's turn (Linux bbr_main). */
export function bbrAckProcessed(connection: TcpConnection, now: Instant): void {
  const bbr = connection.bbr;
  const rate = connection.rate;
  if (bbr === undefined || rate === undefined) return;
  const sample = rate.generate(now, connection.scoreboard?.minRtt);
  const inFlight = bytesInNetwork(connection);
  // PROBE_RTT keeps the sender application-limited (Linux bbr_update_min_rtt).
  if (bbr.onRateSample(sample, inFlight, rate.delivered, now)) rate.markApplicationLimited(inFlight);
  const pacer = connection.pacer!;
  pacer.rate = bbr.pacingRate;
  pacer.quantum = bbr.sendQuantum();
}
