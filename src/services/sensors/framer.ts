/**
 * Splits a byte stream into request lines (SPEC §4: lines end in LF, CRLF accepted)
 * with a hard bound on line length, so a peer can never make the device buffer more
 * than `maxLine + 1` bytes of one line, whatever it sends (a 10 MiB line without LF
 * costs the same as a short one).
 *
 * A line longer than `maxLine` bytes (not counting the LF and an optional CR before
 * it) yields one `too-long` item as soon as the bound is passed; the rest of that
 * line is skipped up to the next LF, where framing picks up again (resynchronisation).
 *
 * Call order: `push(chunk)` then `next()` until it returns undefined. `next()` reads
 * lazily, so the caller can stop taking lines (backpressure) and resume later; the
 * framer keeps a view on the unread part of the last chunk, no copy.
 */
const LF = 0x0a;
const CR = 0x0d;

const NO_PARTIAL = new Uint8Array(0);
/** No chunk held: one empty view for every framer (read only). */
const NO_INPUT = new Uint8Array(0);

/**
 * A line: the bytes `source[start, end)` (without the LF and a CR before it), read in
 * place; `bytes` makes a view of them for a caller that wants one (the session's common
 * PUT reads the range, so a line costs no view: issue 13, the ingest path).
 */
export class FramedLine {
  readonly kind = 'line';
  source: Uint8Array = NO_INPUT;
  start = 0;
  end = 0;

  get bytes(): Uint8Array {
    return this.source.subarray(this.start, this.end);
  }
}

export type FramedItem = FramedLine | { kind: 'too-long' };

/** The too-long item carries nothing: one object serves every report. */
const TOO_LONG: FramedItem = { kind: 'too-long' };

export class LineFramer {
  /**
   * Bytes of an unfinished line, carried over between chunks (at most maxLine + 1):
   * taken the first time a line is split between chunks, so a sensor whose lines
   * arrive whole (most, one reading per segment) never holds one (idle memory, issue 13).
   */
  private partial: Uint8Array = NO_PARTIAL;
  private partialLength = 0;
  /**
   * The last pushed chunk; bytes before `offset` are read. Let go once read to the end,
   * so an idle connection does not keep its last segment's bytes.
   */
  private input: Uint8Array = NO_INPUT;
  private offset = 0;
  /** Inside an over-long line: skip to the next LF. */
  private skipping = false;
  /** The line item handed out; reused, its range valid until the next call (see `next`). */
  private readonly line = new FramedLine();

  constructor(readonly maxLine: number) {
    if (!Number.isInteger(maxLine) || maxLine < 1) throw new RangeError(`maxLine must be a positive integer, got ${maxLine}`);
  }

  /** Whether the carry-over buffer has been taken (for tests of the idle footprint). */
  get holdsLineBuffer(): boolean {
    return this.partial !== NO_PARTIAL;
  }

  /** Hands over the next chunk; the previous one must have been read to the end. */
  push(chunk: Uint8Array): void {
    if (this.pendingInput > 0) throw new Error('LineFramer.push: the previous chunk has not been read yet');
    this.input = chunk;
    this.offset = 0;
  }

  /** Bytes pushed but not yet framed (the caller's backlog). */
  get pendingInput(): number {
    return this.input.length - this.offset;
  }

  /** Bytes held for an unfinished line. */
  get bufferedLineBytes(): number {
    return this.partialLength;
  }

  /**
   * At end of input: an unterminated last line counts as a line (`printf 'PING' | nc`),
   * unless it was over-long. Returns it, or undefined.
   */
  finish(): FramedItem | undefined {
    const wasSkipping = this.skipping;
    this.skipping = false;
    if (this.partialLength === 0 || wasSkipping) return undefined;
    let length = this.partialLength;
    this.partialLength = 0;
    if (this.partial[length - 1] === CR) length--;
    return length > this.maxLine ? TOO_LONG : this.lineItem(this.partial, 0, length);
  }

  /**
   * The next item, or undefined when the pushed bytes are used up. A line item and its
   * bytes are valid until the next call (the object is reused, the bytes may sit in the
   * framer's own buffer).
   */
  next(): FramedItem | undefined {
    const input = this.input;
    while (this.offset < input.length) {
      const start = this.offset;
      const newline = input.indexOf(LF, start);
      if (this.skipping) {
        if (newline < 0) return this.drained();
        this.offset = newline + 1;
        this.skipping = false;
        continue;
      }
      const take = (newline < 0 ? input.length : newline) - start;
      const room = this.maxLine + 1 - this.partialLength;
      if (take > room) {
        // Past the bound: report once, then skip to the next LF (possibly in this chunk).
        this.partialLength = 0;
        this.skipping = true;
        return TOO_LONG;
      }
      if (newline < 0) {
        if (this.partial === NO_PARTIAL) this.partial = new Uint8Array(this.maxLine + 1);
        this.partial.set(input.subarray(start), this.partialLength);
        this.partialLength += take;
        return this.drained();
      }
      this.offset = newline + 1;
      if (this.partialLength === 0) {
        let end = newline;
        if (end > start && input[end - 1] === CR) end--;
        // maxLine + 1 bytes fit in the buffer only so that a CR can follow a full line.
        return end - start > this.maxLine ? TOO_LONG : this.lineItem(input, start, end);
      }
      this.partial.set(input.subarray(start, newline), this.partialLength);
      let length = this.partialLength + take;
      this.partialLength = 0;
      if (length > 0 && this.partial[length - 1] === CR) length--;
      return length > this.maxLine ? TOO_LONG : this.lineItem(this.partial, 0, length);
    }
    return this.drained();
  }

  /** The pushed chunk is read to the end: hold no reference to it (nor to a line of it). */
  private drained(): undefined {
    this.input = NO_INPUT;
    this.offset = 0;
    this.line.source = NO_INPUT;
    this.line.start = 0;
    this.line.end = 0;
    return undefined;
  }

  private lineItem(source: Uint8Array, start: number, end: number): FramedItem {
    const line = this.line;
    line.source = source;
    line.start = start;
    line.end = end;
    return line;
  }
}
