/**
 * `npx tsx bench/cwnd-trace.ts`: piwire's sender, ACK by ACK, under random loss, in
 * virtual time (issue 12: what bounds piwire's send bursts). Two piwire stacks on the
 * memory wire (test/support/stack-pair.ts) with the loss bench's path in miniature: a
 * fast line (10 Gbit/s), `--delay-us` one way (75 µs: the ~150 µs round trip the kernel
 * measured on the bridged path), random loss each way; the device sends `--mib` MiB to
 * the peer through 256 KiB buffers (the diag services' default). At every ACK reaching
 * the sender it samples cwnd, ssthresh and the flight (SND.MAX − SND.UNA) in segments,
 * before the stack takes the ACK, and prints their 10th/50th/90th percentiles over the
 * ACKs with the recoveries, RTOs and tail probes: the figures `bench/kernel-cwnd-trace.ts`
 * gives for the Linux kernel's sender on the real path. Same seed, same figures.
 *
 * `--echo`: the peer sends the bytes to an echo server on the device (raw TCP API: what
 * arrives is sent back as the send buffer takes it, reading paused while it is full) and
 * reads the echo; the trace is still the device's sender, now limited by what arrives.
 *
 * usage: npx tsx bench/cwnd-trace.ts [--loss 0.03] [--seeds 1,2,3] [--mib 4] [--delay-us 75]
 *                                    [--congestion cubic|reno|bbr] [--echo] [--verbose]
 *
 * `--verbose` prints every segment: OUT seq/len from the sender, ACK with its SACK
 * blocks and the sender's state (sequence numbers relative to the ISS).
 */
import { parseArgs } from 'node:util';
import { parseIpv4 } from '../src/net/address.ts';
import { noopHandler, type TcpConnection } from '../src/tcp/connection.ts';
import { seqDiff } from '../src/tcp/seq.ts';
import { createStackPair, DEVICE_IP, PEER_IP } from '../test/support/stack-pair.ts';
import { percentiles } from './lib/loss.ts';

const { values: flags } = parseArgs({
  options: {
    loss: { type: 'string', default: '0.03' },
    seeds: { type: 'string', default: '1,2,3' },
    mib: { type: 'string', default: '4' },
    'delay-us': { type: 'string', default: '75' },
    congestion: { type: 'string', default: 'cubic' },
    echo: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
});
const loss = Number(flags.loss);
const seeds = flags.seeds.split(',').map(Number);
const bytes = Math.round(Number(flags.mib) * 1024 * 1024);
const delayMs = Number(flags['delay-us']) / 1000;
const congestion = flags.congestion;
if (!(loss >= 0 && loss < 1) || seeds.some((seed) => !Number.isInteger(seed)) || !(bytes > 0) || !(delayMs >= 0) || (congestion !== 'cubic' && congestion !== 'reno' && congestion !== 'bbr')) {
  process.stderr.write('cwnd-trace: --loss in [0, 1), --seeds integers, --mib > 0, --delay-us ≥ 0, --congestion cubic|reno|bbr\n');
  process.exit(2);
}

const BUFFERS = { rcvBuf: 256 * 1024, sndBuf: 256 * 1024 };
const PORT = 9;
const CHUNK = 65_536;

/** Queues `bytes` (zeros) on `connection` as its send buffer takes them: the handler for onEstablished and onWritable. */
function bulkSender(connection: TcpConnection, bytes: number): () => void {
  const block = new Uint8Array(CHUNK);
  let queued = 0;
  return () => {
    while (queued < bytes) {
      const accepted = connection.send(block.subarray(0, Math.min(block.length, bytes - queued)));
      if (accepted === 0) return;
      queued += accepted;
    }
  };
}

for (const seed of seeds) {
  const pair = createStackPair({
    mtu: 1500,
    seed,
    deviceTcp: { congestion },
    faults: { lossRate: loss, delayMs, bandwidthBitsPerSecond: 10e9 },
  });
  let received = 0;
  const readAll = (connection: TcpConnection) => (): void => {
    for (let chunk = connection.read(CHUNK); chunk; chunk = connection.read(CHUNK)) received += chunk.length;
  };
  // The sender traced is the device's: chargen-like (it sends `bytes`) or echo (it sends back what the peer sends).
  let sender: TcpConnection;
  if (!flags.echo) {
    pair.peer.tcp.listen(PORT, BUFFERS, (connection) => {
      connection.handler = { ...noopHandler(), onReadable: readAll(connection) };
    });
    const device = pair.device.tcp.connect(parseIpv4(PEER_IP)!, PORT, BUFFERS);
    const pump = bulkSender(device, bytes);
    device.handler = { ...noopHandler(), onEstablished: pump, onWritable: pump };
    sender = device;
  } else {
    let echoing: TcpConnection | undefined;
    pair.device.tcp.listen(PORT, BUFFERS, (connection) => {
      echoing = connection;
      let pending: Uint8Array | undefined;
      const echo = (): void => {
        for (;;) {
          if (pending !== undefined) {
            const accepted = connection.send(pending);
            pending = accepted < pending.length ? pending.subarray(accepted) : undefined;
            if (pending !== undefined) return;
          }
          const chunk = connection.read(CHUNK);
          if (!chunk) return;
          pending = chunk;
        }
      };
      connection.handler = { ...noopHandler(), onReadable: echo, onWritable: echo };
    });
    const client = pair.peer.tcp.connect(parseIpv4(DEVICE_IP)!, PORT, BUFFERS);
    const pump = bulkSender(client, bytes);
    client.handler = { ...noopHandler(), onEstablished: pump, onWritable: pump, onReadable: readAll(client) };
    pair.world.runUntilDoneSync(() => echoing !== undefined, 10_000);
    if (echoing === undefined) throw new Error('the echo connection did not open');
    sender = echoing;
  }
  let iss: number | undefined;
  const cwnd: number[] = [];
  const ssthresh: number[] = [];
  const flight: number[] = [];
  pair.observeTcp((segment, to) => {
    if (to === 'peer') {
      iss ??= segment.sequenceNumber;
      if (flags.verbose && segment.payload.length > 0) {
        process.stdout.write(`${pair.world.now.toFixed(4)} OUT ${seqDiff(segment.sequenceNumber, iss)} len ${segment.payload.length}\n`);
      }
      return;
    }
    if (iss === undefined) return;
    const info = sender.info();
    if (info.state !== 'ESTABLISHED') return;
    cwnd.push(info.cwnd / info.mss);
    ssthresh.push(info.ssthresh / info.mss);
    flight.push(info.bytesInFlight / info.mss);
    if (flags.verbose) {
      const base = iss;
      const sack = (segment.options.sackBlocks ?? []).map(([left, right]) => `${seqDiff(left, base)}-${seqDiff(right, base)}`).join(',');
      process.stdout.write(
        `${pair.world.now.toFixed(4)} ACK ${seqDiff(segment.acknowledgmentNumber, base)}${sack ? ` sack ${sack}` : ''} | ` +
          `cwnd ${(info.cwnd / info.mss).toFixed(1)} ssthresh ${(info.ssthresh / info.mss).toFixed(1)} flight ${(info.bytesInFlight / info.mss).toFixed(1)}\n`,
      );
    }
  });
  const started = pair.world.now;
  pair.world.runUntilDoneSync(() => received >= bytes, 600_000);
  const ms = pair.world.now - started;
  const counters = pair.device.counters;
  process.stdout.write(
    `seed ${seed}, ${congestion}${flags.echo ? ', echo' : ''}, loss ${(loss * 100).toFixed(1)}% each way: ${ms.toFixed(1)} ms virtual, ${((received * 8) / ms / 1000).toFixed(0)} Mbit/s, ` +
      `${cwnd.length} ACKs; cwnd p10/50/90 ${percentiles(cwnd)}, flight ${percentiles(flight)}, ssthresh ${percentiles(ssthresh)} segments; ` +
      `recoveries ${counters.get('tcp.sack.recoveries')}, RTOs ${counters.get('tcp.timeout.rto')}, tail probes ${counters.get('tcp.tx.loss-probes')}, ` +
      `retransmissions ${counters.get('tcp.tx.retransmits')} (spurious ${counters.get('tcp.tx.spurious-retransmits')})${received < bytes ? ', NOT FINISHED' : ''}\n`,
  );
}
