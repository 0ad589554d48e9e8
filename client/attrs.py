# Write-Attributes (transport spec §6.4.4, core spec §5.1.2): the
# notification attributes a server writes on a path, checked and kept in the
# Reporter (client/report.py), and their link-format text for Discover.
# Loaded on the first such request (RAM).
from client.engine import pstr
from client.codes import BAD_REQUEST, CoapError, FLOAT, INT, TIME, UINT

_NUM = (INT, UINT, FLOAT, TIME)
_PERIODS = ("pmin", "pmax", "epmin", "epmax")


def write(rep, path, qs, srv):
    # qs: the Uri-Query strings ("pmin=10", "gt=20.5", a bare "st" unsets it)
    new = dict(rep.attrs.get((srv.ssid, path), {}))
    for q in qs:
        k, eq, v = q.partition("=")
        if k not in _PERIODS and k not in ("gt", "lt", "st"):
            raise CoapError(BAD_REQUEST)
        if not eq:
            new.pop(k, None)        # a bare key unsets it
            continue
        try:
            v = int(v) if k in _PERIODS else float(v)
        except ValueError:
            raise CoapError(BAD_REQUEST)
        if k in _PERIODS and v < 0 or k == "st" and v <= 0:
            raise CoapError(BAD_REQUEST)
        if k in ("gt", "lt", "st") and (len(path) < 3 or rep.c.engine.typeof(path) not in _NUM):
            raise CoapError(BAD_REQUEST)     # thresholds: numeric resources only
        new[k] = v
    # consistency (LwM2M core): lt < gt, lt + 2 st < gt, pmin <= pmax, epmin <= epmax
    g = new.get
    if (g("lt") is not None and g("gt") is not None
            and (g("lt") >= g("gt") or g("lt") + 2 * g("st", 0) >= g("gt"))):
        raise CoapError(BAD_REQUEST)
    if g("pmax") and g("pmin", 0) > g("pmax") or g("epmax") and g("epmin", 0) > g("epmax"):
        raise CoapError(BAD_REQUEST)
    if new:
        rep.attrs[(srv.ssid, path)] = new
    else:
        rep.attrs.pop((srv.ssid, path), None)
    rep.stale()
    rep.c.log("attributes", pstr(path), qs)


def text(rep, path, srv):
    # ";pmin=10;gt=20.5" for Discover ("" when none)
    x = rep.attrs.get((srv.ssid, path))
    if not x:
        return ""
    return "".join(";%s=%s" % (k, ("%g" % v) if isinstance(v, float) else v) for k, v in sorted(x.items()))
