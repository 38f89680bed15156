/**
 * Simulated network sensors for the simulated board: each one connects from its own
 * stack to the device's sensor port, says HELLO, and PUTs a reading on an interval
 * (a random walk around a base value). A sensor whose connection drops reconnects
 * after a delay, as a real sensor's firmware would.
 */
import type { NetStack } from '../../src/stack.ts';
import type { Socket } from '../../src/socket/socket.ts';

export interface SimulatedSensorOptions {
  stack: NetStack;
  deviceHost: string;
  devicePort: number;
  sensorId: string;
  /** Reading names and their base values. */
  readings: Record<string, number>;
  intervalMs: number;
  reconnectMs: number;
  /** Wall-clock ms for the readings' timestamps. */
  wallClock?: () => number;
}

export class SimulatedSensor {
  private socket: Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly values: Record<string, number>;

  constructor(private readonly options: SimulatedSensorOptions) {
    this.values = { ...options.readings };
  }

  start(): void {
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket?.destroy();
  }

  private connect(): void {
    if (this.stopped) return;
    const socket = this.options.stack.net.connect({ host: this.options.deviceHost, port: this.options.devicePort });
    this.socket = socket;
    socket.setKeepAlive(true);
    socket.on('connect', () => {
      socket.write(`HELLO ${this.options.sensorId}\n`);
      this.schedule(socket);
    });
    // Replies (OK, errors) are read and dropped: the device's log tells the story.
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.timer) clearTimeout(this.timer);
      if (this.socket === socket) this.socket = undefined;
      if (!this.stopped) this.timer = setTimeout(() => this.connect(), this.options.reconnectMs);
    });
  }

  private schedule(socket: Socket): void {
    this.timer = setTimeout(() => {
      if (socket.destroyed || this.stopped) return;
      const now = (this.options.wallClock ?? Date.now)();
      const lines = Object.keys(this.values).map((name) => {
        const base = this.options.readings[name] ?? 0;
        // A bounded random walk around the base value.
        const next = (this.values[name] ?? base) + (Math.random() - 0.5) * Math.max(0.1, Math.abs(base) * 0.01);
        this.values[name] = base + Math.max(-Math.abs(base) * 0.1 - 1, Math.min(Math.abs(base) * 0.1 + 1, next - base));
        return `PUT ${name} ${this.values[name]!.toFixed(2)} ${now}\n`;
      });
      socket.write(lines.join(''));
      this.schedule(socket);
    }, this.options.intervalMs);
  }
}
