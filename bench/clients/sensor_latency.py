#!/usr/bin/python3
"""Request/response latency of the sensor protocol (SPEC §4): one connection, one
`PING <n>` at a time, waiting for `PONG <n>`. The first WARMUP round trips are not in
the figures; their own percentiles come in "warmUp" (a server that compiles its code as
it goes, as V8 does, is slower in its first seconds than in the steady state that the
main figures measure). Prints {"samples", "p50Micros", "p99Micros", "p999Micros",
"meanMicros", "maxMicros", "warmUp": {"samples", "p50Micros", "p99Micros"}, "error"}.

Requests are paced INTERVAL microseconds apart (start to start): the device's sensor
service limits each connection to 1000 requests/s (burst 2000, then ERR 429), so an
unpaced loop would measure the rate limiter. The kernel baseline is paced the same way.

usage: sensor_latency.py HOST PORT COUNT [--warmup N] [--interval MICROSECONDS]
"""
import argparse
import json
import socket
import sys
import time


def percentile(sorted_values, fraction):
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, int(round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--interval", type=float, default=1250.0)
    options = parser.parse_args()
    result = {"samples": 0, "error": None}
    samples = []
    warm_up = []
    try:
        sock = socket.create_connection((options.host, options.port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pending = b""
        for n in range(options.warmup + options.count):
            request = b"PING %d\n" % n
            expected = b"PONG %d" % n
            started = time.perf_counter_ns()
            sock.sendall(request)
            while b"\n" not in pending:
                data = sock.recv(4096)
                if not data:
                    raise OSError("EOF")
                pending += data
            line, _, pending = pending.partition(b"\n")
            elapsed = time.perf_counter_ns() - started
            if line.rstrip(b"\r") != expected:
                raise OSError("unexpected reply %r to %r" % (line, request))
            (samples if n >= options.warmup else warm_up).append(elapsed / 1000.0)
            pause = options.interval / 1e6 - (time.perf_counter_ns() - started) / 1e9
            if pause > 0:
                time.sleep(pause)
        sock.close()
    except OSError as error:
        result["error"] = repr(error)
    samples.sort()
    warm_up.sort()
    result.update({
        "samples": len(samples),
        "p50Micros": percentile(samples, 0.5),
        "p99Micros": percentile(samples, 0.99),
        "p999Micros": percentile(samples, 0.999),
        "meanMicros": sum(samples) / len(samples) if samples else None,
        "maxMicros": samples[-1] if samples else None,
        "warmUp": {"samples": len(warm_up), "p50Micros": percentile(warm_up, 0.5), "p99Micros": percentile(warm_up, 0.99)},
    })
    print(json.dumps(result))
    return 0 if result["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
