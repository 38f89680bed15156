import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseNumber, parseRequest, type ParseResult } from '../../../src/services/sensors/request.ts';
import { formatNumber } from '../../../src/services/sensors/reply.ts';
import { SeededRandom } from '../../../src/random.ts';

const parse = (text: string): ParseResult => parseRequest(new TextEncoder().encode(text));

describe('parseRequest', () => {
  it('parses every verb, case-insensitively', () => {
    assert.deepEqual(parse('hello sensor-7'), { ok: true, request: { verb: 'HELLO', sensorId: 'sensor-7' } });
    assert.deepEqual(parse('PUT room/1.temp 21.5'), { ok: true, request: { verb: 'PUT', name: 'room/1.temp', value: 21.5, timestamp: undefined } });
    assert.deepEqual(parse('Put a -1e3 1700000000000'), { ok: true, request: { verb: 'PUT', name: 'a', value: -1000, timestamp: 1700000000000 } });
    assert.deepEqual(parse('get a'), { ok: true, request: { verb: 'GET', name: 'a' } });
    assert.deepEqual(parse('LIST'), { ok: true, request: { verb: 'LIST' } });
    assert.deepEqual(parse('sub bme280.*'), { ok: true, request: { verb: 'SUB', glob: 'bme280.*' } });
    assert.deepEqual(parse('UNSUB'), { ok: true, request: { verb: 'UNSUB' } });
    assert.deepEqual(parse('time'), { ok: true, request: { verb: 'TIME' } });
    assert.deepEqual(parse('PING'), { ok: true, request: { verb: 'PING', token: undefined } });
    assert.deepEqual(parse('ping abc!'), { ok: true, request: { verb: 'PING', token: 'abc!' } });
    assert.deepEqual(parse('QUIET ON'), { ok: true, request: { verb: 'QUIET', on: true } });
    assert.deepEqual(parse('quiet off'), { ok: true, request: { verb: 'QUIET', on: false } });
    assert.deepEqual(parse('QUIT'), { ok: true, request: { verb: 'QUIT' } });
  });

  it('takes any run of blanks between fields and ignores blank lines', () => {
    assert.deepEqual(parse(' \tGET \t  a  '), { ok: true, request: { verb: 'GET', name: 'a' } });
    assert.deepEqual(parse(''), { ok: 'blank' });
    assert.deepEqual(parse(' \t '), { ok: 'blank' });
  });

  it('answers bad syntax with ERR 400 and a reason', () => {
    const cases: [string, string][] = [
      ['FROB', 'ERR 400 unknown verb FROB'],
      ['HELLO', 'ERR 400 usage: HELLO <sensor-id>'],
      ['HELLO a b', 'ERR 400 usage: HELLO <sensor-id>'],
      ['HELLO bad:id', 'ERR 400 bad sensor-id (1-64 of A-Z a-z 0-9 _ . - /)'],
      [`HELLO ${'x'.repeat(65)}`, 'ERR 400 bad sensor-id (1-64 of A-Z a-z 0-9 _ . - /)'],
      ['PUT a', 'ERR 400 usage: PUT <name> <number> [<unix-ms>]'],
      ['PUT a 1 2 3', 'ERR 400 usage: PUT <name> <number> [<unix-ms>]'],
      ['PUT a* 1', 'ERR 400 bad name (1-64 of A-Z a-z 0-9 _ . - /)'],
      ['PUT a NaN', 'ERR 400 bad number'],
      ['PUT a Infinity', 'ERR 400 bad number'],
      ['PUT a 0x10', 'ERR 400 bad number'],
      ['PUT a 1e999', 'ERR 400 bad number'],
      ['PUT a 1_000', 'ERR 400 bad number'],
      ['PUT a 1 -5', 'ERR 400 bad unix-ms'],
      ['PUT a 1 1.5', 'ERR 400 bad unix-ms'],
      ['PUT a 1 99999999999999999', 'ERR 400 bad unix-ms'],
      ['PUT a 1 8640000000000001', 'ERR 400 bad unix-ms'],
      ['GET', 'ERR 400 usage: GET <name>'],
      ['LIST x', 'ERR 400 usage: LIST'],
      ['SUB a[b]', 'ERR 400 bad glob (1-64 of A-Z a-z 0-9 _ . - / * ?)'],
      ['QUIET maybe', 'ERR 400 usage: QUIET on|off'],
      ['PING a b', 'ERR 400 usage: PING [token]'],
      ['GET a\0b', 'ERR 400 control character in line'],
      ['\x1b[2J', 'ERR 400 control character in line'],
      ['h\u00e9llo', 'ERR 400 unknown verb'],
    ];
    for (const [line, error] of cases) assert.deepEqual(parse(line), { ok: false, error }, line);
    assert.deepEqual(parseRequest(Uint8Array.of(0x50, 0xc3, 0x28)), { ok: false, error: 'ERR 400 invalid UTF-8' });
    assert.deepEqual(parseRequest(Uint8Array.of(0xff, 0xfe)), { ok: false, error: 'ERR 400 invalid UTF-8' });
  });

  it('never throws and always classifies random bytes', () => {
    const random = new SeededRandom(11);
    for (let i = 0; i < 5000; i++) {
      const line = random.bytes(random.uint32() % 80).filter((byte) => byte !== 0x0a);
      const result = parseRequest(line);
      if (result.ok === false) assert.match(result.error, /^ERR 400 [ -~]+$/);
    }
  });
});

describe('numbers', () => {
  it('accepts integers, decimals and exponents and rejects everything else', () => {
    for (const [text, value] of [['0', 0], ['-12', -12], ['+3', 3], ['3.', 3], ['.5', 0.5], ['1e-3', 0.001], ['2.5E+2', 250]] as const) {
      assert.equal(parseNumber(text), value, text);
    }
    for (const text of ['', '-', '.', 'e3', '1e', '1.2.3', ' 1', 'Infinity', '-Infinity', 'NaN', '0b1', '1,5']) {
      assert.equal(parseNumber(text), undefined, text);
    }
  });

  it('formats numbers so that they parse back to the same double', () => {
    const random = new SeededRandom(5);
    const samples = [0, -0, 1, -1, 0.1, 1 / 3, 1e21, 1e-7, 5e-324, Number.MAX_VALUE, -Number.MIN_VALUE, 123456789012345680000];
    const view = new DataView(new ArrayBuffer(8));
    for (let i = 0; i < 2000; i++) {
      view.setUint32(0, random.uint32());
      view.setUint32(4, random.uint32());
      const value = view.getFloat64(0);
      if (Number.isFinite(value)) samples.push(value);
    }
    for (const value of samples) {
      const parsed = parseNumber(formatNumber(value));
      assert.ok(Object.is(parsed, value), `${value} → ${formatNumber(value)} → ${parsed}`);
    }
  });
});
