/**
 * Address classification and next-hop choice (route.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { classifyAddress, isSubnetBroadcast, multicastMac, nextHopAddress } from '../../src/net/route.ts';
import type { RouteConfig } from '../../src/net/route.ts';
import { isUnicastHostAddress } from '../../src/net/address.ts';
import { ip } from './harness.ts';

const route: RouteConfig = { address: ip('198.18.4.2'), prefixLength: 22, gateway: ip('198.18.4.1') };

describe('classifyAddress', () => {
  const expectations: [string, string][] = [
    ['198.18.4.2', 'local'],
    ['255.255.255.255', 'limited-broadcast'],
    ['198.18.7.255', 'subnet-broadcast'],
    ['198.18.6.255', 'unicast'], // a host inside a /22
    ['198.18.4.0', 'unicast'], // the network address: RFC 1122 does not make it special for receivers
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['0.0.0.0', 'invalid'],
    ['0.1.2.3', 'invalid'],
    ['127.0.0.1', 'invalid'],
    ['240.0.0.1', 'invalid'],
    ['8.8.8.8', 'unicast'],
  ];
  for (const [address, kind] of expectations) {
    it(`${address} is ${kind}`, () => assert.equal(classifyAddress(ip(address), route), kind));
  }

  it('a /31 and a /32 have no subnet broadcast (RFC 3021)', () => {
    assert.equal(isSubnetBroadcast(ip('198.18.0.1'), { address: ip('198.18.0.0'), prefixLength: 31 }), false);
    assert.equal(classifyAddress(ip('198.18.0.1'), { address: ip('198.18.0.0'), prefixLength: 31 }), 'unicast');
    assert.equal(isSubnetBroadcast(ip('198.18.0.1'), { address: ip('198.18.0.1'), prefixLength: 32 }), false);
    assert.equal(isSubnetBroadcast(ip('198.18.0.3'), { address: ip('198.18.0.1'), prefixLength: 30 }), true);
  });
});

describe('isUnicastHostAddress: the one answer to "may a host have this address"', () => {
  const cases: [string, boolean][] = [
    ['198.18.0.2', true],
    ['1.0.0.1', true],
    ['126.255.255.255', true],
    ['223.255.255.254', true],
    ['0.0.0.0', false],
    ['0.255.0.1', false],
    ['127.0.0.1', false], // RFC 1122 §3.2.1.3 (g): loopback never appears outside a host
    ['127.255.255.254', false],
    ['224.0.0.1', false],
    ['239.1.2.3', false],
    ['240.0.0.1', false],
    ['255.255.255.255', false],
  ];
  for (const [address, expected] of cases) {
    it(`${address}: ${expected ? 'a host' : 'never a host'}`, () => assert.equal(isUnicastHostAddress(ip(address)), expected));
  }

  it('agrees with classifyAddress for every address that is neither ours nor a broadcast', () => {
    for (let firstOctet = 0; firstOctet < 256; firstOctet += 1) {
      const address = ((firstOctet << 24) | 0x010203) >>> 0;
      const kind = classifyAddress(address, route);
      assert.equal(kind === 'unicast', isUnicastHostAddress(address), `${firstOctet}.1.2.3 is ${kind}`);
    }
  });
});

describe('nextHopAddress', () => {
  it('on-link destinations are their own next hop; the rest go to the gateway', () => {
    assert.equal(nextHopAddress(ip('198.18.5.9'), route), ip('198.18.5.9'));
    assert.equal(nextHopAddress(ip('203.0.113.9'), route), ip('198.18.4.1'));
  });

  it('without a gateway, off-link has no route', () => {
    assert.equal(nextHopAddress(ip('203.0.113.9'), { address: ip('198.18.4.2'), prefixLength: 22 }), undefined);
  });

  it('a /0 puts everything on-link', () => {
    assert.equal(nextHopAddress(ip('203.0.113.9'), { address: ip('198.18.4.2'), prefixLength: 0 }), ip('203.0.113.9'));
  });
});

describe('multicastMac', () => {
  it('maps the low 23 bits under 01:00:5e (RFC 1112 §6.4)', () => {
    assert.deepEqual(multicastMac(ip('239.255.255.250')), Uint8Array.of(0x01, 0x00, 0x5e, 0x7f, 0xff, 0xfa));
    assert.deepEqual(multicastMac(ip('224.128.0.1')), Uint8Array.of(0x01, 0x00, 0x5e, 0x00, 0x00, 0x01));
  });
});
