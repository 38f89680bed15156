/**
 * The sender scoreboard (src/tcp/scoreboard.ts) on its own: SACK blocks merge onto
 * the records, invalid blocks are ignored (RFC 2018 §3 plus Linux's validity checks),
 * D-SACK is recognised (RFC 2883 §4), IsLost and pipe follow RFC 6675 §4, RACK marks
 * by time (RFC 8985 §6.2), and the ring stays within its bound.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RecordStoragePool, Scoreboard, SegmentMark } from '../../src/tcp/scoreboard.ts';
import { SeededRandom } from '../../src/random.ts';

const BASE = 0xffff_f000; // the sequence space wraps inside the tests' flight
const at = (n: number): number => (BASE + n) >>> 0;

/** `count` records of 100 bytes from BASE, all sent at `now`. */
function board(count: number, capacity = 32, now = 0): Scoreboard {
  const scoreboard = new Scoreboard(capacity);
  for (let i = 0; i < count; i++) scoreboard.sent(at(i * 100), at((i + 1) * 100), now);
  return scoreboard;
}

function sacked(scoreboard: Scoreboard): string[] {
  const out: string[] = [];
  for (let i = 0; i < scoreboard.count; i++) {
    if (scoreboard.marksOf(i) & SegmentMark.SACKED) out.push(`${scoreboard.startOf(i) - BASE >>> 0}-${scoreboard.endOf(i) - BASE >>> 0}`);
  }
  return out;
}

describe('scoreboard', () => {
  it('marks SACKed records across the wrap, merging repeated and overlapping blocks', () => {
    const s = board(10);
    let r = s.applySack([[at(200), at(400)]], at(0), at(1000), 65_535, 10);
    assert.equal(r.newlySacked, 200);
    r = s.applySack([[at(300), at(500)], [at(200), at(400)]], at(0), at(1000), 65_535, 10);
    assert.equal(r.newlySacked, 100, 'only the new record counts');
    assert.deepEqual(sacked(s), ['200-300', '300-400', '400-500']);
    assert.equal(s.sackedBytes, 300);
    assert.equal(s.pipe(), 700);
  });

  it('splits a record at a block edge inside it', () => {
    const s = board(2);
    s.applySack([[at(150), at(200)]], at(0), at(200), 65_535, 10);
    assert.deepEqual(sacked(s), ['150-200']);
    assert.equal(s.count, 3);
  });

  it('ignores blocks beyond SND.MAX, empty or reversed, and below SND.UNA unless a D-SACK', () => {
    const s = board(4);
    const r = s.applySack([[at(100), at(500)], [at(300), at(300)], [at(300), at(200)], [at(0x7000_0000), at(0x7000_0100)]], at(0), at(400), 65_535, 0);
    assert.equal(r.invalid, 4);
    assert.equal(r.dsack, false);
    assert.equal(s.sackedBytes, 0);
  });

  it('recognises a D-SACK: a first block below the ACK, or inside the second block (RFC 2883 §4)', () => {
    const s = board(4);
    let r = s.applySack([[at(0), at(100)]], at(100), at(400), 65_535, 0);
    assert.equal(r.dsack, true);
    assert.equal(r.dsackStart, at(0));
    r = s.applySack([[at(300), at(350)], [at(200), at(400)]], at(100), at(400), 65_535, 0);
    assert.equal(r.dsack, true);
    assert.equal(r.newlySacked, 200, 'the second block still SACKs');
    // More than a window below the ACK: not believable.
    r = s.applySack([[at(-200_000), at(-199_900)]], at(100), at(400), 65_535, 0);
    assert.equal(r.dsack, false);
    assert.equal(r.invalid, 1);
  });

  it('drops and trims records as SND.UNA advances, keeping the SACKed byte count', () => {
    const s = board(5);
    s.applySack([[at(100), at(300)]], at(0), at(500), 65_535, 0);
    s.acknowledge(at(150), 10);
    assert.equal(s.count, 4);
    assert.equal(s.startOf(0), at(150));
    assert.equal(s.sackedBytes, 150);
    s.acknowledge(at(500), 10);
    assert.equal(s.count, 0);
    assert.equal(s.sackedBytes, 0);
  });

  it('IsLost: three SACKed records above, or more than 2·SMSS SACKed bytes above (RFC 6675 §4)', () => {
    const s = board(6);
    s.applySack([[at(100), at(300)]], at(0), at(600), 65_535, 0);
    assert.equal(s.markLostByDupThresh(100), 0);
    s.applySack([[at(400), at(500)]], at(0), at(600), 65_535, 0);
    assert.equal(s.markLostByDupThresh(100), 100, 'record 0 has three SACKed above it');
    assert.equal(s.nextLost(), 0);
    assert.equal(s.pipe(), 200, 'records 3 and 5 are in the pipe; 0 is lost');
    s.retransmitted(at(0), at(100), 5);
    assert.equal(s.nextLost(), -1);
    assert.equal(s.pipe(), 300, 'the retransmission is in the pipe');
  });

  it('RACK: marks records sent before the last delivered one once RACK.rtt + reo_wnd has passed', () => {
    const s = new Scoreboard(16);
    s.sent(at(0), at(100), 0);
    s.sent(at(100), at(200), 1);
    s.sent(at(200), at(300), 2);
    s.applySack([[at(200), at(300)]], at(0), at(300), 65_535, 12); // RACK.rtt = 10, sent at 2
    assert.equal(s.rackDetectLoss(2.5, 12), 0);
    assert.equal(s.timeout, 1.5, 'record 1 qualifies at 1 + 10 + 2.5 = 13.5');
    assert.equal(s.rackDetectLoss(2.5, 12.5), 100, 'record 0 (sent at 0) is lost at 12.5');
    assert.equal(s.rackDetectLoss(2.5, 13.5), 100);
    assert.equal(s.nextLost(), 0);
  });

  it('holds record storage only while something is in flight', () => {
    const s = new Scoreboard(16);
    assert.equal(s.storageBytes, 0);
    s.sent(at(0), at(100), 0);
    assert.equal(s.storageBytes, 16 * 17);
    s.releaseStorage();
    assert.equal(s.storageBytes, 16 * 17, 'kept while a record is in flight');
    s.acknowledge(at(100), 5);
    s.releaseStorage();
    assert.equal(s.storageBytes, 0);
    s.sent(at(100), at(200), 6);
    assert.equal(s.count, 1);
    assert.equal(s.startOf(0), at(100));
  });

  it('stays within its capacity: a full ring extends its last record', () => {
    const s = board(4, 4);
    s.sent(at(400), at(500), 7);
    assert.equal(s.count, 4);
    assert.equal(s.endOf(3), at(500));
    assert.equal(s.sentAtOf(3), 7);
    // No room to split: a block edge inside a record leaves it un-SACKed.
    s.applySack([[at(50), at(100)]], at(0), at(500), 65_535, 0);
    assert.equal(s.sackedBytes, 0);
    // A SACKed last record that must grow loses its mark: new data is never taken as SACKed.
    s.applySack([[at(300), at(500)]], at(0), at(500), 65_535, 0);
    assert.equal(s.sackedBytes, 200);
    s.sent(at(500), at(600), 8);
    assert.equal(s.sackedBytes, 0);
    assert.equal(s.isSacked(at(550)), false);
    assert.equal(s.count, 4);
  });

  it('widens RACK\'s reordering multiplier once per round trip of D-SACKs and resets it after 16 recoveries without one (RFC 8985 §6.2 step 4)', () => {
    const scoreboard = new Scoreboard(16);
    assert.equal(scoreboard.reorderMultiplier, 1);
    scoreboard.noteDsack(1000, 5000);
    assert.equal(scoreboard.reorderMultiplier, 2);
    scoreboard.noteDsack(3000, 6000);
    assert.equal(scoreboard.reorderMultiplier, 2, 'same round trip: SND.UNA has not reached 5000');
    scoreboard.noteDsack(5000, 9000);
    assert.equal(scoreboard.reorderMultiplier, 3);
    for (let recovery = 0; recovery < 15; recovery++) scoreboard.recoveryEnded();
    assert.equal(scoreboard.reorderMultiplier, 3);
    scoreboard.recoveryEnded();
    assert.equal(scoreboard.reorderMultiplier, 1);
  });

  it('RACK takes no sample from an ACK whose TSecr predates the retransmission (RFC 8985 §6.2 step 2), and one from an ACK that echoes it', () => {
    const offset = 5000;
    // [TSecr, the RACK reference after the ACK]: the SACK's record (sent at 10), or the resend (300).
    for (const [echo, expected] of [[offset + 10, 10], [offset + 300, 300]] as const) {
      // Records 0-3 sent at 10 ms; record 0 resent at 300 ms (an RTO); min_RTT 1 ms.
      const s = board(4, 32, 10);
      s.tsOffset = offset;
      s.applySack([[at(300), at(400)]], at(0), at(400), 65_535, 11);
      assert.equal(s.minRtt, 1);
      s.retransmitted(at(0), at(100), 300);
      // The cumulative ACK for record 0 at 320 ms (20 ms after the resend, more than min_RTT):
      // with the original's TSval echoed it answers the transmission at 10 ms.
      s.ackEcho = echo;
      s.acknowledge(at(100), 320);
      assert.equal(s.rackSentAt, expected, `TSecr ${echo - offset}`);
    }
  });

  it('takes its record storage from the pool when a flight starts and gives it back when it is empty; a reused storage carries nothing over', () => {
    const pool = new RecordStoragePool(4 * 17 * 16);
    const s = new Scoreboard(16, pool);
    assert.equal(s.storageBytes, 0, 'no storage before the first segment');
    for (let i = 0; i < 4; i++) s.sent(at(i * 100), at((i + 1) * 100), 0);
    s.applySack([[at(200), at(400)]], at(0), at(400), 65_535, 1);
    assert.equal(s.markLostByDupThresh(100), 0);
    s.retransmitted(at(0), at(100), 2);
    assert.equal(s.storageBytes, 16 * 17);
    s.acknowledge(at(400), 3);
    s.releaseStorage();
    assert.equal(s.storageBytes, 0);
    assert.equal(pool.pooledBytes, 16 * 17, 'given back to the pool');
    // The next flight runs on the same storage: its records start clean.
    for (let i = 4; i < 8; i++) s.sent(at(i * 100), at((i + 1) * 100), 5);
    assert.equal(pool.pooledBytes, 0, 'taken from the pool, not allocated');
    assert.deepEqual(sacked(s), []);
    for (let i = 0; i < s.count; i++) assert.equal(s.marksOf(i), 0, `record ${i}: no mark of the last flight`);
    assert.equal(s.pipe(), 400);
    assert.equal(s.sentAtOf(0), 5);
  });

  it('the pool keeps storage per capacity up to its byte bound', () => {
    const pool = new RecordStoragePool(2 * 17 * 16);
    const taken = [pool.take(16), pool.take(16), pool.take(16), pool.take(32)];
    for (const storage of taken) pool.give(storage);
    assert.equal(pool.pooledBytes, 2 * 17 * 16, 'the third 16-record storage and the 32-record one did not fit');
    assert.equal(pool.take(32).capacity, 32, 'a capacity the pool does not hold is allocated');
    const again = pool.take(16);
    assert.ok(again === taken[1] || again === taken[0], 'a pooled storage of that capacity comes back');
    assert.equal(pool.pooledBytes, 17 * 16);
  });

  it('keeps pipe by counters equal to RFC 6675 SetPipe, and marks losses as full scans of IsLost and RACK would, through every operation, the ring full and splits refused (seeded)', () => {
    // The rules by their definitions, over every record: the scoreboard keeps counters
    // and hints instead, and must agree after every operation.
    const length = (s: Scoreboard, i: number): number => (s.endOf(i) - s.startOf(i)) >>> 0;
    const setPipe = (s: Scoreboard): number => {
      let pipe = 0;
      for (let i = 0; i < s.count; i++) {
        if ((s.marksOf(i) & (SegmentMark.SACKED | SegmentMark.LOST)) === 0) pipe += length(s, i);
      }
      return pipe;
    };
    /** RFC 6675 §4 IsLost over every record: the records it marks. */
    const isLost = (s: Scoreboard, mss: number): Set<number> => {
      const marked = new Set<number>();
      let records = 0;
      let bytes = 0;
      for (let i = s.count - 1; i >= 0; i--) {
        const mark = s.marksOf(i);
        if (mark & SegmentMark.SACKED) {
          records++;
          bytes += length(s, i);
        } else if ((mark & (SegmentMark.LOST | SegmentMark.RETRANSMITTED)) === 0 && (records >= 3 || bytes > 2 * mss)) {
          marked.add(i);
        }
      }
      return marked;
    };
    /** RFC 8985 §6.2 step 5 over every record: the records it marks, and the reorder timeout. */
    const rack = (s: Scoreboard, window: number, now: number): { marked: Set<number>; timeout: number } => {
      const marked = new Set<number>();
      let timeout = 0;
      if (s.rackSentAt === undefined) return { marked, timeout };
      for (let i = 0; i < s.count; i++) {
        if (s.marksOf(i) & (SegmentMark.SACKED | SegmentMark.LOST)) continue;
        const sentAt = s.sentAtOf(i);
        const before = sentAt < s.rackSentAt || (sentAt === s.rackSentAt && ((s.endOf(i) - s.rackEndSeq) | 0) < 0);
        if (!before) continue;
        const remaining = sentAt + s.rackRtt + window - now;
        if (remaining <= 0) marked.add(i);
        else timeout = Math.max(timeout, remaining);
      }
      return { marked, timeout };
    };
    /** The records newly LOST since `before` (marks per index), and their bytes. */
    const newlyLost = (s: Scoreboard, before: number[]): { marked: Set<number>; bytes: number } => {
      const marked = new Set<number>();
      let bytes = 0;
      for (let i = 0; i < s.count; i++) {
        if ((s.marksOf(i) & SegmentMark.LOST) !== 0 && ((before[i] ?? 0) & SegmentMark.LOST) === 0) {
          marked.add(i);
          bytes += length(s, i);
        }
      }
      return { marked, bytes };
    };
    const marksNow = (s: Scoreboard): number[] => Array.from({ length: s.count }, (_, i) => s.marksOf(i));
    let operations = 0;
    let lossMarks = 0;
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const random = new SeededRandom(seed);
      const below = (n: number): number => random.uint32() % n;
      // A small ring: full rings extend their last record, and splits are refused.
      const s = new Scoreboard(4 + below(12));
      let una = 0;
      let max = 0;
      let now = 0;
      /** A sequence offset in [una, max]. */
      const within = (): number => una + below(max - una + 1);
      for (let step = 0; step < 3000; step++) {
        now += below(3);
        const choice = below(10);
        const where = `seed ${seed}, step ${step}`;
        if (choice <= 2 || max === una) {
          const bytes = 1 + below(300);
          s.sent(at(max), at(max + bytes), now);
          max += bytes;
        } else if (choice === 3) {
          const blocks: [number, number][] = [];
          for (let b = below(4); b >= 0; b--) {
            const start = within();
            blocks.push([at(start), at(start + below(max - start + 1))]);
          }
          s.applySack(blocks, at(una), at(max), 65_535, now);
        } else if (choice === 4) {
          const ack = within();
          if (ack > una) s.acknowledge(at(ack), now);
          una = ack;
        } else if (choice === 5) {
          const start = within();
          s.retransmitted(at(start), at(start + below(max - start + 1)), now);
        } else if (choice === 6) {
          const mss = 1 + below(200);
          const expected = isLost(s, mss);
          const before = marksNow(s);
          const bytes = s.markLostByDupThresh(mss);
          const actual = newlyLost(s, before);
          assert.deepEqual([...actual.marked].sort(), [...expected].sort(), `IsLost, ${where}`);
          assert.equal(bytes, actual.bytes, `IsLost bytes, ${where}`);
          lossMarks += bytes > 0 ? 1 : 0;
        } else if (choice === 7) {
          const window = below(3);
          const expected = rack(s, window, now);
          const before = marksNow(s);
          const bytes = s.rackDetectLoss(window, now);
          const actual = newlyLost(s, before);
          assert.deepEqual([...actual.marked].sort(), [...expected.marked].sort(), `RACK, ${where}`);
          assert.equal(bytes, actual.bytes, `RACK bytes, ${where}`);
          assert.equal(s.timeout, expected.timeout, `RACK timeout, ${where}`);
          lossMarks += bytes > 0 ? 1 : 0;
        } else if (choice === 8) {
          s.markLost(at(within()));
        } else {
          const rare = below(8);
          if (rare === 0) s.markAllLost();
          else if (rare === 1) s.clearLost();
          else if (rare === 2) s.clearSacked();
        }
        operations++;
        assert.equal(s.pipe(), setPipe(s), `pipe, ${where}`);
        const firstLost = marksNow(s).findIndex((mark) => (mark & (SegmentMark.LOST | SegmentMark.SACKED)) === SegmentMark.LOST);
        assert.equal(s.hasLost(), firstLost >= 0, `hasLost, ${where}`);
        assert.equal(s.nextLost(), firstLost, `nextLost, ${where}`);
        if (s.count === 0) s.releaseStorage();
      }
    }
    assert.equal(operations, 8 * 3000);
    assert.ok(lossMarks > 100, `losses were marked (${lossMarks} times), so LOST came and went`);
  });
});
