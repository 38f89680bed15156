/**
 * The packet link's JavaScript side against a stand-in addon: how a batch in the receive
 * memory becomes receiver calls and counters, and how a ring that could not be had is
 * reported. The real addon and kernel are exercised in native.test.ts; what cannot be
 * provoked there (the kernel refusing a ring) and the batch dispatch arithmetic are checked
 * here, without root.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { NativeAddon, NativeErrorCallback, NativeFramesCallback, NativeHandle, NativeSendResult, ReceiveMode } from '../../hal/link/native.ts';
import { PacketLink } from '../../hal/link/packet.ts';

const MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x01);

/** An addon whose openPacket hands back a handle over `memory` and keeps the callbacks. */
class StandInAddon {
  onFrames: NativeFramesCallback | undefined;
  onError: NativeErrorCallback | undefined;
  requestedMode: ReceiveMode | undefined;
  requestedIgnoreOutgoing: boolean | undefined;
  /** disableOffloads' keepGro argument, per call. */
  readonly keepGro: (boolean | undefined)[] = [];
  /** What mergesReceived answers: the interface's kernel merges received segments. */
  merges = false;
  closed = 0;
  /** Per send() call, the bytes of each frame as the addon would send them. */
  readonly sent: number[][][] = [];
  readonly memory = new ArrayBuffer(8192);
  readonly mergeMemory = new ArrayBuffer(8192);
  /** openPacket's coalesce argument. */
  requestedCoalesce: boolean | undefined;
  readonly frameOffsets = new Uint32Array(8);
  readonly frameLengths = new Uint32Array(8);

  constructor(
    private readonly ringFallback?: string,
    private readonly outgoingFallback?: string,
  ) {}

  asAddon(): NativeAddon {
    return {
      openPacket: (_name, _slot, _batch, _promiscuous, ignoreOutgoing, receiveMode, onFrames, onError, coalesce) => {
        this.requestedMode = receiveMode;
        this.requestedCoalesce = coalesce;
        this.requestedIgnoreOutgoing = ignoreOutgoing;
        this.onFrames = onFrames;
        this.onError = onError;
        const handle: NativeHandle = {
          name: 'pw0',
          ifindex: 2,
          memory: this.memory,
          ...(coalesce === true ? { mergeMemory: this.mergeMemory } : {}),
          frameOffsets: this.frameOffsets,
          frameLengths: this.frameLengths,
          receiveMode: this.ringFallback === undefined ? receiveMode : 'recvmmsg',
          ...(this.ringFallback === undefined ? {} : { ringFallback: this.ringFallback }),
          ...(ignoreOutgoing && this.outgoingFallback !== undefined ? { outgoingFallback: this.outgoingFallback } : {}),
        };
        return handle;
      },
      openTap: () => assert.fail('not a tap'),
      send: (_handle, frames, _segmentSizes, frameLengths): number | NativeSendResult => {
        this.sent.push(frames.map((frame, index) => [...frame.subarray(0, frameLengths?.[index] || frame.length)]));
        return frames.length;
      },
      enableSegmentOffload: () => 'setsockopt(PACKET_VNET_HDR): ENOPROTOOPT',
      close: () => {
        this.closed++;
      },
      kernelStatistics: () => ({ drops: 0, freezes: 0 }),
      carrier: () => true,
      mac: () => Buffer.from(MAC),
      mtu: () => 1500,
      disableOffloads: (_name, keepGro) => {
        this.keepGro.push(keepGro);
        return { tso: 'off', gso: 'off', gro: keepGro === true ? 'kept' : 'off', sg: 'off', tx: 'off', lro: 'off' };
      },
      mergesReceived: () => this.merges,
      notify: () => undefined,
    };
  }

  /** Writes frames into the memory at the given offsets and delivers them as one batch. */
  deliver(frames: { offset: number; bytes: number[] }[], own = 0, truncated = 0, vlan = 0, merged = 0, coalesced = 0, more = false): void {
    const view = new Uint8Array(this.memory);
    frames.forEach((frame, index) => {
      view.set(frame.bytes, frame.offset);
      this.frameOffsets[index] = frame.offset;
      this.frameLengths[index] = frame.bytes.length;
    });
    this.onFrames?.(frames.length, own, truncated, vlan, merged, coalesced, more);
  }

  /** One read of a wakeup that reads again (`more`): its frames go on in the same batch. */
  deliverMore(frames: { offset: number; bytes: number[] }[]): void {
    this.deliver(frames, 0, 0, 0, 0, 0, true);
  }
}

function frameBytes(fill: number, length = 60): number[] {
  return Array.from({ length }, () => fill);
}

describe('packet link batch dispatch (stand-in addon)', () => {
  test('each frame of a batch reaches the receiver as the bytes at its offset, and the counters add up', () => {
    const addon = new StandInAddon();
    const link = new PacketLink({ interfaceName: 'pw0', carrierPollMs: 60_000 }, addon.asAddon());
    try {
      assert.equal(addon.requestedMode, 'tpacket-v2', 'the default receive mode');
      assert.equal(link.receiveMode, 'tpacket-v2');
      assert.equal(link.ringFallback, undefined);
      assert.equal(addon.requestedIgnoreOutgoing, true, 'PACKET_IGNORE_OUTGOING asked for by default');
      assert.equal(link.outgoingFallback, undefined);
      assert.equal(link.stats()['link.rx.outgoing-fallback'], undefined);
      // The stand-in refuses segmentation offload: the link offers none and says why.
      assert.equal(link.segmentOffload, undefined);
      assert.equal(link.segmentOffloadFallback, 'setsockopt(PACKET_VNET_HDR): ENOPROTOOPT');
      assert.equal(link.stats()['link.tx.offload-unavailable'], 1);
      const seen: number[][] = [];
      link.setReceiver((frame) => seen.push([...frame]));
      addon.deliver([{ offset: 1000, bytes: frameBytes(1) }, { offset: 96, bytes: frameBytes(2, 64) }, { offset: 3000, bytes: frameBytes(3, 1514) }], 2, 1, 3);
      assert.deepEqual(seen, [frameBytes(1), frameBytes(2, 64), frameBytes(3, 1514)]);
      const stats = link.stats();
      assert.equal(stats['link.rx.frames'], 3);
      assert.equal(stats['link.rx.bytes'], 60 + 64 + 1514);
      assert.equal(stats['link.rx.batches'], 1);
      assert.equal(stats['link.drop.own-frame'], 2);
      assert.equal(stats['link.drop.truncated'], 1);
      assert.equal(stats['link.drop.vlan'], 3);
      assert.equal(stats['link.rx.ring-fallback'], undefined);
    } finally {
      link.close();
    }
  });

  test('a receiver that closes the link mid-batch gets no more frames; the rest are counted as closed', () => {
    const addon = new StandInAddon();
    const link = new PacketLink({ interfaceName: 'pw0', carrierPollMs: 60_000 }, addon.asAddon());
    let calls = 0;
    link.setReceiver(() => {
      calls++;
      link.close();
    });
    addon.deliver([{ offset: 0, bytes: frameBytes(1) }, { offset: 100, bytes: frameBytes(2) }, { offset: 200, bytes: frameBytes(3) }]);
    assert.equal(calls, 1);
    assert.equal(addon.closed, 1);
    assert.equal(link.stats()['link.drop.closed'], 2);
  });

  test('one addon callback is one receive batch: begun before its first frame, ended after its last, even when the receiver throws', () => {
    const addon = new StandInAddon();
    const link = new PacketLink({ interfaceName: 'pw0', carrierPollMs: 60_000 }, addon.asAddon());
    try {
      const log: string[] = [];
      let fail = false;
      link.setReceiver(
        (frame) => {
          log.push(`frame ${frame[0]}`);
          if (fail) throw new Error('receiver failed');
        },
        { beginBatch: () => log.push('begin'), endBatch: () => log.push('end') },
      );
      addon.deliver([{ offset: 0, bytes: frameBytes(1) }, { offset: 100, bytes: frameBytes(2) }]);
      addon.deliver([{ offset: 0, bytes: frameBytes(3) }]);
      addon.deliver([], 1);
      assert.deepEqual(log, ['begin', 'frame 1', 'frame 2', 'end', 'begin', 'frame 3', 'end'], 'no batch for a wakeup without frames');
      log.length = 0;
      fail = true;
      assert.throws(() => addon.deliver([{ offset: 0, bytes: frameBytes(4) }]), /receiver failed/);
      assert.deepEqual(log, ['begin', 'frame 4', 'end']);
    } finally {
      link.close();
    }
  });

  test('reads of one wakeup are one receive batch: continued at each further read, ended after the last (or by an empty read, a throw, a close)', () => {
    const addon = new StandInAddon();
    const link = new PacketLink({ interfaceName: 'pw0', carrierPollMs: 60_000 }, addon.asAddon());
    try {
      const log: string[] = [];
      let fail = false;
      let closeOn = -1;
      link.setReceiver(
        (frame) => {
          log.push(`frame ${frame[0]}`);
          if (fail) throw new Error('receiver failed');
          if (frame[0] === closeOn) link.close();
        },
        { beginBatch: () => log.push('begin'), continueBatch: () => log.push('continue'), endBatch: () => log.push('end') },
      );
      addon.deliverMore([{ offset: 0, bytes: frameBytes(1) }]);
      addon.deliverMore([{ offset: 0, bytes: frameBytes(2) }]);
      addon.deliver([{ offset: 0, bytes: frameBytes(3) }]);
      assert.deepEqual(log, ['begin', 'frame 1', 'continue', 'frame 2', 'continue', 'frame 3', 'end']);
      assert.equal(link.stats()['link.rx.batches'], 3, 'each read counted');
      // A full read followed by an empty one: the empty delivery ends the batch.
      log.length = 0;
      addon.deliverMore([{ offset: 0, bytes: frameBytes(4) }]);
      addon.deliver([]);
      addon.deliver([]);
      assert.deepEqual(log, ['begin', 'frame 4', 'end'], 'ended once; an empty wakeup begins nothing');
      // A receiver that throws ends the batch at once; the next read begins a new one.
      log.length = 0;
      fail = true;
      assert.throws(() => addon.deliverMore([{ offset: 0, bytes: frameBytes(5) }]), /receiver failed/);
      fail = false;
      addon.deliver([{ offset: 0, bytes: frameBytes(6) }]);
      assert.deepEqual(log, ['begin', 'frame 5', 'end', 'begin', 'frame 6', 'end']);
      // A receiver that closes the link: the batch ends with that read.
      log.length = 0;
      closeOn = 7;
      addon.deliverMore([{ offset: 0, bytes: frameBytes(7) }]);
      assert.deepEqual(log, ['begin', 'frame 7', 'end']);
    } finally {
      link.close();
    }
  });

  test('a receiver replaced between the reads of one wakeup: the batch begun is ended, the new one begun', () => {
    const addon = new StandInAddon();
    const link = new PacketLink({ interfaceName: 'pw0', carrierPollMs: 60_000 }, addon.asAddon());
    try {
      const log: string[] = [];
      link.setReceiver((frame) => log.push(`first frame ${frame[0]}`), { beginBatch: () => log.push('first begin'), endBatch: () => log.push('first end') });
      addon.deliverMore([{ offset: 0, bytes: frameBytes(1) }]);
      link.setReceiver((frame) => log.push(`second frame ${frame[0]}`), { beginBatch: () => log.push('second begin'), endBatch: () => log.push('second end') });
      addon.deliver([{ offset: 0, bytes: frameBytes(2) }]);
      assert.deepEqual(log, ['first begin', 'first frame 1', 'first end', 'second begin', 'second frame 2', 'second end']);
    } finally {
      link.close();
    }
  });

  test('a batch that takes frames in place gets each as its range of the receive memory, not through the handler; one without gets views', () => {
    const addon = new StandInAddon();
    const link = new PacketLink({ interfaceName: 'pw0', carrierPollMs: 60_000 }, addon.asAddon());
    try {
      const log: string[] = [];
      const ranges: number[][] = [];
      link.setReceiver((frame) => log.push(`view ${frame[0]}`), {
        beginBatch: () => log.push('begin'),
        endBatch: () => log.push('end'),
        receiveFrameAt: (bytes, start, end, tcpChecksumGood) => {
          assert.equal(bytes.buffer, addon.memory, 'the receive memory itself, not a copy');
          log.push(`range ${start}..${end}${tcpChecksumGood ? ' good' : ''}`);
          ranges.push([...bytes.subarray(start, end)]);
        },
      });
      addon.deliver([{ offset: 1000, bytes: frameBytes(1) }, { offset: 96, bytes: frameBytes(2, 64) }]);
      const view = new Uint8Array(addon.memory);
      view.set(frameBytes(3, 70), 4000);
      addon.frameOffsets[0] = 4000;
      addon.frameLengths[0] = (70 | 0x8000_0000) >>> 0;
      addon.onFrames?.(1, 0, 0, 0, 0, 0);
      assert.deepEqual(log, ['begin', 'range 1000..1060', 'range 96..160', 'end', 'begin', 'range 4000..4070 good', 'end']);
      assert.deepEqual(ranges, [frameBytes(1), frameBytes(2, 64), frameBytes(3, 70)]);
      assert.equal(link.stats()['link.rx.bytes'], 60 + 64 + 70);
      // Without receiveFrameAt the same frames come as views through the handler.
      log.length = 0;
      link.setReceiver((frame) => log.push(`view ${frame[0]} ${frame.length}`), { beginBatch: () => log.push('begin'), endBatch: () => log.push('end') });
      addon.deliver([{ offset: 1000, bytes: frameBytes(1) }]);
      assert.deepEqual(log, ['begin', 'view 1 60', 'end']);
    } finally {
      link.close();
    }
  });

  test('a receiver replaced mid-batch: the rest of the batch goes to the new handler as views, never to a batch that was not begun', () => {
    const addon = new StandInAddon();
    const link = new PacketLink({ interfaceName: 'pw0', carrierPollMs: 60_000 }, addon.asAddon());
    try {
      const log: string[] = [];
      const second = {
        beginBatch: () => log.push('second begin'),
        endBatch: () => log.push('second end'),
        receiveFrameAt: (_bytes: Uint8Array, start: number) => log.push(`second range ${start}`),
      };
      link.setReceiver(() => log.push('first view'), {
        beginBatch: () => log.push('first begin'),
        endBatch: () => log.push('first end'),
        receiveFrameAt: (_bytes, start) => {
          log.push(`first range ${start}`);
          link.setReceiver((frame) => log.push(`second view ${frame[0]}`), second);
        },
      });
      addon.deliver([{ offset: 0, bytes: frameBytes(1) }, { offset: 100, bytes: frameBytes(2) }]);
      assert.deepEqual(log, ['first begin', 'first range 0', 'second view 2', 'first end']);
    } finally {
      link.close();
    }
  });

  test('transmit slots: one per frame of a batch, each sent with its own length in queue order, free again after the flush', () => {
    const addon = new StandInAddon();
    const link = new PacketLink({ interfaceName: 'pw0', carrierPollMs: 60_000, batchSize: 4 }, addon.asAddon());
    try {
      const slots = link.transmitSlots;
      const first = slots.slot(60);
      assert.ok(first);
      assert.ok(first.length >= 1514, 'a slot holds a frame of the MTU');
      assert.equal(first.byteOffset % 4, 2, 'NET_IP_ALIGN: the IPv4 header after 14 bytes is word-aligned');
      assert.equal(slots.slot(1515), undefined, 'no slot for a frame over the MTU');
      first.fill(1, 0, 61); // one byte past the frame: not sent
      slots.transmitSlot(first, 60);
      link.transmit(Uint8Array.from(frameBytes(2, 61)));
      const third = slots.slot(62);
      assert.ok(third && third !== first, 'the next slot, not one queued');
      assert.deepEqual([...third.subarray(0, 62)], frameBytes(0, 62), 'zeroed up to the length asked');
      third.fill(3, 0, 62);
      slots.transmitSlot(third, 62);
      link.flush();
      assert.deepEqual(addon.sent, [[frameBytes(1, 60), frameBytes(2, 61), frameBytes(3, 62)]]);
      assert.equal(link.stats()['link.tx.bytes'], 60 + 61 + 62);
      assert.equal(slots.slot(60), first, 'after the flush the first slot is free again');
      assert.deepEqual([...first.subarray(0, 61)], [...frameBytes(0, 60), 1], 'its last frame zeroed up to the length asked');
      // A full batch is sent at once (batchSize 4), and slots come round again.
      for (let index = 0; index < 5; index++) {
        const slot = slots.slot(64);
        assert.ok(slot);
        slot.fill(10 + index, 0, 64);
        slots.transmitSlot(slot, 64);
      }
      link.flush();
      assert.deepEqual(addon.sent.slice(1), [[10, 11, 12, 13].map((fill) => frameBytes(fill, 64)), [frameBytes(14, 64)]]);
      link.close();
      assert.equal(slots.slot(60), undefined, 'none once closed');
    } finally {
      link.close();
    }
  });

  test('a ring the kernel refused is not silent: the mode, the reason and a counter say so', () => {
    const addon = new StandInAddon('setsockopt(PACKET_RX_RING): ENOMEM');
    const link = new PacketLink({ interfaceName: 'pw0', carrierPollMs: 60_000, receiveMode: 'tpacket-v3' }, addon.asAddon());
    try {
      assert.equal(addon.requestedMode, 'tpacket-v3');
      assert.equal(link.receiveMode, 'recvmmsg');
      assert.equal(link.ringFallback, 'setsockopt(PACKET_RX_RING): ENOMEM');
      assert.equal(link.stats()['link.rx.ring-fallback'], 1);
    } finally {
      link.close();
    }
  });

  test('PACKET_IGNORE_OUTGOING refused is not silent: the reason and a counter say so, and outgoing frames are still dropped as own frames', () => {
    const addon = new StandInAddon(undefined, 'setsockopt(PACKET_IGNORE_OUTGOING): ENOPROTOOPT');
    const link = new PacketLink({ interfaceName: 'pw0', carrierPollMs: 60_000 }, addon.asAddon());
    try {
      assert.equal(addon.requestedIgnoreOutgoing, true);
      assert.equal(link.outgoingFallback, 'setsockopt(PACKET_IGNORE_OUTGOING): ENOPROTOOPT');
      assert.equal(link.stats()['link.rx.outgoing-fallback'], 1);
      const seen: number[][] = [];
      link.setReceiver((frame) => seen.push([...frame]));
      addon.deliver([{ offset: 0, bytes: frameBytes(5) }], 4);
      assert.deepEqual(seen, [frameBytes(5)]);
      assert.equal(link.stats()['link.drop.own-frame'], 4);
    } finally {
      link.close();
    }
  });

  test('receive offload: GRO is kept, and an interface that merges is received with recvmsg; merged frames are counted', () => {
    const addon = new StandInAddon();
    addon.merges = true;
    const link = new PacketLink({ interfaceName: 'pw0', carrierPollMs: 60_000 }, addon.asAddon());
    try {
      assert.deepEqual(addon.keepGro, [true], 'GRO is not switched off by default');
      assert.equal(link.offloads?.gro, 'kept');
      assert.equal(link.mergesReceived, true);
      assert.equal(addon.requestedMode, 'recvmsg', 'a ring would cut a merged frame');
      assert.equal(link.receiveMode, 'recvmsg');
      const seen: number[] = [];
      link.setReceiver((frame) => seen.push(frame.length));
      addon.deliver([{ offset: 0, bytes: frameBytes(1, 4000) }, { offset: 4096, bytes: frameBytes(2, 60) }], 0, 0, 0, 1);
      assert.deepEqual(seen, [4000, 60]);
      assert.equal(link.stats()['link.rx.merged-frames'], 1);
      assert.equal(link.stats()['link.rx.frames'], 2);
    } finally {
      link.close();
    }
  });

  test('receive coalescing: asked for with receive offload (not without), and a frame the addon merged is read from its merge memory', () => {
    const addon = new StandInAddon();
    const link = new PacketLink({ interfaceName: 'pw0', carrierPollMs: 60_000 }, addon.asAddon());
    try {
      assert.equal(addon.requestedCoalesce, true, 'on by default, with receive offload');
      const seen: number[][] = [];
      link.setReceiver((frame, checksumGood) => seen.push([...frame.subarray(0, 2), checksumGood ? 1 : 0]));
      new Uint8Array(addon.memory).set([1, 1, 1, 1], 100);
      new Uint8Array(addon.mergeMemory).set([2, 2, 2, 2, 2, 2], 100);
      addon.frameOffsets[0] = 100;
      addon.frameLengths[0] = 4;
      addon.frameOffsets[1] = 100;
      addon.frameLengths[1] = (6 | 0x4000_0000 | 0x8000_0000) >>> 0;
      addon.onFrames?.(2, 0, 0, 0, 1, 5);
      assert.deepEqual(seen, [[1, 1, 0], [2, 2, 1]]);
      assert.equal(link.stats()['link.rx.coalesced-frames'], 5);
      assert.equal(link.stats()['link.rx.merged-frames'], 1);
      assert.equal(link.stats()['link.rx.bytes'], 10);
    } finally {
      link.close();
    }
    const plain = new StandInAddon();
    new PacketLink({ interfaceName: 'pw0', carrierPollMs: 60_000, receiveOffload: false }, plain.asAddon()).close();
    assert.equal(plain.requestedCoalesce, false);
    const capture = new StandInAddon();
    new PacketLink({ interfaceName: 'pw0', carrierPollMs: 60_000, coalesce: false }, capture.asAddon()).close();
    assert.equal(capture.requestedCoalesce, false);
  });

  test('receive offload: an interface that does not merge keeps the ring; receiveOffload false switches GRO off; an explicit mode wins', () => {
    const quiet = new StandInAddon();
    const ring = new PacketLink({ interfaceName: 'pw0', carrierPollMs: 60_000 }, quiet.asAddon());
    ring.close();
    assert.deepEqual(quiet.keepGro, [true]);
    assert.equal(quiet.requestedMode, 'tpacket-v2');
    assert.equal(ring.mergesReceived, false);

    const merging = new StandInAddon();
    merging.merges = true;
    const off = new PacketLink({ interfaceName: 'pw0', carrierPollMs: 60_000, receiveOffload: false }, merging.asAddon());
    off.close();
    assert.deepEqual(merging.keepGro, [false], 'GRO asked off');
    assert.equal(merging.requestedMode, 'tpacket-v2', 'without receive offload the mode does not follow the interface');
    const explicit = new PacketLink({ interfaceName: 'pw0', carrierPollMs: 60_000, receiveMode: 'recvmmsg' }, merging.asAddon());
    explicit.close();
    assert.equal(merging.requestedMode, 'recvmmsg');
  });

  test('ignoreOutgoing: false does not ask for the option and reports no fallback', () => {
    const addon = new StandInAddon(undefined, 'setsockopt(PACKET_IGNORE_OUTGOING): ENOPROTOOPT');
    const link = new PacketLink({ interfaceName: 'pw0', carrierPollMs: 60_000, ignoreOutgoing: false }, addon.asAddon());
    try {
      assert.equal(addon.requestedIgnoreOutgoing, false);
      assert.equal(link.outgoingFallback, undefined);
      assert.equal(link.stats()['link.rx.outgoing-fallback'], undefined);
    } finally {
      link.close();
    }
  });
});
