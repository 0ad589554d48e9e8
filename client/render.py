# The Read path without allocation: a request's path read in place, and
# representations written straight into a caller's buffer, without records,
# lists or byte strings. walk() visits what a Read of a path covers
# (instances, resources, resource instances in id order, readable ones only)
# and calls a writer (Tlv below, client/senmlw.py SenmlW and JsonW,
# client/text.py Text, Opaque); Full when it does not fit (the engine then
# takes the general path: records, block-wise). Floats and non-ASCII strings
# still allocate.
from micropython import const
from struct import pack_into
from client.coap import PAY
from client.codes import (CoapError, CONTENT_FORMAT, FMT_OPAQUE, FMT_SENML_CBOR, FMT_SENML_JSON, FMT_TEXT, FMT_TLV,
                          METHOD_NOT_ALLOWED, NOT_FOUND, R, URI_PATH,
                          STR, INT, UINT, FLOAT, BOOL, OPAQUE, TIME, OBJLNK, CORELNK)

_NB = const(32)         # strings whose UTF-8 length is remembered
# a RES table row (client/model.py): id, operations, type, multiple
_R_ID = const(0)
_R_OPS = const(1)
_R_TYPE = const(2)
_R_MULTI = const(3)
# TLV kinds (client/tlv.py)
_OBJ_INST = const(0x00)
_RES_INST = const(0x40)
_MULTI = const(0x80)
_RES = const(0xC0)


class Full(Exception):
    pass


_bl = {}


def blen(s):
    # UTF-8 length of str s, remembered with s as the key (its hash is kept
    # in the str: no allocation to look it up; an equal str has the same
    # length): a value read again costs no encode()
    n = _bl.get(s)
    if n is not None:
        return n
    n = len(s.encode())
    if len(_bl) >= _NB:
        _bl.clear()
    _bl[s] = n
    return n


def room(w, n):
    if w.i + n > w.end:
        raise Full


def put(w, v, n):
    # n bytes of str/bytes v at w.i
    room(w, n)
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


def ndig(x):
    # decimal digits of x >= 0
    n = 1
    while x >= 10:
        x //= 10
        n += 1
    return n


def put_dec(w, x):
    # x in decimal (a sign when negative)
    if x < 0:
        room(w, 1)
        w.buf[w.i] = 0x2D
        w.i += 1
        x = -x
    n = ndig(x)
    room(w, n)
    b = w.buf
    j = w.i + n
    w.i = j
    while n:
        j -= 1
        b[j] = 0x30 + x % 10
        x //= 10
        n -= 1


def move(b, src, dst, n):
    # b[dst:dst + n] = b[src:src + n] in place
    if dst < src:
        for k in range(n):
            b[dst + k] = b[src + k]
    else:
        for k in range(n - 1, -1, -1):
            b[dst + k] = b[src + k]


def next_key(d, last):
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
        iid = next_key(o.inst, iid)
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
        rid = r[_R_ID]
        if n > 2:
            if rid != path[2]:
                continue
        elif rid not in inst:
            continue
        if not r[_R_OPS] & R:
            if n > 2:
                raise CoapError(METHOD_NOT_ALLOWED)
            continue
        v = o.read(iid, rid)
        t = r[_R_TYPE]
        if r[_R_MULTI]:
            if n == 4:
                if path[3] not in v:
                    raise CoapError(NOT_FOUND)
                w.val(iid, rid, path[3], t, v[path[3]])
                continue
            ri = -1
            if v is None or next_key(v, ri) < 0:
                continue        # no instances: nothing (as the records give)
            w.multi(rid)
            while True:
                ri = next_key(v, ri)
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


# -- the TLV writer (the default format; its codec, client/tlv.py, is loaded
# only for TLV writes and floats) ------------------------------------------------
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
        room(self, h)
        s = self.i
        self.i += h
        return s

    def _close(self, s, t, ident):
        b = self.buf
        g = 3 + (ident > 255)
        n = self.i - s - g
        h = _tlvh(ident, n)
        if h != g:
            room(self, h - g)
            move(b, s + g, s + h, n)
            self.i += h - g
        _tlvput(b, s, t, ident, n)

    def inst(self, iid):
        self.ci = self._open(iid)
        self.iid = iid

    def close_inst(self):
        self._close(self.ci, _OBJ_INST, self.iid)

    def multi(self, rid):
        self.mi = self._open(rid)
        self.rid = rid

    def close_multi(self):
        self._close(self.mi, _MULTI, self.rid)

    def val(self, iid, rid, ri, t, v):
        if ri < 0:
            k, ident = _RES, rid
        else:
            k, ident = _RES_INST, ri
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
        room(self, _tlvh(ident, n) + n)
        i = self.i = _tlvput(b, self.i, k, ident, n)
        if t == STR or t == CORELNK or t == OPAQUE:
            put(self, v, n)
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


_W = {}     # content format -> its writer (made on first use)


def writer(acc):
    w = _W.get(acc)
    if w is None:
        if acc == FMT_TLV:
            w = Tlv
        elif acc == FMT_SENML_CBOR:
            from client.senmlw import SenmlW as w
        elif acc == FMT_SENML_JSON:
            from client.senmlw import JsonW as w
        elif acc == FMT_TEXT:
            from client.text import Text as w
        elif acc == FMT_OPAQUE:
            from client.text import Opaque as w
        else:
            return None
        w = _W[acc] = w()
    return w


def read(e, r, path, acc, srv=None):
    # the representation of path into r (Engine.render), written in place
    # into r's buffer when the format has a writer and it fits one block,
    # else through records; returns the content format
    o = e.exists(path)
    n = len(path)
    if acc is None:
        acc = e.c.fmt
        if n == 4 or n == 3 and not o.res(path[2])[_R_MULTI]:
            acc = FMT_OPAQUE if o.res(path[2])[_R_TYPE] == OPAQUE else FMT_TEXT
    wr = writer(acc)
    if wr:
        buf = r.home or bytearray(PAY + 1024)
        wr.start(path, buf, PAY, PAY + 1024)
        try:
            walk(e, o, path, srv, wr)
            r.pn = wr.done() - PAY
            r.pbuf = buf
            r.add(CONTENT_FORMAT, acc)
            return acc
        except Full:    # more than a block: records, block-wise
            pass
    r.payload, acc = e.encode(path, e.collect(path, srv), acc)
    r.add(CONTENT_FORMAT, acc)
    return acc


_paths = []     # recent request paths (tuples), reused: no tuple per request


def path_in(m):
    # the Uri-Path of a parsed request as a tuple of ids, digits read in place
    b = m.buf
    v0 = v1 = v2 = v3 = 0
    n = 0
    for k in range(m.no):
        if m.on[k] != URI_PATH:
            continue
        i, e = m.os[k], m.oe[k]
        if i == e or n == 4:
            raise CoapError(NOT_FOUND)
        v = 0
        while i < e:
            c = b[i] - 0x30
            if not 0 <= c <= 9:
                raise CoapError(NOT_FOUND)
            v = v * 10 + c
            i += 1
            if v > 65535:
                raise CoapError(NOT_FOUND)
        if n == 0:
            v0 = v
        elif n == 1:
            v1 = v
        elif n == 2:
            v2 = v
        else:
            v3 = v
        n += 1
    for p in _paths:
        if len(p) == n and (n < 1 or p[0] == v0) and (n < 2 or p[1] == v1) and (
                n < 3 or p[2] == v2) and (n < 4 or p[3] == v3):
            return p
    p = (v0, v1, v2, v3)[:n]
    if len(_paths) >= 16:
        _paths.pop(0)
    _paths.append(p)
    return p
