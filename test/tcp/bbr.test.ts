/**
 * BBR v1 (src/tcp/bbr.ts, delivery-rate.ts, pacing.ts, windowed-filter.ts) on the
 * virtual clock. First the model alone, fed rate samples whose values are chosen here,
 * with expected values computed from the draft's formulas (draft-cardwell-iccrg-bbr-
 * congestion-control-00, Linux tcp_bbr.c), never by calling the implementation: the
 * windowed max filter, STARTUP → DRAIN → PROBE_BW, the gain cycle, PROBE_RTT, cwnd =
 * gain·BDP + quanta, packet conservation in recovery; the pacer's release times. Then
 * two stacks on the memory wire: the state machine on a 20 Mbit/s line, PROBE_RTT after
 * 10 s, the spacing of bursts on the wire, goodput under 3% loss against CUBIC on the
 * same seed, and the choice per connection.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WindowedMaxFilter } from '../../src/tcp/windowed-filter.ts';
import { Bbr, BbrMode, pacingQuantum } from '../../src/tcp/bbr.ts';
import { DeliveryRate, type RateSample } from '../../src/tcp/delivery-rate.ts';
import { RecordStoragePool, Scoreboard } from '../../src/tcp/scoreboard.ts';
import { Pacer, PACING_TIMER_SLACK_MS } from '../../src/tcp/pacing.ts';
import { parseIpv4 } from '../../src/net/address.ts';
import { noopHandler, type TcpConnection } from '../../src/tcp/connection.ts';
import { createStackPair, PEER_IP, type StackPair } from '../support/stack-pair.ts';
import type { TcpConfig } from '../../src/tcp/config.ts';
import { runSweepPoint } from '../../bench/lib/loss-sweep.ts';
import { parseEthernet } from '../../src/wire/ethernet.ts';
import { IpProtocol, parseIpv4 as parseIpv4Packet } from '../../src/wire/ipv4.ts';
import { parseTcp } from '../../src/wire/tcp.ts';

/** The TCP payload length of a frame (0 for anything else). */
function tcpPayloadLength(frame: Uint8Array): number {
  const ethernet = parseEthernet(frame);
  if (!ethernet.ok) return 0;
  const ip = parseIpv4Packet(ethernet.value.payload);
  if (!ip.ok || ip.value.protocol !== IpProtocol.TCP) return 0;
  const tcp = parseTcp(ip.value.payload, ip.value.source, ip.value.destination);
  return tcp.ok ? tcp.value.payload.length : 0;
}

const MSS = 1000;
/** Draft §4.3.2.1: 2/ln 2. */
const HIGH_GAIN = 2 / Math.log(2);

function sample(fields: Partial<RateSample>): RateSample {
  return { delivered: -1, interval: -1, ackedSacked: 0, losses: 0, priorDelivered: 0, appLimited: false, rtt: -1, priorInFlight: 0, ...fields };
}

/**
 * Drives a Bbr with one ACK per round: each ACK delivers `bytes` over `interval` ms with
 * an RTT sample of `rtt`, the round starting at the previous ACK's delivered total.
 */
class Model {
  readonly bbr: Bbr;
  delivered = 0;
  now = 0;

  constructor(seed = 1) {
    this.bbr = new Bbr(seed);
    this.bbr.start(MSS, 1, false);
    this.bbr.init(undefined, 0);
  }

  /** One round: `bytes` delivered at `bytes / interval` bytes per ms; returns BBR's app-limited flag. */
  round(bytes: number, interval: number, rtt: number, inFlight: number, extra: Partial<RateSample> = {}): boolean {
    const prior = this.delivered;
    this.delivered += bytes;
    this.now += interval;
    return this.bbr.onRateSample(sample({ delivered: bytes, interval, ackedSacked: bytes, priorDelivered: prior, rtt, priorInFlight: inFlight, ...extra }), inFlight, this.delivered, this.now);
  }
}

describe('windowed max filter (Nichols, as Linux lib/minmax.c)', () => {
  it('keeps the maximum of the last `window` time units and forgets older ones', () => {
    const filter = new WindowedMaxFilter(10);
    assert.equal(filter.update(0, 5), 5);
    assert.equal(filter.update(1, 3), 5);
    assert.equal(filter.update(5, 4), 5);
    assert.equal(filter.update(10, 2), 5, 'the best is 10 units old: still inside');
    // At 11 the best (time 0) has aged out: the best of the later part of the window (4, at 5) remains.
    assert.equal(filter.update(11, 1), 4);
    assert.equal(filter.update(12, 9), 9, 'a new maximum replaces everything');
    assert.equal(filter.update(40, 1), 1, 'after a whole window without samples, the new sample alone');
  });
});

describe('the BBR model and state machine (fed rate samples)', () => {
  it('STARTUP at 2/ln 2 until BtlBw stops growing by 25% for 3 rounds, then DRAIN, then PROBE_BW once in flight ≤ BDP', () => {
    const model = new Model();
    const bbr = model.bbr;
    assert.equal(bbr.mode, BbrMode.STARTUP);
    assert.equal(bbr.pacingGain, HIGH_GAIN);
    // Initial pacing rate: 2.885 · IW / 1 ms (no RTT sample yet), less the 1% margin.
    assert.ok(Math.abs(bbr.pacingRate - (HIGH_GAIN * 10 * MSS * 0.99) / 1) < 1e-9);
    // Growing rounds: 10, 20, 40 bytes/ms... then a plateau at 100 bytes/ms (RTT 20 ms).
    for (const rate of [10, 20, 40, 80, 100]) model.round(rate * 20, 20, 20, 10 * MSS);
    assert.equal(bbr.mode, BbrMode.STARTUP, 'still growing by more than 25%');
    model.round(100 * 20, 20, 20, 10 * MSS);
    model.round(100 * 20, 20, 20, 10 * MSS);
    assert.equal(bbr.mode, BbrMode.STARTUP, 'two rounds without growth');
    assert.equal(bbr.fullBandwidthReached, false);
    // Third round without 25% growth: the pipe is full, DRAIN (in flight 80 segments > BDP).
    model.round(100 * 20, 20, 20, 80 * MSS);
    assert.equal(bbr.fullBandwidthReached, true);
    assert.equal(bbr.mode, BbrMode.DRAIN);
    assert.equal(bbr.pacingGain, 1 / HIGH_GAIN);
    assert.ok(Math.abs(bbr.pacingRate - (100 * 0.99) / HIGH_GAIN) < 1e-9, 'DRAIN paces at BtlBw/2.885 less the 1% margin');
    // BDP = 100 bytes/ms · 20 ms = 2000 bytes; + 3 quanta of 2 segments; even segment count.
    const quantum = pacingQuantum(bbr.pacingRate, MSS);
    assert.equal(quantum, 2 * MSS);
    const target = Math.ceil((2000 + 3 * quantum) / MSS / 2) * 2 * MSS;
    assert.equal(bbr.slowStartThreshold, target, 'ssthresh = 1·BDP + quanta when STARTUP ends (Linux)');
    model.round(100 * 20, 20, 20, target + 1);
    assert.equal(bbr.mode, BbrMode.DRAIN, 'in flight still above the target');
    model.round(100 * 20, 20, 20, target);
    assert.equal(bbr.mode, BbrMode.PROBE_BW);
    assert.notEqual(bbr.cyclePhase, 1, 'never entered at the 3/4 phase');
    assert.equal(bbr.cwndGain, 2);
  });

  it('application-limited samples lower neither BtlBw nor end STARTUP', () => {
    const model = new Model();
    model.round(100 * 20, 20, 20, 10 * MSS);
    for (let i = 0; i < 5; i++) model.round(10 * 20, 20, 20, 2 * MSS, { appLimited: true });
    assert.equal(model.bbr.bottleneckBandwidth, 100);
    assert.equal(model.bbr.mode, BbrMode.STARTUP);
  });

  /** A model that has just entered PROBE_BW at phase 7, at 100 bytes/ms and RTprop 20 ms. */
  function inProbeBw(): Model {
    for (let seed = 1; ; seed++) {
      const model = new Model(seed);
      // Three rounds at 100 after growth: DRAIN, and at once PROBE_BW (2 segments in flight ≤ BDP).
      for (const rate of [10, 20, 40, 80, 100, 100, 100, 100]) model.round(rate * 20, 20, 20, 2 * MSS);
      assert.equal(model.bbr.mode, BbrMode.PROBE_BW);
      if (model.bbr.cyclePhase === 7) return model;
    }
  }

  it('PROBE_BW cycles 5/4, 3/4, 1 ×6, one RTprop per phase; 5/4 lasts until in flight reaches 5/4·BDP, 3/4 ends at BDP', () => {
    const model = inProbeBw();
    const bbr = model.bbr;
    const quanta = 3 * 2 * MSS;
    const even = (bytes: number): number => Math.ceil(bytes / MSS / 2) * 2 * MSS;
    // Phase 7 (gain 1) ends after more than one RTprop (20 ms).
    model.round(1000, 20, 20, 4 * MSS);
    assert.equal(bbr.cyclePhase, 7, 'exactly RTprop: not longer than it');
    model.round(100, 1, 20, 4 * MSS);
    assert.equal(bbr.cyclePhase, 0);
    assert.equal(bbr.pacingGain, 5 / 4);
    // Phase 0: 21 ms passed but in flight below 5/4·BDP + quanta (+2 segments in phase 0).
    const probeTarget = even(1.25 * 2000 + quanta) + 2 * MSS;
    model.round(2100, 21, 20, probeTarget - 1);
    assert.equal(bbr.cyclePhase, 0, 'the 5/4 phase waits for the flight to reach 5/4·BDP');
    model.round(100, 1, 20, probeTarget);
    assert.equal(bbr.cyclePhase, 1);
    assert.equal(bbr.pacingGain, 3 / 4);
    // Phase 1 ends early, before an RTprop, once in flight ≤ 1·BDP + quanta.
    model.round(100, 1, 20, even(2000 + quanta));
    assert.equal(bbr.cyclePhase, 2);
    for (let phase = 2; phase < 8; phase++) {
      assert.equal(bbr.pacingGain, 1);
      model.round(2100, 21, 20, 4 * MSS);
      assert.equal(bbr.cyclePhase, (phase + 1) % 8);
    }
    // A loss ends the 5/4 phase early (once it has lasted an RTprop).
    model.round(2100, 21, 20, 4 * MSS, { losses: MSS });
    assert.equal(bbr.cyclePhase, 1);
  });

  it('cwnd grows towards 2·BDP + 3 quanta (even segments) in PROBE_BW, never below 4 segments', () => {
    const model = inProbeBw();
    const bbr = model.bbr;
    // Phase 7: target = 2 · 2000 + 6000 = 10 segments.
    for (let i = 0; i < 40; i++) model.round(100, 1, 20, 2 * MSS);
    assert.equal(bbr.mode, BbrMode.PROBE_BW);
    const expected = bbr.cyclePhase === 0 ? 12 * MSS : 10 * MSS;
    assert.equal(bbr.congestionWindow, expected);
  });

  it('PROBE_RTT after 10 s without a lower RTT: cwnd 4 segments for 200 ms and a round, then PROBE_BW with cwnd restored', () => {
    const model = inProbeBw();
    const bbr = model.bbr;
    // A new minimum (19 ms) now; then samples at 25 ms every 50 ms until 10 s after it.
    model.round(100, 1, 19, 8 * MSS);
    const renewedAt = model.now;
    while (model.now + 50 <= renewedAt + 10_000) {
      model.round(5000, 50, 25, 8 * MSS);
      assert.equal(bbr.mode, BbrMode.PROBE_BW, `at ${model.now}: RTprop is not yet 10 s old`);
    }
    const before = bbr.congestionWindow;
    const applicationLimited = model.round(5000, 50, 25, 8 * MSS);
    assert.equal(bbr.mode, BbrMode.PROBE_RTT, 'RTprop expired');
    assert.equal(applicationLimited, true, 'PROBE_RTT marks the sender application-limited');
    assert.equal(bbr.minRtt, 25, 'the expired filter took the current sample');
    assert.equal(bbr.congestionWindow, 4 * MSS);
    assert.equal(bbr.pacingGain, 1);
    // In flight drains to 4 segments: the 200 ms start at that ACK.
    model.round(400, 10, 25, 4 * MSS);
    const drainedAt = model.now;
    while (model.now + 50 <= drainedAt + 200) {
      model.round(400, 50, 25, 4 * MSS);
      assert.equal(bbr.mode, BbrMode.PROBE_RTT, `${model.now - drainedAt} ms at 4 segments`);
      assert.equal(bbr.congestionWindow, 4 * MSS);
    }
    model.round(400, 1, 25, 4 * MSS);
    assert.equal(bbr.mode, BbrMode.PROBE_BW, 'past 200 ms with a round done');
    assert.ok(bbr.congestionWindow >= before, 'cwnd from before PROBE_RTT restored');
  });

  it('after an RTO: one segment, growth by what is delivered, the old cwnd back when the loss state ends', () => {
    const model = inProbeBw();
    const bbr = model.bbr;
    for (let i = 0; i < 40; i++) model.round(100, 1, 20, 2 * MSS);
    const before = bbr.congestionWindow;
    bbr.onRetransmitTimeout(8 * MSS, 9000);
    assert.equal(bbr.congestionWindow, MSS, 'the loss window');
    assert.equal(bbr.inRecovery, false, 'loss, not fast recovery: no conservation');
    model.round(MSS, 1, 20, MSS, { priorDelivered: model.delivered - 8 * MSS });
    // 1 + 1 segments, raised to the 4-segment floor (Linux applies it in the loss state too).
    assert.equal(bbr.congestionWindow, 4 * MSS);
    model.round(3 * MSS, 1, 20, 2 * MSS, { priorDelivered: model.delivered - 8 * MSS });
    assert.equal(bbr.congestionWindow, 7 * MSS, 'grows by what each ACK delivers');
    bbr.onAck(9000, MSS, 0, model.now, 20);
    model.round(MSS, 1, 20, MSS, { priorDelivered: model.delivered - 8 * MSS });
    assert.ok(bbr.congestionWindow >= before, `the window from before the RTO is back (${bbr.congestionWindow} ≥ ${before})`);
  });

  it('recovery: packet conservation for the first round (cwnd = in flight + delivered), the old cwnd when it ends', () => {
    const model = inProbeBw();
    const bbr = model.bbr;
    for (let i = 0; i < 40; i++) model.round(100, 1, 20, 2 * MSS);
    const before = bbr.congestionWindow;
    assert.equal(bbr.enterRecovery(5000, 8 * MSS, 9000), true);
    assert.equal(bbr.inRecovery, true);
    // The first ACK in recovery: 3 segments in flight, 1 delivered, 1 lost (its segment
    // was sent a round ago); then one for a segment sent before recovery began (no new round).
    model.round(MSS, 1, 20, 3 * MSS, { losses: MSS });
    assert.equal(bbr.congestionWindow, 4 * MSS, 'in flight + delivered');
    model.round(MSS, 1, 20, 5 * MSS, { priorDelivered: model.delivered - 4 * MSS });
    assert.equal(bbr.congestionWindow, 6 * MSS, 'never below in flight + delivered while conserving');
    bbr.onAck(9000, MSS, 0, model.now, 20);
    assert.equal(bbr.inRecovery, false);
    model.round(MSS, 1, 20, 2 * MSS);
    assert.ok(bbr.congestionWindow >= before, 'the window from before the loss is back');
  });
});

describe('delivery rate estimation on the scoreboard (draft-cheng-iccrg-delivery-rate-estimation §3)', () => {
  it('samples delivered/interval of the most recently sent segment delivered, with send and ACK intervals, losses, RTT and app-limited', () => {
    const rate = new DeliveryRate();
    const scoreboard = new Scoreboard(16, undefined, rate);
    // Three segments at 0, 1 and 2 ms; the flight was empty at 0: both intervals start there.
    scoreboard.sent(0, 1000, 0);
    scoreboard.sent(1000, 2000, 1);
    scoreboard.sent(2000, 3000, 2);
    rate.beginAck(3000);
    scoreboard.acknowledge(2000, 10);
    let sample = rate.generate(10, undefined);
    // P = the segment sent at 1: delivered 2000 since its snapshot (0), send interval 1 − 0,
    // ACK interval 10 − 0: the interval is the longer, 10 ms.
    assert.deepEqual({ ...sample }, { delivered: 2000, interval: 10, ackedSacked: 2000, losses: 0, priorDelivered: 0, appLimited: false, rtt: 9, priorInFlight: 3000 });
    assert.equal(rate.delivered, 2000);
    assert.equal(rate.deliveredAt, 10);
    // A segment at 11 takes the snapshot (delivered 2000 at 10, first sent 1); a SACK of it at 12.
    scoreboard.sent(3000, 4000, 11);
    rate.beginAck(2000);
    scoreboard.applySack([[3000, 4000]], 2000, 4000, 65_535, 12);
    scoreboard.markLost(2000);
    sample = rate.generate(12, 5);
    // delivered 3000 − 2000; send interval 11 − 1 = 10 > ACK interval 12 − 10 = 2.
    assert.deepEqual({ ...sample }, { delivered: 1000, interval: 10, ackedSacked: 1000, losses: 1000, priorDelivered: 2000, appLimited: false, rtt: 1, priorInFlight: 2000 });
    // Application-limited from here: the bubble ends once delivered passes 3000 + 1000 in flight.
    rate.markApplicationLimited(1000);
    assert.equal(rate.appLimited, 4000);
    scoreboard.sent(4000, 5000, 13);
    rate.beginAck(2000);
    scoreboard.acknowledge(5000, 20);
    sample = rate.generate(20, 5);
    assert.equal(sample.appLimited, true, 'the segment sent while application-limited makes the sample so');
    assert.equal(sample.delivered, 2000, 'the lost segment (cumulatively acknowledged) and the last one');
    assert.equal(sample.interval, 20 - 12, 'ACK interval 20 − 12 against send interval 13 − 11');
    assert.equal(rate.appLimited, 0, 'delivered (5000) passed the bubble: no longer application-limited');
    // An interval shorter than the minimum RTT is no sample (ACK compression).
    scoreboard.sent(5000, 6000, 30);
    rate.beginAck(1000);
    scoreboard.acknowledge(6000, 31);
    assert.equal(rate.generate(31, 5).interval, -1);
    // Nothing delivered: no sample.
    rate.beginAck(0);
    assert.equal(rate.generate(32, 5).delivered, -1);
  });
});

describe('record storage with rate snapshots', () => {
  it('the pool keeps the rate layout apart from the plain one', () => {
    const pool = new RecordStoragePool(1 << 20);
    const plain = pool.take(16);
    const withRate = pool.take(16, true);
    assert.equal(plain.txDelivered.length, 0);
    assert.equal(withRate.txDelivered.length, 16);
    assert.equal(withRate.bytes, 16 * 41);
    pool.give(plain);
    pool.give(withRate);
    assert.equal(pool.take(16, true), withRate);
    assert.equal(pool.take(16), plain);
  });
});

describe('pacer (pacing.ts)', () => {
  it('a burst of one quantum, then the next once the bytes have taken their time at pacing rate', () => {
    const pacer = new Pacer();
    pacer.rate = 1000; // bytes per ms
    pacer.quantum = 3000;
    assert.equal(pacer.allows(0), true);
    pacer.sent(1500, 0);
    assert.equal(pacer.allows(0), true);
    pacer.sent(1500, 0);
    assert.equal(pacer.allows(0), false, 'the quantum is spent');
    assert.equal(pacer.takeBlocked(), true);
    assert.equal(pacer.releaseAt, 3, '3000 bytes at 1000 bytes/ms');
    assert.equal(pacer.allows(2.999), false);
    // The timer fires 0.5 ms late: within half a quantum's time, credited.
    assert.equal(pacer.allows(3.5), true);
    pacer.sent(3000, 3.5);
    assert.equal(pacer.releaseAt, 6);
    // Idle for long: the next burst's time counts from when it leaves.
    assert.equal(pacer.allows(100), true);
    pacer.sent(1000, 100);
    assert.equal(pacer.releaseAt, 101);
  });

  it('released by a whole-millisecond timer (libuv), a fast sender still averages its pacing rate: lateness up to PACING_TIMER_SLACK_MS is credited', () => {
    const pacer = new Pacer();
    pacer.rate = 187.5 * 1024; // 1.5 Gbit/s in bytes per ms: a 64 KiB quantum takes 0.33 ms
    pacer.quantum = 64 * 1024;
    const SEGMENT = 1448;
    let now = 0;
    let sent = 0;
    let largestBurst = 0;
    while (now < 200) {
      let burst = 0;
      while (pacer.allows(now)) {
        pacer.sent(SEGMENT, now);
        burst += SEGMENT;
      }
      sent += burst;
      largestBurst = Math.max(largestBurst, burst);
      assert.equal(pacer.takeBlocked(), true);
      // firmware/loop.ts arms setTimeout(ceil(releaseAt - now)): at least 1 ms, whole
      // milliseconds, and the wakeup itself a quarter of a millisecond late.
      now += Math.max(1, Math.ceil(pacer.releaseAt - now)) + 0.25;
    }
    const rate = sent / now;
    assert.ok(rate > 0.95 * pacer.rate && rate < 1.05 * pacer.rate, `sent ${rate.toFixed(0)} bytes/ms at a pacing rate of ${pacer.rate}`);
    // Catching up is bounded: a quantum plus the slack's worth, and a segment.
    assert.ok(largestBurst <= pacer.quantum + PACING_TIMER_SLACK_MS * pacer.rate + SEGMENT, `largest burst ${largestBurst} bytes`);
    assert.ok(largestBurst > pacer.quantum, 'the missed bursts left back to back');
  });

  it('a sender idle for longer than the slack gets no credit: one quantum, then the pacing rate from now', () => {
    const pacer = new Pacer();
    pacer.rate = 1000;
    pacer.quantum = 3000;
    assert.equal(pacer.allows(0), true);
    pacer.sent(3000, 0);
    assert.equal(pacer.releaseAt, 3);
    const idleUntil = 3 + PACING_TIMER_SLACK_MS + 0.5;
    let burst = 0;
    while (pacer.allows(idleUntil)) {
      pacer.sent(1000, idleUntil);
      burst += 1000;
    }
    assert.equal(burst, 3000, 'one quantum');
    assert.equal(pacer.releaseAt, idleUntil + 3);
  });
});

const BIG_BUFFERS: Partial<TcpConfig> = { sndBuf: 1 << 20, rcvBuf: 1 << 20 };

/** A bulk sender on the device towards the peer, with the given TCP settings and path. */
function bulk(tcp: Partial<TcpConfig>, faults: { delayMs: number; bandwidthBitsPerSecond?: number; lossRate?: number }, seed = 1): { pair: StackPair; sender: TcpConnection; received: () => number } {
  const pair = createStackPair({ seed, deviceTcp: { ...BIG_BUFFERS, ...tcp }, peerTcp: BIG_BUFFERS, faults });
  let received = 0;
  pair.peer.tcp.listen(9, {}, (connection) => {
    connection.handler = {
      ...noopHandler(),
      onReadable: () => {
        for (let chunk = connection.read(65_536); chunk; chunk = connection.read(65_536)) received += chunk.length;
      },
    };
  });
  const sender = pair.device.tcp.connect(parseIpv4(PEER_IP)!, 9);
  const block = new Uint8Array(65_536);
  const pump = (): void => {
    while (sender.send(block) > 0) {
      // Keep the send buffer full.
    }
  };
  sender.handler = { ...noopHandler(), onEstablished: pump, onWritable: pump };
  return { pair, sender, received: () => received };
}

describe('BBR between two stacks on the memory wire (virtual time)', () => {
  it('STARTUP → DRAIN → PROBE_BW on a 20 Mbit/s line, BtlBw within 3% of the payload rate, RTprop the path RTT', () => {
    const { pair, sender } = bulk({ congestion: 'bbr' }, { delayMs: 5, bandwidthBitsPerSecond: 20e6 });
    const modes: string[] = [];
    for (let t = 1; t <= 2000; t++) {
      pair.world.runUntilSync(t);
      const mode = sender.bbr?.mode;
      if (mode !== undefined && modes[modes.length - 1] !== mode) modes.push(mode);
    }
    assert.deepEqual(modes, ['STARTUP', 'DRAIN', 'PROBE_BW']);
    const bbr = sender.bbr!;
    // 1448 payload bytes (MSS 1460 less 12 of timestamps) per 1514-byte frame on a 20 Mbit/s line.
    const payloadRate = ((20e6 / 8 / 1000) * 1448) / 1514;
    assert.ok(bbr.bottleneckBandwidth <= payloadRate * 1.001 && bbr.bottleneckBandwidth >= payloadRate * 0.97, `BtlBw ${bbr.bottleneckBandwidth} bytes/ms, payload rate ${payloadRate}`);
    // RTprop: 2 × 5 ms propagation plus one frame's serialisation each way (~0.6 ms + ACK).
    assert.ok(bbr.minRtt >= 10 && bbr.minRtt < 11.5, `RTprop ${bbr.minRtt} ms`);
    assert.equal(sender.info().congestion, 'bbr');
    assert.deepEqual(sender.info().bbr, { mode: 'PROBE_BW', bandwidth: Math.round(bbr.bottleneckBandwidth * 1000), minRtt: bbr.minRtt, pacingRate: Math.round(bbr.pacingRate * 1000) }, 'conns --json shows the model');
    assert.ok(sender.congestion.congestionWindow <= 2 * bbr.bottleneckBandwidth * bbr.minRtt + 3 * 2 * 1448 + 4 * 1448, 'cwnd ≈ 2·BDP + quanta');
  });

  it('enters PROBE_RTT 10 s after the last new RTprop, holds ≤ 4 segments in flight for ≥ 200 ms, and goes back to PROBE_BW', () => {
    const { pair, sender } = bulk({ congestion: 'bbr' }, { delayMs: 5, bandwidthBitsPerSecond: 20e6 });
    let enteredAt: number | undefined;
    let leftAt: number | undefined;
    let maxFlightInProbeRtt = 0;
    for (let t = 1; t <= 11_000 && leftAt === undefined; t++) {
      pair.world.runUntilSync(t);
      const mode = sender.bbr!.mode;
      if (mode === BbrMode.PROBE_RTT) {
        enteredAt ??= t;
        assert.equal(sender.congestion.congestionWindow, 4 * 1448, 'cwnd 4 segments');
      } else if (enteredAt !== undefined) {
        leftAt = t;
      }
      // In flight after the drain (the first RTT of PROBE_RTT drains the queue).
      if (enteredAt !== undefined && leftAt === undefined && t > enteredAt + 30) maxFlightInProbeRtt = Math.max(maxFlightInProbeRtt, sender.bytesInFlight());
    }
    assert.ok(enteredAt !== undefined && enteredAt >= 10_000 && enteredAt < 10_300, `PROBE_RTT entered at ${enteredAt} ms`);
    assert.ok(leftAt !== undefined && leftAt - enteredAt >= 200, `PROBE_RTT lasted ${leftAt! - enteredAt} ms`);
    assert.ok(maxFlightInProbeRtt <= 4 * 1448, `in flight ≤ 4 segments (${maxFlightInProbeRtt})`);
    assert.equal(sender.bbr!.mode, BbrMode.PROBE_BW);
  });

  it('paces: in PROBE_BW the data leaves in bursts of one quantum spaced at the pacing rate (departure times at the sender)', () => {
    const departures = (congestion: 'bbr' | 'cubic'): { sender: TcpConnection; bursts: { at: number; bytes: number; rate: number; quantum: number }[]; acksAt: Set<number> } => {
      const { pair, sender } = bulk({ congestion }, { delayMs: 5, bandwidthBitsPerSecond: 20e6 });
      const bursts: { at: number; bytes: number; rate: number; quantum: number }[] = [];
      // The instants at which segments (ACKs) reach the device.
      const acksAt = new Set<number>();
      pair.observeTcp((_segment, to) => {
        if (to === 'device') acksAt.add(pair.world.now);
      });
      // Every frame the device hands its link, with the virtual instant it leaves.
      const endpoint = pair.wire.a;
      const transmit = endpoint.transmit.bind(endpoint);
      endpoint.transmit = (frame: Uint8Array): void => {
        const payload = tcpPayloadLength(frame);
        const at = pair.world.now;
        if (payload > 0 && at >= 1000) {
          const last = bursts[bursts.length - 1];
          if (last !== undefined && last.at === at) last.bytes += payload;
          else bursts.push({ at, bytes: payload, rate: sender.pacer?.rate ?? 0, quantum: sender.pacer?.quantum ?? 0 });
        }
        transmit(frame);
      };
      pair.world.runUntilSync(1300);
      return { sender, bursts, acksAt };
    };
    const { sender, bursts, acksAt } = departures('bbr');
    assert.equal(sender.bbr!.mode, BbrMode.PROBE_BW);
    assert.ok(bursts.length > 100, `${bursts.length} bursts`);
    for (let i = 1; i < bursts.length; i++) {
      const previous = bursts[i - 1]!;
      const burst = bursts[i]!;
      assert.ok(burst.bytes <= burst.quantum + 1448, `burst of ${burst.bytes} bytes at ${burst.at} ≤ quantum ${burst.quantum} + a segment`);
      // The gap after a burst is at least its bytes at the pacing rate, less the timer credit of half a quantum.
      const gap = burst.at - previous.at;
      assert.ok(gap >= previous.bytes / previous.rate - previous.quantum / previous.rate / 2 - 1e-9, `gap ${gap} ms after ${previous.bytes} bytes at ${previous.rate} bytes/ms`);
    }
    // Overall, the sending rate is the pacing rate of the cycle (gains 3/4…5/4): within [0.7, 1.3]·BtlBw.
    const last = bursts[bursts.length - 1]!;
    const bytes = bursts.reduce((sum, burst) => sum + burst.bytes, 0) - last.bytes;
    const rate = bytes / (last.at - bursts[0]!.at);
    const btlBw = sender.bbr!.bottleneckBandwidth;
    assert.ok(rate > 0.7 * btlBw && rate < 1.3 * btlBw, `sent at ${rate} bytes/ms, BtlBw ${btlBw}`);
    // The pacing timer, not only the ACK clock, releases data: many bursts leave at an
    // instant when no ACK arrived. CUBIC, unpaced, sends only when an ACK arrives.
    const byTimer = bursts.filter((burst) => !acksAt.has(burst.at)).length;
    assert.ok(byTimer > bursts.length / 4, `${byTimer} of ${bursts.length} bursts left on the pacing timer`);
    const cubic = departures('cubic');
    assert.equal(cubic.sender.pacer, undefined);
    assert.ok(cubic.bursts.length > 100);
    assert.equal(cubic.bursts.filter((burst) => !cubic.acksAt.has(burst.at)).length, 0, 'CUBIC sends only on ACKs');
  });

  it('under 3% random loss each way, goodput is several times CUBIC\'s on the same seed', () => {
    const run = (congestion: 'cubic' | 'bbr'): ReturnType<typeof runSweepPoint> =>
      runSweepPoint({ mtu: 1500, bandwidthBitsPerSecond: 20e6, delayMs: 10, reorderDelayMs: 1, loss: 0.03, reorder: 0, bytes: 2 * 1024 * 1024, seed: 1, limitMs: 600_000, tcp: { congestion, sndBuf: 256 * 1024, rcvBuf: 256 * 1024 } }, congestion);
    const cubic = run('cubic');
    const bbr = run('bbr');
    for (const point of [cubic, bbr]) {
      assert.ok(point.completed && point.firstMismatch === -1, `${point.sender}: byte-exact and complete`);
      assert.ok(point.framesLost > 0 && point.retransmits > 0, `${point.sender}: losses repaired`);
    }
    assert.ok(bbr.goodputMbitPerSecond >= 3 * cubic.goodputMbitPerSecond, `BBR ${bbr.goodputMbitPerSecond} Mbit/s, CUBIC ${cubic.goodputMbitPerSecond} Mbit/s`);
    assert.ok(bbr.goodputMbitPerSecond > 0.75 * 20 * (1448 / 1514), 'BBR keeps the line ≥ 75% busy at 3% loss');
  });

  it('per connection: listen() and connect() choose bbr; the others stay unpaced cubic; a peer without SACK gets CUBIC', () => {
    const pair = createStackPair();
    const accepted: TcpConnection[] = [];
    pair.peer.tcp.listen(80, {}, (connection) => accepted.push(connection));
    pair.peer.tcp.listen(81, { congestion: 'bbr' }, (connection) => accepted.push(connection));
    const peer = parseIpv4(PEER_IP)!;
    const byDefault = pair.device.tcp.connect(peer, 80);
    const bbr = pair.device.tcp.connect(peer, 80, { congestion: 'bbr' });
    pair.device.tcp.connect(peer, 81);
    pair.world.runUntilSync(pair.world.now + 100);
    assert.equal(byDefault.info().congestion, 'cubic');
    assert.equal(byDefault.pacer, undefined, 'no pacer, no rate estimator for CUBIC');
    assert.equal(byDefault.rate, undefined);
    assert.equal(byDefault.info().bbr, undefined);
    assert.equal(bbr.info().congestion, 'bbr');
    assert.ok(bbr.pacer !== undefined && bbr.rate !== undefined);
    assert.deepEqual(accepted.map((connection) => `${connection.localPort}:${connection.info().congestion}`).sort(), ['80:cubic', '80:cubic', '81:bbr']);

    const noSack = createStackPair({ peerTcp: { sack: false } });
    noSack.peer.tcp.listen(80, {}, () => undefined);
    const fallback = noSack.device.tcp.connect(peer, 80, { congestion: 'bbr' });
    assert.equal(fallback.congestion.algorithm, 'bbr', 'chosen at connect()');
    noSack.world.runUntilSync(noSack.world.now + 100);
    assert.equal(fallback.state, 'ESTABLISHED');
    assert.equal(fallback.info().congestion, 'cubic', 'no SACK: CUBIC took over');
    assert.equal(fallback.pacer, undefined);
    assert.equal(noSack.device.counters.get('tcp.bbr.no-sack'), 1);
  });
});
