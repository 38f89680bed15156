/**
 * attachStack: the carrier state a link has at start goes through the same path as
 * every later change, so a device started with its cable out shows fault 1 once.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { raisedFault } from '../support/faults.ts';
import { attachStack } from '../../firmware/device.ts';
import { RealtimeLoop } from '../../firmware/loop.ts';
import type { Link, CarrierHandler } from '../../hal/link/link.ts';
import { RecordingEventSink } from '../../src/events.ts';
import { SeededRandom } from '../../src/random.ts';
import { ManualClock } from '../../src/time.ts';
import { parseIpv4, parseMac } from '../../src/net/address.ts';

function fakeLink(carrier: boolean): Link & { carrierHandlers: CarrierHandler[] } {
  const mac = parseMac('02:00:00:00:00:02')!;
  const carrierHandlers: CarrierHandler[] = [];
  return {
    name: 'fake:0',
    mtu: 1500,
    mac,
    carrier,
    carrierHandlers,
    transmit: () => undefined,
    setReceiver: () => undefined,
    onCarrierChange: (handler) => carrierHandlers.push(handler),
    flush: () => undefined,
    close: () => undefined,
    stats: () => ({}),
  };
}

function attach(carrier: boolean): { events: RecordingEventSink; ledCarrier: boolean[]; loop: RealtimeLoop; link: ReturnType<typeof fakeLink> } {
  const events = new RecordingEventSink();
  const loop = new RealtimeLoop(new ManualClock(0));
  const link = fakeLink(carrier);
  const ledCarrier: boolean[] = [];
  attachStack(
    link,
    { mac: link.mac, address: parseIpv4('198.18.0.2')!, prefixLength: 24, mtu: 1500 },
    { loop, random: new SeededRandom(1), events, onCarrier: (up) => ledCarrier.push(up) },
  );
  loop.stop();
  return { events, ledCarrier, loop, link };
}

describe('attachStack', () => {
  it('starting with the cable out logs one link line, the cause of fault 1', () => {
    const { events, ledCarrier } = attach(false);
    const carrierEvents = events.events.filter((e) => e.event === 'fault' || e.event === 'link');
    assert.deepEqual(carrierEvents, [{ event: 'link', fields: { link: 'fake:0', carrier: 'down' } }]);
    assert.equal(raisedFault('link', carrierEvents[0]?.fields), 1);
    assert.deepEqual(ledCarrier, [false]);
  });

  it('starting with carrier up logs one link line, raises nothing, and later changes go the same way', () => {
    const { events, ledCarrier, link } = attach(true);
    assert.deepEqual(events.named('link'), [{ link: 'fake:0', carrier: 'up' }]);
    assert.equal(events.named('fault').length, 0);
    for (const handler of link.carrierHandlers) handler(false);
    for (const handler of link.carrierHandlers) handler(false);
    assert.deepEqual(events.named('link').at(-1), { link: 'fake:0', carrier: 'down' });
    assert.equal(events.named('link').length, 2, 'a repeated report is not logged again');
    assert.equal(raisedFault('link', events.named('link').at(-1)), 1);
    assert.deepEqual(ledCarrier, [true, false]);
  });
});
