#!/usr/bin/python3
"""Short sensor sessions in rounds, the way a fleet that reconnects all day uses a device.

Each round opens SESSIONS connections to HOST:PORT at once; each sends `PING`, waits for
`PONG`, and then either closes first itself, or (every second session) sends `QUIT` so
the server closes first and holds TIME-WAIT. After a round the client pauses PAUSE
seconds, longer than the server's TIME-WAIT, so whatever state outlives a round is
state the server keeps for good. Non-blocking sockets on one selector: no threads.

Prints one JSON object: {"sessions": completed, "failed": N, "seconds": S, "error"}.
Exit status 0 when every session completed.

usage: sensor_churn.py HOST PORT ROUNDS SESSIONS [--pause SECONDS]
"""
import argparse
import errno
import json
import resource
import selectors
import socket
import sys
import time


def one_round(host: str, port: int, count: int, timeout: float) -> tuple[int, int]:
    selector = selectors.DefaultSelector()
    pending = {}
    failed = 0
    for index in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex((host, port))
        if code not in (0, errno.EINPROGRESS):
            failed += 1
            sock.close()
            continue
        quit_first = index % 2 == 1
        request = b"PING churn\nQUIT\n" if quit_first else b"PING churn\n"
        expect = b"BYE" if quit_first else b"PONG churn"
        pending[sock] = {"request": request, "expect": expect, "buffer": b"", "sent": False, "quit_first": quit_first}
        selector.register(sock, selectors.EVENT_WRITE)
    completed = 0
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for key, events in selector.select(timeout=1.0):
            sock = key.fileobj
            state = pending[sock]
            try:
                if not state["sent"]:
                    if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                        raise OSError("connect failed")
                    sock.sendall(state["request"])
                    state["sent"] = True
                    selector.modify(sock, selectors.EVENT_READ)
                    continue
                data = sock.recv(4096)
                if data:
                    state["buffer"] += data
                if state["expect"] in state["buffer"] and (not state["quit_first"] or not data):
                    completed += 1
                elif data:
                    continue
                elif state["expect"] not in state["buffer"]:
                    failed += 1
            except OSError:
                failed += 1
            selector.unregister(sock)
            sock.close()
            del pending[sock]
    failed += len(pending)
    for sock in pending:
        sock.close()
    selector.close()
    return completed, failed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("rounds", type=int)
    parser.add_argument("sessions", type=int)
    parser.add_argument("--pause", type=float, default=12.0)
    options = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = options.sessions + 100
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), max(hard, wanted)))
    started = time.monotonic()
    completed = failed = 0
    error = None
    try:
        for round_index in range(options.rounds):
            done, lost = one_round(options.host, options.port, options.sessions, 60.0)
            completed += done
            failed += lost
            time.sleep(options.pause)
    except OSError as failure:
        error = repr(failure)
    print(json.dumps({"sessions": completed, "failed": failed, "seconds": time.monotonic() - started, "error": error}))
    return 0 if failed == 0 and error is None else 1


if __name__ == "__main__":
    sys.exit(main())
