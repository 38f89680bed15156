/**
 * ICMP error messages through the interface (RFC 1122 §3.2.2, src/net/icmp-error.ts):
 * a well-formed error quoting one of our datagrams reaches the quoted protocol's
 * `icmpError`; malformed quotes, quotes of someone else's datagram, errors sent to a
 * broadcast address and errors for protocols without a handler are each counted in
 * exactly one `icmp.drop.*` counter, and the receive accounting still balances.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, icmpMessage, ipv4Frame, ipv4Packet, OTHER_IP, OUR_IP, PEER_IP, BROADCAST_MAC } from './harness.ts';
import { receiveAccounting } from '../../src/net/interface.ts';
import type { IcmpErrorReport } from '../../src/net/icmp-error.ts';

const ICMP = 1;
const TCP = 6;
const UDP = 17;
const ROUTER_IP = OTHER_IP;

/** Our datagram as a router quotes it: IPv4 header + the first `quoted` transport bytes. */
function quoteOf(fields: { source?: number; protocol?: number; totalLength?: number; flagsAndOffset?: number }, quoted = 8): Uint8Array {
  const transport = new Uint8Array(quoted);
  transport.set([0x00, 0x50, 0xc0, 0x00, 0x00, 0x00, 0x27, 0x11].slice(0, quoted));
  const packet = ipv4Packet({
    source: fields.source ?? OUR_IP,
    destination: PEER_IP,
    protocol: fields.protocol ?? TCP,
    payload: transport,
    flagsAndOffset: fields.flagsAndOffset,
  });
  if (fields.totalLength !== undefined) new DataView(packet.buffer).setUint16(2, fields.totalLength);
  return packet;
}

function errorFrame(type: number, code: number, mtu: number, quote: Uint8Array, to?: { destination: number; mac: Uint8Array }): Uint8Array {
  return ipv4Frame(
    { source: ROUTER_IP, destination: to?.destination ?? OUR_IP, protocol: ICMP, payload: icmpMessage(type, code, 0, mtu, quote) },
    to === undefined ? {} : { to: to.mac },
  );
}

function harnessWithTcp(): { harness: ReturnType<typeof createHarness>; reports: IcmpErrorReport[] } {
  const harness = createHarness();
  const reports: IcmpErrorReport[] = [];
  harness.iface.registerProtocol(TCP, {
    input: () => undefined,
    icmpError: (report) => reports.push({ ...report, quotedTransport: report.quotedTransport.slice() }),
  });
  harness.iface.registerProtocol(UDP, { input: () => undefined });
  return { harness, reports };
}

describe('ICMP errors quoting our datagrams', () => {
  it('a fragmentation-needed reaches TCP with the next-hop MTU, the quote and the reporter', () => {
    const { harness, reports } = harnessWithTcp();
    harness.iface.receiveFrame(errorFrame(3, 4, 1280, quoteOf({ totalLength: 1500 })));
    assert.equal(reports.length, 1);
    const report = reports[0]!;
    assert.equal(report.reporter, ROUTER_IP);
    assert.equal(report.type, 3);
    assert.equal(report.code, 4);
    assert.equal(report.nextHopMtu, 1280);
    assert.equal(report.quotedSource, OUR_IP);
    assert.equal(report.quotedDestination, PEER_IP);
    assert.equal(report.quotedTotalLength, 1500);
    assert.equal(report.quotedProtocol, TCP);
    assert.deepEqual([...report.quotedTransport], [0x00, 0x50, 0xc0, 0x00, 0x00, 0x00, 0x27, 0x11]);
    assert.equal(harness.counters.get('icmp.rx.error'), 1);
  });

  it('port unreachable, time exceeded and parameter problem are reported too; the MTU field only for code 4', () => {
    const { harness, reports } = harnessWithTcp();
    harness.iface.receiveFrame(errorFrame(3, 3, 999, quoteOf({})));
    harness.iface.receiveFrame(errorFrame(11, 0, 0, quoteOf({})));
    harness.iface.receiveFrame(errorFrame(12, 0, 0, quoteOf({})));
    assert.deepEqual(
      reports.map((report) => [report.type, report.code, report.nextHopMtu]),
      [
        [3, 3, 0],
        [11, 0, 0],
        [12, 0, 0],
      ],
    );
    assert.equal(harness.counters.get('icmp.rx.error'), 3);
  });

  const malformed: [string, Uint8Array, string][] = [
    ['a quote shorter than an IPv4 header', quoteOf({}).subarray(0, 19), 'icmp.drop.error-truncated'],
    ['a quote without the 8 transport bytes RFC 792 requires', quoteOf({}, 7), 'icmp.drop.error-truncated'],
    ['a quoted header of version 6', (() => { const q = quoteOf({}); q[0] = 0x65; return q; })(), 'icmp.drop.error-bad-version'],
    ['a quoted IHL below 5', (() => { const q = quoteOf({}); q[0] = 0x44; return q; })(), 'icmp.drop.error-bad-header-length'],
    ['a quoted IHL longer than the quote', (() => { const q = quoteOf({}); q[0] = 0x4f; return q; })(), 'icmp.drop.error-truncated'],
    ['a quoted total length too short for a transport header', quoteOf({ totalLength: 24 }), 'icmp.drop.error-bad-length'],
    ['a quote of a later fragment', quoteOf({ flagsAndOffset: 0x2000 | 185 }), 'icmp.drop.error-unsupported'],
    ['a quote of someone else\'s datagram', quoteOf({ source: OTHER_IP }), 'icmp.drop.error-not-ours'],
    ['a quote of a protocol without an error handler (UDP)', quoteOf({ protocol: UDP }), 'icmp.drop.error-unhandled-protocol'],
    ['a quote of a protocol nobody registered', quoteOf({ protocol: 99 }), 'icmp.drop.error-unhandled-protocol'],
  ];
  for (const [what, quote, counter] of malformed) {
    it(`${what} is counted (${counter}) and dropped`, () => {
      const { harness, reports } = harnessWithTcp();
      harness.iface.receiveFrame(errorFrame(3, 4, 1280, quote));
      assert.equal(reports.length, 0);
      assert.equal(harness.counters.get(counter), 1);
      const accounting = receiveAccounting(harness.counters);
      assert.equal(accounting.frames, accounting.delivered + accounting.dropped);
      assert.equal(accounting.frames, 1);
    });
  }

  it('an error sent to the subnet broadcast is not believed (RFC 1122 §3.2.2)', () => {
    const { harness, reports } = harnessWithTcp();
    harness.iface.receiveFrame(errorFrame(3, 4, 1280, quoteOf({}), { destination: (OUR_IP | 0xff) >>> 0, mac: BROADCAST_MAC }));
    assert.equal(reports.length, 0);
    assert.equal(harness.counters.get('icmp.drop.broadcast-error'), 1);
  });

  it('a bad ICMP checksum drops the message before the quote is looked at', () => {
    const { harness, reports } = harnessWithTcp();
    const message = icmpMessage(3, 4, 0, 1280, quoteOf({}));
    message[2]! ^= 0xff;
    harness.iface.receiveFrame(ipv4Frame({ source: ROUTER_IP, destination: OUR_IP, protocol: ICMP, payload: message }));
    assert.equal(reports.length, 0);
    assert.equal(harness.counters.get('icmp.drop.bad-checksum'), 1);
  });

  it('an exception in the handler is an internal error, never thrown out of receiveFrame', () => {
    const harness = createHarness();
    harness.iface.registerProtocol(TCP, {
      input: () => undefined,
      icmpError: () => {
        throw new Error('bug');
      },
    });
    harness.iface.receiveFrame(errorFrame(3, 4, 1280, quoteOf({})));
    assert.equal(harness.counters.get('stack.drop.internal-error'), 1);
  });
});
