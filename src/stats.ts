/**
 * Named counters shared by every layer of one stack instance.
 * Names are dotted paths, layer first: `ipv4.rx.bad-checksum`, `tcp.tx.retransmits`.
 * Every dropped frame increments exactly one `*.drop.*` counter naming the reason,
 * so a fuzz run can account for every frame it fed in.
 */
export class Counters {
  private readonly values = new Map<string, number>();

  increment(name: string, by = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + by);
  }

  get(name: string): number {
    return this.values.get(name) ?? 0;
  }

  /** Sum of every counter whose name starts with `prefix`. */
  sum(prefix: string): number {
    let total = 0;
    for (const [name, value] of this.values) if (name.startsWith(prefix)) total += value;
    return total;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.values.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}
