/**
 * The kernel baseline for the sensor sections of bench/run.ts: the same line protocol
 * subset (PING/PONG, QUIET, PUT, QUIT) on Node's `net`, i.e. the kernel's TCP. Readings are
 * kept in memory only: its ingest figure is an upper bound for the path and the client,
 * not a durable store. Keepalive is on with the firmware's default idle time (10 s) so
 * the idle section compares like with like. Prints {"listening": PORT} once listening.
 *
 * usage: tsx bench/clients/kernel-sensor-server.ts [--port 7070] [--address 0.0.0.0]
 */
import { createServer, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const { values } = parseArgs({ options: { port: { type: 'string', default: '7070' }, address: { type: 'string', default: '0.0.0.0' } } });
const latest = new Map<string, number>();

function serve(socket: Socket): void {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 10_000);
  let quiet = false;
  let pending = '';
  socket.setEncoding('utf8');
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: string) => {
    pending += chunk;
    let replies = '';
    let newline = pending.indexOf('\n');
    let start = 0;
    let quit = false;
    while (newline !== -1 && !quit) {
      const line = pending.slice(start, newline).replace(/\r$/, '');
      start = newline + 1;
      const space = line.indexOf(' ');
      const verb = (space === -1 ? line : line.slice(0, space)).toUpperCase();
      const rest = space === -1 ? '' : line.slice(space + 1);
      if (verb === 'PING') replies += rest ? `PONG ${rest}\n` : 'PONG\n';
      else if (verb === 'QUIET') {
        quiet = rest.toLowerCase() === 'on';
        replies += 'OK\n';
      } else if (verb === 'PUT') {
        const [name, value] = rest.split(' ');
        if (name !== undefined && value !== undefined) {
          latest.set(name, Number(value));
          if (!quiet) replies += 'OK\n';
        } else replies += 'ERR 400 usage: PUT <name> <number> [<unix-ms>]\n';
      } else if (verb === 'QUIT') {
        // The server closes first and holds TIME-WAIT, as the device does.
        replies += 'BYE\n';
        quit = true;
      } else replies += 'ERR 400 unknown request\n';
      newline = pending.indexOf('\n', start);
    }
    pending = pending.slice(start);
    if (quit) socket.end(replies);
    else if (replies) socket.write(replies);
  });
  socket.on('end', () => socket.end());
}

const probePath = process.env.PIWIRE_BENCH_PROBE;
if (probePath !== undefined) {
  process.on('SIGUSR2', () => {
    // PATH.nogc: the runner asks for the figures without a collection (bench/lib/measure.ts `probe`).
    if (!existsSync(`${probePath}.nogc`)) {
      collectGarbage();
      collectGarbage();
    }
    const cpu = process.cpuUsage();
    writeFileSync(`${probePath}.tmp`, JSON.stringify({ ...process.memoryUsage(), userMicros: cpu.user, systemMicros: cpu.system }));
    renameSync(`${probePath}.tmp`, probePath);
  });
}

const server = createServer(serve);
server.maxConnections = 20_000;
server.listen({ port: Number(values.port), host: values.address, backlog: 4096 }, () => {
  process.stdout.write(`${JSON.stringify({ listening: Number(values.port) })}\n`);
});
