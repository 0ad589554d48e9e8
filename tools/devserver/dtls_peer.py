"""Host-side DTLS 1.2 PSK peers for tests and the bench.

MbedtlsServer: python-mbedtls (Mbed TLS 2.28) DTLS server on one UDP socket,
driven through its buffer API so we own the socket: one session per client
address, it counts every datagram in both directions, can drop chosen
incoming datagrams (loss tests) and echoes application data back, or with
`upstream` forwards it (Relay, tools/dtls_front.py).

OpensslServer: `openssl s_server -dtls1_2` with PSK in a subprocess; it keeps
a session cache, so it is the peer for session resumption.
"""
import collections
import os
import select
import socket
import subprocess
import threading
import time

import mbedtls.tls as tls
from mbedtls.exceptions import TLSError

CIPHERS = {
    0xC0A8: "TLS-PSK-WITH-AES-128-CCM-8",
    0x00AE: "TLS-PSK-WITH-AES-128-CBC-SHA256",
}
# a datagram counts by the content type of its first record: a flight holds
# only handshake records (and ChangeCipherSpec), application data and alerts
# travel alone; tls12_cid (25) records carry application data once connected
KINDS = {20: "handshake", 22: "handshake", 21: "alert", 23: "app", 25: "app"}
OVER = tls.HandshakeStep.HANDSHAKE_OVER


def cke_identity(d):
    """The PSK identity (RFC 4279 s2) of a ClientKeyExchange opening datagram d, else None."""
    if len(d) > 27 and d[0] == 22 and d[3:5] == b"\0\0" and d[13] == 16:
        return d[27:27 + int.from_bytes(d[25:27], "big")].decode(errors="replace")
    return None


class Relay:
    """Forwarding mode of the DTLS servers (tools/dtls_front.py). With
    `upstream` = (host, port), application data from a session goes to that
    plain-UDP peer through an upstream socket, and each datagram coming back
    on it goes out encrypted in the session. The upstream socket belongs to
    the session's PSK identity (else its client address): a session resumed,
    redone or moved to another address (Connection ID) is the same peer to
    the upstream server; the last session to authenticate or send data with
    that identity gets the answers. .stats counts datagrams and bytes per
    direction (in: from DTLS clients) and kind (handshake / app / alert /
    other: not a DTLS record)."""

    def _relay(self, upstream):
        self.upstream = upstream
        self.ups = {}          # identity (or address) -> [upstream socket, session]
        self.stats = collections.Counter({"%s_%s_%s" % (k, w, u): 0
                                          for k in ("handshake", "app", "alert", "other")
                                          for w in ("in", "out")
                                          for u in ("datagrams", "bytes")})
        self.stats.update(handshakes=0, upstreams=0, up_datagrams=0, down_datagrams=0)

    def _count(self, d, way):
        kind = KINDS.get(d[0] if d else 0, "other")
        self.stats["%s_%s_datagrams" % (kind, way)] += 1
        self.stats["%s_%s_bytes" % (kind, way)] += len(d)

    def _up(self, key, sess, data=None):
        # sess, authenticated as key, takes over key's upstream socket; data goes up
        if not self.upstream:
            return
        u = self.ups.get(key)
        if u is None:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.connect(self.upstream)
            u = self.ups[key] = [s, sess]
            self.stats["upstreams"] += 1
        u[1] = sess
        if data is not None:
            self.stats["up_datagrams"] += 1
            try:
                u[0].send(data)
            except OSError:
                pass   # upstream not there (yet): UDP loses it, CoAP retransmits

    def _wait(self, timeout):
        # select on the DTLS socket and the upstream sockets; upstream
        # datagrams are handed to _down(session, data) here
        r = select.select([self.sock] + [u[0] for u in self.ups.values()], [], [], timeout)[0]
        for u in list(self.ups.values()):
            if u[0] in r:
                try:
                    data = u[0].recv(65536)
                except OSError:   # ICMP port unreachable from a previous send
                    continue
                self.stats["down_datagrams"] += 1
                self._down(u[1], data)
        return self.sock in r

    def _close_ups(self):
        for u in self.ups.values():
            u[0].close()


class _Sess:
    def __init__(self, buf, addr):
        self.buf, self.addr, self.key = buf, addr, addr


class MbedtlsServer(Relay):
    def __init__(self, psk_store, suites=(0xC0A8,), drop_in=(), echo=True, mtu=0,
                 reverse=False, upstream=None, bind=("127.0.0.1", 0)):
        self.conf = tls.DTLSConfiguration(
            pre_shared_key_store=dict(psk_store),
            ciphers=[CIPHERS[s] for s in suites],
            validate_certificates=False,
            lowest_supported_version=tls.DTLSVersion.DTLSv1_2,
            handshake_timeout_min=0.2,
        )
        self.ctx = tls.ServerContext(self.conf)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(bind)
        self.addr = self.sock.getsockname()
        self.drop_in = set(drop_in)   # indexes of incoming datagrams to drop
        self.echo = echo
        self.mtu = mtu        # > 0: mbedtls fragments its handshake messages to fit
        self.reverse = reverse  # send each record alone, a flight's records reversed
        self.rx = collections.deque(maxlen=10000)   # sizes of datagrams received (after drops)
        self.tx = collections.deque(maxlen=10000)   # sizes of datagrams sent
        self.nin = 0
        # ("handshake", cipher) / ("error", str) / ("data", bytes) / ("closed", None)
        self.events = collections.deque(maxlen=10000)
        self.done = threading.Event()
        self.sess = {}        # client address -> _Sess
        self._relay(upstream)
        self._stop = False
        self._th = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._th.start()
        return self

    def __exit__(self, *a):
        self.stop()

    def stop(self):
        self._stop = True
        self._th.join(5)
        self.sock.close()
        self._close_ups()

    def _new(self, addr):
        buf = self.ctx.wrap_buffers()
        buf.setcookieparam(repr(addr).encode())
        if self.mtu:
            buf.setmtu(self.mtu)
        s = self.sess[addr] = _Sess(buf, addr)
        return s

    def _flush(self, s):
        while True:
            out = s.buf.peek_outgoing(4096)
            if not out:
                return
            s.buf.consume_outgoing(len(out))
            dgrams = [out]
            if self.mtu or self.reverse:  # one record per datagram
                dgrams, i = [], 0
                while i + 13 <= len(out):
                    n = 13 + int.from_bytes(out[i + 11:i + 13], "big")
                    dgrams.append(out[i:i + n])
                    i += n
                if self.reverse:
                    dgrams.reverse()
            for d in dgrams:
                self.tx.append(len(d))
                self._count(d, "out")
                self.sock.sendto(d, s.addr)

    def _run(self):
        while not self._stop:
            r = self._wait(0.02)
            for s in list(self.sess.values()):
                if s.buf._handshake_state is not OVER:
                    self._drive(s)   # lets mbedtls retransmit on its timer
            if not r:
                continue
            data, addr = self.sock.recvfrom(4096)
            self.nin += 1
            if self.nin - 1 in self.drop_in:
                continue
            self.rx.append(len(data))
            self._count(data, "in")
            s = self.sess.get(addr)
            if s is None or s.buf._handshake_state is OVER and data[:1] == b"\x16" \
                    and data[3:5] == b"\0\0" and data[13:14] == b"\x01":
                s = self._new(addr)   # a new client, or a new handshake from one
            s.key = cke_identity(data) or s.key
            s.buf.receive_from_network(data)
            self._drive(s)

    def _down(self, s, data):
        # a datagram from upstream for session s
        if self.sess.get(s.addr) is s and s.buf._handshake_state is OVER:
            self._write(s, data)

    def _write(self, s, data):
        while True:
            try:
                s.buf.write(data)
                break
            except tls.WantWriteError:
                self._flush(s)
        self._flush(s)

    def _drive(self, s):
        b = s.buf
        try:
            if b._handshake_state is not OVER:
                hvr = False
                # python-mbedtls runs one handshake step per call: loop until it waits
                while b._handshake_state is not OVER:
                    try:
                        b.do_handshake()
                    except tls.WantWriteError:
                        self._flush(s)
                    except tls.WantReadError:
                        break
                    except tls.HelloVerifyRequest:
                        hvr = True
                        break
                if hvr:   # cookie sent: a fresh context waits for the next ClientHello
                    self._flush(s)
                    self._new(s.addr)
                    return
                self._flush(s)
                if b._handshake_state is OVER:
                    self.events.append(("handshake", b.cipher()))
                    self.stats["handshakes"] += 1
                    self._up(s.key, s)
            while b._handshake_state is OVER:
                try:
                    data = b.read(4096)
                except tls.WantReadError:
                    break
                if not data:
                    break
                if self.upstream:
                    self._up(s.key, s, data)
                else:
                    self.events.append(("data", data))
                    if self.echo:
                        self._write(s, data)
        except TLSError as e:
            if getattr(e, "err", 0) == 0x7880:  # MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY
                self.events.append(("closed", None))
                self.sess.pop(s.addr, None)
                self.done.set()
                return
            self._report(s, e)
        except Exception as e:  # noqa: BLE001 - report the peer's view
            self._report(s, e)

    def _report(self, s, e):
        try:
            self._flush(s)  # a fatal alert, if mbedtls wrote one
        except Exception:  # noqa: BLE001
            pass
        self.events.append(("error", "%r" % e))
        self.sess.pop(s.addr, None)
        self.done.set()


class OpensslServer:
    """openssl s_server in DTLS 1.2 PSK mode (has a session-ID cache)."""

    def __init__(self, identity, psk, cipher="PSK-AES128-CCM8"):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        self.addr = s.getsockname()
        s.close()
        self.args = ["openssl", "s_server", "-dtls1_2", "-accept",
                     "127.0.0.1:%d" % self.addr[1], "-nocert", "-psk", psk.hex(),
                     "-psk_identity", identity.decode(), "-cipher", cipher + ":@SECLEVEL=0",
                     "-quiet"]  # no -listen: with it s_server stops after one connection

    def __enter__(self):
        self.p = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        time.sleep(0.3)
        return self

    def __exit__(self, *a):
        self.p.kill()
        self.out = self.p.communicate()[0]


from devclient import free_port  # noqa: E402,F401  (tools/ is on the path)


if __name__ == "__main__":
    with MbedtlsServer({"id": os.urandom(16)}) as srv:
        print("listening", srv.addr)
        time.sleep(60)
