#!/usr/bin/python3
"""Bulk transfer through an RFC 862 echo server with the kernel's TCP.

Sends BYTES random bytes while a second thread reads the echo back concurrently
(a sequential send-then-read would deadlock once both directions' buffers fill),
half-closes, reads to EOF, and prints one JSON object:
  {"sent", "received", "sentSha256", "receivedSha256", "eof", "elapsedSeconds", "error"}
Exit status 0 when the exchange ran to EOF (the caller compares the digests),
1 on a socket error or an idle timeout (a hang guard, not a speed limit).

usage: echo_bulk.py HOST PORT BYTES [--idle-timeout SECONDS] [--chunk BYTES]
"""
import argparse
import hashlib
import json
import os
import socket
import sys
import threading
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("bytes", type=int)
    parser.add_argument("--idle-timeout", type=float, default=30.0)
    parser.add_argument("--chunk", type=int, default=64 * 1024)
    options = parser.parse_args()

    result = {"sent": 0, "received": 0, "sentSha256": None, "receivedSha256": None,
              "eof": False, "elapsedSeconds": None, "error": None}
    sent_hash = hashlib.sha256()
    received_hash = hashlib.sha256()
    errors = []
    started = time.monotonic()
    try:
        sock = socket.create_connection((options.host, options.port), timeout=options.idle_timeout)
    except OSError as error:
        result["error"] = f"connect: {error!r}"
        print(json.dumps(result))
        return 1
    sock.settimeout(options.idle_timeout)

    def receive() -> None:
        try:
            while True:
                data = sock.recv(256 * 1024)
                if not data:
                    result["eof"] = True
                    return
                received_hash.update(data)
                result["received"] += len(data)
        except OSError as error:
            errors.append(f"receive after {result['received']} bytes: {error!r}")

    reader = threading.Thread(target=receive, daemon=True)
    reader.start()
    try:
        remaining = options.bytes
        while remaining > 0:
            chunk = os.urandom(min(options.chunk, remaining))
            sent_hash.update(chunk)
            sock.sendall(chunk)
            result["sent"] += len(chunk)
            remaining -= len(chunk)
        # RFC 862 §1: the server echoes until we stop; our FIN makes it close after the echo.
        sock.shutdown(socket.SHUT_WR)
    except OSError as error:
        errors.append(f"send after {result['sent']} bytes: {error!r}")
    # The reader ends on EOF, on an error or on its idle timeout: bounded.
    reader.join()
    sock.close()

    result["elapsedSeconds"] = time.monotonic() - started
    result["sentSha256"] = sent_hash.hexdigest()
    result["receivedSha256"] = received_hash.hexdigest()
    if errors:
        result["error"] = "; ".join(errors)
    print(json.dumps(result))
    return 0 if not errors and result["eof"] else 1


if __name__ == "__main__":
    sys.exit(main())
