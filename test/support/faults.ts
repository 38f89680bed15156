/**
 * The fault code that the diagnostics layer's one table (src/diag/faults.ts) raises for
 * a cause event, or undefined when the event raises none. Protocol tests use it to
 * check that what the core reports is what turns into the SPEC §6 fault.
 */
import type { EventFields } from '../../src/events.ts';
import { faultActionForEvent } from '../../src/diag/faults.ts';

export function raisedFault(event: string, fields: EventFields | undefined): number | undefined {
  const action = faultActionForEvent(event, fields ?? {});
  return action?.action === 'raise' ? action.code : undefined;
}
