#!/usr/bin/python3
"""RFC 862 echo (TCP 7), RFC 863 discard (TCP 9) and RFC 864 chargen (TCP 19) on the
kernel's TCP: the kernel baseline of bench/run.ts's bulk and loss sections. Prints
{"listening": [7, 9, 19], "congestion": NAME} once all listen, then serves until killed.

usage: kernel_bulk_server.py [--address ADDRESS] [--congestion NAME]

--congestion sets the listening sockets' congestion control (TCP_CONGESTION; accepted
connections inherit it), e.g. cubic where the host's default is another (bbr): the
namespace's own default may only be one of net.ipv4.tcp_allowed_congestion_control, the
socket option (as root) any available one. Without it the kernel's default applies; the
first line names the one in use either way.
"""
import argparse
import json
import socket
import socketserver
import sys
import threading


def chargen_block() -> bytes:
    printable = "".join(chr(32 + i) for i in range(95))
    lines = [(printable + printable)[line:line + 72] + "\r\n" for line in range(95)]
    return "".join(lines).encode("ascii") * 16


BLOCK = chargen_block()


class Discard(socketserver.BaseRequestHandler):
    def handle(self):
        view = memoryview(bytearray(1024 * 1024))
        while self.request.recv_into(view) > 0:
            pass
        self.request.shutdown(socket.SHUT_WR)


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        view = memoryview(bytearray(1024 * 1024))
        try:
            while True:
                count = self.request.recv_into(view)
                if count == 0:
                    break
                self.request.sendall(view[:count])
            self.request.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class Chargen(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            while True:
                self.request.sendall(BLOCK)
        except OSError:
            pass


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", default="0.0.0.0")
    parser.add_argument("--congestion", default=None)
    options = parser.parse_args()
    servers = []
    for port, handler in ((7, Echo), (9, Discard), (19, Chargen)):
        server = Server((options.address, port), handler, bind_and_activate=False)
        if options.congestion is not None:
            server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, options.congestion.encode("ascii"))
        server.server_bind()
        server.server_activate()
        servers.append(server)
    congestion = servers[0].socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).split(b"\0")[0].decode("ascii")
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"listening": [7, 9, 19], "congestion": congestion}), flush=True)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
