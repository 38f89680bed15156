/**
 * Bookkeeping for out-of-order TCP data (RFC 9293 §3.10.7.4, seventh check: segments
 * beyond RCV.NXT may be held for later delivery).
 *
 * The assembler stores no bytes: payload is written into the receive RingBuffer's free
 * space at its offset from RCV.NXT, and the assembler remembers which byte ranges of
 * that space are filled. Its memory is bounded twice: by the receive buffer (offsets
 * never exceed the advertised window) and by `maxRanges`, the number of disjoint
 * ranges it will track; a segment that would need more is refused (the sender will
 * retransmit it), as smoltcp's fixed-contig assembler does.
 *
 * Offsets are relative to the current front (RCV.NXT): `add(offset, n)` records an
 * out-of-order segment, `deliver(n)` records in-order data and returns how many bytes
 * (with the held ranges it reaches) are now contiguous.
 *
 * The range arrays exist only while ranges are held: taken at the first out-of-order
 * segment, given back when the last hole fills, so the idle connections of a device
 * (most of them, most of the time) carry none (~600 bytes each otherwise).
 */
const NO_RANGES = new Float64Array(0);

export class Assembler {
  // Sorted, disjoint, non-adjacent half-open ranges [starts[i], ends[i]); NO_RANGES
  // while none is held.
  private starts: Float64Array = NO_RANGES;
  private ends: Float64Array = NO_RANGES;
  private count = 0;

  constructor(readonly maxRanges = 16) {
    if (!Number.isInteger(maxRanges) || maxRanges < 1) throw new RangeError(`bad maxRanges ${maxRanges}`);
  }

  /** Whether the range arrays are allocated (for tests of the idle footprint). */
  get holdsStorage(): boolean {
    return this.starts !== NO_RANGES;
  }

  get isEmpty(): boolean {
    return this.count === 0;
  }

  /** Number of disjoint ranges held. */
  get rangeCount(): number {
    return this.count;
  }

  /** True if [offset, offset + length) is held entirely (a duplicate of held data). */
  holds(offset: number, length: number): boolean {
    for (let i = 0; i < this.count; i++) {
      if ((this.starts[i] ?? 0) <= offset && offset + length <= (this.ends[i] ?? 0)) return true;
    }
    return false;
  }

  /** The held ranges as [start, end) pairs (for diagnostics and tests). */
  ranges(): [number, number][] {
    const result: [number, number][] = [];
    for (let i = 0; i < this.count; i++) result.push([this.starts[i] ?? 0, this.ends[i] ?? 0]);
    return result;
  }

  /**
   * Marks [offset, offset + length) as filled. Returns false, changing nothing, if that
   * would need more than `maxRanges` disjoint ranges.
   */
  add(offset: number, length: number): boolean {
    if (length <= 0) return true;
    if (this.starts === NO_RANGES) {
      // One spare slot so an insertion can be made before checking the bound.
      this.starts = new Float64Array(this.maxRanges + 1);
      this.ends = new Float64Array(this.maxRanges + 1);
    }
    let start = offset;
    let end = offset + length;
    // First range that ends at or after `start` (touching ranges merge).
    let first = 0;
    while (first < this.count && (this.ends[first] ?? 0) < start) first++;
    // Ranges [first, last) overlap or touch the new one.
    let last = first;
    while (last < this.count && (this.starts[last] ?? 0) <= end) {
      start = Math.min(start, this.starts[last] ?? start);
      end = Math.max(end, this.ends[last] ?? end);
      last++;
    }
    const merged = last - first;
    const newCount = this.count - merged + 1;
    if (newCount > this.maxRanges) return false;
    if (merged === 0) {
      // Shift right by one to open a slot at `first`.
      for (let i = this.count; i > first; i--) {
        this.starts[i] = this.starts[i - 1] ?? 0;
        this.ends[i] = this.ends[i - 1] ?? 0;
      }
    } else if (merged > 1) {
      // Close the gap left by the ranges folded into `first`.
      const shift = merged - 1;
      for (let i = first + 1; i + shift < this.count; i++) {
        this.starts[i] = this.starts[i + shift] ?? 0;
        this.ends[i] = this.ends[i + shift] ?? 0;
      }
    }
    this.starts[first] = start;
    this.ends[first] = end;
    this.count = newCount;
    return true;
  }

  /**
   * If a range starts at offset 0, removes it, shifts every other offset down by its
   * length and returns that length (the bytes now contiguous at the front); else 0.
   */
  takeFront(): number {
    if (this.count === 0 || this.starts[0] !== 0) return 0;
    const length = this.ends[0] ?? 0;
    for (let i = 1; i < this.count; i++) {
      this.starts[i - 1] = (this.starts[i] ?? 0) - length;
      this.ends[i - 1] = (this.ends[i] ?? 0) - length;
    }
    this.count--;
    this.releaseIfEmpty();
    return length;
  }

  /**
   * In-order data of `length` bytes arrived at offset 0: drops the ranges it covers,
   * shifts the rest down and returns the bytes now contiguous from the old front
   * (`length` plus any held range that touches it). Unlike `add`, this never fails.
   */
  deliver(length: number): number {
    let end = Math.max(0, length);
    let merged = 0;
    while (merged < this.count && (this.starts[merged] ?? 0) <= end) {
      end = Math.max(end, this.ends[merged] ?? 0);
      merged++;
    }
    for (let i = merged; i < this.count; i++) {
      this.starts[i - merged] = (this.starts[i] ?? 0) - end;
      this.ends[i - merged] = (this.ends[i] ?? 0) - end;
    }
    this.count -= merged;
    this.releaseIfEmpty();
    return end;
  }

  clear(): void {
    this.count = 0;
    this.releaseIfEmpty();
  }

  private releaseIfEmpty(): void {
    if (this.count > 0) return;
    this.starts = NO_RANGES;
    this.ends = NO_RANGES;
  }
}
