"""DTLS figures for the project bench: handshake of client/dtls.py on the
MicroPython unix port against python-mbedtls over loopback, and .mpy size.

measure() -> {dtls_handshake_bytes, dtls_handshake_client_bytes,
              dtls_handshake_datagrams, dtls_handshake_ms, dtls_mpy_bytes, ...}
"""
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

# Device-side helpers for snippets run with run_mp: a non-blocking UDP
# transport (send/recv/close/sock) that counts datagrams, and a poll loop.
MP_PRELUDE = r"""
import socket, select, time
from client.dtls import Dtls, CCM8, CBC_SHA256

class Udp:
    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect(socket.getaddrinfo('127.0.0.1', port)[0][-1])
        self.sock.setblocking(False)
        self.tx = []
        self.rx = []
    def send(self, d):
        self.tx.append(len(d))
        self.sock.send(d)
    def recv(self):
        try:
            d = self.sock.recv(2048)
        except OSError:
            return None
        self.rx.append(len(d))
        return d
    def close(self):
        self.sock.close()

def drive(d, data=False, limit=10000):
    # run the session until the handshake ends (or application data arrives)
    p = select.poll()
    p.register(d.sock, select.POLLIN)
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < limit:
        if d.state in ('failed', 'closed') or d.state == 'connected' and not data:
            return None
        dl = d.deadline()
        p.poll(100 if dl is None else max(0, min(100, dl - time.ticks_ms())))
        r = d.recv()
        if r is not None:
            return r
        d.step()
"""


def mpy_size():
    import build_mpy        # the one device compile (tools/build_mpy.py)
    with tempfile.TemporaryDirectory() as tmp:
        return sum(build_mpy.compile("client/%s.py" % f, os.path.join(tmp, f + ".mpy")) for f in ("dtls", "crypto"))


def measure(suite=0xC0A8):
    sys.path.insert(0, os.path.join(ROOT, "host_tests"))
    from conftest import run_mp  # the tests' MicroPython runner
    from devserver.dtls_peer import MbedtlsServer

    psk = os.urandom(16)
    with MbedtlsServer({"lwm2m-client": psk}, suites=(suite,)) as srv:
        out = run_mp(MP_PRELUDE + """
t = Udp(%d)
d = Dtls(t, 'lwm2m-client', %r, time.ticks_ms, suites=(%d,))
t0 = time.ticks_us()
d.start()
drive(d)
print(d.state, time.ticks_diff(time.ticks_us(), t0) / 1000)
d.close()
""" % (srv.addr[1], psk, suite))
        time.sleep(0.05)
        rx, tx = list(srv.rx), list(srv.tx)
    state, ms = out.split()
    if state != "connected":
        raise RuntimeError("handshake failed: " + out)
    # the server saw: client flights (+ close_notify last) and its own flights
    rx = rx[:-1]
    return {
        "dtls_handshake_bytes": sum(rx) + sum(tx),
        "dtls_handshake_client_bytes": sum(rx),
        "dtls_handshake_datagrams": len(rx) + len(tx),
        "dtls_handshake_ms": float(ms),
        "dtls_mpy_bytes": mpy_size(),
        # without the cookie round trip (ClientHello 1 + HelloVerifyRequest)
        "dtls_handshake_bytes_no_cookie": sum(rx[1:]) + sum(tx[1:]),
        "dtls_handshake_client_bytes_no_cookie": sum(rx[1:]),
        "dtls_handshake_datagrams_no_cookie": len(rx) + len(tx) - 2,
    }


def wake(cid=True):
    """Handshake bytes a queue-mode wake-up after a deep sleep spends: the real
    client (firmware/main.py --deep) behind tools/devserver/dtls_front.py's mock engine,
    each boot a new process with a new UDP source port (a NAT rebinding).
    With a Connection ID the saved connection carries on; without one the
    saved session gives an abbreviated handshake."""
    from devclient import boots, take_ports
    from devserver.dtls_front import DtlsFront
    from lwm2m_server import Server
    key = os.urandom(16)
    args = ("--lifetime", "300", "--binding", "UQ", "--awake", "5", "--deep", "60",
            "--psk-identity", "dev1", "--psk-key", key.hex())
    with Server(port=0, awake_s=0.0, flush_delay=0.0) as srv, \
            DtlsFront(("127.0.0.1", srv.port), {"dev1": key}, engine="mock") as f, \
            tempfile.TemporaryDirectory() as st:
        if not cid:
            f.server.cid = None
        hs, taken = [], []

        def between(i):
            hs.append(f.stats["handshake_bytes"])
            taken.extend(take_ports(list(f.server.conns)))   # a new port after the sleep
        runs = boots("coaps://127.0.0.1:%d" % f.addr[1], "bench", *args, n=2, state=st,
                     between=between)
        for s in taken:
            s.close()
        kinds = [e["kind"] for e in srv.events if e["kind"] in ("register", "update")]
    if [c.rc for c in runs] != [3, 3] or kinds != ["register", "update"]:
        raise RuntimeError("deep-sleep wake failed: %s %s" % (kinds, [c.lines for c in runs]))
    return hs[1] - hs[0]


def measure_all():
    r = measure()
    r["dtls_wake_bytes"] = wake(cid=True)
    r["dtls_wake_bytes_resumption"] = wake(cid=False)
    return r


if __name__ == "__main__":
    for k, v in measure_all().items():
        print(k, v)
