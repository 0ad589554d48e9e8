# SenML content formats (RFC 8428) as used by LwM2M 1.1:
# SenML JSON (110) and SenML CBOR (112).
#
# A record's name is its base name "bn" (sticky: it applies to the following
# records until changed) followed by "n"; for LwM2M the result is a path
# like "/3/0/7/1". Values: "v" number (integer, float, time), "vs" string
# (string, core link), "vb" boolean, "vd" opaque (base64url without padding
# in JSON, byte string in CBOR), "vlo" object link "oid:iid". SenML CBOR
# uses the integer labels of RFC 8428; "vlo" stays a text key.
import json
from micropython import const
from binascii import a2b_base64, b2a_base64
from client import cbor
from client.render import Writer, room, put, ndig, put_dec, move, blen
from client.codes import (CoapError, BAD_REQUEST, FMT_SENML_CBOR, NONE, STR,
                          UINT, FLOAT, BOOL, OPAQUE, OBJLNK,
                          CORELNK)

_DEPTH = const(2)    # JSON: an array of flat records, nothing nested deeper

# RFC 8428 CBOR labels
_CB = {"bn": -2, "bt": -3, "n": 0, "v": 2, "vs": 3, "vb": 4, "vd": 8, "t": 6}
_BC = {v: k for k, v in _CB.items()}
# value label of each resource type (indexed by type)
_VL = (None, "vs", "v", "v", "v", "vb", "vd", "v", "vlo", "vs")


def _b64e(b):
    # base64url without padding
    s = str(b2a_base64(b), "ascii").rstrip("\n=")
    return s.replace("+", "-").replace("/", "_")


def _b64d(s):
    s = s.rstrip("=")
    b = a2b_base64(s.replace("-", "+").replace("_", "/") + "=" * (-len(s) % 4))
    # the decoder skips stray characters: insist on canonical text
    if _b64e(b) != s:
        raise CoapError(BAD_REQUEST)
    return b


def enc(recs, base, fmt, t=None):
    # recs: [(full path, type, value)]; base: request path. The first record
    # carries bn = base path + "/" and n the rest ("0", "7/1"); a record at
    # the base path itself gets bn = its path and no n. t -> "bt" (Send).
    # Note: JSON has no form for inf/NaN floats; CBOR carries them.
    js = fmt != FMT_SENML_CBOR
    pre = "/" + "".join("%d/" % x for x in base)
    cur = None
    out = []
    for p, ty, v in recs:
        n = "/".join(str(x) for x in p[len(base):])
        r = []
        b = pre if n else pre[:-1]
        if b != cur:
            r.append(("bn", b))
            cur = b
        if t is not None and not out:
            r.append(("bt", t))
        if n:
            r.append(("n", n))
        if v is not None and ty != NONE:
            if ty == OBJLNK:
                v = "%d:%d" % v
            elif ty == OPAQUE and js:
                v = _b64e(v)
            r.append((_VL[ty], v))
        out.append(r)
    if js:
        # built by hand: compact, and "bn" stays first
        return ("[" + ",".join("{" + ",".join('"%s":%s' % (k, json.dumps(v))
                for k, v in r) + "}" for r in out) + "]").encode()
    return cbor.dumps([{_CB.get(k, k): v for k, v in r} for r in out])


def enc_send(recs, fmt, t=None):
    # Send (and other multi-object payloads): names relative to the longest
    # path prefix common to all records, optional base time t in "bt".
    c = recs[0][0] if recs else ()
    for p, _, _ in recs:
        while p[:len(c)] != c:
            c = c[:-1]
    return enc(recs, c, fmt, t)


def _id(x):
    # one numeric id (65535 is allowed: "65535:65535" is the null link)
    if not x.isdigit() or int(x) > 65535:
        raise CoapError(BAD_REQUEST)
    return int(x)


def _path(s):
    # "/3/0/7/1" -> (3, 0, 7, 1); 1..4 levels
    a = s.split("/")
    if a[0] or not 1 < len(a) < 6:
        raise CoapError(BAD_REQUEST)
    return tuple(_id(x) for x in a[1:])


def _flat(b):
    # SenML JSON nests [ { } ] and no deeper: refuse more before parsing,
    # an explicit bound (no deep structure built on a small heap or stack)
    d = 0
    q = esc = False
    for ch in b:
        if q:
            if esc:
                esc = False
            elif ch == 0x5C:    # backslash
                esc = True
            elif ch == 0x22:
                q = False
        elif ch == 0x22:        # a string starts
            q = True
        elif ch == 0x5B or ch == 0x7B:
            d += 1
            if d > _DEPTH:
                raise CoapError(BAD_REQUEST)
        elif ch == 0x5D or ch == 0x7D:
            d -= 1
    return b


def _load(payload, fmt):
    # -> [(path, record with text labels)]; bn is resolved
    if fmt == FMT_SENML_CBOR:
        a = cbor.loads(payload)
    else:
        a = json.loads(cbor.utf8(_flat(bytes(payload))))
    if type(a) is not list:
        raise CoapError(BAD_REQUEST)
    bn = ""
    out = []
    for r in a:
        if fmt == FMT_SENML_CBOR:
            r = {_BC.get(k, k): v for k, v in r.items()}
        for k in r:
            # labels ending in "_" must be understood: we know none
            if type(k) is str and k[-1:] == "_":
                raise CoapError(BAD_REQUEST)
        bn = r.get("bn", bn)
        if "vd" in r and fmt != FMT_SENML_CBOR:
            r["vd"] = _b64d(r["vd"])
        out.append((_path(bn + r.get("n", "")), r))
    return out


def _val(p, r, typeof):
    if not any(k in r for k in ("v", "vs", "vb", "vd", "vlo")):
        return None  # a name without value (Read-Composite, FETCH)
    if len(p) < 3:
        raise CoapError(BAD_REQUEST)
    t = typeof(p[:3])
    if not 0 < t < 10:
        raise CoapError(BAD_REQUEST)
    v = r[_VL[t]]
    if t == STR or t == CORELNK:
        ok = type(v) is str
    elif t == BOOL:
        ok = type(v) is bool
    elif t == OPAQUE:
        ok = type(v) is bytes
    elif t == OBJLNK:
        v = tuple(_id(x) for x in v.split(":"))
        ok = len(v) == 2
    else:
        ok = type(v) in (int, float)
        if t == FLOAT:
            v = float(v)
        elif ok:
            # INT, UINT, TIME: integral numbers only, 64-bit range
            n = int(v)
            lo = 0 if t == UINT else -(1 << 63)
            ok = n == v and lo <= n < lo + (1 << 64)
            v = n
    if not ok:
        raise CoapError(BAD_REQUEST)
    return v


def _guard(f):
    try:
        return f()
    except CoapError:
        raise
    except Exception:
        # bad JSON/UTF-8/base64, wrong types, missing value label...
        raise CoapError(BAD_REQUEST)


def dec(payload, base, typeof, fmt):
    # -> [(full path, value)]. typeof((oid, iid, rid)) gives the resource
    # type (and may raise its own CoapError). Records outside base, or with
    # a value that does not fit the type, are refused with 4.00.
    def f():
        out = []
        for p, r in _load(payload, fmt):
            if p[:len(base)] != tuple(base):
                raise CoapError(BAD_REQUEST)
            out.append((p, _val(p, r, typeof)))
        return out
    return _guard(f)


def dec_paths(payload, fmt):
    # names only (Read-/Observe-Composite requests); values are ignored
    return _guard(lambda: [p for p, _ in _load(payload, fmt)])


# -- the SenML CBOR writer of the Read path (client/render.py walks, this writes in place)
def _head(w, mt, n):
    if n < 24:
        room(w, 1)
        w.buf[w.i] = mt << 5 | n
        w.i += 1
        return
    k = 1 if n < 256 else 2 if n < 65536 else 4 if n < 4294967296 else 8
    room(w, 1 + k)
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
        n += ndig(p[k])
    return n


class SenmlW(Writer):
    # SenML CBOR (112) written in place: an array of maps {bn, n, value}
    def start(self, path, buf, i, end):
        Writer.start(self, path, buf, i, end)
        self.a = i          # the array head, fixed in done()
        self.n = 0
        room(self, 1)
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
            room(self, 1)
            b[self.i] = 0x21            # -2
            self.i += 1
            ln = 1 + _path_len(p, 0, np) + (0 if at_base else 1)
            _head(self, 3, ln)
            for k in range(np):
                room(self, 1)
                b[self.i] = 0x2F
                self.i += 1
                put_dec(self, p[k])
            if not at_base:
                room(self, 1)
                b[self.i] = 0x2F
                self.i += 1
        if not at_base:
            room(self, 1)
            b[self.i] = 0x00            # n
            self.i += 1
            ln = full - np - 1
            for k in range(np, full):
                ln += ndig(iid if k == 1 else rid if k == 2 else ri)
            _head(self, 3, ln)
            for k in range(np, full):
                if k > np:
                    room(self, 1)
                    b[self.i] = 0x2F
                    self.i += 1
                put_dec(self, iid if k == 1 else rid if k == 2 else ri)
        if v is None:
            self.n += 1
            return
        room(self, 4)
        i = self.i
        if t == STR or t == CORELNK:
            b[i] = 0x03
            self.i = i + 1
            n = blen(v)
            _head(self, 3, n)
            put(self, v, n)
        elif t == BOOL:
            b[i] = 0x04
            b[i + 1] = 0xF5 if v else 0xF4
            self.i = i + 2
        elif t == OPAQUE:
            b[i] = 0x08
            self.i = i + 1
            _head(self, 2, len(v))
            put(self, v, len(v))
        elif t == OBJLNK:
            b[i] = 0x63
            b[i + 1] = 0x76     # "vlo"
            b[i + 2] = 0x6C
            b[i + 3] = 0x6F
            self.i = i + 4
            _head(self, 3, ndig(v[0]) + 1 + ndig(v[1]))
            put_dec(self, v[0])
            room(self, 1)
            b[self.i] = 0x3A
            self.i += 1
            put_dec(self, v[1])
        elif t == FLOAT:
            from client import cbor
            x = cbor.dumps(v)   # shortest exact float (allocates)
            b[i] = 0x02
            self.i = i + 1
            put(self, x, len(x))
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
            room(self, k - 1)
            move(self.buf, self.a + 1, self.a + k, self.i - self.a - 1)
            self.i += k - 1
            j = self.i
            self.i = self.a
            _head(self, 4, n)
            self.i = j
        else:
            self.buf[self.a] = 0x80 | n
        return self.i
