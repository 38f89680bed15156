#!/usr/bin/python3
"""An RFC 862 echo client that stops reading for a while, so windows close.

The client sends BYTES random bytes (on a thread, then half-closes) but does not read
for PAUSE seconds; only then does it read until EOF. With a small SO_RCVBUF the
kernel's receive window closes while the echo server still has bytes to send back, so
the *server* must probe a zero window. When BYTES is larger than what the two ends
can buffer, the server's own receive window closes too (its echo stops reading while
its send side is blocked), and the *kernel* probes it. Either way the transfer must
complete byte for byte once reading resumes: SHA-256 of both directions is reported.

Prints one JSON object:
  {"localPort", "sent", "received", "sentSha256", "receivedSha256", "eof",
   "sentBeforeReading": bytes sent when reading started, "sendDoneSeconds",
   "elapsedSeconds", "error"}
Exit status 0 when the send completed and EOF was read, 1 otherwise.

usage: zero_window.py HOST PORT BYTES [--pause SECONDS] [--rcvbuf BYTES]
                      [--idle-timeout SECONDS]
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
    parser.add_argument("--pause", type=float, default=4.0)
    parser.add_argument("--rcvbuf", type=int, default=4096)
    parser.add_argument("--idle-timeout", type=float, default=60.0)
    options = parser.parse_args()

    result = {"localPort": None, "sent": 0, "received": 0, "sentSha256": None, "receivedSha256": None, "eof": False,
              "sentBeforeReading": None, "sendDoneSeconds": None, "elapsedSeconds": None, "error": None}
    errors = []
    sent_hash = hashlib.sha256()
    received_hash = hashlib.sha256()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Before connect, so the window scale and the first advertised windows already obey it.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, options.rcvbuf)
    sock.settimeout(options.idle_timeout)
    started = time.monotonic()
    try:
        sock.connect((options.host, options.port))
        result["localPort"] = sock.getsockname()[1]
    except OSError as error:
        result["error"] = f"connect: {error!r}"
        print(json.dumps(result))
        return 1

    payload = os.urandom(options.bytes)
    sent_hash.update(payload)

    def send() -> None:
        try:
            view = memoryview(payload)
            while view:
                count = sock.send(view[:16384])
                result["sent"] += count
                view = view[count:]
            sock.shutdown(socket.SHUT_WR)
            result["sendDoneSeconds"] = time.monotonic() - started
        except OSError as error:
            errors.append(f"send after {result['sent']} bytes: {error!r}")

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    time.sleep(options.pause)
    result["sentBeforeReading"] = result["sent"]
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                result["eof"] = True
                break
            received_hash.update(data)
            result["received"] += len(data)
    except OSError as error:
        errors.append(f"receive after {result['received']} bytes: {error!r}")
    sender.join(options.idle_timeout)
    sock.close()

    result["elapsedSeconds"] = time.monotonic() - started
    result["sentSha256"] = sent_hash.hexdigest()
    result["receivedSha256"] = received_hash.hexdigest()
    if errors:
        result["error"] = "; ".join(errors)
    print(json.dumps(result))
    return 0 if not errors and result["eof"] and result["sent"] == options.bytes else 1


if __name__ == "__main__":
    sys.exit(main())
