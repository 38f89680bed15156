/**
 * The RFC 9293 §3.3.2 connection states, named exactly as the RFC names them, and
 * the reasons a connection ends (SPEC section 2 `conn_close` reasons).
 */

export const TcpStates = [
  'CLOSED',
  'LISTEN',
  'SYN-SENT',
  'SYN-RECEIVED',
  'ESTABLISHED',
  'FIN-WAIT-1',
  'FIN-WAIT-2',
  'CLOSE-WAIT',
  'CLOSING',
  'LAST-ACK',
  'TIME-WAIT',
] as const;
export type TcpState = (typeof TcpStates)[number];

export type CloseReason =
  | 'fin'
  | 'rst'
  | 'keepalive_timeout'
  | 'user_timeout'
  | 'retransmit_timeout'
  | 'aborted'
  | 'refused'
  | 'connect_timeout'
  /** An orphaned FIN-WAIT-2 connection whose peer never sent its FIN within finTimeout. */
  | 'fin_timeout';

/**
 * Synchronized states (RFC 9293 §3.5.2): both sequence spaces are known, so the
 * segment checks of §3.10.7.4 apply.
 */
export function isSynchronized(state: TcpState): boolean {
  return state !== 'CLOSED' && state !== 'LISTEN' && state !== 'SYN-SENT';
}

/** States in which we may still send data (the local side has not closed). */
export function canSendData(state: TcpState): boolean {
  return state === 'ESTABLISHED' || state === 'CLOSE-WAIT';
}

/** States in which data from the peer is accepted (RFC 9293 §3.10.7.4, seventh check). */
export function canReceiveData(state: TcpState): boolean {
  return state === 'ESTABLISHED' || state === 'FIN-WAIT-1' || state === 'FIN-WAIT-2';
}
