/**
 * The TCB keeps its 32-bit sequence variables as int32 bit patterns (no heap number per
 * field: idle memory, issue 13) behind accessors that take and give uint32: every value
 * must come back exactly as it went in, on both sides of 2^31 and across the wrap.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tcb } from '../../src/tcp/tcb.ts';
import { seqAdd } from '../../src/tcp/seq.ts';

const SEQUENCE_FIELDS = [
  'sndUna',
  'sndNxt',
  'sndMax',
  'sndWl1',
  'sndWl2',
  'sendBufferSeq',
  'sndSmall',
  'tsOffset',
  'tsRecent',
  'irs',
  'rcvNxt',
  'rcvAdvertisedEdge',
  'lastAckSent',
] as const;

describe('Tcb sequence variables', () => {
  it('give back every uint32 exactly, below and above 2^31', () => {
    const tcb = new Tcb(1, 1460);
    for (const value of [0, 1, 0x7fff_ffff, 0x8000_0000, 0x8000_0001, 0xdead_beef, 0xffff_fffe, 0xffff_ffff]) {
      for (const field of SEQUENCE_FIELDS) {
        tcb[field] = value;
        assert.equal(tcb[field], value, `${field} = ${value}`);
      }
    }
  });

  it('start from an ISS near 2^32 and wrap like the sequence space', () => {
    const tcb = new Tcb(0xffff_fffe, 1460);
    assert.equal(tcb.iss, 0xffff_fffe);
    assert.equal(tcb.sndUna, 0xffff_fffe);
    assert.equal(tcb.sendBufferSeq, 0xffff_ffff);
    tcb.sndNxt = seqAdd(tcb.iss, 3);
    assert.equal(tcb.sndNxt, 1);
    assert.equal(tcb.bytesInFlight(), 0, 'nothing counted in flight before sndMax moves');
    tcb.sndMax = tcb.sndNxt;
    assert.equal(tcb.bytesInFlight(), 3);
    tcb.initFromSyn({ sequenceNumber: 0x8000_0000, window: 65_535 }, 1460);
    assert.equal(tcb.irs, 0x8000_0000);
    assert.equal(tcb.rcvNxt, 0x8000_0001);
    assert.equal(tcb.sndWl1, 0x8000_0000);
    assert.equal(tcb.sndWl2, 0xffff_fffe);
  });
});
