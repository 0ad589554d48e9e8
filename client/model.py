# LwM2M data model: an object is declared once as a resource table, the
# engine derives listings, operation and type checks from it.
from client.codes import (CoapError, NOT_FOUND, BAD_REQUEST,
                          STR, INT, UINT, FLOAT, BOOL, OPAQUE, TIME, OBJLNK, CORELNK)


class Obj:
    ID = 0
    VER = None      # object version when not 1.0, e.g. "1.1"
    MULTI = True    # several instances allowed
    # (rid, ops, type, multiple, mandatory[, rng]); ops: R/W/E bit set;
    # rng: the allowed values (see inrange), checked on every Write
    RES = ()

    def __init__(self):
        self.inst = {}          # iid -> {rid: value | {riid: value}}
        self.client = None      # set by the registry

    def res(self, rid):
        for r in self.RES:
            if r[0] == rid:
                return r
        raise CoapError(NOT_FOUND)

    def get(self, iid):
        i = self.inst.get(iid)
        if i is None:
            raise CoapError(NOT_FOUND)
        return i

    def rids(self, iid):
        # present resources of an instance, in table order
        i = self.get(iid)
        return [r[0] for r in self.RES if r[0] in i]

    def typeof(self, rid):
        return self.res(rid)[2]

    # -- operations; object modules override for dynamic behaviour --
    def read(self, iid, rid):
        # value, or {riid: value} for a multiple resource
        i = self.get(iid)
        if rid not in i:
            raise CoapError(NOT_FOUND)
        return i[rid]

    def write(self, iid, rid, val, riid=None):
        i = self.get(iid)
        if riid is None:
            i[rid] = val
        else:
            m = i.get(rid)
            if not isinstance(m, dict):
                i[rid] = m = {}
            m[riid] = val

    def execute(self, iid, rid, arg):
        pass

    def create(self, iid):
        # a new instance with the defaults of the object
        if iid in self.inst or (not self.MULTI and self.inst):
            raise CoapError(BAD_REQUEST)
        self.inst[iid] = self.defaults(iid)

    def defaults(self, iid):
        return {}

    def delete(self, iid):
        self.get(iid)
        del self.inst[iid]

    def free_iid(self):
        i = 0
        while i in self.inst:
            i += 1
        return i


def check(t, v):
    # validate a decoded value against a resource type -> 4.00 when it does
    # not fit. t may be a whole RES row: then its range (6th field) counts
    # too. The engine calls this for every Write (DM, composite, bootstrap):
    # the one place where values are refused.
    rng = None
    if type(t) is tuple:
        rng = t[5] if len(t) > 5 else None
        t = t[2]
    ok = True
    if t in (INT, TIME):
        ok = isinstance(v, int) and not isinstance(v, bool) and -(1 << 63) <= v < (1 << 63)
    elif t == UINT:
        ok = isinstance(v, int) and not isinstance(v, bool) and 0 <= v < (1 << 64)
    elif t == FLOAT:
        ok = isinstance(v, (float, int)) and not isinstance(v, bool)
    elif t == BOOL:
        ok = isinstance(v, bool)
    elif t in (STR, CORELNK):
        ok = isinstance(v, str)
    elif t == OPAQUE:
        ok = isinstance(v, (bytes, bytearray))
    elif t == OBJLNK:
        ok = isinstance(v, tuple) and len(v) == 2
    if ok and rng is not None:
        ok = inrange(rng, v)
    if not ok:
        raise CoapError(BAD_REQUEST)
    return float(v) if t == FLOAT else v


def inrange(rng, v):
    # rng: (lo, hi) inclusive for numbers (None: open); for strings and
    # opaque an int maximum length, or a str of the allowed characters
    # (a non-empty value made of them, e.g. the binding "UTSNQ")
    if type(rng) is tuple:
        return (rng[0] is None or v >= rng[0]) and (rng[1] is None or v <= rng[1])
    if type(rng) is int:
        return len(v) <= rng
    if not v:
        return False
    for ch in v:
        if ch not in rng:
            return False
    return True
