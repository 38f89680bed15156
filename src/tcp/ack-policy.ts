/**
 * When received data is acknowledged: the receive side's ACK rule (RFC 9293 §3.8.6.3,
 * RFC 1122 §4.2.3.2, RFC 5681 §4.2). input.ts records what arrived, output.ts sends the
 * ACK (and clears `unackedSegments`, `delayedAckAt`, `ackNow`); this module decides when.
 *
 * A frame that is its own entry point (a link that cannot tell batches, hal/link/link.ts):
 * in-order data is acknowledged at least every second segment, and a lone segment within
 * `delayedAckTimeout` (`delayedAckMs`, bounded by the SRTT; the delayed-ACK timer, timers.ts).
 *
 * A receive batch (the frames of one link wakeup, processed before any output;
 * scheduler.ts): in-order data is acknowledged once, at the end of the batch, by one
 * stretch ACK, as Linux acknowledges a GRO super-segment or what one NAPI poll brought;
 * and at once for every STRETCH_ACK_SEGMENTS-th in-order segment waiting (any size:
 * counting small ones too only ACKs sooner than counting full-sized ones), so no more
 * than that many wait for one ACK however large the batch. A lone in-order segment in a
 * batch waits for the delayed-ACK timer as it would alone. A segment longer than our MSS
 * (a frame the kernel merged: GRO through a packet link's receive offload) counts as the
 * full-sized segments it holds, so it is acknowledged as they would be. Every other ACK input.ts asks
 * for (an out-of-order segment: a duplicate ACK; one that fills a hole; a FIN; an
 * unacceptable segment; a challenge ACK) leaves at once: before the next segment of the
 * connection in the batch is processed, or at the batch's end, so duplicate ACKs are
 * never merged: the sender's fast retransmit counts them (RFC 5681 §3.2, §4.2) and its
 * SACK scoreboard learns each block as it would without the batch. Before the ACK of a
 * filled hole the application reads what it made readable, so that ACK carries the
 * reopened window (`segmentArriving` says why).
 *
 * Deliberate difference: RFC 1122 §4.2.3.2 and RFC 5681 §4.2 say an ACK SHOULD be
 * generated for at least every second full-sized segment. In a batch the segments
 * arrived in the same instant, so their ACKs would leave in the same instant too and tell
 * the sender nothing the last one does not (Linux sends one ACK for a GRO super-segment
 * of up to 64 KiB for the same reason). What the sender loses is ACK clocking within the
 * batch, and in slow start the number of ACKs: Linux (and congestion.ts) grows cwnd by
 * the bytes an ACK covers, so a stretch ACK costs it nothing, but a sender that adds at
 * most one SMSS per ACK (RFC 5681 eq. 2, RFC 3465 L = 1) opens its window more slowly
 * towards a batching receiver. The bound of 16 keeps a large batch from withholding the
 * ACK of a whole window.
 *
 * The other way round, when we are the sender: what a bare ACK lets us send leaves
 * before the batch's next segment (`bareAckProcessed`), so our own sending stays clocked
 * by the peer's ACKs as it is frame by frame.
 */
import type { Instant } from '../time.ts';
import type { TcpConnection } from './connection.ts';

/** In a receive batch, in-order segments are acknowledged at once every this many (the rest at the batch's end). */
export const STRETCH_ACK_SEGMENTS = 16;

/** The delayed-ACK timeout's floor where the connection's SRTT bounds it (`delayedAckTimeout`). */
export const DELAYED_ACK_FLOOR_MS = 5;

/**
 * How long a lone in-order segment may wait for its ACK: `delayedAckMs` (40 ms), but no
 * longer than the connection's SRTT, and not under DELAYED_ACK_FLOOR_MS. Linux bounds its
 * delayed-ACK timeout by SRTT the same way (tcp_send_delayed_ack: a sender with more to
 * send within its window would have sent it within a round trip), with a floor of 40 ms.
 *
 * Deliberate difference: the floor is 5 ms, not 40. A receive batch takes a whole window
 * in one wakeup and acknowledges it with one stretch ACK, where Linux, answering each
 * segment as it arrives, keeps the sender's pipe from draining; so a sender whose
 * application refills its socket buffer only after that ACK (a Linux sender with an
 * autotuned buffer, at 1% loss and MTU 576 in every 4 MiB transfer) sends one segment
 * and waits for its ACK. At 40 ms each such wait was a stall of 40 ms on a 0.2 ms path,
 * and goodput into the device fell to 156 Mbit/s, at 5 ms 351 (bench/BASELINE.md,
 * "the delayed ACK of a drained sender's lone segment"). A path longer than 5 ms keeps
 * Linux's rule; before the first RTT sample the full `delayedAckMs` applies.
 */
export function delayedAckTimeout(connection: TcpConnection): number {
  const limit = connection.context.config.delayedAckMs;
  const srtt = connection.rtt.srtt;
  return srtt === undefined ? limit : Math.min(limit, Math.max(DELAYED_ACK_FLOOR_MS, srtt));
}

/**
 * In-order data arrived that filled no gap (input.ts, seventh check): `bytes` of it.
 * A segment longer than our MSS counts as the full-sized segments it holds: a link with
 * receive offload hands over what the kernel merged (GRO, up to 64 KiB) as one segment,
 * and the sender sent that many. Linux's rule is byte-based the same way
 * (__tcp_ack_snd_check: more than one rcv_mss received since the last ACK), so a merged
 * segment is acknowledged at once, not held for the delayed-ACK timer as a lone one is.
 */
export function inOrderDataArrived(connection: TcpConnection, bytes: number, now: Instant): void {
  const mss = connection.context.config.mss;
  const waiting = (connection.unackedSegments += bytes > mss ? Math.ceil(bytes / mss) : 1);
  const ackEvery = connection.context.receiveBatchOpen ? STRETCH_ACK_SEGMENTS : 2;
  if (waiting >= ackEvery) connection.ackNow = true; // in a batch: before the next segment (segmentArriving)
  else if (connection.delayedAckAt === undefined) connection.delayedAckAt = now + delayedAckTimeout(connection);
}

/**
 * A segment filled a hole and made held data readable (input.ts): in a receive batch its
 * ACK leaves before the next segment, and the application reads first (`segmentArriving`).
 */
export function holeFilled(connection: TcpConnection): void {
  if (connection.context.receiveBatchOpen) connection.holeFilled = true;
}

/**
 * A segment of a receive batch is about to be processed: an ACK the one before it asked
 * for leaves first, so it is not merged with this one's (its fields, RCV.NXT, window,
 * SACK blocks, TSecr, are what they were right after that segment). The last segment's
 * ACK waits for the batch's end, where the application reads before output
 * (scheduler.ts), so that ACK carries the window the read reopened.
 *
 * When that ACK is for a segment that filled a hole, the application reads before it
 * leaves too (scheduler.ts `outputNow`, as at the batch's end and frame by frame):
 * the held data it made readable, up to a whole buffer, is what kept the window's right
 * edge where it was during the loss episode. Sent with the window the unread data left,
 * a sender that had filled the window could send nothing new after it, and the batch's
 * last ACK was the only one to carry the reopened window: when that one ACK was lost,
 * a Linux sender whose retransmission was the last thing in flight waited for its RTO
 * (bench/BASELINE.md: the 209-211 ms stalls into the device at 1% loss, MTU 1500).
 */
export function segmentArriving(connection: TcpConnection): void {
  const read = connection.holeFilled;
  connection.holeFilled = false;
  if ((connection.ackNow || connection.ackClocked) && connection.context.receiveBatchOpen) {
    connection.ackClocked = false;
    connection.context.outputNow(connection, read);
  }
}

/**
 * A segment without data was processed (input.ts): if it was an ACK of ours, the data it
 * lets us send (new data for the window it opened, PRR's share in recovery, what RACK
 * found lost) leaves before the batch's next segment, as it did frame by frame: a
 * sender stays clocked by its ACKs. Held to the batch's end, a batch of a data
 * receiver's ACKs left as one burst after it, and under loss (3% each way, MTU 576,
 * chargen into Linux) goodput fell from 40 to 23–31 Mbit/s with 3–4 times the RTOs.
 */
export function bareAckProcessed(connection: TcpConnection): void {
  if (connection.context.receiveBatchOpen) connection.ackClocked = true;
}

/**
 * The receive batch ends: in-order data of two segments or more still waiting gets its
 * one stretch ACK. A bare ACK's sending is done by the output at the batch's end, so its
 * mark does not carry into the next batch (where it would cost a needless output).
 */
export function receiveBatchEnded(connection: TcpConnection): void {
  connection.ackClocked = false;
  connection.holeFilled = false;
  if (connection.unackedSegments >= 2) connection.ackNow = true;
}
