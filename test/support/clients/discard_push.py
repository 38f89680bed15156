#!/usr/bin/python3
"""Pushes BYTES into an RFC 863 discard server with the kernel's TCP.

sendall() the bytes, half-close, then read to EOF: the server closes only after it has
read everything before our FIN, so a clean EOF proves every byte was accepted. The
kernel's send queue (SIOCOUTQ) is sampled at that point: 0 means all bytes, and our
FIN, were acknowledged. Prints one JSON object:
  {"sent", "received", "eof", "unacknowledged", "elapsedSeconds", "sendSeconds", "error"}
Exit status 0 when the exchange ran to EOF, 1 on an error or idle timeout (hang guard).

usage: discard_push.py HOST PORT BYTES [--idle-timeout SECONDS]
"""
import argparse
import fcntl
import json
import os
import socket
import struct
import sys
import termios
import time

# linux/sockios.h: SIOCOUTQ == TIOCOUTQ, bytes in the send queue not yet acknowledged.
SIOCOUTQ = termios.TIOCOUTQ


def unacknowledged(sock: socket.socket) -> int:
    raw = fcntl.ioctl(sock.fileno(), SIOCOUTQ, struct.pack("i", 0))
    return struct.unpack("i", raw)[0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("bytes", type=int)
    parser.add_argument("--idle-timeout", type=float, default=30.0)
    options = parser.parse_args()

    result = {"sent": 0, "received": 0, "eof": False, "unacknowledged": None,
              "elapsedSeconds": None, "sendSeconds": None, "error": None}
    # Discard does not look at the content: one random block, sent again and again.
    block = os.urandom(1024 * 1024)
    started = time.monotonic()
    try:
        sock = socket.create_connection((options.host, options.port), timeout=options.idle_timeout)
        sock.settimeout(options.idle_timeout)
        remaining = options.bytes
        view = memoryview(block)
        while remaining > 0:
            piece = view[: min(len(block), remaining)]
            sock.sendall(piece)
            result["sent"] += len(piece)
            remaining -= len(piece)
        result["sendSeconds"] = time.monotonic() - started
        sock.shutdown(socket.SHUT_WR)
        while True:
            data = sock.recv(65536)
            if not data:
                result["eof"] = True
                break
            result["received"] += len(data)
        result["unacknowledged"] = unacknowledged(sock)
        sock.close()
    except OSError as error:
        result["error"] = f"after {result['sent']} bytes sent: {error!r}"
    result["elapsedSeconds"] = time.monotonic() - started
    print(json.dumps(result))
    return 0 if result["error"] is None and result["eof"] else 1


if __name__ == "__main__":
    sys.exit(main())
