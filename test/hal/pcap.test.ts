/**
 * PcapLink: the capture file, read back byte by byte, and by tshark when it is installed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { MemoryWire } from '../../hal/link/memory.ts';
import { PcapLink, type PcapSink } from '../../hal/link/pcap.ts';
import { SeededRandom } from '../../src/random.ts';
import { ManualClock } from '../../src/time.ts';

const directory = mkdtempSync(join(tmpdir(), 'piwire-pcap-'));
after(() => rmSync(directory, { recursive: true, force: true }));

/** An Ethernet frame: broadcast destination, source 02:..:0a, EtherType, payload. */
function ethernetFrame(etherType: number, payload: number[]): Uint8Array {
  return Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x0a, etherType >> 8, etherType & 0xff, ...payload]);
}

/** A well-formed ARP request (RFC 826) that tshark decodes: who has 198.18.0.1? tell 198.18.0.2. */
const ARP_REQUEST = ethernetFrame(0x0806, [
  0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // Ethernet/IPv4, request
  0x02, 0, 0, 0, 0, 0x0a, 198, 18, 0, 2, // sender
  0, 0, 0, 0, 0, 0, 198, 18, 0, 1, // target
  ...new Array<number>(18).fill(0), // padding to the 60-byte minimum
]);

function littleEndian32(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24];
}

describe('PcapLink', () => {
  const path = join(directory, 'capture.pcap');
  // 2023-11-14T22:13:20Z: a wall-clock origin for a clock that starts at zero.
  const TIME_ORIGIN_MS = 1_700_000_000_000;
  const clock = new ManualClock(0);
  const wire = new MemoryWire({ clock, random: new SeededRandom(1) });
  const pcap = new PcapLink(wire.a, { clock, path, timeOriginMs: TIME_ORIGIN_MS });
  const received: Uint8Array[] = [];
  const atPeer: Uint8Array[] = [];
  pcap.setReceiver((frame) => received.push(frame));
  wire.b.setReceiver((frame) => atPeer.push(frame));
  const outbound = ethernetFrame(0x88b5, [1, 2, 3, 4]);
  const inbound = ARP_REQUEST;

  clock.set(1.5);
  pcap.transmit(outbound.slice());
  clock.set(2_000.25);
  wire.b.transmit(inbound.slice());
  wire.poll(clock.now());
  pcap.flush();
  pcap.close();
  const file = readFileSync(path);

  test('passes frames through both ways', () => {
    assert.equal(received.length, 1);
    assert.deepEqual(received[0], inbound);
    assert.deepEqual(atPeer, [outbound]);
    assert.equal(pcap.stats()['pcap.records'], 2);
    assert.equal(pcap.stats()['link.tx.frames'], 1, "the inner link's counters are included");
  });

  test('writes the classic pcap file header: magic, version 2.4, snaplen 65535, LINKTYPE_ETHERNET', () => {
    assert.deepEqual(
      [...file.subarray(0, 24)],
      [
        0xd4, 0xc3, 0xb2, 0xa1, // magic 0xa1b2c3d4 little-endian: microsecond timestamps
        0x02, 0x00, 0x04, 0x00, // version 2.4
        0, 0, 0, 0, // thiszone
        0, 0, 0, 0, // sigfigs
        0xff, 0xff, 0x00, 0x00, // snaplen 65535
        0x01, 0x00, 0x00, 0x00, // LINKTYPE_ETHERNET
      ],
    );
  });

  test('writes one record per frame, in order, with clock timestamps and both lengths', () => {
    let offset = 24;
    const expectRecord = (seconds: number, microseconds: number, frame: Uint8Array): void => {
      assert.deepEqual([...file.subarray(offset, offset + 4)], littleEndian32(seconds), 'ts_sec');
      assert.deepEqual([...file.subarray(offset + 4, offset + 8)], littleEndian32(microseconds), 'ts_usec');
      assert.deepEqual([...file.subarray(offset + 8, offset + 12)], littleEndian32(frame.length), 'incl_len');
      assert.deepEqual([...file.subarray(offset + 12, offset + 16)], littleEndian32(frame.length), 'orig_len');
      assert.deepEqual(new Uint8Array(file.subarray(offset + 16, offset + 16 + frame.length)), frame);
      offset += 16 + frame.length;
    };
    expectRecord(1_700_000_000, 1_500, outbound); // sent at 1.5 ms
    expectRecord(1_700_000_002, 250, inbound); // received at 2000.25 ms
    assert.equal(offset, file.length, 'nothing else in the file');
  });

  test('tshark reads the capture', (t) => {
    if (spawnSync('tshark', ['--version']).status !== 0) return t.skip('tshark not installed: the byte-level checks above stand alone');
    const fields = ['frame.len', 'eth.type', 'arp.src.proto_ipv4', 'frame.time_epoch'].flatMap((field) => ['-e', field]);
    const result = spawnSync('tshark', ['-r', path, '-T', 'fields', ...fields], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    const rows = result.stdout.trim().split('\n').map((line) => line.split('\t'));
    assert.equal(rows.length, 2);
    assert.deepEqual(rows[0]?.slice(0, 3), ['18', '0x88b5', '']);
    assert.deepEqual(rows[1]?.slice(0, 3), ['60', '0x0806', '198.18.0.2']);
    assert.equal(Number(rows[1]?.[3]), 1_700_000_002.00025);
  });
});

describe('PcapLink with a custom sink and snap length', () => {
  test('cuts frames to the snap length, keeps the original length, writes on flush', () => {
    const chunks: Uint8Array[] = [];
    let flushes = 0;
    let closed = false;
    const sink: PcapSink = {
      write: (bytes) => chunks.push(bytes.slice()),
      flush: () => flushes++,
      close: () => (closed = true),
    };
    const clock = new ManualClock(0);
    const wire = new MemoryWire({ clock, random: new SeededRandom(1) });
    const pcap = new PcapLink(wire.a, { clock, sink, snapLength: 20 });
    assert.equal(chunks.length, 1, 'the file header at once');
    assert.deepEqual([...(chunks[0] ?? new Uint8Array()).subarray(16, 20)], littleEndian32(20), 'snaplen in the header');
    const flushesAfterHeader = flushes;
    pcap.transmit(ARP_REQUEST.slice());
    const record = chunks[1] ?? new Uint8Array();
    assert.equal(record.length, 16 + 20);
    assert.deepEqual([...record.subarray(8, 12)], littleEndian32(20), 'incl_len');
    assert.deepEqual([...record.subarray(12, 16)], littleEndian32(60), 'orig_len');
    assert.deepEqual(record.subarray(16), ARP_REQUEST.subarray(0, 20));
    pcap.flush();
    assert.equal(flushes, flushesAfterHeader + 1);
    pcap.close();
    assert.equal(closed, true);
    assert.equal(wire.a.stats()['link.drop.closed'] ?? 0, 0);
    pcap.transmit(ARP_REQUEST.slice());
    assert.equal(chunks.length, 2, 'nothing recorded after close');
  });

  test('needs exactly one of path and sink', () => {
    const clock = new ManualClock(0);
    const wire = new MemoryWire({ clock, random: new SeededRandom(1) });
    assert.throws(() => new PcapLink(wire.a, { clock }), TypeError);
  });
});
