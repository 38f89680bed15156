/**
 * `piwire shell HOST [PORT] [--user U] [--secret-file F] [-c COMMAND]` and
 * `piwire hash-secret` (SPEC §2, §5).
 *
 * The client speaks the plain port's challenge-response login (src/services/shell/auth.ts
 * documents the exchange): it sends `AUTH user nonce`, derives ClientKey from the secret
 * with the salt and scrypt parameters of the CHALLENGE, answers with ClientProof, and
 * checks the server's signature before it trusts anything the server says. After that,
 * every command's output ends with a status line (`\0ok` / `\0failed`), which the client
 * strips: with -c the exit status is 0 for ok, 1 for failed; interactively it prints its
 * own prompt between commands.
 *
 * Where the secret comes from: --secret-file F (first line), else $PIWIRE_SECRET, else a
 * prompt on the terminal without echo. The user: --user, else $PIWIRE_USER, else `admin`.
 *
 * Exit statuses: 0 ok, 1 the command failed, 3 login failed or the server could not be
 * verified, 4 connection failed or closed early.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import type { Duplex, Readable, Writable } from 'node:stream';
import {
  authMessage,
  clientProof,
  createStoredSecret,
  decodeBase64,
  deriveKeys,
  formatStoredSecret,
  NONCE_LENGTH,
  parseParameters,
  SALT_LENGTH,
  verifyServerSignature,
} from '../src/services/shell/auth.ts';
import { STATUS_FAILED, STATUS_OK } from '../src/services/shell/session.ts';

export const ShellExit = { OK: 0, COMMAND_FAILED: 1, LOGIN_FAILED: 3, CONNECTION_FAILED: 4 } as const;

const CONNECT_TIMEOUT_MS = 15_000;
const DEFAULT_USER = 'admin';

export class ShellClientError extends Error {
  constructor(
    message: string,
    readonly exitStatus: number,
  ) {
    super(message);
    this.name = 'ShellClientError';
  }
}

/** Reads LF-terminated lines from a stream, one at a time, CR stripped. */
export class LineReader {
  private buffer = '';
  private readonly lines: string[] = [];
  private waiter: ((line: string | undefined) => void) | undefined;
  private ended = false;

  constructor(stream: Readable) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      this.buffer += chunk;
      let index: number;
      while ((index = this.buffer.indexOf('\n')) >= 0) {
        this.lines.push(this.buffer.slice(0, index).replace(/\r$/, ''));
        this.buffer = this.buffer.slice(index + 1);
      }
      this.wake();
    });
    const end = (): void => {
      this.ended = true;
      this.wake();
    };
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', end);
  }

  /** The next line, or undefined once the stream has ended. */
  next(): Promise<string | undefined> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  private wake(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    const line = this.lines.shift();
    if (line === undefined && !this.ended) return;
    this.waiter = undefined;
    waiter(line);
  }
}

/**
 * The challenge-response login over an open stream. Resolves once the server is
 * verified; throws ShellClientError (LOGIN_FAILED / CONNECTION_FAILED) otherwise.
 */
export async function shellLogin(stream: Writable, reader: LineReader, user: string, secret: string, nonce: Uint8Array = randomBytes(NONCE_LENGTH)): Promise<void> {
  const clientNonce = Buffer.from(nonce).toString('base64');
  stream.write(`AUTH ${user} ${clientNonce}\n`);
  let line: string | undefined;
  // Skip the banner meant for humans.
  while ((line = await reader.next()) !== undefined && !line.startsWith('CHALLENGE ') && !line.startsWith('FAIL') && !line.startsWith('too many')) {
    /* banner */
  }
  if (line === undefined) throw new ShellClientError('the server closed the connection during login', ShellExit.CONNECTION_FAILED);
  if (!line.startsWith('CHALLENGE ')) throw new ShellClientError(`login refused: ${line}`, ShellExit.LOGIN_FAILED);
  const [, parametersText, saltText, serverNonce] = line.split(' ');
  const parameters = parseParameters(parametersText ?? '');
  const salt = decodeBase64(saltText ?? '');
  if (!parameters || !salt || !serverNonce) throw new ShellClientError(`malformed challenge: ${line}`, ShellExit.LOGIN_FAILED);
  const keys = await deriveKeys(secret, salt, parameters);
  const message = authMessage({ user, clientNonce, serverNonce, parameters, salt: saltText ?? '' });
  stream.write(`PROOF ${clientProof(keys, message).toString('base64')}\n`);
  const verdict = await reader.next();
  if (verdict === undefined) throw new ShellClientError('the server closed the connection during login', ShellExit.CONNECTION_FAILED);
  if (!verdict.startsWith('OK ')) {
    const more = await reader.next();
    throw new ShellClientError(`login failed: ${verdict.replace(/^FAIL /, '')}${more ? ` (${more})` : ''}`, ShellExit.LOGIN_FAILED);
  }
  const signature = decodeBase64(verdict.slice(3).trim());
  if (!signature || !verifyServerSignature(keys, message, signature)) {
    throw new ShellClientError('the server could not prove it knows your stored secret: not talking to it', ShellExit.LOGIN_FAILED);
  }
}

/** Sends one command and collects its output up to the status line. */
export async function shellCommand(stream: Writable, reader: LineReader, command: string, onLine: (line: string) => void): Promise<boolean> {
  stream.write(`${command}\n`);
  for (;;) {
    const line = await reader.next();
    if (line === undefined) {
      // `quit` and `restart` close after their status line; anything else closing is a failure.
      throw new ShellClientError('the server closed the connection', ShellExit.CONNECTION_FAILED);
    }
    if (line === STATUS_OK) return true;
    if (line === STATUS_FAILED) return false;
    onLine(line);
  }
}

export interface ShellClientOptions {
  host: string;
  port: number;
  user?: string | undefined;
  secretFile?: string | undefined;
  /** -c COMMAND: run one command and exit with its status. */
  execute?: string | undefined;
  stdin?: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  stdout?: Writable;
  stderr?: Writable;
  env?: NodeJS.ProcessEnv;
}

/** `piwire shell`: resolves with the process exit status. */
export async function runShellClient(options: ShellClientOptions): Promise<number> {
  const stdin = options.stdin ?? process.stdin;
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const env = options.env ?? process.env;
  const user = options.user ?? env['PIWIRE_USER'] ?? DEFAULT_USER;
  let socket: Duplex | undefined;
  try {
    const secret = await readSecret(options.secretFile, env, stdin, stderr);
    socket = await openConnection(options.host, options.port);
    const reader = new LineReader(socket);
    await shellLogin(socket, reader, user, secret);
    const print = (line: string): void => void stdout.write(`${line}\n`);
    if (options.execute !== undefined) {
      const ok = await shellCommand(socket, reader, options.execute, print);
      socket.end();
      return ok ? ShellExit.OK : ShellExit.COMMAND_FAILED;
    }
    return await interactive(socket, reader, stdin, stdout, print);
  } catch (error) {
    socket?.destroy();
    const status = error instanceof ShellClientError ? error.exitStatus : ShellExit.CONNECTION_FAILED;
    stderr.write(`piwire shell: ${error instanceof Error ? error.message : String(error)}\n`);
    return status;
  }
}

async function interactive(socket: Duplex, reader: LineReader, stdin: Readable, stdout: Writable, print: (line: string) => void): Promise<number> {
  const prompt = `piwire> `;
  const input = createInterface({ input: stdin, terminal: false });
  stdout.write(prompt);
  let last = true;
  for await (const line of input) {
    const command = line.trim();
    if (command !== '') {
      try {
        last = await shellCommand(socket, reader, command, print);
      } catch (error) {
        if (/^(quit|exit|restart)$/i.test(command)) break;
        throw error;
      }
      if (/^(quit|restart)$/i.test(command)) break;
    }
    stdout.write(prompt);
  }
  input.close();
  socket.end();
  return last ? ShellExit.OK : ShellExit.COMMAND_FAILED;
}

function openConnection(host: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => socket.destroy(new Error(`no connection to ${host}:${port} within ${CONNECT_TIMEOUT_MS / 1000} s`)));
    socket.once('connect', () => {
      socket.setTimeout(0);
      resolve(socket);
    });
    socket.once('error', (error) => reject(new ShellClientError(`cannot connect to ${host}:${port}: ${error.message}`, ShellExit.CONNECTION_FAILED)));
  });
}

async function readSecret(file: string | undefined, env: NodeJS.ProcessEnv, stdin: ShellClientOptions['stdin'] & Readable, stderr: Writable): Promise<string> {
  if (file !== undefined) {
    const text = await readFile(file, 'utf8').catch((error: Error) => {
      throw new ShellClientError(`cannot read the secret file: ${error.message}`, ShellExit.LOGIN_FAILED);
    });
    const first = text.split(/\r?\n/)[0] ?? '';
    if (first === '') throw new ShellClientError(`the secret file ${file} is empty`, ShellExit.LOGIN_FAILED);
    return first;
  }
  const fromEnv = env['PIWIRE_SECRET'];
  if (fromEnv) return fromEnv;
  if (!stdin.isTTY) throw new ShellClientError('no secret: use --secret-file F or $PIWIRE_SECRET', ShellExit.LOGIN_FAILED);
  stderr.write('secret: ');
  const secret = await readHiddenLine(stdin);
  stderr.write('\n');
  return secret;
}

/** One line from a terminal in raw mode, without echo (Ctrl-C aborts). */
function readHiddenLine(stdin: Readable & { setRawMode?: (mode: boolean) => unknown }): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    stdin.setRawMode?.(true);
    stdin.setEncoding('utf8');
    const done = (): void => {
      stdin.setRawMode?.(false);
      stdin.removeListener('data', onData);
      stdin.pause();
    };
    const onData = (chunk: string): void => {
      for (const character of chunk) {
        if (character === '\r' || character === '\n' || character === '\u0004') {
          done();
          resolve(text);
          return;
        }
        if (character === '\u0003') {
          done();
          reject(new ShellClientError('interrupted', ShellExit.LOGIN_FAILED));
          return;
        }
        if (character === '\u007f' || character === '\b') text = text.slice(0, -1);
        else text += character;
      }
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}

/**
 * `piwire hash-secret`: reads a secret from stdin (the first line; no echo on a
 * terminal) and prints its stored form for `services.shell.users`. Resolves with the
 * exit status (2 for an empty secret).
 */
export async function runHashSecret(
  stdin: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown },
  stdout: Writable,
  stderr: Writable = process.stderr,
): Promise<number> {
  let secret: string;
  if (stdin.isTTY) {
    stderr.write('secret: ');
    try {
      secret = await readHiddenLine(stdin);
    } catch {
      stderr.write('\n');
      return 1;
    }
    stderr.write('\n');
  } else {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
    secret = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  }
  if (secret === '') {
    stderr.write('piwire hash-secret: the secret is empty\n');
    return 2;
  }
  const stored = await createStoredSecret(secret, randomBytes(SALT_LENGTH));
  stdout.write(`${formatStoredSecret(stored)}\n`);
  return 0;
}
