#!/usr/bin/python3
"""Bulk goodput and the longest stall, with the kernel's TCP, for bench/run.ts's loss section.

push HOST PORT BYTES: send BYTES into a discard server (RFC 863), half-close, read to EOF
  (the server closes after reading everything). Progress is what the server's TCP has
  acknowledged: tcpi_bytes_acked of this socket, sampled every millisecond by a thread.
pull HOST PORT BYTES: read BYTES from a chargen server (RFC 864). Progress is each
  recv() that returns data (in-order bytes only: a hole holds everything behind it).
  Timed from the FIRST byte: a lost third ACK of the handshake keeps the server in
  SYN-RECEIVED until its SYN-ACK retransmission (initial RTO, 1 s, on both stacks),
  which is handshake loss, not the data recovery measured here; "first_byte_ms" says
  how long it took.
echo HOST PORT BYTES: send BYTES to an echo server (RFC 862) from a thread while
  reading the echo back; progress is echoed bytes received. Both data paths cross the
  lossy link; the client sends at once, so the handshake completes with its data.

The longest stall is the longest time without progress between the start (pull: the
first byte) and the last byte, as this process sees it: its polling thread and recv()
calls run when the scheduler lets them, so on a loaded machine it can report a stall the
wire did not have (push: 47 ms where the capture shows 10). bench/lib/loss.ts therefore
takes the cell's stall from a capture on this interface (bench/lib/wire-stall.ts) and
keeps this figure beside it. In echo, a stall may be the client's own: when the
client's TCP has a loss to repair, the server has echoed all it was given and has nothing
to send. So echo also samples, every millisecond, how much of the client's data the
server's TCP has acknowledged (tcpi_bytes_acked), and splits the stalls by what the
server held when the stall began: "server_stall_ms" is the longest stall that began
while the server held data it had acknowledged but not yet echoed (the server's own
sending stalled), "client_stall_ms" the longest one that began with nothing held (the
client's sending held it up). --deadline bounds the whole transfer: a transfer still running then is reported
with "completed": false and the bytes moved so far (a stall, not an error).

The path's round trip as the kernel's TCP sees it: in push the client is the sender, and
the sampler also keeps its smoothed RTT (tcpi_rtt) and cwnd every millisecond while data
is unacknowledged ("sender_rtt_us_median", "sender_cwnd_median", in segments): the RTT
includes the time the server takes to ACK, which is what bounds a loss-limited sender
(goodput ~ MSS / (RTT * sqrt(p)), Mathis et al. 1997). In pull and echo the client
reports its receiver-side estimate at the end ("client_rcv_rtt_us", tcpi_rcv_rtt).

Prints one JSON object: {"mode", "bytes", "completed", "seconds", "longest_stall_ms",
"stall_at_byte", "first_byte_ms", "client_retransmits", "client_rto_ms",
"sender_rtt_us_median", "sender_cwnd_median", "client_rcv_rtt_us", "server_stall_ms",
"client_stall_ms", "error"}. Exit 0 unless
an error (refused, reset) ended the transfer.

usage: lossy_bulk.py push|pull|echo HOST PORT BYTES [--deadline SECONDS] [--congestion NAME]

--congestion: the client socket's congestion control (TCP_CONGESTION), e.g. cubic
where the host's default is another; without it the kernel's default.
"""
import argparse
import json
import os
import socket
import struct
import sys
import threading
import time

# struct tcp_info (linux/tcp.h): offsets of the fields read here.
TCPI_RTO = 8  # u32, µs
TCPI_RTT = 68  # u32, µs (smoothed)
TCPI_SND_CWND = 80  # u32, segments
TCPI_RCV_RTT = 92  # u32, µs (receiver-side estimate)
TCPI_TOTAL_RETRANS = 100  # u32
TCPI_BYTES_ACKED = 120  # u64 (Linux ≥ 4.1)
TCP_INFO_LENGTH = 128


def tcp_info(sock):
    raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_LENGTH + 8)
    if len(raw) < TCP_INFO_LENGTH:
        return None
    return {
        "rto_us": struct.unpack_from("I", raw, TCPI_RTO)[0],
        "rtt_us": struct.unpack_from("I", raw, TCPI_RTT)[0],
        "snd_cwnd": struct.unpack_from("I", raw, TCPI_SND_CWND)[0],
        "rcv_rtt_us": struct.unpack_from("I", raw, TCPI_RCV_RTT)[0],
        "total_retrans": struct.unpack_from("I", raw, TCPI_TOTAL_RETRANS)[0],
        "bytes_acked": struct.unpack_from("Q", raw, TCPI_BYTES_ACKED)[0],
    }


class StallMeter:
    """Longest gap between progress events, from the first progress to the last.

    With `held` (echo): a function giving the bytes the server held (acknowledged, not
    yet echoed) at a progress event; the gaps are then also split by whether the server
    held any when they began."""

    def __init__(self, origin, held=None):
        # Where goodput and stalls are timed from (pull moves it to the first byte).
        self.origin = origin
        self.last = None
        self.longest = 0.0
        self.at = 0
        self.held = held
        self.held_at_last = 0
        self.longest_server = 0.0
        self.longest_client = 0.0

    def progress(self, now, position):
        if self.last is not None:
            gap = now - self.last
            if gap > self.longest:
                self.longest = gap
                self.at = position
            if self.held is not None:
                if self.held_at_last > 0:
                    self.longest_server = max(self.longest_server, gap)
                else:
                    self.longest_client = max(self.longest_client, gap)
        self.last = now
        if self.held is not None:
            self.held_at_last = self.held(position)


def push(sock, total, deadline, result, meter):
    done = threading.Event()
    acked = [0]
    rtts = []
    cwnds = []

    def sample():
        previous = 0
        while not done.is_set():
            info = tcp_info(sock)
            if info is not None:
                if 0 < previous < total:
                    rtts.append(info["rtt_us"])
                    cwnds.append(info["snd_cwnd"])
                # bytes_acked counts the SYN's sequence number too.
                now_acked = min(total, max(0, info["bytes_acked"] - 1))
                if now_acked != previous:
                    meter.progress(time.monotonic(), now_acked)
                    previous = now_acked
                    acked[0] = now_acked
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    block = memoryview(os.urandom(64 * 1024))
    meter.progress(time.monotonic(), 0)
    sampler.start()
    try:
        remaining = total
        while remaining > 0:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            piece = block[: min(len(block), remaining)]
            sock.sendall(piece)
            remaining -= len(piece)
        sock.shutdown(socket.SHUT_WR)
        view = memoryview(bytearray(65536))
        while True:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            if sock.recv_into(view) == 0:
                break
        result["completed"] = True
        acked[0] = total
    finally:
        done.set()
        sampler.join()
        result["bytes"] = total if result["completed"] else acked[0]
        result["sender_rtt_us_median"] = median(rtts)
        result["sender_cwnd_median"] = median(cwnds)


def median(values):
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def receive(sock, total, deadline, result, meter, timed_from_first_byte):
    """Reads TOTAL bytes; with timed_from_first_byte, timing starts at the first byte."""
    view = memoryview(bytearray(1024 * 1024))
    received = 0
    counted_from = 0
    start = time.monotonic()
    if not timed_from_first_byte:
        meter.progress(start, 0)
    try:
        while received < total:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            count = sock.recv_into(view, min(len(view), total - received))
            if count == 0:
                raise ConnectionError("EOF before all bytes arrived")
            now = time.monotonic()
            if received == 0 and timed_from_first_byte:
                result["first_byte_ms"] = (now - start) * 1000
                meter.origin = now
                counted_from = count
            received += count
            meter.progress(now, received)
        result["completed"] = True
    finally:
        result["bytes"] = received - counted_from


def pull(sock, total, deadline, result, meter):
    receive(sock, total, deadline, result, meter, True)


def echo(sock, total, deadline, result, meter):
    done = threading.Event()
    acked = [0]

    def sample():
        while not done.is_set():
            info = tcp_info(sock)
            if info is not None:
                # bytes_acked counts the SYN's sequence number too.
                acked[0] = min(total, max(0, info["bytes_acked"] - 1))
            time.sleep(0.001)

    # What the server held at a progress event: acknowledged by its TCP, not yet echoed.
    meter.held = lambda received: acked[0] - received
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    def send():
        block = memoryview(os.urandom(64 * 1024))
        try:
            remaining = total
            while remaining > 0:
                piece = block[: min(len(block), remaining)]
                sock.sendall(piece)
                remaining -= len(piece)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # a reset or the deadline: the reading side reports it

    # One timeout for both directions, set before the sender starts: the deadline.
    sock.settimeout(max(0.001, deadline - time.monotonic()))
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        receive(sock, total, deadline, result, meter, False)
    finally:
        done.set()
        sampler.join()
        if result["completed"]:
            sender.join()


def connect(host: str, port: int, timeout: float, congestion: "str | None") -> socket.socket:
    """A TCP connection to HOST:PORT; with `congestion`, that congestion control (TCP_CONGESTION, set before the SYN)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if congestion is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, congestion.encode("ascii"))
        sock.settimeout(timeout)
        sock.connect((host, port))
        return sock
    except BaseException:
        sock.close()
        raise


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["push", "pull", "echo"])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("bytes", type=int)
    parser.add_argument("--deadline", type=float, default=60.0)
    parser.add_argument("--congestion", default=None)
    options = parser.parse_args()
    result = {"mode": options.mode, "bytes": 0, "completed": False, "seconds": None, "longest_stall_ms": None,
              "stall_at_byte": None, "first_byte_ms": None, "client_retransmits": None, "client_rto_ms": None,
              "sender_rtt_us_median": None, "sender_cwnd_median": None, "client_rcv_rtt_us": None,
              "server_stall_ms": None, "client_stall_ms": None, "error": None}
    sock = None
    meter = StallMeter(time.monotonic())
    try:
        sock = connect(options.host, options.port, min(10.0, options.deadline), options.congestion)
        meter.origin = time.monotonic()
        deadline = meter.origin + options.deadline
        run = {"push": push, "pull": pull, "echo": echo}[options.mode]
        run(sock, options.bytes, deadline, result, meter)
    except socket.timeout:
        pass  # the deadline: reported as not completed
    except OSError as error:
        result["error"] = repr(error)
    finally:
        finished = time.monotonic()
        result["seconds"] = finished - meter.origin
        if sock is not None:
            info = tcp_info(sock)
            if info is not None:
                result["client_retransmits"] = info["total_retrans"]
                result["client_rto_ms"] = info["rto_us"] / 1000
                if options.mode != "push":
                    result["client_rcv_rtt_us"] = info["rcv_rtt_us"]
            sock.close()
    if meter.last is not None:
        # A transfer cut by the deadline has stalled at least since its last progress.
        tail = (finished - meter.last) if not result["completed"] else 0
        result["longest_stall_ms"] = max(meter.longest, tail) * 1000
        result["stall_at_byte"] = meter.at
        if meter.held is not None:
            # A cut transfer's tail counts as the server's if it held data then.
            server_tail = tail if meter.held_at_last > 0 else 0
            result["server_stall_ms"] = max(meter.longest_server, server_tail) * 1000
            result["client_stall_ms"] = max(meter.longest_client, tail - server_tail) * 1000
    elif not result["completed"]:
        result["longest_stall_ms"] = result["seconds"] * 1000
    print(json.dumps(result))
    return 0 if result["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
