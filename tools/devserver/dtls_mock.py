"""A small DTLS 1.2 PSK server in CPython for what the library peers lack:
Connection ID (RFC 9146). python-mbedtls (Mbed TLS 2.28) and openssl 3.0 have
no RFC 9146 support, so this server, written from the RFCs on the host's
`cryptography` package, checks the client's tls12_cid records.

Suites TLS_PSK_WITH_AES_128_CCM_8 and TLS_PSK_WITH_AES_128_CBC_SHA256,
cookie exchange, extended master secret, session-id resumption, and a CID
(given to the client in ServerHello) by which a session is found whatever the
client's address: after a NAT rebinding the echo goes to the new address.
One thread, unfragmented client messages (all our client sends).
With `upstream` it forwards application data instead of echoing it (Relay of
tools/dtls_peer.py, used by tools/dtls_front.py); cid=N then gives each
connection a random CID of N bytes.
"""
import collections
import hashlib
import hmac
import os
import socket
import threading

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from .dtls_peer import Relay

V = b"\xfe\xfd"
CCM8, CBC = 0xC0A8, 0x00AE


def prf(secret, label, seed, n):
    seed = label + seed
    a, out = seed, b""
    while len(out) < n:
        a = hmac.new(secret, a, hashlib.sha256).digest()
        out += hmac.new(secret, a + seed, hashlib.sha256).digest()
    return out[:n]


def hs(typ, body, mseq):
    n = len(body).to_bytes(3, "big")
    return bytes([typ]) + n + mseq.to_bytes(2, "big") + b"\0\0\0" + n + body


class Conn:
    def __init__(self, addr):
        self.addr = addr
        self.rep = 0
        self.wseq = [0, 0]
        self.keys = None
        self.transcript = b""
        self.mseq = 0
        self.done = False
        self.ident = None     # PSK identity, once known
        self.cid = None


class MockServer(Relay):
    def __init__(self, psk_store, suites=(CCM8, CBC), cid=b"\xc1\xd0\x0c\x1d", cookie=True,
                 repeat=False, upstream=None, bind=("127.0.0.1", 0)):
        self.psks = dict(psk_store)
        self.suites = suites
        # bytes: the CID of every connection; int: a random one of that length
        # per connection; None: ignore the client's connection_id extension
        self.cid = cid
        self.cidlen = cid if isinstance(cid, int) else len(cid or b"")
        self.cookie = cookie
        self.repeat = repeat      # send the resumed flight twice (a retransmission)
        self.secret = os.urandom(16)
        self.sessions = {}        # session id -> (master, suite, ems, identity)
        self.conns = {}           # address -> Conn
        self.by_cid = {}
        self.events = collections.deque(maxlen=10000)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(bind)
        self.addr = self.sock.getsockname()
        self._relay(upstream)
        self._stop = False
        self._th = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._th.start()
        return self

    def __exit__(self, *a):
        self._stop = True
        self._th.join(5)
        self.sock.close()
        self._close_ups()

    def _run(self):
        while not self._stop:
            if not self._wait(0.02):
                continue
            data, addr = self.sock.recvfrom(4096)
            self._count(data, "in")
            try:
                self._datagram(data, addr)
            except Exception as e:  # noqa: BLE001 - a test peer reports, never dies
                self.events.append(("error", repr(e)))

    # --- records

    def _datagram(self, d, addr):
        i = 0
        while i + 13 <= len(d):
            typ, sn = d[i], d[i + 3:i + 11]
            cid = b""
            if typ == 25:  # tls12_cid: the CID we gave sits between seq and length
                cid = d[i + 11:i + 11 + self.cidlen]
                c = self.by_cid.get(cid)
                if c is None:
                    self.events.append(("unknown cid", cid))
                    return
                if c.addr != addr:
                    self.events.append(("rebind", c.addr, addr))
                    self.conns.pop(c.addr, None)
                    c.addr = addr
                    self.conns[addr] = c
            h = i + 11 + len(cid)
            n = int.from_bytes(d[h:h + 2], "big")
            body = d[h + 2:h + 2 + n]
            i = h + 2 + n
            c = self.conns.get(addr)
            if c is None or typ == 22 and sn[:2] == b"\0\0" and body[0] == 1:
                if typ == 22 and body[0] == 1:
                    c = self._client_hello(addr, sn, body, c)
                continue
            if int.from_bytes(sn[:2], "big") != c.rep:
                continue
            if c.rep:
                if typ == 25:
                    self.events.append(("cid record", cid))
                typ, body = self._open(c, typ, sn, cid, body)
            if typ == 20:
                c.rep = 1
            elif typ == 22:
                self._handshake(c, body)
            elif typ == 23 and self.upstream:
                self._up(c.ident, c, body)
            elif typ == 23:
                self.events.append(("data", body))
                self._send(c, [(23, 1, body)])   # echo
            elif typ == 21:
                self.events.append(("alert", body))

    def _send(self, c, recs):
        d = b""
        for typ, ep, body in recs:
            sn = (ep << 48 | c.wseq[ep]).to_bytes(8, "big")
            c.wseq[ep] += 1
            if ep:
                body = self._seal(c, typ, sn, body)
            d += bytes([typ]) + V + sn + len(body).to_bytes(2, "big") + body
        self._sendto(d, c.addr)

    def _sendto(self, d, addr):
        self._count(d, "out")
        self.sock.sendto(d, addr)

    def _down(self, c, data):
        # a datagram from upstream for connection c, to its current address
        if c.done == 2:
            self._send(c, [(23, 1, data)])

    def _connected(self, c):
        self.events.append(("handshake", c.suite))
        self.stats["handshakes"] += 1
        self._up(c.ident, c)

    def _seal(self, c, typ, sn, p):
        aad = sn + bytes([typ]) + V + len(p).to_bytes(2, "big")
        k = c.keys
        if c.suite == CCM8:
            return sn + AESCCM(k["sk"], 8).encrypt(k["siv"] + sn, p, aad)
        mac = hmac.new(k["smac"], aad + p, hashlib.sha256).digest()
        pad = 15 - (len(p) + 32) % 16
        iv = os.urandom(16)
        e = Cipher(algorithms.AES(k["sk"]), modes.CBC(iv)).encryptor()
        return iv + e.update(p + mac + bytes([pad]) * (pad + 1)) + e.finalize()

    def _open(self, c, typ, sn, cid, body):
        # RFC 9146 s5: additional data / MAC input for tls12_cid records
        if typ == 25:
            pre = b"\xff" * 8 + bytes([25, len(cid), 25]) + V + sn + cid
        else:
            pre = sn + bytes([typ]) + V
        k = c.keys
        if c.suite == CCM8:
            n = len(body) - 16
            p = AESCCM(k["ck"], 8).decrypt(k["civ"] + body[:8], body[8:],
                                          pre + n.to_bytes(2, "big"))
        else:
            dec = Cipher(algorithms.AES(k["ck"]), modes.CBC(body[:16])).decryptor()
            q = dec.update(body[16:]) + dec.finalize()
            q = q[:-(q[-1] + 1)]
            p, mac = q[:-32], q[-32:]
            want = hmac.new(k["cmac"], pre + len(p).to_bytes(2, "big") + p, hashlib.sha256)
            if not hmac.compare_digest(want.digest(), mac):
                raise ValueError("bad MAC")
        if typ == 25:  # DTLSInnerPlaintext: content, real type, zeros
            p = p.rstrip(b"\0")
            return p[-1], p[:-1]
        return typ, p

    # --- handshake

    def _client_hello(self, addr, sn, b, old):
        mseq = int.from_bytes(b[4:6], "big")
        b = b[12:]
        crand = b[2:34]
        i = 35 + b[34]
        sid = b[35:i]
        cookie = b[i + 1:i + 1 + b[i]]
        i += 1 + b[i]
        n = int.from_bytes(b[i:i + 2], "big")
        offered = [int.from_bytes(b[i + 2 + j:i + 4 + j], "big") for j in range(0, n, 2)]
        i += 2 + n
        i += 1 + b[i]
        exts = {}
        if i + 2 <= len(b):
            end = i + 2 + int.from_bytes(b[i:i + 2], "big")
            i += 2
            while i + 4 <= end:
                t = int.from_bytes(b[i:i + 2], "big")
                ln = int.from_bytes(b[i + 2:i + 4], "big")
                exts[t] = b[i + 4:i + 4 + ln]
                i += 4 + ln
        want = hmac.new(self.secret, repr(addr).encode() + crand, hashlib.sha256).digest()[:16]
        if self.cookie and cookie != want:
            # HelloVerifyRequest, stateless: echo the record sequence number
            body = hs(3, V + bytes([16]) + want, mseq)
            self._sendto(bytes([22]) + V + sn + len(body).to_bytes(2, "big") + body, addr)
            return None
        if old is not None and old.cid:
            self.by_cid.pop(old.cid, None)
        c = Conn(addr)
        self.conns[addr] = c
        c.crand, c.srand = crand, os.urandom(32)
        c.mseq = mseq
        c.transcript = hs(1, b, mseq)
        suite = next(s for s in offered if s in self.suites)
        c.ems = 23 in exts
        ext = b""
        if c.ems:
            ext += b"\x00\x17\x00\x00"
        if 54 in exts and self.cid is not None:
            c.cid = os.urandom(self.cid) if isinstance(self.cid, int) else self.cid
            v = bytes([len(c.cid)]) + c.cid
            ext += b"\x00\x36" + len(v).to_bytes(2, "big") + v
            self.by_cid[c.cid] = c
            self.events.append(("cid offered", exts[54]))
        resumed = self.sessions.get(sid) if sid else None
        if resumed and resumed[1] in offered and resumed[2] == c.ems:
            c.sid, (c.master, suite, _, c.ident) = sid, resumed
        else:
            resumed = None
            c.sid = os.urandom(32)
        c.suite = suite
        sh = V + c.srand + bytes([32]) + c.sid + suite.to_bytes(2, "big") + b"\0"
        sh += len(ext).to_bytes(2, "big") + ext
        msgs = [self._hs(c, 2, sh)]
        if resumed:
            self._keys(c)
            self.events.append(("resumed", suite))
            c.done = True
            fin = prf(c.master, b"server finished", hashlib.sha256(c.transcript).digest(), 12)
            msgs += [(20, 0, b"\x01"), self._hs(c, 20, fin, 1)]
        else:
            msgs.append(self._hs(c, 14, b""))
        self._send(c, msgs)
        if resumed and self.repeat:
            self._send(c, msgs)   # same messages, new record sequence numbers
        return c

    def _hs(self, c, typ, body, ep=0):
        m = hs(typ, body, c.mseq)
        c.mseq += 1
        c.transcript += m
        return (22, ep, m)

    def _keys(self, c):
        k = prf(c.master, b"key expansion", c.srand + c.crand, 40 if c.suite == CCM8 else 96)
        if c.suite == CCM8:
            c.keys = dict(ck=k[:16], sk=k[16:32], civ=k[32:36], siv=k[36:40])
        else:
            c.keys = dict(cmac=k[:32], smac=k[32:64], ck=k[64:80], sk=k[80:96])

    def _handshake(self, c, m):
        typ = m[0]
        body = m[12:]
        if typ == 16:  # ClientKeyExchange: psk_identity
            ident = body[2:2 + int.from_bytes(body[:2], "big")].decode()
            psk = self.psks[ident]
            c.ident = ident
            c.transcript += m
            n = len(psk).to_bytes(2, "big")
            pms = n + bytes(len(psk)) + n + psk
            if c.ems:
                c.master = prf(pms, b"extended master secret",
                               hashlib.sha256(c.transcript).digest(), 48)
            else:
                c.master = prf(pms, b"master secret", c.crand + c.srand, 48)
            self._keys(c)
        elif typ == 20:  # Finished
            if c.done == 2:
                self.events.append(("finished again", None))
                return
            want = prf(c.master, b"client finished", hashlib.sha256(c.transcript).digest(), 12)
            if not hmac.compare_digest(want, body):
                self.events.append(("error", "client Finished does not verify"))
                self._send(c, [(21, 1, b"\x02\x33")])
                return
            c.transcript += m
            if c.done:   # resumed: the client's Finished ends it
                c.done = 2
                self._connected(c)
                return
            fin = prf(c.master, b"server finished", hashlib.sha256(c.transcript).digest(), 12)
            self._send(c, [(20, 0, b"\x01"), self._hs(c, 20, fin, 1)])
            self.sessions[c.sid] = (c.master, c.suite, c.ems, c.ident)
            c.done = 2
            self._connected(c)
