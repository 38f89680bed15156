import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LineFramer, type FramedItem } from '../../../src/services/sensors/framer.ts';
import { SeededRandom } from '../../../src/random.ts';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function drain(framer: LineFramer): string[] {
  const out: string[] = [];
  for (let item: FramedItem | undefined; (item = framer.next()) !== undefined; ) {
    out.push(item.kind === 'line' ? `line:${new TextDecoder().decode(item.bytes)}` : 'too-long');
  }
  return out;
}

describe('LineFramer', () => {
  it('splits on LF and strips one CR before it', () => {
    const framer = new LineFramer(16);
    framer.push(bytes('PING\nPING a\r\n\nx\r\r\n'));
    assert.deepEqual(drain(framer), ['line:PING', 'line:PING a', 'line:', 'line:x\r']);
  });

  it('joins a line split across chunks', () => {
    const framer = new LineFramer(16);
    framer.push(bytes('PI'));
    assert.deepEqual(drain(framer), []);
    framer.push(bytes('NG 1'));
    assert.deepEqual(drain(framer), []);
    framer.push(bytes('\nTIME\n'));
    assert.deepEqual(drain(framer), ['line:PING 1', 'line:TIME']);
  });

  it('accepts exactly maxLine bytes, with or without CR, and rejects maxLine + 1', () => {
    const framer = new LineFramer(4);
    framer.push(bytes('abcd\nabcd\r\nabcde\nok\n'));
    assert.deepEqual(drain(framer), ['line:abcd', 'line:abcd', 'too-long', 'line:ok']);
    // The same split byte by byte.
    const slow = new LineFramer(4);
    const out: string[] = [];
    for (const byte of bytes('abcd\r\nabcde\nok\n')) {
      slow.push(Uint8Array.of(byte));
      out.push(...drain(slow));
    }
    assert.deepEqual(out, ['line:abcd', 'too-long', 'line:ok']);
  });

  it('reports an over-long line once, as soon as the bound is passed, and resynchronises at the next LF', () => {
    const framer = new LineFramer(8);
    framer.push(bytes('0123456789'));
    assert.deepEqual(drain(framer), ['too-long']);
    for (let i = 0; i < 100; i++) {
      framer.push(new Uint8Array(100_000).fill(0x41));
      assert.deepEqual(drain(framer), []);
      assert.equal(framer.bufferedLineBytes, 0);
    }
    framer.push(bytes('tail\nPING\n'));
    assert.deepEqual(drain(framer), ['line:PING']);
  });

  it('hands the unterminated last line over at end of input', () => {
    const framer = new LineFramer(8);
    framer.push(bytes('PING\nTIME\r'));
    assert.deepEqual(drain(framer), ['line:PING']);
    const last = framer.finish();
    assert.equal(last?.kind, 'line');
    assert.equal(new TextDecoder().decode(last.kind === 'line' ? last.bytes : undefined), 'TIME');
    assert.equal(framer.finish(), undefined);
  });

  it('never holds more than maxLine + 1 bytes of a line on random input', () => {
    const random = new SeededRandom(3);
    const framer = new LineFramer(32);
    let lines = 0;
    let tooLong = 0;
    for (let round = 0; round < 2000; round++) {
      const chunk = random.bytes(1 + (random.uint32() % 200));
      // LF about every 40 bytes: a mix of short lines and over-long ones.
      for (let i = 0; i < chunk.length; i++) if (random.uint32() % 40 === 0) chunk[i] = 0x0a;
      framer.push(chunk);
      for (let item = framer.next(); item !== undefined; item = framer.next()) {
        if (item.kind === 'line') {
          lines++;
          assert.ok(item.bytes.length <= 32);
          assert.ok(!item.bytes.includes(0x0a));
        } else {
          tooLong++;
        }
      }
      assert.ok(framer.bufferedLineBytes <= 33);
      assert.equal(framer.pendingInput, 0);
    }
    assert.ok(lines > 100 && tooLong > 100, `${lines} lines, ${tooLong} too long`);
  });

  it('frames the same lines however the stream is cut into chunks', () => {
    const random = new SeededRandom(13);
    const below = (limit: number): number => Math.floor(random.fraction() * limit);
    const alphabet = bytes('ab \r\n');
    for (let round = 0; round < 300; round++) {
      // Short lines and long ones (past maxLine 8), CRs anywhere, LFs often.
      const stream = Uint8Array.from({ length: below(120) }, () => (below(4) === 0 ? alphabet[4]! : alphabet[below(4)]!));
      const reference = new LineFramer(8);
      reference.push(stream);
      const whole = drain(reference);
      const last = reference.finish();
      const cut = new LineFramer(8);
      const pieces: string[] = [];
      for (let at = 0; at < stream.length; ) {
        const end = Math.min(stream.length, at + 1 + below(10));
        cut.push(stream.subarray(at, end));
        pieces.push(...drain(cut));
        at = end;
      }
      const cutLast = cut.finish();
      assert.deepEqual(pieces, whole, `round ${round}: ${JSON.stringify(new TextDecoder().decode(stream))}`);
      assert.deepEqual(cutLast?.kind === 'line' ? new TextDecoder().decode(cutLast.bytes) : cutLast?.kind, last?.kind === 'line' ? new TextDecoder().decode(last.bytes) : last?.kind);
    }
  });

  it('takes its carry-over buffer only when a line is split between chunks', () => {
    const framer = new LineFramer(16);
    const text = (item: FramedItem | undefined): string | undefined => (item?.kind === 'line' ? new TextDecoder().decode(item.bytes) : item?.kind);
    framer.push(new TextEncoder().encode('PING 1\nPING 2\n'));
    assert.equal(text(framer.next()), 'PING 1');
    assert.equal(text(framer.next()), 'PING 2');
    assert.equal(framer.next(), undefined);
    framer.push(new TextEncoder().encode('x'.repeat(40) + '\n'));
    assert.equal(text(framer.next()), 'too-long');
    assert.equal(framer.next(), undefined, 'the rest of the over-long line is skipped');
    assert.equal(framer.holdsLineBuffer, false, 'whole lines and over-long ones need none');
    framer.push(new TextEncoder().encode('PI'));
    assert.equal(framer.next(), undefined);
    assert.equal(framer.holdsLineBuffer, true);
    framer.push(new TextEncoder().encode('NG 3\r\n'));
    assert.equal(text(framer.next()), 'PING 3');
  });
});

