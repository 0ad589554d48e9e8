# CoAP message codec (RFC 7252 §3): parse one datagram by offsets over a
# memoryview, build one into a bytearray.
from micropython import const
from struct import pack_into

_VER = const(0x40)  # version 1 in bits 7-6


class Malformed(Exception):
    pass


class Msg:
    # t: type, code, mid, token (bytes), opts: list of (number, memoryview),
    # payload: memoryview (possibly empty)
    def __init__(self, t=0, code=0, mid=0, token=b"", opts=None, payload=b""):
        self.t = t
        self.code = code
        self.mid = mid
        self.token = token
        self.opts = opts if opts is not None else []
        self.payload = payload
        self.addr = None

    def opt(self, num):
        for n, v in self.opts:
            if n == num:
                return v
        return None

    def all(self, num):
        return [v for n, v in self.opts if n == num]

    def uint(self, num, default=None):
        v = self.opt(num)
        if v is None:
            return default
        r = 0
        for b in v:
            r = (r << 8) | b
        return r

    def strs(self, num):
        return [str(v, "utf-8") for n, v in self.opts if n == num]

    def add(self, num, val):
        # val: bytes/str/int (uint option encoding: shortest, 0 -> empty)
        self.opts.append((num, val))
        return self


def uint_bytes(v):
    n = 0
    while v >> (8 * n):
        n += 1
    return v.to_bytes(n, "big")


def parse(data):
    mv = memoryview(data)
    n = len(mv)
    if n < 4:
        raise Malformed
    b0 = mv[0]
    tkl = b0 & 0x0F
    if b0 >> 6 != 1 or tkl > 8 or n < 4 + tkl:
        raise Malformed
    m = Msg((b0 >> 4) & 3, mv[1], (mv[2] << 8) | mv[3], bytes(mv[4:4 + tkl]))
    opts_at(m, mv, 4 + tkl)
    # an empty message (code 0.00) carries nothing but the header
    if m.code == 0 and (tkl or n > 4):
        raise Malformed
    return m


def opts_at(m, mv, i):
    # options and payload of mv from offset i into m (shared with the
    # RFC 8323 framing, client/tcp.py, whose layout after the token is the same)
    n = len(mv)
    num = 0
    opts = m.opts
    while i < n:
        b = mv[i]
        i += 1
        if b == 0xFF:
            if i == n:  # payload marker followed by nothing (§3)
                raise Malformed
            m.payload = mv[i:]
            break
        d = b >> 4
        ln = b & 0x0F
        # extended delta then extended length (13: +1 byte, 14: +2 bytes)
        for k in (0, 1):
            x = d if k == 0 else ln
            if x == 13:
                if i >= n:
                    raise Malformed
                x = mv[i] + 13
                i += 1
            elif x == 14:
                if i + 1 >= n:
                    raise Malformed
                x = ((mv[i] << 8) | mv[i + 1]) + 269
                i += 2
            elif x == 15:
                raise Malformed
            if k == 0:
                d = x
            else:
                ln = x
        num += d
        if i + ln > n:
            raise Malformed
        opts.append((num, mv[i:i + ln]))
        i += ln


def _ext(x):
    return 13 if x < 269 and x >= 13 else (14 if x >= 269 else x)


def build(m):
    # options sorted by number; repeated options keep their order (MicroPython's
    # sort is not stable, so the index breaks ties)
    opts = sorted([(o[0], k, o[1]) for k, o in enumerate(m.opts)])
    vals = []
    size = 4 + len(m.token)
    for num, k, v in opts:
        if isinstance(v, int):
            v = uint_bytes(v)
        elif isinstance(v, str):
            v = v.encode()
        vals.append(v)
        size += 5 + len(v)
    pl = m.payload
    if pl:
        size += 1 + len(pl)
    buf = bytearray(size)
    buf[0] = _VER | (m.t << 4) | len(m.token)
    buf[1] = m.code
    pack_into(">H", buf, 2, m.mid)
    i = 4
    buf[i:i + len(m.token)] = m.token
    i += len(m.token)
    last = 0
    for k in range(len(opts)):
        v = vals[k]
        d = opts[k][0] - last
        last = opts[k][0]
        ln = len(v)
        hd = _ext(d)
        hl = _ext(ln)
        buf[i] = (hd << 4) | hl
        i += 1
        for x, h in ((d, hd), (ln, hl)):
            if h == 13:
                buf[i] = x - 13
                i += 1
            elif h == 14:
                pack_into(">H", buf, i, x - 269)
                i += 2
        buf[i:i + ln] = v
        i += ln
    if pl:
        buf[i] = 0xFF
        i += 1
        buf[i:i + len(pl)] = pl
        i += len(pl)
    return memoryview(buf)[:i]
