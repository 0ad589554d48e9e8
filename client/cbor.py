# Minimal CBOR codec (RFC 8949) for the content formats.
#
# dumps(): int (64-bit), float, str, bytes, bool, None, list/tuple, dict.
#   Floats use the shortest of half/single/double that gives the value back
#   exactly (NaN is always the 3 byte half 0xf97e00); definite lengths only.
# loads(): also accepts indefinite lengths, half floats, tags (the tag number
#   is dropped, the tagged item kept) and simple values (unassigned ones and
#   'undefined' give None). Malformed or truncated input, trailing bytes,
#   invalid UTF-8, duplicate map keys or nesting deeper than _DEPTH raise
#   CoapError(4.00).
import struct
from micropython import const
from client.codes import CoapError, BAD_REQUEST, INTERNAL_SERVER_ERROR

_DEPTH = const(8)  # arrays/maps/tags nested deeper are refused (small stack)
_BREAK = const(0xFF)  # ends an indefinite-length item


def _head(out, mt, n):
    # initial byte: major type in the top 3 bits, then the argument n either
    # in the low 5 bits (< 24) or in the following 1/2/4/8 bytes (ai 24..27)
    if n < 24:
        out.append(mt << 5 | n)
        return
    ai = 24
    k = 1
    while n >> (k << 3):
        ai += 1
        k <<= 1
    if ai > 27:
        raise CoapError(INTERNAL_SERVER_ERROR)
    out.append(mt << 5 | ai)
    out.extend(n.to_bytes(k, "big"))


def _enc(out, o):
    if o is False or o is True or o is None:
        # simple values 20, 21, 22
        out.append(0xF5 if o is True else 0xF6 if o is None else 0xF4)
    elif type(o) is int:
        # major type 1 holds -1 - n
        _head(out, 1, ~o) if o < 0 else _head(out, 0, o)
    elif type(o) is float:
        if o != o:
            out.extend(b"\xf9\x7e\x00")
            return
        for ai, f in ((25, ">e"), (26, ">f"), (27, ">d")):
            p = struct.pack(f, o)
            if ai == 27 or struct.unpack(f, p)[0] == o:
                out.append(0xE0 | ai)
                out.extend(p)
                return
    elif type(o) in (str, bytes, bytearray, memoryview):
        t = type(o) is str
        o = o.encode() if t else o
        _head(out, 2 + t, len(o))
        out.extend(o)
    elif type(o) in (list, tuple):
        _head(out, 4, len(o))
        for x in o:
            _enc(out, x)
    elif type(o) is dict:
        _head(out, 5, len(o))
        for k, v in o.items():
            _enc(out, k)
            _enc(out, v)
    else:
        raise CoapError(INTERNAL_SERVER_ERROR)


def dumps(obj):
    out = bytearray()
    _enc(out, obj)
    return bytes(out)


def utf8(b):
    # strict UTF-8 -> str. The port's decoder checks the byte structure only
    # (overlong forms, surrogates, code points past U+10FFFF get through):
    # such characters do not re-encode to themselves.
    s = str(b, "utf-8")
    if len(s) != len(b):
        for c in s:
            o = ord(c)
            if 0xD7FF < o < 0xE000 or o > 0x10FFFF or chr(o) != c:
                raise UnicodeError
    return s


def _item(b, i, d):
    # decode the item at b[i]; return (value, index after it). Reading past
    # the end raises IndexError, short reads are caught by the final length
    # check in loads().
    if d > _DEPTH:
        raise CoapError(BAD_REQUEST)
    mt = b[i] >> 5
    ai = b[i] & 31
    i += 1
    if ai < 24:
        n = ai
    elif ai < 28:
        k = 1 << (ai - 24)
        if mt == 7 and ai > 24:
            # half, single or double precision float
            return struct.unpack(">" + "efd"[ai - 25], b[i:i + k])[0], i + k
        n = int.from_bytes(b[i:i + k], "big")
        i += k
    elif ai == 31 and 1 < mt < 6:
        n = None  # indefinite length
    else:
        # reserved ai 28..30, misplaced break, indefinite int/tag
        raise CoapError(BAD_REQUEST)
    if mt == 0:
        return n, i
    if mt == 1:
        return -1 - n, i
    if mt < 4:
        if n is None:
            # indefinite string: definite chunks of the same major type
            parts = []
            while b[i] != _BREAK:
                if b[i] >> 5 != mt or b[i] & 31 == 31:
                    raise CoapError(BAD_REQUEST)
                v, i = _item(b, i, d)
                parts.append(v)
            return ("" if mt == 3 else b"").join(parts), i + 1
        v = b[i:i + n]
        return (utf8(v) if mt == 3 else v), i + n
    if mt == 4:
        a = []
        while b[i] != _BREAK if n is None else len(a) < n:
            v, i = _item(b, i, d + 1)
            a.append(v)
        return a, i + (n is None)
    if mt == 5:
        m = {}
        c = 0
        while b[i] != _BREAK if n is None else c < n:
            k, i = _item(b, i, d + 1)
            if type(k) is list:
                k = tuple(k)    # an array as a key (LwM2M CBOR path fragments)
            if k in m:
                raise CoapError(BAD_REQUEST)
            m[k], i = _item(b, i, d + 1)
            c += 1
        return m, i + (n is None)
    if mt == 6:
        return _item(b, i, d + 1)  # tag: keep the content only
    # simple values: false, true, null; undefined and unassigned give None
    if ai == 24 and n < 32:
        raise CoapError(BAD_REQUEST)
    return (False, True)[n - 20] if 19 < n < 22 else None, i


def loads(buf):
    try:
        b = bytes(buf)
        v, i = _item(b, 0, 0)
        if i == len(b):
            return v
    except CoapError:
        raise
    except Exception:
        # IndexError (truncated), ValueError/UnicodeError (bad float/text),
        # TypeError (unhashable key), MemoryError, RuntimeError (recursion)
        pass
    raise CoapError(BAD_REQUEST)
