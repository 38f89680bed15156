/**
 * Fuzzing DHCP: seeded mutations of valid server replies (OFFER, ACK, NAK), fed to the
 * codec and to the client in every state that takes replies. Nothing may throw; every
 * reply ends in exactly one outcome counter (`dhcp.rx.*` or `dhcp.drop.*`); a message
 * that parses emits and parses back to itself; and whatever the client accepted, its
 * lease stays sane (a usable unicast address, a prefix of 1..30, T1 < T2 < lease).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DhcpClient } from '../../src/net/dhcp.ts';
import type { DhcpLease } from '../../src/net/dhcp.ts';
import { Counters } from '../../src/stats.ts';
import { nullEventSink } from '../../src/events.ts';
import { SeededRandom } from '../../src/random.ts';
import { BootpOp, dhcpBufferLength, DhcpMessageType, emitDhcp, parseDhcp } from '../../src/wire/dhcp.ts';
import type { DhcpRepr } from '../../src/wire/dhcp.ts';
import { ip, OUR_MAC } from '../net/harness.ts';

const ROUNDS = 3000;

function reply(type: number, transactionId: number, yourAddress: number): Uint8Array {
  const repr: DhcpRepr = {
    op: BootpOp.REPLY,
    transactionId,
    seconds: 0,
    broadcast: true,
    clientAddress: 0,
    yourAddress,
    serverAddress: 0,
    relayAddress: 0,
    clientHardwareAddress: OUR_MAC,
    options: {
      messageType: type,
      serverIdentifier: ip('198.18.0.1'),
      leaseTime: 600,
      renewalTime: 300,
      rebindingTime: 525,
      subnetMask: ip('255.255.255.0'),
      routers: [ip('198.18.0.1')],
    },
  };
  const bytes = new Uint8Array(dhcpBufferLength(repr));
  emitDhcp(repr, bytes);
  return bytes;
}

function mutate(random: SeededRandom, original: Uint8Array): Uint8Array {
  const bytes = Uint8Array.from(original);
  const flips = 1 + (random.uint32() % 6);
  for (let i = 0; i < flips; i++) {
    // Mostly the options and the addresses, where a hostile server would aim.
    const at = random.uint32() % 2 === 0 ? 240 + (random.uint32() % (bytes.length - 240)) : random.uint32() % bytes.length;
    bytes[at] = random.uint32() & 0xff;
  }
  return random.uint32() % 8 === 0 ? bytes.subarray(0, random.uint32() % bytes.length) : bytes;
}

function assertSaneLease(lease: Readonly<DhcpLease> | undefined): void {
  if (!lease) return;
  assert.ok(lease.prefixLength >= 1 && lease.prefixLength <= 30, `prefix ${lease.prefixLength}`);
  const first = lease.address >>> 24;
  assert.ok(first !== 0 && first !== 127 && first < 224, `address ${lease.address}`);
  assert.ok(lease.renewalSeconds < lease.rebindingSeconds && lease.rebindingSeconds < lease.leaseSeconds, `timers ${JSON.stringify(lease)}`);
}

describe('DHCP under fuzzing', () => {
  it(`${ROUNDS} mutated replies to the client in SELECTING, REQUESTING and RENEWING: counted, never thrown`, () => {
    const random = new SeededRandom(0x0dc9);
    let delivered = 0;
    let parsedBack = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const counters = new Counters();
      const sent: DhcpRepr[] = [];
      let lease: DhcpLease | undefined;
      const client = new DhcpClient(
        { mac: OUR_MAC, send: (message) => sent.push(message), sendArpProbe: () => undefined, setLease: (next) => (lease = next) },
        { random, counters, events: nullEventSink },
      );
      let now = 0;
      client.start(now);
      now = client.pollAt() ?? now;
      client.poll(now);
      const stage = round % 3;
      const xid = (): number => sent.at(-1)?.transactionId ?? 0;
      if (stage >= 1) client.receive(reply(DhcpMessageType.OFFER, xid(), ip('198.18.0.50')), now);
      if (stage === 2) {
        client.receive(reply(DhcpMessageType.ACK, xid(), ip('198.18.0.50')), now);
        for (let i = 0; i < 10 && client.state !== 'BOUND'; i++) {
          now = client.pollAt() ?? now;
          client.poll(now);
        }
        now = client.pollAt() ?? now; // T1
        client.poll(now);
        assert.equal(client.state, 'RENEWING');
      }
      const type = pickType(random);
      const bytes = mutate(random, reply(type, xid(), ip('198.18.0.50')));
      const before = outcomes(counters);
      client.receive(bytes, now);
      assert.equal(outcomes(counters), before + 1, 'exactly one outcome per reply');
      for (let i = 0; i < 20 && client.pollAt() !== undefined; i++) {
        now = Math.max(now, client.pollAt() ?? now);
        client.poll(now);
      }
      assertSaneLease(client.lease);
      assertSaneLease(lease);
      const parsed = parseDhcp(bytes);
      if (parsed.ok) {
        delivered++;
        const again = new Uint8Array(dhcpBufferLength(parsed.value));
        emitDhcp(parsed.value, again);
        const reparsed = parseDhcp(again);
        assert.ok(reparsed.ok, `${JSON.stringify(reparsed)} ${JSON.stringify(parsed.value.options)}`);
        assert.deepEqual(reparsed.value.options.messageType, parsed.value.options.messageType);
        assert.equal(reparsed.value.yourAddress, parsed.value.yourAddress);
        parsedBack++;
      }
    }
    assert.ok(delivered > ROUNDS / 4, `too few mutated replies parsed (${delivered}): the fuzz hardly reached the client`);
    assert.equal(parsedBack, delivered);
  });
});

function pickType(random: SeededRandom): number {
  const types = [DhcpMessageType.OFFER, DhcpMessageType.ACK, DhcpMessageType.NAK];
  return types[random.uint32() % types.length]!;
}

/** Every reply ends in `dhcp.rx.<type>` (accepted for processing) or one `dhcp.drop.<reason>`. */
function outcomes(counters: Counters): number {
  return counters.sum('dhcp.rx.') + counters.sum('dhcp.drop.');
}
