import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { COMMAND_NAMES, renderPlot, runCommand } from '../../../src/services/shell/commands.ts';
import { FakeContext } from './fake-context.ts';

async function run(line: string, context = new FakeContext()): Promise<{ ok: boolean; close: boolean; output: string }> {
  let output = '';
  const result = await runCommand(line, context, (text) => (output += text));
  return { ok: result.ok, close: result.close ?? false, output };
}

describe('shell commands', () => {
  it('help lists every SPEC §5 command', async () => {
    const { ok, output } = await run('help');
    assert.equal(ok, true);
    for (const name of ['help', 'status', 'conns', 'stats', 'arp', 'ping', 'leds', 'sensors', 'readings', 'plot', 'config', 'log', 'kill', 'restart', 'quit']) {
      assert.ok(COMMAND_NAMES.includes(name), name);
      assert.match(output, new RegExp(`^${name}\\b`, 'm'));
    }
  });

  it('status prints key: value lines, and JSON with --json', async () => {
    assert.match((await run('status')).output, /^ip: 198\.18\.0\.2\/24$/m);
    const parsed = JSON.parse((await run('status --json')).output) as Record<string, unknown>;
    assert.equal(parsed['version'], '0.1.0');
    assert.deepEqual(parsed['faults'], []);
  });

  it('conns shows a netstat-like table with every SPEC column', async () => {
    const { output } = await run('conns');
    const [header, row] = output.trimEnd().split('\n');
    assert.match(header ?? '', /^id\s+local\s+remote\s+state\s+srtt\s+rto\s+mss\s+cwnd\s+snd-wnd\s+rcv-wnd\s+rexmit\s+zwp\s+keepalive$/);
    assert.deepEqual(row?.split(/\s+/), ['7', '198.18.0.2:2323', '198.18.0.1:40000', 'ESTABLISHED', '12', '200', '1448', '14600', '64240', '16384', '2', '3/1', '4']);
  });

  it('conns --json gives addresses as text and every counter', async () => {
    const parsed = JSON.parse((await run('conns --json')).output) as Record<string, unknown>[];
    assert.equal(parsed.length, 1);
    assert.equal(parsed[0]?.['state'], 'ESTABLISHED');
    assert.equal(parsed[0]?.['remoteAddress'], '198.18.0.1');
    assert.equal(parsed[0]?.['keepaliveProbes'], 4);
    assert.equal(parsed[0]?.['mss'], 1448);
  });

  it('stats and arp, plain and --json', async () => {
    assert.match((await run('stats')).output, /^ipv4\.drop\.bad-checksum\s+1$/m);
    assert.deepEqual(JSON.parse((await run('stats --json')).output), { 'ipv4.drop.bad-checksum': 1, 'tcp.tx.retransmits': 2 });
    const arp = (await run('arp')).output;
    assert.match(arp, /^198\.18\.0\.1\s+02:00:00:00:00:01\s+reachable$/m);
    assert.match(arp, /^198\.18\.0\.9\s+\(incomplete\)\s+incomplete$/m);
    const arpJson = JSON.parse((await run('arp --json')).output) as { address: string; mac: string | null }[];
    assert.deepEqual(arpJson.map((entry) => [entry.address, entry.mac]), [['198.18.0.1', '02:00:00:00:00:01'], ['198.18.0.9', null]]);
  });

  it('rejects unknown arguments to the --json commands', async () => {
    const result = await run('stats --yaml');
    assert.equal(result.ok, false);
    assert.match(result.output, /^error: unexpected argument --yaml/);
  });

  it('ping reports each echo and fails when nothing came back', async () => {
    const context = new FakeContext();
    context.lost = new Set([2]);
    const some = await run('ping 198.18.0.1 3', context);
    assert.equal(some.ok, true);
    assert.match(some.output, /icmp_seq=2: no reply/);
    assert.match(some.output, /3 packets transmitted, 2 received, 33% packet loss/);
    context.lost = new Set([1]);
    const none = await run('ping 198.18.0.1 1', context);
    assert.equal(none.ok, false);
    assert.equal((await run('ping 300.1.1.1')).ok, false);
    assert.equal((await run('ping 198.18.0.1 0')).ok, false);
    assert.equal((await run('ping 198.18.0.1 101')).ok, false);
  });

  it('leds, sensors, readings, config, log', async () => {
    assert.match((await run('leds')).output, /^fault\s+code\s+6$/m);
    assert.match((await run('sensors')).output, /^bme280\.temperature\s+21\.5\s+i2c\s+2023-11-14T22:13:20\.000Z$/m);
    const readings = (await run('readings bme280.temperature 3')).output.trimEnd().split('\n');
    assert.equal(readings.length, 3);
    assert.match(readings[2] ?? '', /T22:13:49\.000Z\s+24\.5$/);
    const missing = await run('readings nope');
    assert.equal(missing.ok, false);
    assert.deepEqual(JSON.parse((await run('config')).output), { net: { mtu: 1500 } });
    assert.equal((await run('log 2')).output, '{"event":"b"}\n{"event":"c"}\n');
    assert.equal((await run('log x')).ok, false);
  });

  it('kill resets a known connection and fails for an unknown id', async () => {
    const context = new FakeContext();
    assert.equal((await run('kill 7', context)).ok, true);
    assert.equal((await run('kill 8', context)).ok, false);
    assert.equal((await run('kill', context)).ok, false);
    assert.deepEqual(context.killed, [7, 8]);
  });

  it('quit and restart end the session; restart calls the context', async () => {
    const context = new FakeContext();
    assert.deepEqual(await run('quit', context), { ok: true, close: true, output: 'bye\n' });
    const restart = await run('restart', context);
    assert.equal(restart.close, true);
    assert.equal(context.restarts, 1);
  });

  it('unknown commands fail; empty lines succeed; names are case-insensitive', async () => {
    assert.equal((await run('frobnicate')).ok, false);
    assert.equal((await run('   ')).ok, true);
    assert.equal((await run('HELP')).ok, true);
    assert.equal((await run('__proto__')).ok, false);
  });

  it('a context that throws makes a failed command, not an exception', async () => {
    const context = new FakeContext();
    context.counters = () => {
      throw new Error('boom');
    };
    assert.deepEqual(await run('stats', context), { ok: false, close: false, output: 'error: boom\n' });
  });
});

describe('plot', () => {
  it('draws one star per reading, highest at the top, labelled with min and max', () => {
    const points = [1, 2, 3, 4, 5].map((value, i) => ({ value, at: i * 1000 }));
    const chart = renderPlot('x', points, 60, 5).trimEnd().split('\n');
    assert.deepEqual(chart.slice(0, 6), ['5 |    *', '  |   *', '  |  *', '  | *', '1 |*', '  +-----']);
    assert.match(chart[6] ?? '', /^x: 5 readings, min 1, max 5, last 5, 1970-01-01T00:00:00\.000Z \.\. 1970-01-01T00:00:04\.000Z$/);
  });

  it('draws a flat series in the middle and keeps only the last width readings', () => {
    const points = Array.from({ length: 100 }, (_, i) => ({ value: 7, at: i }));
    const chart = renderPlot('flat', points, 60, 5).split('\n');
    assert.equal(chart[2], `  |${'*'.repeat(60)}`);
    assert.equal(chart[0], '7 |');
    assert.equal(chart.filter((line) => line.includes('*')).length, 1);
  });

  it('the plot command charts recent readings and fails for an unknown name', async () => {
    const { ok, output } = await run('plot bme280.temperature');
    assert.equal(ok, true);
    assert.equal((output.match(/\*/g) ?? []).length, 30);
    assert.match(output, /min 20, max 24\.5/);
    assert.equal((await run('plot nothing')).ok, false);
  });
});
