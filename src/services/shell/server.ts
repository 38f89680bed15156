/**
 * The remote shell service (SPEC §5): the plain port (challenge-response login) and the
 * TLS port (password login), both on the device's own TCP.
 *
 * TLS is Node's own: a `tls.TLSSocket` in server mode wrapped around the device's
 * Socket (a stream.Duplex), so the handshake and records run over piwire's TCP. The
 * certificate and key come in as PEM text (firmware/shell-certificate.ts makes or
 * loads them); no TLS options means no TLS port.
 *
 * TLS policy (SHELL_TLS_OPTIONS): TLS 1.2 is the floor (RFC 8996 deprecates 1.0 and
 * 1.1); TLS 1.2 offers only ECDHE suites with AEAD ciphers (AES-GCM, ChaCha20-Poly1305:
 * forward secrecy, no CBC and so no LUCKY13-style padding oracles, RFC 7525 §4.2); TLS 1.3
 * suites are all AEAD by definition. Renegotiation is refused outright
 * (SSL_OP_NO_RENEGOTIATION): a client-initiated renegotiation costs the device a full
 * handshake each time and gains the client nothing (RFC 5746 only makes it safe, not cheap).
 *
 * Users come from `services.shell.users`: the stored form (an admin) or
 * `{ secret, role }` (roles.ts); a form that does not parse is reported in
 * `invalidUsers` (the configuration check should have refused it) and that user cannot
 * log in. The sessions share one LoginLockout and one VerificationQueue, so the bounds on
 * failed logins and on concurrent password derivations hold for the whole service.
 *
 * Keepalive is on for shell connections (SPEC §2), so a pulled cable ends a session.
 */
import { constants as cryptoConstants } from 'node:crypto';
import { createSecureContext, TLSSocket, type SecureContextOptions } from 'node:tls';
import type { EventSink } from '../../events.ts';
import type { RandomSource } from '../../random.ts';
import type { SocketApi } from '../../socket/net.ts';
import type { Server } from '../../socket/server.ts';
import type { Socket } from '../../socket/socket.ts';
import type { Clock } from '../../time.ts';
import type { ShellContext } from './context.ts';
import { parseStoredSecret } from './auth.ts';
import { LoginLockout, type LockoutOptions } from './lockout.ts';
import { userEntry, type ShellUserEntry } from './roles.ts';
import { ShellSession, type LoginMode, type ShellAccount } from './session.ts';
import { VerificationQueue, type VerificationQueueOptions } from './verification-queue.ts';

export const DEFAULT_SHELL_PORT = 2323;
export const DEFAULT_SHELL_TLS_PORT = 2324;

/** TLS 1.2 suites: ECDHE key exchange (ECDSA or RSA certificates), AEAD ciphers only. */
export const SHELL_TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
] as const;

/** The shell's TLS policy; the certificate and key are added per service. */
export const SHELL_TLS_OPTIONS: Readonly<SecureContextOptions> = {
  minVersion: 'TLSv1.2',
  ciphers: SHELL_TLS12_CIPHERS.join(':'),
  honorCipherOrder: true,
  secureOptions: cryptoConstants.SSL_OP_NO_RENEGOTIATION | cryptoConstants.SSL_OP_CIPHER_SERVER_PREFERENCE,
};

export interface ShellServiceOptions {
  api: SocketApi;
  /** Plain port (0 = ephemeral, for tests). */
  port: number;
  /** TLS port; needs `tls`. Undefined: no TLS port. */
  tlsPort?: number | undefined;
  /** User name → stored form (`piwire hash-secret`, an admin) or `{ secret, role }`. */
  users: Readonly<Record<string, ShellUserEntry>>;
  context: ShellContext;
  clock: Clock;
  events: EventSink;
  random: RandomSource;
  tls?: { cert: string; key: string } | undefined;
  /** Overrides of the lockout policy (tests), and its persistence hook. */
  lockout?: Partial<Omit<LockoutOptions, 'clock' | 'events'>>;
  /** Overrides of the verification bounds (tests). */
  verifications?: VerificationQueueOptions;
  /** Waits `ms` (the global login slowdown): a timer in the firmware, the virtual clock in tests. */
  delay: (ms: number) => Promise<void>;
}

export interface ShellService {
  readonly plain: Server;
  readonly tls: Server | undefined;
  readonly lockout: LoginLockout;
  readonly verifications: VerificationQueue;
  /** Users whose stored form did not parse (they cannot log in). */
  readonly invalidUsers: string[];
  /** Sessions currently open. */
  readonly sessions: ReadonlySet<ShellSession>;
  close(): void;
}

export function startShellService(options: ShellServiceOptions): ShellService {
  const users = new Map<string, ShellAccount>();
  const invalidUsers: string[] = [];
  for (const [name, entry] of Object.entries(options.users)) {
    const { form, role } = userEntry(entry);
    const secret = parseStoredSecret(form);
    if (secret) users.set(name, { secret, role });
    else invalidUsers.push(name);
  }
  const lockout = new LoginLockout({ ...options.lockout, clock: options.clock, events: options.events });
  const verifications = new VerificationQueue(options.verifications);
  const decoyKey = options.random.bytes(32);
  const sessions = new Set<ShellSession>();
  const secureContext = options.tls ? createSecureContext({ ...SHELL_TLS_OPTIONS, cert: options.tls.cert, key: options.tls.key }) : undefined;
  const tlsPort = secureContext ? options.tlsPort : undefined;

  const open = (socket: Socket, stream: Socket | TLSSocket, mode: LoginMode, port: number): void => {
    const session = new ShellSession({
      stream,
      timer: socket,
      remoteAddress: socket.remoteAddress ?? '0.0.0.0',
      mode,
      users,
      lockout,
      verifications,
      delay: options.delay,
      context: options.context,
      events: options.events,
      random: options.random,
      decoyKey,
      tlsPort,
      port,
    });
    sessions.add(session);
    stream.once('close', () => sessions.delete(session));
  };

  const prepare = (socket: Socket): void => {
    socket.setKeepAlive(true);
    socket.setNoDelay(true);
    // A reset from the client must not become an uncaught 'error'.
    socket.on('error', () => undefined);
  };

  const plain = options.api.createServer({ allowHalfOpen: true }, (socket) => {
    prepare(socket);
    open(socket, socket, 'challenge', options.port);
  });
  plain.on('error', (error: Error) => options.events.emit('service_error', { service: 'shell', port: options.port, message: error.message }));
  plain.listen(options.port);

  let tlsServer: Server | undefined;
  if (secureContext && tlsPort !== undefined) {
    tlsServer = options.api.createServer({ allowHalfOpen: true }, (socket) => {
      prepare(socket);
      const secure = new TLSSocket(socket, { isServer: true, secureContext });
      secure.on('error', (error: Error) => {
        options.events.emit('shell_tls_error', { address: socket.remoteAddress, message: error.message });
        socket.destroy();
      });
      open(socket, secure, 'password', tlsPort);
    });
    tlsServer.on('error', (error: Error) => options.events.emit('service_error', { service: 'shell-tls', port: tlsPort, message: error.message }));
    tlsServer.listen(tlsPort);
  }

  return {
    plain,
    tls: tlsServer,
    lockout,
    verifications,
    invalidUsers,
    sessions,
    close: () => {
      plain.close();
      tlsServer?.close();
    },
  };
}
