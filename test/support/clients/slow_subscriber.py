#!/usr/bin/python3
"""A sensor subscriber that stops reading while others flood it (SPEC section 4).

The subscriber connects with a tiny SO_RCVBUF (set before connect, so the window
scale and every advertised window obey it), sends `HELLO` and `SUB GLOB`, reads the
two OKs and then reads nothing: its kernel's receive buffer fills, the kernel
advertises a zero window, and the device must hold the VAL lines, probe the zero
window, and - its bound for a subscriber reached - send `ERR 507 too slow` and close.

Meanwhile PUBLISHERS other connections (QUIET on, paced under the service's rate
limit of 1000 requests/s per connection) PUT readings whose names match GLOB until
BYTES of VAL lines (as the device would format them for the subscriber) have been
published. Each publisher ends with `QUIET off`, `PING end`, `QUIT` and must see
exactly `OK hello`, `OK`, `OK`, `PONG end`, `BYE` and EOF: no error, no 429.

Stdout: first `{"event": "subscribed", "localPort": N}` (the test captures by port),
then `{"event": "published", ...}` when the flood is done, last the report. The
subscriber resumes reading when a line arrives on stdin (the test sends one once the
device reported the slow subscriber), or after --stall-max seconds; it then reads to
EOF and reports what it got:

  {"localPort", "subscribeReplies", "valLines", "badLines": [...], "lastLines": [...],
   "endedWithTooSlow", "eof", "reset", "receivedBytes", "publishedBytes",
   "publishedReadings", "publishSeconds", "publishedBeforeResume", "publisherErrors",
   "stallSeconds", "error"}
Exit status 0 when the flood completed cleanly and the subscriber got VAL lines, then
`ERR 507 too slow`, then EOF.

usage: slow_subscriber.py HOST PORT [--glob GLOB] [--rcvbuf BYTES] [--publishers N]
                          [--bytes BYTES] [--rate PER_CONNECTION_PER_SECOND]
                          [--stall-max SECONDS] [--timeout SECONDS]
"""
import argparse
import json
import re
import socket
import sys
import threading
import time

LINE_PATTERN = re.compile(r"^VAL (flood\.[A-Za-z0-9_.\-/]+) (-?[0-9.e+\-]+) ([0-9]+) (pub[A-Za-z0-9_.\-/]+)$")


def emit(obj) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Flood:
    """Shared publishing counters; publishers stop once `target` bytes are out."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.lock = threading.Lock()
        self.bytes = 0
        self.readings = 0
        self.errors = []

    def claim(self, size: int) -> bool:
        with self.lock:
            if self.bytes >= self.target:
                return False
            self.bytes += size
            self.readings += 1
            return True

    def error(self, text: str) -> None:
        with self.lock:
            if len(self.errors) < 20:
                self.errors.append(text)


def publisher(index: int, options, flood: Flood) -> None:
    # Long sensor-id and names: each reading is a long VAL line for the subscriber.
    sensor_id = f"pub{index:02d}-" + "s" * 58
    names = [f"flood.{'n' * 48}.{index:02d}.{k}" for k in range(8)]
    batch_period = 0.05
    per_batch = max(1, int(options.rate * batch_period))
    try:
        sock = socket.create_connection((options.host, options.port), timeout=options.timeout)
    except OSError as error:
        flood.error(f"publisher {index} connect: {error!r}")
        return
    replies = bytearray()

    def read_all() -> None:
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                replies.extend(data)
        except OSError as error:
            flood.error(f"publisher {index} receive: {error!r}")

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    try:
        sock.sendall(f"HELLO {sensor_id}\nQUIET on\n".encode())
        sequence = 0
        next_batch = time.monotonic()
        done = False
        while not done:
            lines = []
            for _ in range(per_batch):
                name = names[sequence % len(names)]
                value = f"{sequence}.{index:02d}5"
                timestamp = 1700000000000 + sequence
                # The VAL line the device writes to a subscriber for this reading.
                size = len(f"VAL {name} {value} {timestamp} {sensor_id}\n")
                if not flood.claim(size):
                    done = True
                    break
                lines.append(f"PUT {name} {value} {timestamp}\n")
                sequence += 1
            if lines:
                sock.sendall("".join(lines).encode())
            # Paced by a schedule, not by sleeps alone: stays under the rate on average.
            next_batch += batch_period
            pause = next_batch - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        sock.sendall(b"QUIET off\nPING end\nQUIT\n")
    except OSError as error:
        flood.error(f"publisher {index} send: {error!r}")
    reader.join(options.timeout)
    sock.close()
    expected = [f"OK hello {sensor_id}", "OK", "OK", "PONG end", "BYE"]
    got = replies.decode("utf-8", errors="replace").split("\n")
    if got and got[-1] == "":
        got.pop()
    if got != expected:
        flood.error(f"publisher {index} replies: {got[:8]!r} (expected {expected!r})")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--glob", default="flood.*")
    parser.add_argument("--rcvbuf", type=int, default=4096)
    parser.add_argument("--publishers", type=int, default=32)
    parser.add_argument("--bytes", type=int, default=100 * 1024 * 1024)
    parser.add_argument("--rate", type=float, default=700.0)
    parser.add_argument("--stall-max", type=float, default=120.0)
    parser.add_argument("--timeout", type=float, default=60.0)
    options = parser.parse_args()

    result = {"localPort": None, "subscribeReplies": [], "valLines": 0, "badLines": [], "lastLines": [],
              "endedWithTooSlow": False, "eof": False, "reset": False, "receivedBytes": 0,
              "publishedBytes": 0, "publishedReadings": 0, "publishSeconds": None, "publishedBeforeResume": None,
              "publisherErrors": [], "stallSeconds": None, "error": None}

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, options.rcvbuf)
    sock.settimeout(options.timeout)
    try:
        sock.connect((options.host, options.port))
        result["localPort"] = sock.getsockname()[1]
        sock.sendall(f"HELLO slow-sub\nSUB {options.glob}\n".encode())
        pending = b""
        while pending.count(b"\n") < 2:
            data = sock.recv(1)
            if not data:
                raise OSError("EOF before the SUB reply")
            pending += data
        result["subscribeReplies"] = pending.decode().split("\n")[:2]
    except OSError as error:
        result["error"] = f"subscribe: {error!r}"
        emit(result)
        return 1
    emit({"event": "subscribed", "localPort": result["localPort"]})

    flood = Flood(options.bytes)
    started = time.monotonic()
    threads = [threading.Thread(target=publisher, args=(index, options, flood), daemon=True) for index in range(options.publishers)]
    for thread in threads:
        thread.start()

    def finish_flood() -> None:
        for thread in threads:
            thread.join()
        result["publishSeconds"] = time.monotonic() - started
        emit({"event": "published", "bytes": flood.bytes, "readings": flood.readings, "seconds": result["publishSeconds"]})

    flood_watcher = threading.Thread(target=finish_flood, daemon=True)
    flood_watcher.start()

    # The stall: nothing is read from the subscriber's socket until the test says so.
    resume = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), resume.set()), daemon=True).start()
    resume.wait(options.stall_max)
    result["stallSeconds"] = time.monotonic() - started
    result["publishedBeforeResume"] = flood.bytes

    received = bytearray()
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                result["eof"] = True
                break
            received += data
    except ConnectionResetError as error:
        result["reset"] = True
        result["error"] = f"subscriber receive after {len(received)} bytes: {error!r}"
    except OSError as error:
        result["error"] = f"subscriber receive after {len(received)} bytes: {error!r}"
    sock.close()
    result["receivedBytes"] = len(received)
    lines = received.decode("utf-8", errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    result["lastLines"] = lines[-3:]
    result["endedWithTooSlow"] = bool(lines) and lines[-1] == "ERR 507 too slow"
    for line in lines[:-1] if result["endedWithTooSlow"] else lines:
        if LINE_PATTERN.match(line):
            result["valLines"] += 1
        elif len(result["badLines"]) < 10:
            result["badLines"].append(line[:200])

    flood_watcher.join(options.timeout * 2)
    result["publishedBytes"] = flood.bytes
    result["publishedReadings"] = flood.readings
    result["publisherErrors"] = flood.errors
    if flood_watcher.is_alive() and result["error"] is None:
        result["error"] = "the publishers did not finish"
    emit(result)
    good = (result["error"] is None and not flood.errors and result["eof"] and result["endedWithTooSlow"]
            and result["valLines"] > 0 and not result["badLines"])
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
