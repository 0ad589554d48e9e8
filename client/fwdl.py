# Firmware package download (objects/firmware.py): the CoAP Block2
# downloader for coap:// and coaps:// Package URIs, on a transport and
# exchange of its own (own token, independent of the registration traffic);
# http(s):// goes to client/http.py, mq2m:// to client/mq2m.py (client/fwup.py
# picks one). A downloader is a client task (step/deadline/busy/close) that
# hands the package bytes to fwup's Up (etag, feed, done, fail).
from micropython import const
from client.coap import Msg, build, parse
from client.codes import (ACK, BLOCK2, CON, CONTENT, ETAG, GET, NOT_FOUND, RST, SIZE2, URI_PATH,
                          URI_QUERY)

_SZX = const(6)     # 1024-byte blocks
_TRIES = const(5)   # a block that times out this many times in a row: connection lost
_ACK_MS = const(2000)   # ACK_TIMEOUT, MAX_RETRANSMIT (RFC 7252 4.8)
_RETX = const(4)
_WAIT_MS = const(93000)     # a separate response: MAX_TRANSMIT_WAIT
_NO_RAM = const(3)  # Update Result (/5/0/5): out of RAM
_LOST = const(4)    # connection lost
_BAD_URI = const(7)     # invalid URI


class CoapDl:
    # one CON GET in flight at a time, retransmitted with the RFC 7252
    # back-off; its own few bytes of state instead of a full Exchange (whose
    # buffers take 6 KB of heap)
    out = None      # [request, due, tries, timeout] of the GET in flight
    first = True
    tries = 0

    def __init__(self, fw, uri, off, etag):
        self.fw = fw
        c = fw.client
        self.b = b = c.board
        p, _, q = uri.partition("://")[2].partition("/")[2].partition("?")
        self.opts = (p.split("/"), q.split("&"))     # Uri-Path, Uri-Query
        self.tr = tr = c.transport(uri, c.servers[0].sec() if c.servers else {})    # coaps: the account's credentials
        # a datagram is read into buf where the transport can: no heap a
        # block (a fragmented heap may have no room for one). The buffer is
        # the board's spare where it has one (boards/unix.py), which stays
        # the board's: the exchange's socket, letting it go, frees nothing
        # while the download reads into it, and it is the spare again after.
        # A UDP socket reads the datagrams waiting joined (records): a
        # block's length tells a joined read (got())
        self.buf = getattr(tr, "INTO", 0) and (b.spare or bytearray(1152))
        tr.records = 1
        r = b.random(2)
        self.mid = r[0] << 8 | r[1]
        self.off = off
        self.ask(off // 1024)

    def ask(self, num, szx=_SZX):
        b = self.b
        self.mid = (self.mid + 1) & 0xFFFF
        self.tok = bytes(b.random(4))
        m = Msg(CON, GET, self.mid, self.tok)
        n = URI_PATH
        for o in self.opts:
            for x in o:
                if x:
                    m.add(n, x)
            n = URI_QUERY
        m.add(BLOCK2, num << 4 | szx)     # RFC 7959 2.2: NUM, M 0, SZX
        self.num = num
        t = _ACK_MS + b.random(1)[0] * _ACK_MS // 510
        m = bytes(build(m))
        self.out = [m, b.clock.ms() + t, 0, t]
        self.tx(m)

    def tx(self, d):
        if not self.b.radio:
            return      # sent again when the radio is back (its timeout has passed)
        try:
            self.tr.send(d)
        except OSError:     # a closed DTLS session: timeouts, then connection lost
            pass

    def rx(self, d, n=-1):
        try:
            m = parse(d, None, n)
        except Exception:
            return
        o = self.out
        # the answer to our GET: an ACK/RST of its MID, or a separate response with its token
        ours = o and (m.mid == self.mid if m.t >= ACK else m.code >= 64 and m.token == self.tok)
        if m.t == CON:      # a separate response: empty ACK; anything else: RST
            self.tx(bytes([0x60 if ours else 0x70, 0, m.mid >> 8, m.mid & 255]))
        if not ours:
            return
        if m.t == ACK and m.code == 0:      # a separate response follows
            o[1] = self.b.clock.ms() + _WAIT_MS
            o[2] = _RETX
        elif m.t == RST or m.token == self.tok:
            self.out = None
            self.got(None if m.t == RST else m)

    def got(self, r):
        fw = self.fw
        if not r:       # timeout / reset (None, False): ask again, then give up
            self.tries += 1
            if self.tries >= _TRIES:
                return fw.fail(_LOST)
            return self.ask(self.num)
        self.tries = 0
        if r.code != CONTENT:
            return fw.fail(_BAD_URI if r.code == NOT_FOUND or r.code < 0xA0 else _LOST)
        v = r.uint(BLOCK2, _SZX)        # no Block2: all of it in block 0
        szx = v & 7
        size = 16 << szx
        at = (v >> 4) * size
        if self.first:
            self.first = False
            fw.rec["z"] = r.uint(SIZE2, 0)
            off = fw.etag(r.opt(ETAG))
            if off < 0:
                return
            if off != self.off or at > off:
                self.off = off      # a changed package: from the start
                return self.ask(off // size, szx)
        skip = self.off - at
        pl = r.payload
        n = len(pl)
        h = fw.rec["h"]
        # the last block of a joined read: as long as the package header
        # says, else read again alone
        if skip < 0 or skip > n or (n != size if v & 8 else self.tr.records and not (h and h[1] and at + n == h[5] + h[1])):
            self.tr.records = v & 8
            return self.ask(self.off // size, szx)      # not the block asked for, or not whole: again
        self.off += n - skip
        if fw.feed(pl[skip:]):
            if v & 8:
                self.ask(self.off // size, szx)
            else:
                self.b.spare = self.buf     # the spare again: the digest reads into it
                fw.done()

    def step(self, now):
        if not self.b.radio:
            return      # paused while the radio is off
        b = self.buf
        for _ in range(16):
            if b:
                n = self.tr.recv(b)
                if n <= 0:
                    break
                self.rx(b, n)
            else:
                d = self.tr.recv()
                if not d:
                    break
                self.rx(d)
        o = self.out
        if o and now >= o[1]:
            if o[2] >= _RETX:
                self.out = None
                self.got(None)
            else:
                o[2] += 1
                o[3] *= 2
                o[1] = now + o[3]
                self.tx(o[0])

    def deadline(self):
        # asked before every wait: with the radio off (paused, a deep sleep
        # may follow) the offset the store holds is saved first
        if not self.b.radio:
            return self.fw.pause()
        d = self.tr.deadline()      # a DTLS flight
        o = self.out
        return o[1] if o and (d is None or o[1] < d) else d

    def busy(self):
        return True

    def error(self, e):
        # step() raised: no heap for a datagram (Update Result 3), else 4
        self.fw.fail(_NO_RAM if isinstance(e, MemoryError) else _LOST)

    def close(self):
        self.out = None
        try:
            self.tr.close()
        except Exception:
            pass
