# CoAP message codec (RFC 7252 §3). A received message is parsed in place:
# its options are (number, start, end) offsets into the receive buffer, read
# without slicing; a message to send is written into a caller's buffer
# (build_into), its payload either bytes or written in place by a writer.
from micropython import const
from struct import pack_into
from array import array

_VER = const(0x40)  # version 1 in bits 7-6
_NOPT = const(16)   # room for options of a received message (grows when short)
PAY = const(48)     # offset of a payload rendered in place (room for the header)


class Malformed(Exception):
    pass


class Msg:
    # t, code, mid, token (bytes), payload (bytes-like). Options: no of them,
    # numbers in on; values in the list ov (built) or as offsets os/oe into
    # buf (parsed). Rarely set fields are class defaults (small instances)
    pbuf = None     # payload rendered in place: pn bytes at PAY of pbuf
    pn = 0
    at = 0          # where build_into started
    tsrc = None     # token None: copied from this request buffer
    rsp = None      # a received request: the response to reuse
    home = None     # a reused message: the buffer it renders into
    addr = None
    buf = None
    no = 0
    on = ov = ()

    def __init__(self, t=0, code=0, mid=0, token=b"", opts=None, payload=b""):
        self.t = t
        self.code = code
        self.mid = mid
        self.token = token
        self.payload = payload
        if opts:
            for n, v in opts:
                self.add(n, v)

    def reset(self, t=0, code=0, mid=0, token=b""):
        # reuse a built message (its option lists keep their room)
        self.t = t
        self.code = code
        self.mid = mid
        self.token = token
        self.payload = b""
        self.pbuf = None
        self.pn = 0
        self.no = 0
        return self

    def add(self, num, val):
        # val: bytes/str/int (uint option encoding: shortest, 0 -> empty)
        k = self.no
        if not k and type(self.on) is tuple:
            self.on = []
            self.ov = []
        if k < len(self.on):
            self.on[k] = num
            self.ov[k] = val
        else:
            self.on.append(num)
            self.ov.append(val)
        self.no = k + 1
        return self

    def val(self, k):
        # value of option k: a memoryview of a parsed one (allocates)
        b = self.buf
        if b is None:
            return self.ov[k]
        return memoryview(b)[self.os[k]:self.oe[k]]

    @property
    def opts(self):
        # [(number, value)]: a copy, for code off the hot path
        return [(self.on[k], self.val(k)) for k in range(self.no)]

    @opts.setter
    def opts(self, v):
        self.buf = None
        self.no = 0
        self.on = self.ov = ()
        for n, x in v:
            self.add(n, x)

    def find(self, num, k=0):
        # index of the first option num at or after k, else -1 (no allocation)
        on = self.on
        while k < self.no:
            if on[k] == num:
                return k
            k += 1
        return -1

    def has(self, num):
        return self.find(num) >= 0

    def opt(self, num):
        k = self.find(num)
        return None if k < 0 else self.val(k)

    def all(self, num):
        return [self.val(k) for k in range(self.no) if self.on[k] == num]

    def uint(self, num, default=None):
        k = self.find(num)
        if k < 0:
            return default
        b = self.buf
        if b is None:
            v = self.ov[k]
            if type(v) is int:
                return v
            b = v
            i, e = 0, len(v)
        else:
            i, e = self.os[k], self.oe[k]
        r = 0
        while i < e:
            r = (r << 8) | b[i]
            i += 1
        return r

    def strs(self, num):
        return [str(self.val(k), "utf-8") for k in range(self.no) if self.on[k] == num]

    def tok(self):
        # the token as bytes (of a parsed message: copied once)
        if self.token is None:
            b = self.buf
            self.token = bytes(b[4:4 + (b[0] & 15)])
        return self.token

    def tok_is(self, t):
        # the token equals bytes t (no allocation)
        b = self.buf
        if self.token is not None:
            return self.token == t
        n = b[0] & 15
        if n != len(t):
            return False
        for k in range(n):
            if b[4 + k] != t[k]:
                return False
        return True

    def reply(self, code):
        # the response to this request: the exchange's reused one, else new
        r = self.rsp
        if r is None:
            return Msg(code=code)
        return r.reset(0, code, 0, None)


def parse(data, m=None, n=-1):
    # parse data[:n] (all of it when n < 0) into m, a new Msg when None
    if m is None:
        # parsed in a scratch message, then kept as a built one
        m = _SCRATCH
        if not parse_into(data, m, len(data) if n < 0 else n):
            raise Malformed
        r = Msg(m.t, m.code, m.mid, None, None, m.payload)
        mv = memoryview(data)
        for k in range(m.no):       # options as (number, memoryview): compact
            r.add(m.on[k], mv[m.os[k]:m.oe[k]])
        r.token = bytes(mv[4:4 + (data[0] & 15)])
        m.buf = m.payload = None
        m = r
    elif not parse_into(data, m, len(data) if n < 0 else n):
        raise Malformed
    if m.token is None:
        m.tok()
    return m


def parse_into(data, m, n):
    # parse data[:n] into m in place (the token stays in data: m.tok(),
    # m.tok_is()); False when malformed. Allocates nothing unless there is
    # a payload (a memoryview of it)
    if n < 4:
        return False
    b0 = data[0]
    tkl = b0 & 0x0F
    if b0 >> 6 != 1 or tkl > 8 or n < 4 + tkl:
        return False
    m.token = None
    m.payload = b""
    m.t = (b0 >> 4) & 3
    m.code = data[1]
    m.mid = (data[2] << 8) | data[3]
    # an empty message (code 0.00) carries nothing but the header
    if m.code == 0 and (tkl or n > 4):
        return False
    return _opts(m, data, 4 + tkl, n)


def opts_at(m, mv, i, n=-1):
    # options and payload of mv[:n] from offset i into m (shared with the
    # RFC 8323 framing, whose layout after the token is the same)
    if not _opts(m, mv, i, len(mv) if n < 0 else n):
        raise Malformed


def inbox():
    # a message to parse into again and again (its offset arrays made once)
    m = Msg()
    m.on, m.os, m.oe = _arr(), _arr(), _arr()
    return m


def _opts(m, mv, i, n):
    if type(m.on) is not type(_ARR):    # first parse into m: offset arrays
        m.on, m.os, m.oe = _arr(), _arr(), _arr()
    m.buf = mv
    num = 0
    k = 0
    on = m.on
    while i < n:
        b = mv[i]
        i += 1
        if b == 0xFF:
            if i == n:  # payload marker followed by nothing (§3)
                return False
            m.payload = memoryview(mv)[i:n]
            break
        d = b >> 4
        ln = b & 0x0F
        # extended delta then extended length (13: +1 byte, 14: +2 bytes)
        if d == 15 or ln == 15 or i + _XL[d] + _XL[ln] > n:
            return False
        d = _xv(mv, i, d)
        i += _XL[b >> 4]
        ln = _xv(mv, i, ln)
        i += _XL[b & 0x0F]
        num += d
        if i + ln > n:
            return False
        if k == len(on):    # more options than room: grow (rare, allocates)
            on, m.os, m.oe = m.on, m.os, m.oe = _arr(on), _arr(m.os), _arr(m.oe)
        on[k] = num
        m.os[k] = i
        m.oe[k] = i + ln
        k += 1
        i += ln
    m.no = k
    return True


_XL = b"\0\0\0\0\0\0\0\0\0\0\0\0\0\1\2\0"   # extension bytes of a 4-bit delta/length


def _xv(mv, i, x):
    # the value of a delta/length nibble x whose extension starts at mv[i]
    if x == 13:
        return mv[i] + 13
    if x == 14:
        return ((mv[i] << 8) | mv[i + 1]) + 269
    return x


def _arr(old=()):
    a = array("I", old or bytes(4 * _NOPT))
    a.extend(bytes(4 * len(old)))
    return a


def _ext(x):
    return 13 if x < 269 and x >= 13 else (14 if x >= 269 else x)


def _hdr(buf, i, x):
    # the extended delta or length x after an option's first byte
    if 13 <= x < 269:
        if buf:
            buf[i] = x - 13
        return i + 1
    if x >= 269:
        if buf:
            pack_into(">H", buf, i, x - 269)
        return i + 2
    return i


def _head(m, buf, i):
    # header, token and options of m into buf from i (buf None: only count);
    # returns the offset after them. Options go in number order, repeated
    # ones in the order added (a selection: no sorting, no copies)
    tok = m.token
    tb = None
    if tok is None:     # a reply: the token is the request's, read in place
        tb = m.tsrc
        tkl = tb[0] & 15
    else:
        tkl = len(tok)
    if buf:
        buf[i] = _VER | (m.t << 4) | tkl
        buf[i + 1] = m.code
        pack_into(">H", buf, i + 2, m.mid)
        if tb:
            for k in range(tkl):
                buf[i + 4 + k] = tb[4 + k]
        elif tkl:
            buf[i + 4:i + 4 + tkl] = tok
    i += 4 + tkl
    on = m.on
    last = 0
    lk = -1
    for _ in range(m.no):
        best = -1
        for k in range(m.no):
            x = on[k]
            if (x > last or x == last and k > lk) and (best < 0 or x < on[best]):
                best = k
        num = on[best]
        v = m.ov[best] if m.buf is None else m.val(best)
        d = num - last
        last = num
        lk = best
        if type(v) is int:
            ln = 0
            while v >> (8 * ln):
                ln += 1
        else:
            if type(v) is str:
                v = v.encode()
            ln = len(v)
        h = i
        i = _hdr(buf, _hdr(buf, i + 1, d), ln)
        if not buf:
            i += ln
            continue
        buf[h] = (_ext(d) << 4) | _ext(ln)
        if type(v) is int:
            for s in range(ln - 1, -1, -1):
                buf[i] = (v >> (8 * s)) & 0xFF
                i += 1
        else:
            buf[i:i + ln] = v
            i += ln
    return i


def build_into(m, buf):
    # write m into buf; returns the end offset, m.at the start: 0, or for a
    # payload already rendered in place (m.pbuf is buf: m.pn bytes at PAY)
    # just before PAY
    if m.pbuf is buf:
        i = m.at = PAY - _head(m, None, 0) - (1 if m.pn else 0)
        i = _head(m, buf, i)
        if m.pn:
            buf[i] = 0xFF
            i += 1 + m.pn
        return i
    m.at = 0
    i = _head(m, buf, 0)
    pl = m.payload
    if pl:
        buf[i] = 0xFF
        i += 1
        n = len(pl)
        buf[i:i + n] = pl
        i += n
    return i


def body(m):
    # the payload of m as bytes-like (a payload rendered in place is copied)
    if m.pbuf is not None:
        m.payload = bytes(memoryview(m.pbuf)[PAY:PAY + m.pn])
        m.pbuf = None
    return m.payload


def build(m):
    # m in a new buffer of an upper bound of its size (a memoryview of its
    # bytes): for code off the hot path
    s = 13 + len(body(m))     # header, token (8), payload marker
    for k in range(m.no):
        v = m.ov[k] if m.buf is None else m.val(k)
        s += 5 + (8 if type(v) is int else 4 * len(v))
    buf = bytearray(s)
    return memoryview(buf)[:build_into(m, buf)]


_ARR = array("I")
_SCRATCH = inbox()
