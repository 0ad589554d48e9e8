# The application API. An application declares its objects once (a RES
# table, as the built-in ones) and hooks callbacks on resources:
#
#   from client.app import Client, Obj, RW, E, BOOL, NONE
#   class Valve(Obj):
#       ID = 33000
#       RES = ((0, RW, BOOL, 0, 1), (1, E, NONE, 0, 0))
#   v = Valve(1)                       # one instance (0), values at their type's zero
#   @v.on_write(0)
#   def opened(iid, value): ...        # value already typed (bool here)
#   c = Client(endpoint="dev1", server="coap://192.0.2.1:5683")
#   c.add(v)
#   c.run()                            # or c.step()/c.next_step_ms(), or await c.serve()
#
# A callback that raises gives 5.00 for that request only (the engine logs
# it); an application timer (c.at) that raises is logged and not rescheduled.
from client.model import Obj as _Obj
from client.codes import (CoapError, BAD_REQUEST, R, W, RW, E, NONE, STR, INT,  # noqa: F401
                          UINT, FLOAT, BOOL, OPAQUE, TIME, OBJLNK)

# the zero of each resource type, indexed by type (NONE, STR, INT, UINT, FLOAT, BOOL,
# OPAQUE, TIME, OBJLNK, CORELNK): a constant tuple (frozen: in flash, not a dict in RAM)
_ZERO = (None, "", 0, 0, 0.0, False, b"", 0, (0, 0), None)


def args(s):
    # Execute arguments (core spec §5.4.5): "0='on',3" -> {0: 'on', 3: None}
    out = {}
    for a in s.split(",") if s else ():
        k, q, v = a.partition("=")
        if not k.isdigit() or q and (len(v) < 2 or v[0] != "'" or v[-1] != "'"):
            raise CoapError(BAD_REQUEST)
        out[int(k)] = v[1:-1] if q else None
    return out


class Obj(_Obj):
    # n: instances created at once (0..n-1) with the defaults
    def __init__(self, n=0):
        super().__init__()
        self.cb = {}
        for i in range(n):
            self.create(i)

    def _on(self, k):
        def deco(fn):
            self.cb[k] = fn
            return fn
        return deco

    def on_read(self, rid):         # fn(iid) -> value
        return self._on(rid)

    def on_write(self, rid):        # fn(iid, value), before the value is stored
        return self._on(-1 - rid)

    def on_execute(self, rid):      # fn(iid, {arg number: str or None})
        return self._on(~0xFFFF - rid)

    def defaults(self, iid):
        # every declared resource: the zero of its type, multiple ones empty
        return {r[0]: {} if r[3] else _ZERO[r[2]] for r in self.RES}

    def read(self, iid, rid):
        f = self.cb.get(rid)
        return f(iid) if f else super().read(iid, rid)

    def write(self, iid, rid, val, riid=None):
        # from a server (or client.set): the callback first, then store()
        f = self.cb.get(-1 - rid)
        if f:
            f(iid, val)
        self.store(iid, rid, val, riid)

    def store(self, iid, rid, val, riid=None):
        # keep a value; objects with derived values (min/max ...) override
        super().write(iid, rid, val, riid)

    def execute(self, iid, rid, arg):
        f = self.cb.get(~0xFFFF - rid)
        if f:
            f(iid, args(arg))

    def set(self, iid, rid, val):
        # a new value from the application: stored, observers told
        self.store(iid, rid, val)
        if self.client:
            self.client.changed((self.ID, iid, rid))


def __getattr__(name):
    # Client (client/appclient.py) is loaded on first use: a firmware that
    # only uses the objects (firmware/main.py) does not carry it in RAM
    if name == "Client":
        from client.appclient import Client
        return Client
    raise AttributeError(name)
