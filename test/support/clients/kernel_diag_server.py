#!/usr/bin/python3
"""Echo (RFC 862, TCP 7) and discard (RFC 863, TCP 9) served by the kernel's TCP.

Only for the self-test of the test infrastructure (test/integration/topology.test.ts):
it stands in for the firmware so the clients, captures and topology can be checked
against the kernel alone. Prints {"listening": [7, 9]} once both ports listen, then
serves until killed.

usage: kernel_diag_server.py [--address ADDRESS]
"""
import argparse
import json
import socket
import socketserver
import sys
import threading


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                break
            self.request.sendall(data)
        self.request.shutdown(socket.SHUT_WR)


class Discard(socketserver.BaseRequestHandler):
    def handle(self):
        while self.request.recv(65536):
            pass
        self.request.shutdown(socket.SHUT_WR)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 512


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", default="0.0.0.0")
    options = parser.parse_args()
    servers = [Server((options.address, 7), Echo), Server((options.address, 9), Discard)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"listening": [7, 9]}), flush=True)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
