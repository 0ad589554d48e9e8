# DTLS 1.2 with X.509 certificates (LwM2M Security mode 2, transport spec
# s5.2.8.3) through MicroPython's native tls module (mbedTLS). Same transport
# shape as client/dtls.py's Dtls: send/recv/close/step/deadline, state, error,
# alert. Non-blocking: the handshake is driven by recv()/step() on the board's
# loop; mbedTLS retransmits its flights on its own (real-time) timer whenever
# it is called, so deadline() asks to be called every poll_ms meanwhile.
#
# Server authentication by Certificate Usage (/0/x/15, s5.2.8.7):
#   3 or None (default, "domain-issued"): the server's end-entity certificate
#     must equal server_cert (/0/x/4), or its SubjectPublicKeyInfo must equal
#     server_cert; no path validation, no name or date check (per spec).
#   2 ("trust anchor") and 0 ("CA constraint"): PKIX path validation by
#     mbedTLS with server_cert as the only trust anchor (signatures, validity
#     dates against the board's clock, key usage) and the name in sni against
#     the certificate's SAN/CN. Usage 0 is treated like 2: the device has no
#     other trust store, so the CA is not chained further to a root.
#   1 ("service certificate"): as 2, and the end-entity certificate must
#     equal server_cert; validates only if that certificate is self-signed
#     (mbedTLS trusts a self-signed end entity found among the trust anchors).
# Not available through MicroPython's tls: CCM_8 where the port's mbedTLS
# lacks it (unix), session resumption, Connection ID, close_notify on close,
# the mbedTLS retransmission timer (1 s doubling to 60 s, fixed).
import io
from micropython import const
from client.codes import (DTLS_IDLE as IDLE, DTLS_HELLO as HELLO, DTLS_CONNECTED as CONNECTED,
                          DTLS_FAILED as FAILED, DTLS_CLOSED as CLOSED, DtlsState)
from tls import SSLContext, PROTOCOL_DTLS_CLIENT, CERT_OPTIONAL, CERT_REQUIRED

_ENOTCONN = const(107)
_FATAL = const(-0x3000)  # MBEDTLS_ERR_X509_FATAL_ERROR: aborts even with CERT_OPTIONAL


class _Io(io.IOBase):
    # the stream under mbedTLS: the transport's datagrams, whose record
    # headers the session looks at (mbedTLS does not say when it is connected).
    # Nothing may raise through mbedTLS.
    def __init__(self, d):
        self.d = d

    def readinto(self, b):
        try:
            p = self.d.t.recv()
        except OSError:
            p = None
        if not p:
            return None  # mbedTLS: want read
        self.d._look(p, 1)
        n = min(len(p), len(b))
        b[:n] = p[:n]
        return n

    def write(self, b):
        self.d._look(b, 0)
        try:
            self.d.t.send(bytes(b))
        except OSError:
            pass  # lost: mbedTLS retransmits
        return len(b)

    def ioctl(self, req, arg):
        return 0


def _tl(c, i):
    # (start, end) of the contents of the DER element at i
    n = c[i + 1]
    j = i + 2
    if n & 128:
        k = n & 127
        n = int.from_bytes(c[j:j + k], "big")
        j += k
    return j, j + n


def _spki(c):
    # SubjectPublicKeyInfo of a DER certificate: tbsCertificate's field after
    # [0] version, serial, signature, issuer, validity, subject
    i = _tl(c, _tl(c, 0)[0])[0]
    for _ in range(6 if c[i] == 0xA0 else 5):
        i = _tl(c, i)[1]
    return c[i:_tl(c, i)[1]]


class DtlsCert(DtlsState):
    # (phase(), connected(), idle(), state: client/codes.py DtlsState)
    poll_ms = 200  # how often the handshake wants step()
    handshake_ms = 125000  # bound on the handshake (mbedTLS gives up after ~123 s)
    ciphers = ("TLS-ECDHE-ECDSA-WITH-AES-128-CCM-8", "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256",
               "TLS-ECDHE-ECDSA-WITH-AES-128-CBC-SHA256")  # those the port has; None: its defaults

    def __init__(self, transport, cert, key, server_cert, usage, sni, now_ms):
        # cert: /0/x/3 client certificate (DER), key: /0/x/5 private key (DER,
        # PKCS#8 or SEC1), server_cert: /0/x/4 (DER certificate; for usage 3
        # also a DER SubjectPublicKeyInfo), usage: /0/x/15 or None, sni:
        # /0/x/14 (else the host name of /0/x/0; needed for usages 0-2),
        # now_ms: the board clock
        self.t = transport
        self.sock = transport.sock
        self._cert = cert
        self._key = key
        self._pin = server_cert
        self._u = 3 if usage is None else usage
        self._sni = sni or None
        self._now = now_ms
        self._st = IDLE
        self.error = None
        self.alert = None  # last alert seen on the wire (received or sent), if in the clear
        self._s = None
        self._q = []
        self._rx = []

    def resumed(self):
        return False    # no session resumption here: a new session registers again

    def start(self):
        self._st = HELLO
        self._end = self._now() + self.handshake_ms
        self._ccs = self._fin = self._bad = 0
        self._in = False
        u, pin = self._u, self._pin
        if not pin:
            return self._fail("no server certificate (/0/x/4)")
        if u != 3 and not self._sni:
            return self._fail("certificate usage %d needs the server name (/0/x/14)" % u)
        w = ""
        try:
            c = SSLContext(PROTOCOL_DTLS_CLIENT)
            if self._cert:
                w = "/0/x/3, /0/x/5: "
                c.load_cert_chain(self._cert, self._key)
                w = ""
            if self.ciphers:
                ok = []
                for n in self.ciphers:
                    try:
                        c.set_ciphers((n,))
                        ok.append(n)
                    except OSError:
                        pass  # not in this port's mbedTLS
                if ok:
                    c.set_ciphers(ok)
            if u == 3:
                c.verify_mode = CERT_OPTIONAL  # the pin decides (_verify)
            else:
                w = "/0/x/4: "
                c.load_verify_locations(pin)
                w = ""
                c.verify_mode = CERT_REQUIRED
            c.verify_callback = self._verify
            self._s = c.wrap_socket(_Io(self), server_hostname=self._sni,
                                    do_handshake_on_connect=False)
        except (OSError, ValueError) as e:
            return self._fail(e, w)
        self._pump()

    def _verify(self, crt, depth):
        # mbedTLS calls this for each certificate of the server's chain, depth 0 last
        try:
            if depth or not self._u & 1 or crt == self._pin or _spki(crt) == self._pin:
                return 0
        except IndexError:
            pass
        self._bad = 1
        return _FATAL

    def _look(self, p, inb):
        # record headers: the server's CCS and an encrypted handshake record
        # (its Finished) mean the handshake is over once mbedTLS took them;
        # alerts in the clear (epoch 0) give the alert number
        i = 0
        while i + 14 <= len(p):
            if p[i + 3] | p[i + 4]:
                if inb and p[i] == 22:
                    self._fin = 1
            elif p[i] == 21:
                if i + 15 <= len(p) and p[i + 13] == 2:
                    self.alert = p[i + 14]
                    self._in = inb
            elif inb and p[i] == 20:
                self._ccs = 1
            i += 13 + (p[i + 11] << 8 | p[i + 12])

    def _pump(self):
        # one mbedTLS read: handshake progress, retransmission, application data
        try:
            r = self._s.recv(2048)
        except (OSError, ValueError) as e:
            return self._fail(e)
        if r == b"":
            return self._fail("closed by the server (close_notify)")
        if r:
            self._rx = self._rx[-3:] + [r]
        if self._st == HELLO and self._ccs and self._fin:
            self._st = CONNECTED
            q, self._q = self._q, []
            for m in q:
                self.send(m)

    def deadline(self):
        if self._st == HELLO:
            return min(self._now() + self.poll_ms, self._end)
        return None

    def step(self):
        if self._st == HELLO:
            if self._now() - self._end >= 0:
                return self._fail("timeout (no answer)")
            self._pump()

    def send(self, data):
        st = self._st
        if st == CONNECTED:
            try:
                if self._s.write(data) is None:
                    # mbedTLS is still in the handshake (a forged record made
                    # _look() early): back to waiting for it
                    self._st = HELLO
                    self._q = self._q[-3:] + [bytes(data)]
            except (OSError, ValueError) as e:
                self._fail(e)
        elif st == FAILED or st == CLOSED:
            raise OSError(_ENOTCONN)
        else:
            self._q = self._q[-3:] + [bytes(data)]
            if st == IDLE:
                self.start()

    def recv(self):
        if self._st == HELLO:
            self.step()
        elif self._st == CONNECTED and not self._rx:
            self._pump()
        return self._rx.pop(0) if self._rx else None

    def close(self):
        self._drop()
        self._st = CLOSED
        self.t.close()

    def _drop(self):
        s, self._s = self._s, None
        self._q = []
        if s:
            try:
                s.close()
            except OSError:
                pass

    def _fail(self, e, pre=""):
        # the message: ours, or what mbedTLS says (never key material)
        if self._bad:
            m = "server certificate does not match /0/x/4 (usage %d)" % self._u
        elif isinstance(e, str):
            m = e
        else:
            a = e.args
            m = str(a[1] if len(a) > 1 else a[0] if a else e)
            m = pre + "; ".join([x for x in m.split("\n") if x])  # verify info: lines
        if self.alert is not None:
            m += " (alert %d %s)" % (self.alert, "received" if self._in else "sent")
        self.error = ("handshake failed: " if self._st == HELLO else "") + m
        self._st = FAILED
        self._drop()
