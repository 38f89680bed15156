#!/usr/bin/env python3
"""Sends one capture marker frame out of an interface: test/support/capture.ts proves
with it that dumpcap writes what crosses the interface (a marker at the start) and that
everything sent before a point is in the file (a marker at the end).

The frame: broadcast destination, the interface's own MAC as source, EtherType 0x88B5
(IEEE 802 Local Experimental EtherType 1, which no stack here handles: kernels drop it
silently, piwire counts `ethernet.drop.unknown-type`), then the payload given in hex.
Run as root inside the interface's network namespace (ip netns exec).

usage: capture_marker.py IFNAME PAYLOAD_HEX
"""
import socket
import sys

MARKER_ETHERTYPE = 0x88B5
BROADCAST = b"\xff" * 6
MINIMUM_FRAME = 60  # without FCS: shorter frames are padded, as a NIC would


def main():
    ifname, payload = sys.argv[1], bytes.fromhex(sys.argv[2])
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0) as sock:
        sock.bind((ifname, 0))
        own_mac = sock.getsockname()[4]
        frame = BROADCAST + own_mac + MARKER_ETHERTYPE.to_bytes(2, "big") + payload
        sock.send(frame.ljust(MINIMUM_FRAME, b"\x00"))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: capture_marker.py IFNAME PAYLOAD_HEX")
    main()
