/**
 * `npx tsx bench/kernel-cwnd-trace.ts`: the Linux kernel's sender, ACK by ACK, on the
 * loss bench's bridged path (issue 12: what bounds the kernel's send bursts, next to
 * piwire's in `bench/cwnd-trace.ts`). The path is bench/lib/lossy-path.ts's; the kernel's
 * chargen server (bench/clients/kernel_bulk_server.py, `--congestion` if given, else the
 * host's default) sends `--mib` MiB to the LAN side's client (lossy_bulk.py pull) per
 * transfer, and the kernel's own tracepoints record its state at every ACK it takes:
 * `tcp:tcp_probe` (snd_cwnd, ssthresh, SND.NXT − SND.UNA, srtt) and
 * `tcp:tcp_cong_state_set` (entries into recovery, state 3, and loss, state 4). Printed
 * per transfer: the percentiles over its ACKs (10th/50th/90th) of cwnd, the flight and
 * srtt, and the recoveries, in the form `bench/cwnd-trace.ts` prints piwire's.
 *
 * The tracepoints are read through a tracefs instance of our own
 * (/sys/kernel/tracing/instances/pwcwnd-<random>, filtered on the chargen port), so the
 * global trace buffer and anyone else's instances are left alone; it is removed at the
 * end, also on failure. Needs root, nft, tracefs and the `tcp_probe` tracepoint.
 *
 * usage: npx tsx bench/kernel-cwnd-trace.ts [--loss 0.03] [--transfers 4] [--mib 4] [--mtu 1500]
 *                                          [--congestion cubic|bbr|reno] [--keep DIR]
 *
 * `--keep DIR` writes each transfer's raw trace to DIR/transfer-N.txt and a capture of the
 * client's interface to DIR/transfer-N.pcap (headers only, bench/lib/capture.ts), for the
 * bursts as the loss bench's captures show them. The first transfer (0) is a warm-up and
 * is reported but marked so.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createLossyPath } from './lib/lossy-path.ts';
import { startCapture } from './lib/capture.ts';
import { percentiles } from './lib/loss.ts';
import { execOrThrow, spawnInNamespace, SYSTEM_PYTHON } from '../test/support/netns.ts';

const { values: flags } = parseArgs({
  options: {
    loss: { type: 'string', default: '0.03' },
    transfers: { type: 'string', default: '4' },
    mib: { type: 'string', default: '4' },
    mtu: { type: 'string', default: '1500' },
    congestion: { type: 'string' },
    keep: { type: 'string' },
  },
});
const loss = Number(flags.loss);
const transfers = Number(flags.transfers);
const bytes = Math.round(Number(flags.mib) * 1024 * 1024);
const mtu = Number(flags.mtu);
if (!(loss >= 0 && loss < 1) || !Number.isInteger(transfers) || transfers < 1 || !(bytes > 0) || !(mtu >= 576 && mtu <= 9000)) {
  process.stderr.write('kernel-cwnd-trace: --loss in [0, 1), --transfers ≥ 1, --mib > 0, --mtu in 576–9000\n');
  process.exit(2);
}
const TRACING = '/sys/kernel/tracing';
if (!existsSync(join(TRACING, 'events/tcp/tcp_probe'))) {
  process.stderr.write(`kernel-cwnd-trace: no tcp_probe tracepoint under ${TRACING} (root and tracefs needed)\n`);
  process.exit(2);
}
const CHARGEN_PORT = 19;
const CLIENTS = fileURLToPath(new URL('./clients/', import.meta.url));
const EVENTS = ['tcp_probe', 'tcp_cong_state_set'];

interface TraceSummary {
  acks: number;
  cwnd: number[];
  flight: number[];
  srttUs: number[];
  recoveries: number;
  losses: number;
}

/** Reads tcp_probe and tcp_cong_state_set lines (the tracepoints' own print formats). */
function summarise(text: string, mss: number): TraceSummary {
  const summary: TraceSummary = { acks: 0, cwnd: [], flight: [], srttUs: [], recoveries: 0, losses: 0 };
  for (const line of text.split('\n')) {
    const probe = / tcp_probe: .* snd_nxt=0x([0-9a-f]+) snd_una=0x([0-9a-f]+) snd_cwnd=(\d+) ssthresh=\d+ snd_wnd=\d+ srtt=(\d+)/.exec(line);
    if (probe) {
      summary.acks++;
      summary.cwnd.push(Number(probe[3]));
      summary.flight.push(((parseInt(probe[1]!, 16) - parseInt(probe[2]!, 16)) >>> 0) / mss);
      summary.srttUs.push(Number(probe[4]));
      continue;
    }
    const state = / tcp_cong_state_set: .* cong_state=(\d+)/.exec(line);
    if (state?.[1] === '3') summary.recoveries++;
    if (state?.[1] === '4') summary.losses++;
  }
  return summary;
}

const instance = join(TRACING, 'instances', `pwcwnd-${randomBytes(3).toString('hex')}`);
const path = await createLossyPath({ mtu, prefix: 'pwkt' });
let instanceMade = false;
try {
  mkdirSync(instance);
  instanceMade = true;
  await execOrThrow(path.deviceNamespace, ['ip', 'address', 'add', `${path.deviceAddress}/${path.prefixLength}`, 'dev', path.deviceInterface]);
  const server = spawnInNamespace(path.deviceNamespace, [SYSTEM_PYTHON, join(CLIENTS, 'kernel_bulk_server.py'), '--address', path.deviceAddress, ...(flags.congestion === undefined ? [] : ['--congestion', flags.congestion])]);
  try {
    const listening = await new Promise<string>((resolve, reject) => {
      let text = '';
      server.stdout?.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes('\n')) resolve(text.slice(0, text.indexOf('\n')));
      });
      server.once('exit', (code) => reject(new Error(`kernel_bulk_server.py exited (${code})`)));
    });
    const congestion = (JSON.parse(listening) as { congestion?: string }).congestion ?? 'unknown';
    writeFileSync(join(instance, 'buffer_size_kb'), '32768');
    for (const event of EVENTS) {
      writeFileSync(join(instance, 'events/tcp', event, 'filter'), `sport == ${CHARGEN_PORT}`);
      writeFileSync(join(instance, 'events/tcp', event, 'enable'), '1');
    }
    await path.setLoss(loss);
    // Payload of a full-sized segment with timestamps (both kernels negotiate them).
    const mss = mtu - 40 - 12;
    process.stdout.write(`kernel sender (${congestion}), MTU ${mtu}, loss ${(loss * 100).toFixed(1)}% each way, ${bytes / 1024 / 1024} MiB per transfer; per ACK, in segments of ${mss} bytes:\n`);
    if (flags.keep !== undefined) mkdirSync(flags.keep, { recursive: true });
    for (let transfer = 0; transfer <= transfers; transfer++) {
      writeFileSync(join(instance, 'trace'), '');
      const capture = flags.keep === undefined ? undefined : await startCapture(path.peerNamespace, path.peerInterface, join(flags.keep, `transfer-${transfer}.pcap`), ['tcp', 'port', String(CHARGEN_PORT)]);
      const result = await path.execPeer([SYSTEM_PYTHON, join(CLIENTS, 'lossy_bulk.py'), 'pull', path.deviceAddress, String(CHARGEN_PORT), String(bytes), '--deadline', '30'], { timeoutMs: 60_000 });
      const report = JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as { seconds?: number; bytes?: number; longest_stall_ms?: number };
      await capture?.stop();
      const text = readFileSync(join(instance, 'trace'), 'utf8');
      if (flags.keep !== undefined) writeFileSync(join(flags.keep, `transfer-${transfer}.txt`), text);
      const summary = summarise(text, mss);
      const seconds = report.seconds ?? Number.NaN;
      process.stdout.write(
        `  transfer ${transfer}${transfer === 0 ? ' (warm-up)' : ''}: ${(seconds * 1000).toFixed(1)} ms, ${(((report.bytes ?? 0) * 8) / seconds / 1e6).toFixed(0)} Mbit/s, longest stall ${(report.longest_stall_ms ?? Number.NaN).toFixed(1)} ms; ` +
          `${summary.acks} ACKs; cwnd p10/50/90 ${percentiles(summary.cwnd)}, flight ${percentiles(summary.flight)}, srtt ${percentiles(summary.srttUs)} µs; ` +
          `recoveries ${summary.recoveries}, loss state (RTO) ${summary.losses}${text.includes('LOST EVENTS') ? '; the trace lost events' : ''}\n`,
      );
    }
  } finally {
    server.kill('SIGTERM');
  }
} finally {
  if (instanceMade) {
    for (const event of EVENTS) {
      try {
        writeFileSync(join(instance, 'events/tcp', event, 'enable'), '0');
      } catch {
        // The instance is removed next either way.
      }
    }
    try {
      rmdirSync(instance);
    } catch (error) {
      process.stderr.write(`kernel-cwnd-trace: could not remove ${instance}: ${String(error)}\n`);
    }
  }
  await path.destroy();
}
