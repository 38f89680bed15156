/**
 * Shell operator credentials: the stored form and the SCRAM-like proofs (SPEC §5).
 *
 * The stored form is what `piwire hash-secret` prints and `services.shell.users` holds:
 *
 *     scrypt$N=16384,r=8,p=1$<salt base64>$<StoredKey base64>$<ServerKey base64>
 *
 * following RFC 5802 §3 with scrypt (RFC 7914) in place of PBKDF2 and SHA-256 as in
 * RFC 7677:
 *
 *     SaltedPassword = scrypt(password, salt, N, r, p, 32 bytes)
 *     ClientKey      = HMAC(SaltedPassword, "Client Key")
 *     StoredKey      = SHA-256(ClientKey)
 *     ServerKey      = HMAC(SaltedPassword, "Server Key")
 *
 * The stored form alone does not log anyone in: the plain port wants
 * ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage), and ClientKey cannot be
 * computed from StoredKey (a SHA-256 preimage); the TLS port wants the password itself,
 * from which it derives StoredKey again. The server proves that it knows the stored
 * form (not just the user name) with ServerSignature = HMAC(ServerKey, AuthMessage)
 * (RFC 5802 §3 "ServerSignature"), which `piwire shell` checks.
 *
 * The plain-port exchange (lines ending in LF; see session.ts for the banner around it):
 *
 *     S: login: (banner explains: use `piwire shell` or the TLS port)
 *     C: AUTH <user> <client-nonce base64>
 *     S: CHALLENGE <params: N=16384,r=8,p=1> <salt base64> <server-nonce base64>
 *     C: PROOF <ClientProof base64>
 *     S: OK <ServerSignature base64>          or   FAIL <text>
 *
 *     AuthMessage = "piwire-shell-1," user "," client-nonce "," server-nonce "," params "," salt
 *     (the nonces and salt in their base64 text form, exactly as sent)
 *
 * Everything here is computation: randomness (salts, nonces) comes from the caller.
 * Parsing untrusted text returns undefined; nothing here throws on bad input.
 */
import { createHash, createHmac, scrypt, timingSafeEqual } from 'node:crypto';

export const STORED_FORM_SCHEME = 'scrypt';
/** Interactive-login scrypt parameters (RFC 7914 §2 recommends N=2^14, r=8, p=1 for these). */
export const DEFAULT_SCRYPT_PARAMETERS: ScryptParameters = { N: 16384, r: 8, p: 1 };
export const SALT_LENGTH = 16;
export const NONCE_LENGTH = 18;
const KEY_LENGTH = 32;
const AUTH_MESSAGE_PREFIX = 'piwire-shell-1';

/** Bounds on parameters read from configuration or a server: bounded CPU and memory. */
const MAX_LOG2_N = 20;
const MAX_R = 32;
const MAX_P = 16;

export interface ScryptParameters {
  N: number;
  r: number;
  p: number;
}

export interface StoredSecret {
  parameters: ScryptParameters;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

// ---------------------------------------------------------------------------
// Stored form and parameters as text
// ---------------------------------------------------------------------------

export function formatParameters(parameters: ScryptParameters): string {
  return `N=${parameters.N},r=${parameters.r},p=${parameters.p}`;
}

/** `N=16384,r=8,p=1` → parameters; undefined unless N is a power of two and all are in range. */
export function parseParameters(text: string): ScryptParameters | undefined {
  const match = /^N=([0-9]{1,8}),r=([0-9]{1,3}),p=([0-9]{1,3})$/.exec(text);
  if (!match) return undefined;
  const N = Number(match[1]);
  const r = Number(match[2]);
  const p = Number(match[3]);
  const powerOfTwo = N >= 2 && (N & (N - 1)) === 0 && N <= 2 ** MAX_LOG2_N;
  if (!powerOfTwo || r < 1 || r > MAX_R || p < 1 || p > MAX_P) return undefined;
  return { N, r, p };
}

export function formatStoredSecret(secret: StoredSecret): string {
  return [
    STORED_FORM_SCHEME,
    formatParameters(secret.parameters),
    secret.salt.toString('base64'),
    secret.storedKey.toString('base64'),
    secret.serverKey.toString('base64'),
  ].join('$');
}

export function parseStoredSecret(text: string): StoredSecret | undefined {
  const fields = text.trim().split('$');
  if (fields.length !== 5 || fields[0] !== STORED_FORM_SCHEME) return undefined;
  const parameters = parseParameters(fields[1] ?? '');
  const salt = decodeBase64(fields[2] ?? '');
  const storedKey = decodeBase64(fields[3] ?? '');
  const serverKey = decodeBase64(fields[4] ?? '');
  if (!parameters || !salt || salt.length < 8 || storedKey?.length !== KEY_LENGTH || serverKey?.length !== KEY_LENGTH) return undefined;
  return { parameters, salt, storedKey, serverKey };
}

/** Strict base64 (what Buffer#toString('base64') writes); undefined for anything else. */
export function decodeBase64(text: string): Buffer | undefined {
  if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined;
  return Buffer.from(text, 'base64');
}

// ---------------------------------------------------------------------------
// Key derivation
// ---------------------------------------------------------------------------

/** scrypt's memory need is 128·N·r bytes; Node refuses beyond `maxmem`, so give it room. */
function scryptAsync(password: Uint8Array | string, salt: Uint8Array, parameters: ScryptParameters): Promise<Buffer> {
  const maxmem = 256 * parameters.N * parameters.r + 16 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_LENGTH, { N: parameters.N, r: parameters.r, p: parameters.p, maxmem }, (error, key) => {
      if (error) reject(error);
      else resolve(key);
    });
  });
}

export function hmac(key: Uint8Array, message: string | Uint8Array): Buffer {
  return createHmac('sha256', key).update(message).digest();
}

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

export interface ClientKeys {
  clientKey: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** RFC 5802 §3: ClientKey, StoredKey and ServerKey from the password. */
export async function deriveKeys(password: string, salt: Uint8Array, parameters: ScryptParameters): Promise<ClientKeys> {
  const saltedPassword = await scryptAsync(password.normalize('NFC'), salt, parameters);
  const clientKey = hmac(saltedPassword, 'Client Key');
  return { clientKey, storedKey: sha256(clientKey), serverKey: hmac(saltedPassword, 'Server Key') };
}

/** The stored form of `password` with the caller's random `salt`. */
export async function createStoredSecret(
  password: string,
  salt: Uint8Array,
  parameters: ScryptParameters = DEFAULT_SCRYPT_PARAMETERS,
): Promise<StoredSecret> {
  const keys = await deriveKeys(password, salt, parameters);
  return { parameters, salt: Buffer.from(salt), storedKey: keys.storedKey, serverKey: keys.serverKey };
}

/** TLS-port login: derive from the password and compare StoredKey in constant time. */
export async function verifyPassword(secret: StoredSecret, password: string): Promise<boolean> {
  const keys = await deriveKeys(password, secret.salt, secret.parameters);
  return timingSafeEqual(keys.storedKey, secret.storedKey);
}

// ---------------------------------------------------------------------------
// The challenge-response (plain port)
// ---------------------------------------------------------------------------

export interface ChallengeFields {
  user: string;
  clientNonce: string;
  serverNonce: string;
  parameters: ScryptParameters;
  salt: string;
}

export function authMessage(fields: ChallengeFields): string {
  return [AUTH_MESSAGE_PREFIX, fields.user, fields.clientNonce, fields.serverNonce, formatParameters(fields.parameters), fields.salt].join(',');
}

function xor(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] ?? 0) ^ (b[i] ?? 0);
  return out;
}

/** Client side: ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage). */
export function clientProof(keys: ClientKeys, message: string): Buffer {
  return xor(keys.clientKey, hmac(keys.storedKey, message));
}

/**
 * Server side (RFC 5802 §3): recover ClientKey = ClientProof XOR ClientSignature and
 * check SHA-256(ClientKey) == StoredKey, in constant time.
 */
export function verifyClientProof(secret: StoredSecret, message: string, proof: Uint8Array): boolean {
  if (proof.length !== KEY_LENGTH) return false;
  const clientKey = xor(proof, hmac(secret.storedKey, message));
  return timingSafeEqual(sha256(clientKey), secret.storedKey);
}

/** ServerSignature = HMAC(ServerKey, AuthMessage): the server proves it holds the stored form. */
export function serverSignature(serverKey: Uint8Array, message: string): Buffer {
  return hmac(serverKey, message);
}

export function verifyServerSignature(keys: ClientKeys, message: string, signature: Uint8Array): boolean {
  const expected = serverSignature(keys.serverKey, message);
  return signature.length === expected.length && timingSafeEqual(signature, expected);
}

/**
 * A challenge for a user that does not exist must look like one for a user that does
 * (RFC 5802 §5.1 suggests this), or the plain port would tell anyone which names are
 * operators. The salt is a keyed hash of the name (stable across attempts, as a real
 * one is); the login then fails like a wrong proof.
 */
export function decoySecret(key: Uint8Array, user: string): StoredSecret {
  const material = hmac(key, `decoy:${user}`);
  return {
    parameters: DEFAULT_SCRYPT_PARAMETERS,
    salt: material.subarray(0, SALT_LENGTH),
    storedKey: hmac(key, `stored:${user}`),
    serverKey: hmac(key, `server:${user}`),
  };
}
