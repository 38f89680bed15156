/**
 * PACKET_IGNORE_OUTGOING against the Linux kernel: frames this host sends out of the
 * interface are not offered to the packet link's receive socket at all, whoever sends
 * them: another process's raw socket, another link's transmit-only (segmentation offload)
 * socket, or the link's own. Two links on the same end of a veth pair, in a namespace of
 * their own (each in a child process, test/hal/fixtures/link-agent.ts):
 *   - the subject, as the firmware opens it (the option on, which leaves its receive
 *     socket without the TX_MARK filter: a frame that reached it would be counted);
 *   - the control, opened without the option: it must see the other sender's frames
 *     as own frames, which proves those frames were offered to packet sockets at all.
 * Each link's count is read after a frame from the peer has reached it: the ring is in
 * order, so everything offered to it before that frame has been counted by then.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { canUseNamespaces, createNamespace, deleteNamespace, execIn, ipIn, LinkAgent, NETNS_SKIP_REASON, rawSend, startRawReceiver, type AgentEvent } from './fixtures/netns.ts';

/** IEEE 802 local experimental EtherType 2: no kernel protocol claims these frames. */
const TEST_ETHERTYPE = 0x88b6;

function testFrame(destination: string, source: string, index: number): string {
  const payload = Buffer.alloc(46, index & 0xff);
  payload.writeUInt32BE(index, 0);
  return destination.replaceAll(':', '') + source.replaceAll(':', '') + TEST_ETHERTYPE.toString(16) + payload.toString('hex');
}

describe('PACKET_IGNORE_OUTGOING on the packet link (veth pair in a network namespace)', { skip: canUseNamespaces() ? false : NETNS_SKIP_REASON, timeout: 120_000 }, () => {
  let namespace = '';
  let subject: LinkAgent | undefined;
  let control: LinkAgent | undefined;
  let subjectOpened: AgentEvent | undefined;
  let controlOpened: AgentEvent | undefined;
  let deviceMac = '';
  let peerMac = '';

  before(async () => {
    namespace = createNamespace();
    ipIn(namespace, 'link', 'add', 'pwa', 'type', 'veth', 'peer', 'name', 'pwb');
    ipIn(namespace, 'link', 'set', 'pwa', 'up');
    ipIn(namespace, 'link', 'set', 'pwb', 'up');
    deviceMac = execIn(namespace, 'cat', ['/sys/class/net/pwa/address']).trim();
    peerMac = execIn(namespace, 'cat', ['/sys/class/net/pwb/address']).trim();
    subject = new LinkAgent(namespace, 'packet', 'pwa');
    control = new LinkAgent(namespace, 'packet', 'pwa', undefined, undefined, true);
    subjectOpened = await subject.waitFor((event) => event.event === 'open', 'the subject link to open');
    controlOpened = await control.waitFor((event) => event.event === 'open', 'the control link to open');
  });

  after(async () => {
    for (const agent of [subject, control]) {
      try {
        await agent?.close();
      } catch {
        // killed below either way
      } finally {
        agent?.kill();
      }
    }
    if (namespace) deleteNamespace(namespace);
  });

  /** Sends one frame from the peer and waits until both links have received it. */
  async function drain(index: number): Promise<void> {
    assert.ok(subject && control);
    const marker = testFrame(deviceMac, peerMac, index);
    rawSend(namespace, 'pwb', [marker]);
    await subject.waitFor((event) => event.event === 'frame' && event.hex === marker, 'the marker at the subject');
    await control.waitFor((event) => event.event === 'frame' && event.hex === marker, 'the marker at the control');
  }

  test('the kernel takes the option; the control link, opened without it, reports no fallback', () => {
    assert.equal(subjectOpened?.outgoingFallback, null, 'PACKET_IGNORE_OUTGOING is on');
    assert.equal(controlOpened?.outgoingFallback, null, 'not asked for, so no fallback');
  });

  test('frames of every other sender on this host and of the link itself never reach the receive socket', async () => {
    assert.ok(subject && control);
    const subjectBefore = await subject.stats();
    const controlBefore = await control.stats();

    // Another process's raw socket, the control link's transmit socket and the subject's own.
    const raw = Array.from({ length: 5 }, (_, index) => testFrame(peerMac, deviceMac, 100 + index));
    const fromControl = Array.from({ length: 5 }, (_, index) => testFrame(peerMac, deviceMac, 200 + index));
    const fromSubject = Array.from({ length: 5 }, (_, index) => testFrame(peerMac, deviceMac, 300 + index));
    const receiver = await startRawReceiver(namespace, 'pwb', TEST_ETHERTYPE, raw.length + fromControl.length + fromSubject.length);
    rawSend(namespace, 'pwa', raw);
    control.command({ op: 'send', frames: fromControl });
    await control.waitFor((event) => event.event === 'sent', 'the control link to send');
    subject.command({ op: 'send', frames: fromSubject });
    await subject.waitFor((event) => event.event === 'sent', 'the subject link to send');
    const atPeer = new Set<string>();
    for (let index = 0; index < raw.length + fromControl.length + fromSubject.length; index++) {
      atPeer.add(await receiver.waitForLine(() => true, 'a frame at the peer'));
    }
    assert.deepEqual([...atPeer].sort(), [...raw, ...fromControl, ...fromSubject].sort(), 'every frame went out of the interface');
    await drain(900);

    const subjectAfter = await subject.stats();
    const controlAfter = await control.stats();
    const delta = (after: Record<string, number>, earlier: Record<string, number>, name: string): number => (after[name] ?? 0) - (earlier[name] ?? 0);
    // The control proves the raw frames were offered to packet sockets; its own
    // segmentation-offload filter drops marked frames (the subject's and its own).
    assert.equal(delta(controlAfter, controlBefore, 'link.drop.own-frame'), raw.length, 'the control saw the raw socket’s frames');
    assert.equal(delta(subjectAfter, subjectBefore, 'link.drop.own-frame'), 0, 'no outgoing frame reached the subject');
    assert.equal(delta(subjectAfter, subjectBefore, 'link.rx.frames'), 1, 'the subject received the marker only');
    assert.equal(delta(subjectAfter, subjectBefore, 'link.tx.frames'), fromSubject.length);
  });
});
