/**
 * The native addon and the AF_PACKET link.
 *
 * The addon must load: this suite fails, not skips, when it is not built (CI needs it).
 * The packet-link part runs against the Linux kernel: a veth pair in a network namespace
 * of its own, the link opened inside it by a child process (test/hal/fixtures/link-agent.ts)
 * and the far end driven by plain Python AF_PACKET sockets (fixtures/raw_peer.py), so what
 * is checked does not depend on the addon checking itself. Needs root and ip(8).
 * The packet-link suite runs once per receive mode: the TPACKET_V2 and V3 rings and the
 * recvmmsg fallback must behave alike.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { loadNativeAddon, NATIVE_ADDON_PATH, OFFLOAD_FEATURES, type NativeHandle, type ReceiveMode } from '../../hal/link/native.ts';
import { openPacketLink } from '../../hal/link/packet.ts';
import { parseIpv4, parseMac } from '../../src/net/address.ts';
import { emitEthernetHeader, ETHERNET_HEADER_LENGTH, EtherType } from '../../src/wire/ethernet.ts';
import { emitIpv4Header, IpProtocol, IPV4_HEADER_LENGTH } from '../../src/wire/ipv4.ts';
import { internetChecksum } from '../../src/wire/checksum.ts';
import { emitTcp, TcpFlag, tcpHeaderLength, type TcpRepr } from '../../src/wire/tcp.ts';
import {
  canUseNamespaces,
  execIn,
  ipIn,
  LinkAgent,
  linkAgentPerSuite,
  NETNS_SKIP_REASON,
  rawFlood,
  rawSend,
  startRawReceiver,
} from './fixtures/netns.ts';

/** IEEE 802 local experimental EtherType 1: no kernel protocol claims these frames. */
const TEST_ETHERTYPE = 0x88b5;

function testFrame(destination: string, source: string, index: number, payloadLength = 46): string {
  const payload = Buffer.alloc(payloadLength, index & 0xff);
  payload.writeUInt32BE(index, 0);
  return destination.replaceAll(':', '') + source.replaceAll(':', '') + TEST_ETHERTYPE.toString(16) + payload.toString('hex');
}

/**
 * An Ethernet frame with a TCP/IPv4 segment of `payloadLength` bytes (timestamps option),
 * its checksums computed by the stack's own wire code; `corrupt` flips a payload bit (or
 * a header bit without payload) after the checksum, `fragment` sets more-fragments.
 */
interface SegmentFields {
  corrupt?: boolean;
  fragment?: boolean;
  /** The payload itself (else `payloadLength` bytes of a fixed pattern). */
  payload?: Uint8Array;
  seq?: number;
  ack?: number;
  flags?: number;
  sourcePort?: number;
}

function tcpFrame(destination: string, source: string, payloadLength: number, options: SegmentFields = {}): string {
  const from = parseIpv4('198.18.0.1')!;
  const to = parseIpv4('198.18.0.2')!;
  const payload = options.payload ?? Uint8Array.from({ length: payloadLength }, (_, index) => (index * 31 + 7) & 0xff);
  const repr: TcpRepr = {
    sourcePort: options.sourcePort ?? 40_000, destinationPort: 9, sequenceNumber: options.seq ?? 0xfedc_ba98, acknowledgmentNumber: options.ack ?? 0x1234_5678,
    flags: options.flags ?? TcpFlag.ACK | TcpFlag.PSH, window: 500, urgentPointer: 0,
    options: { timestamps: { value: 0x8000_0001, echo: 77 } }, payload,
  };
  const tcpLength = tcpHeaderLength(repr.options) + payload.length;
  const frame = new Uint8Array(ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH + tcpLength);
  emitEthernetHeader(frame, parseMac(destination)!, parseMac(source)!, EtherType.IPV4);
  emitIpv4Header(frame, { source: from, destination: to, protocol: IpProtocol.TCP, ttl: 64, identification: 1, dontFragment: !options.fragment }, tcpLength, ETHERNET_HEADER_LENGTH);
  emitTcp(repr, frame.subarray(ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH), from, to);
  if (options.fragment) {
    const header = frame.subarray(ETHERNET_HEADER_LENGTH, ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH);
    header[6]! |= 0x20; // more fragments; the header checksum made right again
    header[10] = 0;
    header[11] = 0;
    const checksum = internetChecksum(header);
    header[10] = checksum >>> 8;
    header[11] = checksum & 0xff;
  }
  if (options.corrupt) frame[frame.length - 1]! ^= 0x01;
  return Buffer.from(frame).toString('hex');
}

describe('native addon', () => {
  test('loads from build/Release (run `npm install` to build it)', () => {
    const addon = loadNativeAddon();
    assert.ok(NATIVE_ADDON_PATH.endsWith('build/Release/piwire_link.node'));
    for (const name of ['openPacket', 'openTap', 'send', 'close', 'carrier', 'mac', 'mtu', 'disableOffloads', 'enableSegmentOffload'] as const) {
      assert.equal(typeof addon[name], 'function', `addon.${name}`);
    }
    assert.equal(loadNativeAddon(), addon, 'loaded once');
  });

  test('reads MTU, MAC and carrier as the kernel reports them in sysfs', () => {
    const addon = loadNativeAddon();
    const sysfs = (file: string): string => readFileSync(`/sys/class/net/lo/${file}`, 'utf8').trim();
    assert.equal(addon.mtu('lo'), Number(sysfs('mtu')));
    assert.equal(Buffer.from(addon.mac('lo')).toString('hex').match(/../g)!.join(':'), sysfs('address'));
    // IFF_RUNNING is not in sysfs `flags`; the kernel derives it from up + operational state.
    const IFF_UP = 0x1;
    const up = (Number(sysfs('flags')) & IFF_UP) !== 0;
    const running = up && sysfs('carrier') === '1' && ['up', 'unknown'].includes(sysfs('operstate'));
    assert.equal(addon.carrier('lo'), running);
  });

  test('system call errors carry the errno name and the interface name', () => {
    const addon = loadNativeAddon();
    assert.throws(() => addon.mtu('pwnosuch0'), (error: NodeJS.ErrnoException & { interfaceName?: string }) => {
      assert.equal(error.code, 'ENODEV');
      assert.equal(error.syscall, 'ioctl(SIOCGIFMTU)');
      assert.equal(error.interfaceName, 'pwnosuch0');
      assert.match(error.message, /pwnosuch0.*ENODEV/);
      return true;
    });
    assert.throws(() => addon.carrier('a-name-longer-than-ifnamsiz'), RangeError);
    assert.throws(() => addon.send({ name: 'x', ifindex: 1 } as unknown as NativeHandle, []), /not a link handle/);
  });

  test('a packet link refuses an interface that is not Ethernet', () => {
    assert.throws(() => openPacketLink({ interfaceName: 'lo', disableOffloads: false }), (error: NodeJS.ErrnoException) => {
      assert.equal(error.code, 'EAFNOSUPPORT');
      assert.match(error.message, /lo is not an Ethernet interface/);
      return true;
    });
  });
});

const RECEIVE_MODES: readonly ReceiveMode[] = ['tpacket-v2', 'tpacket-v3', 'recvmmsg', 'recvmsg'];

for (const mode of RECEIVE_MODES) {
  describe(`packet link (${mode}) on a veth pair in a network namespace`, { skip: canUseNamespaces() ? false : NETNS_SKIP_REASON, timeout: 120_000 }, () => {
    let peerMac = '';
    const suite = linkAgentPerSuite((namespace) => {
      ipIn(namespace, 'link', 'add', 'pwa', 'type', 'veth', 'peer', 'name', 'pwb');
      ipIn(namespace, 'link', 'set', 'pwa', 'up');
      ipIn(namespace, 'link', 'set', 'pwb', 'up');
      peerMac = execIn(namespace, 'cat', ['/sys/class/net/pwb/address']).trim();
      return new LinkAgent(namespace, 'packet', 'pwa', undefined, mode);
    }, 'the link to open');

    test('opens with the interface MAC and MTU, carrier up, offloads switched off', () => {
      assert.equal(suite.opened().name, 'packet:pwa');
      assert.equal(suite.opened().mac, execIn(suite.namespace(), 'cat', ['/sys/class/net/pwa/address']).trim());
      assert.equal(suite.opened().mtu, 1500);
      assert.equal(suite.opened().carrier, true);
      assert.equal(suite.opened().promiscuous, false);
      const offloads = suite.opened().offloads as Record<string, string>;
      assert.deepEqual(Object.keys(offloads).sort(), [...OFFLOAD_FEATURES].sort());
      // veth implements all of these in software; ethtool(8) confirms what the report says.
      // (The legacy TSO switch covers IPv4/IPv6 TSO, not newer variants such as AccECN.)
      const features = execIn(suite.namespace(), 'ethtool', ['-k', 'pwa']);
      for (const [feature, line] of [
        ['tx', 'tx-checksumming'],
        ['sg', 'scatter-gather'],
        ['tso', '\\ttx-tcp-segmentation'],
        ['tso', '\\ttx-tcp6-segmentation'],
        ['gso', 'generic-segmentation-offload'],
      ] as const) {
        assert.equal(offloads[feature], 'off', `${feature} reported`);
        assert.match(features, new RegExp(`^${line}: off`, 'm'), `${line} per ethtool`);
      }
      // GRO is left as the interface has it (receive offload, the default): off on a veth.
      assert.equal(offloads['gro'], 'kept');
      assert.match(features, /^generic-receive-offload: off/m);
    });

    test(`receives through ${mode}, as asked: no silent fallback`, () => {
      assert.equal(suite.opened().receiveMode, mode);
      assert.equal(suite.opened().ringFallback, null);
      assert.equal(suite.opened().outgoingFallback, null, 'the kernel took PACKET_IGNORE_OUTGOING');
    });

    test('a frame sent by the peer arrives byte for byte', async () => {
      const agent = suite.agent();
      const frame = testFrame(String(suite.opened().mac), peerMac, 7);
      rawSend(suite.namespace(), 'pwb', [frame]);
      const received = await agent.waitFor((event) => event.event === 'frame', 'the frame from the peer');
      assert.equal(received.hex, frame);
    });

    test('what waited while the process was busy is one receive batch, however many reads it takes', async () => {
      const agent = suite.agent();
      const mac = String(suite.opened().mac);
      // More than one read's worth (the batch size is 64), and an exact multiple of it,
      // after which the last read finds nothing and only ends the batch.
      for (const count of [150, 128]) {
        agent.discardPending();
        const frames = Array.from({ length: count }, (_, index) => testFrame(mac, peerMac, 10_000 + index));
        agent.command({ op: 'block', ms: 500 });
        await agent.waitFor((event) => event.event === 'blocking', 'the agent to block');
        rawSend(suite.namespace(), 'pwb', frames);
        await agent.waitFor((event) => event.event === 'unblocked', 'the agent to unblock');
        const batch = await agent.waitFor((event) => event.event === 'batch', `the batch of ${count} frames`);
        assert.equal(batch.frames, count, `${count} frames in one batch`);
        // V3 reads whole blocks (each may hold them all); the other modes read 64 frames at most.
        if (mode !== 'tpacket-v3') assert.ok(Number(batch.reads) >= Math.ceil(count / 64), `${String(batch.reads)} reads`);
        for (const [index, frame] of frames.entries()) {
          const received = await agent.waitFor((event) => event.event === 'frame', `frame ${index + 1}`);
          assert.equal(received.hex, frame, `frame ${index + 1} in order`);
        }
      }
    });

    test('receive checksum offload: a TCP/IPv4 segment with a right checksum is marked, a wrong one, a fragment and other frames are not', async () => {
      const agent = suite.agent();
      const mac = String(suite.opened().mac);
      const cases: [string, string, boolean][] = [
        ['right checksum', tcpFrame(mac, peerMac, 1448), true],
        ['right checksum, odd length', tcpFrame(mac, peerMac, 333), true],
        ['right checksum, no payload', tcpFrame(mac, peerMac, 0), true],
        // The addon sums 32 bytes a step, then 4, then the last 1-3: lengths on and either
        // side of those steps (the TCP length is the payload + 20).
        ...[12, 13, 43, 44, 45, 46, 1447].map((length): [string, string, boolean] => [`right checksum, ${length}-byte payload`, tcpFrame(mac, peerMac, length), true]),
        ['one payload bit flipped, 12-byte payload (the 32-byte step)', tcpFrame(mac, peerMac, 12, { corrupt: true }), false],
        ['one payload bit flipped, 45-byte payload (the last byte)', tcpFrame(mac, peerMac, 45, { corrupt: true }), false],
        ['one payload bit flipped', tcpFrame(mac, peerMac, 1448, { corrupt: true }), false],
        ['more-fragments set', tcpFrame(mac, peerMac, 64, { fragment: true }), false],
        ['not TCP', testFrame(mac, peerMac, 9), false],
      ];
      for (const [what, frame, good] of cases) {
        rawSend(suite.namespace(), 'pwb', [frame]);
        const received = await agent.waitFor((event) => event.event === 'frame' && event.hex === frame, what);
        assert.equal(received.tcpChecksumGood, good, what);
      }
    });

    test('receive coalescing: a run of one flow\'s in-order segments in a batch arrives as one frame, checksums right; what GRO would not merge stays apart', async () => {
      const agent = suite.agent();
      agent.discardPending();
      const before = await agent.stats();
      const mac = String(suite.opened().mac);
      const SEQ = 0xffff_f000; // the run wraps the sequence space
      const data = Uint8Array.from({ length: 9 * 1000 }, (_, index) => (index * 13 + 5) & 0xff);
      const part = (from: number, to: number): Uint8Array => data.subarray(from * 1000, to * 1000);
      const segment = (index: number, fields: SegmentFields = {}): string =>
        tcpFrame(mac, peerMac, 0, { seq: (SEQ + index * 1000) >>> 0, payload: part(index, index + 1), flags: TcpFlag.ACK, ...fields });
      const otherAck = { ack: 0x1234_9999 };
      const sent = [
        segment(0), segment(1), segment(2), // a run
        segment(3, otherAck), segment(4, otherAck), // another ACK number: a run of its own
        segment(6), // a gap (5 missing): alone, the next is another flow
        segment(0, { sourcePort: 40_001 }),
        segment(7), segment(8, { flags: TcpFlag.ACK | TcpFlag.PSH }), // PSH ends a run, and is in it
      ];
      const expected = [
        tcpFrame(mac, peerMac, 0, { seq: SEQ, payload: part(0, 3), flags: TcpFlag.ACK }),
        tcpFrame(mac, peerMac, 0, { seq: (SEQ + 3000) >>> 0, payload: part(3, 5), flags: TcpFlag.ACK, ...otherAck }),
        sent[5]!,
        sent[6]!,
        tcpFrame(mac, peerMac, 0, { seq: (SEQ + 7000) >>> 0, payload: part(7, 9), flags: TcpFlag.ACK | TcpFlag.PSH }),
      ];
      agent.command({ op: 'block', ms: 500 });
      await agent.waitFor((event) => event.event === 'blocking', 'the agent to block');
      rawSend(suite.namespace(), 'pwb', sent);
      await agent.waitFor((event) => event.event === 'unblocked', 'the agent to unblock');
      if (mode === 'tpacket-v3') {
        // V3 hands over whole blocks, and a block's 1 ms timer may close it in the middle of
        // the burst: the batch, and so the runs, may be split there. What must hold: each
        // frame is the merge of consecutive sent segments of one flow (its first one's
        // header, their payloads in order), and together they are every segment sent.
        let next = 0;
        while (next < sent.length) {
          const received = await agent.waitFor((event) => event.event === 'frame', `a frame from segment ${next + 1} on`);
          assert.equal(received.tcpChecksumGood, true);
          const frame = Buffer.from(String(received.hex), 'hex');
          const headers = ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH + (frame[ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH + 12]! >> 4) * 4;
          const first = Buffer.from(sent[next]!, 'hex');
          assert.deepEqual(frame.subarray(ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH, ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH + 8), first.subarray(ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH, ETHERNET_HEADER_LENGTH + IPV4_HEADER_LENGTH + 8), 'ports and sequence number of the run\'s first segment');
          let payload = frame.subarray(headers);
          while (payload.length > 0) {
            const segmentPayload = Buffer.from(sent[next]!, 'hex').subarray(headers);
            assert.deepEqual(payload.subarray(0, segmentPayload.length), segmentPayload, `segment ${next + 1}'s payload in order`);
            payload = payload.subarray(segmentPayload.length);
            next++;
          }
        }
        return;
      }
      for (const [index, frame] of expected.entries()) {
        const received = await agent.waitFor((event) => event.event === 'frame', `frame ${index + 1} of ${expected.length}`);
        assert.equal(received.hex, frame, `frame ${index + 1}`);
        assert.equal(received.tcpChecksumGood, true, `frame ${index + 1}: checksum`);
      }
      const after = await agent.stats();
      assert.equal((after['link.rx.coalesced-frames'] ?? 0) - (before['link.rx.coalesced-frames'] ?? 0), 4);
      assert.equal((after['link.rx.merged-frames'] ?? 0) - (before['link.rx.merged-frames'] ?? 0), 3);
    });

    test('a batch sent by the link reaches the peer in order, and is not received back', async () => {
      const agent = suite.agent();
      const before = await agent.stats();
      const frames = Array.from({ length: 20 }, (_, index) => testFrame(peerMac, String(suite.opened().mac), 100 + index, 46 + index));
      const receiver = await startRawReceiver(suite.namespace(), 'pwb', TEST_ETHERTYPE, frames.length);
      agent.command({ op: 'send', frames });
      await agent.waitFor((event) => event.event === 'sent', 'the batch to be sent');
      for (const frame of frames) {
        assert.equal(await receiver.waitForLine(() => true, 'a frame at the peer'), frame);
      }
      assert.equal(await receiver.exited, 0);
      const after = await agent.stats();
      assert.equal((after['link.tx.frames'] ?? 0) - (before['link.tx.frames'] ?? 0), frames.length);
      const bytes = frames.reduce((total, frame) => total + frame.length / 2, 0);
      assert.equal((after['link.tx.bytes'] ?? 0) - (before['link.tx.bytes'] ?? 0), bytes);
      assert.equal((after['link.tx.batches'] ?? 0) - (before['link.tx.batches'] ?? 0), 1, 'one sendmmsg batch');
      assert.equal(after['link.rx.frames'], before['link.rx.frames'], 'nothing we sent came back as input');
    });

    test('frames built in transmit slots leave with their own length, in order among ordinary frames', async () => {
      const agent = suite.agent();
      const before = await agent.stats();
      // 60..79 bytes: each slot (MTU + 14 long, dirty from the frames before) sends exactly its frame.
      const frames = Array.from({ length: 20 }, (_, index) => testFrame(peerMac, String(suite.opened().mac), 300 + index, 46 + (index * 7) % 20));
      const receiver = await startRawReceiver(suite.namespace(), 'pwb', TEST_ETHERTYPE, frames.length * 2);
      agent.command({ op: 'send-slots', frames });
      await agent.waitFor((event) => event.event === 'sent', 'the batch to be sent');
      agent.command({ op: 'send-slots', frames: [...frames].reverse() });
      await agent.waitFor((event) => event.event === 'sent', 'the second batch, in the same slots');
      for (const frame of [...frames, ...[...frames].reverse()]) {
        assert.equal(await receiver.waitForLine(() => true, 'a frame at the peer'), frame);
      }
      assert.equal(await receiver.exited, 0);
      const after = await agent.stats();
      assert.equal((after['link.tx.frames'] ?? 0) - (before['link.tx.frames'] ?? 0), frames.length * 2);
      const bytes = frames.reduce((total, frame) => total + frame.length / 2, 0);
      assert.equal((after['link.tx.bytes'] ?? 0) - (before['link.tx.bytes'] ?? 0), bytes * 2);
      assert.equal((after['link.tx.batches'] ?? 0) - (before['link.tx.batches'] ?? 0), 2, 'one sendmmsg batch each');
    });

    test('frames another sender on this host puts out of the interface never reach the link (PACKET_IGNORE_OUTGOING)', async () => {
      const agent = suite.agent();
      const before = await agent.stats();
      // Without the option every outgoing frame on the interface (the kernel's, another
      // process's) reaches an ETH_P_ALL socket as PACKET_OUTGOING; with it the kernel offers
      // the socket none (test/hal/ignore-outgoing-kernel.test.ts has the control).
      const frames = Array.from({ length: 5 }, (_, index) => testFrame(peerMac, String(suite.opened().mac), 200 + index));
      const receiver = await startRawReceiver(suite.namespace(), 'pwb', TEST_ETHERTYPE, frames.length);
      rawSend(suite.namespace(), 'pwa', frames);
      for (let index = 0; index < frames.length; index++) await receiver.waitForLine(() => true, 'a frame at the peer');
      // A frame from the peer afterwards: once the link has it, anything queued before it was seen too.
      const marker = testFrame(String(suite.opened().mac), peerMac, 299);
      rawSend(suite.namespace(), 'pwb', [marker]);
      await agent.waitFor((event) => event.event === 'frame' && event.hex === marker, 'the marker frame');
      const after = await agent.stats();
      assert.equal((after['link.drop.own-frame'] ?? 0) - (before['link.drop.own-frame'] ?? 0), 0, 'no outgoing frame reached the socket');
      assert.equal((after['link.rx.frames'] ?? 0) - (before['link.rx.frames'] ?? 0), 1, 'only the marker delivered as input');
    });

    test('frames the kernel drops while the event loop is busy are counted: every frame is accounted for', async () => {
      const agent = suite.agent();
      const before = await agent.stats();
      // 1000-byte frames: a few thousand fill the socket's receive buffer while the link's
      // process is blocked; the rest are dropped by the kernel and must still be counted.
      const count = 10_000;
      agent.command({ op: 'block', ms: 3000 });
      await agent.waitFor((event) => event.event === 'blocking', 'the agent to block');
      rawFlood(suite.namespace(), 'pwb', testFrame(String(suite.opened().mac), peerMac, 500, 1000 - 14), count);
      await agent.waitFor((event) => event.event === 'unblocked', 'the agent to unblock');
      const seen = (stats: Record<string, number>): number => (stats['link.rx.frames'] ?? 0) + (stats['link.drop.rx-overflow'] ?? 0);
      const accounted = (stats: Record<string, number>): number => seen(stats) - seen(before);
      let after = await agent.stats();
      for (let attempt = 0; attempt < 100 && accounted(after) < count; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        after = await agent.stats();
      }
      assert.equal(accounted(after), count);
      assert.ok((after['link.drop.rx-overflow'] ?? 0) > (before['link.drop.rx-overflow'] ?? 0), 'the buffer did overflow');
      agent.discardPending();
    });

    test('802.1Q-tagged frames are dropped and counted, though the kernel strips their tag', async () => {
      const agent = suite.agent();
      agent.discardPending();
      const before = await agent.stats();
      const untagged = testFrame(String(suite.opened().mac), peerMac, 600);
      // Same frame with a tag (TPID 0x8100, VLAN 42) between the source MAC and the EtherType.
      const tagged = untagged.slice(0, 24) + '8100' + '002a' + untagged.slice(24);
      rawSend(suite.namespace(), 'pwb', [tagged, untagged]);
      const received = await agent.waitFor((event) => event.event === 'frame', 'the untagged frame');
      assert.equal(received.hex, untagged, 'the tagged one never reached the receiver');
      const after = await agent.stats();
      assert.equal((after['link.drop.vlan'] ?? 0) - (before['link.drop.vlan'] ?? 0), 1);
      assert.equal((after['link.rx.frames'] ?? 0) - (before['link.rx.frames'] ?? 0), 1);
    });

    test('a MAC other than the interface\'s makes the socket promiscuous, for as long as it is open', async () => {
      const promiscuity = (): number => Number(/promiscuity (\d+)/.exec(ipIn(suite.namespace(), '-d', 'link', 'show', 'pwa'))?.[1]);
      assert.equal(promiscuity(), 0);
      const second = new LinkAgent(suite.namespace(), 'packet', 'pwa', '02:00:00:00:00:99', mode);
      try {
        const event = await second.waitFor((e) => e.event === 'open', 'the second link to open');
        assert.equal(event.mac, '02:00:00:00:00:99');
        assert.equal(event.promiscuous, true);
        assert.equal(promiscuity(), 1);
        await second.close();
        assert.equal(promiscuity(), 0, 'the membership went with the socket');
      } finally {
        second.kill();
      }
    });

    test('an oversize frame is refused and counted, not sent', async () => {
      const agent = suite.agent();
      const before = await agent.stats();
      agent.command({ op: 'send', frames: [testFrame(peerMac, String(suite.opened().mac), 1, 1500 + 1)] });
      await agent.waitFor((event) => event.event === 'sent', 'the send to return');
      const after = await agent.stats();
      assert.equal((after['link.drop.oversize'] ?? 0) - (before['link.drop.oversize'] ?? 0), 1);
      assert.equal(after['link.tx.frames'], before['link.tx.frames']);
    });

    test('an exception thrown by the receiver reaches uncaughtException, and the link goes on', async () => {
      const agent = suite.agent();
      agent.command({ op: 'throw-once' });
      await agent.waitFor((event) => event.event === 'armed', 'the receiver to be armed');
      rawSend(suite.namespace(), 'pwb', [testFrame(String(suite.opened().mac), peerMac, 300)]);
      const uncaught = await agent.waitFor((event) => event.event === 'uncaught', 'the uncaught exception');
      assert.equal(uncaught.message, 'receiver failed on purpose');
      const next = testFrame(String(suite.opened().mac), peerMac, 301);
      rawSend(suite.namespace(), 'pwb', [next]);
      const received = await agent.waitFor((event) => event.event === 'frame', 'the next frame');
      assert.equal(received.hex, next);
    });

    test('a burst that waited in the kernel arrives in batches, every frame in order', async () => {
      const agent = suite.agent();
      agent.discardPending();
      const before = await agent.stats();
      // 150 frames of 1,000+ bytes: more than two batches, and within what the V2 ring holds
      // at MTU 1500 (324 slots of 512 KiB; bigger bursts are the drop test's above).
      const frames = Array.from({ length: 150 }, (_, index) => testFrame(String(suite.opened().mac), peerMac, 1000 + index));
      agent.command({ op: 'block', ms: 1000 });
      await agent.waitFor((event) => event.event === 'blocking', 'the agent to block');
      rawSend(suite.namespace(), 'pwb', frames);
      await agent.waitFor((event) => event.event === 'unblocked', 'the agent to unblock');
      for (const frame of frames) assert.equal((await agent.waitFor((event) => event.event === 'frame', 'a frame of the burst')).hex, frame);
      const after = await agent.stats();
      const batches = (after['link.rx.batches'] ?? 0) - (before['link.rx.batches'] ?? 0);
      if (mode === 'tpacket-v3') {
        // Whole blocks: the kernel closes one when it fills or its 1 ms timer fires.
        assert.ok(batches >= 1 && batches <= frames.length / 4, `${batches} blocks for ${frames.length} frames`);
      } else {
        // Everything was queued before the link looked: 64 frames per wakeup, the default batch.
        assert.equal(batches, Math.ceil(frames.length / 64));
      }
      assert.equal((after['link.rx.frames'] ?? 0) - (before['link.rx.frames'] ?? 0), frames.length);
    });

    test('closing the link inside the receiver drops the rest of the batch, and a kept view reads empty', async () => {
      const namespaceAgent = new LinkAgent(suite.namespace(), 'packet', 'pwa', undefined, mode);
      try {
        await namespaceAgent.waitFor((event) => event.event === 'open', 'a second link to open');
        namespaceAgent.command({ op: 'close-on-frame' });
        await namespaceAgent.waitFor((event) => event.event === 'armed', 'the receiver to be armed');
        namespaceAgent.command({ op: 'block', ms: 500 });
        await namespaceAgent.waitFor((event) => event.event === 'blocking', 'the agent to block');
        const frames = Array.from({ length: 10 }, (_, index) => testFrame(String(suite.opened().mac), peerMac, 1500 + index));
        rawSend(suite.namespace(), 'pwb', frames);
        const closed = await namespaceAgent.waitFor((event) => event.event === 'closed-in-receiver', 'the receiver to close the link');
        assert.equal(closed.length, frames[0]!.length / 2, 'the frame was whole during the call');
        // The receive memory went with the link: a view kept against the contract cannot
        // reach unmapped or reused memory, it reads as empty.
        assert.equal(closed.keptLength, 0);
        const stats = await namespaceAgent.stats();
        if (mode === 'tpacket-v3') {
          // V3's batch is one block, and the block's 1 ms timer may close it in the middle of
          // the burst (CI saw 9 + 1): the link closed inside the first block, so a block after
          // it is never read. What holds whatever the split: one block read, counted in whole,
          // and all of it after the closing frame dropped as closed. (The counting is the
          // shared JavaScript of native.ts, checked exactly in the other modes.)
          const received = stats['link.rx.frames'] ?? 0;
          assert.equal(stats['link.rx.batches'], 1, 'one block was read');
          assert.ok(received >= 1 && received <= frames.length, `${received} frames in the first block`);
          assert.equal(stats['link.drop.closed'], received - 1, 'the rest of the block were dropped as closed');
        } else {
          assert.equal(stats['link.rx.frames'], frames.length, 'the whole batch was counted in');
          assert.equal(stats['link.drop.closed'], frames.length - 1, 'the rest were dropped as closed');
        }
        await namespaceAgent.close();
      } finally {
        namespaceAgent.kill();
      }
    });

    test(mode === 'recvmsg' ? 'a frame longer than the MTU the link opened with arrives whole (every read has room for 64 KiB)' : 'a frame longer than the receive slot is dropped as truncated, and counted', async () => {
      const agent = suite.agent();
      agent.discardPending();
      const before = await agent.stats();
      // The slots were sized for MTU 1500 at open; a larger MTU afterwards lets longer frames in.
      ipIn(suite.namespace(), 'link', 'set', 'pwa', 'mtu', '3000');
      ipIn(suite.namespace(), 'link', 'set', 'pwb', 'mtu', '3000');
      try {
        const long = testFrame(String(suite.opened().mac), peerMac, 700, 2000);
        const next = testFrame(String(suite.opened().mac), peerMac, 701);
        rawSend(suite.namespace(), 'pwb', [long, next]);
        if (mode === 'recvmsg') assert.equal((await agent.waitFor((event) => event.event === 'frame', 'the long frame')).hex, long);
        assert.equal((await agent.waitFor((event) => event.event === 'frame', 'the frame after the long one')).hex, next);
        const after = await agent.stats();
        const cut = mode === 'recvmsg' ? 0 : 1;
        assert.equal((after['link.drop.truncated'] ?? 0) - (before['link.drop.truncated'] ?? 0), cut);
        assert.equal((after['link.rx.frames'] ?? 0) - (before['link.rx.frames'] ?? 0), 2 - cut);
      } finally {
        ipIn(suite.namespace(), 'link', 'set', 'pwb', 'mtu', '1500');
        ipIn(suite.namespace(), 'link', 'set', 'pwa', 'mtu', '1500');
      }
    });

    test('carrier goes down when the peer end goes down, and comes back', async () => {
      const agent = suite.agent();
      // Bringing the pair up settles asynchronously (linkwatch): only what follows counts.
      agent.discardPending();
      ipIn(suite.namespace(), 'link', 'set', 'pwb', 'down');
      const down = await agent.waitFor((event) => event.event === 'carrier', 'carrier down');
      assert.equal(down.up, false);
      ipIn(suite.namespace(), 'link', 'set', 'pwb', 'up');
      const up = await agent.waitFor((event) => event.event === 'carrier', 'carrier up');
      assert.equal(up.up, true);
    });

    test("receiving resumes after the link's own interface goes down and up again", async () => {
      const agent = suite.agent();
      // Setting its own interface down makes the socket report ENETDOWN with POLLERR, which
      // libuv answers by stopping the poll: the addon must clear the error and poll again.
      agent.discardPending();
      const before = await agent.stats();
      ipIn(suite.namespace(), 'link', 'set', 'pwa', 'down');
      assert.equal((await agent.waitFor((event) => event.event === 'carrier', 'carrier down')).up, false);
      ipIn(suite.namespace(), 'link', 'set', 'pwa', 'up');
      assert.equal((await agent.waitFor((event) => event.event === 'carrier', 'carrier up')).up, true);
      const frame = testFrame(String(suite.opened().mac), peerMac, 400);
      rawSend(suite.namespace(), 'pwb', [frame]);
      assert.equal((await agent.waitFor((event) => event.event === 'frame', 'a frame after the flap')).hex, frame);
      const after = await agent.stats();
      assert.equal((after['link.rx.errors'] ?? 0) - (before['link.rx.errors'] ?? 0), 1, 'ENETDOWN reported once');
      assert.equal(after['link.rx.fatal-errors'], undefined);
    });
  });
}
