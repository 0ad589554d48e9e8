# OMA TLV content format (11542), LwM2M 1.1 core spec section 7.4.3.
# A TLV is: type byte, 8/16-bit identifier, 0..3-byte length, value.
# Type byte: bits 7-6 kind, bit 5 16-bit id, bits 4-3 size of the length
# field (0 = length in bits 2-0).
# Kinds: 0 Object Instance, 1 Resource Instance, 2 Multiple Resource
# (containers 0 and 2 hold further TLVs), 3 Resource with Value.
# This is the records codec (writes, composite, bootstrap); a Read renders
# TLV in place with render.Tlv, without loading this module.
import struct
from micropython import const
from client.codes import (CoapError, BAD_REQUEST, INTERNAL_SERVER_ERROR,
                          STR, INT, UINT, FLOAT, BOOL, TIME, OBJLNK, CORELNK)
from client.text import utf8

# index of a kind's identifier in a path (oid, iid, rid, riid)
_POS = b'\x01\x03\x02\x02'
_OBJ_INST = const(0x00)
_RES_INST = const(0x40)
_MULTI = const(0x80)
_RES = const(0xC0)


def _bad():
    return CoapError(BAD_REQUEST)


def _put(out, t, i, v):
    # append one TLV: type t, identifier i, value (or nested TLVs) v
    n = len(v)
    w = 2 if i > 255 else 1
    l = 0 if n < 8 else 1 if n < 256 else 2 if n < 65536 else 3
    out.append(t | (w - 1) << 5 | l << 3 | (0 if l else n))
    out += i.to_bytes(w, 'big')
    if l:
        out += n.to_bytes(l, 'big')
    out += v


def _ev(t, v):
    # Python value -> TLV value bytes
    if t == STR or t == CORELNK:
        return v.encode()
    if t == BOOL:
        return b'\x01' if v else b'\x00'
    if t == OBJLNK:
        return struct.pack('>HH', v[0], v[1])
    if t == FLOAT:
        # 4 bytes when the value survives single precision, else 8
        b = struct.pack('>f', v)
        return b if struct.unpack('>f', b)[0] == v else struct.pack('>d', v)
    if t == INT or t == TIME or t == UINT:
        # shortest of 1/2/4/8 bytes; signed two's complement, except
        # Unsigned Integer which is plain unsigned (LwM2M 1.1)
        s = t != UINT
        for n in (1, 2, 4, 8):
            m = 1 << 8 * n - s
            if -m * s <= v < m:
                return (v & (1 << 8 * n) - 1).to_bytes(n, 'big')
        raise CoapError(INTERNAL_SERVER_ERROR)
    return v  # OPAQUE: raw


def _el(out, recs, q):
    # encode records whose paths agree up to q; q: path index written here
    i = 0
    while i < len(recs):
        p, t, v = recs[i]
        r = p[q]
        if len(p) == q + 1:  # a value: Resource or Resource Instance
            _put(out, _RES if q == 2 else _RES_INST, r, _ev(t, v))
            i += 1
        else:  # a container: Object Instance or Multiple Resource
            j = i + 1
            while j < len(recs) and recs[j][0][q] == r:
                j += 1
            sub = bytearray()
            _el(sub, recs[i:j], q + 1)
            _put(out, _OBJ_INST if q == 1 else _MULTI, r, sub)
            i = j


def enc(recs, base):
    out = bytearray()
    # base /o: Object Instances; /o/i, /o/i/r: Resources; /o/i/r/ri: one
    # Resource Instance
    _el(out, recs, b'\x01\x02\x02\x03'[len(base) - 1])
    return bytes(out)


def _dv(t, b):
    # TLV value bytes -> Python value of resource type t
    n = len(b)
    if t == STR or t == CORELNK:
        return utf8(b)
    if t == INT or t == TIME or t == UINT:
        if n not in (1, 2, 4, 8):
            raise _bad()
        v = int.from_bytes(b, 'big')
        if t != UINT and v >> 8 * n - 1:  # negative
            v -= 1 << 8 * n
        return v
    if t == FLOAT:
        if n != 4 and n != 8:
            raise _bad()
        return struct.unpack('>f' if n == 4 else '>d', b)[0]
    if t == BOOL:
        if n != 1 or b[0] > 1:
            raise _bad()
        return b[0] == 1
    if t == OBJLNK:
        if n != 4:
            raise _bad()
        return struct.unpack('>HH', b)
    return bytes(b)  # OPAQUE (and anything else): raw


def _dl(b, i, end, p, lo, hi, typeof, out):
    # decode the TLVs in b[i:end]; p: path known so far; a TLV whose
    # identifier sits at path index lo..hi is allowed here: below len(p)
    # it must repeat the path (an enclosing TLV the request path already
    # names), at len(p) it extends it, at len(p) + 1 it skips an unknown
    # instance id (Resources written to an Object: iid None)
    while i < end:
        t = b[i]
        k = i + 2 + (t >> 5 & 1)  # after type and identifier
        l = t >> 3 & 3
        s = k + l  # value start
        if s > end:
            raise _bad()
        r = int.from_bytes(b[i + 1:k], 'big')
        i = s + (int.from_bytes(b[k:s], 'big') if l else t & 7)
        if i > end:
            raise _bad()
        t >>= 6
        q = _POS[t]
        if not lo <= q <= hi:
            raise _bad()
        if q < len(p):
            if p[q] != r:
                raise _bad()
            pp = p[:q + 1]
        else:
            pp = (p + (None,))[:q] + (r,)
        if t & 1:  # a value
            out.append((pp, _dv(typeof(pp[:3]), b[s:i])))
        else:
            _dl(b, s, i, pp, q + 1, q + 1, typeof, out)


def dec(payload, base, typeof):
    b = memoryview(payload)
    out = []
    n = len(base)
    _dl(b, 0, len(b), tuple(base), n - 1, n if n > 2 else 2, typeof, out)
    return out
