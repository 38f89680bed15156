import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  IDENTIFIER_PATTERN,
  LatestIndex,
  RECORD_HEADER_LENGTH,
  decodeRecords,
  encodeRecord,
  encodeRecordInto,
  isIdentifier,
  recordLength,
  type StoredReading,
} from '../../src/storage/readings.ts';
import { Counters } from '../../src/stats.ts';
import { SeededRandom } from '../../src/random.ts';
import referenceCrc32c from 'crc-32/crc32c.js';

const reading = (sequence: number, name = 'bme280.temperature', value = 21.5): StoredReading => ({
  sequence,
  name,
  value,
  timestamp: 1_700_000_000_000 + sequence,
  source: 'i2c',
});

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

describe('record encoding', () => {
  it('lays out header, CRC-32C and fields as documented', () => {
    const bytes = encodeRecord({ sequence: 1, name: 'a', value: 1, timestamp: 2, source: 'b' });
    assert.equal(bytes.length, recordLength({ name: 'a', value: 1, timestamp: 2, source: 'b' }));
    const view = new DataView(bytes.buffer);
    assert.equal(view.getUint32(0, true), bytes.length - RECORD_HEADER_LENGTH); // payload length
    assert.equal(bytes[8], 1); // version
    assert.equal(view.getFloat64(9, true), 1); // sequence
    assert.equal(view.getFloat64(17, true), 2); // timestamp
    assert.equal(view.getFloat64(25, true), 1); // value
    assert.deepEqual([...bytes.subarray(33)], [1, 0x61, 1, 0x62]); // name, source
  });

  it('stores the CRC-32C of the length field and payload, with the high bit set or not (the on-disk format)', () => {
    let highBit = 0;
    for (let sequence = 1; sequence <= 200; sequence++) {
      const bytes = encodeRecord(reading(sequence, `n${sequence}`, sequence / 7));
      const covered = concat([bytes.subarray(0, 4), bytes.subarray(RECORD_HEADER_LENGTH)]);
      const expected = referenceCrc32c.buf(covered) >>> 0;
      assert.equal(new DataView(bytes.buffer).getUint32(4, true), expected, `record ${sequence}`);
      if (expected >= 2 ** 31) highBit++;
      assert.equal(decodeRecords(bytes).records.length, 1);
    }
    assert.ok(highBit > 50 && highBit < 150, `CRCs at or above 2^31: ${highBit} of 200`);
  });

  it('round-trips records', () => {
    const records = [reading(1), reading(2, 'x/y_z-9', -0.000123), reading(3, 'n'.repeat(64), 1e300)];
    const decoded = decodeRecords(concat(records.map(encodeRecord)));
    assert.deepEqual(decoded.records, records);
    assert.equal(decoded.tailProblem, undefined);
  });

  it('refuses to encode an invalid reading (programmer error)', () => {
    assert.throws(() => encodeRecord({ ...reading(1), name: 'bad name' }), RangeError);
    assert.throws(() => encodeRecord({ ...reading(1), value: NaN }), RangeError);
  });

  it('stops at a torn tail at every possible cut, never misreading it', () => {
    const whole = concat([reading(1), reading(2), reading(3)].map(encodeRecord));
    const first = encodeRecord(reading(1)).length;
    for (let cut = 0; cut < whole.length; cut++) {
      const counters = new Counters();
      const decoded = decodeRecords(whole.subarray(0, cut), counters);
      const complete = Math.floor(cut / first);
      assert.equal(decoded.records.length, complete, `cut ${cut}`);
      assert.equal(decoded.validLength, complete * first);
      if (cut % first !== 0) {
        assert.equal(decoded.tailProblem, 'torn');
        assert.equal(counters.get('store.drop.torn'), 1);
      } else {
        assert.equal(decoded.tailProblem, undefined);
      }
    }
  });

  it('detects any single flipped bit in a record (CRC-32C), and reads nothing past it', () => {
    const records = [reading(1), reading(2), reading(3)];
    const whole = concat(records.map(encodeRecord));
    const size = encodeRecord(reading(1)).length;
    for (let bit = 0; bit < size * 8; bit++) {
      const damaged = whole.slice();
      damaged[size + (bit >> 3)]! ^= 1 << (bit & 7);
      const decoded = decodeRecords(damaged);
      assert.equal(decoded.records.length, 1, `bit ${bit}`);
      assert.equal(decoded.validLength, size);
      assert.ok(decoded.tailProblem === 'bad-crc' || decoded.tailProblem === 'bad-length' || decoded.tailProblem === 'torn', decoded.tailProblem);
    }
  });

  it('never throws on random bytes, and what it accepts is exactly a valid prefix', () => {
    const random = new SeededRandom(9);
    for (let i = 0; i < 2000; i++) {
      const bytes = random.bytes(random.uint32() % 400);
      const decoded = decodeRecords(bytes);
      assert.ok(decoded.validLength >= 0 && decoded.validLength <= bytes.length, `run ${i}: valid length ${decoded.validLength} of ${bytes.length}`);
      // The records read are the valid prefix, byte for byte: re-encoding them gives it back.
      assert.deepEqual(Buffer.from(concat(decoded.records.map(encodeRecord))), Buffer.from(bytes.subarray(0, decoded.validLength)), `run ${i}`);
      // Whatever was not read has a reason.
      assert.equal(decoded.tailProblem !== undefined, decoded.validLength < bytes.length, `run ${i}: ${decoded.tailProblem}`);
    }
  });

  it('reads the valid records in front of random garbage and stops at the garbage', () => {
    const random = new SeededRandom(10);
    const records = [reading(1), reading(2, 'x'), reading(3, 'y', -5)];
    const valid = concat(records.map(encodeRecord));
    for (let i = 0; i < 500; i++) {
      const garbage = random.bytes(1 + (random.uint32() % 200));
      const decoded = decodeRecords(concat([valid, garbage]));
      assert.deepEqual(decoded.records.slice(0, records.length), records, `run ${i}`);
      assert.ok(decoded.validLength >= valid.length, `run ${i}`);
    }
  });
});

describe('LatestIndex', () => {
  it('keeps the newest reading per name by timestamp and lists by name', () => {
    const index = new LatestIndex();
    index.apply({ name: 'b', value: 1, timestamp: 10, source: 's' });
    index.apply({ name: 'a', value: 2, timestamp: 10, source: 's' });
    index.apply({ name: 'b', value: 3, timestamp: 5, source: 's' }); // back-filled: older
    index.apply({ name: 'a', value: 4, timestamp: 10, source: 't' }); // same instant: later wins
    assert.deepEqual(index.list(), [
      { name: 'a', value: 4, timestamp: 10, source: 't' },
      { name: 'b', value: 1, timestamp: 10, source: 's' },
    ]);
  });

  it('tells subscribers of commits, not of replay, and bounds names', () => {
    const index = new LatestIndex(2);
    const seen: string[] = [];
    const stop = index.subscribe((r) => seen.push(r.name));
    index.apply({ name: 'a', value: 1, timestamp: 1, source: 's' });
    index.commit({ name: 'b', value: 1, timestamp: 1, source: 's' });
    assert.equal(index.accepts('c'), false);
    assert.equal(index.accepts('a'), true);
    stop();
    index.commit({ name: 'a', value: 2, timestamp: 2, source: 's' });
    assert.deepEqual(seen, ['b']);
    assert.equal(index.latest('a')?.value, 2);
  });
});

describe('identifiers and packed records', () => {
  it('isIdentifier accepts exactly what IDENTIFIER_PATTERN does (every BMP character, every length edge)', () => {
    for (let code = 0; code <= 0xffff; code++) {
      const text = String.fromCharCode(code);
      assert.equal(isIdentifier(text), IDENTIFIER_PATTERN.test(text), `U+${code.toString(16)}`);
    }
    for (const text of ['', 'a'.repeat(64), 'a'.repeat(65), 'bme280.temperature', 'a b', 'x/y-z_1.2', 'é']) {
      assert.equal(isIdentifier(text), IDENTIFIER_PATTERN.test(text), JSON.stringify(text));
    }
  });

  it('encodeRecordInto packs records back to back, byte for byte what encodeRecord makes', () => {
    const records = [reading(1), reading(2, 'x', -0.5), reading(3, 'a'.repeat(64), 1e300)];
    const packed = new Uint8Array(records.reduce((sum, record) => sum + recordLength(record), 0) + 7);
    const view = new DataView(packed.buffer);
    let at = 7;
    for (const record of records) at = encodeRecordInto(packed, view, at, record, record.sequence);
    assert.equal(at, packed.length);
    const expected = concat(records.map(encodeRecord));
    assert.deepEqual(packed.subarray(7), expected);
    assert.deepEqual(decodeRecords(packed.subarray(7)).records, records);
  });
});
