/**
 * Fuzz target: the sensor protocol's framer and request parser (SPEC §4) on untrusted
 * bytes, as a connection delivers them: the input is split in two chunks at a position
 * the first byte chooses, and the framer's end-of-input rule runs at the end.
 *
 * Invariants: nothing throws; a framed line is never longer than maxLine; every line
 * parses to a request, an error or a blank; every reply the service would write for it
 * (src/services/sensors/reply.ts) is exactly one LF-terminated line starting with the
 * protocol's word; a PUT's value is finite and its time within a JavaScript Date.
 */
import { LineFramer, type FramedItem } from '../../../src/services/sensors/framer.ts';
import { MAX_UNIX_MS, parseRequest, type Request } from '../../../src/services/sensors/request.ts';
import { Reply } from '../../../src/services/sensors/reply.ts';
import { invariant, isOneLine } from './invariant.ts';

const MAX_LINE = 512;
const REPLY_WORD = /^(OK|ERR [0-9]{3}|PONG|BYE|VAL|TIME|END)\b/;

function replyFor(request: Request): string[] {
  switch (request.verb) {
    case 'HELLO':
      return [Reply.hello(request.sensorId)];
    case 'PUT':
      invariant(Number.isFinite(request.value), `PUT value ${request.value} is not finite`);
      invariant(request.timestamp === undefined || (request.timestamp >= 0 && request.timestamp <= MAX_UNIX_MS), `PUT time ${request.timestamp} out of range`);
      return [Reply.ok(), Reply.value({ name: request.name, value: request.value, timestamp: request.timestamp ?? 0, source: 'fuzz' })];
    case 'GET':
      return [Reply.unknown(request.name)];
    case 'PING':
      return [Reply.pong(request.token)];
    case 'QUIT':
      return [Reply.bye()];
    default:
      return [Reply.ok()];
  }
}

function check(item: FramedItem): void {
  if (item.kind === 'too-long') return;
  invariant(item.bytes.length <= MAX_LINE, `framed line of ${item.bytes.length} bytes`);
  const parsed = parseRequest(item.bytes);
  if (parsed.ok === 'blank') return;
  const replies = parsed.ok ? replyFor(parsed.request) : [Reply.error(parsed.error)];
  for (const reply of replies) {
    invariant(isOneLine(reply), `reply is not one line: ${JSON.stringify(reply)}`);
    invariant(REPLY_WORD.test(reply), `reply does not start with a protocol word: ${JSON.stringify(reply)}`);
  }
}

export function fuzz(data: Buffer): void {
  if (data.length === 0) return;
  const bytes = new Uint8Array(data.buffer, data.byteOffset + 1, data.byteLength - 1);
  const split = data[0]! % (bytes.length + 1);
  const framer = new LineFramer(MAX_LINE);
  for (const chunk of [bytes.subarray(0, split), bytes.subarray(split)]) {
    framer.push(chunk);
    for (let item = framer.next(); item !== undefined; item = framer.next()) check(item);
  }
  const last = framer.finish();
  if (last) check(last);
}
