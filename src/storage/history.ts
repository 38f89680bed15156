/**
 * Recent readings per name, for the shell's `readings <name> [n]` and `plot <name>`:
 * a bounded ring per name and a bounded number of names (the oldest-updated name is
 * forgotten first), so a sensor inventing names cannot grow memory.
 */
import type { Reading } from './readings.ts';

export interface HistoryPoint {
  value: number;
  at: number;
}

export class ReadingHistory {
  private readonly byName = new Map<string, HistoryPoint[]>();

  constructor(
    private readonly perName = 240,
    private readonly maxNames = 1024,
  ) {}

  add(reading: Reading): void {
    let points = this.byName.get(reading.name);
    if (points) {
      // Map order is insertion order: re-inserting marks the name as recently updated.
      this.byName.delete(reading.name);
    } else {
      points = [];
      if (this.byName.size >= this.maxNames) {
        const oldest = this.byName.keys().next().value;
        if (oldest !== undefined) this.byName.delete(oldest);
      }
    }
    points.push({ value: reading.value, at: reading.timestamp });
    if (points.length > this.perName) points.splice(0, points.length - this.perName);
    this.byName.set(reading.name, points);
  }

  /** The most recent `count` points of `name`, oldest first. */
  recent(name: string, count: number): HistoryPoint[] {
    const points = this.byName.get(name) ?? [];
    return points.slice(Math.max(0, points.length - count));
  }
}
