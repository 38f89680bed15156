/**
 * CUBIC (RFC 9438, src/tcp/cubic.ts) against the RFC's formulas, on explicit instants
 * (the virtual clock the connection passes in): β reduction, K, the cubic window at given
 * elapsed times, fast convergence, the Reno-friendly region, the timeout, undo, and no
 * growth while the application limits the sender (both algorithms). Expected values are
 * computed here from the RFC's equations with the RFC's constants, never by calling the
 * implementation. Then the choice of algorithm end to end: per connection, per listener,
 * and a lossy transfer between two stacks that completes byte-exact under each.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NewReno, type CongestionControl } from '../../src/tcp/congestion.ts';
import { Cubic } from '../../src/tcp/cubic.ts';
import { parseIpv4 } from '../../src/net/address.ts';
import { createStackPair, DEVICE_IP, PEER_IP } from '../support/stack-pair.ts';
import { runSweepPoint, SWEEP_PATH } from '../../bench/lib/loss-sweep.ts';

const MSS = 1000;
/** RFC 9438 §4.6, §5: β_cubic and C. */
const BETA = 0.7;
const C = 0.4;
/** RFC 9438 §4.3: α_cubic = 3(1 − β)/(1 + β). */
const ALPHA = (3 * (1 - BETA)) / (1 + BETA);
const SRTT = 100;

/** W_cubic(t) of RFC 9438 Figure 1, in segments. */
function wCubic(seconds: number, k: number, wMax: number): number {
  return C * (seconds - k) ** 3 + wMax;
}

/**
 * A sender's view: SND.UNA and the flight, so that each call is one ACK. `full` ACKs
 * leave cwnd in flight (the sender is cwnd-limited); `limited` ones leave `flight`.
 */
class Sender<T extends CongestionControl> {
  una = 1;

  constructor(readonly cc: T) {
    cc.start(MSS, this.una, false);
  }

  get cwnd(): number {
    return this.cc.congestionWindow;
  }

  /** An ACK of `acked` bytes at `now` after which cwnd is in flight again. */
  full(acked: number, now: number, srtt = SRTT): void {
    this.una += acked;
    this.cc.onAck(this.una, acked, this.cwnd, now, srtt);
  }

  /** An ACK of `acked` bytes at `now` that leaves `flight` bytes in flight. */
  limited(acked: number, flight: number, now: number, srtt = SRTT): void {
    this.una += acked;
    this.cc.onAck(this.una, acked, flight, now, srtt);
  }

  /** Slow start, one ACK per segment, up to `segments`·MSS. */
  slowStartTo(segments: number, now: number): void {
    while (this.cwnd < segments * MSS) this.full(MSS, now);
    assert.equal(this.cwnd, segments * MSS);
  }

  /** SACK recovery for a loss with `flight` bytes out (RFC 6675 §5), and its full ACK at `exitAt`. */
  lossAndRecovery(flight: number, exitAt: number): void {
    assert.ok(this.cc.enterRecovery(this.una, flight, this.una + flight));
    assert.ok(this.cc.inRecovery);
    this.una += flight;
    this.cc.onAck(this.una, flight, this.cwnd, exitAt, SRTT);
    assert.equal(this.cc.inRecovery, false);
  }
}

/** A CUBIC sender that reached `segments` in slow start and then lost one segment (SACK recovery ends at `exitAt`). */
function cubicAfterLoss(segments: number, exitAt = 0): Sender<Cubic> {
  const sender = new Sender(new Cubic());
  sender.slowStartTo(segments, 0);
  sender.lossAndRecovery(segments * MSS, exitAt);
  return sender;
}

/** Asserts cwnd is `segments` (floating) in bytes to within the byte the implementation rounds away. */
function assertWindow(actual: number, segments: number, message: string): void {
  assert.ok(Math.abs(actual - segments * MSS) < 1, `${message}: cwnd ${actual}, expected ${segments * MSS}`);
}

describe('CUBIC multiplicative decrease (RFC 9438 §4.6)', () => {
  it('SACK recovery: ssthresh = cwnd = 0.7·FlightSize (NewReno: half), W_max = cwnd before', () => {
    const cubic = new Sender(new Cubic());
    cubic.slowStartTo(100, 0);
    assert.ok(cubic.cc.enterRecovery(cubic.una, 100 * MSS, cubic.una + 100 * MSS));
    assert.equal(cubic.cc.slowStartThreshold, Math.floor(100 * MSS * BETA));
    assert.equal(cubic.cwnd, 70_000);
    assert.equal(cubic.cc.maxWindow, 100);
    const reno = new Sender(new NewReno());
    reno.slowStartTo(100, 0);
    assert.ok(reno.cc.enterRecovery(reno.una, 100 * MSS, reno.una + 100 * MSS));
    assert.equal(reno.cwnd, 50_000);
  });

  it('fast retransmit without SACK: ssthresh = 0.7·FlightSize, cwnd = ssthresh + 3·SMSS (RFC 5681 §3.2)', () => {
    const sender = new Sender(new Cubic());
    sender.slowStartTo(20, 0);
    const flight = 20 * MSS;
    assert.equal(sender.cc.onDuplicateAck(sender.una, flight, sender.una + flight), 'none');
    assert.equal(sender.cc.onDuplicateAck(sender.una, flight, sender.una + flight), 'none');
    assert.equal(sender.cc.onDuplicateAck(sender.una, flight, sender.una + flight), 'retransmit');
    assert.equal(sender.cc.slowStartThreshold, Math.floor(flight * BETA));
    assert.equal(sender.cwnd, Math.floor(flight * BETA) + 3 * MSS);
  });

  it('never below 2·SMSS', () => {
    const sender = new Sender(new Cubic());
    assert.ok(sender.cc.enterRecovery(sender.una, 2 * MSS, sender.una + 2 * MSS));
    assert.equal(sender.cc.slowStartThreshold, 2 * MSS);
    assert.equal(sender.cwnd, 2 * MSS);
  });
});

describe('CUBIC window growth (RFC 9438 §4.2-§4.5)', () => {
  it('K after a reduction, then cwnd = W_cubic(t + RTT) at given elapsed times, within [cwnd, 1.5·cwnd]', () => {
    const t0 = 1_000;
    const sender = cubicAfterLoss(100, t0);
    // K = ∛((W_max − cwnd_epoch)/C) with W_max = 100, cwnd_epoch = 70: C·K³ = 30.
    const k = Math.cbrt((100 - 70) / C);
    sender.full(sender.cwnd, t0); // the first ACK of congestion avoidance: t_epoch
    assert.equal(sender.cc.epochStartedAt, t0);
    assert.ok(Math.abs(C * sender.cc.timeToMaxWindow ** 3 - 30) < 1e-9, `K = ${sender.cc.timeToMaxWindow}`);
    assert.equal(sender.cc.timeToMaxWindow, k);
    // At t = 0, W_cubic(0) = cwnd_epoch = 70 < W_est = 70 + α: the Reno-friendly region (§4.3).
    assertWindow(sender.cwnd, 70 + ALPHA, 't = 0');
    // Each ACK below acknowledges a whole cwnd: cwnd moves by (target − cwnd)/cwnd per
    // segment, so all the way to target.
    sender.full(sender.cwnd, t0 + 1000);
    assertWindow(sender.cwnd, wCubic(1 + SRTT / 1000, k, 100), 't = 1 s, concave');
    sender.full(sender.cwnd, t0 + 3000);
    assertWindow(sender.cwnd, wCubic(3.1, k, 100), 't = 3 s, concave, near W_max');
    const beforeConvex = sender.cwnd;
    sender.full(sender.cwnd, t0 + 6000);
    assert.ok(wCubic(6.1, k, 100) > 100);
    assertWindow(sender.cwnd, wCubic(6.1, k, 100), 't = 6 s, convex, beyond W_max');
    assert.ok(sender.cwnd > beforeConvex);
    // Far ahead W_cubic is enormous; target is capped at 1.5·cwnd.
    const capped = sender.cwnd;
    sender.full(sender.cwnd, t0 + 20_000);
    assert.ok(wCubic(20.1, k, 100) > 1.5 * (capped / MSS));
    assertWindow(sender.cwnd, (1.5 * capped) / MSS, 't = 20 s, capped at 1.5·cwnd');
  });

  it('partial windows: each ACK adds acked·(target − cwnd)/cwnd bytes', () => {
    const t0 = 0;
    const sender = cubicAfterLoss(100, t0);
    const k = Math.cbrt(30 / C);
    sender.full(sender.cwnd, t0);
    const start = sender.cwnd;
    sender.full(10 * MSS, t0 + 2000);
    const target = wCubic(2.1, k, 100);
    const expected = start + (10 * MSS * (target - start / MSS)) / (start / MSS);
    assert.ok(Math.abs(sender.cwnd - expected) < 1, `cwnd ${sender.cwnd}, expected ${expected}`);
  });

  it('fast convergence (§4.7): a loss below W_max lowers W_max to cwnd·(1 + β)/2', () => {
    const sender = cubicAfterLoss(100, 0);
    assert.equal(sender.cc.maxWindow, 100, 'first loss: W_max = cwnd');
    // A second loss at once, at cwnd = 70 < W_max = 100.
    sender.lossAndRecovery(70 * MSS, 10);
    assert.equal(sender.cc.maxWindow, (70 * (1 + BETA)) / 2);
    assert.equal(sender.cwnd, Math.floor(70 * MSS * BETA));
    sender.full(sender.cwnd, 20);
    // K from W_max = 59.5 and cwnd_epoch = 49.
    assert.ok(Math.abs(C * sender.cc.timeToMaxWindow ** 3 - (59.5 - 49)) < 1e-9);
  });

  it('Reno-friendly region on a small-RTT path (§4.3): cwnd follows W_est, α_cubic then 1 past cwnd_prior', () => {
    const rtt = 1;
    const sender = cubicAfterLoss(20, 0);
    // W_max = 20, cwnd_epoch = 14: K = ∛(15) ≈ 2.47 s, so in a few ms W_cubic barely
    // moves while one window is acknowledged per millisecond.
    const k = Math.cbrt((20 - 14) / C);
    let wEst = 14;
    for (let i = 0; i < 20; i++) {
      const now = i * rtt;
      // Figure 4 with segments_acked = cwnd: W_est grows by α (1 once W_est ≥ cwnd_prior = 20).
      wEst += wEst >= 20 ? 1 : ALPHA;
      sender.full(sender.cwnd, now, rtt);
      assert.ok(wCubic(now / 1000, k, 20) < wEst, 'in the Reno-friendly region');
      assert.equal(sender.cwnd, Math.floor(wEst * MSS), `ACK ${i + 1}`);
    }
    // 14 + 12·α ≥ 20: the last eight ACKs each added one segment, as Reno.
    assert.equal(sender.cwnd, Math.floor((14 + 12 * ALPHA + 8) * MSS));
  });

  it('after a retransmission timeout (§4.8): cwnd = 1 segment, slow start to 0.7·FlightSize, then K = 0 and W_max = cwnd_epoch', () => {
    const sender = new Sender(new Cubic());
    sender.slowStartTo(100, 0);
    sender.cc.onRetransmitTimeout(100 * MSS, sender.una + 100 * MSS);
    assert.equal(sender.cwnd, MSS);
    assert.equal(sender.cc.slowStartThreshold, 70 * MSS);
    sender.slowStartTo(70, 100);
    const t0 = 500;
    sender.full(sender.cwnd, t0);
    assert.equal(sender.cc.timeToMaxWindow, 0, 'K = 0, although the last W_max (100) was above cwnd_epoch');
    assert.equal(sender.cc.maxWindow, 70);
    assertWindow(sender.cwnd, 70 + ALPHA, 'W_est from cwnd_epoch');
    sender.full(sender.cwnd, t0 + 3000);
    assert.ok(wCubic(3, 0, 70) > 70 + 2 * ALPHA);
    assertWindow(sender.cwnd, wCubic(3.1, 0, 70), 't = 3 s: W_cubic(t + RTT) with K = 0');
  });

  it('undo (§4.9): a spurious reduction restores cwnd, ssthresh, W_max, K and t_epoch', () => {
    const t0 = 0;
    const sender = cubicAfterLoss(100, t0);
    const k = Math.cbrt(30 / C);
    sender.full(sender.cwnd, t0);
    sender.full(sender.cwnd, t0 + 1000);
    const before = { cwnd: sender.cwnd, ssthresh: sender.cc.slowStartThreshold, wMax: sender.cc.maxWindow, k: sender.cc.timeToMaxWindow, epoch: sender.cc.epochStartedAt };
    assert.deepEqual(before.wMax, 100);
    // A loss that D-SACKs later prove spurious.
    const flight = sender.cwnd;
    assert.ok(sender.cc.enterRecovery(sender.una, flight, sender.una + flight));
    assert.notEqual(sender.cc.maxWindow, 100, 'fast convergence lowered W_max');
    assert.equal(sender.cwnd, Math.floor(flight * BETA));
    sender.cc.undoReduction();
    assert.deepEqual(
      { cwnd: sender.cwnd, ssthresh: sender.cc.slowStartThreshold, wMax: sender.cc.maxWindow, k: sender.cc.timeToMaxWindow, epoch: sender.cc.epochStartedAt },
      before,
    );
    // The full ACK ends recovery without cutting cwnd to ssthresh, and growth goes on on the old curve.
    sender.una += flight;
    sender.cc.onAck(sender.una, flight, sender.cwnd, t0 + 1500, SRTT);
    assert.equal(sender.cc.inRecovery, false);
    assert.equal(sender.cwnd, before.cwnd);
    sender.full(sender.cwnd, t0 + 2000);
    assertWindow(sender.cwnd, wCubic(2.1, k, 100), 'W_cubic of the restored epoch');
  });

  it('undo after the first loss does not leave the initial ssthresh as cwnd', () => {
    const sender = new Sender(new Cubic());
    sender.slowStartTo(30, 0);
    assert.ok(sender.cc.enterRecovery(sender.una, 30 * MSS, sender.una + 30 * MSS));
    sender.cc.undoReduction();
    sender.una += 30 * MSS;
    sender.cc.onAck(sender.una, 30 * MSS, sender.cwnd, 10, SRTT);
    assert.equal(sender.cwnd, 30 * MSS);
  });
});

describe('slow start by byte counting (RFC 3465 §2.2, Linux tcp_slow_start)', () => {
  it('a stretch ACK grows cwnd by every byte it covers; past ssthresh the rest counts in congestion avoidance', () => {
    const sender = new Sender(new NewReno());
    const initial = sender.cwnd;
    // One ACK for a receive batch of 16 segments (piwire's receiver, or a GRO one).
    sender.full(16 * MSS, 0);
    assert.equal(sender.cwnd, initial + 16 * MSS);
    // ssthresh = 20 segments, cwnd one segment (RFC 5681 §3.1 after a timeout).
    sender.cc.onRetransmitTimeout(40 * MSS, sender.una + 40 * MSS);
    assert.equal(sender.cc.slowStartThreshold, 20 * MSS);
    assert.equal(sender.cwnd, MSS);
    // 30 segments in one ACK: 19 take cwnd to ssthresh, 11 go to congestion avoidance
    // (one SMSS per cwnd of bytes: not yet), and 10 more complete a cwnd's worth.
    sender.full(30 * MSS, 1);
    assert.equal(sender.cwnd, 20 * MSS);
    sender.full(10 * MSS, 2);
    assert.equal(sender.cwnd, 21 * MSS);
  });
});

describe('no growth while the application limits the sender (RFC 9438 §5.8, Linux tcp_is_cwnd_limited)', () => {
  for (const create of [() => new NewReno(), () => new Cubic()]) {
    it(`${create().algorithm}: slow start grows only while cwnd < 2·flight`, () => {
      const sender = new Sender(create());
      // Four segments out of an initial window of ten: cwnd stays.
      for (let i = 0; i < 10; i++) sender.limited(MSS, 3 * MSS, i);
      assert.equal(sender.cwnd, 10 * MSS);
      // Six out: 10 < 12, the window was used: it grows.
      sender.limited(MSS, 6 * MSS, 20);
      sender.limited(MSS, 6 * MSS, 21);
      assert.equal(sender.cwnd, 12 * MSS);
    });
  }

  it('reno: congestion avoidance does not count bytes the flight never used', () => {
    const sender = new Sender(new NewReno());
    sender.slowStartTo(20, 0);
    sender.lossAndRecovery(20 * MSS, 1);
    assert.equal(sender.cwnd, 10 * MSS);
    // Two windows acknowledged with five segments in flight: no growth (Reno adds one per window used).
    sender.limited(5 * MSS, 4 * MSS, 2);
    for (let i = 0; i < 8; i++) sender.limited(4 * MSS, 4 * MSS, 3 + i);
    assert.equal(sender.cwnd, 10 * MSS);
    sender.full(10 * MSS, 20);
    assert.equal(sender.cwnd, 11 * MSS);
  });

  it('cubic: an application-limited period neither grows cwnd nor counts in t', () => {
    const t0 = 0;
    const sender = cubicAfterLoss(100, t0);
    const k = Math.cbrt(30 / C);
    sender.full(sender.cwnd, t0);
    // One cwnd-limited second; then the application writes only 10 segments per round.
    sender.limited(sender.cwnd, 10 * MSS, t0 + 1000);
    const grown = sender.cwnd;
    assertWindow(grown, wCubic(1.1, k, 100), 't = 1 s');
    for (const at of [2000, 3000, 4000]) sender.limited(10 * MSS, 10 * MSS, t0 + at);
    assert.equal(sender.cwnd, grown, 'three application-limited seconds: no growth');
    // It writes enough again: the three seconds are not in t (t = 2 s, not 5 s).
    sender.limited(10 * MSS, grown, t0 + 5000);
    const target = wCubic(2.1, k, 100);
    const expected = grown + (10 * MSS * (target - grown / MSS)) / (grown / MSS);
    assert.ok(Math.abs(sender.cwnd - expected) < 1, `cwnd ${sender.cwnd}, expected ${expected}`);
  });

  it('cubic: an idle sender (nothing in flight) does not count the idle time in t', () => {
    const t0 = 0;
    const sender = cubicAfterLoss(100, t0);
    sender.limited(sender.cwnd, 0, t0); // epoch begins; everything acknowledged
    const cwnd = sender.cwnd;
    // Ten seconds later the application sends a window: W_cubic(10.1) would be far above 1.5·cwnd.
    sender.limited(cwnd, 0, t0 + 10_000);
    assertWindow(sender.cwnd, 70 + 2 * ALPHA, 't = 0 again: still the Reno-friendly start');
  });
});

describe('choosing the algorithm (tcp.congestion, per listener and per connect)', () => {
  it('cubic by default; connect() and listen() may ask for reno', () => {
    const pair = createStackPair();
    const accepted: string[] = [];
    pair.peer.tcp.listen(80, {}, (connection) => accepted.push(connection.congestion.algorithm));
    pair.peer.tcp.listen(81, { congestion: 'reno' }, (connection) => accepted.push(connection.congestion.algorithm));
    const peer = parseIpv4(PEER_IP)!;
    const byDefault = pair.device.tcp.connect(peer, 80);
    const reno = pair.device.tcp.connect(peer, 81, { congestion: 'reno' });
    pair.world.runUntilSync(pair.world.now + 100);
    assert.equal(byDefault.state, 'ESTABLISHED');
    assert.equal(reno.state, 'ESTABLISHED');
    assert.equal(byDefault.congestion.algorithm, 'cubic');
    assert.equal(reno.congestion.algorithm, 'reno');
    assert.equal(reno.info().congestion, 'reno', 'the shell\'s conns --json shows it');
    assert.deepEqual(accepted.sort(), ['cubic', 'reno']);
    const configured = createStackPair({ deviceTcp: { congestion: 'reno' } });
    configured.peer.tcp.listen(80, {}, () => undefined);
    assert.equal(configured.device.tcp.connect(peer, 80).congestion.algorithm, 'reno');
  });

  it('the node:net-shaped API passes the choice on: createServer({ congestion }) and connect({ congestion })', () => {
    const { world, device, peer } = createStackPair();
    device.net.createServer({ congestion: 'reno' }, () => undefined).listen(7000);
    peer.net.createServer(() => undefined).listen(7001);
    device.net.connect({ host: PEER_IP, port: 7001, congestion: 'reno' });
    peer.net.connect({ host: DEVICE_IP, port: 7000 });
    world.runUntilSync(world.now + 100);
    const algorithms = (stack: typeof device.tcp): string[] => [...stack.connections()].map((c) => `${c.localPort}:${c.congestion.algorithm}`).sort();
    // The device's listener and its own connect() ask for reno; the peer uses the default.
    assert.deepEqual(algorithms(device.tcp).filter((entry) => entry.startsWith('7000:')), ['7000:reno']);
    assert.equal(algorithms(device.tcp).filter((entry) => entry.endsWith(':reno')).length, 2);
    assert.ok(algorithms(peer.tcp).every((entry) => entry.endsWith(':cubic')));
    assert.equal(algorithms(peer.tcp).length, 2);
  });

  it('a lossy, reordering memory wire: 512 KiB arrive byte-exact under each, and the two differ', () => {
    const runs = (['cubic', 'reno'] as const).map((congestion) =>
      runSweepPoint({ ...SWEEP_PATH, loss: 0.03, reorder: 0.02, bytes: 512 * 1024, seed: 5, limitMs: 600_000, tcp: { congestion } }, congestion),
    );
    for (const point of runs) {
      assert.equal(point.firstMismatch, -1, `${point.sender}: received data equals sent data`);
      assert.equal(point.received, 512 * 1024);
      assert.ok(point.completed, `${point.sender}: all data delivered, FINs exchanged`);
      assert.ok(point.framesLost > 0 && point.retransmits > 0, `${point.sender}: the wire lost frames and the sender repaired them`);
    }
    assert.notEqual(runs[0]!.virtualMs, runs[1]!.virtualMs, 'the setting reached the sender');
  });
});
