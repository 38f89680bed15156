/**
 * The neighbor cache on its own, with a fake link that records what it is asked to
 * send: bounds (per neighbor, global, entries), the merge rule's create flag, the
 * stale window, and the deadline it reports.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Counters } from '../../src/stats.ts';
import { NeighborCache, resolveNeighborSettings } from '../../src/net/neighbor.ts';
import type { NeighborLink, NeighborSettings } from '../../src/net/neighbor.ts';
import type { Ipv4Address, MacAddress } from '../../src/net/address.ts';

const MAC_A = Uint8Array.of(2, 0, 0, 0, 0, 0xa);
const MAC_B = Uint8Array.of(2, 0, 0, 0, 0, 0xb);
const ADDRESS_A = 0xc6120001;
const ADDRESS_B = 0xc6120002;
const ADDRESS_C = 0xc6120003;

class RecordingLink implements NeighborLink {
  readonly requests: { address: Ipv4Address; unicastTo: MacAddress | undefined }[] = [];
  readonly transmitted: { tag: number; mac: MacAddress }[] = [];
  sendRequest(address: Ipv4Address, unicastTo: MacAddress | undefined): void {
    this.requests.push({ address, unicastTo: unicastTo === undefined ? undefined : Uint8Array.from(unicastTo) });
  }
  transmit(frame: Uint8Array, mac: MacAddress): void {
    this.transmitted.push({ tag: frame[0] ?? -1, mac: Uint8Array.from(mac) });
  }
}

function setup(settings: Partial<NeighborSettings> = {}): { cache: NeighborCache; link: RecordingLink; counters: Counters } {
  const link = new RecordingLink();
  const counters = new Counters();
  return { cache: new NeighborCache(settings, link, counters), link, counters };
}

/** A one-byte stand-in for a frame, tagged so the test can follow it. */
function frame(tag: number): Uint8Array {
  return Uint8Array.of(tag);
}

describe('NeighborCache', () => {
  it('the global bound drops the oldest waiting frame of any neighbor', () => {
    const { cache, link, counters } = setup({ pendingTotal: 3 });
    assert.equal(cache.send(ADDRESS_A, frame(1), 0), 'queued');
    assert.equal(cache.send(ADDRESS_B, frame(2), 0), 'queued');
    assert.equal(cache.send(ADDRESS_A, frame(3), 0), 'queued');
    assert.equal(cache.send(ADDRESS_C, frame(4), 0), 'queued');
    assert.equal(counters.get('arp.drop.queue-full'), 1);
    assert.equal(cache.pendingFrames, 3);
    cache.update(ADDRESS_A, MAC_A, 10, true);
    assert.deepEqual(
      link.transmitted.map((sent) => sent.tag),
      [3],
      'frame 1, the oldest overall, was the one dropped',
    );
    cache.update(ADDRESS_B, MAC_B, 10, true);
    assert.deepEqual(
      link.transmitted.map((sent) => sent.tag),
      [3, 2],
    );
    assert.equal(cache.pendingFrames, 1);
  });

  it('with no queue room a packet for an unresolved neighbor is dropped, and still asked for', () => {
    const { cache, link, counters } = setup({ pendingPerNeighbor: 0 });
    assert.equal(cache.send(ADDRESS_A, frame(1), 0), 'dropped');
    assert.equal(counters.get('arp.drop.queue-full'), 1);
    assert.equal(link.requests.length, 1);
  });

  it('evicts the least recently confirmed entry when full, dropping what waited on it', () => {
    const { cache, counters } = setup({ maxEntries: 2 });
    cache.send(ADDRESS_A, frame(1), 0); // incomplete, oldest
    cache.update(ADDRESS_B, MAC_B, 1, true);
    cache.update(ADDRESS_C, MAC_A, 2, true);
    assert.equal(cache.size, 2);
    assert.equal(cache.has(ADDRESS_A), false);
    assert.equal(counters.get('arp.drop.evicted'), 1);
    // Re-confirming B makes C the oldest.
    cache.update(ADDRESS_B, MAC_B, 3, true);
    cache.update(ADDRESS_A, MAC_A, 4, true);
    assert.equal(cache.has(ADDRESS_C), false);
    assert.equal(cache.has(ADDRESS_B), true);
  });

  it('merge without create: only existing entries are updated', () => {
    const { cache } = setup();
    assert.equal(cache.update(ADDRESS_A, MAC_A, 0, false), false);
    assert.equal(cache.size, 0);
    cache.send(ADDRESS_A, frame(1), 0);
    assert.equal(cache.update(ADDRESS_A, MAC_A, 5, false), true, 'an incomplete entry is resolved by the merge');
  });

  it('keeps its own copy of the MAC (received frames are reused by the link)', () => {
    const { cache, link } = setup();
    const received = Uint8Array.from(MAC_A);
    cache.update(ADDRESS_A, received, 0, true);
    received.fill(0xee);
    cache.send(ADDRESS_A, frame(1), 1);
    assert.deepEqual(link.transmitted[0]?.mac, MAC_A);
    const [entry] = cache.list(1);
    entry?.mac?.fill(0);
    assert.deepEqual(cache.list(1)[0]?.mac, MAC_A, 'list() hands out copies');
  });

  it('the stale window is at most half the lifetime', () => {
    // One full resolution takes 4 × 1000 ms, more than half of 6000 ms.
    const { cache, link } = setup({ reachableMs: 6000 });
    cache.update(ADDRESS_A, MAC_A, 0, true);
    assert.equal(cache.list(2999)[0]?.state, 'reachable');
    assert.equal(cache.list(3000)[0]?.state, 'stale');
    cache.send(ADDRESS_A, frame(1), 3000);
    assert.deepEqual(link.requests, [{ address: ADDRESS_A, unicastTo: MAC_A }]);
    assert.equal(cache.list(5999).length, 1);
    assert.deepEqual(cache.list(6000), [], 'a lapsed entry is not listed even before the sweep');
  });

  it('a lapsed entry that poll has not swept yet is not used', () => {
    const { cache, link } = setup({ reachableMs: 1000 });
    cache.update(ADDRESS_A, MAC_A, 0, true);
    assert.equal(cache.send(ADDRESS_A, frame(1), 1000), 'queued');
    assert.deepEqual(link.requests.at(-1), { address: ADDRESS_A, unicastTo: undefined });
  });

  it('reports the earliest deadline, and nothing once every entry is gone', () => {
    const { cache } = setup({ reachableMs: 5000 });
    assert.equal(cache.pollAt(), undefined);
    cache.update(ADDRESS_A, MAC_A, 0, true);
    cache.send(ADDRESS_B, frame(1), 100);
    assert.equal(cache.pollAt(), 1100);
    cache.poll(1100);
    assert.equal(cache.pollAt(), 2100);
    cache.update(ADDRESS_B, MAC_B, 1500, true);
    cache.poll(2100); // the stale lower bound: nothing to do, exact again afterwards
    assert.equal(cache.pollAt(), 5000);
    cache.poll(5000);
    assert.equal(cache.pollAt(), 6500);
    cache.poll(6500);
    assert.equal(cache.pollAt(), undefined);
    assert.equal(cache.size, 0);
  });

  it('clear() forgets everything and counts the waiting frames under the reason given', () => {
    const { cache, counters } = setup();
    cache.send(ADDRESS_A, frame(1), 0);
    cache.send(ADDRESS_A, frame(2), 0);
    cache.update(ADDRESS_B, MAC_B, 0, true);
    cache.clear('arp.drop.carrier-down');
    assert.equal(counters.get('arp.drop.carrier-down'), 2);
    assert.equal(cache.size, 0);
    assert.equal(cache.pendingFrames, 0);
    assert.equal(cache.pollAt(), undefined);
  });

  it('rejects settings no caller should pass', () => {
    assert.throws(() => resolveNeighborSettings({ requestIntervalMs: 0 }), RangeError);
    assert.throws(() => resolveNeighborSettings({ maxEntries: 0 }), RangeError);
    assert.throws(() => resolveNeighborSettings({ requestRetries: 1.5 }), RangeError);
    assert.deepEqual(resolveNeighborSettings({}), {
      reachableMs: 60_000,
      requestIntervalMs: 1000,
      requestRetries: 3,
      pendingPerNeighbor: 16,
      pendingTotal: 256,
      maxEntries: 512,
    });
  });
});
