#!/usr/bin/env python3
"""Bytes and datagrams of one complete bootstrap exchange, both directions:
Bootstrap-Request to the ACK of Bootstrap-Finish, for a typical
configuration (Delete /, one Security and one Server instance, Finish).

The client (unix port, real clock) talks to tools/bootstrap_server.py
through a counting UDP relay on loopback. measure() returns
{"bootstrap_bytes": N, "bootstrap_datagrams": M}; the project bench
(tools/bench/core.py) adds these to build/bench.json.
"""
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bootstrap_server import BootstrapServer  # noqa: E402
from devclient import DevClient  # noqa: E402


class Relay:
    """client <-> relay port <-> upstream: forwards and counts datagrams
    (one client)."""

    def __init__(self, upstream):
        self.up = upstream
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.out.bind(("127.0.0.1", 0))
        self.client = None
        self.datagrams = self.bytes = 0
        self.lock = threading.Lock()
        self.running = True
        self.threads = [threading.Thread(target=self._run, args=(s,), daemon=True)
                        for s in (self.sock, self.out)]
        for t in self.threads:
            t.start()

    def _run(self, s):
        s.settimeout(0.1)
        while self.running:
            try:
                data, addr = s.recvfrom(2048)
            except OSError:
                continue
            with self.lock:
                self.datagrams += 1
                self.bytes += len(data)
            if s is self.sock:
                self.client = addr
                self.out.sendto(data, self.up)
            elif self.client:
                self.sock.sendto(data, self.client)

    def counts(self):
        with self.lock:
            return self.bytes, self.datagrams

    def close(self):
        self.running = False
        for t in self.threads:
            t.join(1)
        self.sock.close()
        self.out.close()


CONFIG = {
    "delete": ["/"],
    "security": [{"uri": "coap://127.0.0.1:9", "ssid": 1}],
    "server": [{"ssid": 1, "lifetime": 300, "binding": "U"}],
}


def measure(timeout=20):
    ep = "bench-bs"
    bs = BootstrapServer(port=0, configs={ep: CONFIG}).start()
    relay = Relay(("127.0.0.1", bs.port))
    state = tempfile.mkdtemp(prefix="bench-bs-")
    c = DevClient(None, ep, "--bootstrap", "coap://127.0.0.1:%d" % relay.port,
                  "--quiet", state=state, clock="real")
    try:
        res = bs.wait_finished(ep, timeout=timeout)
        if res["code"] != "2.04":
            raise RuntimeError("bootstrap did not finish: %r" % (res,))
        # the Finish ACK passed the relay before the server saw it; let
        # anything still in flight (a retransmission) be counted too
        time.sleep(0.2)
        n, d = relay.counts()
        return {"bootstrap_bytes": n, "bootstrap_datagrams": d}
    finally:
        c.kill()
        relay.close()
        bs.stop()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(measure()))
