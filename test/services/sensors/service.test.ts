/**
 * The sensor service end to end: the device's stack serves it, the peer's stack is
 * the sensor, on a memory wire in virtual time (test/support/stack-pair.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createStackPair, DEVICE_IP } from '../../support/stack-pair.ts';
import { startSensorService } from '../../../src/services/sensors/service.ts';
import { MemoryReadingStore } from '../../../src/storage/readings.ts';
import { ManualClock } from '../../../src/time.ts';
import type { Socket } from '../../../src/socket/socket.ts';

function client(socket: Socket): { lines: () => string[]; ended: () => boolean; closed: () => boolean } {
  let text = '';
  let ended = false;
  let closed = false;
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  socket.on('end', () => (ended = true));
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  return { lines: () => text.split('\n').slice(0, -1), ended: () => ended, closed: () => closed };
}

function setup(options: { subscriberOutputLimit?: number } = {}) {
  const pair = createStackPair();
  const store = new MemoryReadingStore({ autoCommit: true });
  const wall = new ManualClock(1_700_000_000_000);
  const service = startSensorService({
    api: pair.device.net,
    port: 7070,
    store,
    clock: pair.world.clock,
    wallClock: wall,
    events: pair.deviceEvents,
    counters: pair.device.counters,
    subscriberOutputLimit: options.subscriberOutputLimit,
  });
  const connect = () => pair.peer.net.connect({ host: DEVICE_IP, port: 7070 });
  return { ...pair, store, service, connect };
}

describe('sensor service over TCP', () => {
  it('serves a sensor session end to end, pipelined, and closes on QUIT', async () => {
    const { world, connect, store, service } = setup();
    const socket = connect();
    const view = client(socket);
    socket.write('HELLO probe-1\r\nPUT room.temp 21.25 1700000000123\nGET room.temp\nLIST\nPING t\nQUIT\n');
    assert.ok(await world.runUntilDone(() => view.ended(), 10_000));
    assert.deepEqual(view.lines(), ['OK hello probe-1', 'OK', 'VAL room.temp 21.25 1700000000123 probe-1', 'VAL room.temp 21.25 1700000000123 probe-1', 'END', 'PONG t', 'BYE']);
    assert.equal(store.committed.length, 1);
    assert.ok(await world.runUntilDone(() => service.connections === 0, 10_000));
  });

  it('keeps a connection after an over-long line and binary garbage, without disturbing another', async () => {
    const { world, connect } = setup();
    const noisy = connect();
    const quiet = connect();
    const noisyView = client(noisy);
    const quietView = client(quiet);
    noisy.write(Buffer.concat([Buffer.alloc(200_000, 0x41), Buffer.from('\n'), Buffer.from([0, 0xff, 0xfe, 0x0a]), Buffer.from('PING alive\n')]));
    quiet.write('PING other\n');
    assert.ok(await world.runUntilDone(() => noisyView.lines().length >= 3 && quietView.lines().length >= 1, 60_000));
    assert.deepEqual(noisyView.lines(), ['ERR 413 line too long', 'ERR 400 control character in line', 'PONG alive']);
    assert.deepEqual(quietView.lines(), ['PONG other']);
    assert.equal(noisyView.closed(), false);
  });

  it('fans committed readings out to subscribers, including published local ones', async () => {
    const { world, connect, service } = setup();
    const subscriber = connect();
    const view = client(subscriber);
    subscriber.write('SUB bme280.*\n');
    assert.ok(await world.runUntilDone(() => view.lines().length === 1, 5_000));
    const sensor = connect();
    sensor.write('HELLO s\nPUT bme280.humidity 45.5 1000\nPUT other 1 1000\n');
    await service.publish({ name: 'bme280.temperature', value: 20.5, timestamp: 2000, source: 'i2c' });
    assert.ok(await world.runUntilDone(() => view.lines().length === 3, 5_000));
    assert.deepEqual(view.lines().slice(1).sort(), ['VAL bme280.humidity 45.5 1000 s', 'VAL bme280.temperature 20.5 2000 i2c']);
    await assert.rejects(service.publish({ name: 'bad name', value: 1, timestamp: 1, source: 'i2c' }), RangeError);
  });

  it('closes a subscriber that stops reading with ERR 507 too slow', async () => {
    const { world, connect, store, deviceEvents } = setup({ subscriberOutputLimit: 4096 });
    const subscriber = connect();
    const view = client(subscriber);
    subscriber.write('SUB *\n');
    assert.ok(await world.runUntilDone(() => view.lines().length === 1, 5_000));
    subscriber.pause(); // stops reading: its receive window fills, then the device's buffers
    for (let i = 0; i < 2000; i++) store.index.commit({ name: `n${i}`, value: i, timestamp: 1, source: 's' });
    await world.runFor(1_000);
    assert.equal(deviceEvents.named('sensor_too_slow').length, 1);
    subscriber.resume();
    assert.ok(await world.runUntilDone(() => view.closed(), 30_000));
    assert.equal(view.lines().at(-1), 'ERR 507 too slow');
    assert.ok(view.lines().length < 2000);
  });

  it('resets a subscriber that still reads nothing closeGraceMs after ERR 507: no orphan is left probing', async () => {
    const { world, connect, store, deviceEvents, device, service } = setup({ subscriberOutputLimit: 4096 });
    const subscriber = connect();
    const view = client(subscriber);
    let reset = false;
    subscriber.on('error', (error: { code?: string }) => (reset ||= error.code === 'ECONNRESET'));
    subscriber.write('SUB *\n');
    assert.ok(await world.runUntilDone(() => view.lines().length === 1, 5_000));
    subscriber.pause(); // and never reads again
    for (let i = 0; i < 2000; i++) store.index.commit({ name: `n${i}`, value: i, timestamp: 1, source: 's' });
    await world.runFor(1_000);
    assert.equal(deviceEvents.named('sensor_too_slow').length, 1);
    const before = device.counters.get('tcp.tx.rst');
    await world.runFor(6_000); // past the 5 s grace
    assert.equal(device.counters.get('tcp.tx.rst') - before, 1, 'the grace ends in a reset');
    assert.equal(service.connections, 0);
    assert.equal(device.tcp.orphanCount, 0, 'nothing left probing a window that never opens');
    assert.deepEqual([...device.tcp.connections()], []);
    assert.ok(await world.runUntilDone(() => reset, 1_000), 'the subscriber sees ECONNRESET');
  });

  it('stops reading a sensor that pipelines past maxPendingReplies, so its window closes, and resumes: every reply, in order', async () => {
    const { world, device, peer, deviceEvents } = createStackPair();
    const store = new MemoryReadingStore(); // commits only when told
    const service = startSensorService({
      api: device.net,
      port: 7070,
      store,
      clock: world.clock,
      wallClock: new ManualClock(1_700_000_000_000),
      events: deviceEvents,
      maxPendingReplies: 2,
    });
    const socket = peer.net.connect({ host: DEVICE_IP, port: 7070 });
    const view = client(socket);
    let requests = '';
    for (let i = 0; i < 4000; i++) requests += `PUT n${i} ${i} 1700000000000\n`;
    socket.write(requests); // ~100 KB: more than the receive buffer and one read
    await world.runFor(2_000);
    // Two PUTs wait for their commit: the session reads no more, the rest stays in TCP.
    const [connection] = [...device.tcp.connections()];
    assert.ok(connection !== undefined && connection.readableLength > 0, 'input left in the receive buffer');
    assert.equal(connection.receiveWindow(), 0, 'the window closed on the sensor');
    assert.equal(view.lines().length, 0);
    for (let round = 0; round < 5000 && view.lines().length < 4000; round++) {
      store.commit();
      await world.runFor(10);
    }
    assert.deepEqual(view.lines(), new Array<string>(4000).fill('OK'));
    assert.equal(store.committed.length, 4000);
    service.close();
  });

  it('close() lets go of every connection as a socket destroy() did: FIN, and no connection left', async () => {
    const { world, connect, service, device } = setup();
    const views = [connect(), connect()].map((socket) => {
      socket.write('PING\n');
      return client(socket);
    });
    assert.ok(await world.runUntilDone(() => views.every((view) => view.lines().length === 1), 5_000));
    assert.equal(service.connections, 2);
    service.close();
    assert.equal(service.connections, 0);
    assert.ok(await world.runUntilDone(() => views.every((view) => view.ended()), 5_000), 'each sensor sees the end of the data');
    assert.ok(await world.runUntilDone(() => [...device.tcp.connections()].length === 0, 30_000));
  });

  it('reads and drops what a sensor sends after QUIT, so nothing is left unread in TCP', async () => {
    const { world, device, peer } = setup();
    // A sensor that keeps its side open after the device's FIN, and keeps sending.
    const socket = peer.net.connect({ host: DEVICE_IP, port: 7070, allowHalfOpen: true });
    const view = client(socket);
    socket.write('QUIT\n');
    assert.ok(await world.runUntilDone(() => view.lines().includes('BYE'), 5_000));
    socket.write(Buffer.alloc(32 * 1024, 0x41));
    await world.runFor(1_000);
    const connections = [...device.tcp.connections()];
    assert.equal(connections.length, 1, 'the device waits for the sensor to close its side');
    assert.equal(connections[0]!.readableLength, 0);
    socket.end();
    assert.ok(await world.runUntilDone(() => view.closed(), 10_000));
  });
});
