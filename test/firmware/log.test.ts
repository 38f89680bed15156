import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, formatPretty, levelForEvent, type LoggerOptions } from '../../firmware/log.ts';
import { ManualClock } from '../../src/time.ts';

/** 2023-11-14T22:13:20.000Z */
const EPOCH_MS = 1_700_000_000_000;

function capture(options: Omit<LoggerOptions, 'destination'> = {}) {
  const writes: string[] = [];
  const clock = new ManualClock(EPOCH_MS);
  const logger = createLogger({ clock, ...options, destination: { write: (text: string) => writes.push(text) } });
  return { logger, writes, clock };
}

/** Parses one write and checks it is exactly one line of JSON. */
function parseLine(text: string): Record<string, unknown> {
  assert.ok(text.endsWith('\n'), 'ends with a newline');
  assert.equal(text.indexOf('\n'), text.length - 1, 'exactly one line');
  return JSON.parse(text) as Record<string, unknown>;
}

describe('createLogger: JSON lines', () => {
  it('writes one JSON object a line with level, ts and event first and nothing else besides the fields', () => {
    const { logger, writes } = capture();
    logger.info('ready', { ip: '198.18.0.2', mtu: 1500, ports: { sensors: 7070, shell: 2323 } });
    assert.equal(writes.length, 1);
    const record = parseLine(writes[0] ?? '');
    assert.deepEqual(Object.keys(record), ['level', 'ts', 'event', 'ip', 'mtu', 'ports']);
    assert.deepEqual(record, {
      level: 'info',
      ts: '2023-11-14T22:13:20.000Z',
      event: 'ready',
      ip: '198.18.0.2',
      mtu: 1500,
      ports: { sensors: 7070, shell: 2323 },
    });
  });

  it('takes ts from the injected clock at the moment of each line', () => {
    const { logger, writes, clock } = capture();
    logger.info('one');
    clock.advance(1_500);
    logger.info('two');
    assert.deepEqual(
      writes.map((text) => parseLine(text)['ts']),
      ['2023-11-14T22:13:20.000Z', '2023-11-14T22:13:21.500Z'],
    );
  });

  it('writes the level as text for each method', () => {
    const { logger, writes } = capture({ level: 'debug' });
    logger.debug('a');
    logger.info('b');
    logger.warn('c');
    logger.error('d');
    assert.deepEqual(
      writes.map((text) => parseLine(text)['level']),
      ['debug', 'info', 'warn', 'error'],
    );
  });

  it('leaves out lines below the configured level (info by default)', () => {
    const { logger, writes } = capture();
    logger.debug('chatty');
    logger.info('kept');
    assert.deepEqual(
      writes.map((text) => parseLine(text)['event']),
      ['kept'],
    );
    const quiet = capture({ level: 'warn' });
    quiet.logger.info('dropped');
    quiet.logger.warn('kept');
    assert.equal(quiet.writes.length, 1);
  });

  it('keeps a line a line when a field holds a newline', () => {
    const { logger, writes } = capture();
    logger.warn('auth_fail', { user: 'evil\n{"level":"info"}' });
    assert.equal(parseLine(writes[0] ?? '')['user'], 'evil\n{"level":"info"}');
  });

  it('makes fields JSON-friendly: MACs, bytes, errors, bigints', () => {
    const { logger, writes } = capture();
    const error = Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
    logger.info('conn_close', { mac: Uint8Array.of(2, 0, 0x5e, 0x12, 0, 2), bytes: Uint8Array.of(1, 0xab), error, counter: 12n, reason: 'rst' });
    const record = parseLine(writes[0] ?? '');
    assert.equal(record['mac'], '02:00:5e:12:00:02');
    assert.equal(record['bytes'], '01ab');
    assert.deepEqual(record['error'], { name: 'Error', message: 'connection reset', code: 'ECONNRESET' });
    assert.equal(record['counter'], '12');
    assert.equal(record['msg'], undefined, 'no message key of pino');
  });

  it('renames fields that would shadow level, ts or event', () => {
    const { logger, writes } = capture();
    logger.info('led', { level: 'high', ts: 5, event: 'x', err: 'e', led: 'fault' });
    const record = parseLine(writes[0] ?? '');
    assert.equal(record['level'], 'info');
    assert.equal(record['event'], 'led');
    assert.equal(record['ts'], '2023-11-14T22:13:20.000Z');
    assert.deepEqual([record['_level'], record['_ts'], record['_event'], record['_err'], record['led']], ['high', 5, 'x', 'e', 'fault']);
  });

  it('does not throw when the destination fails', () => {
    const logger = createLogger({
      destination: {
        write: () => {
          throw new Error('EPIPE');
        },
      },
    });
    assert.doesNotThrow(() => logger.error('fault', { code: 1 }));
    assert.equal(logger.recent().length, 1, 'the line is still kept for the shell');
  });

  it('writes to a file descriptor synchronously by default', async () => {
    const { mkdtempSync, openSync, closeSync, readFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const directory = mkdtempSync(join(tmpdir(), 'piwire-log-'));
    try {
      const file = join(directory, 'log.jsonl');
      const descriptor = openSync(file, 'w');
      const logger = createLogger({ destination: descriptor, clock: new ManualClock(EPOCH_MS) });
      logger.info('ready', { mtu: 576 });
      // No flush, no await: a synchronous destination has written the line already.
      const record = parseLine(readFileSync(file, 'utf8'));
      assert.deepEqual(record, { level: 'info', ts: '2023-11-14T22:13:20.000Z', event: 'ready', mtu: 576 });
      logger.flush();
      closeSync(descriptor);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});

describe('createLogger: stack events', () => {
  it('turns EventSink events into log lines', () => {
    const { logger, writes } = capture();
    logger.events.emit('conn_open', { id: 4, remote: '198.18.0.7:40000' });
    logger.events.emit('conn_close', { id: 4, reason: 'keepalive_timeout' });
    logger.events.emit('peer_lost', { remote: '198.18.0.7' });
    logger.events.emit('link', { carrier: 'down' });
    logger.events.emit('fault', { code: 1, text: 'no carrier' });
    logger.events.emit('ready');
    const records = writes.map(parseLine);
    assert.deepEqual(
      records.map((record) => [record['event'], record['level']]),
      [
        ['conn_open', 'info'],
        ['conn_close', 'info'],
        ['peer_lost', 'warn'],
        ['link', 'warn'],
        ['fault', 'warn'],
        ['ready', 'info'],
      ],
    );
    assert.equal(records[1]?.['reason'], 'keepalive_timeout');
  });

  it('levelForEvent: problems are warnings, the rest information', () => {
    assert.equal(levelForEvent('auth_fail'), 'warn');
    assert.equal(levelForEvent('auth_lockout'), 'warn');
    assert.equal(levelForEvent('link', { carrier: 'up' }), 'info');
    assert.equal(levelForEvent('led', { led: 'fault', pattern: 'code', code: 3 }), 'info');
  });
});

describe('createLogger: recent lines for the shell', () => {
  it('keeps the last lines, oldest first, as JSON', () => {
    const { logger } = capture({ recentCapacity: 3 });
    for (let index = 1; index <= 5; index += 1) logger.info('tick', { index });
    const recent = logger.recent();
    assert.deepEqual(
      recent.map((line) => (JSON.parse(line) as { index: number }).index),
      [3, 4, 5],
    );
    assert.deepEqual(
      logger.recent(2).map((line) => (JSON.parse(line) as { index: number }).index),
      [4, 5],
    );
    assert.deepEqual(logger.recent(0), []);
    assert.equal(logger.recent(100).length, 3);
  });

  it('keeps JSON in the ring even when the output is pretty', () => {
    const { logger, writes } = capture({ format: 'pretty' });
    logger.info('ready', { ip: '198.18.0.2' });
    assert.equal(writes[0], '2023-11-14T22:13:20.000Z INFO  ready ip=198.18.0.2\n');
    assert.deepEqual(JSON.parse(logger.recent(1)[0] ?? ''), { level: 'info', ts: '2023-11-14T22:13:20.000Z', event: 'ready', ip: '198.18.0.2' });
  });
});

describe('formatPretty', () => {
  it('writes one human line: time, level, event, key=value with quoting where needed', () => {
    const line = '{"level":"warn","ts":"2023-11-14T22:13:20.000Z","event":"conn_close","id":3,"reason":"user_timeout","text":"a b","ok":true,"ports":[1,2]}';
    assert.equal(formatPretty(line), '2023-11-14T22:13:20.000Z WARN  conn_close id=3 reason=user_timeout text="a b" ok=true ports=[1,2]');
  });

  it('passes through a line that is not JSON', () => {
    assert.equal(formatPretty('not json'), 'not json');
  });
});
