/**
 * The host's side of the arm64 test VM (test/pi/vm.sh): its agent (commands run as
 * root inside the VM, vm-agent.sh) and QEMU's monitor, both on Unix sockets in the
 * VM's work directory.
 *
 * Call order: `connectAgent(socketPath)` (retries until the VM has booted far enough
 * for the agent to answer) → `agent.run(command)` any number of times, one at a time →
 * `agent.close()`. `monitorCommand(socketPath, 'set_link net0 off')` at any time.
 * Every wait is bounded: a VM that stops answering fails the test, it cannot hang CI.
 */
import { connect, type Socket } from 'node:net';
import { delay } from '../support/netns.ts';

export interface AgentResult {
  status: number;
  output: string;
}

export interface Agent {
  /** Runs `command` with bash as root in the VM; rejects after `timeoutMs`. */
  run(command: string, timeoutMs?: number): Promise<AgentResult>;
  close(): void;
}

const DEFAULT_COMMAND_TIMEOUT_MS = 120_000;
const PROBE_TIMEOUT_MS = 5_000;

function openSocket(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path, () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

function agentOn(socket: Socket): Agent & { synchronize(timeoutMs: number): Promise<void> } {
  let buffered = '';
  let pending: { resolve: (line: string) => void; reject: (error: Error) => void } | undefined;
  let closed: Error | undefined;
  socket.setEncoding('utf8');
  /** Hands the next complete answer line to the waiter, if there is one. */
  const deliver = (): void => {
    const newline = buffered.indexOf('\n');
    if (newline < 0 || pending === undefined) return;
    const line = buffered.slice(0, newline);
    buffered = buffered.slice(newline + 1);
    const waiter = pending;
    pending = undefined;
    waiter.resolve(line);
  };
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    deliver();
  });
  const fail = (error: Error): void => {
    closed = error;
    pending?.reject(error);
    pending = undefined;
  };
  socket.on('error', fail);
  socket.on('close', () => fail(new Error('the VM agent closed its port')));
  /** Waits for the next answer line ("STATUS BASE64"), whatever command it answers. */
  const nextAnswer = (what: string, timeoutMs: number): Promise<AgentResult> => {
    if (closed) return Promise.reject(closed);
    if (pending) return Promise.reject(new Error('one agent command at a time'));
    return new Promise<AgentResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending = undefined;
        reject(new Error(`the VM agent did not answer within ${timeoutMs} ms: ${what}`));
      }, timeoutMs);
      pending = {
        resolve: (line) => {
          clearTimeout(timer);
          const space = line.indexOf(' ');
          const status = Number(line.slice(0, space < 0 ? undefined : space));
          const output = space < 0 ? '' : Buffer.from(line.slice(space + 1), 'base64').toString('utf8');
          if (!Number.isInteger(status)) reject(new Error(`bad agent answer: ${line.slice(0, 200)}`));
          else resolve({ status, output });
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      deliver();
    });
  };
  const send = (command: string): void => {
    socket.write(Buffer.from(command).toString('base64') + '\n');
  };
  return {
    run(command, timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS) {
      if (closed) return Promise.reject(closed);
      if (pending) return Promise.reject(new Error('one agent command at a time'));
      send(command);
      return nextAnswer(command, timeoutMs);
    },
    /**
     * The agent answers every command it has read, also those of a connection the host
     * gave up on (a probe that timed out while the VM was still booting), and QEMU hands
     * such a late answer to whoever is connected now, where it would pass for the answer
     * to the next command. So: send a nonce, and discard answers until it comes back.
     */
    async synchronize(timeoutMs) {
      const nonce = `piwire-agent-sync-${process.pid}-${Math.random().toString(36).slice(2)}`;
      const deadline = performance.now() + timeoutMs;
      send(`printf %s ${nonce}`);
      for (;;) {
        const left = deadline - performance.now();
        if (left <= 0) throw new Error('the VM agent did not echo the synchronisation nonce');
        const answer = await nextAnswer('synchronisation', left);
        if (answer.output === nonce) return;
      }
    },
    close() {
      socket.destroy();
    },
  };
}

/**
 * Connects to the agent's port and waits until the agent answers `true`. QEMU's side
 * of the port exists from the start; the agent answers once systemd has started it.
 * Then it synchronises (`synchronize`), so that a late answer to an abandoned probe is
 * never taken for the answer to a test's command.
 */
export async function connectAgent(socketPath: string, timeoutMs: number): Promise<Agent> {
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  while (performance.now() < deadline) {
    let socket: Socket | undefined;
    try {
      socket = await openSocket(socketPath);
      const agent = agentOn(socket);
      const probe = await agent.run('true', PROBE_TIMEOUT_MS);
      if (probe.status === 0) {
        await agent.synchronize(Math.max(PROBE_TIMEOUT_MS, deadline - performance.now()));
        return agent;
      }
      agent.close();
    } catch (error) {
      lastError = error;
      socket?.destroy();
      await delay(1_000);
    }
  }
  throw new Error(`the VM agent did not answer within ${timeoutMs} ms: ${String(lastError)}`);
}

/** One command on QEMU's human monitor; resolves with what it printed. */
export async function monitorCommand(socketPath: string, command: string, timeoutMs = 10_000): Promise<string> {
  const socket = await openSocket(socketPath);
  try {
    return await new Promise<string>((resolve, reject) => {
      let text = '';
      let sent = false;
      const timer = setTimeout(() => reject(new Error(`QEMU monitor: no answer to ${command}: ${text}`)), timeoutMs);
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        text += chunk;
        // The monitor greets with a banner and a prompt; after the command, the next prompt ends it.
        const prompts = text.split('(qemu)').length - 1;
        if (!sent && prompts >= 1) {
          sent = true;
          socket.write(`${command}\n`);
        } else if (sent && prompts >= 2) {
          clearTimeout(timer);
          resolve(text);
        }
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  } finally {
    socket.destroy();
  }
}
