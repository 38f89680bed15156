/**
 * RFC 7323 on the virtual clock, exact segments: window scale and timestamps negotiated
 * (both, one, none offered; switched off), scaled windows both ways, a right edge that
 * never moves left under scaling (§2.4), TS.Recent and TSecr (§4.3, delayed ACKs and a
 * hole), RTTM (§4, appendix G), PAWS (§5.3, the 24-day rule, TSval wrap), TIME-WAIT,
 * SYN cookies that keep the options (the TSval low bits), and the option room (RFC 2018
 * §3: three SACK blocks beside timestamps).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ACK, FIN, LOCAL_ISS, PSH, REMOTE, REMOTE_ISS, REMOTE_PORT, RST, SYN, TS_OFFSET, TcpHarness, pattern, type Segment } from '../support/tcp-harness.ts';
import type { TcpOptions } from '../../src/wire/tcp.ts';
import { decodeCookieOptions, encodeCookieOptions } from '../../src/tcp/syn-cookie.ts';
import { PAWS_IDLE_LIMIT_MS, windowShiftFor } from '../../src/tcp/timestamps.ts';
import { RttEstimator } from '../../src/tcp/rtt.ts';

const L1 = LOCAL_ISS + 1;
const R1 = REMOTE_ISS + 1;
const KIB = 1024;

/** The peer's TSopt. */
const ts = (value: number, echo = 0): { value: number; echo: number } => ({ value, echo });

describe('negotiation (RFC 7323 §2.2, §3.2)', () => {
  const cases: { name: string; offer: TcpOptions; config?: { windowScale?: boolean; timestamps?: boolean }; answer: (h: TcpHarness) => TcpOptions }[] = [
    { name: 'both offered', offer: { mss: 1460, windowScale: 7, timestamps: ts(500) }, answer: (h) => ({ mss: 1460, windowScale: 0, timestamps: ts(h.tsval(), 500) }) },
    { name: 'only window scale', offer: { mss: 1460, windowScale: 7 }, answer: () => ({ mss: 1460, windowScale: 0 }) },
    { name: 'only timestamps', offer: { mss: 1460, timestamps: ts(500) }, answer: (h) => ({ mss: 1460, timestamps: ts(h.tsval(), 500) }) },
    { name: 'neither', offer: { mss: 1460 }, answer: () => ({ mss: 1460 }) },
    { name: 'both offered, both switched off', offer: { mss: 1460, windowScale: 7, timestamps: ts(500) }, config: { windowScale: false, timestamps: false }, answer: () => ({ mss: 1460 }) },
    { name: 'both offered, window scaling off', offer: { mss: 1460, windowScale: 7, timestamps: ts(500) }, config: { windowScale: false }, answer: (h) => ({ mss: 1460, timestamps: ts(h.tsval(), 500) }) },
  ];
  for (const { name, offer, config, answer } of cases) {
    it(`passive open, ${name}`, () => {
      const h = new TcpHarness({ config: { sack: false, ...config } });
      h.clock.set(250);
      h.listen();
      h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, options: offer });
      h.recv({ flags: SYN | ACK, window: 16 * KIB, options: answer(h) });
      // The final ACK: with timestamps it must carry them too; without, nothing echoes.
      h.send({ options: offer.timestamps !== undefined ? { timestamps: ts(501, h.tsval()) } : {} });
      const tcb = h.connection!.tcb;
      const timestamps = offer.timestamps !== undefined && config?.timestamps !== false;
      const scaling = offer.windowScale !== undefined && config?.windowScale !== false;
      assert.equal(tcb.timestamps, timestamps);
      assert.equal(tcb.sndShift, scaling ? 7 : 0);
      h.connection!.send(pattern(10));
      h.recv({ seq: L1, ack: R1, options: timestamps ? { timestamps: ts(h.tsval(), 501) } : {} });
    });
  }

  it('active open: the SYN offers both; a SYN-ACK with neither leaves them off', () => {
    const h = new TcpHarness();
    h.synSent();
    h.send({ seq: REMOTE_ISS, flags: SYN | ACK, options: { mss: 1460 } });
    h.recv({ seq: L1, ack: R1, flags: ACK, options: {} });
    assert.equal(h.connection!.tcb.timestamps, false);
    assert.equal(h.connection!.tcb.sndShift, 0);
  });

  it('active open: a SYN-ACK with both turns them on; the ACK echoes its TSval', () => {
    const h = new TcpHarness();
    h.synSent();
    h.advance(12);
    h.send({ seq: REMOTE_ISS, flags: SYN | ACK, options: { mss: 1460, windowScale: 2, timestamps: ts(900, TS_OFFSET) } });
    h.recv({ seq: L1, ack: R1, flags: ACK, window: 16 * KIB, options: { timestamps: ts(h.tsval(), 900) } });
    const connection = h.connection!;
    assert.equal(connection.tcb.sndShift, 2);
    assert.equal(connection.info().srtt, 12, 'the SYN-ACK echo is the first RTT sample');
  });

  it('passive open: a retransmitted SYN (the SYN-ACK was lost) becomes TS.Recent, so the resent SYN-ACK echoes it (§4.3)', () => {
    const h = new TcpHarness();
    h.listen();
    h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, options: { mss: 1460, windowScale: 7, timestamps: ts(500) } });
    h.recv({ flags: SYN | ACK, options: { mss: 1460, windowScale: 0, timestamps: ts(h.tsval(), 500) } });
    // The SYN-ACK is lost; the peer's SYN comes again (before our own 1 s retransmission
    // of the SYN-ACK), with a newer TSval.
    h.advance(900);
    h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, options: { mss: 1460, windowScale: 7, timestamps: ts(1400) } });
    h.recv({ flags: SYN | ACK, options: { mss: 1460, windowScale: 0, timestamps: ts(h.tsval(), 1400) } });
  });

  it('a listener or an active open can switch each option for its own connections', () => {
    const h = new TcpHarness();
    h.listen(80, undefined, { timestamps: false, sack: false });
    h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, options: { mss: 1460, sackPermitted: true, windowScale: 7, timestamps: ts(500) } });
    h.recv({ flags: SYN | ACK, options: { mss: 1460, windowScale: 0 } });
    h.stack.connect(REMOTE, 40001, { localPort: 81, windowScale: false, timestamps: true, sack: false });
    h.recv({ flags: SYN, options: { mss: 1460, timestamps: ts(h.tsval(), 0) } });
    const off = new TcpHarness({ config: { timestamps: false } });
    off.stack.connect(REMOTE, 40001, { localPort: 81, timestamps: true });
    off.recv({ flags: SYN, options: { mss: 1460, sackPermitted: true, windowScale: 0, timestamps: ts(off.tsval(), 0) } });
  });

  it('our SYN offers nothing of RFC 7323 when both are off', () => {
    const h = new TcpHarness({ config: { windowScale: false, timestamps: false, sack: false } });
    h.stack.connect(REMOTE, REMOTE_PORT, { localPort: 80 });
    h.recv({ flags: SYN, options: { mss: 1460 } });
  });
});

describe('window scaling (RFC 7323 §2)', () => {
  it('chooses the smallest shift that fits the receive buffer in 16 bits (at most 14)', () => {
    assert.equal(windowShiftFor(16 * KIB), 0);
    assert.equal(windowShiftFor(0xffff), 0);
    assert.equal(windowShiftFor(0x10000), 1);
    assert.equal(windowShiftFor(256 * KIB), 3);
    assert.equal(windowShiftFor(2 ** 40), 14);
  });

  it('offers the shift of the listener’s own buffer, sends SYN windows unscaled and later ones shifted', () => {
    const h = new TcpHarness();
    h.listen(80, undefined, { rcvBuf: 256 * KIB, sndBuf: 256 * KIB });
    h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, options: { mss: 1460, windowScale: 5 } });
    h.recv({ flags: SYN | ACK, window: 0xffff, options: { mss: 1460, windowScale: 3 } });
  });

  it('scales the peer’s windows (not its SYN’s) and ours', () => {
    const h = new TcpHarness();
    h.listen(80, undefined, { rcvBuf: 256 * KIB, sndBuf: 256 * KIB });
    h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, window: 1000, options: { mss: 1460, windowScale: 5 } });
    const synAck = h.drain()[0]!;
    assert.equal(synAck.options.windowScale, 3);
    assert.equal(h.connection, undefined);
    h.send({ window: 100 });
    const connection = h.connection!;
    assert.equal(connection.info().sendWindow, 100 << 5, 'SND.WND = SEG.WND << Snd.Wind.Shift');
    h.send({ seq: R1, flags: ACK | PSH, window: 100, payload: pattern(1001) });
    h.advanceDelayedAck();
    // 256 KiB − 1001 free, rounded down to a multiple of 8, sent as that >> 3.
    h.recv({ ack: R1 + 1001, window: Math.floor((256 * KIB - 1001) / 8) });
  });

  it('never offers an edge past the buffer while it fills unread: the field retracts by less than 2^shift instead (§2.4 rounding, appendix F)', () => {
    const h = new TcpHarness();
    const capacity = 70_001; // shift 1: the field cannot say an odd window
    h.listen(80, undefined, { rcvBuf: capacity });
    h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, options: { mss: 1460, windowScale: 0 } });
    const synAck = h.drain()[0]!;
    assert.equal(synAck.options.windowScale, 1);
    h.send();
    // The sender fills to the largest edge it has seen (more than a sender that follows a
    // retracted field would send), in odd-sized segments, so RCV.NXT is odd at most ACKs.
    let largestEdge = R1 + synAck.window;
    let sent = 0;
    let retractions = 0;
    const segment = 999;
    for (let progress = true; progress; ) {
      const room = largestEdge - (R1 + sent);
      if (room <= 0) break;
      const length = Math.min(segment, room);
      h.send({ seq: R1 + sent, flags: ACK | PSH, payload: pattern(length, sent) });
      h.advanceDelayedAck();
      const before = sent;
      for (const ack of h.drain()) {
        const advertised = ack.ack + ack.window * 2;
        assert.ok(advertised - (R1 + capacity) <= 0, `edge ${advertised - R1} offered past the ${capacity}-byte buffer`);
        if (advertised < largestEdge) {
          assert.ok(largestEdge - advertised < 2, `edge moved left by ${largestEdge - advertised}, a whole unit of 2^shift or more`);
          retractions++;
        }
        largestEdge = Math.max(largestEdge, advertised);
        sent = ack.ack - R1;
      }
      progress = sent > before;
    }
    const connection = h.connection!;
    assert.equal(sent, capacity, 'the buffer filled, every byte of it');
    assert.ok(retractions >= 1, 'rounding up would have passed the buffer at least once');
    assert.equal(h.counters.get('tcp.rx.trimmed'), 0, 'nothing the peer was offered was refused');
    const data = connection.read(capacity)!;
    assert.deepEqual(Buffer.from(data), Buffer.concat(chunks(sent, segment)));
  });
});

/** The pattern the edge test sent, as its segments. */
function chunks(total: number, size: number): Buffer[] {
  const all: Buffer[] = [];
  let at = 0;
  while (at < total) {
    const length = Math.min(size, total - at);
    all.push(Buffer.from(pattern(length, at)));
    at += length;
  }
  return all;
}

/** An established passive connection with timestamps (peer TSval `peerTs`) and no SACK. */
function timestamped(peerTs = 1000, handshakeRtt = 0): TcpHarness {
  const h = new TcpHarness({ config: { sack: false } });
  h.listen();
  h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, options: { mss: 1460, timestamps: ts(peerTs) } });
  const synAck = h.recv({ flags: SYN | ACK, options: { mss: 1460, timestamps: ts(h.tsval(), peerTs) } });
  h.advance(handshakeRtt);
  h.send({ options: { timestamps: ts(peerTs, synAck.options.timestamps!.value) } });
  h.recvNothing();
  return h;
}

const data = (h: TcpHarness, offset: number, length: number, tsval: number, extra: Partial<Segment> = {}): void =>
  h.send({ seq: R1 + offset, flags: ACK | PSH, payload: pattern(length, offset), options: { timestamps: ts(tsval, 0) }, ...extra });

describe('TS.Recent and TSecr (RFC 7323 §4.3)', () => {
  it('a delayed ACK of two segments echoes the earlier one; a lone segment its own', () => {
    const h = timestamped();
    h.advance(5);
    data(h, 0, 100, 1001);
    data(h, 100, 100, 1002);
    h.recv({ ack: R1 + 200, options: { timestamps: ts(h.tsval(), 1001) } });
    data(h, 200, 100, 1003);
    h.recvNothing();
    h.advanceDelayedAck();
    h.recv({ ack: R1 + 300, options: { timestamps: ts(h.tsval(), 1003) } });
  });

  it('ACKs of out-of-order data echo the last in-order segment; the one that fills the hole is echoed next', () => {
    const h = timestamped();
    data(h, 0, 100, 1001);
    h.advanceDelayedAck();
    h.recv({ ack: R1 + 100, options: { timestamps: ts(h.tsval(), 1001) } });
    data(h, 200, 100, 1003); // 100..200 lost
    h.recv({ ack: R1 + 100, options: { timestamps: ts(h.tsval(), 1001) } });
    data(h, 300, 100, 1004);
    h.recv({ ack: R1 + 100, options: { timestamps: ts(h.tsval(), 1001) } });
    data(h, 100, 100, 1005); // the retransmission fills the hole
    h.recv({ ack: R1 + 400, options: { timestamps: ts(h.tsval(), 1005) } });
  });

  it('TIME-WAIT ACKs carry timestamps: TSval from our clock, TSecr the FIN’s TSval', () => {
    const h = timestamped();
    const connection = h.connection!;
    connection.shutdown();
    h.recv({ flags: FIN | ACK, options: { timestamps: ts(h.tsval(), 1000) } });
    h.send({ ack: L1 + 1, flags: FIN | ACK, options: { timestamps: ts(1010, h.tsval()) } });
    h.recv({ seq: L1 + 1, ack: R1 + 1, flags: ACK, options: { timestamps: ts(h.tsval(), 1010) } });
    assert.equal(connection.state, 'TIME-WAIT');
    h.advance(300);
    h.send({ ack: L1 + 1, flags: FIN | ACK, options: { timestamps: ts(1020, 0) } });
    h.recv({ seq: L1 + 1, ack: R1 + 1, flags: ACK, options: { timestamps: ts(h.tsval(), 1020) } });
    // An old duplicate FIN (TSval before TS.Recent): PAWS, still ACKed, TS.Recent kept.
    h.advance(600);
    h.send({ ack: L1 + 1, flags: FIN | ACK, options: { timestamps: ts(1015, 0) } });
    h.recv({ seq: L1 + 1, ack: R1 + 1, flags: ACK, options: { timestamps: ts(h.tsval(), 1020) } });
    assert.equal(h.counters.get('tcp.drop.paws'), 1);
  });
});

describe('PAWS (RFC 7323 §5)', () => {
  it('drops an old duplicate inside the window and ACKs it; RSTs are exempt', () => {
    const h = timestamped();
    data(h, 0, 100, 1001);
    h.advanceDelayedAck();
    h.recv({ ack: R1 + 100 });
    // An old duplicate from an earlier wrap: in the window, TSval before TS.Recent.
    data(h, 100, 100, 990);
    h.recv({ ack: R1 + 100, options: { timestamps: ts(h.tsval(), 1001) } });
    assert.equal(h.connection!.readableLength, 100, 'its data was not taken');
    assert.equal(h.counters.get('tcp.drop.paws'), 1);
    data(h, 100, 100, 1002);
    h.advanceDelayedAck();
    h.recv({ ack: R1 + 200 });
    h.send({ seq: R1 + 200, flags: RST, options: { timestamps: ts(5, 0) } });
    assert.equal(h.connection!.state, 'CLOSED', 'a RST is acceptable regardless of its timestamp (§5.2)');
  });

  it('allows one tick of slack (Linux TCP_PAWS_WINDOW) and a reordered pure ACK up to one RTO', () => {
    const h = timestamped();
    data(h, 0, 100, 1010);
    h.advanceDelayedAck();
    h.recv({ ack: R1 + 100, options: { timestamps: ts(h.tsval(), 1010) } });
    data(h, 100, 100, 1009); // one tick older: still taken
    data(h, 200, 100, 1008); // two: an old duplicate
    assert.equal(h.connection!.readableLength, 200);
    assert.equal(h.counters.get('tcp.drop.paws'), 1);
    h.drain();
    // A duplicate ACK 150 ms older than TS.Recent (RTO 1 s, no sample yet): reordered, not old.
    h.send({ seq: R1 + 200, options: { timestamps: ts(1010 - 150, 0) } });
    assert.equal(h.counters.get('tcp.drop.paws'), 1);
    h.recvNothing();
  });

  it('ignores TS.Recent after 24 days without an update (§5.5)', () => {
    const h = timestamped();
    h.advance(PAWS_IDLE_LIMIT_MS + 1);
    data(h, 0, 100, 10);
    h.advanceDelayedAck();
    h.recv({ ack: R1 + 100, options: { timestamps: ts(h.tsval(), 10) } });
    assert.equal(h.counters.get('tcp.drop.paws'), 0);
  });

  it('compares TSvals modulo 2^32 (wrap)', () => {
    const start = 0xffff_fff0;
    const h = timestamped(start);
    data(h, 0, 100, 5); // wrapped past zero: newer
    h.advanceDelayedAck();
    h.recv({ ack: R1 + 100, options: { timestamps: ts(h.tsval(), 5) } });
    data(h, 100, 100, 0xffff_fff8); // before the wrap: older than 5
    h.recv({ ack: R1 + 100, options: { timestamps: ts(h.tsval(), 5) } });
    assert.equal(h.counters.get('tcp.drop.paws'), 1);
  });

  it('our own TSval wraps past 2^32 and RTT samples across the wrap stay right', () => {
    const h = new TcpHarness({ config: { sack: false }, tsOffset: 0xffff_ffff - 50 });
    h.listen();
    h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, options: { mss: 1460, timestamps: ts(1000) } });
    const synAck = h.recv({ flags: SYN | ACK });
    assert.equal(synAck.options.timestamps!.value, 0xffff_ffff - 50);
    h.advance(100); // our clock wrapped: TSval is now 49
    h.send({ options: { timestamps: ts(1001, synAck.options.timestamps!.value) } });
    assert.equal(h.tsval(), 49);
    assert.equal(h.connection!.info().srtt, 100, 'the RTT across the wrap');
    h.connection!.send(pattern(10));
    h.recv({ options: { timestamps: ts(49, 1001) } });
  });

  it('answers an old SYN with a challenge ACK', () => {
    const h = timestamped();
    h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, options: { mss: 1460, timestamps: ts(900) } });
    h.recv({ seq: L1, ack: R1, flags: ACK });
    assert.equal(h.counters.get('tcp.drop.paws'), 1);
  });
});

describe('RTTM (RFC 7323 §4, appendix G)', () => {
  it('takes a sample from the echo of every ACK that advances SND.UNA, retransmissions included', () => {
    const h = timestamped(1000, 40);
    const connection = h.connection!;
    const reference = new RttEstimator(h.config);
    reference.sample(40); // the SYN-ACK's echo on the final ACK
    assert.equal(connection.info().srtt, 40);
    connection.send(pattern(1000));
    const sentAt = h.tsval();
    h.recv({ seq: L1, options: { timestamps: ts(sentAt, 1000) } });
    h.advance(30);
    h.send({ ack: L1 + 1000, options: { timestamps: ts(1100, sentAt) } });
    reference.sample(30);
    assert.equal(connection.info().srtt, reference.srtt);
    assert.equal(connection.info().rttvar, reference.rttvar);
    // Lost, retransmitted on the RTO; the echo of the retransmission is a clean sample.
    connection.send(pattern(500));
    h.recv({ seq: L1 + 1000 });
    h.advance(connection.info().rto);
    const resent = h.recv({ seq: L1 + 1000 });
    h.advance(10);
    h.send({ ack: L1 + 1500, options: { timestamps: ts(1200, resent.options.timestamps!.value) } });
    reference.sample(10);
    assert.equal(connection.info().srtt, reference.srtt);
    // The sample also releases the RTO's back-off (RFC 6298 §5 note after 5.7; Linux
    // resets icsk_backoff on a valid RTT): the next RTO is not doubled again.
    assert.equal(connection.info().rto, reference.rto);
  });

  it('weighs each sample by the expected samples per RTT (appendix G)', () => {
    const rtt = new RttEstimator({ initialRto: 1000, minRto: 1, maxRto: 60_000 });
    rtt.sample(100);
    rtt.sample(20, 4); // four samples expected this RTT: a quarter of the usual gains
    assert.equal(rtt.srtt, 100 - (80 * 0.125) / 4);
    assert.equal(rtt.rttvar, 50 * (1 - 0.25 / 4) + (80 * 0.25) / 4);
    // A LAN: many equal samples in one window leave RTTVAR mostly intact.
    const lan = new RttEstimator({ initialRto: 1000, minRto: 200, maxRto: 60_000 });
    lan.sample(1);
    for (let i = 0; i < 8; i++) lan.sample(1, 8);
    assert.ok(lan.rttvar! > 0.5 * 0.36, `RTTVAR ${lan.rttvar}`);
    assert.equal(lan.rto, 200, 'the RTO floor (Linux TCP_RTO_MIN) holds');
  });

  it('in a full window: one sample per ACK, all weighted (FlightSize / 2·SMSS)', () => {
    const h = timestamped(1000, 20);
    const connection = h.connection!;
    connection.send(pattern(4 * 1448));
    const sent = h.drain();
    assert.equal(sent.length, 4);
    assert.equal(sent[0]!.payload.length, 1448, 'MSS less the 12 bytes of NOP, NOP, TSopt');
    h.advance(20);
    const reference = new RttEstimator(h.config);
    reference.sample(20); // the handshake
    h.send({ ack: L1 + 2 * 1448, options: { timestamps: ts(1001, sent[0]!.options.timestamps!.value) } });
    // FlightSize 4·1448 before this ACK: two samples expected per RTT, half the gains.
    reference.sample(20, 2);
    assert.equal(connection.info().srtt, reference.srtt);
    assert.equal(connection.info().rttvar, reference.rttvar);
    h.advance(10);
    h.send({ ack: L1 + 4 * 1448, options: { timestamps: ts(1002, sent[2]!.options.timestamps!.value) } });
    // FlightSize 2·1448 before this ACK: one expected sample, the plain RFC 6298 gains.
    reference.sample(30, 1);
    assert.equal(connection.info().srtt, reference.srtt);
    assert.equal(connection.info().rttvar, reference.rttvar);
  });
});

describe('full segments under timestamps', () => {
  it('the congestion window counts MSS less the option: an RTO resends one full segment, no runt after it', () => {
    const h = timestamped();
    const connection = h.connection!;
    connection.send(pattern(5 * 1448));
    assert.deepEqual(h.drain().map((segment) => segment.payload.length), [1448, 1448, 1448, 1448, 1448]);
    assert.equal(connection.info().cwnd % 1448, 0, 'cwnd is a whole number of full segments');
    h.advance(connection.info().rto);
    h.recv({ seq: L1, payload: pattern(1448) });
    h.recvNothing();
  });
});

describe('SYN cookies keep the options (Linux cookie_init_timestamp)', () => {
  it('encodes the peer’s window scale and SACK-permitted in the TSval low bits, never ahead of the clock', () => {
    for (const clock of [0x1000_0000, 0x1000_003f, 5, 0xffff_ffff]) {
      for (const options of [
        { windowScale: 7, sackPermitted: true },
        { windowScale: undefined, sackPermitted: false },
        { windowScale: 0, sackPermitted: false },
        { windowScale: 14, sackPermitted: true },
      ]) {
        const value = encodeCookieOptions(clock, options);
        assert.deepEqual(decodeCookieOptions(value), options);
        const behind = (clock - value) >>> 0;
        assert.ok(behind < 128, `TSval ${value} for clock ${clock}`);
      }
    }
  });

  it('a cookie connection negotiated with timestamps has scaling, SACK and timestamps', () => {
    const h = new TcpHarness({ config: { synBacklog: 1 } });
    h.listen(80, undefined, { rcvBuf: 256 * KIB });
    h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, options: { mss: 1460 } }); // fills the backlog
    h.drain();
    h.advance(100);
    h.drain();
    const syn = { mss: 1460, sackPermitted: true, windowScale: 6, timestamps: ts(777) };
    h.send({ sourcePort: 40000, seq: 90_000, ack: 0, flags: SYN, options: syn });
    const cookie = h.recv({ flags: SYN | ACK, destinationPort: 40000, window: 0xffff });
    assert.equal(h.counters.get('tcp.tx.syn-cookies'), 1);
    assert.deepEqual({ ...cookie.options, timestamps: undefined }, { mss: 1460, sackPermitted: true, windowScale: 3, timestamps: undefined });
    const cookieTs = cookie.options.timestamps!;
    assert.equal(cookieTs.echo, 777);
    assert.equal(cookieTs.value & 0x3f, 6 | 0x10);
    h.advance(3);
    h.drain();
    h.send({ sourcePort: 40000, seq: 90_001, ack: cookie.seq + 1, window: 10, options: { timestamps: ts(778, cookieTs.value) } });
    assert.equal(h.counters.get('tcp.rx.syn-cookie-valid'), 1);
    const connection = h.accepted.find((c) => c.remotePort === 40000)!;
    assert.equal(connection.state, 'ESTABLISHED');
    assert.equal(connection.tcb.timestamps, true);
    assert.equal(connection.tcb.sackPermitted, true);
    assert.equal(connection.tcb.sndShift, 6);
    assert.equal(connection.tcb.rcvShift, 3);
    assert.equal(connection.info().sendWindow, 10 << 6);
    assert.deepEqual(connection.info().negotiated, { sack: true, timestamps: true, windowScale: { receive: 3, send: 6 } });
    connection.send(pattern(10));
    const segment = h.recv({ destinationPort: 40000, options: { timestamps: ts(h.tsval(), 778) } });
    assert.equal(segment.window, Math.floor((256 * KIB) / 8));
  });

  it('a cookie ACK whose TSecr is no TSval we sent gets no options from it', () => {
    const h = new TcpHarness({ config: { synBacklog: 1 } });
    h.listen();
    h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, options: { mss: 1460 } });
    h.drain();
    h.send({ sourcePort: 40000, seq: 90_000, ack: 0, flags: SYN, options: { mss: 1460, sackPermitted: true, windowScale: 6, timestamps: ts(777) } });
    const cookie = h.recv({ flags: SYN | ACK, destinationPort: 40000 });
    const future = (cookie.options.timestamps!.value + 5000) >>> 0; // ahead of our clock
    h.send({ sourcePort: 40000, seq: 90_001, ack: cookie.seq + 1, window: 10, options: { timestamps: ts(778, (future & ~0x3f) | 6 | 0x10) } });
    const connection = h.accepted.find((c) => c.remotePort === 40000)!;
    assert.equal(connection.state, 'ESTABLISHED', 'the cookie itself was valid');
    assert.equal(connection.tcb.sndShift, 0);
    assert.equal(connection.tcb.sackPermitted, false);
    assert.equal(connection.tcb.timestamps, false);
  });

  it('without timestamps a cookie connection runs without scaling and SACK', () => {
    const h = new TcpHarness({ config: { synBacklog: 1 } });
    h.listen();
    h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, options: { mss: 1460 } });
    h.drain();
    h.send({ sourcePort: 40000, seq: 90_000, ack: 0, flags: SYN, options: { mss: 1460, sackPermitted: true, windowScale: 6 } });
    const cookie = h.recv({ flags: SYN | ACK, destinationPort: 40000, options: { mss: 1460 } });
    h.send({ sourcePort: 40000, seq: 90_001, ack: cookie.seq + 1, window: 10 });
    const connection = h.accepted.find((c) => c.remotePort === 40000)!;
    assert.equal(connection.tcb.sndShift, 0);
    assert.equal(connection.tcb.sackPermitted, false);
    assert.equal(connection.info().sendWindow, 10);
  });
});

describe('option room (RFC 2018 §3, RFC 9293 §3.7.1)', () => {
  it('beside timestamps an ACK carries at most three SACK blocks, and data shrinks by both', () => {
    const h = new TcpHarness();
    h.listen();
    h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, options: { mss: 1460, sackPermitted: true, timestamps: ts(1000) } });
    h.drain();
    h.send({ options: { timestamps: ts(1000, h.tsval()) } });
    for (const offset of [100, 300, 500, 700]) {
      data(h, offset, 50, 1000);
    }
    const acks = h.drain();
    const last = acks[acks.length - 1]!;
    assert.deepEqual(last.options.sackBlocks, [
      [R1 + 700, R1 + 750],
      [R1 + 500, R1 + 550],
      [R1 + 300, R1 + 350],
    ]);
    h.connection!.send(pattern(3000));
    const first = h.recv({ seq: L1 });
    assert.equal(first.options.sackBlocks?.length, 3);
    assert.equal(first.payload.length, 1460 - 12 - (4 + 3 * 8), 'MSS less TSopt (12) and three blocks (28)');
  });
});

describe('per-listener buffers', () => {
  it('an active open asks for its own buffers and offers the matching shift', () => {
    const h = new TcpHarness();
    const connection = h.stack.connect(REMOTE, REMOTE_PORT, { localPort: 80, rcvBuf: 256 * KIB, sndBuf: 32 * KIB });
    h.recv({ flags: SYN, window: 0xffff, options: { mss: 1460, sackPermitted: true, timestamps: ts(h.tsval(), 0), windowScale: 3 } });
    assert.equal(connection.sendBuffer.capacity, 32 * KIB);
  });

  it('a listener’s buffers are its connections’ (clamped to tcp.maxBuf), others keep tcp.rcvBuf', () => {
    const h = new TcpHarness({ config: { maxBuf: 128 * KIB } });
    h.listen(80, undefined, { rcvBuf: 1024 * KIB, sndBuf: 64 * KIB });
    h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, options: { mss: 1460, windowScale: 0 } });
    const synAck = h.recv({ flags: SYN | ACK, window: 0xffff });
    assert.equal(synAck.options.windowScale, 2, '128 KiB needs shift 2');
    h.send();
    const connection = h.connection!;
    assert.equal(connection.receiveBuffer.capacity, 128 * KIB);
    assert.equal(connection.sendBuffer.capacity, 64 * KIB);
    const other = new TcpHarness();
    other.listen();
    other.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, options: { mss: 1460 } });
    other.send();
    assert.equal(other.connection!.receiveBuffer.capacity, 16 * KIB);
  });
});
