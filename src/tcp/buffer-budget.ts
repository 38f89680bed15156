/**
 * The stack-wide bound on buffer memory beyond the default sizes (the memory half of
 * "every piece of state has a bound"; Linux bounds all TCP buffers with tcp_mem).
 *
 * Every connection may hold its default buffers (`rcvBuf` + `sndBuf`), so
 * maxConnections × that is the base bound. A service or an active open may ask for
 * more (per-service buffers, RFC 7323 windows: the diag services ask for 256 KiB); the
 * bytes above the defaults are reserved here when the connection is created and given
 * back when it is released. Once the budget is spent, a new connection that asks for
 * more gets the default sizes instead (counted as `tcp.buffers.over-budget`), so the
 * stack's buffer memory never exceeds maxConnections × (rcvBuf + sndBuf) + budget,
 * however many large-buffer connections a peer opens. A reservation is capacity, not
 * memory: the rings still take their memory only while they hold data.
 */
export class BufferBudget {
  private reservedBytes = 0;

  constructor(readonly limitBytes: number) {}

  /** Bytes reserved by live connections now. */
  get reserved(): number {
    return this.reservedBytes;
  }

  /** Reserves `bytes` if they fit; returns whether they did. */
  reserve(bytes: number): boolean {
    if (bytes <= 0) return true;
    if (this.reservedBytes + bytes > this.limitBytes) return false;
    this.reservedBytes += bytes;
    return true;
  }

  release(bytes: number): void {
    this.reservedBytes = Math.max(0, this.reservedBytes - bytes);
  }
}
