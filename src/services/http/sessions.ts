/**
 * Login sessions of the status page: an opaque random token (the cookie) → user, with
 * an absolute lifetime and a bound on how many are kept (the oldest is dropped first).
 * Time comes from the injected clock; tokens from the injected RandomSource.
 */
import type { RandomSource } from '../../random.ts';
import type { Clock, Instant } from '../../time.ts';

export const SESSION_LIFETIME_MS = 12 * 60 * 60_000;
export const MAX_SESSIONS = 64;
const TOKEN_BYTES = 32;

interface Session {
  user: string;
  expiresAt: Instant;
}

export class SessionTable {
  /** Insertion order is age order. */
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly clock: Clock,
    private readonly random: RandomSource,
    private readonly lifetimeMs = SESSION_LIFETIME_MS,
    private readonly maxSessions = MAX_SESSIONS,
  ) {}

  /** Opens a session for `user`; returns its token (64 hex characters). */
  open(user: string): string {
    const token = Buffer.from(this.random.bytes(TOKEN_BYTES)).toString('hex');
    this.sessions.set(token, { user, expiresAt: this.clock.now() + this.lifetimeMs });
    while (this.sessions.size > this.maxSessions) {
      const oldest = this.sessions.keys().next();
      if (oldest.done) break;
      this.sessions.delete(oldest.value);
    }
    return token;
  }

  /** The user of a live session, or undefined (unknown or expired token). */
  user(token: string | undefined): string | undefined {
    if (token === undefined) return undefined;
    const session = this.sessions.get(token);
    if (!session) return undefined;
    if (session.expiresAt <= this.clock.now()) {
      this.sessions.delete(token);
      return undefined;
    }
    return session.user;
  }

  close(token: string | undefined): void {
    if (token !== undefined) this.sessions.delete(token);
  }

  get size(): number {
    return this.sessions.size;
  }
}
