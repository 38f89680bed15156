/**
 * The TCB invariant check the fuzz tests rely on (test/support/tcb-invariants.ts): a
 * sound connection passes, and each broken invariant is caught and named.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TcpHarness, pattern } from './tcp-harness.ts';
import { assertTcbInvariants, tcbSnapshot, tcbViolations } from './tcb-invariants.ts';
import { seqAdd } from '../../src/tcp/seq.ts';

describe('TCB invariants', () => {
  it('hold for a connection with data in flight', () => {
    const h = new TcpHarness();
    const connection = h.established();
    connection.send(pattern(3000));
    assert.ok(connection.tcb.sndMax !== connection.tcb.sndUna, 'data is in flight');
    assert.deepEqual(tcbViolations(connection), []);
    assertTcbInvariants(connection);
  });

  it('catch SND.UNA > SND.NXT, SND.NXT > SND.MAX and more in flight than buffered', () => {
    const h = new TcpHarness();
    const connection = h.established();
    connection.send(pattern(100));
    const sound = tcbSnapshot(connection);
    assert.deepEqual(tcbViolations(sound), []);
    const { sndUna, sndMax } = sound.tcb;
    const withTcb = (fields: Partial<typeof sound.tcb>) => ({ ...sound, tcb: { ...sound.tcb, ...fields } });
    assert.match(tcbViolations(withTcb({ sndNxt: seqAdd(sndUna, -1) })).join('\n'), /SND\.UNA \d+ > SND\.NXT/);
    assert.match(tcbViolations(withTcb({ sndNxt: seqAdd(sndMax, 1) })).join('\n'), /SND\.NXT \d+ > SND\.MAX/);
    const overSent = withTcb({ sndNxt: seqAdd(sndMax, 5000), sndMax: seqAdd(sndMax, 5000) });
    assert.match(tcbViolations(overSent).join('\n'), /in flight, send buffer holds 100/);
    assert.throws(() => assertTcbInvariants(overSent, 'a test'), /after a test/);
  });

  it('catch buffers over their bounds and an advertised window edge left of RCV.NXT', () => {
    const h = new TcpHarness();
    const sound = tcbSnapshot(h.established());
    const edgeLeft = { ...sound, tcb: { ...sound.tcb, rcvAdvertisedEdge: seqAdd(sound.tcb.rcvNxt, -1) } };
    assert.match(tcbViolations(edgeLeft).join('\n'), /advertised window edge/);
    assert.match(tcbViolations({ ...sound, receiveBuffer: { length: 20_000, capacity: 16_384 } }).join('\n'), /receive buffer holds 20000 of 16384/);
    assert.match(tcbViolations({ ...sound, sendBuffer: { length: 0, capacity: 1 } }).join('\n'), /send buffer capacity 1, tcp\.sndBuf 16384/);
  });
});
