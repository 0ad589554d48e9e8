# DTLS 1.2 client with pre-shared keys (RFC 6347, RFC 4279, RFC 7925):
# TLS_PSK_WITH_AES_128_CCM_8 (RFC 6655) and TLS_PSK_WITH_AES_128_CBC_SHA256
# (RFC 5487), extended master secret (RFC 7627), session resumption by session
# id (RFC 5246 s7.3) and Connection ID (RFC 9146).
# Dtls wraps a datagram transport (send/recv/close/sock) and has the same shape.
import os
from hashlib import sha256
from micropython import const
from .crypto import prf, ct_eq, ccm, cbc_seal, cbc_open

CCM8 = const(0xC0A8)
CBC_SHA256 = const(0x00AE)

# record content types
_CCS = const(20)
_ALERT = const(21)
_HS = const(22)
_APP = const(23)
_CID = const(25)  # tls12_cid: record carrying a connection id (RFC 9146)
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


class Dtls:
    timeout_ms = 1000  # RFC 6347 s4.2.4.1: initial retransmission timer, doubled
    max_timeout_ms = 60000  # on each retransmission up to this
    tries = 6  # retransmissions of one flight before giving up

    def __init__(self, transport, identity, psk, now_ms, rand=os.urandom,
                 suites=(CCM8, CBC_SHA256), session=None, cid=False):
        self.t = transport
        self.sock = transport.sock
        self._id = identity.encode() if isinstance(identity, str) else bytes(identity)
        self._psk = psk
        self._now = now_ms
        self._rand = rand
        self._suites = suites
        self.session = session  # bytes: len(sid) sid master(48) suite(2) ems(1)
        self._cid = cid
        self.state = "idle"
        self.error = None
        self.alert = None  # the alert that ended the session (sent or received)
        self._due = None
        self._flight = None
        self._q = []

    def start(self):
        s = self.session
        self._sid = s[1:1 + s[0]] if s else b""
        self._crand = self._rand(32)
        self._srand = None
        self._cookie = b""
        self._wseq = [0, 0]  # next record sequence number per write epoch
        self._wep = 0
        self._rep = 0  # read epoch
        self._top = -1  # anti-replay window: highest seq seen and a 64-bit mask
        self._win = 0
        self._mseq = 0  # next handshake message_seq we send
        self._frags = {}  # message_seq -> [type, body, mask of bytes received]
        self._rk = None
        self._next = []
        self._scid = None  # connection id the server asked us to send
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

    def send(self, data):
        # During the handshake (started here if idle) a few messages wait for it.
        st = self.state
        if st == "connected":
            self.t.send(self._rec(_APP, 1, data))
        elif st in ("failed", "closed"):
            raise OSError(_ENOTCONN)
        else:
            self._q = self._q[-3:] + [bytes(data)]
            if st == "idle":
                self.start()

    def close(self):
        if self.state == "connected":
            try:
                self.t.send(self._rec(_ALERT, 1, b"\x01\x00"))  # warning close_notify
            except OSError:
                pass
        self.state = "closed"
        self._due = None
        self.t.close()

    def recv(self):
        # Datagrams until one carries application data; handshake records are
        # consumed here, bad records dropped silently (RFC 6347 s4.1.2.7).
        self.step()
        while True:
            d = self.t.recv()
            if not d:
                return None
            self._old = False
            app = None
            i = 0
            while i + 13 <= len(d):
                n = _int(d[i + 11:i + 13])
                body = d[i + 13:i + 13 + n]
                try:
                    r = self._record(d[i], d[i + 3:i + 11], body)
                except (IndexError, ValueError, KeyError, TypeError):
                    r = None  # malformed content
                i += 13 + n
                if app is None:
                    app = r
            if self._old and self._flight:
                self._send(False)  # the server repeated its flight: ours was lost
            if app is not None:
                return app

    def resumed(self):
        # connected without a full handshake (abbreviated, or a saved connection)
        return self._res

    def save(self):
        # what survives a deep sleep: with a connection id the whole connection
        # (keys, sequence numbers) so a wake-up needs no handshake at all, else
        # the session for an abbreviated handshake. Secrets: keep in the board's
        # storage only.
        if self.state != "connected" or not self._scid:
            return [self.session]
        return [self.session, self._suite, self._wk, self._rk, self._wx, self._rx,
                self._wseq[1], self._top, self._win, self._scid]

    def load(self, v):
        # resume from save(): connected at once with a connection id
        self.session = v[0]
        if len(v) > 1:
            (self._suite, self._wk, self._rk, self._wx, self._rx, n,
             self._top, self._win, self._scid) = v[1:]
            self._wseq = [0, n + 8]  # a margin: records sent after the save were lost
            self._wep = self._rep = 1
            self._res = True
            self._flight = None
            self._q = []
            self.state = "connected"

    # --- record layer

    def _rec(self, typ, ep, data):
        seq = self._wseq[ep]
        self._wseq[ep] = seq + 1
        sn = (ep << 48 | seq).to_bytes(8, "big")
        cid = b""
        if ep:
            cid = self._scid or b""
            if cid:  # DTLSInnerPlaintext: content, real type, no padding
                data = bytes(data) + bytes((typ,))
                typ = _CID
                pre = b"\xff" * 8 + bytes((_CID, len(cid), _CID)) + _V + sn + cid
            else:
                pre = sn + bytes((typ,)) + _V
            if self._suite == CCM8:  # nonce: 4-byte salt + explicit 8 (= epoch, seq)
                data = sn + ccm(self._wk, self._wx + sn, pre + _u16(len(data)), data)
            else:
                data = cbc_seal(self._wk, self._wx, self._rand(16), pre, data)
        return bytes((typ,)) + _V + sn + cid + _u16(len(data)) + data

    def _open(self, typ, sn, body):
        if typ == _CID:  # we offer a zero-length CID, so none in the header
            pre = b"\xff" * 8 + bytes((_CID, 0, _CID)) + _V + sn
        else:
            pre = sn + bytes((typ,)) + _V
        if self._suite == CCM8:
            if len(body) < 16:
                return None
            p = ccm(self._rk, self._rx + body[:8], pre + _u16(len(body) - 16), body[8:], 8, True)
        else:
            p = cbc_open(self._rk, self._rx, pre, body)
        if p is not None and typ == _CID:
            i = len(p) - 1
            while i >= 0 and not p[i]:
                i -= 1
            if i < 0:
                return None
            return p[i], p[:i]
        return p and (typ, p)

    def _record(self, typ, sn, body):
        ep = _int(sn[:2])
        seq = _int(sn[2:])
        if ep != self._rep:
            if ep < self._rep and typ == _HS:
                self._old = True
            elif ep == 1 and self._rk and len(self._next) < 4:
                self._next.append((typ, sn, body))  # Finished ahead of its CCS: keep
            return
        if ep:
            # anti-replay window of 64 (RFC 6347 s4.1.2.6), updated once authentic
            d = self._top - seq
            if d >= 64 or d >= 0 and self._win >> d & 1:
                return
            r = self._open(typ, sn, body)
            if not r:
                return
            typ, body = r
            if d < 0:
                self._win = (self._win << -d | 1) & 0xFFFFFFFFFFFFFFFF if d > -64 else 1
                self._top = seq
            else:
                self._win |= 1 << d
            if self.state == "connected" and typ != _HS:
                self._flight = None  # the server has our last flight
        if typ == _APP:
            return body if ep and self.state == "connected" else None
        if typ == _ALERT:
            if body[1] == 0:  # close_notify: the session is over (mid-handshake: failed)
                self.error = ("closed by the server" if self.state == "connected"
                              else "handshake failed: close_notify")
                self.alert = 0
                self.state = "closed"
                self._due = None
            elif body[0] == 2:  # fatal
                a = self.alert = body[1]
                if self.state == "connected":
                    msg = "alert: "
                else:
                    msg = "handshake failed: "
                    if a == 20 or a == 51:
                        a = _ALERTS[a] + "/bad PSK?"
                self._fail(msg + _ALERTS.get(a, str(a)))
        elif typ == _CCS:
            if self._rk and not self._rep and body == b"\x01":
                self._rep = 1
                for r in self._next:
                    self._record(*r)
        elif typ == _HS:
            self._hsrec(body)

    # --- handshake

    def _hsrec(self, b):
        # reassemble handshake fragments (RFC 6347 s4.2.3), process messages in order
        while len(b) >= 12:
            typ = b[0]
            ln = _int(b[1:4])
            ms = _int(b[4:6])
            off = _int(b[6:9])
            fl = _int(b[9:12])
            f = b[12:12 + fl]
            b = b[12 + fl:]
            if len(f) != fl or off + fl > ln:
                return
            if ms < self._rseq:
                if ms < self._fseq:
                    self._old = True  # from the server's previous flight
                continue
            e = self._frags.get(ms)
            if e is None:
                if ms > self._rseq + 4 or ln > 1024 or self.state not in ("hello", "key"):
                    continue
                e = self._frags[ms] = [typ, bytearray(ln), bytearray(ln)]
            if e[0] != typ or len(e[1]) != ln:
                continue
            e[1][off:off + fl] = f
            e[2][off:off + fl] = b"\x01" * fl
        while self.state in ("hello", "key"):
            ms = self._rseq
            e = self._frags.get(ms)
            if e is None or b"\x00" in e[2]:
                return
            del self._frags[ms]
            self._rseq += 1
            self._msg(e[0], bytes(e[1]), ms)

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
        self.state = "hello"
        self._send()

    def _msg(self, typ, b, ms):
        if typ == _HVR and self._srand is None:
            # HelloVerifyRequest: server_version(2), cookie<0..255>
            self._cookie = b[3:3 + b[2]]
            return self._hello()
        if (typ == _FIN) != (self._rep == 1):
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
                self.session = bytes((len(sid),)) + sid + self._ms + _u16(self._suite) + bytes((self._ems,))
            self.state = "connected"
            for m in self._q:  # what the application sent meanwhile
                self.send(m)
            self._q = []
            return
        self._hs += m
        full = self._srand and not self._res
        if typ == _SH and self._srand is None:
            self._sh(b)
        elif typ == _SHD and full and self.state == "hello":
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
        self._suite = suite
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
                self._scid = v[1:1 + v[0]]
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
        self.state = "key"

    def _ccs_fin(self, *first):
        self._flight = list(first) + [(_CCS, 0, b"\x01"),
                                      self._hsm(_FIN, self._fin(b"client finished"), 1)]
        self._wep = 1
        self._send()

    def _keys(self):
        c = self._suite == CCM8
        k = prf(self._ms, b"key expansion", self._srand + self._crand, 40 if c else 96)
        if c:  # client/server write keys, then 4-byte implicit nonce salts
            self._wk, self._rk, self._wx, self._rx = k[:16], k[16:32], k[32:36], k[36:]
        else:  # client/server MAC keys, then write keys
            self._wx, self._rx, self._wk, self._rk = k[:32], k[32:64], k[64:80], k[80:]

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
                self.t.send(self._rec(_ALERT, self._wep, bytes((2, alert))))
            except OSError:
                pass
        self.state = "failed"
        self.error = msg
        self._due = None
        self._flight = None
