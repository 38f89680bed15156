/**
 * Encoding a record allocates nothing once the path is hot (issue 13: every durable
 * reading is encoded once). A file of its own: the encoder here sees one reading shape,
 * as on the ingest path; after other tests' many shapes its property loads would be
 * megamorphic, and a megamorphic load of a double field boxes a copy.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeRecordInto } from '../../src/storage/readings.ts';
import { allocatedInOptimisedLoop } from '../support/allocated-bytes.ts';

describe('record encoding allocation', () => {
  it('encodes records into a batch buffer without allocating (no heap number per CRC)', () => {
    const bytes = new Uint8Array(1 << 16);
    const readings = Array.from({ length: 64 }, (_, i) => ({ name: `bme280.n${i}`, value: i / 3, timestamp: 1_700_000_000_000 + i, source: '198.18.0.1' }));
    const target = { bytes, view: new DataView(bytes.buffer), readings, encode: encodeRecordInto };
    const count = 100_000;
    // Half the CRCs are at or above 2^31: as unsigned results each was a new heap number;
    // under a byte per record allows for the profiler's own messages, not for one.
    const allocated = allocatedInOptimisedLoop(target, 'target.encode(target.bytes, target.view, (i & 63) * 128, target.readings[i & 63], i + 1);', count);
    assert.ok(allocated < count, `${count} records allocated ${allocated} bytes`);
  });
});
