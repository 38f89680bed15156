#!/usr/bin/python3
"""Uploads to a service that talks back, without ever reading what it says.

Connects to HOST:PORT (chargen, RFC 864: the server sends without end and throws
away what it receives) with a small SO_RCVBUF, so the client's receive window closes
and the server must probe it; after DELAY seconds (probing has begun) the client sends BYTES and waits until the
kernel reports every byte acknowledged (SIOCOUTQ = 0). The server's ACKs for the
upload must carry a sequence number the client accepts while its window is shut
(RFC 9293 section 3.10.7.4), or the upload stalls.

Prints one JSON object: {"localPort", "sent", "acknowledged": bool, "unacknowledged",
"elapsedSeconds", "error"}. Exit status 0 when everything was acknowledged.

usage: upload_not_reading.py HOST PORT BYTES [--rcvbuf BYTES] [--sndbuf BYTES] [--timeout SECONDS] [--delay SECONDS]
"""
import argparse
import array
import fcntl
import json
import os
import socket
import sys
import time

SIOCOUTQ = 0x5411  # linux/sockios.h: bytes in the send queue not yet acknowledged


def unacknowledged(sock: socket.socket) -> int:
    buffer = array.array("i", [0])
    fcntl.ioctl(sock.fileno(), SIOCOUTQ, buffer, True)
    return buffer[0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("bytes", type=int)
    parser.add_argument("--rcvbuf", type=int, default=4096)
    parser.add_argument("--sndbuf", type=int, default=16384)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--delay", type=float, default=1.0, help="seconds between connect and upload (the server starts probing)")
    options = parser.parse_args()
    result = {"localPort": None, "sent": 0, "acknowledged": False, "unacknowledged": None, "elapsedSeconds": None, "error": None}
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, options.rcvbuf)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, options.sndbuf)
    sock.settimeout(options.timeout)
    started = time.monotonic()
    try:
        sock.connect((options.host, options.port))
        result["localPort"] = sock.getsockname()[1]
        time.sleep(options.delay)
        payload = os.urandom(options.bytes)
        sock.sendall(payload)
        result["sent"] = len(payload)
        deadline = time.monotonic() + options.timeout
        while time.monotonic() < deadline:
            result["unacknowledged"] = unacknowledged(sock)
            if result["unacknowledged"] == 0:
                result["acknowledged"] = True
                break
            time.sleep(0.05)
    except OSError as error:
        result["error"] = f"{type(error).__name__}: {error}"
    result["elapsedSeconds"] = time.monotonic() - started
    # Unread data: close() resets, which is fine here.
    sock.close()
    print(json.dumps(result))
    return 0 if result["acknowledged"] else 1


if __name__ == "__main__":
    sys.exit(main())
