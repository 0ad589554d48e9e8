# Plain text (content format 0) and opaque (42): one value of a single
# Resource or Resource Instance (LwM2M 1.1 core spec 7.4.1, 7.4.2).
# Text: numbers in decimal, booleans "0"/"1", Objlnk "oid:iid", Opaque
# in base64.
import re
from binascii import a2b_base64, b2a_base64
from client.render import Writer, room, put, put_dec, blen
from client.codes import (CoapError, BAD_REQUEST, NOT_ACCEPTABLE,
                          UNSUPPORTED_CONTENT_FORMAT, STR, INT, UINT, FLOAT,
                          BOOL, OPAQUE, TIME, OBJLNK, CORELNK)


def _bad():
    return CoapError(BAD_REQUEST)


def utf8(b):
    # strict UTF-8 -> str; the port's decoder lets overlong forms,
    # surrogates and code points above U+10FFFF through, so check each
    # non-ASCII character re-encodes to itself
    b = bytes(b)
    try:
        s = str(b, 'utf-8')
    except UnicodeError:
        raise _bad()
    if len(s) != len(b):
        for c in s:
            o = ord(c)
            if 0xD7FF < o < 0xE000 or o > 0x10FFFF or chr(o) != c:
                raise _bad()
    return s


def _one(recs, base):
    # the single record of a request on a single value, else 4.06
    if len(recs) != 1 or len(recs[0][0]) != len(base):
        raise CoapError(NOT_ACCEPTABLE)
    return recs[0]


def enc(recs, base):
    _, t, v = _one(recs, base)
    if t == STR or t == CORELNK:
        return v.encode()
    if t == OPAQUE:
        return b2a_base64(v, newline=False)
    if t == BOOL:
        return b'1' if v else b'0'
    if t == OBJLNK:
        v = '%d:%d' % v
    elif t == FLOAT:
        v = repr(v)  # shortest form that reads back to the same float
    return str(v).encode()  # INT, UINT, TIME


def _int(s, lo, hi):
    if not re.match(r'-?\d+$' if lo else r'\d+$', s):
        raise _bad()
    v = int(s)
    if not lo <= v < hi:
        raise _bad()
    return v


def dec(payload, base, typeof):
    if len(base) < 3:
        raise CoapError(UNSUPPORTED_CONTENT_FORMAT)
    t = typeof(base[:3])
    s = utf8(payload)
    if t == INT or t == TIME:
        v = _int(s, -1 << 63, 1 << 63)
    elif t == UINT:
        v = _int(s, 0, 1 << 64)
    elif t == FLOAT:
        if not re.match(r'-?\d+(\.\d+)?([eE][-+]?\d+)?$', s):
            raise _bad()
        v = float(s)
        if v - v:  # out of range: inf - inf is nan
            raise _bad()
    elif t == BOOL:
        if s != '0' and s != '1':
            raise _bad()
        v = s == '1'
    elif t == OBJLNK:
        o, c, i = s.partition(':')
        v = (_int(o, 0, 65536), _int(i, 0, 65536))
        if not c:
            raise _bad()
    elif t == OPAQUE:
        # base64 with padding; only the canonical form (re-encodes the same)
        try:
            v = a2b_base64(s)
        except ValueError:
            raise _bad()
        if b2a_base64(v, newline=False) != s.encode():
            raise _bad()
    else:  # STR, CORELNK
        v = s
    return [(base, v)]


def enc_opaque(recs, base):
    _, t, v = _one(recs, base)
    if t != OPAQUE:
        raise CoapError(NOT_ACCEPTABLE)
    return bytes(v)


def dec_opaque(payload, base, typeof):
    if len(base) < 3 or typeof(base[:3]) != OPAQUE:
        raise CoapError(UNSUPPORTED_CONTENT_FORMAT)
    return [(base, bytes(payload))]


# -- text and opaque writers of the Read path: one value (client/render.py)
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
            put(self, v, blen(v))
        elif t == BOOL:
            room(self, 1)
            self.buf[self.i] = 0x31 if v else 0x30
            self.i += 1
        elif t == OBJLNK:
            put_dec(self, v[0])
            room(self, 1)
            self.buf[self.i] = 0x3A
            self.i += 1
            put_dec(self, v[1])
        elif t == INT or t == UINT or t == TIME:
            put_dec(self, v)
        else:   # FLOAT, OPAQUE (base64): the text codec (allocates)
            x = enc([((0,) * len(self.path), t, v)], self.path)
            put(self, x, len(x))

    def done(self):
        if not self.n:
            raise CoapError(NOT_ACCEPTABLE)
        return self.i


class Opaque(Text):
    def val(self, iid, rid, ri, t, v):
        if self.n or t != OPAQUE or (4 if ri >= 0 else 3) != len(self.path):
            raise CoapError(NOT_ACCEPTABLE)
        self.n = 1
        put(self, v, len(v))
