/**
 * The fault registry (SPEC §6): which fault codes are active, which one the fault LED
 * shows, and when a fault goes away on its own.
 *
 * Priority: the lowest code number wins. SPEC §6 shows "the highest-priority active"
 * code and lists the codes from the cable up (1 no carrier, 2 address conflict,
 * 3 peer lost, 4 I2C, 5 storage, 6 login lockout, 7 resource limit). A lower-numbered
 * fault is usually the cause of higher-numbered ones (a pulled cable loses every
 * peer), so showing the lowest number shows the root cause first, and a technician
 * can follow one rule printed on a card: fix the code you see, then read it again.
 * `active()` lists every active fault for the shell and the log.
 *
 * Clearing: faults that are states (1 no carrier, 4 I2C error, 5 storage error) stay
 * until their owner says the cause is gone (`clear`). Faults that are incidents have
 * no "gone" signal, so they are held for a while after the last time they were raised
 * and then clear themselves (see FAULT_HOLD_MS): 3 peer lost is "in the last 5
 * minutes" per SPEC §6; 2 address conflict, 6 login lockout and 7 resource limit use
 * the same 5 minutes, so one rule covers them all (a lockout event may carry its own
 * length). Re-raising an incident restarts its hold.
 *
 * Events: a fault becoming active emits `fault` {code, text} (SPEC §2) and one going
 * away emits `fault_cleared` {code, text}; raising an already active fault is silent,
 * so a flapping sensor cannot flood the log.
 *
 * Call order: raise/clear whenever (with the current instant); the event loop polls
 * at `pollAt()` to expire held faults; listeners (the LED controller) hear of every
 * change to the active set synchronously.
 */
import type { EventFields, EventSink } from '../events.ts';
import type { Clock, Instant, Pollable } from '../time.ts';

export const FaultCode = {
  NO_CARRIER: 1,
  ADDRESS_CONFLICT: 2,
  PEER_LOST: 3,
  I2C_ERROR: 4,
  STORAGE_ERROR: 5,
  LOGIN_LOCKOUT: 6,
  RESOURCE_LIMIT: 7,
} as const;
export type FaultCode = (typeof FaultCode)[keyof typeof FaultCode];

/** What each code means, as SPEC §6 words it (also the text when a raiser gives none). */
export const FAULT_DESCRIPTION: Readonly<Record<FaultCode, string>> = {
  1: 'no carrier',
  2: 'address conflict (ARP)',
  3: 'a sensor peer was lost',
  4: 'I2C sensor error',
  5: 'storage error',
  6: 'shell login lockout',
  7: 'resource limit reached',
};

const FIVE_MINUTES = 5 * 60_000;

/** How long an incident fault stays after its last raise; absent: until cleared. */
export const FAULT_HOLD_MS: Readonly<Partial<Record<FaultCode, number>>> = {
  2: FIVE_MINUTES,
  3: FIVE_MINUTES,
  6: FIVE_MINUTES,
  7: FIVE_MINUTES,
};

export function isFaultCode(value: unknown): value is FaultCode {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 7;
}

export interface ActiveFault {
  readonly code: FaultCode;
  /** The text of the latest raise. */
  readonly text: string;
  /** When the fault became active. */
  readonly since: Instant;
  readonly lastRaised: Instant;
  /** When it clears itself, for held faults. */
  readonly expiresAt: Instant | undefined;
}

export interface RaiseOptions {
  /**
   * Hold the fault this long after this raise instead of the code's default hold; null:
   * no hold, the fault stays until cleared (a state, such as "no DHCP lease", reported
   * under a code whose other causes are incidents).
   */
  holdMs?: number | null;
  /** False when the raiser has already logged its own `fault` event. Default true. */
  announce?: boolean;
}

export interface ClearOptions {
  /** False when the clearer has already logged its own `fault_cleared` event. Default true. */
  announce?: boolean;
}

export interface FaultRegistryOptions {
  events: EventSink;
  /** Overrides of FAULT_HOLD_MS (tests; a configuration that wants other holds). */
  holdMs?: Partial<Record<FaultCode, number>>;
}

export type FaultListener = () => void;

/** Highest priority first: the lowest code number. */
export function compareFaultPriority(a: { code: FaultCode }, b: { code: FaultCode }): number {
  return a.code - b.code;
}

export class FaultRegistry implements Pollable {
  private readonly events: EventSink;
  private readonly holdMs: Partial<Record<FaultCode, number>>;
  private readonly faults = new Map<FaultCode, ActiveFault>();
  private readonly listeners: FaultListener[] = [];

  constructor(options: FaultRegistryOptions) {
    this.events = options.events;
    this.holdMs = { ...FAULT_HOLD_MS, ...options.holdMs };
  }

  /** Calls `listener` after every change of the active set (not on a silent re-raise). */
  onChange(listener: FaultListener): void {
    this.listeners.push(listener);
  }

  raise(code: FaultCode, text: string, now: Instant, options: RaiseOptions = {}): void {
    if (!isFaultCode(code)) throw new RangeError(`unknown fault code ${String(code)}`);
    const hold = options.holdMs === null ? undefined : (options.holdMs ?? this.holdMs[code]);
    const existing = this.faults.get(code);
    let expiresAt = hold === undefined ? undefined : now + hold;
    // A later raise never shortens a hold, and a raise without a hold (a state
    // fault) keeps the fault until cleared.
    if (existing && existing.expiresAt !== undefined && expiresAt !== undefined) {
      expiresAt = Math.max(existing.expiresAt, expiresAt);
    }
    if (existing && existing.expiresAt === undefined) expiresAt = undefined;
    this.faults.set(code, {
      code,
      text,
      since: existing?.since ?? now,
      lastRaised: existing ? Math.max(existing.lastRaised, now) : now,
      expiresAt,
    });
    if (existing) return;
    if (options.announce ?? true) this.events.emit('fault', { code, text });
    this.notify();
  }

  clear(code: FaultCode, options: ClearOptions = {}): void {
    const existing = this.faults.get(code);
    if (!existing) return;
    this.faults.delete(code);
    if (options.announce ?? true) this.events.emit('fault_cleared', { code, text: existing.text });
    this.notify();
  }

  isActive(code: FaultCode): boolean {
    return this.faults.has(code);
  }

  /** Every active fault, highest priority first. */
  active(): ActiveFault[] {
    return [...this.faults.values()].sort(compareFaultPriority);
  }

  /** The fault the LED shows: the highest-priority active one. */
  highest(): ActiveFault | undefined {
    let best: ActiveFault | undefined;
    for (const fault of this.faults.values()) if (!best || fault.code < best.code) best = fault;
    return best;
  }

  pollAt(): Instant | undefined {
    let earliest: Instant | undefined;
    for (const fault of this.faults.values()) {
      if (fault.expiresAt !== undefined && (earliest === undefined || fault.expiresAt < earliest)) earliest = fault.expiresAt;
    }
    return earliest;
  }

  /** Clears every held fault whose hold has run out. */
  poll(now: Instant): void {
    for (const fault of [...this.faults.values()].sort(compareFaultPriority)) {
      if (fault.expiresAt !== undefined && fault.expiresAt <= now) this.clear(fault.code);
    }
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}

// ---------------------------------------------------------------------------
// From events to faults
// ---------------------------------------------------------------------------

export type FaultAction =
  | { action: 'raise'; code: FaultCode; text: string; holdMs?: number | null; announce: boolean }
  | { action: 'clear'; code: FaultCode; announce: boolean };

/**
 * The events that raise and clear faults. The SPEC §2 log events come first; the
 * others are the contract for the modules that report the remaining faults:
 *
 * | event                                 | fault                                         |
 * | ------------------------------------- | --------------------------------------------- |
 * | `link` {carrier: 'down' / 'up'}       | raise / clear 1                               |
 * | `arp_conflict` {address, mac}         | raise 2 (held)                                |
 * | `dhcp_lost` {ip, reason} / `dhcp_bound` | raise 2 (until cleared) / clear 2           |
 * | `peer_lost` {remote, reason}          | raise 3 (held 5 min)                          |
 * | `auth_lockout` {address, durationMs?} | raise 6 (held durationMs, else 5 min)         |
 * | `tcp_limit`, `resource_limit` {limit} | raise 7 (held)                                |
 * | `i2c_error` / `i2c_recovered` {failing} | raise / clear 4 (clear once `failing` is 0) |
 * | `storage_error` / `storage_recovered` | raise / clear 5                               |
 * | `fault` {code, text}                  | raise code (already logged, so not re-announced) |
 * | `fault_cleared` {code}                | clear code (likewise)                         |
 *
 * Fields are whatever the emitter sent, so they are read defensively: a malformed
 * event raises with the default text, an unknown code is ignored.
 */
export function faultActionForEvent(event: string, fields: EventFields): FaultAction | undefined {
  const raise = (code: FaultCode, detail: string | undefined, holdMs?: number | null): FaultAction => ({
    action: 'raise',
    code,
    text: detail === undefined ? FAULT_DESCRIPTION[code] : `${FAULT_DESCRIPTION[code]}: ${detail}`,
    ...(holdMs === undefined ? {} : { holdMs }),
    announce: true,
  });
  const text = stringField(fields, 'text');
  switch (event) {
    case 'link': {
      const carrier = fields['carrier'];
      if (carrier === 'down' || carrier === false) return raise(FaultCode.NO_CARRIER, stringField(fields, 'link'));
      if (carrier === 'up' || carrier === true) return { action: 'clear', code: FaultCode.NO_CARRIER, announce: true };
      return undefined;
    }
    case 'arp_conflict': {
      const mac = stringField(fields, 'mac');
      const address = stringField(fields, 'address');
      return raise(FaultCode.ADDRESS_CONFLICT, address && mac ? `${address} also claimed by ${mac}` : (address ?? mac));
    }
    case 'dhcp_lost': {
      // No lease (NAK or expiry, src/net/dhcp.ts): fault 2's family, a state until the next bind.
      const ip = stringField(fields, 'ip');
      const reason = stringField(fields, 'reason');
      const text = `no address: DHCP lease${ip ? ` for ${ip}` : ''} ${reason === 'nak' ? 'refused (NAK)' : 'expired'}`;
      return { action: 'raise', code: FaultCode.ADDRESS_CONFLICT, text, holdMs: null, announce: true };
    }
    case 'dhcp_bound':
      return { action: 'clear', code: FaultCode.ADDRESS_CONFLICT, announce: true };
    case 'peer_lost': {
      const remote = stringField(fields, 'remote');
      const reason = stringField(fields, 'reason');
      return raise(FaultCode.PEER_LOST, remote && reason ? `${remote} (${reason})` : (remote ?? reason));
    }
    case 'auth_lockout': {
      const duration = fields['durationMs'];
      const holdMs = typeof duration === 'number' && Number.isFinite(duration) && duration > 0 ? duration : undefined;
      return raise(FaultCode.LOGIN_LOCKOUT, stringField(fields, 'address') ?? stringField(fields, 'remote'), holdMs);
    }
    case 'tcp_limit':
    case 'resource_limit':
      return raise(FaultCode.RESOURCE_LIMIT, stringField(fields, 'limit'));
    case 'i2c_error':
      return raise(FaultCode.I2C_ERROR, text ?? stringField(fields, 'sensor'));
    case 'i2c_recovered': {
      // Fault 4 is one state for every sensor: it stays while another one still fails.
      const failing = fields['failing'];
      if (typeof failing === 'number' && failing > 0) return undefined;
      return { action: 'clear', code: FaultCode.I2C_ERROR, announce: true };
    }
    case 'storage_error':
      return raise(FaultCode.STORAGE_ERROR, text);
    case 'storage_recovered':
      return { action: 'clear', code: FaultCode.STORAGE_ERROR, announce: true };
    case 'fault': {
      const code = fields['code'];
      if (!isFaultCode(code)) return undefined;
      return { action: 'raise', code, text: text ?? FAULT_DESCRIPTION[code], announce: false };
    }
    case 'fault_cleared': {
      const code = fields['code'];
      if (!isFaultCode(code)) return undefined;
      return { action: 'clear', code, announce: false };
    }
    default:
      return undefined;
  }
}

function stringField(fields: EventFields, name: string): string | undefined {
  const value = fields[name];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/**
 * An EventSink to hand the stack and the services: it passes every event on to
 * `downstream` (the log) unchanged, then applies the fault it implies. The registry
 * itself should emit to `downstream` directly, not through this sink.
 */
export class FaultEventSink implements EventSink {
  constructor(
    private readonly downstream: EventSink,
    private readonly registry: FaultRegistry,
    private readonly clock: Clock,
  ) {}

  emit(event: string, fields: EventFields = {}): void {
    // The cause goes to the log before the `fault` event it triggers.
    this.downstream.emit(event, fields);
    const action = faultActionForEvent(event, fields);
    if (!action) return;
    if (action.action === 'clear') {
      this.registry.clear(action.code, { announce: action.announce });
    } else {
      const options: RaiseOptions = { announce: action.announce };
      if (action.holdMs !== undefined) options.holdMs = action.holdMs;
      this.registry.raise(action.code, action.text, this.clock.now(), options);
    }
  }
}
