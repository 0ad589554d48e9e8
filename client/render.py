# Read representations written straight into a caller's buffer, without
# building records, lists or byte strings: TLV (11542), SenML CBOR (112),
# plain text (0) and opaque (42). walk() visits what a Read of a path covers
# (instances, resources, resource instances in id order, readable ones only)
# and calls a writer; a writer returns the end offset, or -1 when the
# representation does not fit (the engine then takes the general path:
# records, block-wise). Floats and non-ASCII strings still allocate.
from micropython import const
from struct import pack_into
from client.codes import (CoapError, METHOD_NOT_ALLOWED, NOT_ACCEPTABLE, NOT_FOUND, R,
                          STR, INT, UINT, FLOAT, BOOL, OPAQUE, TIME, OBJLNK, CORELNK)

_TLV_INST = const(0x00)
_TLV_RI = const(0x40)
_TLV_MULTI = const(0x80)
_TLV_RES = const(0xC0)
_NB = const(32)     # strings whose UTF-8 length is remembered


class Full(Exception):
    pass


_bl = {}


def blen(s):
    # UTF-8 length of str s; remembered by identity (the str kept alive with
    # it, so the id cannot be reused): a value read again costs no encode()
    e = _bl.get(id(s))
    if e is not None and e[0] is s:
        return e[1]
    n = len(s.encode())
    if len(_bl) >= _NB:
        _bl.clear()
    _bl[id(s)] = (s, n)
    return n


def _room(w, n):
    if w.i + n > w.end:
        raise Full


def _bytes(w, v, n):
    # n bytes of str/bytes v at w.i
    _room(w, n)
    b = w.buf
    i = w.i
    if type(v) is str:
        if n <= 16 and i + 16 <= len(b):
            pack_into("16s", b, i, v)
        elif n <= 64 and i + 64 <= len(b):
            pack_into("64s", b, i, v)
        elif n <= 255 and i + 255 <= len(b):
            pack_into("255s", b, i, v)
        else:
            b[i:i + n] = v.encode()
    else:
        b[i:i + n] = v
    w.i = i + n


def _ndig(x):
    # decimal digits of x >= 0
    n = 1
    while x >= 10:
        x //= 10
        n += 1
    return n


def _dec(w, x):
    # x in decimal (a sign when negative)
    if x < 0:
        _room(w, 1)
        w.buf[w.i] = 0x2D
        w.i += 1
        x = -x
    n = _ndig(x)
    _room(w, n)
    b = w.buf
    j = w.i + n
    w.i = j
    while n:
        j -= 1
        b[j] = 0x30 + x % 10
        x //= 10
        n -= 1


def _move(b, src, dst, n):
    # b[dst:dst + n] = b[src:src + n] in place
    if dst < src:
        for k in range(n):
            b[dst + k] = b[src + k]
    else:
        for k in range(n - 1, -1, -1):
            b[dst + k] = b[src + k]


def _next(d, last):
    # the smallest key of d above last, -1 when none
    b = -1
    for k in d:
        if k > last and (b < 0 or k < b):
            b = k
    return b


def walk(e, o, path, srv, w):
    # the values a Read of path covers, to writer w (o: path's object,
    # already checked to exist)
    n = len(path)
    if n > 1:
        _inst(o, path[1], path, n, w)
        return
    guard = e.c.acl or srv and getattr(srv, "grant", None)
    iid = -1
    while True:
        iid = _next(o.inst, iid)
        if iid < 0:
            return
        if guard and not e.can(srv, R, (o.ID, iid)):
            continue
        w.inst(iid)
        _inst(o, iid, path, n, w)
        w.close_inst()


def _inst(o, iid, path, n, w):
    inst = o.get(iid)
    for r in o.RES:
        rid = r[0]
        if n > 2:
            if rid != path[2]:
                continue
        elif rid not in inst:
            continue
        if not r[1] & R:
            if n > 2:
                raise CoapError(METHOD_NOT_ALLOWED)
            continue
        v = o.read(iid, rid)
        t = r[2]
        if r[3]:
            if n == 4:
                if path[3] not in v:
                    raise CoapError(NOT_FOUND)
                w.val(iid, rid, path[3], t, v[path[3]])
                continue
            ri = -1
            if v is None or _next(v, ri) < 0:
                continue        # no instances: nothing (as the records give)
            w.multi(rid)
            while True:
                ri = _next(v, ri)
                if ri < 0:
                    break
                w.val(iid, rid, ri, t, v[ri])
            w.close_multi()
        elif n == 4:
            raise CoapError(NOT_FOUND)
        else:
            w.val(iid, rid, -1, t, v)


class Writer:
    def start(self, path, buf, i, end):
        self.path = path
        self.buf = buf
        self.i = i
        self.end = end

    def inst(self, iid):
        pass

    def close_inst(self):
        pass

    def multi(self, rid):
        pass

    def close_multi(self):
        pass

    def done(self):
        return self.i


# -- TLV -----------------------------------------------------------------------
def _tlvh(ident, n):
    # size of a TLV header for identifier ident and a value of n bytes
    return 2 + (ident > 255) + (0 if n < 8 else 1 if n < 256 else 2 if n < 65536 else 3)


def _tlvput(b, i, t, ident, n):
    w = ident > 255
    ln = 0 if n < 8 else 1 if n < 256 else 2 if n < 65536 else 3
    b[i] = t | w << 5 | ln << 3 | (0 if ln else n)
    i += 1
    if w:
        b[i] = ident >> 8
        i += 1
    b[i] = ident & 255
    i += 1
    for s in range(ln - 1, -1, -1):
        b[i] = (n >> (8 * s)) & 255
        i += 1
    return i


class Tlv(Writer):
    def start(self, path, buf, i, end):
        Writer.start(self, path, buf, i, end)
        self.ci = self.mi = -1

    def _open(self, ident):
        # a container: header guessed for 8..255 bytes of content, fixed on close
        h = 3 + (ident > 255)
        _room(self, h)
        s = self.i
        self.i += h
        return s

    def _close(self, s, t, ident):
        b = self.buf
        g = 3 + (ident > 255)
        n = self.i - s - g
        h = _tlvh(ident, n)
        if h != g:
            _room(self, h - g)
            _move(b, s + g, s + h, n)
            self.i += h - g
        _tlvput(b, s, t, ident, n)

    def inst(self, iid):
        self.ci = self._open(iid)
        self.iid = iid

    def close_inst(self):
        self._close(self.ci, _TLV_INST, self.iid)

    def multi(self, rid):
        self.mi = self._open(rid)
        self.rid = rid

    def close_multi(self):
        self._close(self.mi, _TLV_MULTI, self.rid)

    def val(self, iid, rid, ri, t, v):
        if ri < 0:
            k, ident = _TLV_RES, rid
        else:
            k, ident = _TLV_RI, ri
        b = self.buf
        if t == STR or t == CORELNK:
            n = blen(v)
        elif t == INT or t == TIME or t == UINT:
            n = 8
            for x in (1, 2, 4):
                m = 1 << (8 * x - (t != UINT))
                if (-m if t != UINT else 0) <= v < m:
                    n = x
                    break
        elif t == BOOL:
            n = 1
        elif t == OBJLNK:
            n = 4
        elif t == FLOAT:
            from client.tlv import _ev
            v = _ev(t, v)       # 4 or 8 bytes (allocates)
            n = len(v)
            t = OPAQUE
        else:
            n = len(v)
        _room(self, _tlvh(ident, n) + n)
        i = self.i = _tlvput(b, self.i, k, ident, n)
        if t == STR or t == CORELNK or t == OPAQUE:
            _bytes(self, v, n)
            return
        if t == BOOL:
            b[i] = 1 if v else 0
        elif t == OBJLNK:
            pack_into(">HH", b, i, v[0], v[1])
        else:
            for s in range(n - 1, -1, -1):
                b[i] = (v >> (8 * s)) & 255
                i += 1
        self.i += n


# -- SenML CBOR ----------------------------------------------------------------
def _head(w, mt, n):
    if n < 24:
        _room(w, 1)
        w.buf[w.i] = mt << 5 | n
        w.i += 1
        return
    k = 1 if n < 256 else 2 if n < 65536 else 4 if n < 4294967296 else 8
    _room(w, 1 + k)
    b = w.buf
    b[w.i] = mt << 5 | (24 + (0, 1, 1, 2, 2, 2, 2, 3)[k - 1])
    i = w.i + 1
    for s in range(k - 1, -1, -1):
        b[i] = (n >> (8 * s)) & 255
        i += 1
    w.i = i


def _path_len(p, a, z):
    # text length of "/".join(p[a:z])
    n = z - a - 1
    for k in range(a, z):
        n += _ndig(p[k])
    return n


class Senml(Writer):
    def start(self, path, buf, i, end):
        Writer.start(self, path, buf, i, end)
        self.a = i          # the array head, fixed in done()
        self.n = 0
        _room(self, 1)
        self.i += 1

    def val(self, iid, rid, ri, t, v):
        p = self.path
        np = len(p)
        # the record's path: oid, iid, rid[, ri]
        full = 4 if ri >= 0 else 3
        at_base = full == np
        first = self.n == 0
        _head(self, 5, (1 if first or at_base else 0) + (0 if at_base else 1) + (v is not None))
        b = self.buf
        if first or at_base:
            # bn: "/base/" (or the record's own path at the base)
            _room(self, 1)
            b[self.i] = 0x21            # -2
            self.i += 1
            ln = 1 + _path_len(p, 0, np) + (0 if at_base else 1)
            _head(self, 3, ln)
            for k in range(np):
                _room(self, 1)
                b[self.i] = 0x2F
                self.i += 1
                _dec(self, p[k])
            if not at_base:
                _room(self, 1)
                b[self.i] = 0x2F
                self.i += 1
        if not at_base:
            _room(self, 1)
            b[self.i] = 0x00            # n
            self.i += 1
            ln = full - np - 1
            for k in range(np, full):
                ln += _ndig(iid if k == 1 else rid if k == 2 else ri)
            _head(self, 3, ln)
            for k in range(np, full):
                if k > np:
                    _room(self, 1)
                    b[self.i] = 0x2F
                    self.i += 1
                _dec(self, iid if k == 1 else rid if k == 2 else ri)
        if v is None:
            self.n += 1
            return
        _room(self, 4)
        i = self.i
        if t == STR or t == CORELNK:
            b[i] = 0x03
            self.i = i + 1
            n = blen(v)
            _head(self, 3, n)
            _bytes(self, v, n)
        elif t == BOOL:
            b[i] = 0x04
            b[i + 1] = 0xF5 if v else 0xF4
            self.i = i + 2
        elif t == OPAQUE:
            b[i] = 0x08
            self.i = i + 1
            _head(self, 2, len(v))
            _bytes(self, v, len(v))
        elif t == OBJLNK:
            b[i] = 0x63
            b[i + 1] = 0x76     # "vlo"
            b[i + 2] = 0x6C
            b[i + 3] = 0x6F
            self.i = i + 4
            _head(self, 3, _ndig(v[0]) + 1 + _ndig(v[1]))
            _dec(self, v[0])
            _room(self, 1)
            b[self.i] = 0x3A
            self.i += 1
            _dec(self, v[1])
        elif t == FLOAT:
            from client import cbor
            x = cbor.dumps(v)   # shortest exact float (allocates)
            b[i] = 0x02
            self.i = i + 1
            _bytes(self, x, len(x))
        else:
            b[i] = 0x02
            self.i = i + 1
            if v < 0:
                _head(self, 1, -1 - v)
            else:
                _head(self, 0, v)
        self.n += 1

    def done(self):
        n = self.n
        if n >= 24:     # the array head needs more than its byte
            k = 2 if n < 256 else 3
            _room(self, k - 1)
            _move(self.buf, self.a + 1, self.a + k, self.i - self.a - 1)
            self.i += k - 1
            j = self.i
            self.i = self.a
            _head(self, 4, n)
            self.i = j
        else:
            self.buf[self.a] = 0x80 | n
        return self.i


# -- plain text and opaque: one value --------------------------------------------
class Text(Writer):
    def start(self, path, buf, i, end):
        Writer.start(self, path, buf, i, end)
        self.n = 0

    def multi(self, rid):
        raise CoapError(NOT_ACCEPTABLE)

    def val(self, iid, rid, ri, t, v):
        if self.n or (4 if ri >= 0 else 3) != len(self.path):
            raise CoapError(NOT_ACCEPTABLE)
        self.n = 1
        if t == STR or t == CORELNK:
            _bytes(self, v, blen(v))
        elif t == BOOL:
            _room(self, 1)
            self.buf[self.i] = 0x31 if v else 0x30
            self.i += 1
        elif t == OBJLNK:
            _dec(self, v[0])
            _room(self, 1)
            self.buf[self.i] = 0x3A
            self.i += 1
            _dec(self, v[1])
        elif t == INT or t == UINT or t == TIME:
            _dec(self, v)
        else:   # FLOAT, OPAQUE (base64): the text codec (allocates)
            from client.text import enc
            x = enc([((0,) * len(self.path), t, v)], self.path)
            _bytes(self, x, len(x))

    def done(self):
        if not self.n:
            raise CoapError(NOT_ACCEPTABLE)
        return self.i


class Opaque(Text):
    def val(self, iid, rid, ri, t, v):
        if self.n or t != OPAQUE or (4 if ri >= 0 else 3) != len(self.path):
            raise CoapError(NOT_ACCEPTABLE)
        self.n = 1
        _bytes(self, v, len(v))


TLV = Tlv()
SENML = Senml()
TEXT = Text()
OPAQ = Opaque()
