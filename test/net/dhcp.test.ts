/**
 * The DHCP client (RFC 2131 §4.4) on the virtual clock: every transmission at its exact
 * instant, every state change, every hostile message counted and dropped.
 *
 * Randomness is a constant word (2^31): every "uniform random" delay is the middle of
 * its range, so the RFC 2131 §4.1 jitter is 0 and the RFC 5227 waits are exact halves.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DhcpClient } from '../../src/net/dhcp.ts';
import type { DhcpHost, DhcpLease, DhcpSettings } from '../../src/net/dhcp.ts';
import { Counters } from '../../src/stats.ts';
import { RecordingEventSink } from '../../src/events.ts';
import type { RandomSource } from '../../src/random.ts';
import { BootpOp, dhcpBufferLength, DhcpMessageType, emitDhcp } from '../../src/wire/dhcp.ts';
import type { DhcpOptions, DhcpRepr } from '../../src/wire/dhcp.ts';
import { ArpOperation } from '../../src/wire/arp.ts';
import type { ArpRepr } from '../../src/wire/arp.ts';
import { IPV4_BROADCAST } from '../../src/net/address.ts';
import { ip, mac, OUR_MAC } from './harness.ts';

const SERVER = ip('198.18.0.1');
const OFFERED = ip('198.18.0.50');
const ROUTER = ip('198.18.0.254');
const OTHER_MAC = mac('02:00:00:00:00:99');

class ConstantRandom implements RandomSource {
  constructor(private readonly word = 0x8000_0000) {}
  uint32(): number {
    return this.word;
  }
  bytes(length: number): Uint8Array {
    return new Uint8Array(length);
  }
}

interface Sent {
  at: number;
  message: DhcpRepr;
  destination: number;
}

class World {
  now = 0;
  readonly sent: Sent[] = [];
  readonly probes: { at: number; target: number }[] = [];
  readonly leases: { at: number; lease: DhcpLease | undefined }[] = [];
  readonly counters = new Counters();
  readonly events = new RecordingEventSink();
  readonly client: DhcpClient;

  constructor(settings: Partial<DhcpSettings> = {}, random: RandomSource = new ConstantRandom()) {
    const host: DhcpHost = {
      mac: OUR_MAC,
      send: (message, destination) => this.sent.push({ at: this.now, message: structuredClone(message), destination }),
      sendArpProbe: (target) => this.probes.push({ at: this.now, target }),
      setLease: (lease, now) => this.leases.push({ at: now, lease }),
    };
    this.client = new DhcpClient(host, { random, counters: this.counters, events: this.events }, settings);
  }

  /** Polls at every deadline up to `instant`, then sets the clock there. */
  runUntil(instant: number): void {
    for (let guard = 0; guard < 10_000; guard++) {
      const due = this.client.pollAt();
      if (due === undefined || due > instant) break;
      this.now = Math.max(due, this.now);
      this.client.poll(this.now);
    }
    this.now = instant;
  }

  /** The messages sent so far, as [instant, type] pairs. */
  timeline(): [number, number | undefined][] {
    return this.sent.map((s) => [s.at, s.message.options.messageType]);
  }

  last(): Sent {
    const last = this.sent.at(-1);
    assert.ok(last, 'nothing was sent');
    return last;
  }

  /** A server reply to the last message sent, with `type` and `options` (overridable fields). */
  reply(type: number, options: DhcpOptions = {}, fields: Partial<DhcpRepr> = {}): void {
    const request = this.last().message;
    const message: DhcpRepr = {
      op: BootpOp.REPLY,
      transactionId: request.transactionId,
      seconds: 0,
      broadcast: request.broadcast,
      clientAddress: request.clientAddress,
      yourAddress: type === DhcpMessageType.NAK ? 0 : (request.options.requestedAddress ?? (request.clientAddress || OFFERED)),
      serverAddress: 0,
      relayAddress: 0,
      clientHardwareAddress: OUR_MAC,
      ...fields,
      options: {
        messageType: type,
        serverIdentifier: SERVER,
        ...(type === DhcpMessageType.NAK ? {} : { leaseTime: 3600, subnetMask: ip('255.255.255.0'), routers: [ROUTER] }),
        ...options,
      },
    };
    const bytes = new Uint8Array(dhcpBufferLength(message));
    emitDhcp(message, bytes);
    this.client.receive(bytes, this.now);
  }

  arp(packet: Partial<ArpRepr>): void {
    this.client.arpSeen(
      {
        operation: ArpOperation.REPLY,
        senderHardwareAddr: OTHER_MAC,
        senderProtocolAddr: OFFERED,
        targetHardwareAddr: OUR_MAC,
        targetProtocolAddr: 0,
        ...packet,
      },
      this.now,
    );
  }

  /** INIT → SELECTING → REQUESTING → PROBING → BOUND with the standard offer; returns the bind instant. */
  acquire(options: DhcpOptions = {}): number {
    this.client.start(this.now);
    this.runUntil(this.now + 500);
    this.runUntil(this.now + 10);
    this.reply(DhcpMessageType.OFFER, options);
    this.runUntil(this.now + 20);
    this.reply(DhcpMessageType.ACK, options);
    // RFC 5227: probes at +500, +1500, +1500, free 2000 later.
    this.runUntil(this.now + 5500);
    assert.equal(this.client.state, 'BOUND');
    return this.now;
  }
}

const { DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK } = DhcpMessageType;

describe('DHCP client: acquisition (RFC 2131 §4.4.1)', () => {
  it('retransmits DISCOVER after 4, 8, 16, 32, 64, 64 s (§4.1), from a 0..1 s start delay', () => {
    const world = new World();
    world.client.start(0);
    assert.equal(world.client.state, 'INIT');
    world.runUntil(200_000);
    assert.deepEqual(world.timeline(), [
      [500, DISCOVER],
      [4_500, DISCOVER],
      [12_500, DISCOVER],
      [28_500, DISCOVER],
      [60_500, DISCOVER],
      [124_500, DISCOVER],
      [188_500, DISCOVER],
    ]);
    const xids = new Set(world.sent.map((s) => s.message.transactionId));
    assert.equal(xids.size, 1, 'one transaction: one xid');
    assert.deepEqual(
      world.sent.map((s) => s.message.seconds),
      [0, 4, 12, 28, 60, 124, 188],
      'secs: time since the exchange began',
    );
    for (const { message, destination } of world.sent) {
      assert.equal(destination, IPV4_BROADCAST);
      assert.equal(message.broadcast, true, 'unconfigured: asks for broadcast replies');
      assert.deepEqual(message.options.clientIdentifier, Uint8Array.of(1, ...OUR_MAC));
    }
  });

  it('randomizes each retransmission by -1..+1 s', () => {
    const early = new World({}, new ConstantRandom(0));
    early.client.start(0);
    early.runUntil(20_000);
    assert.deepEqual(early.timeline(), [
      [0, DISCOVER],
      [3_000, DISCOVER],
      [10_000, DISCOVER],
    ]);
    const late = new World({}, new ConstantRandom(0xffff_ffff));
    late.client.start(0);
    late.runUntil(20_000);
    assert.deepEqual(late.timeline(), [
      [999, DISCOVER],
      [5_998, DISCOVER],
      [14_997, DISCOVER],
    ]);
  });

  it('requests the first offer, probes the address (RFC 5227) and binds it', () => {
    const world = new World();
    world.client.start(0);
    world.runUntil(1000);
    world.reply(OFFER);
    const request = world.last();
    assert.equal(request.at, 1000);
    assert.equal(request.message.options.messageType, REQUEST);
    assert.equal(request.message.transactionId, world.sent[0]!.message.transactionId, 'the same xid as the DISCOVER');
    assert.equal(request.message.options.serverIdentifier, SERVER);
    assert.equal(request.message.options.requestedAddress, OFFERED);
    assert.equal(request.message.clientAddress, 0);
    assert.equal(request.destination, IPV4_BROADCAST);
    world.runUntil(1100);
    world.reply(ACK);
    assert.equal(world.client.state, 'PROBING');
    assert.deepEqual(world.leases, [], 'not used before the probe');
    world.runUntil(20_000);
    assert.deepEqual(world.probes, [
      { at: 1600, target: OFFERED },
      { at: 3100, target: OFFERED },
      { at: 4600, target: OFFERED },
    ]);
    assert.equal(world.client.state, 'BOUND');
    assert.equal(world.leases.length, 1);
    const { at, lease } = world.leases[0]!;
    assert.equal(at, 6600, 'ANNOUNCE_WAIT after the last probe');
    assert.deepEqual(lease, {
      address: OFFERED,
      prefixLength: 24,
      router: ROUTER,
      server: SERVER,
      dnsServers: [],
      leaseSeconds: 3600,
      renewalSeconds: 1800,
      rebindingSeconds: 3150,
      acquiredAt: 1000,
    });
    assert.deepEqual(world.events.named('dhcp_bound'), [
      { ip: '198.18.0.50', prefix: 24, router: '198.18.0.254', server: '198.18.0.1', leaseSeconds: 3600 },
    ]);
    assert.deepEqual(world.client.status(6600), {
      state: 'BOUND',
      address: '198.18.0.50',
      router: '198.18.0.254',
      server: '198.18.0.1',
      leaseSeconds: 3600,
      renewInMs: 1_000 + 1_800_000 - 6600,
      rebindInMs: 1_000 + 3_150_000 - 6600,
      expiresInMs: 1_000 + 3_600_000 - 6600,
    });
  });

  it('retransmits the REQUEST 4 times, then starts over with a DISCOVER', () => {
    const world = new World();
    world.client.start(0);
    world.runUntil(500);
    world.reply(OFFER);
    world.runUntil(200_000);
    assert.deepEqual(world.timeline().slice(0, 7), [
      [500, DISCOVER],
      [500, REQUEST],
      [4_500, REQUEST],
      [12_500, REQUEST],
      [28_500, REQUEST],
      [60_500, DISCOVER],
      [64_500, DISCOVER],
    ]);
    assert.equal(world.counters.get('dhcp.request-timeout'), 1);
  });

  it('declines an address somebody answers for during the probe, and starts over after 10 s (§3.1.5)', () => {
    const world = new World();
    world.client.start(0);
    world.runUntil(500);
    world.reply(OFFER);
    world.reply(ACK);
    world.runUntil(1200); // first probe at 1000
    world.arp({ senderProtocolAddr: OFFERED });
    const decline = world.last();
    assert.equal(decline.message.options.messageType, DECLINE);
    assert.equal(decline.message.options.requestedAddress, OFFERED);
    assert.equal(decline.message.options.serverIdentifier, SERVER);
    assert.equal(decline.destination, IPV4_BROADCAST);
    assert.deepEqual(world.leases, [], 'never used');
    assert.deepEqual(world.events.named('dhcp_declined'), [{ ip: '198.18.0.50', mac: '02:00:00:00:00:99' }]);
    world.runUntil(12_000);
    assert.deepEqual(world.timeline().slice(-1), [[11_200, DISCOVER]]);
  });

  it('treats a simultaneous probe for the same address as a conflict, and ignores its own and unrelated ARP', () => {
    const world = new World();
    world.client.start(0);
    world.runUntil(500);
    world.reply(OFFER);
    world.reply(ACK);
    world.arp({ senderHardwareAddr: OUR_MAC, senderProtocolAddr: 0, targetProtocolAddr: OFFERED });
    world.arp({ senderProtocolAddr: ip('198.18.0.7'), targetProtocolAddr: ip('198.18.0.8') });
    assert.equal(world.client.state, 'PROBING');
    world.arp({ operation: ArpOperation.REQUEST, senderProtocolAddr: 0, targetProtocolAddr: OFFERED });
    assert.equal(world.client.state, 'INIT');
    assert.equal(world.counters.get('dhcp.conflict'), 1);
  });

  it('starts over at once on a NAK to its REQUEST, then backs off on the next', () => {
    const world = new World();
    world.client.start(0);
    world.runUntil(500);
    world.reply(OFFER);
    world.reply(NAK, { message: 'wrong network' });
    assert.equal(world.client.state, 'INIT');
    assert.deepEqual(world.events.named('dhcp_nak'), [{ server: '198.18.0.1', message: 'wrong network', state: 'REQUESTING' }]);
    world.runUntil(500);
    assert.deepEqual(world.timeline().at(-1), [500, DISCOVER]);
    world.reply(OFFER);
    world.reply(NAK);
    world.runUntil(3000);
    assert.deepEqual(world.timeline().at(-1), [2500, DISCOVER], 'second NAK: 2 s');
  });

  it('INIT-REBOOT asks for its old address without a server id; a NAK sends it to INIT', () => {
    const world = new World();
    world.client.start(0, ip('198.18.0.77'));
    assert.equal(world.client.state, 'REBOOTING');
    const request = world.last();
    assert.equal(request.at, 0);
    assert.equal(request.message.options.messageType, REQUEST);
    assert.equal(request.message.options.requestedAddress, ip('198.18.0.77'));
    assert.equal(request.message.options.serverIdentifier, undefined);
    assert.equal(request.message.clientAddress, 0);
    world.reply(NAK, { serverIdentifier: ip('198.18.0.9') });
    assert.equal(world.client.state, 'INIT', 'any server may refuse an INIT-REBOOT');
    world.runUntil(10);
    assert.deepEqual(world.timeline().at(-1), [0, DISCOVER]);
  });

  it('INIT-REBOOT that gets an ACK probes and binds the old address', () => {
    const world = new World();
    world.client.start(0, ip('198.18.0.77'));
    world.reply(ACK);
    world.runUntil(10_000);
    assert.equal(world.client.state, 'BOUND');
    assert.equal(world.leases[0]?.lease?.address, ip('198.18.0.77'));
    assert.equal(world.probes.length, 3);
  });
});

describe('DHCP client: lease life (RFC 2131 §4.4.5)', () => {
  it('renews at T1 by unicast, retransmits at half the time left (≥ 60 s), rebinds at T2 by broadcast, loses the address at expiry', () => {
    const world = new World();
    world.acquire();
    const acquiredAt = world.leases[0]!.lease!.acquiredAt;
    world.runUntil(acquiredAt + 3_700_000);
    const after = world.sent.filter((s) => s.at > acquiredAt + 10_000).slice(0, 12);
    assert.deepEqual(
      after.map((s) => [s.at - acquiredAt, s.destination === IPV4_BROADCAST ? 'broadcast' : 'unicast']),
      [
        [1_800_000, 'unicast'],
        [2_475_000, 'unicast'],
        [2_812_500, 'unicast'],
        [2_981_250, 'unicast'],
        [3_065_625, 'unicast'],
        [3_125_625, 'unicast'],
        [3_150_000, 'broadcast'],
        [3_375_000, 'broadcast'],
        [3_487_500, 'broadcast'],
        [3_547_500, 'broadcast'],
        // Expiry at 3 600 000: the lease is gone, INIT sends a DISCOVER at once.
        [3_600_000, 'broadcast'],
        [3_604_000, 'broadcast'],
      ],
    );
    for (const renewal of after.slice(0, 10)) {
      assert.equal(renewal.message.options.messageType, REQUEST);
      assert.equal(renewal.message.clientAddress, OFFERED, 'ciaddr is ours');
      assert.equal(renewal.message.options.requestedAddress, undefined);
      assert.equal(renewal.message.options.serverIdentifier, undefined);
      assert.equal(renewal.message.broadcast, false);
    }
    assert.equal(after[0]!.destination, SERVER);
    assert.equal(after[10]!.message.options.messageType, DISCOVER);
    assert.deepEqual(world.leases.at(-1), { at: acquiredAt + 3_600_000, lease: undefined });
    assert.deepEqual(world.events.named('dhcp_lost'), [{ ip: '198.18.0.50', reason: 'expired' }]);
    assert.deepEqual(world.events.named('fault'), [], 'the core reports causes; diag/faults.ts maps them');
  });

  it('an ACK while RENEWING extends the lease from the REQUEST instant', () => {
    const world = new World();
    world.acquire();
    const acquiredAt = world.leases[0]!.lease!.acquiredAt;
    world.runUntil(acquiredAt + 1_800_000);
    assert.equal(world.client.state, 'RENEWING');
    world.runUntil(acquiredAt + 1_800_050);
    world.reply(ACK, { leaseTime: 7200 });
    assert.equal(world.client.state, 'BOUND');
    const renewed = world.leases.at(-1)!.lease!;
    assert.equal(renewed.acquiredAt, acquiredAt + 1_800_000);
    assert.equal(renewed.leaseSeconds, 7200);
    assert.equal(world.client.pollAt(), acquiredAt + 1_800_000 + 3_600_000);
    assert.equal(world.events.named('dhcp_renewed').length, 1);
    assert.equal(world.counters.get('dhcp.renewed'), 1);
  });

  it('a NAK while RENEWING drops the address at once', () => {
    const world = new World();
    world.acquire();
    const acquiredAt = world.leases[0]!.lease!.acquiredAt;
    world.runUntil(acquiredAt + 1_800_000);
    world.reply(NAK, { serverIdentifier: ip('198.18.0.66') });
    assert.equal(world.client.state, 'RENEWING', 'a NAK from another server is not ours to obey');
    assert.equal(world.counters.get('dhcp.drop.bad-server-id'), 1);
    world.reply(NAK);
    assert.equal(world.client.state, 'INIT');
    assert.deepEqual(world.leases.at(-1), { at: world.now, lease: undefined });
    assert.deepEqual(world.events.named('dhcp_lost'), [{ ip: '198.18.0.50', reason: 'nak' }]);
    // Back in business: bound again (dhcp_bound clears fault 2 in diag/faults.ts).
    world.runUntil(world.now + 1);
    world.reply(OFFER);
    world.reply(ACK);
    world.runUntil(world.now + 6000);
    assert.equal(world.client.state, 'BOUND');
    assert.equal(world.events.named('dhcp_bound').length, 2);
  });

  it("uses the server's T1/T2 when ordered, the defaults when not, and stretches short leases to 20 s", () => {
    const ordered = new World();
    ordered.acquire({ renewalTime: 100, rebindingTime: 200 });
    assert.equal(ordered.leases[0]!.lease!.renewalSeconds, 100);
    assert.equal(ordered.leases[0]!.lease!.rebindingSeconds, 200);
    const disordered = new World();
    disordered.acquire({ renewalTime: 300, rebindingTime: 200 });
    assert.equal(disordered.leases[0]!.lease!.renewalSeconds, 1800);
    const short = new World();
    short.client.start(0);
    short.runUntil(500);
    short.reply(OFFER);
    short.reply(ACK, { leaseTime: 2 });
    short.runUntil(6000);
    assert.equal(short.leases[0]!.lease!.leaseSeconds, 20);
    const infinite = new World();
    infinite.acquire({ leaseTime: 0xffffffff });
    assert.equal(infinite.client.pollAt(), undefined, 'an infinite lease has no timers');
  });
});

describe('DHCP client: hostile and malformed messages are counted and dropped', () => {
  const cases: [string, (world: World) => void, string][] = [
    ['garbage', (w) => w.client.receive(Uint8Array.of(1, 2, 3), w.now), 'dhcp.drop.truncated'],
    ['a BOOTREQUEST', (w) => w.reply(OFFER, {}, { op: BootpOp.REQUEST }), 'dhcp.drop.not-reply'],
    ['another client', (w) => w.reply(OFFER, {}, { clientHardwareAddress: OTHER_MAC }), 'dhcp.drop.not-for-us'],
    ['a wrong xid', (w) => w.reply(OFFER, {}, { transactionId: 12345 }), 'dhcp.drop.wrong-xid'],
    ['no message type', (w) => w.reply(OFFER, { messageType: undefined }), 'dhcp.drop.no-message-type'],
    ['an ACK while selecting', (w) => w.reply(ACK), 'dhcp.drop.unexpected'],
    ['no server id', (w) => w.reply(OFFER, { serverIdentifier: undefined }), 'dhcp.drop.bad-server-id'],
    ['a broadcast server id', (w) => w.reply(OFFER, { serverIdentifier: IPV4_BROADCAST }), 'dhcp.drop.bad-server-id'],
    ['a loopback address', (w) => w.reply(OFFER, {}, { yourAddress: ip('127.0.0.1') }), 'dhcp.drop.bad-address'],
    ['a multicast address', (w) => w.reply(OFFER, {}, { yourAddress: ip('224.0.0.1') }), 'dhcp.drop.bad-address'],
  ];
  for (const [name, send, counter] of cases) {
    it(`in SELECTING: ${name}`, () => {
      const world = new World();
      world.client.start(0);
      world.runUntil(500);
      send(world);
      assert.equal(world.counters.get(counter), 1);
      assert.equal(world.client.state, 'SELECTING');
    });
  }

  const ackCases: [string, DhcpOptions, Partial<DhcpRepr>, string][] = [
    ['a non-contiguous mask', { subnetMask: ip('255.0.255.0') }, {}, 'dhcp.drop.bad-mask'],
    ['a /31 mask', { subnetMask: ip('255.255.255.254') }, {}, 'dhcp.drop.bad-mask'],
    ['a broadcast router', { routers: [ip('198.18.0.255')] }, {}, 'dhcp.drop.bad-router'],
    ['no lease time', { leaseTime: undefined }, {}, 'dhcp.drop.no-lease-time'],
    ['another address than offered', {}, { yourAddress: ip('198.18.0.51') }, 'dhcp.drop.bad-address'],
    ['another server', { serverIdentifier: ip('198.18.0.66') }, {}, 'dhcp.drop.bad-server-id'],
  ];
  for (const [name, options, fields, counter] of ackCases) {
    it(`in REQUESTING: an ACK with ${name}`, () => {
      const world = new World();
      world.client.start(0);
      world.runUntil(500);
      world.reply(OFFER);
      world.reply(ACK, options, fields);
      assert.equal(world.counters.get(counter), 1);
      assert.equal(world.client.state, 'REQUESTING');
    });
  }

  it('ignores replies in states that expect none (PROBING, BOUND)', () => {
    const world = new World();
    world.client.start(0);
    world.runUntil(500);
    world.reply(OFFER);
    world.reply(ACK);
    world.reply(ACK);
    assert.equal(world.counters.get('dhcp.drop.unexpected'), 1);
    world.runUntil(10_000);
    world.reply(NAK);
    assert.equal(world.client.state, 'BOUND');
    assert.equal(world.counters.get('dhcp.drop.unexpected'), 2);
  });
});

describe('DHCP client: carrier back (RFC 2131 §3.2, a cable that may lead elsewhere)', () => {
  it('verifies a held lease at once with an INIT-REBOOT REQUEST; an ACK extends it without a probe', () => {
    const world = new World();
    world.acquire();
    const probes = world.probes.length;
    world.runUntil(world.now + 60_000);
    world.client.linkUp(world.now);
    assert.equal(world.client.state, 'REBOOTING');
    assert.equal(world.client.lease?.address, OFFERED, 'the address stays in use while it is verified');
    const request = world.last();
    assert.equal(request.at, world.now);
    assert.equal(request.message.options.requestedAddress, OFFERED);
    assert.equal(request.message.options.serverIdentifier, undefined);
    world.reply(ACK);
    assert.equal(world.client.state, 'BOUND');
    assert.equal(world.probes.length, probes, 'no second probe for the address it holds');
    assert.equal(world.leases.at(-1)?.lease?.acquiredAt, request.at);
  });

  it('a NAK to the verification drops the address (another network)', () => {
    const world = new World();
    world.acquire();
    world.client.linkUp(world.now);
    world.reply(NAK, { serverIdentifier: ip('198.18.9.1') });
    assert.equal(world.client.state, 'INIT');
    assert.deepEqual(world.leases.at(-1), { at: world.now, lease: undefined });
    assert.deepEqual(world.events.named('dhcp_lost'), [{ ip: '198.18.0.50', reason: 'nak' }]);
  });

  it('silence keeps the lease: after 4 REQUESTs it is BOUND again with its old timers', () => {
    const world = new World();
    world.acquire();
    const lease = world.leases[0]!.lease!;
    const start = world.now;
    world.client.linkUp(start);
    world.runUntil(start + 70_000);
    assert.deepEqual(
      world.sent.filter((s) => s.at >= start).map((s) => s.at - start),
      [0, 4_000, 12_000, 28_000],
    );
    assert.equal(world.client.state, 'BOUND');
    assert.equal(world.client.pollAt(), lease.acquiredAt + 1_800_000, 'T1 as before');
    assert.equal(world.leases.length, 1, 'the address was never dropped');
  });

  it('a client still looking for a server sends its DISCOVER at once instead of waiting out the back-off', () => {
    const world = new World();
    world.client.start(0);
    world.runUntil(30_000); // DISCOVERs at 500, 4500, 12500, 28500; next at 60500
    world.client.linkUp(30_000);
    world.runUntil(30_000);
    assert.deepEqual(world.timeline().at(-1), [30_000, DISCOVER]);
  });
});
