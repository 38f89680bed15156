/**
 * Recent readings per name, for the shell's `readings <name> [n]` and `plot <name>`:
 * a bounded ring per name and a bounded number of names (the least recently updated
 * name is forgotten first), so a sensor inventing names cannot grow memory.
 *
 * Every committed reading passes through `add` (the store's subscriber), so it costs
 * no allocation once a name's ring exists: values and instants sit in two typed arrays
 * written in place. Forgetting a name scans the names (at most `maxNames`), and only
 * when a new name arrives while the table is full.
 */
import type { Reading } from './readings.ts';

export interface HistoryPoint {
  value: number;
  at: number;
}

/** One name's ring: `count` points ending just before `next`. */
class Series {
  readonly values: Float64Array;
  readonly times: Float64Array;
  next = 0;
  count = 0;
  /** When it was last updated, in `add` calls: the least recent is forgotten first. */
  touched = 0;

  constructor(capacity: number) {
    this.values = new Float64Array(capacity);
    this.times = new Float64Array(capacity);
  }
}

export class ReadingHistory {
  private readonly byName = new Map<string, Series>();
  private updates = 0;

  constructor(
    private readonly perName = 240,
    private readonly maxNames = 1024,
  ) {}

  add(reading: Reading): void {
    let series = this.byName.get(reading.name);
    if (series === undefined) {
      if (this.byName.size >= this.maxNames) this.forgetLeastRecent();
      series = new Series(this.perName);
      this.byName.set(reading.name, series);
    }
    series.values[series.next] = reading.value;
    series.times[series.next] = reading.timestamp;
    series.next = (series.next + 1) % this.perName;
    if (series.count < this.perName) series.count++;
    series.touched = ++this.updates;
  }

  /** The most recent `count` points of `name`, oldest first. */
  recent(name: string, count: number): HistoryPoint[] {
    const series = this.byName.get(name);
    if (series === undefined) return [];
    const taken = Math.max(0, Math.min(count, series.count));
    const points: HistoryPoint[] = [];
    for (let i = taken; i > 0; i--) {
      const at = (series.next - i + this.perName) % this.perName;
      points.push({ value: series.values[at]!, at: series.times[at]! });
    }
    return points;
  }

  private forgetLeastRecent(): void {
    let oldestName: string | undefined;
    let oldest = Infinity;
    for (const [name, series] of this.byName) {
      if (series.touched < oldest) {
        oldest = series.touched;
        oldestName = name;
      }
    }
    if (oldestName !== undefined) this.byName.delete(oldestName);
  }
}
