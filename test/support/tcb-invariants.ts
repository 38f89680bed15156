/**
 * Invariants every TCP control block must hold between any two events, whatever
 * arrived (the product contract asks fuzzing to check them, not only "nothing threw"):
 *
 * - RFC 9293 §3.3.1 send sequence space: SND.UNA ≤ SND.NXT ≤ SND.MAX (SND.MAX is the
 *   highest sequence number ever sent; SND.NXT falls back below it while retransmitting).
 * - What is in flight is what the send buffer holds, plus at most the SYN and the FIN,
 *   which occupy one sequence number each: SND.MAX − SND.UNA ≤ queued bytes + 2.
 * - Buffers stay within their configured bounds (the bound of every piece of state).
 * - Once synchronized, the right edge of the advertised window never lies left of
 *   RCV.NXT (RFC 9293 §3.8.6.2.2: the window never shrinks past what was offered).
 *
 * The fields are read through the connection's TCB record (`connection.tcb`, tcb.ts);
 * this is the one place that follows its names.
 */
import assert from 'node:assert/strict';
import type { TcpConnection } from '../../src/tcp/connection.ts';
import type { TcpConfig } from '../../src/tcp/config.ts';
import { seqDiff, seqLe } from '../../src/tcp/seq.ts';
import { isSynchronized, type TcpState } from '../../src/tcp/state.ts';

interface BufferView {
  readonly length: number;
  readonly capacity: number;
}

/** The sequence-space fields of the TCB record (src/tcp/tcb.ts) the invariants read. */
interface SequenceSpaces {
  readonly sndUna: number;
  readonly sndNxt: number;
  readonly sndMax: number;
  readonly rcvNxt: number;
  readonly rcvAdvertisedEdge: number;
}

/** The connection fields the invariants read; a `TcpConnection` is one. */
export interface TcbView {
  readonly id: number;
  readonly state: TcpState;
  readonly tcb: SequenceSpaces;
  readonly sendBuffer: BufferView;
  readonly receiveBuffer: BufferView;
  readonly context: { readonly config: Pick<TcpConfig, 'sndBuf' | 'rcvBuf'> };
}

/** The fields of a live connection, as a plain record (a snapshot a test may alter). */
export function tcbSnapshot(connection: TcpConnection): TcbView {
  const { id, state, tcb, sendBuffer, receiveBuffer, context } = connection;
  const { sndUna, sndNxt, sndMax, rcvNxt, rcvAdvertisedEdge } = tcb;
  return {
    id,
    state,
    tcb: { sndUna, sndNxt, sndMax, rcvNxt, rcvAdvertisedEdge },
    sendBuffer: { length: sendBuffer.length, capacity: sendBuffer.capacity },
    receiveBuffer: { length: receiveBuffer.length, capacity: receiveBuffer.capacity },
    context: { config: { sndBuf: context.config.sndBuf, rcvBuf: context.config.rcvBuf } },
  };
}

/** The invariants `connection` breaks right now, in words; empty when it holds them all. */
export function tcbViolations(connection: TcbView): string[] {
  const violations: string[] = [];
  const { sendBuffer, receiveBuffer } = connection;
  const { sndUna, sndNxt, sndMax, rcvNxt, rcvAdvertisedEdge } = connection.tcb;
  const { config } = connection.context;
  if (!seqLe(sndUna, sndNxt)) violations.push(`SND.UNA ${sndUna} > SND.NXT ${sndNxt}`);
  if (!seqLe(sndNxt, sndMax)) violations.push(`SND.NXT ${sndNxt} > SND.MAX ${sndMax}`);
  const inFlight = seqDiff(sndMax, sndUna);
  if (inFlight > sendBuffer.length + 2) violations.push(`${inFlight} sequence numbers in flight, send buffer holds ${sendBuffer.length}`);
  if (sendBuffer.capacity !== config.sndBuf) violations.push(`send buffer capacity ${sendBuffer.capacity}, tcp.sndBuf ${config.sndBuf}`);
  if (receiveBuffer.capacity !== config.rcvBuf) violations.push(`receive buffer capacity ${receiveBuffer.capacity}, tcp.rcvBuf ${config.rcvBuf}`);
  if (sendBuffer.length < 0 || sendBuffer.length > sendBuffer.capacity) violations.push(`send buffer holds ${sendBuffer.length} of ${sendBuffer.capacity}`);
  if (receiveBuffer.length < 0 || receiveBuffer.length > receiveBuffer.capacity) {
    violations.push(`receive buffer holds ${receiveBuffer.length} of ${receiveBuffer.capacity}`);
  }
  if (isSynchronized(connection.state) && !seqLe(rcvNxt, rcvAdvertisedEdge)) {
    violations.push(`advertised window edge ${rcvAdvertisedEdge} left of RCV.NXT ${rcvNxt}`);
  }
  return violations;
}

/** Fails with every broken invariant named, and `context` (what had just happened). */
export function assertTcbInvariants(connection: TcbView, context = ''): void {
  const violations = tcbViolations(connection);
  assert.deepEqual(violations, [], `TCB invariants of connection ${connection.id} (${connection.state})${context ? ` after ${context}` : ''}`);
}
