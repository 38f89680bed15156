/**
 * Opening handshakes (RFC 9293 §3.5): passive and active open, simultaneous open,
 * retransmitted SYNs, unacceptable ACKs, limits, ports.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ACK, LOCAL_ISS, LOCAL_PORT, REMOTE, REMOTE_ISS, REMOTE_PORT, RST, SYN, TcpHarness, bytesOf } from '../support/tcp-harness.ts';
import { NetError } from '../../src/errors.ts';
import { raisedFault } from '../support/faults.ts';
import * as checker from '../support/checker.ts';
import { createStackPair, DEVICE_IP, PEER_IP } from '../support/stack-pair.ts';
import { EtherType, parseEthernet } from '../../src/wire/ethernet.ts';
import { IpProtocol } from '../../src/wire/ipv4.ts';
import { parseIpv4 } from '../../src/net/address.ts';

describe('LISTEN → SYN-RECEIVED → ESTABLISHED (passive open)', () => {
  it('answers a SYN with SYN-ACK carrying our MSS and the full receive window', () => {
    const h = new TcpHarness();
    h.listen();
    h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, options: { mss: 1460 } });
    h.recv({ seq: LOCAL_ISS, ack: REMOTE_ISS + 1, flags: SYN | ACK, window: 16384, options: { mss: 1460 } });
    h.recvNothing();
    assert.equal([...h.stack.connections()][0]?.state, 'SYN-RECEIVED');
    assert.equal(h.accepted.length, 0, 'not accepted before the handshake completes');
  });

  it('accepts the connection on the final ACK and logs conn_open', () => {
    const h = new TcpHarness();
    const connection = h.established();
    h.recvNothing();
    assert.equal(connection.localPort, LOCAL_PORT);
    assert.equal(connection.remotePort, REMOTE_PORT);
    assert.equal(h.events.named('conn_open').length, 1);
    assert.deepEqual(h.recorder.calls, [], 'onEstablished is for active opens only');
  });

  it('resends the SYN-ACK at once when the SYN is retransmitted', () => {
    const h = new TcpHarness();
    h.synReceived();
    h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, options: { mss: 1460 } });
    h.recv({ seq: LOCAL_ISS, ack: REMOTE_ISS + 1, flags: SYN | ACK });
  });

  it('retransmits the SYN-ACK on RTO and drops the half-open connection after synRetries', () => {
    const h = new TcpHarness({ config: { synRetries: 2 } });
    h.synReceived();
    h.advanceTo(999);
    h.recvNothing();
    h.advanceTo(1000);
    h.recv({ seq: LOCAL_ISS, flags: SYN | ACK });
    h.advanceTo(3000);
    h.recv({ seq: LOCAL_ISS, flags: SYN | ACK });
    h.advanceTo(7000);
    h.recvNothing();
    assert.equal([...h.stack.connections()].length, 0);
    assert.equal(h.events.named('conn_close').length, 0, 'never visible, never logged');
  });

  it('answers an ACK that does not acknowledge our SYN with RST <SEQ=SEG.ACK>', () => {
    const h = new TcpHarness();
    h.synReceived();
    h.send({ ack: LOCAL_ISS + 5 });
    h.recv({ seq: LOCAL_ISS + 5, flags: RST });
    assert.equal([...h.stack.connections()][0]?.state, 'SYN-RECEIVED');
  });

  it('a RST in SYN-RECEIVED removes the half-open connection silently', () => {
    const h = new TcpHarness();
    h.synReceived();
    h.send({ flags: RST, ack: 0 });
    h.recvNothing();
    assert.equal([...h.stack.connections()].length, 0);
    // The listener is still there.
    h.send({ seq: REMOTE_ISS + 1000, ack: 0, flags: SYN });
    h.recv({ flags: SYN | ACK, ack: REMOTE_ISS + 1001 });
  });

  it('a LISTEN socket answers a bare ACK with RST and ignores a RST', () => {
    const h = new TcpHarness();
    h.listen();
    h.send({ ack: 12345 });
    h.recv({ seq: 12345, ack: 0, flags: RST });
    h.send({ flags: RST });
    h.recvNothing();
  });

  it('answers SYNs beyond the backlog with a stateless SYN cookie that completes the handshake (RFC 4987 §3.6)', () => {
    const h = new TcpHarness();
    h.listen(LOCAL_PORT, 1);
    h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN });
    h.recv({ flags: SYN | ACK });
    const second = REMOTE_PORT + 1;
    h.send({ sourcePort: second, seq: REMOTE_ISS, ack: 0, flags: SYN, options: { mss: 1350 } });
    const cookie = h.recv({ destinationPort: second, ack: REMOTE_ISS + 1, flags: SYN | ACK, options: { mss: 1460 } });
    assert.equal(h.counters.get('tcp.tx.syn-cookies'), 1);
    assert.equal([...h.stack.connections()].length, 1, 'no state for the cookie');
    const events = h.events.events.map((e) => e.event);
    // The core reports the cause; the diagnostics layer's one table makes it fault 7.
    assert.deepEqual(events.slice(0, 1), ['resource_limit']);
    assert.deepEqual(h.events.named('fault'), [], 'no fault code from the protocol core');
    const limit = h.events.named('resource_limit')[0];
    assert.deepEqual(limit, { limit: 'syn_backlog', port: LOCAL_PORT, text: `SYN backlog of port ${LOCAL_PORT} full (1); answering with SYN cookies` });
    assert.equal(raisedFault('resource_limit', limit), 7);
    // A forged cookie is refused with RST.
    const forged = (cookie.seq ^ 0x0080_0000) >>> 0;
    h.send({ sourcePort: second, seq: REMOTE_ISS + 1, ack: forged + 1, flags: ACK });
    h.recv({ flags: RST, seq: (forged + 1) >>> 0 });
    assert.equal(h.counters.get('tcp.rx.syn-cookie-invalid'), 1);
    assert.equal(h.accepted.length, 0);
    // The real final ACK, carrying data, rebuilds the connection.
    h.send({ sourcePort: second, seq: REMOTE_ISS + 1, ack: cookie.seq + 1, flags: ACK, payload: bytesOf('hi') });
    assert.equal(h.accepted.length, 1);
    const connection = h.accepted[0]!;
    assert.equal(connection.state, 'ESTABLISHED');
    assert.equal(connection.remotePort, second);
    assert.equal(connection.tcb.sendMss, 1300, 'the peer MSS rounded down to the cookie table');
    assert.deepEqual(connection.read(10), bytesOf('hi'));
    connection.send(bytesOf('ok'));
    h.recv({ destinationPort: second, seq: cookie.seq + 1, ack: REMOTE_ISS + 3, payload: bytesOf('ok') });
    // A second overflow within the report interval is not reported again.
    h.send({ sourcePort: second + 1, seq: REMOTE_ISS, ack: 0, flags: SYN });
    h.recv({ flags: SYN | ACK });
    assert.equal(h.events.named('resource_limit').length, 1);
  });

  it('ignores cookie-looking ACKs when the listener never overflowed', () => {
    const h = new TcpHarness();
    h.listen(LOCAL_PORT, 1);
    h.send({ seq: REMOTE_ISS + 1, ack: 12345, flags: ACK });
    h.recv({ flags: RST, seq: 12345 });
    assert.equal(h.counters.get('tcp.rx.syn-cookie-invalid'), 0);
  });

  it('drops SYNs beyond maxConnections silently and reports fault 7', () => {
    const h = new TcpHarness({ config: { maxConnections: 1 } });
    h.established();
    h.send({ sourcePort: REMOTE_PORT + 1, seq: REMOTE_ISS, ack: 0, flags: SYN });
    h.recvNothing();
    assert.equal(h.counters.get('tcp.drop.connection-limit'), 1);
    assert.equal(raisedFault('resource_limit', h.events.named('resource_limit')[0]), 7);
    assert.equal(h.events.named('resource_limit')[0]?.limit, 'connections');
  });

  it('at maxConnections, recycles the oldest TIME-WAIT connection for a new SYN', () => {
    const h = new TcpHarness({ config: { maxConnections: 1 } });
    const old = h.timeWait();
    h.send({ sourcePort: REMOTE_PORT + 1, seq: REMOTE_ISS, ack: 0, flags: SYN });
    h.recv({ destinationPort: REMOTE_PORT + 1, flags: SYN | ACK });
    assert.equal(old.state, 'CLOSED');
    assert.equal(h.counters.get('tcp.time-wait.recycled'), 1);
  });
});

describe('SYN-SENT → ESTABLISHED (active open)', () => {
  it('sends SYN with MSS, completes on SYN-ACK and calls onEstablished', () => {
    const h = new TcpHarness();
    const connection = h.activeEstablished();
    assert.deepEqual(h.recorder.calls, ['established']);
    assert.equal(h.events.named('conn_open').length, 1);
    assert.ok(h.pollRequests > 0, 'connect() asked the owner to poll');
    assert.equal(connection.info().sendWindow, 64_000);
  });

  it('a RST with an acceptable ACK refuses the connection (ECONNREFUSED)', () => {
    const h = new TcpHarness();
    const connection = h.synSent();
    h.send({ seq: 0, ack: LOCAL_ISS + 1, flags: RST | ACK });
    h.recvNothing();
    assert.equal(connection.state, 'CLOSED');
    assert.equal(h.recorder.closeReason, 'refused');
    assert.equal(h.recorder.closeError?.code, 'ECONNREFUSED');
    assert.equal(h.events.named('conn_close')[0]?.reason, 'refused');
  });

  it('ignores a RST without ACK and answers a bad ACK with RST', () => {
    const h = new TcpHarness();
    const connection = h.synSent();
    h.send({ seq: 0, ack: 0, flags: RST });
    h.recvNothing();
    assert.equal(connection.state, 'SYN-SENT');
    h.send({ seq: REMOTE_ISS, ack: LOCAL_ISS + 7, flags: SYN | ACK });
    h.recv({ seq: LOCAL_ISS + 7, flags: RST });
    assert.equal(connection.state, 'SYN-SENT');
  });

  it('retransmits the SYN at 1, 3, 7 s ... and fails with ETIMEDOUT after synRetries', () => {
    const h = new TcpHarness({ config: { synRetries: 3 } });
    const connection = h.synSent();
    const instants: number[] = [];
    for (let t = 0; t <= 20_000; t += 100) {
      h.advanceTo(t);
      for (const segment of h.drain()) {
        h.check(segment, checker.tcpFlags(SYN), checker.seqNum(LOCAL_ISS), checker.mss(h.config.mss));
        instants.push(t);
      }
    }
    assert.deepEqual(instants, [1000, 3000, 7000]);
    assert.equal(connection.state, 'CLOSED');
    assert.equal(h.recorder.closeReason, 'connect_timeout');
    assert.equal(h.recorder.closeError?.code, 'ETIMEDOUT');
    assert.equal(h.counters.get('tcp.tx.retransmits'), 3);
  });

  it('the connect timeout option ends the attempt with ETIMEDOUT at exactly that instant', () => {
    const h = new TcpHarness();
    const connection = h.synSent({ timeout: 2500 });
    h.advanceTo(2499);
    assert.equal(connection.state, 'SYN-SENT');
    h.advanceTo(2500);
    assert.equal(connection.state, 'CLOSED');
    assert.equal(h.recorder.closeReason, 'connect_timeout');
    assert.equal(h.recorder.closeError?.code, 'ETIMEDOUT');
  });

  it('uses RTO 3 s for data after a lost SYN with no RTT sample (RFC 6298 §5.7) and IW of one segment', () => {
    const h = new TcpHarness();
    const connection = h.synSent();
    h.advanceTo(1000);
    h.recv({ flags: SYN });
    h.send({ seq: REMOTE_ISS, flags: SYN | ACK, options: { mss: 1460 } });
    h.recv({ flags: ACK });
    assert.equal(connection.info().rto, 3000);
    assert.equal(connection.info().cwnd, 1460);
  });
});

describe('simultaneous open (RFC 9293 §3.5 figure 8)', () => {
  it('SYN-SENT + SYN → SYN-RECEIVED, then ESTABLISHED on the ACK', () => {
    const h = new TcpHarness();
    const connection = h.synSent();
    h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN, options: { mss: 1460 } });
    h.recv({ seq: LOCAL_ISS, ack: REMOTE_ISS + 1, flags: SYN | ACK, options: { mss: 1460 } });
    assert.equal(connection.state, 'SYN-RECEIVED');
    // The peer's SYN-ACK (its SYN again, now with our SYN acknowledged) completes the
    // open at once, as in figure 8 and Linux: no challenge ACK, no wait for an RTO, and
    // no extra ACK (our SYN-ACK already acknowledged its SYN).
    h.send({ seq: REMOTE_ISS, ack: LOCAL_ISS + 1, flags: SYN | ACK, options: { mss: 1460 } });
    assert.equal(connection.state, 'ESTABLISHED');
    assert.deepEqual(h.recorder.calls, ['established']);
    h.recvNothing();
    assert.equal(h.counters.get('tcp.drop.challenge-ack'), 0);
    // The peer's own ACK (if it sends one) changes nothing.
    h.send({ seq: REMOTE_ISS + 1, ack: LOCAL_ISS + 1, flags: ACK });
    assert.equal(connection.state, 'ESTABLISHED');
    h.recvNothing();
    // Data flows both ways at once.
    connection.send(bytesOf('hi'));
    h.recv({ seq: LOCAL_ISS + 1, ack: REMOTE_ISS + 1, payload: bytesOf('hi') });
  });

});

describe('ports', () => {
  it('listen(0) binds a free ephemeral port', () => {
    const h = new TcpHarness();
    const first = h.stack.listen(0, {}, () => undefined);
    const second = h.stack.listen(0, {}, () => undefined);
    for (const listener of [first, second]) {
      assert.ok(listener.port >= 49152 && listener.port <= 65535, `port ${listener.port}`);
    }
    assert.notEqual(first.port, second.port);
  });

  it('listen on a port in use throws EADDRINUSE; closing frees it', () => {
    const h = new TcpHarness();
    const listener = h.stack.listen(7070, {}, () => undefined);
    assert.throws(
      () => h.stack.listen(7070, {}, () => undefined),
      (error: unknown) => error instanceof NetError && error.code === 'EADDRINUSE',
    );
    listener.close();
    assert.equal(h.stack.listen(7070, {}, () => undefined).port, 7070);
  });

  it('connect without a local port picks an ephemeral one', () => {
    const h = new TcpHarness();
    const connection = h.stack.connect(REMOTE, 80);
    assert.ok(connection.localPort >= 49152);
    assert.equal(h.drain().length, 1);
  });
});

describe('closed port (RFC 9293 §3.10.7.1)', () => {
  it('answers a SYN with RST|ACK, seq 0, ack SEG.SEQ + SEG.LEN', () => {
    const h = new TcpHarness();
    h.send({ seq: REMOTE_ISS, ack: 0, flags: SYN });
    h.recv({ seq: 0, ack: REMOTE_ISS + 1, flags: RST | ACK, window: 0 });
    assert.equal(h.counters.get('tcp.drop.no-listener'), 1);
  });

  it('answers data without ACK with ack covering the data and FIN', () => {
    const h = new TcpHarness();
    h.send({ seq: 1000, ack: 0, flags: 1 /* FIN */, payload: new Uint8Array(10) });
    h.recv({ seq: 0, ack: 1011, flags: RST | ACK });
  });

  it('answers an ACK with RST <SEQ=SEG.ACK>', () => {
    const h = new TcpHarness();
    h.send({ seq: 5, ack: 0xfffffff0 });
    h.recv({ seq: 0xfffffff0, ack: 0, flags: RST });
  });

  it('never answers a RST', () => {
    const h = new TcpHarness();
    h.send({ flags: RST });
    h.send({ flags: RST | ACK });
    h.recvNothing();
    assert.equal(h.counters.get('tcp.drop.no-listener'), 2);
  });

  it('drops a corrupted segment and counts it', () => {
    const h = new TcpHarness();
    h.listen();
    const bytes = new Uint8Array(20);
    bytes[12] = 5 << 4;
    bytes[13] = SYN;
    h.sendBytes(bytes);
    h.recvNothing();
    assert.equal(h.counters.get('tcp.drop.bad-checksum'), 1);
  });
});

describe('the handshake on the wire (two full stacks, every frame checked)', () => {
  it('SYN, SYN-ACK and ACK carry the addresses, DF, TTL 64, the MSS of the MTU and matching numbers', () => {
    const pair = createStackPair({ mtu: 1400 });
    const frames: { frame: Uint8Array; to: 'device' | 'peer' }[] = [];
    pair.observe((frame, to) => {
      const ethernet = parseEthernet(frame);
      // The TCP frames only: ARP goes first.
      if (ethernet.ok && ethernet.value.etherType === EtherType.IPV4 && ethernet.value.payload[9] === IpProtocol.TCP) {
        frames.push({ frame: Uint8Array.from(frame), to });
      }
    });
    pair.device.tcp.listen(7, {}, () => undefined);
    const connection = pair.peer.tcp.connect(parseIpv4(DEVICE_IP)!, 7);
    pair.world.runUntilDoneSync(() => connection.state === 'ESTABLISHED' && frames.length >= 3, 5_000);
    const [syn, synAck, ack] = frames;
    assert.ok(syn && synAck && ack, `three TCP frames, got ${frames.length}`);
    assert.deepEqual([syn.to, synAck.to, ack.to], ['device', 'peer', 'device']);

    let peerIss = 0;
    let deviceIss = 0;
    // MSS = MTU − 40 (RFC 9293 §3.7.1); DF on everything (RFC 1191), TTL 64 (RFC 1700).
    checker.ethernet(
      syn.frame,
      checker.ipv4Payload(
        checker.srcAddr(PEER_IP),
        checker.dstAddr(DEVICE_IP),
        checker.dontFragment(),
        checker.ttl(64),
        checker.tcp(checker.dstPort(7), checker.tcpFlags(SYN), checker.mss(1360), checker.payloadLength(0), (segment) => (peerIss = segment.sequenceNumber)),
      ),
    );
    checker.ethernet(
      synAck.frame,
      checker.ipv4Payload(
        checker.srcAddr(DEVICE_IP),
        checker.dstAddr(PEER_IP),
        checker.dontFragment(),
        checker.ttl(64),
        checker.tcp(checker.srcPort(7), checker.tcpFlags(SYN | ACK), checker.ackNum(peerIss + 1), checker.mss(1360), (segment) => (deviceIss = segment.sequenceNumber)),
      ),
    );
    checker.ethernet(
      ack.frame,
      checker.ipv4Payload(
        checker.srcAddr(PEER_IP),
        checker.tcp(checker.dstPort(7), checker.tcpFlags(ACK), checker.seqNum(peerIss + 1), checker.ackNum(deviceIss + 1), checker.payloadLength(0)),
      ),
    );
  });
});
