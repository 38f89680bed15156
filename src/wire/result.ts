/**
 * The result every wire parser returns. Parsers read untrusted bytes, so they never
 * throw: a frame is either a value or one reason from a small closed set, and the
 * caller turns that reason into its `<layer>.drop.<reason>` counter.
 *
 * Failures are shared frozen objects, so a flood of garbage costs no allocation.
 */
export const WIRE_ERRORS = [
  'truncated', // fewer bytes than the header or a length field says
  'bad-length', // a length field contradicts another (IPv4 total length < header length)
  'bad-checksum',
  'bad-version', // IPv4 version field is not 4
  'bad-header-length', // IPv4 IHL < 5
  'bad-data-offset', // TCP data offset < 5 words or past the segment
  'bad-option', // a TCP option that is malformed or runs past the header
  'unsupported', // well formed but not something we speak (ARP for non-Ethernet/IPv4)
] as const;

export type WireError = (typeof WIRE_ERRORS)[number];

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: WireError };

export type ParseFailure = { readonly ok: false; readonly error: WireError };

const FAILURES = Object.fromEntries(
  WIRE_ERRORS.map((error) => [error, Object.freeze({ ok: false as const, error })]),
) as Record<WireError, ParseFailure>;

export function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

export function fail(error: WireError): { ok: false; error: WireError } {
  return FAILURES[error];
}

export function isWireError(value: unknown): value is WireError {
  return (WIRE_ERRORS as readonly unknown[]).includes(value);
}
