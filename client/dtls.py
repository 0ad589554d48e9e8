# DTLS 1.2 client with pre-shared keys (RFC 6347, RFC 4279, RFC 7925):
# TLS_PSK_WITH_AES_128_CCM_8 (RFC 6655) and TLS_PSK_WITH_AES_128_CBC_SHA256
# (RFC 5487), extended master secret (RFC 7627), session resumption by session
# id (RFC 5246 s7.3) and Connection ID (RFC 9146).
# Dtls wraps a datagram transport (send/recv/close/sock) and has the same shape.
# This module is the handshake; the record layer is client/dtlsrec.py.
import os
from hashlib import sha256
from micropython import const
from .crypto import prf, ct_eq
from .dtlsrec import (Records, reassemble, CCM8, CBC_SHA256, CCS as _CCS, ALERT as _ALERT, HS as _HS,
                      APP as _APP, CID as _CID)
from .codes import (DTLS_IDLE as IDLE, DTLS_HELLO as HELLO, DTLS_KEY as KEY, DTLS_CONNECTED as CONNECTED,
                    DTLS_FAILED as FAILED, DTLS_CLOSED as CLOSED, DtlsState)
# handshake message types
_SH = const(2)
_HVR = const(3)
_SKE = const(12)
_SHD = const(14)
_CKE = const(16)
_FIN = const(20)
_EMS = const(23)  # extension: extended_master_secret
_EXT_CID = const(54)  # extension: connection_id
_V = b"\xfe\xfd"  # DTLS 1.2 on the wire
_ENOTCONN = const(107)
_ALERTS = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac",
           40: "handshake_failure", 47: "illegal_parameter", 50: "decode_error",
           51: "decrypt_error", 70: "protocol_version", 80: "internal_error",
           115: "unknown_psk_identity"}


def _u16(n):
    return n.to_bytes(2, "big")


def _u24(n):
    return n.to_bytes(3, "big")


def _int(b):
    return int.from_bytes(b, "big")


class Dtls(DtlsState):
    # (phase(), connected(), idle(), state: client/codes.py DtlsState)
    INTO = True  # send(buf, off, n) / recv(buf) as boards/unix.py's Udp
    timeout_ms = 1000  # RFC 6347 s4.2.4.1: initial retransmission timer, doubled
    max_timeout_ms = 60000  # on each retransmission up to this
    tries = 6  # retransmissions of one flight before giving up

    def __init__(self, transport, identity, psk, now_ms, rand=os.urandom,
                 suites=(CCM8, CBC_SHA256), session=None, cid=False):
        self.t = transport
        self.sock = transport.sock
        try:
            transport.records = True    # datagrams may be read joined (boards/unix.py)
        except AttributeError:
            pass
        self._id = identity.encode() if isinstance(identity, str) else bytes(identity)
        self._psk = psk
        self._now = now_ms
        self._rand = rand
        self._suites = suites
        self.session = session  # bytes: len(sid) sid master(48) suite(2) ems(1)
        self._cid = cid
        self.rl = Records(rand, transport)
        self._st = IDLE
        self.error = None
        self.alert = None  # the alert that ended the session (sent or received)
        self._due = None
        self._flight = None
        self._q = []

    @property
    def _suite(self):
        return self.rl.suite

    @property
    def _scid(self):
        return self.rl.scid

    def start(self):
        s = self.session
        self._sid = s[1:1 + s[0]] if s else b""
        self._crand = self._rand(32)
        self._srand = None
        self._cookie = b""
        self.rl.reset()
        self._mseq = 0  # next handshake message_seq we send
        self._frags = {}  # message_seq -> [type, body, mask of bytes received]
        self._next = []
        self._res = False
        self._hello()

    def deadline(self):
        return self._due if self._flight else None  # board clock ms when step() has work

    def step(self):
        if not self._flight:
            self._due = None  # the last flight arrived (the server's records said so)
        if self._due is not None and self._now() - self._due >= 0:
            if self._n >= self.tries:
                return self._fail("handshake failed: timeout (no answer)")
            self._n += 1
            self._tmo = min(self._tmo * 2, self.max_timeout_ms)
            self._send(False)

    def send(self, data, off=0, n=-1):
        # data[off:off + n] (all of it when n < 0). During the handshake
        # (started here if idle) a few messages wait for it.
        st = self._st
        if n < 0:
            n = len(data) - off
        if st == CONNECTED:
            self.rl.out(self.t, self.rl.seal(_APP, data, off, n, 1))
        elif st == FAILED or st == CLOSED:
            raise OSError(_ENOTCONN)
        else:
            self._q = self._q[-3:] + [bytes(memoryview(data)[off:off + n])]
            if st == IDLE:
                self.start()

    def close(self):
        if self._st == CONNECTED:
            try:
                self.t.send(self._rec(_ALERT, 1, b"\x01\x00"))  # warning close_notify
            except OSError:
                pass
        self._st = CLOSED
        self._due = None
        self.t.close()

    def recv(self, buf=None):
        # Datagrams until one carries application data, read into buf (its
        # length returned, 0: none) or returned as bytes (no buf). Handshake
        # records are consumed here, bad records dropped silently (RFC 6347
        # s4.1.2.7): client/dtlsrec.py reads the records.
        self.step()
        out = buf if buf is not None else bytearray(len(self.rl.rbuf))
        n = self.rl.read(self, out)
        if buf is not None:
            return n
        return bytes(memoryview(out)[:n]) if n >= 0 else None

    def resumed(self):
        # connected without a full handshake (abbreviated, or a saved connection)
        return self._res

    def save(self):
        # what survives a deep sleep: with a connection id the whole connection
        # (keys, sequence numbers) so a wake-up needs no handshake at all, else
        # the session for an abbreviated handshake. Secrets: keep in the board's
        # storage only.
        if self._st != CONNECTED or not self.rl.scid:
            return [self.session]
        return [self.session] + self.rl.save()

    def load(self, v):
        # resume from save(): connected at once with a connection id
        self.session = v[0]
        if len(v) > 1:
            self.rl.load(v[1:])
            self._res = True
            self._flight = None
            self._q = []
            self._st = CONNECTED

    # --- records (client/dtlsrec.py seals and opens them)

    def _rec(self, typ, ep, data):
        # one record as bytes (handshake flights, alerts)
        return bytes(memoryview(self.rl.wbuf)[:self.rl.seal(typ, data, 0, len(data), ep)])

    def _record(self, typ, sn, body):
        ep = _int(sn[:2])
        seq = _int(sn[2:])
        rl = self.rl
        if ep != rl.rep:
            if ep < rl.rep and typ == _HS:
                self._old = True
            elif ep == 1 and rl.rk and len(self._next) < 4:
                self._next.append((typ, sn, body))  # Finished ahead of its CCS: keep
            return
        if ep:
            # anti-replay window of 64 (RFC 6347 s4.1.2.6), updated once authentic
            if not rl.fresh(seq):
                return
            r = rl.unseal(typ, sn, body)
            if not r:
                return
            typ, body = r
            rl.mark(seq)
            if self._st == CONNECTED and typ != _HS:
                self._flight = None  # the server has our last flight
        return self._inner(typ, body, ep)

    def _inner(self, typ, body, ep=1):
        # an authentic record's content (of epoch ep)
        rl = self.rl
        if typ == _APP:
            return body if ep and self._st == CONNECTED else None
        if typ == _ALERT:
            if body[1] == 0:  # close_notify: the session is over (mid-handshake: failed)
                self.error = ("closed by the server" if self._st == CONNECTED
                              else "handshake failed: close_notify")
                self.alert = 0
                self._st = CLOSED
                self._due = None
            elif body[0] == 2:  # fatal
                a = self.alert = body[1]
                if self._st == CONNECTED:
                    msg = "alert: "
                else:
                    msg = "handshake failed: "
                    if a == 20 or a == 51:
                        a = _ALERTS[a] + "/bad PSK?"
                self._fail(msg + _ALERTS.get(a, str(a)))
        elif typ == _CCS:
            if rl.rk and not rl.rep and body == b"\x01":
                rl.rep = 1
                for r in self._next:
                    self._record(*r)
        elif typ == _HS:
            reassemble(self, body)

    # --- handshake

    def _hsm(self, typ, body, ep=0):
        # one unfragmented handshake message, added to the transcript
        m = bytes((typ,)) + _u24(len(body)) + _u16(self._mseq) + b"\x00\x00\x00" + _u24(len(body)) + body
        self._mseq += 1
        self._hs += m
        return (_HS, ep, m)

    def _fin(self, label):
        return prf(self._ms, label, sha256(self._hs).digest(), 12)

    def _hello(self):
        # ClientHello: version, random, session id, cookie, suites, no compression,
        # extensions: extended_master_secret, connection_id (zero length: the
        # server needs none to reach us, we use the one it gives)
        ext = b"\x00\x17\x00\x00"
        if self._cid:
            ext += b"\x00\x36\x00\x01\x00"
        b = bytearray(_V) + self._crand + bytes((len(self._sid),)) + self._sid
        b += bytes((len(self._cookie),)) + self._cookie + _u16(2 * len(self._suites) + 2)
        for s in self._suites:
            b += _u16(s)
        b += b"\x00\xff"  # TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746): we never renegotiate
        b += b"\x01\x00" + _u16(len(ext)) + ext
        self._rseq = self._mseq  # the server answers with our message_seq
        self._hs = bytearray()  # the cookie exchange stays out of the transcript
        self._flight = [self._hsm(1, b)]
        self._st = HELLO
        self._send()

    def _msg(self, typ, b, ms):
        if typ == _HVR and self._srand is None:
            # HelloVerifyRequest: server_version(2), cookie<0..255>
            self._cookie = b[3:3 + b[2]]
            return self._hello()
        if (typ == _FIN) != (self.rl.rep == 1):
            return self._fail("handshake failed: unexpected_message", 10)
        m = bytes((typ,)) + _u24(len(b)) + _u16(ms) + b"\x00\x00\x00" + _u24(len(b)) + b
        if typ == _FIN:
            if not ct_eq(self._fin(b"server finished"), b):
                return self._fail("handshake failed: decrypt_error/bad PSK", 51)
            self._hs += m
            self._flight = None
            if self._res:  # abbreviated: our CCS + Finished end it
                self._ccs_fin()
            self._due = None
            self._hs = None  # transcript no longer needed
            self._frags = {}
            sid = self._sid
            if sid:
                self.session = bytes((len(sid),)) + sid + self._ms + _u16(self.rl.suite) + bytes((self._ems,))
            self._st = CONNECTED
            for m in self._q:  # what the application sent meanwhile
                self.send(m)
            self._q = []
            return
        self._hs += m
        full = self._srand and not self._res
        if typ == _SH and self._srand is None:
            self._sh(b)
        elif typ == _SHD and full and self._st == HELLO:
            self._kx()
        elif typ != _SKE or not full:  # ServerKeyExchange only has a PSK identity hint
            self._fail("handshake failed: unexpected_message", 10)

    def _sh(self, b):
        # ServerHello: version(2), random(32), session_id<0..32>, suite(2),
        # compression(1), extensions<0..2^16-1>
        if b[:2] != _V:
            return self._fail("handshake failed: protocol_version", 70)
        self._srand = b[2:34]
        i = 35 + b[34]
        sid = b[35:i]
        suite = _int(b[i:i + 2])
        if suite not in self._suites or b[i + 2]:
            return self._fail("handshake failed: illegal_parameter", 47)
        self.rl.suite = suite
        ems = 0
        i += 3
        end = i + 2 + _int(b[i:i + 2])
        i += 2
        while i + 4 <= end:
            t = _int(b[i:i + 2])
            v = b[i + 4:i + 4 + _int(b[i + 2:i + 4])]
            i += 4 + len(v)
            if t == _EMS:
                ems = 1
            elif t == _EXT_CID and self._cid:
                self.rl.scid = v[1:1 + v[0]]
        self._ems = ems
        s = self.session
        if sid and sid == self._sid:  # the server resumes our session
            n = 1 + s[0]
            if s[n + 48:] != _u16(suite) + bytes((ems,)):
                return self._fail("handshake failed: illegal_parameter", 47)
            self._ms = s[n:n + 48]
            self._res = True
            self._keys()
        else:
            self._sid = sid

    def _kx(self):
        # RFC 4279 s2: premaster = len(psk) zeros(len) len(psk) psk
        n = len(self._psk)
        pms = _u16(n) + bytes(n) + _u16(n) + self._psk
        cke = self._hsm(_CKE, _u16(len(self._id)) + self._id)
        if self._ems:
            self._ms = prf(pms, b"extended master secret", sha256(self._hs).digest(), 48)
        else:
            self._ms = prf(pms, b"master secret", self._crand + self._srand, 48)
        self._keys()
        self._ccs_fin(cke)
        self._st = KEY

    def _ccs_fin(self, *first):
        self._flight = list(first) + [(_CCS, 0, b"\x01"),
                                      self._hsm(_FIN, self._fin(b"client finished"), 1)]
        self.rl.wep = 1
        self._send()

    def _keys(self):
        s = self.rl.suite
        c = s == CCM8
        k = prf(self._ms, b"key expansion", self._srand + self._crand, 40 if c else 96)
        if c:  # client/server write keys, then 4-byte implicit nonce salts
            self.rl.keys(s, k[:16], k[16:32], k[32:36], k[36:])
        else:  # client/server MAC keys, then write keys
            self.rl.keys(s, k[64:80], k[80:], k[:32], k[32:64])

    def _send(self, new=True):
        # (re)send the current flight as one datagram; new records, new sequence numbers
        if new:
            self._n = 0
            self._tmo = self.timeout_ms
            self._fseq = self._rseq
        d = bytearray()
        for typ, ep, body in self._flight:
            d += self._rec(typ, ep, body)
        self._due = self._now() + self._tmo
        try:
            self.t.send(d)
        except OSError:
            pass  # e.g. no route yet: the timer sends it again

    def _fail(self, msg, alert=0):
        if alert:
            self.alert = alert
            try:
                self.t.send(self._rec(_ALERT, self.rl.wep, bytes((2, alert))))
            except OSError:
                pass
        self._st = FAILED
        self.error = msg
        self._due = None
        self._flight = None
