#!/usr/bin/python3
"""Connects to an RFC 862 echo server with the kernel's keepalive tuned, exchanges one
message, then waits for the kernel to declare the peer lost.

The socket gets SO_KEEPALIVE with TCP_KEEPIDLE/TCP_KEEPINTVL/TCP_KEEPCNT set to the
given values (the same the firmware is configured with), so after a cable pull the two
detection times can be compared. Prints two JSON lines:
  {"phase": "idle", "exchangedAt": <monotonic seconds>}     once the echo came back;
                                                            the caller pulls the cable now
  {"error": errno name or null, "detail", "secondsSinceExchange", "exchanged": bool}
The caller reads the first line as it arrives. Exit status 0 when recv failed with
ETIMEDOUT (the kernel's keepalive gave up), 1 otherwise. `--deadline` is a hang guard.

usage: keepalive_watch.py HOST PORT --idle S --interval S --count N [--deadline S]
"""
import argparse
import errno
import json
import os
import socket
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--idle", type=int, required=True)
    parser.add_argument("--interval", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--deadline", type=float, default=60.0)
    options = parser.parse_args()

    report = {"error": None, "detail": None, "secondsSinceExchange": None, "exchanged": False}
    sock = socket.create_connection((options.host, options.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, options.idle)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, options.interval)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, options.count)
    message = f"piwire keepalive {os.urandom(6).hex()}\n".encode()
    sock.sendall(message)
    echoed = b""
    while len(echoed) < len(message):
        data = sock.recv(4096)
        if not data:
            break
        echoed += data
    if echoed != message:
        report["detail"] = f"echo {echoed!r} != {message!r}"
        print(json.dumps(report))
        return 1
    exchanged_at = time.monotonic()
    report["exchanged"] = True
    print(json.dumps({"phase": "idle", "exchangedAt": exchanged_at}), flush=True)

    sock.settimeout(options.deadline)
    try:
        data = sock.recv(4096)
        report["detail"] = f"recv returned {data!r} instead of failing"
    except OSError as error:
        # Python maps errno ETIMEDOUT to TimeoutError, the same class as socket.timeout
        # (our own deadline); only the kernel's error carries an errno.
        if error.errno is None:
            report["error"] = "deadline"
            report["detail"] = f"no error within {options.deadline} s"
        else:
            report["error"] = errno.errorcode.get(error.errno, str(error.errno))
            report["detail"] = repr(error)
    report["secondsSinceExchange"] = time.monotonic() - exchanged_at
    sock.close()
    print(json.dumps(report))
    return 0 if report["error"] == "ETIMEDOUT" else 1


if __name__ == "__main__":
    sys.exit(main())
