/**
 * Structured events from the core to whoever logs them (firmware/log.ts) and to the
 * diagnostics layer (fault codes). The core never writes to stdout itself.
 *
 * Event names and fields are the SPEC section 2 log events: `conn_open`, `conn_close`
 * (with `reason`), `peer_lost`, `fault`, `link`, ...
 */
export type EventFields = Record<string, unknown>;

export interface EventSink {
  emit(event: string, fields?: EventFields): void;
}

/** Discards everything: for tests that do not look at events. */
export const nullEventSink: EventSink = { emit: () => undefined };

/** Records every event in order: for tests that assert on them. */
export class RecordingEventSink implements EventSink {
  readonly events: { event: string; fields: EventFields }[] = [];
  emit(event: string, fields: EventFields = {}): void {
    this.events.push({ event, fields });
  }
  named(event: string): EventFields[] {
    return this.events.filter((e) => e.event === event).map((e) => e.fields);
  }
}
