#!/usr/bin/python3
"""Opens COUNT connections to an RFC 862 echo server at once with the kernel's TCP.

Every connect is started before any completes (non-blocking sockets, one selector).
Each connection then sends its own small unique message, half-closes, and reads until
EOF; its reply must be exactly its message. Prints one JSON object:
  {"count", "succeeded", "failures": [{"index", "stage", "error"}], "connectSeconds",
   "elapsedSeconds"}
Exit status 0 when every connection got its own message back, 1 otherwise.
The overall deadline is a hang guard, not a speed limit.

usage: echo_many.py HOST PORT COUNT [--deadline SECONDS]
"""
import argparse
import errno
import json
import os
import selectors
import socket
import sys
import time


class Connection:
    def __init__(self, index: int, address):
        self.index = index
        self.message = f"piwire connection {index} {os.urandom(8).hex()}\n".encode()
        self.received = bytearray()
        self.stage = "connect"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        code = self.sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS):
            raise OSError(code, os.strerror(code))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--deadline", type=float, default=120.0)
    options = parser.parse_args()

    address = (options.host, options.port)
    selector = selectors.DefaultSelector()
    failures = []
    succeeded = 0
    started = time.monotonic()
    connected_at = None
    pending_connects = 0

    def fail(connection: Connection, error: str) -> None:
        failures.append({"index": connection.index, "stage": connection.stage, "error": error})
        selector.unregister(connection.sock)
        connection.sock.close()

    for index in range(options.count):
        try:
            connection = Connection(index, address)
        except OSError as error:
            failures.append({"index": index, "stage": "connect", "error": repr(error)})
            continue
        selector.register(connection.sock, selectors.EVENT_WRITE, connection)
        pending_connects += 1

    while selector.get_map():
        remaining = options.deadline - (time.monotonic() - started)
        if remaining <= 0:
            for key in list(selector.get_map().values()):
                fail(key.data, "deadline passed")
            break
        for key, _ in selector.select(timeout=min(remaining, 1.0)):
            connection = key.data
            sock = connection.sock
            try:
                if connection.stage == "connect":
                    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    pending_connects -= 1
                    if pending_connects == 0:
                        connected_at = time.monotonic()
                    if code != 0:
                        fail(connection, os.strerror(code))
                        continue
                    connection.stage = "send"
                    # Small enough to fit the send buffer in one call.
                    sent = sock.send(connection.message)
                    if sent != len(connection.message):
                        fail(connection, f"short send {sent}")
                        continue
                    sock.shutdown(socket.SHUT_WR)
                    connection.stage = "receive"
                    selector.modify(sock, selectors.EVENT_READ, connection)
                else:
                    data = sock.recv(4096)
                    if data:
                        connection.received += data
                        continue
                    if bytes(connection.received) == connection.message:
                        succeeded += 1
                        selector.unregister(sock)
                        sock.close()
                    else:
                        fail(connection, f"reply {bytes(connection.received)!r} != {connection.message!r}")
            except OSError as error:
                fail(connection, repr(error))

    result = {
        "count": options.count,
        "succeeded": succeeded,
        "failures": failures,
        "connectSeconds": None if connected_at is None else connected_at - started,
        "elapsedSeconds": time.monotonic() - started,
    }
    print(json.dumps(result))
    return 0 if succeeded == options.count else 1


if __name__ == "__main__":
    sys.exit(main())
