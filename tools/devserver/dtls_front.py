#!/usr/bin/env python3
"""DTLS 1.2 PSK front end for the plain-UDP dev servers (coaps:// on loopback).

One UDP socket takes DTLS clients; application data of each client goes,
decrypted, to the upstream server (tools/lwm2m_server.py,
tools/bootstrap_server.py) through an upstream socket of that client's own,
and what the server sends back on it goes to the client encrypted. So the
server sees each device as a distinct plain-CoAP peer and can send it
requests (Read, Observe ...). The upstream socket belongs to the PSK
identity: a device that comes back with a resumed session, a new handshake
or, with Connection ID, from a new address (NAT rebinding) is the same peer,
the same registered endpoint, to the server.

Engines: "mbedtls" (python-mbedtls, Mbed TLS 2.28; tools/dtls_peer.py) and
"mock" (tools/dtls_mock.py, written from the RFCs: RFC 9146 Connection ID,
a random 4-byte CID per connection, and session-id resumption, which Mbed
TLS 2.28 lacks).

    with DtlsFront(upstream=("127.0.0.1", 5683), psks={"id": key}, engine="mock") as f:
        f.addr      # (host, port) the clients talk DTLS to
        f.stats     # counters, e.g. f.stats["handshake_bytes"]

CLI (until Ctrl-C, prints the counters on exit):

    python tools/dtls_front.py --listen 127.0.0.1:5684 --upstream 127.0.0.1:5683 \\
        --psk IDENTITY:HEXKEY [--psk ...] [--engine mbedtls|mock]
"""
import argparse
import signal
import sys
import threading

from .dtls_mock import MockServer
from .dtls_peer import MbedtlsServer

ENGINES = ("mbedtls", "mock")
CCM8, CBC = 0xC0A8, 0x00AE


class DtlsFront:
    """DtlsFront(upstream, psks, engine="mbedtls", listen=("127.0.0.1", 0))

    upstream: (host, port) of the plain-UDP server; psks: {identity: key}
    (str or bytes identities, bytes keys). start()/stop() or a with block.
    .addr: the listening (host, port); .server: the engine's server object
    (.events: handshakes, errors ...); .stats: see stats.
    """

    def __init__(self, upstream, psks, engine="mbedtls", listen=("127.0.0.1", 0)):
        psks = {(k.decode() if isinstance(k, bytes) else k): bytes(v) for k, v in psks.items()}
        if engine == "mbedtls":
            self.server = MbedtlsServer(psks, suites=(CCM8, CBC), upstream=upstream, bind=listen)
        elif engine == "mock":
            self.server = MockServer(psks, cid=4, upstream=upstream, bind=listen)
        else:
            raise ValueError("engine: one of %s" % ", ".join(ENGINES))
        self.engine = engine
        self.upstream = tuple(upstream)
        self.addr = self.server.addr

    def start(self):
        self.server.__enter__()
        return self

    def stop(self):
        self.server.__exit__()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def stats(self):
        """A snapshot: {KIND_WAY_UNIT: n} for KIND handshake / app / alert / other, WAY
        in (from DTLS clients) / out (to them), UNIT datagrams / bytes (a
        datagram counts by its first record); handshake_bytes and
        handshake_datagrams (both ways); handshakes (completed, full or
        abbreviated); upstreams (upstream sockets opened, one per identity);
        up_datagrams / down_datagrams (plain datagrams to / from upstream)."""
        s = dict(self.server.stats)
        for u in ("bytes", "datagrams"):
            s["handshake_" + u] = s["handshake_in_" + u] + s["handshake_out_" + u]
        return s

    def reset_stats(self):
        for k in self.server.stats:
            self.server.stats[k] = 0


def psk_arg(s):
    """IDENTITY:HEXKEY -> (identity, key); the identity may hold colons (urn:imei:...)"""
    ident, sep, key = s.rpartition(":")
    try:
        if not sep or not ident:
            raise ValueError
        return ident, bytes.fromhex(key)
    except ValueError:
        raise argparse.ArgumentTypeError("want IDENTITY:HEXKEY, got %r" % s) from None


def hostport(s):
    host, sep, port = s.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError("want HOST:PORT, got %r" % s)
    return host or "127.0.0.1", int(port)


def main(argv=None):
    ap = argparse.ArgumentParser(description="DTLS 1.2 PSK front end for a plain-UDP CoAP server")
    ap.add_argument("--listen", type=hostport, default=("127.0.0.1", 5684), metavar="HOST:PORT")
    ap.add_argument("--upstream", type=hostport, default=("127.0.0.1", 5683), metavar="HOST:PORT")
    ap.add_argument("--psk", type=psk_arg, action="append", required=True,
                    metavar="IDENTITY:HEXKEY", help="repeatable")
    ap.add_argument("--engine", choices=ENGINES, default="mbedtls")
    args = ap.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with DtlsFront(args.upstream, dict(args.psk), args.engine, args.listen) as f:
        print("[dtls] %s:%d -> %s:%d (%s, %d identities)" % (
            *f.addr, *f.upstream, f.engine, len(args.psk)), flush=True)
        while not stop.wait(0.2):
            pass
        st = f.stats
    print("[dtls] stopped: %s" % " ".join("%s=%d" % kv for kv in sorted(st.items()) if kv[1]),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
