#!/usr/bin/python3
"""Bulk goodput with the kernel's TCP, for bench/run.ts.

push HOST PORT BYTES: send BYTES into a discard server (RFC 863), half-close, read to
  EOF. The server closes only after reading everything before our FIN, so the time to
  EOF is the time for every byte to be accepted by the server's application.
pull HOST PORT BYTES: read BYTES from a chargen server (RFC 864), then close.

Prints one JSON object: {"mode", "bytes", "seconds", "error"}. Exit 0 on success.
The idle timeout is a hang guard, not a speed limit.

usage: bulk.py push|pull HOST PORT BYTES [--idle-timeout SECONDS]
"""
import argparse
import json
import os
import socket
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["push", "pull"])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("bytes", type=int)
    parser.add_argument("--idle-timeout", type=float, default=20.0)
    options = parser.parse_args()
    result = {"mode": options.mode, "bytes": 0, "seconds": None, "error": None}
    buffer = bytearray(1024 * 1024)
    view = memoryview(buffer)
    try:
        sock = socket.create_connection((options.host, options.port), timeout=options.idle_timeout)
        sock.settimeout(options.idle_timeout)
        started = time.monotonic()
        if options.mode == "push":
            block = memoryview(os.urandom(1024 * 1024))
            remaining = options.bytes
            while remaining > 0:
                piece = block[: min(len(block), remaining)]
                sock.sendall(piece)
                remaining -= len(piece)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv_into(view) > 0:
                pass
            result["bytes"] = options.bytes
        else:
            received = 0
            while received < options.bytes:
                count = sock.recv_into(view)
                if count == 0:
                    raise OSError("EOF before all bytes arrived")
                received += count
            result["bytes"] = received
        result["seconds"] = time.monotonic() - started
        sock.close()
    except OSError as error:
        result["error"] = repr(error)
    print(json.dumps(result))
    return 0 if result["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
