/**
 * Fuzz target: the interface's receive path, a whole NetStack (ARP, IPv4, ICMP, TCP
 * with a live connection on port 7100) fed one untrusted frame per input.
 *
 * Input: one flag byte, then the frame. Flag bit 0 set: the IPv4 header checksum and the
 * TCP/ICMP checksum are fixed up before the frame is fed, so mutations reach past the
 * checksum checks into ARP handling, ICMP echo and the TCP state machine.
 *
 * Invariants (src/net/interface.ts "Receive accounting"): receiveFrame never throws; each
 * frame ends in exactly one outcome counter (frames == delivered + dropped, and the
 * frame count grows by one); no layer counts an internal error.
 *
 * The stack is rebuilt every REBUILD_EVERY inputs so long campaigns stay bounded in
 * memory (the test stack pair records its events).
 */
import { receiveAccounting } from '../../../src/net/interface.ts';
import { foldChecksum, pseudoHeaderSum, sumWordRange } from '../../../src/wire/checksum.ts';
import { createStackPair, DEVICE_IP, type StackPair } from '../../support/stack-pair.ts';
import { invariant } from './invariant.ts';

const REBUILD_EVERY = 20_000;
const PORT = 7100;

let pair: StackPair | undefined;
let inputs = 0;

function build(): StackPair {
  const fresh = createStackPair({ seed: 17 });
  fresh.device.net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.resume();
  }).listen(PORT);
  const client = fresh.peer.net.connect({ host: DEVICE_IP, port: PORT });
  client.on('error', () => undefined);
  fresh.world.runUntilSync(fresh.world.now + 1_000);
  return fresh;
}

function readUint32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

function writeChecksum(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 8;
  bytes[offset + 1] = value & 0xff;
}

/** Recomputes the IPv4 header checksum and the ICMP or TCP checksum in place. */
function fixChecksums(frame: Uint8Array): void {
  if (frame.length < 34 || frame[12] !== 0x08 || frame[13] !== 0x00) return;
  const headerLength = (frame[14]! & 0x0f) * 4;
  const totalLength = (frame[16]! << 8) | frame[17]!;
  if (headerLength < 20 || 14 + headerLength > frame.length) return;
  writeChecksum(frame, 24, 0);
  writeChecksum(frame, 24, foldChecksum(sumWordRange(frame, 14, 14 + headerLength)));
  const end = Math.min(frame.length, 14 + Math.max(totalLength, headerLength));
  const start = 14 + headerLength;
  const protocol = frame[23];
  if (protocol === 1 && end - start >= 4) {
    writeChecksum(frame, start + 2, 0);
    writeChecksum(frame, start + 2, foldChecksum(sumWordRange(frame, start, end)));
  } else if (protocol === 6 && end - start >= 20) {
    writeChecksum(frame, start + 16, 0);
    const initial = pseudoHeaderSum(readUint32(frame, 26), readUint32(frame, 30), 6, end - start);
    writeChecksum(frame, start + 16, foldChecksum(sumWordRange(frame, start, end, initial)));
  }
}

export function fuzz(data: Buffer): void {
  if (data.length === 0) return;
  if (pair === undefined || inputs++ % REBUILD_EVERY === 0) pair = build();
  const frame = Uint8Array.from(data.subarray(1));
  if ((data[0]! & 1) !== 0) fixChecksums(frame);
  const counters = pair.device.counters;
  const before = counters.get('ethernet.rx.frames');
  pair.device.receiveFrame(frame);
  pair.world.runUntilSync(pair.world.now + 1);
  const accounting = receiveAccounting(counters);
  invariant(accounting.frames === accounting.delivered + accounting.dropped, `receive accounting broken: ${JSON.stringify(accounting)}`);
  invariant(accounting.frames >= before + 1, 'the frame was not counted');
  invariant(counters.get('stack.drop.internal-error') === 0, 'an exception escaped a layer');
  invariant(counters.get('tcp.drop.internal-error') === 0, 'an exception inside TCP');
}
