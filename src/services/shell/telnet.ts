/**
 * Telnet option negotiation for the shell (RFC 854, RFC 855): a byte filter that takes
 * what a client sent and returns the data bytes (commands removed) and the bytes to
 * answer with. So `telnet` works and its negotiation never reaches the command line as
 * garbage, and clients that send no IAC at all (nc, socat, openssl s_client) see no
 * difference.
 *
 * Policy (RFC 854 "the principle of the default", RFC 1143 loop avoidance):
 * - We never start a negotiation: a client that is not telnet would print the bytes.
 * - DO SUPPRESS-GO-AHEAD → WILL SGA (RFC 858; we never send GA anyway); DO anything
 *   else → WONT. WILL SGA → DO SGA; WILL anything else → DONT.
 * - WONT/DONT for an option we have agreed to → DONT/WONT once; for one that is off,
 *   nothing (acknowledging a mode already in effect would start a loop, RFC 854).
 * - A request for a state already in effect is not answered again.
 * - Subnegotiations (SB ... IAC SE) are skipped whole; IAC IAC is a data byte 255.
 *   Other commands (NOP, AYT, IP, EC, ...) are dropped.
 * - CR NUL means a bare CR (RFC 854 "NVT"): the NUL is dropped.
 *
 * The state survives across input chunks: a command split over two TCP segments is
 * still recognised.
 */

export const Telnet = {
  SE: 240,
  NOP: 241,
  SB: 250,
  WILL: 251,
  WONT: 252,
  DO: 253,
  DONT: 254,
  IAC: 255,
} as const;

export const TelnetOption = {
  ECHO: 1,
  SUPPRESS_GO_AHEAD: 3,
} as const;

type ParserState = 'data' | 'iac' | 'option' | 'sb' | 'sb-iac' | 'cr';

export interface TelnetOutput {
  /** Data bytes for the application, commands removed. */
  data: Uint8Array;
  /** Negotiation answers to send back to the client (empty when none). */
  reply: Uint8Array;
}

/** Options we are willing to enable on our side (WILL) and the client's side (DO). */
const ACCEPTED_LOCAL = new Set<number>([TelnetOption.SUPPRESS_GO_AHEAD]);
const ACCEPTED_REMOTE = new Set<number>([TelnetOption.SUPPRESS_GO_AHEAD]);

export class TelnetFilter {
  private state: ParserState = 'data';
  private verb = 0;
  /** Options enabled on our side / the client's side. */
  private readonly local = new Set<number>();
  private readonly remote = new Set<number>();
  private sawCommand = false;

  /** Whether the client has sent any telnet command (it is a telnet client). */
  get negotiating(): boolean {
    return this.sawCommand;
  }

  input(bytes: Uint8Array): TelnetOutput {
    const data: number[] = [];
    const reply: number[] = [];
    for (const byte of bytes) {
      switch (this.state) {
        case 'data':
          if (byte === Telnet.IAC) this.state = 'iac';
          else {
            data.push(byte);
            if (byte === 13) this.state = 'cr';
          }
          break;
        case 'cr':
          this.state = 'data';
          if (byte === 0) break; // CR NUL: a bare CR, already passed on.
          if (byte === Telnet.IAC) this.state = 'iac';
          else {
            data.push(byte);
            if (byte === 13) this.state = 'cr';
          }
          break;
        case 'iac':
          this.sawCommand = true;
          if (byte === Telnet.IAC) {
            data.push(Telnet.IAC);
            this.state = 'data';
          } else if (byte >= Telnet.WILL && byte <= Telnet.DONT) {
            this.verb = byte;
            this.state = 'option';
          } else if (byte === Telnet.SB) {
            this.state = 'sb';
          } else {
            this.state = 'data';
          }
          break;
        case 'option':
          this.negotiate(this.verb, byte, reply);
          this.state = 'data';
          break;
        case 'sb':
          if (byte === Telnet.IAC) this.state = 'sb-iac';
          break;
        case 'sb-iac':
          // IAC SE ends the subnegotiation; IAC IAC is an escaped 255 inside it.
          this.state = byte === Telnet.SE ? 'data' : 'sb';
          break;
      }
    }
    return { data: Uint8Array.from(data), reply: Uint8Array.from(reply) };
  }

  private negotiate(verb: number, option: number, reply: number[]): void {
    switch (verb) {
      case Telnet.DO:
        if (this.local.has(option)) return;
        if (ACCEPTED_LOCAL.has(option)) {
          this.local.add(option);
          reply.push(Telnet.IAC, Telnet.WILL, option);
        } else {
          reply.push(Telnet.IAC, Telnet.WONT, option);
        }
        return;
      case Telnet.DONT:
        if (!this.local.delete(option)) return;
        reply.push(Telnet.IAC, Telnet.WONT, option);
        return;
      case Telnet.WILL:
        if (this.remote.has(option)) return;
        if (ACCEPTED_REMOTE.has(option)) {
          this.remote.add(option);
          reply.push(Telnet.IAC, Telnet.DO, option);
        } else {
          reply.push(Telnet.IAC, Telnet.DONT, option);
        }
        return;
      case Telnet.WONT:
        if (!this.remote.delete(option)) return;
        reply.push(Telnet.IAC, Telnet.DONT, option);
        return;
    }
  }
}

/** Doubles every 0xFF in output so a telnet client does not take it for IAC (RFC 854). */
export function escapeIac(bytes: Uint8Array): Uint8Array {
  if (!bytes.includes(Telnet.IAC)) return bytes;
  const out: number[] = [];
  for (const byte of bytes) {
    out.push(byte);
    if (byte === Telnet.IAC) out.push(Telnet.IAC);
  }
  return Uint8Array.from(out);
}
