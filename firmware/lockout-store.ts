/**
 * The shell's login lockouts survive a restart (issue 17): LoginLockout's table is kept
 * in `<stateDir>/shell-lockouts.json` (mode 0600, written atomically after every change,
 * one write at a time, a change during a write makes one more write).
 *
 * LoginLockout counts on the loop's monotonic clock, which starts again with every
 * process, so the file holds wall-clock times and the load converts back. A wall clock
 * that jumped (a Pi without RTC) cannot make a lockout longer than MAX_LOCKOUT_MS from
 * now: remaining times are clamped. The file is read as untrusted input: anything that
 * is not a well-formed record is skipped, a file that does not parse is reported, and
 * the table stays bounded (LoginLockout.restore).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../src/time.ts';
import { MAX_LOCKOUT_MS, type LockoutRecord, type LoginLockout } from '../src/services/shell/lockout.ts';
import { writePrivateFile } from './state-dir.ts';

export const LOCKOUT_FILE = 'shell-lockouts.json';
const FORMAT_VERSION = 1;

interface SavedRecord {
  address: string;
  failures: number;
  /** Wall-clock ms. */
  lastFailure: number;
  /** Wall-clock ms; 0 when not locked out. */
  lockedUntil: number;
}

export interface LockoutStoreOptions {
  stateDir: string;
  clock: Clock;
  wallClock: { now(): number };
  /** Write failures (a full SD card): logged by the caller, never thrown. */
  onError: (message: string) => void;
}

/** Reads the saved records and converts them to `clock` instants; [] when there is no file. */
export async function loadLockouts(options: Omit<LockoutStoreOptions, 'onError'>): Promise<{ records: [string, LockoutRecord][]; error?: string }> {
  let text: string;
  try {
    text = await readFile(join(options.stateDir, LOCKOUT_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { records: [] };
    return { records: [], error: error instanceof Error ? error.message : String(error) };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { records: [], error: `${LOCKOUT_FILE} is not JSON` };
  }
  const saved = (parsed as { version?: unknown; records?: unknown }).records;
  if ((parsed as { version?: unknown }).version !== FORMAT_VERSION || !Array.isArray(saved)) return { records: [], error: `${LOCKOUT_FILE} has an unknown format` };
  const monotonicNow = options.clock.now();
  const wallNow = options.wallClock.now();
  const records: [string, LockoutRecord][] = [];
  for (const entry of saved as unknown[]) {
    if (!isSavedRecord(entry)) continue;
    const remaining = entry.lockedUntil === 0 ? 0 : Math.min(MAX_LOCKOUT_MS, entry.lockedUntil - wallNow);
    records.push([
      entry.address,
      {
        failures: entry.failures,
        lastFailure: monotonicNow - Math.max(0, wallNow - entry.lastFailure),
        lockedUntil: remaining > 0 ? monotonicNow + remaining : 0,
      },
    ]);
  }
  return { records };
}

function isSavedRecord(value: unknown): value is SavedRecord {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return (
    typeof record['address'] === 'string' && record['address'].length <= 64 &&
    Number.isSafeInteger(record['failures']) && (record['failures'] as number) > 0 &&
    Number.isFinite(record['lastFailure']) && Number.isFinite(record['lockedUntil'])
  );
}

/** Restores the saved lockouts into `lockout`, then keeps the file up to date; returns the load error, if any. */
export async function persistLockouts(lockout: LoginLockout, options: LockoutStoreOptions): Promise<{ restored: number; error?: string }> {
  const loaded = await loadLockouts(options);
  lockout.restore(loaded.records);
  return { restored: loaded.records.length, ...(loaded.error === undefined ? {} : { error: loaded.error }) };
}

/** A change handler for LoginLockout's `onChange` that writes the table; `lockout` is read at write time. */
export function lockoutWriter(getLockout: () => LoginLockout, options: LockoutStoreOptions): () => void {
  let writing = false;
  let again = false;
  const write = async (): Promise<void> => {
    const lockout = getLockout();
    const monotonicNow = options.clock.now();
    const wallNow = options.wallClock.now();
    const records: SavedRecord[] = lockout.records().map(([address, record]) => ({
      address,
      failures: record.failures,
      lastFailure: Math.round(wallNow - (monotonicNow - record.lastFailure)),
      lockedUntil: record.lockedUntil > monotonicNow ? Math.round(wallNow + (record.lockedUntil - monotonicNow)) : 0,
    }));
    await writePrivateFile(join(options.stateDir, LOCKOUT_FILE), `${JSON.stringify({ version: FORMAT_VERSION, records })}\n`);
  };
  const run = (): void => {
    writing = true;
    again = false;
    write()
      .catch((error: unknown) => options.onError(error instanceof Error ? error.message : String(error)))
      .finally(() => {
        writing = false;
        if (again) run();
      });
  };
  return () => {
    if (writing) again = true;
    else run();
  };
}
