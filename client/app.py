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

_ZERO = {STR: "", INT: 0, UINT: 0, FLOAT: 0.0, BOOL: False, OPAQUE: b"", TIME: 0, OBJLNK: (0, 0)}


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
        return {r[0]: {} if r[3] else _ZERO.get(r[2]) for r in self.RES}

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


class Client:
    # Client(endpoint=, server=coap[s]://.. | bootstrap=.., board=, log=,
    # objs=[...], lifetime=300, binding="U", psk=(identity, hex key),
    # state="state" (directory), awake=S (queue mode), format=112 ...: the
    # options of firmware/main.py). Anything else (set, at, send, step,
    # next_step_ms, wake, servers ...) goes to the core client (client/client.py).
    def __init__(self, board=None, log=None, objs=(), **o):
        p = o.pop("psk", None)
        if p:
            o["psk-identity"], o["psk-key"] = p
        if board is None:
            from boards.unix import Board
            board = Board(o.get("state") or "state")
        self.o, self.board, self.objs = o, board, list(objs)
        self.log = log or (lambda *a: None)
        self.c = self.start = None     # start(app): run on every boot (firmware/main.py --app)
        self.build()

    def build(self):
        from client.setup import build
        self.c = build(self.board, self.o, self.log, self.objs)
        return self.c

    def __getattr__(self, name):
        return getattr(self.c, name)

    def add(self, obj):
        # an object of the application; a registered client sends an Update
        c = self.c
        self.objs.append(obj)
        obj.client = c
        c.objs[obj.ID] = obj
        c.changed((obj.ID,), True)
        return obj

    def set(self, path, val):
        o = self.c.objs[path[0]]
        if isinstance(o, Obj):
            o.set(path[1], path[2], val)
        else:
            self.c.set(path, val)

    def run(self, until=None, deep=None):
        # the loop until Ctrl-C (then De-register), a reboot (rebuilt and
        # run again) or a deep sleep of deep ms or more (state saved, the
        # board powers down: returns 3). A fatal error de-registers, then is raised.
        from client.setup import run
        return run(self, until, deep)

    async def serve(self, poll_ms=50):
        # for asyncio applications: steps between the other tasks (datagrams
        # are polled every poll_ms); cancelling the task de-registers
        import asyncio
        c = self.c
        try:
            while not c.reboot:
                c.step()
                await asyncio.sleep_ms(min(c.next_step_ms(), poll_ms))
        finally:
            self.stop()
