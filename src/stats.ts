/**
 * Named counters shared by every layer of one stack instance.
 * Names are dotted paths, layer first: `ipv4.rx.bad-checksum`, `tcp.tx.retransmits`.
 * Every dropped frame increments exactly one `*.drop.*` counter naming the reason,
 * so a fuzz run can account for every frame it fed in.
 *
 * Each counter is a small box in one Map, so `increment` is one lookup. Counters the
 * per-segment path bumps several times a segment are taken once as a `CounterHandle`
 * (`handle(name)`), and bumped with `handle.value++`: no lookup at all. A counter
 * appears in `snapshot()` once incremented (a handle's, once it is not zero).
 */
export interface CounterHandle {
  value: number;
}

class CounterBox implements CounterHandle {
  value = 0;
  /** Incremented through `increment` (possibly by 0): listed even while zero. */
  touched = false;
}

export class Counters {
  private readonly values = new Map<string, CounterBox>();

  increment(name: string, by = 1): void {
    const box = this.box(name);
    box.value += by;
    box.touched = true;
  }

  /** The counter `name` itself, for a hot path to bump with `.value++`. */
  handle(name: string): CounterHandle {
    return this.box(name);
  }

  get(name: string): number {
    return this.values.get(name)?.value ?? 0;
  }

  /** Sum of every counter whose name starts with `prefix`. */
  sum(prefix: string): number {
    let total = 0;
    for (const [name, box] of this.values) if (name.startsWith(prefix)) total += box.value;
    return total;
  }

  snapshot(): Record<string, number> {
    const listed: [string, number][] = [];
    for (const [name, box] of this.values) if (box.touched || box.value !== 0) listed.push([name, box.value]);
    return Object.fromEntries(listed.sort(([a], [b]) => a.localeCompare(b)));
  }

  private box(name: string): CounterBox {
    let box = this.values.get(name);
    if (box === undefined) {
      box = new CounterBox();
      this.values.set(name, box);
    }
    return box;
  }
}
