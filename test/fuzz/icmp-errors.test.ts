/**
 * Fuzzing the ICMP error path (src/net/icmp-error.ts → src/tcp/icmp-error.ts): ICMP
 * errors with valid checksums (so that they get past the ICMP layer) quoting the device's
 * own recent segments, with random types, codes, next-hop MTUs, quoted sequence numbers
 * near and far from the window, quoted ports, lengths and truncations, are fed to a
 * device with a live connection while data flows both ways. Nothing may throw, no
 * internal error may be counted, every frame is accounted for, each TCP-bound error
 * ends in exactly one `tcp.icmp.*` counter, the TCB holds its invariants, the send MSS
 * never drops below the 512 floor, and the connection carries data byte-exact to the end.
 * Seeded and bounded, so CI replays the same messages.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createStackPair, DEVICE_IP, PEER_IP } from '../support/stack-pair.ts';
import { SeededRandom } from '../../src/random.ts';
import { parseIpv4 as parseAddress, parseMac } from '../../src/net/address.ts';
import { receiveAccounting } from '../../src/net/interface.ts';
import { emitEthernetHeader, EtherType } from '../../src/wire/ethernet.ts';
import { emitIpv4Header, IpProtocol } from '../../src/wire/ipv4.ts';
import { emitIcmp } from '../../src/wire/icmp.ts';
import { noopHandler, type TcpConnection } from '../../src/tcp/connection.ts';
import { assertTcbInvariants } from '../support/tcb-invariants.ts';

const MESSAGES = 3000;
const SIZE = 400_000;
const TYPES = [3, 3, 3, 11, 12, 4, 5] as const;

/** An ICMP error from the peer's address to the device quoting `quote` (a device IPv4 packet, possibly altered). */
function icmpFrame(deviceMac: Uint8Array, peerMac: Uint8Array, type: number, code: number, mtu: number, quote: Uint8Array): Uint8Array {
  const frame = new Uint8Array(14 + 20 + 8 + quote.length);
  emitEthernetHeader(frame, deviceMac, peerMac, EtherType.IPV4);
  emitIpv4Header(
    frame.subarray(14, 34),
    { source: parseAddress(PEER_IP)!, destination: parseAddress(DEVICE_IP)!, protocol: IpProtocol.ICMP, ttl: 64, identification: 7, dontFragment: false },
    8 + quote.length,
  );
  emitIcmp({ type, code, identifier: 0, sequence: mtu, payload: quote }, frame.subarray(34));
  return frame;
}

describe('fuzz: ICMP errors quoting the device\'s own segments', () => {
  it('never throws, counts each error once, keeps the TCB sound and the transfer byte-exact', (t) => {
    const pair = createStackPair({ seed: 9, faults: { delayMs: 1 } });
    const { world, device, peer, wire } = pair;
    const deviceMac = parseMac('02:00:00:00:00:02')!;
    const peerMac = parseMac('02:00:00:00:00:01')!;
    // The device's recent IPv4 packets (what a router would quote).
    const recent: Uint8Array[] = [];
    const transmit = wire.a.transmit.bind(wire.a);
    wire.a.transmit = (frame: Uint8Array) => {
      if (frame[12] === 0x08 && frame[13] === 0x00) {
        recent.push(frame.slice(14, 14 + Math.min(frame.length - 14, 576 - 28)));
        if (recent.length > 32) recent.shift();
      }
      transmit(frame);
    };

    const upload = new SeededRandom(21).bytes(SIZE);
    const download = new SeededRandom(22).bytes(SIZE);
    const atDevice: number[] = [];
    const atPeer: number[] = [];
    let target: TcpConnection | undefined;
    const pumping = (connection: TcpConnection, data: Uint8Array, into: number[]): void => {
      let sent = 0;
      const pump = (): void => {
        while (sent < data.length) {
          const accepted = connection.send(data.subarray(sent, sent + 4096));
          if (accepted === 0) return;
          sent += accepted;
        }
      };
      connection.handler = {
        ...noopHandler(),
        onEstablished: pump,
        onWritable: pump,
        onReadable: () => {
          for (let chunk = connection.read(65_536); chunk; chunk = connection.read(65_536)) into.push(...chunk);
        },
      };
      if (connection.state === 'ESTABLISHED') pump();
    };
    device.tcp.listen(7200, {}, (connection) => {
      target = connection;
      pumping(connection, download, atDevice);
    });
    pumping(peer.tcp.connect(parseAddress(DEVICE_IP)!, 7200), upload, atPeer);
    world.runUntilSync(world.now + 20);
    assert.ok(target, 'the connection is up');

    const random = new SeededRandom(4321);
    const tcpBefore = device.counters.sum('tcp.icmp.');
    let deliveredToTcp = 0;
    // First one well-formed fragmentation-needed quoting the newest data segment while it
    // is in flight, so the lowering path is reached whatever the seeded draws below hit:
    // they reach it rarely (once in 3,000 before, and not at all once the device's segment
    // stream changed a little), since most of their quotes are acknowledged by then.
    const newestData = [...recent].reverse().find((packet) => {
      const ihl = (packet[0]! & 0x0f) * 4;
      const total = (packet[2]! << 8) | packet[3]!;
      return packet[9] === IpProtocol.TCP && total - ihl - (packet[ihl + 12]! >>> 4) * 4 > 0;
    });
    assert.ok(newestData, 'the device has sent data');
    const lowered = device.counters.get('tcp.icmp.pmtu-lowered');
    const firstBefore = device.counters.get('icmp.rx.error');
    device.receiveFrame(icmpFrame(deviceMac, peerMac, 3, 4, 1000, newestData));
    deliveredToTcp += device.counters.get('icmp.rx.error') - firstBefore;
    assert.equal(device.counters.get('tcp.icmp.pmtu-lowered') - lowered, 1, 'a fragmentation-needed for data in flight lowers the path MTU');
    assertTcbInvariants(target, 'the first fragmentation-needed');
    for (let i = 0; i < MESSAGES; i++) {
      const original = recent[random.uint32() % Math.max(1, recent.length)];
      if (original === undefined) break;
      const quote = Uint8Array.from(original);
      const view = new DataView(quote.buffer);
      const ihl = (quote[0]! & 0x0f) * 4;
      switch (random.uint32() % 6) {
        case 0: // the sequence number moved by a small amount (in or near the window)
          view.setUint32(ihl + 4, (view.getUint32(ihl + 4) + (random.uint32() % 60_000) - 30_000) >>> 0);
          break;
        case 1: // a blind guess
          view.setUint32(ihl + 4, random.uint32());
          break;
        case 2: // another port
          view.setUint16(ihl + (random.uint32() % 2) * 2, random.uint32() & 0xffff);
          break;
        case 3: // a wild quoted total length or header length
          view.setUint16(2, random.uint32() & 0xffff);
          if (random.uint32() % 2 === 0) quote[0] = 0x40 | (random.uint32() & 0x0f);
          break;
        default:
          break; // as sent
      }
      const length = random.uint32() % 3 === 0 ? random.uint32() % (quote.length + 1) : quote.length;
      const type = TYPES[random.uint32() % TYPES.length]!;
      const code = random.uint32() % 3 === 0 ? 4 : random.uint32() % 18;
      const mtu = random.uint32() % 4 === 0 ? 0 : random.uint32() % 1600;
      const rxBefore = device.counters.get('icmp.rx.error');
      device.receiveFrame(icmpFrame(deviceMac, peerMac, type, code, mtu, quote.subarray(0, length)));
      deliveredToTcp += device.counters.get('icmp.rx.error') - rxBefore;
      assertTcbInvariants(target, `ICMP message ${i}`);
      assert.ok(target.tcb.sendMss >= 512 || target.tcb.sendMss === target.negotiatedMss, `send MSS ${target.tcb.sendMss}`);
      if (i % 10 === 9) world.runUntilSync(world.now + 5);
    }
    const counters = device.counters;
    assert.equal(counters.get('stack.drop.internal-error'), 0, 'no exception escaped a layer');
    assert.equal(counters.get('tcp.drop.internal-error'), 0, 'no exception inside TCP');
    const accounting = receiveAccounting(counters);
    assert.equal(accounting.frames, accounting.delivered + accounting.dropped);
    assert.ok(deliveredToTcp > 100, `${deliveredToTcp} errors reached TCP`);
    assert.equal(counters.sum('tcp.icmp.') - tcpBefore, deliveredToTcp, 'one tcp.icmp.* outcome per error');
    const outcomes = Object.fromEntries(Object.entries(counters.snapshot()).filter(([name]) => name.startsWith('tcp.icmp.') || name.startsWith('icmp.')));
    t.diagnostic(`outcomes: ${JSON.stringify(outcomes)}`);
    for (const outcome of ['tcp.icmp.drop.bad-sequence', 'tcp.icmp.drop.no-connection', 'tcp.icmp.pmtu-lowered', 'tcp.icmp.soft-error']) {
      assert.ok(counters.get(outcome) > 0, `some errors ended in ${outcome}`);
    }

    assert.ok(world.runUntilDoneSync(() => atDevice.length === SIZE && atPeer.length === SIZE, 600_000), `${atDevice.length} and ${atPeer.length} of ${SIZE}`);
    assert.deepEqual(Buffer.from(atDevice), Buffer.from(upload), 'peer → device byte-exact');
    assert.deepEqual(Buffer.from(atPeer), Buffer.from(download), 'device → peer byte-exact');
    assert.equal(target.state, 'ESTABLISHED');
  });
});
