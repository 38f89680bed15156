#!/usr/bin/python3
"""A pipelined client of the sensor line protocol (SPEC section 4) on a kernel socket.

Every request of the script is sent at once, before any reply is read (the protocol
allows pipelining: replies come in request order). Then the replies are read to EOF
and checked one by one, in order, against what each request must produce:

  HELLO, many PUTs (each OK), GET (the last PUT's value, its source the sensor-id),
  PUT with an explicit unix-ms then GET (that timestamp), GET of an unknown name
  (ERR 404), LIST (a VAL per name, then END), PING with and without a token, a
  lower-case verb, a CRLF line, TIME (close to this host's clock: same machine),
  QUIET on (PUTs get no OK, a bad PUT still gets its ERR 400), QUIET off, bad lines
  (ERR 400), a line longer than the device's limit (ERR 413, and the connection
  goes on: the PING after it is answered), then QUIT: BYE, then the server closes.

The request count stays far below the service's burst of 2000 requests (ERR 429).

Prints one JSON object:
  {"requests", "replies", "checked", "mismatches": [{"index", "request", "expected",
   "got"}], "extraReplies", "eof", "elapsedSeconds", "error"}
Exit status 0 when every reply matched and the server closed after BYE.

usage: sensor_client.py HOST PORT [--sensor-id ID] [--puts N] [--max-line BYTES]
                        [--timeout SECONDS]
"""
import argparse
import json
import re
import socket
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--sensor-id", default="py-1")
    parser.add_argument("--puts", type=int, default=300)
    parser.add_argument("--max-line", type=int, default=512)
    parser.add_argument("--timeout", type=float, default=30.0)
    options = parser.parse_args()
    sensor = options.sensor_id

    # (request line, expectation). An expectation is a literal reply line, a compiled
    # regex for one line, None for no reply, or ("list", names) for LIST's lines + END.
    script = []

    def expect(request, expectation):
        script.append((request, expectation))

    expect(f"HELLO {sensor}", f"OK hello {sensor}")
    latest = {}
    for index in range(options.puts):
        name = f"py.s{index % 20}"
        value = f"{index}.25" if index % 3 else str(-index)
        latest[name] = value
        expect(f"PUT {name} {value}", "OK")
    # Read-your-writes: a GET pipelined after PUTs on the same connection sees them.
    expect("GET py.s7", re.compile(rf"^VAL py\.s7 {re.escape(latest['py.s7'])} [0-9]{{13}} {re.escape(sensor)}$"))
    expect("PUT py.stamped 1.5 1700000000123", "OK")
    expect("GET py.stamped", f"VAL py.stamped 1.5 1700000000123 {sensor}")
    latest["py.stamped"] = "1.5"
    expect("GET py.never-written", "ERR 404 unknown py.never-written")
    expect("LIST", ("list", dict(latest)))
    expect("PING", "PONG")
    expect("PING tok-42", "PONG tok-42")
    expect("ping lower", "PONG lower")
    expect("PING crlf\r", "PONG crlf")
    expect("TIME", re.compile(r"^TIME [0-9]{13}$"))
    expect("QUIET on", "OK")
    for index in range(50):
        expect(f"PUT py.quiet {index}", None)
    latest["py.quiet"] = "49"
    expect("PUT py.quiet not-a-number", "ERR 400 bad number")
    expect("QUIET off", "OK")
    expect("GET py.quiet", re.compile(rf"^VAL py\.quiet 49 [0-9]{{13}} {re.escape(sensor)}$"))
    expect("FROB", "ERR 400 unknown verb FROB")
    expect("PUT", re.compile(r"^ERR 400 usage: "))
    expect("GET bad!name", re.compile(r"^ERR 400 bad name"))
    expect("PUT py.x 1 2 3", re.compile(r"^ERR 400 usage: "))
    expect("HELLO " + "x" * 65, re.compile(r"^ERR 400 bad sensor-id"))
    expect("PUT py.long " + "9" * (options.max_line * 4), "ERR 413 line too long")
    expect("PING after-413", "PONG after-413")
    expect("GET py.s7", re.compile(rf"^VAL py\.s7 {re.escape(latest['py.s7'])} [0-9]{{13}} {re.escape(sensor)}$"))
    expect("QUIT", "BYE")

    payload = "".join(request + "\n" for request, _ in script).encode("utf-8")
    result = {"requests": len(script), "replies": 0, "checked": 0, "mismatches": [], "extraReplies": [],
              "eof": False, "elapsedSeconds": None, "error": None}
    started = time.monotonic()
    sock = socket.create_connection((options.host, options.port), timeout=options.timeout)
    received = bytearray()
    try:
        # One write: the whole script is in flight before the first reply is read.
        sock.sendall(payload)
        while True:
            data = sock.recv(65536)
            if not data:
                result["eof"] = True
                break
            received += data
    except OSError as error:
        result["error"] = f"after {len(received)} bytes: {error!r}"
    finally:
        sock.close()
    result["elapsedSeconds"] = time.monotonic() - started

    text = received.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    elif lines:
        result["mismatches"].append({"index": None, "request": None, "expected": "a final LF", "got": lines[-1]})
    result["replies"] = len(lines)
    wall_ms = time.time() * 1000
    position = 0

    def mismatch(index, request, expected, got):
        if len(result["mismatches"]) < 20:
            result["mismatches"].append({"index": index, "request": request[:80], "expected": expected, "got": got})

    for index, (request, expectation) in enumerate(script):
        if expectation is None:
            continue
        if isinstance(expectation, tuple):
            names = expectation[1]
            seen = {}
            while position < len(lines) and lines[position] != "END":
                match = re.match(r"^VAL (\S+) (\S+) ([0-9]+) (\S+)$", lines[position])
                if not match:
                    mismatch(index, request, "VAL line or END", lines[position])
                else:
                    seen[match.group(1)] = (match.group(2), match.group(4))
                position += 1
            if position >= len(lines):
                mismatch(index, request, "END", "(end of replies)")
                break
            position += 1
            for name, value in names.items():
                if seen.get(name) != (value, sensor):
                    mismatch(index, request, f"VAL {name} {value} <ms> {sensor}", str(seen.get(name)))
            result["checked"] += 1
            continue
        got = lines[position] if position < len(lines) else None
        position += 1
        if got is None:
            mismatch(index, request, str(expectation.pattern if hasattr(expectation, "pattern") else expectation), "(end of replies)")
            break
        if hasattr(expectation, "pattern"):
            ok = expectation.match(got) is not None
            if ok and got.startswith("TIME ") and abs(int(got.split()[1]) - wall_ms) > 60_000:
                ok = False
            if not ok:
                mismatch(index, request, expectation.pattern, got)
        elif got != expectation:
            mismatch(index, request, expectation, got)
        result["checked"] += 1
    result["extraReplies"] = lines[position:position + 10]

    print(json.dumps(result))
    good = result["error"] is None and result["eof"] and not result["mismatches"] and not result["extraReplies"]
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
