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
