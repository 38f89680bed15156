#!/usr/bin/python3
"""Sensor ingest (SPEC §4): CONNECTIONS connections each send `QUIET on`, PUTS
pipelined `PUT` lines and a final `PING end`. Replies come in request order and a PUT's
slot fills only once the store committed it, so `PONG end` on a connection proves every
PUT before it was durably committed (or answered with an error). Quiet PUTs get no
reply; errors (ERR 429 rate limited, ERR 503...) still do and are counted.

Prints {"connections", "puts", "errors", "errorKinds", "committed", "seconds",
"readingsPerSecond", "error"}: committed = puts - errors, over the time from the first
byte sent to the last PONG.

usage: sensor_ingest.py HOST PORT CONNECTIONS PUTS
"""
import argparse
import json
import resource
import selectors
import socket
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("connections", type=int)
    parser.add_argument("puts", type=int)
    options = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    result = {"connections": options.connections, "puts": options.connections * options.puts,
              "errors": 0, "errorKinds": {}, "error": None}
    selector = selectors.DefaultSelector()
    states = []
    try:
        for c in range(options.connections):
            sock = socket.create_connection((options.host, options.port), timeout=10)
            sock.setblocking(False)
            lines = [b"QUIET on\n"]
            lines += [b"PUT bench.c%d %d.%d\n" % (c, i, c) for i in range(options.puts)]
            lines.append(b"PING end\n")
            state = {"sock": sock, "out": memoryview(b"".join(lines)), "in": b"", "done": False, "okSeen": False}
            states.append(state)
            selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, state)
        started = time.monotonic()
        remaining = len(states)
        last_progress = started
        while remaining > 0:
            events = selector.select(timeout=1.0)
            now = time.monotonic()
            if not events and now - last_progress > 30:
                raise OSError("no progress for 30 s (%d connections unfinished)" % remaining)
            for key, mask in events:
                state = key.data
                sock = state["sock"]
                if mask & selectors.EVENT_WRITE and len(state["out"]) > 0:
                    try:
                        sent = sock.send(state["out"])
                        state["out"] = state["out"][sent:]
                        last_progress = now
                    except BlockingIOError:
                        pass
                    if len(state["out"]) == 0:
                        selector.modify(sock, selectors.EVENT_READ, state)
                if mask & selectors.EVENT_READ:
                    data = sock.recv(65536)
                    if not data:
                        raise OSError("server closed a connection early")
                    last_progress = now
                    state["in"] += data
                    while b"\n" in state["in"]:
                        line, _, state["in"] = state["in"].partition(b"\n")
                        line = line.rstrip(b"\r")
                        if line == b"PONG end":
                            state["done"] = True
                            remaining -= 1
                            selector.unregister(sock)
                        elif line == b"OK" and not state["okSeen"]:
                            state["okSeen"] = True  # the reply to QUIET on
                        elif line.startswith(b"ERR"):
                            result["errors"] += 1
                            kind = line[:7].decode("ascii", "replace")
                            result["errorKinds"][kind] = result["errorKinds"].get(kind, 0) + 1
        seconds = time.monotonic() - started
        result["seconds"] = seconds
        result["committed"] = result["puts"] - result["errors"]
        result["readingsPerSecond"] = result["committed"] / seconds
    except OSError as error:
        result["error"] = repr(error)
    for state in states:
        state["sock"].close()
    print(json.dumps(result))
    return 0 if result["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
