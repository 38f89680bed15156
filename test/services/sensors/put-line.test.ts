/**
 * The in-place PUT reader against parseRequest, the reference: whatever it takes must be
 * exactly what parseRequest makes of the line; what it leaves is left to parseRequest.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { parsePutLine, type PutFields } from '../../../src/services/sensors/put-line.ts';
import { parseRequest } from '../../../src/services/sensors/request.ts';
import { SeededRandom } from '../../../src/random.ts';

const encode = (text: string): Uint8Array => new TextEncoder().encode(text);

/** parsePutLine's result as parseRequest's, or undefined when it leaves the line. */
function fast(bytes: Uint8Array, start = 0, end = bytes.length): { name: string; value: number; timestamp: number | undefined } | undefined {
  const into: PutFields = { name: '', value: Number.NaN, timestamp: -2 };
  if (!parsePutLine(bytes, start, end, into)) return undefined;
  return { name: into.name, value: into.value, timestamp: into.timestamp < 0 ? undefined : into.timestamp };
}

/** Asserts the differential property for one line: taken ⇒ parseRequest gives the same PUT. */
function agrees(bytes: Uint8Array, label: string): boolean {
  const taken = fast(bytes);
  if (taken === undefined) return false;
  const reference = parseRequest(bytes);
  assert.ok(reference.ok === true && reference.request.verb === 'PUT', `${label}: taken, but parseRequest says ${JSON.stringify(reference)}`);
  assert.deepEqual(taken, { name: reference.request.name, value: reference.request.value, timestamp: reference.request.timestamp }, label);
  // Object.is: -0 stays -0.
  assert.ok(Object.is(taken.value, reference.request.value), `${label}: ${taken.value} vs ${reference.request.value}`);
  return true;
}

describe('parsePutLine', () => {
  it('takes the common PUT forms, with the values parseRequest gives', () => {
    const lines = [
      'PUT bench.c7 123.7',
      'put a 1',
      'Put room/1.temp -21.5 1700000000000',
      '\t PUT  x_y-z  +3.25 \t 0 ',
      'PUT a -0',
      'PUT a -0.0',
      'PUT a .5',
      'PUT a 7.',
      'PUT a 999999999999999',
      'PUT a .000000000000001',
      'PUT a 0.1',
      'PUT a 123456.789012345',
      `PUT ${'n'.repeat(64)} 1 8640000000000000`,
      'PUT a 1 0000000000000001',
    ];
    for (const line of lines) assert.ok(agrees(encode(line), line), `not taken: ${line}`);
    assert.deepEqual(fast(encode('PUT bench.c7 123.7')), { name: 'bench.c7', value: 123.7, timestamp: undefined });
    assert.ok(Object.is(fast(encode('PUT a -0'))!.value, -0));
  });

  it('reads a range of a larger array (the framer hands lines in place)', () => {
    const bytes = encode('xxPUT a 12 34\nPUT b 5\n');
    assert.deepEqual(fast(bytes, 2, 13), { name: 'a', value: 12, timestamp: 34 });
    assert.deepEqual(fast(bytes, 14, 21), { name: 'b', value: 5, timestamp: undefined });
  });

  it('leaves everything else to parseRequest: other verbs, errors, exponents, long numbers, non-ASCII', () => {
    const lines = [
      '',
      'PUT',
      'PUT a',
      'PUT a 1 2 3',
      'PUTa 1',
      'PUTS a 1',
      'GET a',
      'PUT bad:name 1',
      `PUT ${'n'.repeat(65)} 1`,
      'PUT a 1e3',
      'PUT a 1E-3',
      'PUT a 0x10',
      'PUT a Infinity',
      'PUT a NaN',
      'PUT a .',
      'PUT a -',
      'PUT a 1.2.3',
      'PUT a 1_000',
      'PUT a 1234567890123456',
      'PUT a 0.0000000000000001',
      'PUT a 1 -5',
      'PUT a 1 1.5',
      'PUT a 1 8640000000000001',
      'PUT a 1 12345678901234567',
      'PUT a 1\u0000',
      'PUT a 1\u007f',
      'PUT a\u00e9 1',
      'PUT a 1 x',
    ];
    for (const line of lines) assert.equal(fast(encode(line)), undefined, line);
  });

  it('interns names: the same string for the same bytes, a right one after a collision', () => {
    const first = fast(encode('PUT sensor.one 1'))!.name;
    assert.equal(fast(encode('PUT sensor.one 2'))!.name, first);
    // Many names through the table: each read back correctly whatever it evicted.
    for (let i = 0; i < 20_000; i++) assert.equal(fast(encode(`PUT n${i} 1`))!.name, `n${i}`);
    assert.equal(fast(encode('PUT sensor.one 3'))!.name, 'sensor.one');
  });

  it('agrees with parseRequest on random lines near the PUT grammar', () => {
    const random = new SeededRandom(13);
    const pick = <T>(items: readonly T[]): T => items[random.uint32() % items.length]!;
    const digits = (n: number): string => Array.from({ length: n }, () => String(random.uint32() % 10)).join('');
    const pieces = {
      verb: ['PUT', 'put', 'pUt', 'PUX', 'PU', 'GET'],
      blank: [' ', '\t', '  ', ' \t ', ''],
      name: ['a', 'b.c', 'x/y_z-1', 'n'.repeat(64), 'n'.repeat(65), 'bad:x', 'é'],
      sign: ['', '', '-', '+', '--'],
      number: [] as string[],
    };
    let taken = 0;
    for (let round = 0; round < 20_000; round++) {
      const integer = digits(random.uint32() % 10);
      const fraction = random.uint32() % 3 === 0 ? '' : `.${digits(random.uint32() % 10)}`;
      const exponent = random.uint32() % 8 === 0 ? `e${pick(['', '-', '+'])}${digits(random.uint32() % 3)}` : '';
      const stamp = random.uint32() % 3 === 0 ? `${pick(pieces.blank)}${digits(random.uint32() % 18)}` : '';
      const line = `${pick(pieces.blank)}${pick(pieces.verb)}${pick(pieces.blank)}${pick(pieces.name)}${pick(pieces.blank)}${pick(pieces.sign)}${integer}${fraction}${exponent}${stamp}${pick(pieces.blank)}`;
      if (agrees(encode(line), JSON.stringify(line))) taken++;
    }
    // The generator reaches both sides: a test that took nothing would prove nothing.
    assert.ok(taken > 2_000 && taken < 18_000, `taken ${taken}`);
  });

  it('agrees with parseRequest on random bytes', () => {
    const random = new SeededRandom(21);
    const alphabet = encode('PUTput \t.-+0123456789eE:/_xé\u0000');
    for (let round = 0; round < 20_000; round++) {
      const length = random.uint32() % 40;
      const bytes = new Uint8Array(length);
      for (let i = 0; i < length; i++) bytes[i] = alphabet[random.uint32() % alphabet.length]!;
      agrees(bytes, `bytes ${Array.from(bytes).join(',')}`);
    }
  });
});

describe('the name table', () => {
  it('is made by the first PUT read, not when the module loads or for a line it leaves', () => {
    // A process of its own: in this one another test file may have read PUTs already.
    const script = [
      "import { parsePutLine, nameTableMade } from './src/services/sensors/put-line.ts';",
      "const into = { name: '', value: 0, timestamp: -1 };",
      'const atLoad = nameTableMade();',
      "const left = parsePutLine(new TextEncoder().encode('GET x'), 0, 5, into);",
      'const afterOther = nameTableMade();',
      "const taken = parsePutLine(new TextEncoder().encode('PUT x 1'), 0, 7, into);",
      'console.log(JSON.stringify({ atLoad, left, afterOther, taken, afterPut: nameTableMade(), name: into.name }));',
    ].join('\n');
    const root = new URL('../../..', import.meta.url).pathname;
    const output = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    assert.deepEqual(JSON.parse(output), { atLoad: false, left: false, afterOther: false, taken: true, afterPut: true, name: 'x' });
  });
});
