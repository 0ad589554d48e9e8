"""Host-side DTLS 1.2 PSK peers for tests and the bench.

MbedtlsServer: python-mbedtls (Mbed TLS 2.28) DTLS server on one UDP socket,
driven through its buffer API so we own the socket: it counts every datagram
in both directions, can drop chosen incoming datagrams (loss tests) and
echoes application data back.

OpensslServer: `openssl s_server -dtls1_2` with PSK in a subprocess; it keeps
a session cache, so it is the peer for session resumption.
"""
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


class MbedtlsServer:
    def __init__(self, psk_store, suites=(0xC0A8,), drop_in=(), echo=True, mtu=0,
                 reverse=False):
        self.conf = tls.DTLSConfiguration(
            pre_shared_key_store=dict(psk_store),
            ciphers=[CIPHERS[s] for s in suites],
            validate_certificates=False,
            lowest_supported_version=tls.DTLSVersion.DTLSv1_2,
            handshake_timeout_min=0.2,
        )
        self.ctx = tls.ServerContext(self.conf)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.addr = self.sock.getsockname()
        self.drop_in = set(drop_in)   # indexes of incoming datagrams to drop
        self.echo = echo
        self.mtu = mtu        # > 0: mbedtls fragments its handshake messages to fit
        self.reverse = reverse  # send each record alone, a flight's records reversed
        self.rx = []          # sizes of datagrams received (after drops)
        self.tx = []          # sizes of datagrams sent
        self.nin = 0
        self.events = []      # ("handshake", cipher) / ("error", str) / ("data", bytes)
        self.done = threading.Event()
        self._stop = False
        self._buf = None
        self._peer = None
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

    def _new(self, addr):
        self._buf = self.ctx.wrap_buffers()
        self._buf.setcookieparam(repr(addr).encode())
        if self.mtu:
            self._buf.setmtu(self.mtu)
        self._peer = addr

    def _flush(self):
        while True:
            out = self._buf.peek_outgoing(4096)
            if not out:
                return
            self._buf.consume_outgoing(len(out))
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
                self.sock.sendto(d, self._peer)

    def _run(self):
        while not self._stop:
            r, _, _ = select.select([self.sock], [], [], 0.02)
            if self._buf is not None and \
                    self._buf._handshake_state is not tls.HandshakeStep.HANDSHAKE_OVER:
                self._drive()   # lets mbedtls retransmit on its timer
            if not r:
                continue
            data, addr = self.sock.recvfrom(4096)
            self.nin += 1
            if self.nin - 1 in self.drop_in:
                continue
            self.rx.append(len(data))
            if self._buf is None or addr != self._peer:
                self._new(addr)
            self._buf.receive_from_network(data)
            self._drive()

    def _drive(self):
        b = self._buf
        try:
            if b._handshake_state is not tls.HandshakeStep.HANDSHAKE_OVER:
                hvr = False
                # python-mbedtls runs one handshake step per call: loop until it waits
                while b._handshake_state is not tls.HandshakeStep.HANDSHAKE_OVER:
                    try:
                        b.do_handshake()
                    except tls.WantWriteError:
                        self._flush()
                    except tls.WantReadError:
                        break
                    except tls.HelloVerifyRequest:
                        hvr = True
                        break
                if hvr:   # cookie sent: a fresh context waits for the next ClientHello
                    self._flush()
                    self._new(self._peer)
                    return
                self._flush()
                if b._handshake_state is tls.HandshakeStep.HANDSHAKE_OVER:
                    self.events.append(("handshake", b.cipher()))
            while b._handshake_state is tls.HandshakeStep.HANDSHAKE_OVER:
                try:
                    data = b.read(4096)
                except tls.WantReadError:
                    break
                if not data:
                    break
                self.events.append(("data", data))
                if self.echo:
                    while True:
                        try:
                            b.write(data)
                            break
                        except tls.WantWriteError:
                            self._flush()
                    self._flush()
        except TLSError as e:
            if getattr(e, "err", 0) == 0x7880:  # MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY
                self.events.append(("closed", None))
                self._buf = None
                self.done.set()
                return
            self._report(e)
        except Exception as e:  # noqa: BLE001 - report the peer's view
            self._report(e)

    def _report(self, e):
        try:
            self._flush()  # a fatal alert, if mbedtls wrote one
        except Exception:  # noqa: BLE001
            pass
        self.events.append(("error", "%r" % e))
        self._buf = None
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


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


if __name__ == "__main__":
    with MbedtlsServer({"id": os.urandom(16)}) as srv:
        print("listening", srv.addr)
        time.sleep(60)
