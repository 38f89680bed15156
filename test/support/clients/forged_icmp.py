#!/usr/bin/python3
"""A forged ICMP "fragmentation needed" against the device's TCP, with scapy.

Run with Debian's /usr/bin/python3 (python3-scapy), as root, in the LAN namespace while
the device sends data through it. Waits for one data segment from the device, then sends
the device an ICMP destination unreachable / fragmentation needed (next-hop MTU
--mtu) from the LAN side's address, quoting that segment's IPv4 header and first 8 TCP
bytes, but with the quoted sequence number moved by --seq-offset (2**31 by default: out
of any window, as a blind attacker would guess it). RFC 5927 §4.1: the device must
ignore it.

Prints one JSON object: {"observedSeq", "quotedSeq", "mtu", "error"}; exit status 0
when the ICMP was sent.

usage: forged_icmp.py --iface IF --device-mac MAC --device-ip IP [--mtu 600]
                      [--seq-offset N] [--timeout SECONDS]
"""
import argparse
import json
import sys

from scapy.all import ICMP, IP, TCP, Ether, conf, get_if_addr, get_if_hwaddr, raw, sniff


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iface", required=True)
    parser.add_argument("--device-mac", required=True)
    parser.add_argument("--device-ip", required=True)
    parser.add_argument("--mtu", type=int, default=600)
    parser.add_argument("--seq-offset", type=int, default=2 ** 31)
    parser.add_argument("--timeout", type=float, default=20.0)
    options = parser.parse_args()
    result = {"observedSeq": None, "quotedSeq": None, "mtu": options.mtu, "error": None}
    try:
        segments = sniff(iface=options.iface, count=1, timeout=options.timeout,
                         lfilter=lambda p: IP in p and TCP in p and p[IP].src == options.device_ip
                         and len(p[TCP].payload) > 0)
        if not segments:
            raise RuntimeError(f"no data segment from the device within {options.timeout} s")
        original = segments[0][IP]
        seq = original[TCP].seq
        quoted_seq = (seq + options.seq_offset) % 2 ** 32
        quote = bytearray(raw(original)[: original.ihl * 4 + 8])
        quote[original.ihl * 4 + 4: original.ihl * 4 + 8] = quoted_seq.to_bytes(4, "big")
        icmp = ICMP(type=3, code=4, nexthopmtu=options.mtu) / bytes(quote)
        frame = (Ether(dst=options.device_mac, src=get_if_hwaddr(options.iface)) /
                 IP(src=get_if_addr(options.iface), dst=options.device_ip) / icmp)
        conf.L2socket(iface=options.iface).send(frame)
        result["observedSeq"] = seq
        result["quotedSeq"] = quoted_seq
    except Exception as error:  # reported, judged by the caller
        result["error"] = f"{type(error).__name__}: {error}"
    print(json.dumps(result))
    return 0 if result["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
