/**
 * The diag services' chargen (RFC 864) on two stacks on a memory wire, virtual time:
 * the stream a client reads is the RFC's rotating 72-character lines, unbroken across
 * the service's writes, and it stops when the client closes. The block it writes is
 * built by the first chargen connection, not by loading the module or listening.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createStackPair, DEVICE_IP } from '../support/stack-pair.ts';
import { CHARGEN_PERIOD_LINES, chargenBlock, chargenBlockBuilt, serveChargen, startDiagServices } from '../../src/services/diag.ts';

const LINE_BYTES = 74;

/** Line `index` of RFC 864's pattern: 72 printable characters from 32 + index mod 95, CR LF. */
function expectedLine(index: number): string {
  let line = '';
  for (let i = 0; i < 72; i++) line += String.fromCharCode(32 + ((index + i) % 95));
  return line + '\r\n';
}

describe('chargen (RFC 864)', () => {
  // First in this file, and no unit test file before it opens a chargen connection: the
  // block must still be unbuilt here, also when the files share one process (--one-process).
  it('builds its block on the first connection, not when listening', async () => {
    const pair = createStackPair();
    const services = startDiagServices(pair.device.net);
    assert.equal(chargenBlockBuilt(), false, 'built before any chargen connection');
    const client = pair.peer.net.connect({ host: DEVICE_IP, port: 19 });
    let received = 0;
    client.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    assert.ok(await pair.world.runUntilDone(() => received > 0, 60_000), 'chargen sent nothing');
    assert.equal(chargenBlockBuilt(), true);
    assert.equal(chargenBlock(), chargenBlock(), 'one block, built once');
    client.destroy();
    assert.ok(await pair.world.runUntilDone(() => services.chargen.connectionCount === 0, 60_000));
    services.close();
  });

  it('the block is whole periods of the pattern', () => {
    const block = chargenBlock();
    assert.equal(block.length % (CHARGEN_PERIOD_LINES * LINE_BYTES), 0);
    assert.ok(block.length > 16 * 1024, 'a write larger than the socket high-water mark');
  });

  it('streams the rotating lines unbroken across writes until the client closes', async () => {
    // A wire with delay, so virtual time moves while the generator keeps the link busy.
    const pair = createStackPair({ faults: { delayMs: 1, bandwidthBitsPerSecond: 100e6 } });
    const server = pair.device.net.createServer({ sndBuf: 16 * 1024 }, serveChargen);
    server.listen(19);
    const client = pair.peer.net.connect({ host: DEVICE_IP, port: 19 });
    const chunks: Buffer[] = [];
    let received = 0;
    // Past several blocks, so block boundaries and the send buffer's wrap are crossed.
    const wanted = 3 * chargenBlock().length + 5_000;
    client.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
    });
    assert.ok(await pair.world.runUntilDone(() => received >= wanted, 60_000), `received ${received}`);
    const text = Buffer.concat(chunks).toString('latin1');
    const lines = Math.floor(text.length / LINE_BYTES);
    for (let index = 0; index < lines; index++) {
      const line = text.slice(index * LINE_BYTES, (index + 1) * LINE_BYTES);
      if (line !== expectedLine(index)) assert.fail(`line ${index} is ${JSON.stringify(line)}`);
    }
    client.destroy();
    assert.ok(await pair.world.runUntilDone(() => server.connectionCount === 0, 60_000), 'the service stops when the client closes');
    server.close();
  });
});
