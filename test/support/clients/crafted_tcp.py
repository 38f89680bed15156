#!/usr/bin/python3
"""Crafted TCP segments against the device's echo server (RFC 862), with scapy.

Run with Debian's /usr/bin/python3 (python3-scapy), as root, in the LAN namespace.
scapy plays a host the kernel knows nothing about: a locally administered MAC and an
address configured on no interface (198.18.0.77), so the kernel never answers (or
resets) the connections scapy makes. The device learns that host's MAC from an ARP
request scapy sends first (RFC 826: the target merges the sender's mapping), and a
sniffer answers any later ARP request for it.

Each case opens its own connection (RFC 5961 §7 rate limits challenge ACKs per
connection, so cases must not share one) and records what the device sent back.
Prints one JSON object: {"cases": {name: {...observations...}}, "error": null|text}.
The caller judges the observations; exit status 0 when every case ran to the end.

usage: crafted_tcp.py --iface IF --device-mac MAC --device-ip IP [--port 7]
                      [--cases a,b,...]
"""
import argparse
import json
import queue
import random
import sys
import threading
import time

from scapy.all import ARP, IP, TCP, AsyncSniffer, Ether, Raw, conf

OWN_MAC = "02:00:5e:10:00:77"
OWN_IP = "198.18.0.77"
# How long silence must last to count as "no reply": far above a LAN round trip, and
# the device's delayed ACK (40 ms).
QUIET_SECONDS = 1.0
REPLY_TIMEOUT = 3.0
FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10}


def flag_text(value: int) -> str:
    return "".join(name for name, bit in FLAGS.items() if value & bit) or "."


def describe(segment) -> dict:
    tcp = segment[TCP]
    payload = bytes(tcp.payload)
    mss = next((value for name, value in tcp.options if name == "MSS"), None)
    return {"flags": flag_text(int(tcp.flags)), "seq": tcp.seq, "ack": tcp.ack, "window": tcp.window,
            "length": len(payload), "mss": mss}


class Wire:
    """Sends frames as OWN_MAC/OWN_IP and queues every TCP segment the device sends, per port."""

    def __init__(self, iface: str, device_mac: str, device_ip: str):
        self.iface = iface
        self.device_mac = device_mac
        self.device_ip = device_ip
        self.socket = conf.L2socket(iface=iface)
        self.queues = {}
        self.lock = threading.Lock()
        self.arp_answers = 0
        listening = threading.Event()
        self.sniffer = AsyncSniffer(iface=iface, store=False, prn=self._receive, started_callback=listening.set,
                                    lfilter=lambda p: Ether in p and p[Ether].src.lower() == device_mac)
        self.sniffer.start()
        if not listening.wait(10):
            raise RuntimeError("sniffer did not start within 10 s")

    def _queue(self, port: int) -> queue.Queue:
        with self.lock:
            return self.queues.setdefault(port, queue.Queue())

    def _receive(self, packet) -> None:
        if ARP in packet and packet[ARP].op == 1 and packet[ARP].pdst == OWN_IP:
            self.arp_answers += 1
            self.socket.send(Ether(dst=packet[ARP].hwsrc, src=OWN_MAC) /
                             ARP(op=2, hwsrc=OWN_MAC, psrc=OWN_IP, hwdst=packet[ARP].hwsrc, pdst=packet[ARP].psrc))
            return
        if IP in packet and TCP in packet and packet[IP].src == self.device_ip and packet[IP].dst == OWN_IP:
            self._queue(packet[TCP].dport).put(packet)

    def introduce(self) -> None:
        """ARP request from OWN_IP for the device: the device learns our MAC (RFC 826 merge)."""
        self.socket.send(Ether(dst="ff:ff:ff:ff:ff:ff", src=OWN_MAC) /
                         ARP(op=1, hwsrc=OWN_MAC, psrc=OWN_IP, pdst=self.device_ip))

    def send(self, sport: int, dport: int, flags: str, seq: int, ack: int, payload: bytes = b"",
             window: int = 65535, options=None, tcp_checksum=None, ip_checksum=None) -> None:
        ip = IP(src=OWN_IP, dst=self.device_ip)
        if ip_checksum is not None:
            ip.chksum = ip_checksum
        tcp = TCP(sport=sport, dport=dport, flags=flags, seq=seq % 2**32, ack=ack % 2**32, window=window,
                  options=options or [])
        if tcp_checksum is not None:
            tcp.chksum = tcp_checksum
        frame = Ether(dst=self.device_mac, src=OWN_MAC) / ip / tcp
        if payload:
            frame = frame / Raw(payload)
        self.socket.send(frame)

    def next(self, port: int, timeout: float):
        try:
            return self._queue(port).get(timeout=timeout)
        except queue.Empty:
            return None

    def drain(self, port: int, seconds: float) -> list:
        """Everything the device sends to `port` within `seconds`."""
        deadline = time.monotonic() + seconds
        segments = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return segments
            segment = self.next(port, remaining)
            if segment is not None:
                segments.append(segment)

    def close(self) -> None:
        self.sniffer.stop()
        self.socket.close()


class Connection:
    """One client connection driven segment by segment. Sequence numbers are ours."""

    def __init__(self, wire: Wire, dport: int, mss: int = 1460):
        self.wire = wire
        self.dport = dport
        self.sport = random.randint(20000, 60000)
        self.iss = random.getrandbits(32)
        wire.send(self.sport, dport, "S", self.iss, 0, options=[("MSS", mss)])
        synack = self.expect(lambda s: s["flags"] == "SA", REPLY_TIMEOUT)
        if synack is None:
            raise RuntimeError(f"no SYN-ACK from port {dport}")
        self.synack = synack
        self.snd_nxt = self.iss + 1
        self.rcv_nxt = synack["seq"] + 1
        self.ack()

    def expect(self, predicate, timeout: float):
        """The first segment the predicate accepts within `timeout` (others are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            packet = self.wire.next(self.sport, remaining)
            if packet is not None and predicate(describe(packet)):
                result = describe(packet)
                result["payload"] = bytes(packet[TCP].payload)
                return result

    def ack(self) -> None:
        self.wire.send(self.sport, self.dport, "A", self.snd_nxt, self.rcv_nxt)

    def send(self, payload: bytes, **overrides) -> None:
        self.wire.send(self.sport, self.dport, "PA", self.snd_nxt, self.rcv_nxt, payload, **overrides)
        if not overrides:
            self.snd_nxt += len(payload)

    def receive(self, count: int, timeout: float = REPLY_TIMEOUT * 2):
        """Reads `count` bytes of in-order data, ACKing each segment; returns (data, segment sizes)."""
        data = b""
        sizes = []
        deadline = time.monotonic() + timeout
        while len(data) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            packet = self.wire.next(self.sport, remaining)
            if packet is None:
                break
            tcp = packet[TCP]
            payload = bytes(tcp.payload)
            if not payload:
                continue
            sizes.append(len(payload))
            if tcp.seq == self.rcv_nxt % 2**32:
                data += payload
                self.rcv_nxt += len(payload)
            self.ack()
        return data, sizes

    def echo_works(self) -> bool:
        message = b"still there? " + random.randbytes(8).hex().encode()
        self.send(message)
        data, _ = self.receive(len(message))
        return data == message

    def reset(self) -> None:
        self.wire.send(self.sport, self.dport, "R", self.snd_nxt, 0)

    def silence(self) -> list:
        return [describe(s) for s in self.wire.drain(self.sport, QUIET_SECONDS)]


def is_challenge_ack(connection: Connection):
    """RFC 5961 §3.2/§4.2: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, no RST."""
    return lambda s: s["flags"] == "A" and s["ack"] == connection.snd_nxt % 2**32 and s["seq"] == connection.rcv_nxt % 2**32


def case_in_window_rst(wire: Wire, port: int) -> dict:
    connection = Connection(wire, port)
    alive_before = connection.echo_works()
    # RFC 5961 §3.2: in the window but not exactly RCV.NXT → challenge ACK, no reset.
    wire.send(connection.sport, port, "R", connection.snd_nxt + 100, 0)
    reply = connection.expect(lambda s: True, REPLY_TIMEOUT)
    challenge = reply is not None and is_challenge_ack(connection)(reply)
    result = {"aliveBefore": alive_before, "reply": strip(reply), "challengeAck": challenge,
              "aliveAfter": connection.echo_works()}
    connection.reset()
    return result


def case_exact_rst(wire: Wire, port: int) -> dict:
    connection = Connection(wire, port)
    alive_before = connection.echo_works()
    # RFC 5961 §3.2 / RFC 9293 §3.10.7.4: SEG.SEQ = RCV.NXT → the connection is reset.
    wire.send(connection.sport, port, "R", connection.snd_nxt, 0)
    after_reset = connection.silence()
    # Data to a connection that no longer exists gets a RST (RFC 9293 §3.10.7.1).
    connection.send(b"anyone?")
    answer = connection.expect(lambda s: True, REPLY_TIMEOUT)
    return {"aliveBefore": alive_before, "repliesToReset": after_reset, "answerToData": strip(answer)}


def case_in_window_syn(wire: Wire, port: int) -> dict:
    connection = Connection(wire, port)
    alive_before = connection.echo_works()
    # RFC 5961 §4.2: a SYN in a synchronized state, whatever its sequence number → challenge ACK.
    wire.send(connection.sport, port, "S", connection.snd_nxt + 10, 0, options=[("MSS", 1460)])
    reply = connection.expect(lambda s: True, REPLY_TIMEOUT)
    challenge = reply is not None and is_challenge_ack(connection)(reply)
    result = {"aliveBefore": alive_before, "reply": strip(reply), "challengeAck": challenge,
              "aliveAfter": connection.echo_works()}
    connection.reset()
    return result


def case_out_of_window_data(wire: Wire, port: int) -> dict:
    connection = Connection(wire, port)
    alive_before = connection.echo_works()
    # RFC 9293 §3.10.7.4: an unacceptable segment is answered with <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
    wire.send(connection.sport, port, "PA", connection.snd_nxt + 1_000_000, connection.rcv_nxt, b"far away")
    reply = connection.expect(lambda s: True, REPLY_TIMEOUT)
    correct_ack = reply is not None and is_challenge_ack(connection)(reply) and reply["length"] == 0
    echoed_later = connection.silence()
    result = {"aliveBefore": alive_before, "reply": strip(reply), "ackForOurNext": correct_ack,
              "echoedAfterwards": [s for s in echoed_later if s["length"] > 0],
              "aliveAfter": connection.echo_works()}
    connection.reset()
    return result


def case_bad_checksum(wire: Wire, port: int) -> dict:
    connection = Connection(wire, port)
    alive_before = connection.echo_works()
    bad = b"BAD-TCP-CHECKSUM"
    # A checksum that cannot be right: scapy computes the real one when chksum is None,
    # so take that and flip bits.
    probe = IP(src=OWN_IP, dst=wire.device_ip) / TCP(sport=connection.sport, dport=port, flags="PA",
                                                      seq=connection.snd_nxt, ack=connection.rcv_nxt,
                                                      window=65535) / Raw(bad)
    good_checksum = IP(bytes(probe))[TCP].chksum
    connection.send(bad, tcp_checksum=good_checksum ^ 0x5A5A)
    replies_to_bad_tcp = connection.silence()
    bad_ip = b"BAD-IP-CHECKSUM!"
    good_ip_checksum = IP(bytes(IP(src=OWN_IP, dst=wire.device_ip) / TCP() / Raw(bad_ip))).chksum
    connection.send(bad_ip, ip_checksum=good_ip_checksum ^ 0x00FF)
    replies_to_bad_ip = connection.silence()
    # The same sequence number with a good checksum: only these bytes may be echoed.
    good = b"good-checksum-ok"
    connection.send(good)
    data, _ = connection.receive(len(good))
    extra = connection.silence()
    result = {"aliveBefore": alive_before, "repliesToBadTcpChecksum": replies_to_bad_tcp,
              "repliesToBadIpChecksum": replies_to_bad_ip, "echo": data.decode("latin-1"),
              "expectedEcho": good.decode(), "extraAfterEcho": [s for s in extra if s["length"] > 0]}
    connection.reset()
    return result


def case_mss_64(wire: Wire, port: int) -> dict:
    connection = Connection(wire, port, mss=64)
    request = bytes(random.getrandbits(8) for _ in range(1000))
    connection.send(request)
    data, sizes = connection.receive(len(request), timeout=15)
    result = {"synAck": strip(connection.synack), "requested": len(request), "received": len(data),
              "identical": data == request, "segmentSizes": sizes, "largestSegment": max(sizes, default=0)}
    connection.reset()
    return result


CASES = {
    "in-window-rst": case_in_window_rst,
    "exact-rst": case_exact_rst,
    "in-window-syn": case_in_window_syn,
    "out-of-window-data": case_out_of_window_data,
    "bad-checksum": case_bad_checksum,
    "mss-64": case_mss_64,
}


def strip(segment):
    if segment is None:
        return None
    return {key: value for key, value in segment.items() if key != "payload"}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iface", required=True)
    parser.add_argument("--device-mac", required=True)
    parser.add_argument("--device-ip", required=True)
    parser.add_argument("--port", type=int, default=7)
    parser.add_argument("--cases", default=",".join(CASES))
    options = parser.parse_args()
    conf.verb = 0

    report = {"cases": {}, "arpAnswers": 0, "error": None}
    wire = Wire(options.iface, options.device_mac.lower(), options.device_ip)
    try:
        wire.introduce()
        time.sleep(0.2)
        for name in options.cases.split(","):
            try:
                report["cases"][name] = CASES[name](wire, options.port)
            except Exception as error:  # one broken case must not hide the others
                report["cases"][name] = {"error": repr(error)}
            # Let the device's per-connection state settle between cases.
            time.sleep(0.2)
    except Exception as error:
        report["error"] = repr(error)
    finally:
        report["arpAnswers"] = wire.arp_answers
        wire.close()
    print(json.dumps(report))
    return 0 if report["error"] is None and all("error" not in c for c in report["cases"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
