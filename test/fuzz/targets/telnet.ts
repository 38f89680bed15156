/**
 * Fuzz target: telnet negotiation (src/services/shell/telnet.ts) on untrusted bytes, in
 * two chunks split where the first byte says (a command may straddle chunks).
 *
 * Invariants: nothing throws; every answer is a complete three-byte negotiation
 * (IAC WILL|WONT|DO|DONT option), never a bare IAC or a half command; the filter never
 * answers more than it was asked (at most one answer per command received); data the
 * shell sends back escaped (escapeIac) reaches a fresh filter unchanged.
 */
import { escapeIac, Telnet, TelnetFilter } from '../../../src/services/shell/telnet.ts';
import { invariant } from './invariant.ts';

const VERBS = new Set<number>([Telnet.WILL, Telnet.WONT, Telnet.DO, Telnet.DONT]);

function checkReply(reply: Uint8Array, input: Uint8Array): void {
  invariant(reply.length % 3 === 0, `answer of ${reply.length} bytes is not whole commands`);
  let asked = 0;
  for (let i = 0; i + 1 < input.length; i++) if (input[i] === Telnet.IAC && VERBS.has(input[i + 1]!)) asked++;
  for (let i = 0; i < reply.length; i += 3) {
    invariant(reply[i] === Telnet.IAC && VERBS.has(reply[i + 1]!), `malformed answer ${Array.from(reply.subarray(i, i + 3)).join(' ')}`);
  }
  invariant(reply.length / 3 <= asked + 1, `${reply.length / 3} answers to ${asked} commands`);
}

export function fuzz(data: Buffer): void {
  if (data.length === 0) return;
  const bytes = new Uint8Array(data.buffer, data.byteOffset + 1, data.byteLength - 1);
  const split = data[0]! % (bytes.length + 1);
  const filter = new TelnetFilter();
  const replies: number[] = [];
  for (const chunk of [bytes.subarray(0, split), bytes.subarray(split)]) {
    const { data: text, reply } = filter.input(chunk);
    invariant(text.length <= chunk.length + 1, 'more data out than in');
    replies.push(...reply);
  }
  checkReply(Uint8Array.from(replies), bytes);

  // Plain data without CR (the NVT's CR rules apply to it), escaped, comes back as it was.
  const plain = bytes.filter((byte) => byte !== 13);
  const echoed = new TelnetFilter().input(escapeIac(plain));
  invariant(Buffer.from(echoed.data).equals(Buffer.from(plain)), 'escaped data did not come back unchanged');
  invariant(echoed.reply.length === 0, 'escaped data was answered');
}
