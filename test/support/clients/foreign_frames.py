#!/usr/bin/python3
"""Sends frames the device must ignore, and one it must answer, with scapy.

Run with Debian's /usr/bin/python3 (python3-scapy), as root, in the LAN namespace.
Each probe is one crafted frame; a sniffer on the interface records everything the
device sends (Ethernet source = the device's MAC) while the probes go out, and each
reply is matched to the probe that caused it. Prints one JSON object:
  {"probes": {name: {"description", "expectReply", "replies": [summary, ...]}},
   "otherFromDevice": [summary, ...]}
The caller asserts: the control probe got its reply (the sniffer works and the device
is alive), every foreign probe got none.

usage: foreign_frames.py --iface IF --device-mac MAC --device-ip IP [--wait SECONDS]
"""
import argparse
import json
import sys
import threading
import time

from scapy.all import (ARP, ICMP, IP, TCP, AsyncSniffer, Ether, ICMPv6EchoReply, ICMPv6EchoRequest,
                       IPv6, Raw, conf, get_if_hwaddr, sendp)

# Addresses nobody on the test LAN has (198.18.0.0/15 and locally administered MACs).
OTHER_MAC = "02:00:5e:10:00:99"
OTHER_IP = "198.18.0.77"
ECHO_ID_BASE = 0x7000
TCP_PORT_BASE = 47000


def probes(device_mac: str, device_ip: str, own_mac: str, own_ip: str):
    """(name, description, expect_reply, frame, matcher(reply) -> bool)."""
    def icmp_reply(identifier):
        return lambda p: ICMP in p and p[ICMP].type == 0 and p[ICMP].id == identifier

    def tcp_reply(port):
        return lambda p: TCP in p and p[TCP].dport == port

    return [
        ("control-icmp-echo", "ICMP echo request to the device's MAC and IP", True,
         Ether(dst=device_mac, src=own_mac) / IP(src=own_ip, dst=device_ip) / ICMP(id=ECHO_ID_BASE + 1, seq=1) / Raw(b"piwire control"),
         icmp_reply(ECHO_ID_BASE + 1)),
        ("icmp-other-mac", "ICMP echo to the device's IP inside a frame for another MAC", False,
         Ether(dst=OTHER_MAC, src=own_mac) / IP(src=own_ip, dst=device_ip) / ICMP(id=ECHO_ID_BASE + 2, seq=1),
         icmp_reply(ECHO_ID_BASE + 2)),
        ("icmp-other-ip", "ICMP echo to another IP inside a frame for the device's MAC", False,
         Ether(dst=device_mac, src=own_mac) / IP(src=own_ip, dst=OTHER_IP) / ICMP(id=ECHO_ID_BASE + 3, seq=1),
         icmp_reply(ECHO_ID_BASE + 3)),
        ("tcp-syn-other-mac", "TCP SYN to echo (7) inside a frame for another MAC", False,
         Ether(dst=OTHER_MAC, src=own_mac) / IP(src=own_ip, dst=device_ip) / TCP(sport=TCP_PORT_BASE + 1, dport=7, flags="S", seq=1000),
         tcp_reply(TCP_PORT_BASE + 1)),
        ("tcp-syn-other-ip", "TCP SYN to port 7 of another IP inside a frame for the device's MAC", False,
         Ether(dst=device_mac, src=own_mac) / IP(src=own_ip, dst=OTHER_IP) / TCP(sport=TCP_PORT_BASE + 2, dport=7, flags="S", seq=1000),
         tcp_reply(TCP_PORT_BASE + 2)),
        ("arp-other-ip", "ARP request (broadcast) for another IP", False,
         Ether(dst="ff:ff:ff:ff:ff:ff", src=own_mac) / ARP(op=1, hwsrc=own_mac, psrc=own_ip, pdst=OTHER_IP),
         lambda p: ARP in p and p[ARP].op == 2 and p[ARP].psrc == OTHER_IP),
        ("ipv6-echo-unicast", "ICMPv6 echo request to the device's MAC", False,
         Ether(dst=device_mac, src=own_mac) / IPv6(src="fe80::1", dst="fe80::2") / ICMPv6EchoRequest(id=ECHO_ID_BASE + 4, seq=1),
         lambda p: IPv6 in p),
        ("ipv6-echo-all-nodes", "ICMPv6 echo request to ff02::1 (all nodes multicast)", False,
         Ether(dst="33:33:00:00:00:01", src=own_mac) / IPv6(src="fe80::1", dst="ff02::1") / ICMPv6EchoRequest(id=ECHO_ID_BASE + 5, seq=1),
         lambda p: IPv6 in p and ICMPv6EchoReply in p),
        ("unknown-ethertype", "an EtherType the device does not speak (0x88b5, local experimental)", False,
         Ether(dst=device_mac, src=own_mac, type=0x88B5) / Raw(b"\x00" * 46),
         lambda p: p.haslayer(Ether) and p[Ether].type == 0x88B5),
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iface", required=True)
    parser.add_argument("--device-mac", required=True)
    parser.add_argument("--device-ip", required=True)
    parser.add_argument("--own-ip", required=True, help="the kernel's address on the LAN side")
    parser.add_argument("--wait", type=float, default=2.0, help="seconds to listen after the last probe")
    options = parser.parse_args()
    conf.verb = 0

    device_mac = options.device_mac.lower()
    own_mac = get_if_hwaddr(options.iface)
    plan = probes(device_mac, options.device_ip, own_mac, options.own_ip)

    listening = threading.Event()
    sniffer = AsyncSniffer(iface=options.iface, store=True, started_callback=listening.set,
                           lfilter=lambda p: Ether in p and p[Ether].src.lower() == device_mac)
    sniffer.start()
    # AsyncSniffer opens its socket on its own thread: wait (bounded) until it listens.
    if not listening.wait(10):
        print(json.dumps({"error": "sniffer did not start within 10 s"}))
        return 1

    # Foreign probes first, the control last: its reply shows the device was listening
    # throughout, so silence to the others is not just a slow start.
    ordered = [p for p in plan if not p[2]] + [p for p in plan if p[2]]
    for _, _, _, frame, _ in ordered:
        sendp(frame, iface=options.iface)
        time.sleep(0.05)
    time.sleep(options.wait)
    captured = sniffer.stop() or []

    report = {"probes": {}, "otherFromDevice": []}
    matched = set()
    for name, description, expect_reply, _, matcher in plan:
        replies = []
        for index, packet in enumerate(captured):
            try:
                hit = matcher(packet)
            except Exception:  # a malformed reply must not hide the others
                hit = False
            if hit:
                replies.append(packet.summary())
                matched.add(index)
        report["probes"][name] = {"description": description, "expectReply": expect_reply, "replies": replies}
    report["otherFromDevice"] = [p.summary() for i, p in enumerate(captured) if i not in matched]
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
