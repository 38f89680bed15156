#!/usr/bin/python3
"""A SYN flood from spoofed sources while a real kernel client uses the echo server.

Run with Debian's /usr/bin/python3 (python3-scapy), as root, in the LAN namespace.
COUNT SYNs to PORT, each from a random address in SOURCE_NET (a /16 the LAN does not
hold, so the device's SYN-ACKs go to its gateway, which does not forward them), random
source port and sequence number, are built with scapy up front and written to an
AF_PACKET socket at RATE per second. Once a quarter of them are out, a client on
the kernel's own TCP connects to the echo server, sends BYTES, half-closes and reads
the echo to EOF: it must get every byte back while the flood goes on.

Prints one JSON object:
  {"sent", "floodSeconds", "clientStartedAfter": SYNs sent before the client started,
   "clientFinishedBeforeFloodEnded": bool, "connectSeconds",
   "connectedAfter": SYNs sent when the client's handshake completed, "clientSeconds",
   "sentSha256", "receivedSha256", "received", "eof", "error"}
Exit status 0 when the client's echo was byte-exact, 1 otherwise.

usage: syn_flood.py --iface IF --device-mac MAC --device-ip IP [--port 7]
                    [--count 10000] [--source-net 198.19] [--bytes 65536] [--rate 5000]
                    [--timeout 20]
"""
import argparse
import hashlib
import json
import os
import random
import socket
import sys
import threading
import time

from scapy.all import IP, TCP, Ether, conf, get_if_hwaddr


def build_flood(count: int, device_mac: str, device_ip: str, own_mac: str, source_net: str, port: int) -> list:
    frames = []
    for _ in range(count):
        source = f"{source_net}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        frame = (Ether(dst=device_mac, src=own_mac) / IP(src=source, dst=device_ip) /
                 TCP(sport=random.randint(1024, 65535), dport=port, flags="S", seq=random.getrandbits(32),
                     window=64240, options=[("MSS", 1460)]))
        frames.append(bytes(frame))
    return frames


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iface", required=True)
    parser.add_argument("--device-mac", required=True)
    parser.add_argument("--device-ip", required=True)
    parser.add_argument("--port", type=int, default=7)
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--source-net", default="198.19")
    parser.add_argument("--bytes", type=int, default=65536)
    parser.add_argument("--rate", type=float, default=5000.0,
                        help="SYNs per second (paced, so the client's connection overlaps the flood)")
    parser.add_argument("--timeout", type=float, default=20.0)
    options = parser.parse_args()
    conf.verb = 0

    frames = build_flood(options.count, options.device_mac.lower(), options.device_ip,
                         get_if_hwaddr(options.iface), options.source_net, options.port)
    report = {"sent": 0, "floodSeconds": None, "clientStartedAfter": None, "clientFinishedBeforeFloodEnded": None,
              "connectSeconds": None, "connectedAfter": None, "clientSeconds": None, "sentSha256": None, "receivedSha256": None,
              "received": 0, "eof": False, "error": None}
    flood_done = threading.Event()
    quarter = threading.Event()

    def flood() -> None:
        started = time.monotonic()
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as raw:
            raw.bind((options.iface, 0))
            for index, frame in enumerate(frames):
                # Paced in bursts of 50: the flood lasts count/rate seconds, long enough
                # for the client's whole exchange to happen inside it.
                if index % 50 == 0:
                    ahead = started + index / options.rate - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
                while True:
                    try:
                        raw.send(frame)
                        break
                    except BlockingIOError:  # transmit queue full: try again
                        time.sleep(0.001)
                report["sent"] += 1
                if index + 1 == len(frames) // 4:
                    quarter.set()
        report["floodSeconds"] = time.monotonic() - started
        quarter.set()
        flood_done.set()

    flooder = threading.Thread(target=flood, daemon=True)
    flooder.start()
    quarter.wait(options.timeout)
    report["clientStartedAfter"] = report["sent"]

    payload = os.urandom(options.bytes)
    report["sentSha256"] = hashlib.sha256(payload).hexdigest()
    received = hashlib.sha256()
    started = time.monotonic()
    try:
        sock = socket.create_connection((options.device_ip, options.port), timeout=options.timeout)
        report["connectSeconds"] = time.monotonic() - started
        report["connectedAfter"] = report["sent"]
        sock.settimeout(options.timeout)

        def send() -> None:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        while True:
            data = sock.recv(65536)
            if not data:
                report["eof"] = True
                break
            received.update(data)
            report["received"] += len(data)
        sender.join(options.timeout)
        sock.close()
    except OSError as error:
        report["error"] = repr(error)
    report["clientSeconds"] = time.monotonic() - started
    report["clientFinishedBeforeFloodEnded"] = not flood_done.is_set()
    report["receivedSha256"] = received.hexdigest()
    flooder.join(options.timeout * 3)
    print(json.dumps(report))
    ok = report["error"] is None and report["eof"] and report["receivedSha256"] == report["sentSha256"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
