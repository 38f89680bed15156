/**
 * Checks shared by the emulated-Pi suites (arm.test.ts, vm-check.ts, docker.test.ts):
 * the sensor protocol answering on the simulated board's bridged port, and the
 * raw-socket probe's report (raw-socket-probe.mjs) judged the same way wherever it ran.
 */
import assert from 'node:assert/strict';
import { describeResult, runClient } from '../support/netns.ts';

/** The raw-socket probe (raw-socket-probe.mjs), relative to the checkout's root. */
export const RAW_SOCKET_PROBE = 'test/pi/raw-socket-probe.mjs';

/** What raw-socket-probe.mjs prints (one JSON line). */
export interface RawSocketProbeReport {
  arch?: string;
  loaded?: boolean;
  error?: string;
  socket?: string;
  options?: Record<string, string>;
  reply?: string;
}

/** The probe's JSON line from its stdout ({} when it printed none: the assertions then fail with the output). */
export function parseProbe(stdout: string): RawSocketProbeReport {
  const line = stdout.split('\n').find((candidate) => candidate.startsWith('{'));
  try {
    return line === undefined ? {} : (JSON.parse(line) as RawSocketProbeReport);
  } catch {
    return {};
  }
}

/**
 * The probe ran to the end on `nodeArch`: the addon loaded, the raw socket opened with
 * SO_BINDTODEVICE and IP_HDRINCL, and `peer` answered the echo request. SO_MARK must be
 * set on a real kernel (`mark: 'required'`); qemu-user does not translate it
 * (`'emulated'`: ENOPROTOOPT is accepted, any other error fails).
 */
export function assertRawSocketProbe(
  run: { code: number | null; output: string; evidence: string },
  expected: { nodeArch: string; peer: string; mark: 'required' | 'emulated' },
): RawSocketProbeReport {
  const report = parseProbe(run.output);
  assert.equal(run.code, 0, run.evidence);
  assert.deepEqual([report.arch, report.loaded, report.socket], [expected.nodeArch, true, 'ok'], run.evidence);
  assert.deepEqual([report.options?.['SO_BINDTODEVICE'], report.options?.['IP_HDRINCL']], ['ok', 'ok'], run.evidence);
  assert.match(report.options?.['SO_MARK'] ?? '', expected.mark === 'required' ? /^ok$/ : /^(ok|Protocol not available)$/, run.evidence);
  assert.equal(report.reply?.replace(/^\d+ /, ''), `bytes from ${expected.peer}`, run.evidence);
  return report;
}

/** The simulated board's sensor protocol, pipelined, on 127.0.0.1:7070 in `namespace`. */
export async function assertSensorProtocol(namespace: string): Promise<void> {
  const client = await runClient<{ checked: number; mismatches: unknown[]; eof: boolean }>(
    namespace,
    'sensor_client.py',
    ['127.0.0.1', '7070', '--puts', '20', '--timeout', '60'],
    { timeoutMs: 120_000 },
  );
  assert.equal(client.result.code, 0, describeResult(client.result));
  assert.ok(client.report && client.report.checked > 20 && client.report.mismatches.length === 0 && client.report.eof, client.result.stdout);
}
