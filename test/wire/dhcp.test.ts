import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  BOOTP_MINIMUM_LENGTH,
  BootpOp,
  dhcpBufferLength,
  DhcpMessageType,
  DhcpPacket,
  emitDhcp,
  formatDhcp,
  parseDhcp,
} from '../../src/wire/dhcp.ts';
import type { DhcpRepr } from '../../src/wire/dhcp.ts';
import { hex, ip, mac } from '../net/harness.ts';

const CLIENT_MAC = mac('02:00:00:00:00:02');

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
const zeros = (n: number): Uint8Array => new Uint8Array(n);

/** A DHCPOFFER as dnsmasq sends it (field by field, RFC 2131 §2). */
const OFFER = concat(
  hex(`
    02           # op: BOOTREPLY
    01 06 00     # htype Ethernet, hlen 6, hops 0
    39 03 f3 26  # xid
    00 00        # secs
    80 00        # flags: BROADCAST
    00 00 00 00  # ciaddr
    c6 12 00 32  # yiaddr 198.18.0.50
    c6 12 00 01  # siaddr 198.18.0.1 (next server)
    00 00 00 00  # giaddr
    02 00 00 00 00 02  # chaddr
  `),
  zeros(10), // chaddr padding
  zeros(64), // sname
  zeros(128), // file
  hex(`
    63 82 53 63        # magic cookie
    35 01 02           # 53 message type: OFFER
    36 04 c6 12 00 01  # 54 server identifier 198.18.0.1
    33 04 00 00 0e 10  # 51 lease 3600 s
    3a 04 00 00 07 08  # 58 T1 1800 s
    3b 04 00 00 0c 4e  # 59 T2 3150 s
    01 04 ff ff ff 00  # 1 subnet mask /24
    03 04 c6 12 00 01  # 3 router 198.18.0.1
    06 08 c6 12 00 01 c6 12 00 02  # 6 DNS servers
    ff                 # end
  `),
);

const OFFER_REPR: DhcpRepr = {
  op: BootpOp.REPLY,
  transactionId: 0x3903f326,
  seconds: 0,
  broadcast: true,
  clientAddress: 0,
  yourAddress: ip('198.18.0.50'),
  serverAddress: ip('198.18.0.1'),
  relayAddress: 0,
  clientHardwareAddress: CLIENT_MAC,
  options: {
    messageType: DhcpMessageType.OFFER,
    serverIdentifier: ip('198.18.0.1'),
    leaseTime: 3600,
    renewalTime: 1800,
    rebindingTime: 3150,
    subnetMask: ip('255.255.255.0'),
    routers: [ip('198.18.0.1')],
    dnsServers: [ip('198.18.0.1'), ip('198.18.0.2')],
  },
};

/** Our DHCPDISCOVER: broadcast flag, client identifier, parameter request list, padded to 300. */
const DISCOVER = concat(
  hex(`
    01 01 06 00  # BOOTREQUEST, Ethernet, hlen 6, hops 0
    00 00 00 2a  # xid 42
    00 03        # secs 3
    80 00        # BROADCAST
  `),
  zeros(16), // ciaddr, yiaddr, siaddr, giaddr
  hex('02 00 00 00 00 02'),
  zeros(10 + 64 + 128),
  hex(`
    63 82 53 63
    35 01 01                # DISCOVER
    3d 07 01 02 00 00 00 00 02  # 61 client identifier: type 1 + MAC
    37 06 01 03 06 33 3a 3b     # 55 parameter request list
    ff
  `),
);
const DISCOVER_REPR: DhcpRepr = {
  op: BootpOp.REQUEST,
  transactionId: 42,
  seconds: 3,
  broadcast: true,
  clientAddress: 0,
  yourAddress: 0,
  serverAddress: 0,
  relayAddress: 0,
  clientHardwareAddress: CLIENT_MAC,
  options: {
    messageType: DhcpMessageType.DISCOVER,
    clientIdentifier: Uint8Array.of(1, 2, 0, 0, 0, 0, 2),
    parameterRequestList: [1, 3, 6, 51, 58, 59],
  },
};

describe('DHCP (RFC 2131, RFC 2132)', () => {
  it('deconstructs an offer through the view', () => {
    const view = new DhcpPacket(OFFER);
    assert.equal(view.check(), undefined);
    assert.equal(view.op, 2);
    assert.equal(view.hardwareType, 1);
    assert.equal(view.hardwareLength, 6);
    assert.equal(view.transactionId, 0x3903f326);
    assert.equal(view.flags, 0x8000);
    assert.equal(view.yourAddress, ip('198.18.0.50'));
    assert.equal(view.serverAddress, ip('198.18.0.1'));
    assert.deepEqual(view.clientHardwareAddress, CLIENT_MAC);
    assert.equal(view.cookie, 0x63825363);
    assert.equal(view.optionBytes[0], 53);
  });

  it('constructs our discover byte for byte, padded to the BOOTP minimum', () => {
    assert.equal(dhcpBufferLength(DISCOVER_REPR), BOOTP_MINIMUM_LENGTH);
    const bytes = new Uint8Array(BOOTP_MINIMUM_LENGTH).fill(0xee);
    emitDhcp(DISCOVER_REPR, bytes);
    const expected = new Uint8Array(BOOTP_MINIMUM_LENGTH);
    expected.set(DISCOVER);
    assert.deepEqual(bytes, expected);
  });

  it('parses the offer; options read, the MAC a view into the message', () => {
    const parsed = parseDhcp(OFFER);
    assert.deepEqual(parsed, { ok: true, value: OFFER_REPR });
    assert.ok(parsed.ok);
    assert.equal(parsed.value.clientHardwareAddress.buffer, OFFER.buffer);
    assert.equal(
      formatDhcp(parsed.value),
      'DHCP OFFER xid 0x3903f326, chaddr 02:00:00:00:00:02, yiaddr 198.18.0.50, server 198.18.0.1, lease 3600s',
    );
  });

  it('emits a reply that parses back to the same repr (round trip)', () => {
    const bytes = new Uint8Array(dhcpBufferLength(OFFER_REPR));
    emitDhcp(OFFER_REPR, bytes);
    assert.deepEqual(parseDhcp(bytes), { ok: true, value: OFFER_REPR });
    assert.deepEqual(parseDhcp(DISCOVER), { ok: true, value: DISCOVER_REPR });
  });

  it('reads options continued in file and sname (option overload, RFC 2132 §9.3)', () => {
    const bytes = Uint8Array.from(OFFER);
    // Replace the main options: message type + overload 3; the rest goes into file and sname.
    bytes.fill(0, 240);
    bytes.set(hex('35 01 05 34 01 03 ff'), 240);
    bytes.set(hex('33 04 00 00 00 3c ff'), 108); // file: lease 60 s
    bytes.set(hex('01 04 ff ff 00 00 ff'), 44); // sname: mask /16
    const parsed = parseDhcp(bytes);
    assert.ok(parsed.ok);
    assert.equal(parsed.value.options.messageType, DhcpMessageType.ACK);
    assert.equal(parsed.value.options.leaseTime, 60);
    assert.equal(parsed.value.options.subnetMask, ip('255.255.0.0'));
  });

  it('rejects malformed and foreign messages with a reason, never a throw', () => {
    assert.deepEqual(parseDhcp(OFFER.subarray(0, 239)), { ok: false, error: 'truncated' });
    const cookie = Uint8Array.from(OFFER);
    cookie[236] = 0;
    assert.deepEqual(parseDhcp(cookie), { ok: false, error: 'unsupported' }, 'plain BOOTP');
    const tokenRing = Uint8Array.from(OFFER);
    tokenRing[1] = 6;
    assert.deepEqual(parseDhcp(tokenRing), { ok: false, error: 'unsupported' });
    const op = Uint8Array.from(OFFER);
    op[0] = 3;
    assert.deepEqual(parseDhcp(op), { ok: false, error: 'unsupported' });
    // An option running past the end of the message.
    const overrun = concat(OFFER.subarray(0, 240), hex('35 01 02 36 09 c6 12'));
    assert.deepEqual(parseDhcp(overrun), { ok: false, error: 'bad-option' });
    // A known option with the wrong length.
    const wrongLength = concat(OFFER.subarray(0, 240), hex('35 02 02 02 ff'));
    assert.deepEqual(parseDhcp(wrongLength), { ok: false, error: 'bad-option' });
    const badMask = concat(OFFER.subarray(0, 240), hex('35 01 02 01 03 ff ff ff ff'));
    assert.deepEqual(parseDhcp(badMask), { ok: false, error: 'bad-option' });
    const emptyRouters = concat(OFFER.subarray(0, 240), hex('35 01 02 03 00 ff'));
    assert.deepEqual(parseDhcp(emptyRouters), { ok: false, error: 'bad-option' });
    const badOverload = concat(OFFER.subarray(0, 240), hex('35 01 02 34 01 07 ff'));
    assert.deepEqual(parseDhcp(badOverload), { ok: false, error: 'bad-option' });
    // A length byte missing at the very end.
    const dangling = concat(OFFER.subarray(0, 240), hex('35'));
    assert.deepEqual(parseDhcp(dangling), { ok: false, error: 'bad-option' });
  });

  it('keeps the first of a repeated option and shows control characters in text as ?', () => {
    const bytes = concat(OFFER.subarray(0, 240), hex('35 01 06 35 01 05 38 03 61 0a 62 ff'));
    const parsed = parseDhcp(bytes);
    assert.ok(parsed.ok);
    assert.equal(parsed.value.options.messageType, DhcpMessageType.NAK);
    assert.equal(parsed.value.options.message, 'a?b');
  });

  it('survives every truncation and random corruption of a valid message without throwing', () => {
    for (let length = 0; length <= OFFER.length; length++) parseDhcp(OFFER.subarray(0, length));
    let seed = 7;
    const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (let round = 0; round < 2000; round++) {
      const bytes = Uint8Array.from(OFFER);
      for (let flips = 0; flips < 4; flips++) bytes[240 + (next() % (bytes.length - 240))] = next() & 0xff;
      const parsed = parseDhcp(bytes);
      assert.ok(parsed.ok || typeof parsed.error === 'string');
    }
  });
});
