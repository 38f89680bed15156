/**
 * One shell connection: telnet filtering, line assembly, the login state machine, then
 * commands (SPEC §5).
 *
 * Two login modes:
 * - 'challenge' (plain port 2323): the SCRAM-like exchange of auth.ts. A banner tells
 *   a human with nc or telnet to use `piwire shell` or the TLS port, since the secret
 *   never crosses this port. After `OK`, the session is *framed*: no prompt, and each
 *   command's output is followed by a status line, STATUS_OK or STATUS_FAILED (a NUL
 *   then `ok` / `failed`), that `piwire shell` strips and turns into its exit status.
 * - 'password' (TLS port 2324): `login:` and `password:` prompts, checked by deriving
 *   from the password (verifyPassword), at most MAX_PASSWORD_ATTEMPTS per connection;
 *   then a `piwire> ` prompt, failures printed as `error: ...` lines.
 *
 * Lockout: an address that LoginLockout reports locked out is told how long and
 * disconnected before anything is evaluated; every failed login is recorded there.
 * A user name that is not configured fails the same way as a wrong secret (and on the
 * plain port gets a decoy challenge), so the shell does not reveal who the operators are;
 * it is logged as UNKNOWN_USER, never as typed (a password typed at `login:` would
 * otherwise land in the log).
 *
 * Login cost (issue 17): a password is evaluated only after the global slowdown
 * (LoginLockout.slowdownMs) and through the VerificationQueue, which bounds the scrypt
 * derivations running at once; a full queue refuses the attempt with a clear message
 * (`auth_busy`) and derives nothing.
 *
 * Roles (roles.ts): each command runs with the user's role; a refused one is an
 * `auth_denied` event {address, user, role, command}.
 *
 * Lines: LF, CR LF, CR NUL and a bare CR all end a line (RFC 854 NVT); backspace and
 * DEL delete the last character; a line longer than MAX_LINE is discarded with an
 * error. Lines are handled one at a time, in order: a line typed while `ping` runs
 * waits for it.
 *
 * Timeouts use the device socket's setTimeout (SPEC §3: 'timeout' leaves the socket
 * usable): LOGIN_TIMEOUT_MS to finish logging in, then IDLE_TIMEOUT_MS (10 minutes,
 * SPEC §5) without any traffic.
 */
import type { Duplex } from 'node:stream';
import type { EventSink } from '../../events.ts';
import type { RandomSource } from '../../random.ts';
import type { ShellContext } from './context.ts';
import type { LoginLockout } from './lockout.ts';
import type { StoredSecret } from './auth.ts';
import type { ShellRole } from './roles.ts';
import type { VerificationQueue } from './verification-queue.ts';
import {
  authMessage,
  decodeBase64,
  decoySecret,
  formatParameters,
  NONCE_LENGTH,
  serverSignature,
  verifyClientProof,
  verifyPassword,
} from './auth.ts';
import { runCommand } from './commands.ts';
import { escapeIac, TelnetFilter } from './telnet.ts';

export const IDLE_TIMEOUT_MS = 10 * 60_000;
export const LOGIN_TIMEOUT_MS = 60_000;
export const MAX_LINE = 1024;
export const MAX_PASSWORD_ATTEMPTS = 3;
export const PROMPT = 'piwire> ';
export const STATUS_OK = '\u0000ok';
export const STATUS_FAILED = '\u0000failed';
/** How a user name that is not configured appears in events. */
export const UNKNOWN_USER = '(unknown)';

const USER_NAME = /^[A-Za-z0-9_.-]{1,32}$/;
const BACKSPACE = 0x08;
const DELETE = 0x7f;

export type LoginMode = 'challenge' | 'password';

/** A configured operator: the stored form, parsed, and the role. */
export interface ShellAccount {
  secret: StoredSecret;
  role: ShellRole;
}

/** The part of the device socket that carries the timeouts (src/socket/socket.ts). */
export interface IdleTimer {
  setTimeout(ms: number): unknown;
  on(event: 'timeout', listener: () => void): unknown;
}

export interface SessionOptions {
  /** The stream the session talks on: the device socket, or a TLSSocket around it. */
  stream: Duplex;
  /** The device socket, for timeouts (may be the same object as `stream`). */
  timer: IdleTimer;
  remoteAddress: string;
  mode: LoginMode;
  users: ReadonlyMap<string, ShellAccount>;
  lockout: LoginLockout;
  /** Bounds the password derivations running at once (shared by the service's sessions). */
  verifications: VerificationQueue;
  /** Waits (the global slowdown); the firmware's is a timer, tests' the virtual clock. */
  delay: (ms: number) => Promise<void>;
  context: ShellContext;
  events: EventSink;
  random: RandomSource;
  /** Key for decoy challenges (stable for the service's life). */
  decoyKey: Uint8Array;
  /** For the plain port's banner. */
  tlsPort?: number | undefined;
  /** Name of the service port, for events. */
  port: number;
}

type State =
  | { name: 'locked' }
  | { name: 'auth' }
  | { name: 'proof'; user: string; secret: StoredSecret; message: string; known: boolean }
  | { name: 'login'; attempts: number }
  | { name: 'password'; user: string; attempts: number }
  | { name: 'commands'; user: string; role: ShellRole }
  | { name: 'closed' };

export class ShellSession {
  private state: State;
  private readonly telnet = new TelnetFilter();
  private line: number[] = [];
  private overlong = false;
  private lastWasCr = false;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly options: SessionOptions) {
    const { stream, timer } = options;
    stream.on('data', (chunk: Buffer) => this.receive(chunk));
    // A client that half-closes after sending its lines (nc, socat with piped input)
    // still gets every answer: the session ends once the lines before the FIN are done.
    stream.on('end', () => {
      this.queue = this.queue.then(() => this.close());
    });
    stream.on('error', () => this.close());
    stream.on('close', () => {
      this.state = { name: 'closed' };
    });
    timer.on('timeout', () => this.onTimeout());
    timer.setTimeout(LOGIN_TIMEOUT_MS);

    const lockedFor = options.lockout.lockedFor(options.remoteAddress);
    if (lockedFor > 0) {
      this.state = { name: 'locked' };
      this.refuseLocked(lockedFor);
      return;
    }
    if (options.mode === 'challenge') {
      this.state = { name: 'auth' };
      const tls = options.tlsPort === undefined ? '' : `, or log in with a password over TLS on port ${options.tlsPort} (openssl s_client -connect HOST:${options.tlsPort})`;
      this.send(`piwire remote shell. This port takes a challenge-response login only: use \`piwire shell HOST\`${tls}.\nSend: AUTH <user> <nonce>\n`);
    } else {
      this.state = { name: 'login', attempts: 0 };
      this.send('piwire remote shell\nlogin: ');
    }
  }

  get user(): string | undefined {
    return this.state.name === 'commands' ? this.state.user : undefined;
  }

  // ---- input --------------------------------------------------------------------------

  private receive(chunk: Uint8Array): void {
    if (this.state.name === 'closed' || this.state.name === 'locked') return;
    const { data, reply } = this.telnet.input(chunk);
    if (reply.length > 0) this.options.stream.write(reply);
    for (const byte of data) {
      if (byte === 10 && this.lastWasCr) {
        this.lastWasCr = false;
        continue;
      }
      this.lastWasCr = byte === 13;
      if (byte === 10 || byte === 13) {
        this.endLine();
      } else if (byte === BACKSPACE || byte === DELETE) {
        this.line.pop();
      } else if (this.line.length < MAX_LINE) {
        this.line.push(byte);
      } else {
        this.overlong = true;
      }
    }
  }

  private endLine(): void {
    const overlong = this.overlong;
    const text = Buffer.from(this.line).toString('utf8');
    this.line = [];
    this.overlong = false;
    this.queue = this.queue.then(() => (overlong ? this.rejectOverlong() : this.handleLine(text))).catch(() => this.close());
  }

  private rejectOverlong(): void {
    if (this.state.name === 'commands') this.finishCommand({ ok: false }, `error: line longer than ${MAX_LINE} bytes\n`);
    else this.close();
  }

  private async handleLine(line: string): Promise<void> {
    const state = this.state;
    switch (state.name) {
      case 'auth':
        return this.handleAuth(line);
      case 'proof':
        return this.handleProof(state, line);
      case 'login': {
        const user = line.trim();
        if (user === '') {
          this.send('login: ');
          return;
        }
        this.state = { name: 'password', user, attempts: state.attempts };
        this.send('password: ');
        return;
      }
      case 'password':
        return this.handlePassword(state, line);
      case 'commands':
        return this.handleCommand(line);
      default:
        return;
    }
  }

  // ---- challenge-response (plain port) ------------------------------------------------------

  private handleAuth(line: string): void {
    const words = line.trim().split(/\s+/);
    if (words[0]?.toUpperCase() !== 'AUTH' || words.length !== 3) {
      this.send('This port does not take passwords: use `piwire shell HOST`, or the TLS port for a password prompt.\n');
      this.close();
      return;
    }
    const user = words[1] ?? '';
    const clientNonce = words[2] ?? '';
    const nonce = decodeBase64(clientNonce);
    if (!USER_NAME.test(user) || !nonce || nonce.length < 12 || nonce.length > 64) {
      this.send('FAIL malformed AUTH: AUTH <user> <nonce base64, 12-64 bytes>\n');
      this.close();
      return;
    }
    const configured = this.options.users.get(user)?.secret;
    const secret = configured ?? decoySecret(this.options.decoyKey, user);
    const serverNonce = Buffer.from(this.options.random.bytes(NONCE_LENGTH)).toString('base64');
    const salt = secret.salt.toString('base64');
    const message = authMessage({ user, clientNonce, serverNonce, parameters: secret.parameters, salt });
    this.state = { name: 'proof', user, secret, message, known: configured !== undefined };
    this.send(`CHALLENGE ${formatParameters(secret.parameters)} ${salt} ${serverNonce}\n`);
  }

  private handleProof(state: Extract<State, { name: 'proof' }>, line: string): void {
    const words = line.trim().split(/\s+/);
    const proof = words[0]?.toUpperCase() === 'PROOF' && words.length === 2 ? decodeBase64(words[1] ?? '') : undefined;
    const account = state.known ? this.options.users.get(state.user) : undefined;
    if (proof && account && verifyClientProof(state.secret, state.message, proof)) {
      this.loggedIn(state.user, account.role, 'challenge');
      this.send(`OK ${serverSignature(state.secret.serverKey, state.message).toString('base64')}\n`);
      return;
    }
    this.loginFailed(state.user, 'FAIL login failed\n');
    this.close();
  }

  // ---- password (TLS port) --------------------------------------------------------------------

  private async handlePassword(state: Extract<State, { name: 'password' }>, password: string): Promise<void> {
    const slowdownMs = this.options.lockout.slowdownMs();
    if (slowdownMs > 0) await this.options.delay(slowdownMs);
    if (this.state.name === 'closed') return;
    // Other connections from the same address may have locked it out meanwhile.
    const lockedFor = this.options.lockout.lockedFor(this.options.remoteAddress);
    if (lockedFor > 0) {
      this.refuseLocked(lockedFor);
      return;
    }
    const account = this.options.users.get(state.user);
    // A missing user costs the same scrypt as a real one (no timing hint of who exists).
    const checked = account?.secret ?? decoySecret(this.options.decoyKey, state.user);
    const verification = this.options.verifications.run(() => verifyPassword(checked, password));
    if (!verification) {
      this.options.events.emit('auth_busy', { address: this.options.remoteAddress, port: this.options.port });
      this.send('too many logins in progress: try again in a few seconds\n');
      this.close();
      return;
    }
    const matches = await verification;
    if (this.isClosed()) return;
    if (account && matches) {
      this.loggedIn(state.user, account.role, 'password');
      this.send(`logged in as ${state.user}; type help for the commands\n${PROMPT}`);
      return;
    }
    const attempts = state.attempts + 1;
    if (this.loginFailed(state.user, 'login incorrect\n')) {
      this.close();
      return;
    }
    if (attempts >= MAX_PASSWORD_ATTEMPTS) {
      this.close();
      return;
    }
    this.state = { name: 'login', attempts };
    this.send('login: ');
  }

  // ---- after login ------------------------------------------------------------------------------

  private loggedIn(user: string, role: ShellRole, method: LoginMode): void {
    this.options.lockout.recordSuccess(this.options.remoteAddress);
    this.state = { name: 'commands', user, role };
    this.options.timer.setTimeout(IDLE_TIMEOUT_MS);
    this.options.events.emit('shell_login', { address: this.options.remoteAddress, user, role, method, port: this.options.port });
  }

  /** Records the failure; returns true when it started a lockout (the message says so). */
  private loginFailed(user: string, message: string): boolean {
    const logged = this.options.users.has(user) ? user : UNKNOWN_USER;
    const lockoutMs = this.options.lockout.recordFailure(this.options.remoteAddress, logged);
    this.send(message);
    if (lockoutMs > 0) {
      this.send(`too many failed logins from ${this.options.remoteAddress}: locked out for ${Math.ceil(lockoutMs / 1000)} s\n`);
      return true;
    }
    return false;
  }

  private async handleCommand(line: string): Promise<void> {
    if (this.state.name !== 'commands') return;
    const { user, role } = this.state;
    let output = '';
    const framed = this.options.mode === 'challenge';
    // Framed sessions get the output in one piece with its status; interactive ones as it comes (ping).
    const write = (text: string): void => {
      if (framed) output += text;
      else this.send(text);
    };
    const result = await runCommand(line, this.options.context, write, role);
    if (result.denied !== undefined) {
      this.options.events.emit('auth_denied', { address: this.options.remoteAddress, user, role, command: result.denied });
    }
    if (this.isClosed()) return;
    this.finishCommand(result, output);
  }

  private finishCommand(result: { ok: boolean; close?: boolean }, output: string): void {
    if (this.options.mode === 'challenge') {
      this.send(`${output}${result.ok ? STATUS_OK : STATUS_FAILED}\n`);
    } else {
      this.send(output);
      if (!result.close) this.send(PROMPT);
    }
    if (result.close) this.close();
  }

  // ---- output and closing -------------------------------------------------------------------

  private send(text: string): void {
    if (this.state.name === 'closed' || this.options.stream.destroyed || this.options.stream.writableEnded) return;
    // Terminals want CR LF (RFC 854 NVT); `piwire shell` accepts either.
    let bytes: Uint8Array = Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'utf8');
    if (this.telnet.negotiating) bytes = escapeIac(bytes);
    this.options.stream.write(bytes);
  }

  private refuseLocked(lockedFor: number): void {
    this.send(`too many failed logins from ${this.options.remoteAddress}: try again in ${Math.ceil(lockedFor / 1000)} s\n`);
    this.close();
  }

  private onTimeout(): void {
    if (this.state.name === 'closed') return;
    this.send(this.state.name === 'commands' ? '\nidle for 10 minutes: closing\n' : '\nlogin timed out\n');
    this.close();
  }

  /** A method, not a property test, so TypeScript does not keep a narrowing across an await. */
  private isClosed(): boolean {
    return this.state.name === 'closed';
  }

  private close(): void {
    if (this.state.name === 'closed') return;
    this.state = { name: 'closed' };
    if (!this.options.stream.writableEnded) this.options.stream.end();
  }
}
