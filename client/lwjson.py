# OMA LwM2M JSON (content format 11543, OMA LwM2M Core 1.1 §7.4.5): a base
# name and an array of entries, e.g. a Read of /3/0 ->
# {"bn":"/3/0/","e":[{"n":"0","sv":"maker"},{"n":"9","v":95}]}. Entry
# values: "v" number (integer, float, time), "bv" boolean, "sv" string
# (string, core link, opaque in base64), "ov" object link "oid:iid".
# Loaded only when a server asks for the format.
import json
from micropython import const
from binascii import a2b_base64, b2a_base64
from client.codes import (CoapError, BAD_REQUEST, NONE, STR, INT, UINT, FLOAT,
                          BOOL, OPAQUE, TIME, OBJLNK, CORELNK)

_DEPTH = const(3)   # {"e": [{...}]}: deeper nesting is refused before parsing


def enc(recs, base):
    bn = "/" + "".join("%d/" % x for x in base)
    e = []
    for p, ty, v in recs:
        if v is None or ty == NONE:
            continue
        n = "/".join(str(x) for x in p[len(base):])
        if ty == BOOL:
            k = '"bv":' + ("true" if v else "false")
        elif ty == OBJLNK:
            k = '"ov":"%d:%d"' % v
        elif ty == OPAQUE:
            k = '"sv":"%s"' % str(b2a_base64(v), "ascii").rstrip("\n")
        elif ty in (STR, CORELNK):
            k = '"sv":' + json.dumps(v)
        else:
            k = '"v":' + json.dumps(v)
        e.append('{"n":"%s",%s}' % (n, k) if n else "{" + k + "}")
    return ('{"bn":"%s","e":[%s]}' % (bn, ",".join(e))).encode()


def _depth(b):
    # bracket depth outside strings, so json.loads never recurses deeply
    d = 0
    s = False
    esc = False
    for c in b:
        if s:
            if esc:
                esc = False
            elif c == 0x5C:
                esc = True
            elif c == 0x22:
                s = False
        elif c == 0x22:
            s = True
        elif c in (0x5B, 0x7B):
            d += 1
            if d > _DEPTH:
                raise CoapError(BAD_REQUEST)
        elif c in (0x5D, 0x7D):
            d -= 1


def _id(x):
    if not x.isdigit() or int(x) > 65535:
        raise CoapError(BAD_REQUEST)
    return int(x)


def _val(t, e):
    if t == BOOL:
        v = e["bv"]
        ok = type(v) is bool
    elif t == OBJLNK:
        a = e["ov"].split(":")
        if len(a) != 2:
            raise CoapError(BAD_REQUEST)
        return _id(a[0]), _id(a[1])
    elif t in (STR, CORELNK):
        v = e["sv"]
        ok = type(v) is str
    elif t == OPAQUE:
        v = a2b_base64(e["sv"])
        ok = True
    elif t == FLOAT:
        v = e["v"]
        ok = type(v) in (int, float)
        v = float(v) if ok else v
    elif t in (INT, UINT, TIME):
        v = e["v"]
        ok = type(v) in (int, float) and int(v) == v
        v = int(v) if ok else v
    else:
        ok = False
    if not ok:
        raise CoapError(BAD_REQUEST)
    return v


def dec(payload, base, typeof):
    # -> [(full path, value)], each checked against its resource type
    try:
        b = bytes(payload)
        _depth(b)
        d = json.loads(str(b, "utf-8"))
        bn = d.get("bn", "")
        out = []
        for e in d["e"]:
            s = bn + e.get("n", "")
            a = s.split("/")
            if a[0] or not 1 < len(a) < 6 or a[-1] == "":
                raise CoapError(BAD_REQUEST)
            p = tuple(_id(x) for x in a[1:])
            if len(p) < 3 or p[:len(base)] != tuple(base):
                raise CoapError(BAD_REQUEST)
            out.append((p, _val(typeof(p[:3]), e)))
        return out
    except CoapError:
        raise
    except Exception:
        # bad JSON/UTF-8/base64, missing keys, wrong container types
        raise CoapError(BAD_REQUEST)
