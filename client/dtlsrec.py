# DTLS 1.2 record layer (RFC 6347 s4.1) for client/dtls.py: sequence numbers
# per epoch, the anti-replay window, record protection with the keys the
# handshake derived, Connection ID records (RFC 9146), and reading a
# datagram's records for the handshake (client/dtls.py). AES-128-CCM_8 (RFC
# 6655, client/crypto.Ccm) works in place over preallocated buffers, one
# block at a time: a record out and in allocates nothing. (AES-CBC +
# HMAC-SHA256 allocates: hashlib objects cannot be reused.)
from micropython import const
from client.crypto import Ccm

CCM8 = const(0xC0A8)
CBC_SHA256 = const(0x00AE)

# record content types
CCS = const(20)
ALERT = const(21)
HS = const(22)
APP = const(23)
CID = const(25)     # tls12_cid: a record carrying a connection id (RFC 9146)


_M = const(8)       # CCM_8 tag
_MAX = const(1400)  # record buffers
_WIN = const(64)    # anti-replay window


class Records:
    def __init__(self, rand, t=None):
        self.rand = rand
        # a transport with INTO sends b[off:off + n] and reads into a buffer
        self.tin = self.tout = getattr(t, "INTO", False)
        self.wbuf = bytearray(_MAX)     # the record being sent
        self.rbuf = bytearray(_MAX)     # the datagram received
        self.nb = bytearray(12)         # nonce: salt(4) | epoch, seq (8)
        self.ad = bytearray(64)         # additional data of the record
        self.seen = bytearray(_WIN)     # replay window: seq % 64 -> seen
        self.reset()

    def reset(self):
        self.w = [0, 0]         # next sequence number per write epoch
        self.wep = 0
        self.rep = 0            # read epoch
        self.top = -1           # highest authentic sequence number read
        self.suite = None
        self.wk = self.rk = self.wx = self.rx = None
        self.scid = None        # connection id the server asked us to send
        self.ri = self.rn = 0   # next record in rbuf, bytes in rbuf
        for k in range(_WIN):
            self.seen[k] = 0

    def keys(self, suite, wk, rk, wx, rx):
        # CCM_8: write/read keys and 4-byte salts; CBC: keys and MAC keys
        self.suite = suite
        self.wk, self.rk, self.wx, self.rx = wk, rk, wx, rx
        if suite == CCM8:
            self.we = Ccm(wk)
            self.re = Ccm(rk)

    # -- the replay window ----------------------------------------------------
    def fresh(self, seq):
        d = self.top - seq
        return d < 0 or d < _WIN and not self.seen[seq % _WIN]

    def mark(self, seq):
        if seq > self.top:
            k = max(self.top + 1, seq - _WIN + 1)
            while k < seq:
                self.seen[k % _WIN] = 0
                k += 1
            self.top = seq
        self.seen[seq % _WIN] = 1

    def save(self):
        # the connection (a deep sleep with a connection id): keys, our next
        # sequence number, the replay window as (top, 64-bit mask of top - d)
        m = 0
        for d in range(_WIN):
            if self.top - d >= 0 and self.seen[(self.top - d) % _WIN]:
                m |= 1 << d
        return [self.suite, self.wk, self.rk, self.wx, self.rx, self.w[1], self.top, m, self.scid]

    def load(self, v):
        self.reset()
        suite, wk, rk, wx, rx, n, top, m, self.scid = v
        self.keys(suite, wk, rk, wx, rx)
        self.top = top
        for d in range(_WIN):
            if top - d >= 0:
                self.seen[(top - d) % _WIN] = m >> d & 1
        self.w = [0, n + 8]     # a margin: records sent after the save were lost
        self.wep = self.rep = 1

    # -- sealing ----------------------------------------------------------------
    def _sn(self, b, i, ep, seq):
        # epoch (2 bytes) and sequence number (6 bytes) at b[i:i + 8]
        b[i] = ep >> 8
        b[i + 1] = ep & 255
        for k in range(6):
            b[i + 7 - k] = (seq >> (8 * k)) & 255

    def seal(self, typ, src, so, n, ep):
        # one record of type typ, epoch ep, around src[so:so + n] into wbuf;
        # returns its length
        seq = self.w[ep]
        self.w[ep] = seq + 1
        b = self.wbuf
        cid = self.scid if ep else None
        b[0] = CID if cid else typ
        b[1] = 0xFE
        b[2] = 0xFD
        self._sn(b, 3, ep, seq)
        i = 11
        if cid:
            for k in range(len(cid)):
                b[11 + k] = cid[k]
            i += len(cid)
        h = i + 2       # record body
        if not ep:
            for k in range(n):
                b[h + k] = src[so + k]
            m = n
        elif self.suite == CCM8:
            pn = n + (1 if cid else 0)      # DTLSInnerPlaintext: content, real type
            an = self._ad(b, 0, typ, cid, pn)
            for k in range(8):              # explicit nonce: epoch and seq
                b[h + k] = b[3 + k]
            c = self.we
            c.nonce(self._nonce(self.wx, b, 3), 0)
            xt = typ if cid else -1
            c.mac(self.ad, an, src, so, n, xt)
            c.ctr(src, so, n, b, h + 8, xt)
            c.tag(b, h + 8 + pn)
            m = 8 + pn + _M
        else:
            from client.crypto import cbc_seal
            data = bytes(memoryview(src)[so:so + n])
            if cid:
                data += bytes((typ,))
            pre = bytes(self.ad[:self._ad(b, 0, typ, cid, 0) - 2])
            d = cbc_seal(self.wk, self.wx, self.rand(16), pre, data)
            m = len(d)
            b[h:h + m] = d
        b[i] = m >> 8
        b[i + 1] = m & 255
        return h + m

    def _ad(self, b, i, typ, cid, n):
        # the additional data of the record whose header is at b[i:]; n: the
        # plaintext length; returns its length. A CID record (RFC 9146 s5):
        # placeholder, tls12_cid, cid_length, tls12_cid, version, epoch+seq, cid
        ad = self.ad
        h = i
        if b[h] != CID:
            for k in range(8):
                ad[k] = b[h + 3 + k]
            ad[8] = typ
            ad[9] = 0xFE
            ad[10] = 0xFD
            i = 11
        else:
            c = len(cid) if cid else 0
            for k in range(8):
                ad[k] = 0xFF
            ad[8] = CID
            ad[9] = c
            ad[10] = CID
            ad[11] = 0xFE
            ad[12] = 0xFD
            for k in range(8):
                ad[13 + k] = b[h + 3 + k]
            for k in range(c):
                ad[21 + k] = cid[k]
            i = 21 + c
        ad[i] = n >> 8
        ad[i + 1] = n & 255
        return i + 2

    def _nonce(self, salt, b, i):
        # salt(4) | the explicit part at b[i:i + 8]
        nb = self.nb
        for k in range(4):
            nb[k] = salt[k]
        for k in range(8):
            nb[4 + k] = b[i + k]
        return nb

    # -- opening ---------------------------------------------------------------------
    def open(self, b, i, out):
        # the protected record at b[i:] (header included) into out; returns
        # (plaintext length) and sets self.typ to its real content type, or
        # -1 when it does not authenticate. CCM_8 only (see open_cbc)
        typ = b[i]
        n = b[i + 11] << 8 | b[i + 12]
        h = i + 13
        pn = n - 8 - _M
        if pn < 0:
            return -1
        an = self._ad(b, i, typ, None, pn)
        c = self.re
        c.nonce(self._nonce(self.rx, b, h), 0)
        c.ctr(b, h + 8, pn, out, 0)
        c.mac(self.ad, an, out, 0, pn)
        if not c.check(b, h + 8 + pn):
            return -1
        self.typ = typ
        if typ == CID:      # DTLSInnerPlaintext: the real type, last non-zero byte
            k = pn - 1
            while k >= 0 and not out[k]:
                k -= 1
            if k < 0:
                return -1
            self.typ = out[k]
            pn = k
        return pn

    def unseal(self, typ, sn, body):
        # (real type, plaintext) of a protected record given in pieces, None
        # if it does not authenticate (the handshake's path: allocates)
        rec = bytearray(13 + len(body))
        rec[0] = typ
        rec[3:11] = sn
        rec[11] = len(body) >> 8
        rec[12] = len(body) & 255
        rec[13:] = body
        if self.suite == CCM8:
            out = bytearray(len(body))
            k = self.open(rec, 0, out)
            return None if k < 0 else (self.typ, bytes(out[:k]))
        from client.crypto import cbc_open
        p = cbc_open(self.rk, self.rx, bytes(self.ad[:self._ad(rec, 0, typ, None, 0) - 2]), body)
        if p is not None and typ == CID:
            i = len(p) - 1
            while i >= 0 and not p[i]:
                i -= 1
            if i < 0:
                return None
            return p[i], p[:i]
        return p and (typ, p)

    # -- the transport -----------------------------------------------------------
    def out(self, t, n):
        # wbuf[:n] as one datagram
        if self.tout:
            try:
                t.send(self.wbuf, 0, n)
                return
            except TypeError:   # a tap's send(data): bytes from now on
                self.tout = False
        t.send(bytes(memoryview(self.wbuf)[:n]))

    def _dgram(self, t):
        # one datagram into rbuf -> its length (0: none)
        b = self.rbuf
        if self.tin:
            try:
                return t.recv(b) or 0
            except TypeError:   # a tap's recv(): bytes from now on
                self.tin = False
        x = t.recv()
        if not x or len(x) > len(b):
            return 0
        b[0:len(x)] = x
        return len(x)

    def read(self, d, out):
        # records until one carries application data: its length (in out),
        # -1 when none waits. Application records of an established CCM_8
        # session are opened straight into out; the others go to d._record
        # (the handshake), bad ones are dropped. A datagram may hold several
        # records (or two datagrams read joined, boards/unix.py): the next
        # call goes on after the one returned (ri, rn) before reading anew
        b = self.rbuf
        while True:
            i, n = self.ri, self.rn
            if i + 13 > n:
                n = self.rn = self._dgram(d.t)
                i = self.ri = 0
                if not n:
                    return -1
                d._old = False
            app = -1
            while app < 0 and i + 13 <= n:
                ln = b[i + 11] << 8 | b[i + 12]
                typ = b[i]
                if (i + 13 + ln <= n and (typ == APP or typ == CID) and d.connected()
                        and self.suite == CCM8 and self.rep == 1 and b[i + 3] == 0 and b[i + 4] == 1):
                    seq = 0
                    for k in range(5, 11):
                        seq = seq << 8 | b[i + k]
                    if self.fresh(seq):
                        k = self.open(b, i, out)
                        if k >= 0:
                            self.mark(seq)
                            d._flight = None    # the server has our last flight
                            if self.typ == APP:
                                app = k
                            else:   # an alert or handshake inside a CID record
                                d._inner(self.typ, bytes(memoryview(out)[:k]))
                else:
                    try:
                        r = d._record(typ, bytes(b[i + 3:i + 11]), bytes(b[i + 13:min(n, i + 13 + ln)]))
                    except (IndexError, ValueError, KeyError, TypeError):
                        r = None    # malformed content
                    if r is not None:
                        app = len(r)
                        out[0:app] = r
                i += 13 + ln
            self.ri = i
            if d._old and d._flight:
                d._send(False)  # the server repeated its flight: ours was lost
            if app >= 0:
                return app


def _be(b):
    return int.from_bytes(b, "big")


def reassemble(d, b):
    # handshake fragments (RFC 6347 s4.2.3) of d (client/dtls.py Dtls) put
    # together, its messages processed in order
    while len(b) >= 12:
        typ = b[0]
        ln = _be(b[1:4])
        ms = _be(b[4:6])
        off = _be(b[6:9])
        fl = _be(b[9:12])
        f = b[12:12 + fl]
        b = b[12 + fl:]
        if len(f) != fl or off + fl > ln:
            return
        if ms < d._rseq:
            if ms < d._fseq:
                d._old = True  # from the server's previous flight
            continue
        e = d._frags.get(ms)
        if e is None:
            if ms > d._rseq + 4 or ln > 1024 or not d.handshaking():
                continue
            e = d._frags[ms] = [typ, bytearray(ln), bytearray(ln)]
        if e[0] != typ or len(e[1]) != ln:
            continue
        e[1][off:off + fl] = f
        e[2][off:off + fl] = b"\x01" * fl
    while d.handshaking():
        ms = d._rseq
        e = d._frags.get(ms)
        if e is None or b"\x00" in e[2]:
            return
        del d._frags[ms]
        d._rseq += 1
        d._msg(e[0], bytes(e[1]), ms)
