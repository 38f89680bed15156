/**
 * The capture helper (test/support/capture.ts) on a real veth pair: a frame sent the
 * instant before stop() is in the file (dumpcap's ring is drained up to the end marker,
 * no settling time), and a capture whose interface vanished rejects as incomplete
 * instead of handing a truncated file to the protocol assertions.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { canUseNamespaces, createVethNamespace, deleteNamespace, NETNS_SKIP_REASON } from '../hal/fixtures/netns.ts';
import { CaptureIncompleteError, startCapture } from './capture.ts';
import { CLIENTS_DIRECTORY, execOrThrow, SYSTEM_PYTHON } from './netns.ts';

describe('capture helper', { skip: canUseNamespaces() ? false : NETNS_SKIP_REASON, timeout: 120_000 }, () => {
  const namespaces: string[] = [];
  after(() => namespaces.forEach(deleteNamespace));

  it('writes a frame sent right before stop()', async () => {
    const namespace = createVethNamespace('198.18.0.1/24');
    namespaces.push(namespace);
    const capture = await startCapture({ namespace, interfaceName: 'pwb' });
    try {
      const payload = randomBytes(24);
      // Any frame will do; the marker sender is the one frame sender at hand.
      await execOrThrow(namespace, [SYSTEM_PYTHON, `${CLIENTS_DIRECTORY}capture_marker.py`, 'pwb', payload.toString('hex')]);
      const report = await capture.stop();
      assert.ok((await readFile(capture.file)).includes(payload), `the last frame is in the file (${report.summary})`);
      assert.equal(report.dropped, 0);
      assert.match(report.summary, /Packets captured: 3/, 'start marker, the frame, end marker');
    } finally {
      await capture.remove();
    }
  });

  it('rejects as incomplete when dumpcap lost its interface', async () => {
    const namespace = createVethNamespace('198.18.0.1/24');
    namespaces.push(namespace);
    const capture = await startCapture({ namespace, interfaceName: 'pwb' });
    try {
      await execOrThrow(namespace, ['ip', 'link', 'del', 'pwb']);
      await assert.rejects(capture.stop(), CaptureIncompleteError);
    } finally {
      await capture.remove();
    }
  });
});
