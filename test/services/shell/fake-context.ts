/**
 * A ShellContext with fixed data, for command and session tests. Calls to kill and
 * restart are recorded; `ping` answers every echo except those listed in `lost`.
 */
import type { LedState, PingSummary, SensorReading, ShellContext } from '../../../src/services/shell/context.ts';
import type { ConnectionInfo } from '../../../src/tcp/info.ts';
import type { NeighborEntry } from '../../../src/net/neighbor.ts';
import { parseIpv4, parseMac } from '../../../src/net/address.ts';

export const SAMPLE_CONNECTION: ConnectionInfo = {
  id: 7,
  state: 'ESTABLISHED',
  localAddress: parseIpv4('198.18.0.2')!,
  localPort: 2323,
  remoteAddress: parseIpv4('198.18.0.1')!,
  remotePort: 40000,
  srtt: 12.4,
  rttvar: 3,
  rto: 200,
  mss: 1448,
  congestion: 'cubic',
  cwnd: 14600,
  ssthresh: 65535,
  sendWindow: 64240,
  receiveWindow: 16384,
  bytesInFlight: 0,
  retransmits: 2,
  zeroWindowProbes: 3,
  zeroWindowProbesAnswered: 1,
  keepaliveProbes: 4,
  segmentsIn: 10,
  segmentsOut: 11,
  negotiated: { sack: true, timestamps: true, windowScale: { receive: 0, send: 7 } },
};

export class FakeContext implements ShellContext {
  killed: number[] = [];
  restarts = 0;
  lost = new Set<number>();
  connectionList: ConnectionInfo[] = [SAMPLE_CONNECTION];
  history = new Map<string, { value: number; at: number }[]>([
    ['bme280.temperature', Array.from({ length: 30 }, (_, i) => ({ value: 20 + (i % 10) / 2, at: 1_700_000_000_000 + i * 1000 }))],
  ]);

  status(): Record<string, unknown> {
    return { version: '0.1.0', ip: '198.18.0.2/24', uptimeMs: 1234, faults: [] };
  }
  connections(): ConnectionInfo[] {
    return this.connectionList;
  }
  counters(): Record<string, number> {
    return { 'ipv4.drop.bad-checksum': 1, 'tcp.tx.retransmits': 2 };
  }
  neighbors(): NeighborEntry[] {
    return [
      { address: parseIpv4('198.18.0.1')!, mac: parseMac('02:00:00:00:00:01'), state: 'reachable', expiresAt: 60000 },
      { address: parseIpv4('198.18.0.9')!, mac: undefined, state: 'incomplete', expiresAt: 3000 },
    ];
  }
  async ping(_address: number, count: number, onReply: (line: string) => void): Promise<PingSummary> {
    let received = 0;
    for (let sequence = 1; sequence <= count; sequence++) {
      if (this.lost.has(sequence)) onReply(`icmp_seq=${sequence}: no reply`);
      else {
        received++;
        onReply(`64 bytes: icmp_seq=${sequence}`);
      }
    }
    return { sent: count, received };
  }
  leds(): LedState[] {
    return [
      { led: 'status', pattern: 'heartbeat', code: null },
      { led: 'fault', pattern: 'code', code: 6 },
    ];
  }
  sensors(): SensorReading[] {
    return [{ name: 'bme280.temperature', source: 'i2c', value: 21.5, at: 1_700_000_000_000 }];
  }
  readings(name: string, n: number): { value: number; at: number }[] {
    return (this.history.get(name) ?? []).slice(-n);
  }
  config(): unknown {
    return { net: { mtu: 1500 } };
  }
  log(n: number): string[] {
    return ['{"event":"a"}', '{"event":"b"}', '{"event":"c"}'].slice(-n);
  }
  kill(id: number): boolean {
    this.killed.push(id);
    return id === 7;
  }
  restart(): void {
    this.restarts++;
  }
}
