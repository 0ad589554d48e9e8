# LwM2M CBOR (content format 11544, OMA LwM2M Core 1.2 §7.4.6): the values
# as a tree of CBOR maps keyed by path ids from the root, e.g. a Read of
# /3/0 -> {3: {0: {0: "maker", 9: 95}}}. A key may also be an array of ids
# standing for several levels ({[3, 0]: {...}}); the writer uses one for a
# chain of single children. Leaves: integers, floats, booleans, text
# (string, core link, object link "oid:iid"), byte strings (opaque), time as
# tag 1 over an integer. Loaded only when a server asks for the format.
from client import cbor
from client.codes import (CoapError, BAD_REQUEST, NONE, STR, INT, UINT, FLOAT,
                          BOOL, OPAQUE, TIME, OBJLNK, CORELNK)


def _leaf(out, ty, v):
    if ty == TIME:
        out.append(0xC1)            # tag 1: seconds since the epoch
    elif ty == OBJLNK:
        v = "%d:%d" % v
    cbor._enc(out, v)


def _tree(recs):
    # {id: subtree | (type, value)}
    root = {}
    for p, ty, v in recs:
        if v is None or ty == NONE:
            continue
        d = root
        for x in p[:-1]:
            d = d.setdefault(x, {})
        d[p[-1]] = (ty, v)
    return root


def _map(out, d):
    cbor._head(out, 5, len(d))
    for k in sorted(d):
        v = d[k]
        ks = [k]
        while type(v) is dict and len(v) == 1:     # a chain: one array key
            for k2 in v:
                ks.append(k2)
                v = v[k2]
        cbor._enc(out, ks[0] if len(ks) == 1 else ks)
        if type(v) is dict:
            _map(out, v)
        else:
            _leaf(out, v[0], v[1])


def enc(recs, base):
    out = bytearray()
    _map(out, _tree(recs))
    return bytes(out)


def _val(t, v):
    if t == OBJLNK:
        if type(v) is not str:
            raise CoapError(BAD_REQUEST)
        a = v.split(":")
        if len(a) != 2 or not (a[0].isdigit() and a[1].isdigit()):
            raise CoapError(BAD_REQUEST)
        return int(a[0]), int(a[1])
    ok = {STR: str, CORELNK: str, BOOL: bool, OPAQUE: bytes}.get(t)
    if ok:
        if type(v) is not ok:
            raise CoapError(BAD_REQUEST)
    elif t in (INT, UINT, TIME):
        if type(v) is not int:
            raise CoapError(BAD_REQUEST)
    elif t == FLOAT:
        if type(v) not in (int, float):
            raise CoapError(BAD_REQUEST)
        v = float(v)
    else:
        raise CoapError(BAD_REQUEST)
    return v


def _walk(d, pre, out, typeof, base):
    if type(d) is not dict:
        raise CoapError(BAD_REQUEST)
    for k, v in d.items():
        p = pre + (k if type(k) is tuple else (k,))
        for x in p[len(pre):]:
            if type(x) is not int or not 0 <= x <= 65535:
                raise CoapError(BAD_REQUEST)
        if len(p) > 4:
            raise CoapError(BAD_REQUEST)
        if type(v) is dict:
            _walk(v, p, out, typeof, base)
            continue
        if len(p) < 3 or p[:len(base)] != tuple(base):
            raise CoapError(BAD_REQUEST)
        out.append((p, _val(typeof(p[:3]), v)))


def dec(payload, base, typeof):
    # -> [(full path, value)], each checked against its resource type
    out = []
    _walk(cbor.loads(payload), (), out, typeof, base)
    return out
