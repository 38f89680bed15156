/**
 * The floor of a TCP stack in JavaScript on this frame I/O path (issue 13: "if a target
 * is out of reach for JavaScript on Node, show the measurement that says so and what the
 * floor is"). Run by bench/run.ts's `floor` section in the device namespace, on the same
 * AF_PACKET link class the firmware uses (hal/link/packet.ts), it does only the work no
 * correct TCP receiver or sender can skip, and nothing else:
 *
 * - receive: every frame crosses the addon into JavaScript; ARP requests for the address
 *   are answered; the IPv4 header and the TCP checksum (pseudo header + segment, with
 *   the project's own checksum routine, src/wire/checksum.ts) are verified, as a stack
 *   must with offloads off; in-order data advances RCV.NXT; one cumulative ACK per
 *   received batch (as GRO-less Linux does per NAPI poll), built into a reused frame.
 * - reordering: data beyond RCV.NXT is remembered as sequence ranges (a few, no bytes:
 *   the data is discarded anyway) and reported in SACK blocks (RFC 2018), so a hole's
 *   filling advances RCV.NXT past them. A veth reorders: a Linux sender pacing from its
 *   timer (BBR, this machine's default) transmits from two CPUs at once, each onto its own
 *   CPU's backlog, and frames reach the ring interleaved; a receiver that drops what comes
 *   early stalls that sender in back-to-back RTOs (the push direction timed out every time).
 * - send (chargen, port 19): full-sized segments built into reused frames, the payload
 *   copied in from a pattern and checksummed, as much as the peer's window allows; on
 *   no progress for 50 ms everything unacknowledged is sent again (the veth path loses
 *   nothing but a full socket queue can).
 *
 * No send or receive buffers, no timers but that one, no options beyond MSS, window
 * scale and SACK, no congestion control, one connection at a time. Whatever piwire
 * spends above this is its TCP; what this spends is the price of JavaScript, N-API and
 * the packet socket. It is a measuring tool, not a stack: it trusts the path.
 *
 * usage: node --import tsx bench/lib/floor-responder.ts packet:IFACE ADDRESS
 * Prints {"ready": true} once the link is open; runs until SIGTERM.
 */
import { openPacketLink } from '../../hal/link/packet.ts';
import { parseIpv4 } from '../../src/net/address.ts';
import { readUint16, readUint32, writeUint16, writeUint32 } from '../../src/wire/bytes.ts';
import { foldChecksum, pseudoHeaderSum, sumWordRange } from '../../src/wire/checksum.ts';
import { seqGt, seqLe, seqLt, seqMax } from '../../src/tcp/seq.ts';

const [linkSpec, addressText] = process.argv.slice(2);
const interfaceName = linkSpec?.startsWith('packet:') ? linkSpec.slice('packet:'.length) : undefined;
const localAddress = addressText === undefined ? undefined : parseIpv4(addressText);
if (interfaceName === undefined || localAddress === undefined) {
  process.stderr.write('usage: floor-responder.ts packet:IFACE ADDRESS\n');
  process.exit(2);
}

const link = openPacketLink({ interfaceName });
const ETH = 14;
const IP = 20;
const TCP = 20;
const HEADERS = ETH + IP + TCP;
const MSS = link.mtu - IP - TCP;
const WINDOW_SHIFT = 2;
/**
 * Advertised: 64 KiB << 2 = 256 KiB, the window of the firmware's diag services. The data
 * is discarded at once, so it never closes; a larger one only lets the sender overrun the
 * socket's receive queue.
 */
const ADVERTISED_WINDOW = 0xffff;
const DISCARD_PORT = 9;
const CHARGEN_PORT = 19;
const RESEND_AFTER_MS = 50;
const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const ACK = 0x10;
/** Out-of-order ranges remembered beyond RCV.NXT; more are forgotten (the sender resends). */
const MAX_RANGES = 8;
/** SACK blocks on an ACK: 2 + 2 + 8·3 = 28 option bytes (RFC 2018 §3). */
const MAX_SACK_BLOCKS = 3;

const pattern = new Uint8Array(65_536 + MSS);
for (let i = 0; i < pattern.length; i++) pattern[i] = 32 + (i % 95);

/** Frames handed to the link and reused after its flush (sendmmsg has copied them by then). */
const pool: Uint8Array[] = [];
let poolNext = 0;
function frame(length: number): Uint8Array {
  if (poolNext === pool.length) pool.push(new Uint8Array(link.mtu + ETH));
  const buffer = pool[poolNext++]!;
  return buffer.subarray(0, length);
}
function flush(): void {
  link.flush();
  poolNext = 0;
}

interface Connection {
  peerMac: Uint8Array;
  peerAddress: number;
  peerPort: number;
  localPort: number;
  rcvNxt: number;
  sndUna: number;
  sndNxt: number;
  /** SND.UNA + the peer's window (scaled). */
  sndLimit: number;
  peerShift: number;
  established: boolean;
  finSent: boolean;
  closed: boolean;
  ackPending: boolean;
  lastProgress: number;
  sackPermitted: boolean;
  /** Received ranges beyond RCV.NXT, [start, end) in sequence space, most recently grown first. */
  rangeStart: number[];
  rangeEnd: number[];
  /** Where an early FIN sits, until RCV.NXT reaches it. */
  finAt: number | undefined;
}

let connection: Connection | undefined;
let batchScheduled = false;
const counters = { frames: 0, badChecksum: 0, acks: 0, segmentsSent: 0, resends: 0 };

function writeHeaders(out: Uint8Array, c: Connection, seq: number, flags: number, payloadLength: number, options: number): void {
  out.set(c.peerMac, 0);
  out.set(link.mac, 6);
  writeUint16(out, 12, 0x0800);
  const tcpLength = TCP + options + payloadLength;
  writeUint32(out, ETH, 0x4500_0000 | (IP + tcpLength));
  writeUint32(out, ETH + 4, 0x4000_0000); // id 0, DF
  writeUint32(out, ETH + 8, 0x4006_0000); // TTL 64, TCP, checksum 0
  writeUint32(out, ETH + 12, localAddress!);
  writeUint32(out, ETH + 16, c.peerAddress);
  writeUint16(out, ETH + 10, foldChecksum(sumWordRange(out, ETH, ETH + IP)));
  const t = ETH + IP;
  writeUint16(out, t, c.localPort);
  writeUint16(out, t + 2, c.peerPort);
  writeUint32(out, t + 4, seq);
  writeUint32(out, t + 8, c.rcvNxt);
  writeUint16(out, t + 12, (((TCP + options) / 4) << 12) | flags);
  writeUint16(out, t + 14, ADVERTISED_WINDOW);
  writeUint32(out, t + 16, 0); // checksum, urgent pointer
}

function finishTcpChecksum(out: Uint8Array, c: Connection): void {
  const t = ETH + IP;
  const sum = sumWordRange(out, t, out.length, pseudoHeaderSum(localAddress!, c.peerAddress, 6, out.length - t));
  const checksum = foldChecksum(sum);
  out[t + 16] = checksum >>> 8;
  out[t + 17] = checksum & 0xff;
}

function sendControl(c: Connection, seq: number, flags: number): void {
  const syn = (flags & SYN) !== 0;
  const blocks = syn ? 0 : Math.min(MAX_SACK_BLOCKS, c.rangeStart.length);
  const options = syn ? (c.sackPermitted ? 12 : 8) : blocks > 0 ? 4 + 8 * blocks : 0;
  const out = frame(HEADERS + options);
  writeHeaders(out, c, seq, flags, 0, options);
  const o = HEADERS;
  if (syn) {
    out[o] = 2; // MSS (RFC 9293 §3.2)
    out[o + 1] = 4;
    out[o + 2] = MSS >>> 8;
    out[o + 3] = MSS & 0xff;
    out[o + 4] = 1; // NOP
    out[o + 5] = 3; // window scale (RFC 7323 §2)
    out[o + 6] = 3;
    out[o + 7] = WINDOW_SHIFT;
    if (c.sackPermitted) writeUint32(out, o + 8, 0x0101_0402); // NOP NOP SACK-permitted (RFC 2018 §2)
  } else if (blocks > 0) {
    writeUint32(out, o, 0x0101_0500 | (2 + 8 * blocks)); // NOP NOP SACK (RFC 2018 §3)
    for (let i = 0; i < blocks; i++) {
      writeUint32(out, o + 4 + 8 * i, c.rangeStart[i]!);
      writeUint32(out, o + 8 + 8 * i, c.rangeEnd[i]!);
    }
  }
  finishTcpChecksum(out, c);
  link.transmit(out);
}

/**
 * Records [start, end) beyond RCV.NXT: merged with every range it touches, the result
 * first (RFC 2018 §4: the first block reports the most recent segment). At MAX_RANGES the
 * highest range is forgotten.
 */
function rememberRange(c: Connection, start: number, end: number): void {
  for (let i = c.rangeStart.length - 1; i >= 0; i--) {
    if (seqLe(c.rangeStart[i]!, end) && seqLe(start, c.rangeEnd[i]!)) {
      if (seqLt(c.rangeStart[i]!, start)) start = c.rangeStart[i]!;
      end = seqMax(end, c.rangeEnd[i]!);
      c.rangeStart.splice(i, 1);
      c.rangeEnd.splice(i, 1);
    }
  }
  c.rangeStart.unshift(start);
  c.rangeEnd.unshift(end);
  if (c.rangeStart.length > MAX_RANGES) {
    let highest = 0;
    for (let i = 1; i < c.rangeStart.length; i++) if (seqGt(c.rangeStart[i]!, c.rangeStart[highest]!)) highest = i;
    c.rangeStart.splice(highest, 1);
    c.rangeEnd.splice(highest, 1);
  }
}

/** RCV.NXT moved: the ranges it reached are in order now. */
function absorbRanges(c: Connection): void {
  for (let i = c.rangeStart.length - 1; i >= 0; i--) {
    if (seqLe(c.rangeStart[i]!, c.rcvNxt)) {
      c.rcvNxt = seqMax(c.rcvNxt, c.rangeEnd[i]!);
      c.rangeStart.splice(i, 1);
      c.rangeEnd.splice(i, 1);
      i = c.rangeStart.length; // a later range may now touch RCV.NXT
    }
  }
}

function sendData(c: Connection, seq: number, length: number): void {
  const out = frame(HEADERS + length);
  writeHeaders(out, c, seq, ACK | PSH, length, 0);
  const from = seq & 0xffff; // any offset: the bytes are a pattern
  out.set(pattern.subarray(from, from + length), HEADERS);
  finishTcpChecksum(out, c);
  link.transmit(out);
  counters.segmentsSent++;
}

/** Sends new data while the peer's window allows it (chargen), then flushes. */
function pump(c: Connection): void {
  while (c.established && !c.closed && ((c.sndLimit - c.sndNxt) | 0) >= MSS) {
    sendData(c, c.sndNxt, MSS);
    c.sndNxt = (c.sndNxt + MSS) >>> 0;
    if (poolNext >= 64) flush();
  }
}

function endOfBatch(): void {
  batchScheduled = false;
  const c = connection;
  if (c !== undefined && c.ackPending) {
    c.ackPending = false;
    sendControl(c, c.sndNxt, ACK);
    counters.acks++;
  }
  if (c !== undefined && c.localPort === CHARGEN_PORT) pump(c);
  flush();
}

function onSegment(frameBytes: Uint8Array, ipStart: number, ipHeader: number, ipTotal: number): void {
  const t = ipStart + ipHeader;
  const tcpLength = ipTotal - ipHeader;
  if (tcpLength < TCP) return;
  const peerAddress = readUint32(frameBytes, ipStart + 12);
  const sum = sumWordRange(frameBytes, t, t + tcpLength, pseudoHeaderSum(peerAddress, localAddress!, 6, tcpLength));
  if (foldChecksum(sum) !== 0) {
    counters.badChecksum++;
    return;
  }
  const peerPort = readUint16(frameBytes, t);
  const localPort = readUint16(frameBytes, t + 2);
  const seq = readUint32(frameBytes, t + 4);
  const ackNumber = readUint32(frameBytes, t + 8);
  const offsetFlags = readUint16(frameBytes, t + 12);
  const dataOffset = (offsetFlags >>> 12) * 4;
  const flags = offsetFlags & 0x3f;
  const window = readUint16(frameBytes, t + 14);
  const payload = tcpLength - dataOffset;
  if ((flags & SYN) !== 0) {
    let peerShift = 0;
    let sackPermitted = false;
    for (let o = t + TCP; o < t + dataOffset; ) {
      const kind = frameBytes[o]!;
      if (kind === 0) break;
      if (kind === 1) {
        o++;
        continue;
      }
      const size = frameBytes[o + 1]!;
      if (kind === 3 && size === 3) peerShift = Math.min(14, frameBytes[o + 2]!);
      if (kind === 4 && size === 2) sackPermitted = true;
      if (size < 2) break;
      o += size;
    }
    const isn = (Math.random() * 0x1_0000_0000) >>> 0;
    connection = {
      peerMac: frameBytes.slice(6, 12),
      peerAddress,
      peerPort,
      localPort,
      rcvNxt: (seq + 1) >>> 0,
      sndUna: isn,
      sndNxt: (isn + 1) >>> 0,
      sndLimit: (isn + 1 + window) >>> 0,
      peerShift,
      established: false,
      finSent: false,
      closed: false,
      ackPending: false,
      lastProgress: Date.now(),
      sackPermitted,
      rangeStart: [],
      rangeEnd: [],
      finAt: undefined,
    };
    sendControl(connection, isn, SYN | ACK);
    return;
  }
  const c = connection;
  if (c === undefined || c.peerPort !== peerPort || c.localPort !== localPort) return;
  if ((flags & RST) !== 0) {
    c.closed = true;
    return;
  }
  if ((flags & ACK) !== 0) {
    if (((ackNumber - c.sndUna) | 0) > 0 && ((ackNumber - c.sndNxt) | 0) <= 0) {
      c.sndUna = ackNumber;
      c.lastProgress = Date.now();
    }
    if (!c.established && ackNumber === c.sndNxt) c.established = true;
    c.sndLimit = (c.sndUna + window * 2 ** c.peerShift) >>> 0;
  }
  if (payload > 0 || (flags & FIN) !== 0) {
    const end = (seq + payload) >>> 0;
    if (payload > 0 && seqLe(seq, c.rcvNxt) && seqGt(end, c.rcvNxt)) {
      c.rcvNxt = end;
      if (c.rangeStart.length > 0) absorbRanges(c);
    } else if (seqGt(seq, c.rcvNxt)) {
      if (payload > 0) rememberRange(c, seq, end);
      if ((flags & FIN) !== 0) c.finAt = end; // early: taken when the hole before it fills
    }
    const finInOrder = ((flags & FIN) !== 0 && end === c.rcvNxt) || c.finAt === c.rcvNxt;
    if (finInOrder || end === c.rcvNxt) {
      if (finInOrder) {
        c.finAt = undefined;
        c.rcvNxt = (c.rcvNxt + 1) >>> 0;
        // Discard closes once it has read everything: our FIN rides on the ACK.
        if (!c.finSent) {
          sendControl(c, c.sndNxt, ACK | FIN);
          c.sndNxt = (c.sndNxt + 1) >>> 0;
          c.finSent = true;
          c.closed = c.localPort === CHARGEN_PORT;
          return;
        }
      }
    } else if ((flags & FIN) !== 0 && c.finSent && ((end + 1) >>> 0) === c.rcvNxt) {
      // The peer resends its FIN: our FIN-ACK was lost, so it goes again.
      sendControl(c, (c.sndNxt - 1) >>> 0, ACK | FIN);
      return;
    }
    c.ackPending = true;
  }
}

function onFrame(bytes: Uint8Array): void {
  counters.frames++;
  if (bytes.length < ETH + IP) return;
  const type = readUint16(bytes, 12);
  if (type === 0x0806) {
    answerArp(bytes);
  } else if (type === 0x0800) {
    const versionIhl = bytes[ETH]!;
    const ipHeader = (versionIhl & 0x0f) * 4;
    const ipTotal = readUint16(bytes, ETH + 2);
    if (versionIhl >>> 4 !== 4 || ipHeader < IP || ipTotal > bytes.length - ETH || bytes[ETH + 9] !== 6) return;
    if (readUint32(bytes, ETH + 16) !== localAddress) return;
    if (foldChecksum(sumWordRange(bytes, ETH, ETH + ipHeader)) !== 0) {
      counters.badChecksum++;
      return;
    }
    onSegment(bytes, ETH, ipHeader, ipTotal);
  }
  if (!batchScheduled) {
    batchScheduled = true;
    queueMicrotask(endOfBatch);
  }
}

/** RFC 826: an Ethernet/IPv4 request for our address gets a reply from our MAC. */
function answerArp(bytes: Uint8Array): void {
  if (bytes.length < ETH + 28 || readUint16(bytes, ETH + 6) !== 1 || readUint32(bytes, ETH + 24) !== localAddress) return;
  const out = frame(ETH + 28);
  out.set(bytes.subarray(6, 12), 0);
  out.set(link.mac, 6);
  out.set(bytes.subarray(12, ETH + 6), 12); // type, htype, ptype, hlen, plen
  out[ETH + 6] = 0;
  out[ETH + 7] = 2; // reply
  out.set(link.mac, ETH + 8);
  out.set(bytes.subarray(ETH + 24, ETH + 28), ETH + 14);
  out.set(bytes.subarray(ETH + 8, ETH + 18), ETH + 18); // sender MAC and IP become the target
  link.transmit(out);
}

link.setReceiver(onFrame);
const resendTimer = setInterval(() => {
  const c = connection;
  if (c === undefined || !c.established || c.sndUna === c.sndNxt) return;
  if (Date.now() - c.lastProgress < RESEND_AFTER_MS) return;
  counters.resends++;
  c.lastProgress = Date.now();
  if (c.finSent) {
    // Our FIN (discard) is not acknowledged: without it the client never sees EOF.
    sendControl(c, (c.sndNxt - 1) >>> 0, ACK | FIN);
  } else if (c.localPort === CHARGEN_PORT && !c.closed) {
    c.sndNxt = c.sndUna; // go back N: everything unacknowledged goes again
    pump(c);
  }
  flush();
}, RESEND_AFTER_MS);
process.on('SIGTERM', () => {
  clearInterval(resendTimer);
  process.stderr.write(`${JSON.stringify({ ...counters, link: link.stats() })}\n`);
  link.close();
  process.exit(0);
});
process.stdout.write(`${JSON.stringify({ ready: true, mss: MSS, discard: DISCARD_PORT, chargen: CHARGEN_PORT })}\n`);
