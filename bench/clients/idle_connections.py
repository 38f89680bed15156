#!/usr/bin/python3
"""Opens COUNT connections to HOST:PORT and holds them idle (the kernel answers the
server's keepalive probes by itself). Prints {"open": N, "seconds": S} once all are
open (or {"open": N, "error": ...} when it cannot open more), then holds them until
stdin closes or it is killed, then prints {"alive": N}: connections that were not
closed or reset by the server meanwhile.

usage: idle_connections.py HOST PORT COUNT
"""
import argparse
import json
import resource
import socket
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("count", type=int)
    options = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = options.count + 100
    if hard < wanted:
        hard = wanted
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    sockets = []
    started = time.monotonic()
    error = None
    try:
        for _ in range(options.count):
            sockets.append(socket.create_connection((options.host, options.port), timeout=10))
    except OSError as failure:
        error = repr(failure)
    report = {"open": len(sockets), "seconds": time.monotonic() - started}
    if error:
        report["error"] = error
    print(json.dumps(report), flush=True)
    # Hold until the runner closes our stdin.
    sys.stdin.read()
    # select() cannot take descriptors above 1023: peek without blocking instead.
    alive = 0
    for sock in sockets:
        # Non-blocking: with a timeout set, Python would first poll up to that long.
        sock.setblocking(False)
        try:
            if sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                alive += 1  # data waiting (unexpected, but the connection is up)
        except BlockingIOError:
            alive += 1  # nothing to read and no EOF: still established
        except OSError:
            pass  # reset
    print(json.dumps({"alive": alive}), flush=True)
    return 0 if error is None else 1


if __name__ == "__main__":
    sys.exit(main())
