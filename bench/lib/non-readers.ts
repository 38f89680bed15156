/**
 * Clients that subscribe and never read, in virtual time (the field-life simulator with
 * half the sensors non-readers: SUB * on one connection and a burst of readings on
 * another, never reading the VAL lines; the other half regular sensors): what the device
 * holds while they come and go for an hour, and what is left ten simulated minutes after
 * they stop. The device answers each with ERR 507 and a close, and resets it once
 * closeGraceMs passes with nothing read; an orphan left behind would be ended by
 * tcp.orphanRetries and maxOrphans.
 */
import { FieldLife, HOUR, MINUTE } from '../../test/field/simulator.ts';

export interface NonReaderFigures {
  /** Non-reading clients (as many regular sensors beside them). */
  clients: number;
  /** Highest count over the hour, sampled every simulated minute. */
  peakConnections: number;
  peakOrphans: number;
  /** Orphans that gave up (tcp.orphanRetries) during the hour. */
  orphansGivenUp: number;
  /** Ten simulated minutes after the last client stopped. */
  connectionsAfter: number;
  orphansAfter: number;
}

export async function measureNonReaders(clients: number): Promise<NonReaderFigures> {
  const field = new FieldLife({ seed: 11, sensors: 2 * clients, operators: 0, mix: [['non-reader', 0.5]] });
  let peakConnections = 0;
  let peakOrphans = 0;
  for (let minute = 0; minute < HOUR / MINUTE; minute++) {
    await field.run(MINUTE);
    peakConnections = Math.max(peakConnections, [...field.device.tcp.connections()].length);
    peakOrphans = Math.max(peakOrphans, field.device.tcp.orphanCount);
  }
  const orphansGivenUp = field.device.counters.get('tcp.timeout.orphan');
  await field.quiesce(10 * MINUTE);
  const after = field.snapshot();
  return { clients, peakConnections, peakOrphans, orphansGivenUp, connectionsAfter: after.deviceConnections, orphansAfter: after.orphans };
}
