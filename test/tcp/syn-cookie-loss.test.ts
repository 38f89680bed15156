/**
 * SYN cookies (RFC 4987 §3.6) when the client's first segments after the handshake are
 * lost: the case a full receive ring hit in the 200-connection burst (bench/BASELINE.md,
 * "The ring went back to 1 MiB"). A cookie names the peer's ISN, and only the first
 * segment after the SYN carries ISN + 1; when the final ACK and the first data are lost,
 * the next segment (the FIN of a short request, or the second segment of a long one)
 * must neither be answered with RST (a live connection killed for one lost frame) nor
 * rebuild the connection at the wrong sequence number (the lost bytes acknowledged and
 * never delivered). It is dropped, and the client's retransmission from ISN + 1 rebuilds
 * the connection with every byte. Linux's cookie layout does both wrong (net/ipv4/
 * syncookies.c: its check takes SEG.SEQ − 1 as the ISN and subtracts it from a sum).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ACK, FIN, PSH, REMOTE_ISS, REMOTE_PORT, RST, SYN, TcpHarness, bytesOf } from '../support/tcp-harness.ts';
import { createStackPair, DEVICE_IP } from '../support/stack-pair.ts';
import { COOKIE_MSS_TABLE, COOKIE_PERIOD_MS, SynCookies } from '../../src/tcp/syn-cookie.ts';
import { SeededRandom } from '../../src/random.ts';
import { parseIpv4 } from '../../src/net/address.ts';
import { emitTcp, tcpHeaderLength, TcpFlag, type TcpRepr } from '../../src/wire/tcp.ts';
import type { Socket } from '../../src/socket/socket.ts';

const CLIENT_PORT = REMOTE_PORT + 1;
const CLIENT_ISN = 90_000;

/** A harness whose listener (backlog 1) is full, and the cookie SYN-ACK sent to a client with MSS `mss`. */
function cookieHandshake(mss: number): { h: TcpHarness; cookie: number } {
  const h = new TcpHarness({ config: { synBacklog: 1 } });
  h.listen();
  h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, options: { mss: 1460 } }); // fills the backlog
  h.drain();
  h.send({ sourcePort: CLIENT_PORT, seq: CLIENT_ISN, ack: 0, flags: SYN, options: { mss } });
  const synAck = h.recv({ destinationPort: CLIENT_PORT, ack: CLIENT_ISN + 1, flags: SYN | ACK });
  assert.equal(h.counters.get('tcp.tx.syn-cookies'), 1);
  return { h, cookie: synAck.seq };
}

describe('SYN cookies: the final ACK and the first data lost', () => {
  for (const message of ['piwire connection 17 0123456789abcdef\n', 'hi\n']) {
    it(`the FIN after a lost ${message.length}-byte request is dropped, not reset, and the retransmission rebuilds the connection`, () => {
      // MSS 536 (MTU 576): index 3 of the cookie table. In Linux's layout a 3-byte
      // request's FIN decoded as index 0 and was accepted 3 bytes ahead; 38 bytes reset.
      const { h, cookie } = cookieHandshake(536);
      const data = bytesOf(message);
      // Lost: <SEQ=ISN+1><ACK> and <SEQ=ISN+1><ACK,PSH>data. Arrives: the FIN after them.
      h.send({ sourcePort: CLIENT_PORT, seq: CLIENT_ISN + 1 + data.length, ack: cookie + 1, flags: FIN | ACK });
      h.recvNothing();
      assert.equal(h.counters.get('tcp.drop.syn-cookie-sequence'), 1);
      assert.equal(h.counters.get('tcp.rx.syn-cookie-invalid'), 0);
      assert.equal(h.counters.get('tcp.tx.rst'), 0);
      assert.equal(h.accepted.length, 0, 'no connection at a guessed sequence number');
      // The client's RTO retransmits from SND.UNA = ISN + 1, data and FIN together.
      h.send({ sourcePort: CLIENT_PORT, seq: CLIENT_ISN + 1, ack: cookie + 1, flags: FIN | PSH | ACK, payload: data });
      assert.equal(h.counters.get('tcp.rx.syn-cookie-valid'), 1);
      assert.equal(h.accepted.length, 1);
      const connection = h.accepted[0]!;
      assert.equal(connection.state, 'CLOSE-WAIT');
      assert.equal(connection.tcb.sendMss, 536, 'the MSS the SYN carried');
      assert.deepEqual(connection.read(100), data, 'every byte, from the first');
      h.recv({ destinationPort: CLIENT_PORT, seq: cookie + 1, ack: CLIENT_ISN + 1 + data.length + 1, flags: ACK });
    });
  }

  it('the second segment of a request longer than one MSS waits for the first', () => {
    const { h, cookie } = cookieHandshake(536);
    // Lost: the final ACK and the first 536-byte segment.
    h.send({ sourcePort: CLIENT_PORT, seq: CLIENT_ISN + 1 + 536, ack: cookie + 1, flags: ACK, payload: new Uint8Array(100).fill(2) });
    h.recvNothing();
    assert.equal(h.accepted.length, 0);
    h.send({ sourcePort: CLIENT_PORT, seq: CLIENT_ISN + 1, ack: cookie + 1, flags: ACK, payload: new Uint8Array(536).fill(1) });
    assert.equal(h.accepted.length, 1);
    assert.deepEqual(h.accepted[0]!.read(1000), new Uint8Array(536).fill(1));
    h.send({ sourcePort: CLIENT_PORT, seq: CLIENT_ISN + 1 + 536, ack: cookie + 1, flags: ACK, payload: new Uint8Array(100).fill(2) });
    h.recv({ destinationPort: CLIENT_PORT, seq: cookie + 1, ack: CLIENT_ISN + 1 + 636, flags: ACK });
  });

  it('an ACK that acknowledges no cookie of ours is still answered with RST (RFC 9293 §3.10.7.2)', () => {
    const { h, cookie } = cookieHandshake(536);
    // Bits 0–20 are the seal and 27–29 the MSS index (which only the seal covers): a
    // flip there reads as a later segment of this peer. 21–26 are the tag, 30–31 the count.
    const sealed = (bit: number): boolean => bit <= 20 || (bit >= 27 && bit <= 29);
    for (let bit = 0; bit < 32; bit++) {
      const forged = (cookie ^ (1 << bit)) >>> 0;
      h.send({ sourcePort: CLIENT_PORT, seq: CLIENT_ISN + 1, ack: forged + 1, flags: ACK });
      if (sealed(bit)) {
        h.recvNothing();
      } else {
        h.recv({ destinationPort: CLIENT_PORT, seq: (forged + 1) >>> 0, flags: RST });
      }
    }
    assert.equal(h.counters.get('tcp.drop.syn-cookie-sequence'), 24);
    assert.equal(h.counters.get('tcp.rx.syn-cookie-invalid'), 8);
    // Other peers presenting this peer's cookie: the tag covers the tuple, so about one in
    // 64 of them (6 tag bits) is taken for a later segment and dropped; the rest are reset.
    const others = 640;
    for (let port = CLIENT_PORT + 1; port <= CLIENT_PORT + others; port++) {
      h.send({ sourcePort: port, seq: CLIENT_ISN + 1, ack: cookie + 1, flags: ACK });
    }
    const resets = h.drain().filter((segment) => segment.flags === RST).length;
    const dropped = h.counters.get('tcp.drop.syn-cookie-sequence') - 24;
    assert.equal(resets + dropped, others);
    assert.ok(dropped <= 2 * (others / 64), `${dropped} of ${others} other tuples matched the tag`);
    assert.equal(h.accepted.length, 0);
    assert.equal(h.counters.get('tcp.rx.syn-cookie-valid'), 0);
  });
});

describe('SynCookies', () => {
  const local = parseIpv4('198.18.0.1')!;
  const remote = parseIpv4('198.18.0.2')!;
  const cookies = new SynCookies(new SeededRandom(11));

  it('binds the exact ISN: no later sequence number passes, each is recognised as ours', () => {
    for (const peerIsn of [0, 1234, 0xffff_fff0]) {
      for (const peerMss of COOKIE_MSS_TABLE) {
        const cookie = cookies.make(local, 80, remote, 40_000, peerIsn, peerMss, 0);
        assert.equal(cookies.check(local, 80, remote, 40_000, peerIsn, cookie, 0), peerMss);
        for (let n = 1; n <= 1500; n++) {
          assert.equal(cookies.check(local, 80, remote, 40_000, (peerIsn + n) >>> 0, cookie, 0), 'wrong-sequence', `ISN + ${n}, MSS ${peerMss}`);
        }
      }
    }
  });

  it('is valid for 2–3 counter periods and not after', () => {
    const made = 10 * COOKIE_PERIOD_MS + 5;
    const cookie = cookies.make(local, 80, remote, 40_000, 1234, 1460, made);
    const periodEnd = 11 * COOKIE_PERIOD_MS;
    assert.equal(cookies.check(local, 80, remote, 40_000, 1234, cookie, periodEnd - 1), 1460);
    assert.equal(cookies.check(local, 80, remote, 40_000, 1234, cookie, periodEnd + 2 * COOKIE_PERIOD_MS - 1), 1460);
    assert.equal(cookies.check(local, 80, remote, 40_000, 1234, cookie, periodEnd + 2 * COOKIE_PERIOD_MS), undefined);
    // The counter is hashed in full: four periods on, the 2 bits it travels in repeat, the MACs do not.
    assert.equal(cookies.check(local, 80, remote, 40_000, 1234, cookie, made + 4 * COOKIE_PERIOD_MS), undefined);
    assert.equal(cookies.check(local, 80, remote, 40_000, 1234, cookie, made + 256 * COOKIE_PERIOD_MS), undefined);
  });

  it('is bound to the tuple and to the secret', () => {
    const cookie = cookies.make(local, 80, remote, 40_000, 1234, 1460, 0);
    // Never valid elsewhere (a tag may match by chance, one in 64: then 'wrong-sequence').
    assert.notEqual(typeof cookies.check(local, 81, remote, 40_000, 1234, cookie, 0), 'number');
    assert.notEqual(typeof cookies.check(local, 80, remote, 40_001, 1234, cookie, 0), 'number');
    assert.notEqual(typeof cookies.check(local, 80, local, 40_000, 1234, cookie, 0), 'number');
    assert.notEqual(typeof new SynCookies(new SeededRandom(12)).check(local, 80, remote, 40_000, 1234, cookie, 0), 'number');
  });
});

describe('a client over the memory wire whose final ACK and first data are lost', () => {
  it('gets its echo, with no RST, after the listener answered with a cookie', async () => {
    const pair = createStackPair({ mtu: 576, faults: { delayMs: 1 } });
    const { world, device, peer } = pair;
    const deviceAddress = parseIpv4(DEVICE_IP)!;
    device.net.createServer((socket) => socket.pipe(socket)).listen({ port: 7, backlog: 1 });
    // One half-open connection from a spoofed on-link source fills the backlog.
    const spoofed = parseIpv4('198.18.0.77')!;
    const syn: TcpRepr = {
      sourcePort: 1111, destinationPort: 7, sequenceNumber: 5, acknowledgmentNumber: 0,
      flags: TcpFlag.SYN, window: 65_535, urgentPointer: 0, options: { mss: 536 }, payload: new Uint8Array(0),
    };
    const bytes = new Uint8Array(tcpHeaderLength(syn.options));
    emitTcp(syn, bytes, spoofed, deviceAddress);
    device.tcp.input(spoofed, deviceAddress, bytes, world.now);

    const seen: string[] = [];
    let resets = 0;
    pair.observeTcp((segment, to) => {
      if (segment.flags & TcpFlag.RST) resets++;
      seen.push(`${to} ${segment.flags} ${segment.payload.length}`);
    });
    // Towards the device, lose the client's first segment after the SYN and the first with data.
    let lostAck = false;
    let lostData = false;
    pair.dropTcp('device', (segment) => {
      if (segment.destinationPort !== 7 || segment.flags & TcpFlag.SYN) return false;
      if (!lostAck && segment.payload.length === 0 && (segment.flags & TcpFlag.FIN) === 0) return (lostAck = true);
      if (!lostData && segment.payload.length > 0) return (lostData = true);
      return false;
    });
    // Longer than one MSS (536): two segments, the second arriving first at the listener.
    const message = 'piwire connection 17 0123456789abcdef\n'.repeat(27);
    let echoed = '';
    let closed = false;
    const client: Socket = peer.net.connect({ host: DEVICE_IP, port: 7 });
    client.on('connect', () => {
      client.write(message);
      client.end();
    });
    client.on('data', (chunk: Buffer) => (echoed += chunk.toString()));
    client.on('close', () => (closed = true));
    client.on('error', () => undefined);
    assert.ok(await world.runUntilDone(() => closed, 60_000), `closed; segments: ${seen.join(', ')}`);
    assert.equal(echoed, message);
    assert.ok(lostAck && lostData, 'both losses happened');
    assert.equal(resets, 0);
    assert.equal(device.counters.get('tcp.tx.syn-cookies'), 1);
    assert.equal(device.counters.get('tcp.rx.syn-cookie-valid'), 1);
    assert.equal(device.counters.get('tcp.rx.syn-cookie-invalid'), 0);
    assert.ok(device.counters.get('tcp.drop.syn-cookie-sequence') >= 1, 'the segment after the lost data came first');
  });
});
