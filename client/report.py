# Information Reporting (transport spec §6.4.5): Observe/Notify (RFC 7641)
# with notification attributes; the composite operations and Send are in
# client/composite.py, Write-Attributes in client/attrs.py (loaded on first
# use).
from micropython import const
from client.ids import SRV_CON, SRV_PMAX, SRV_PMIN, SRV_STORING
from client.coap import Msg, body
from client.engine import pstr
from client.codes import quiet, CON, CONTENT, CONTENT_FORMAT, CoapError, FLOAT, INT, NON, OBSERVE, TIME, UINT

_DAY = const(86400000)      # a CON notification at least once a day (RFC 7641 §4.5)
_NMAX = const(32)           # stored notifications at most (and store_max bytes)
_NUM = (INT, UINT, FLOAT, TIME)
_PERIODS = ("pmin", "pmax", "epmin", "epmax")
# a stored notification (Reporter.pend; client/sleep.py saves the same list)
_P_OBS = const(0)
_P_SEQ = const(1)
_P_CODE = const(2)
_P_CF = const(3)
_P_BODY = const(4)
_P_MS = const(5)
# a RES table row (client/model.py): id, operations, type, multiple
_R_OPS = const(1)
_R_TYPE = const(2)
_R_MULTI = const(3)


def _under(a, b):
    # path a equals or lies below path b (no slices)
    if len(a) < len(b):
        return False
    for k in range(len(b)):
        if a[k] != b[k]:
            return False
    return True


def _min(d, t):
    return t if d is None or t < d else d


class Obs:
    # one observation. The class attributes are the defaults: an instance's
    # dict holds only what was set on it (MicroPython has no __slots__; each
    # attribute is a slot of the instance's dict, grown in steps), so the
    # rarely set ones (acc, comp) stay out of it. Called by the exchange
    # when a CON notification is done (no bound method kept per observation).
    acc = None          # Accept of the request (None: the default format)
    comp = False        # composite (several paths)
    seq = 0             # Observe number of the last notification
    val = None          # last notified value of a single numeric resource
    dirty = False       # a change waits for pmin
    a = None            # effective attributes of paths[0], kept (Reporter.att); None: to make

    def __init__(self, srv, token, paths, acc, comp):
        self.srv = srv
        self.token = token
        self.paths = paths      # observed paths (one, or several for composite)
        if acc is not None:
            self.acc = acc
        if comp:
            self.comp = True
        self.last = 0           # ms of the last notification
        self.con = 0            # ms of the last CON notification
        self.eval = 0           # ms of the last evaluation (epmin/epmax)

    def __call__(self, res):
        # a CON notification timed out or was RST: the observer is gone
        if res is None or res is False:
            self.srv.reset(self.token)


def _att(rep, ob):
    # ob's effective attributes, made again only when some may have changed
    a = ob.a
    if a is None:
        a = ob.a = rep.eff(ob.paths[0], ob.srv)
    return a


def _con(ob, now):
    # CON per the Server's Default Notification Mode (/1/x/26), daily, and
    # while a CON notification is in flight or queued (NSTART 1): a NON
    # would overtake it, and notifications arrive in the order made
    return bool(ob.srv.res(SRV_CON, 0) or now - ob.con >= _DAY or ob.srv.ex.notice_con())


def _num(rep, p):
    # the value of a single numeric resource (instance) at p, else None
    if len(p) < 3:
        return None
    o = rep.c.engine.exists(p)
    t = o.res(p[2])
    if t[_R_TYPE] not in _NUM or t[_R_MULTI] and len(p) < 4:
        return None
    v = o.read(p[1], p[2])
    return v[p[3]] if len(p) == 4 else v


class _Notify:
    # notifying: when an observation is due, its notification, stored ones
    # (Reporter's base: two class dicts of at most 12 entries, two tables of
    # 96 B, rather than one of 184 B made when the module is first imported,
    # on a heap fragmented by then)
    def _change(self, ob, p):
        a = _att(self, ob) if p is ob.paths[0] else self.eff(p, ob.srv)
        if ob.val is not None and ("gt" in a or "lt" in a or "st" in a):
            try:
                new = _num(self, p)
            except CoapError:
                new = None
            old = ob.val
            if new is not None and not (
                    "gt" in a and old <= a["gt"] < new or
                    "lt" in a and new < a["lt"] <= old or
                    "st" in a and abs(new - old) >= a["st"]):
                return
        ob.dirty = True

    def _note(self, ob, now, r=None):
        # ob's next notification, rendered now (a new Observe number)
        if ob.dirty:
            ob.dirty = False
        ob.last = ob.eval = now
        ob.seq = (ob.seq + 1) & 0xFFFFFF
        try:
            return self._render(ob, r)
        except CoapError as e:      # what was observed is gone: final 4.xx
            self.obs.remove(ob)
            return Msg(code=e.code)
        except MemoryError:         # no heap to render it now: still due (the client's next step)
            ob.dirty = True
            raise

    def notify(self, ob, now):
        # rendered straight into the exchange's send buffer when it can go at once
        con = _con(ob, now)
        r = self._note(ob, now, ob.srv.ex.notice(con))
        self._tx(ob, ob.seq, r, now, con)

    def _tx(self, ob, seq, r, now, con=None):
        srv = ob.srv
        ex = srv.ex
        r.token = ob.token
        r.add(OBSERVE, seq)
        if r.pbuf is None and len(r.payload) > 1024:   # the server fetches the rest block-wise
            r = self.c.engine.blk().block2(Msg(), r)
        if con is None:
            con = _con(ob, now)
        r.t = CON if con else NON
        if con:
            ob.con = now
        if self.c.log is not quiet:
            self.c.log("notify", pstr(ob.paths[0]), seq)
        ex.send(r, ob)      # ob(res) when done

    def _store(self, ob, now):
        # Notification Storing When Disabled or Offline (/1/x/6): a change due
        # while the server is not ready is rendered now and kept for after the
        # wake-up Update. Bounded: store_max payload bytes and _NMAX
        # notifications in all; when full the oldest are dropped (counted).
        r = self._note(ob, now)
        q = self.pend
        q.append([ob, ob.seq, r.code, r.opt(CONTENT_FORMAT), bytes(body(r)), now])
        self.c.log("store", pstr(ob.paths[0]), ob.seq)
        n = 0
        while len(q) > _NMAX or sum(len(p[_P_BODY]) for p in q) > self.store_max:
            q.pop(0)
            n += 1
        if n:
            self.dropped += n
            self.c.log("store full, dropped", n)

    def has(self, srv, stored=False):
        # srv has observations; stored: stored notifications of srv wait
        # (live ones must not overtake them)
        for o in self.pend if stored else self.obs:
            if (o[_P_OBS] if stored else o).srv is srv:
                return True
        return False

    def _flush(self, now):
        # stored notifications of a ready server, oldest first, each with its
        # own Observe number: NON ones go at once, a CON one holds the rest
        # until its ACK (the exchange is busy: nothing would keep the order)
        if not self.pend:
            return
        for p in list(self.pend):
            s = p[_P_OBS].srv
            if s.ready() and s.ex.idle():
                self.pend.remove(p)
                r = Msg(code=p[_P_CODE], payload=p[_P_BODY])
                if p[_P_CF] is not None:
                    r.add(CONTENT_FORMAT, p[_P_CF])
                self._tx(p[_P_OBS], p[_P_SEQ], r, now)

    def step(self, now):
        # Called at every client step, radio on or off. An observation is due
        # on a change after pmin, or at pmax. Server ready: notify, stored
        # ones first. Not ready (offline, or the wake-up Update not answered
        # yet): a due change is stored if /1/x/6 says so, else it stays dirty
        # and only the latest value goes once ready; pmax waits for ready too
        # (it carries no event: one notification of the current value).
        # Coalescing: while ready (radio on anyway), an observation past pmin
        # whose pmax falls within coalesce_ms goes now, with the others,
        # instead of waking the radio again for it later.
        self._flush(now)
        i = 0
        while i < len(self.obs):
            ob = self.obs[i]
            self._due(ob, now)
            if i < len(self.obs) and self.obs[i] is ob:
                i += 1      # (else ob ended: the next one moved up)
        if self.sends:      # Send (client/composite.py)
            from client.composite import flush_sends
            flush_sends(self)

    def _due(self, ob, now):
        srv = ob.srv
        a = _att(self, ob)
        if a.get("epmax") and now >= ob.eval + a["epmax"] * 1000 and not ob.dirty:
            ob.eval = now       # evaluate (CPU only), online or not
            if ob.val is not None:
                self._change(ob, ob.paths[0])
            else:
                ob.dirty = True
        rdy = srv.ready()
        if now < ob.last + a["pmin"] * 1000 or rdy and self.has(srv, True):
            return
        if rdy:
            p = a["pmax"]
            if ob.dirty or p and p >= a["pmin"] and now + self.coalesce_ms >= ob.last + p * 1000:
                self.notify(ob, now)
        elif ob.dirty and srv.res(SRV_STORING, True):
            self._store(ob, now)

    def deadline(self, cpu=False):
        # the next time step() must run (client ms), None: no need.
        # Online: a change after pmin, pmax, epmax. Radio off: pmax and epmax
        # only (radio deadlines: the client wakes the radio for them); a
        # change waits for whatever wakes the client next (stored then), it
        # must not switch the radio on. cpu=True adds those changes, for a
        # CPU-only wake-up that stores them on time. While the server is not
        # ready with the radio on (wake-up Update pending), what step() could
        # only do once ready is left out, or the scheduler would spin.
        b = self.c.board
        now = b.clock.ms()
        d = None
        for ob in self.obs:
            srv = ob.srv
            if not srv.registered():
                continue
            rdy = srv.ready()
            if rdy and self.has(srv, True):
                continue        # the exchange paces the stored ones
            a = _att(self, ob)
            if ob.dirty and (rdy or (cpu or b.radio) and srv.res(SRV_STORING, True)):
                d = _min(d, ob.last + a["pmin"] * 1000)
            if a["pmax"] and a["pmax"] >= a["pmin"]:
                t = ob.last + a["pmax"] * 1000
                if rdy or not b.radio or t > now:
                    d = _min(d, t)
            if a.get("epmax") and not ob.dirty:
                d = _min(d, ob.eval + a["epmax"] * 1000)
        return d


class Reporter(_Notify):
    def __init__(self, client):
        self.c = client
        self.store_max = 1024   # bytes of stored notification payloads at most
        self.coalesce_ms = 0    # wake-up coalescing horizon (0: off), see step()
        self.dropped = 0        # stored notifications dropped because the store was full
        self.obs = []
        self.dfl = {}           # ssid -> the Server's defaults {pmin, pmax}, shared
        self.attrs = {}         # (ssid, path) -> {name: value}
        self.sends = []         # (paths, fmt) queued until registered
        self.pend = []          # stored notifications, oldest first:
        #                         [obs, seq, code, content-format, payload, ms]

    # -- attributes (Write-Attributes: client/attrs.py) ----------------------
    def eff(self, path, srv):
        # effective attributes: Server defaults, then object, instance,
        # resource, resource-instance levels (the deeper one wins). Read
        # only: where no attribute applies, the Server's defaults (one dict
        # per server, shared by its observations)
        d = self.dfl.get(srv.ssid)
        if d is None:
            d = self.dfl[srv.ssid] = {"pmin": srv.res(SRV_PMIN, 0) or 0, "pmax": srv.res(SRV_PMAX, 0) or 0}
        a = d
        if self.attrs:
            for n in range(1, len(path) + 1):
                x = self.attrs.get((srv.ssid, path[:n]))
                if x:
                    for k in x:
                        if k in _PERIODS or n >= 3:
                            if a is d:
                                a = dict(d)
                            a[k] = x[k]
        return a

    def stale(self):
        # attributes or Server defaults may have changed: made again when next used
        self.dfl = {}
        for ob in self.obs:
            ob.a = None

    # -- Observe -----------------------------------------------------------
    def observe(self, m, path, srv, acc):
        o = m.uint(OBSERVE)
        self.cancel(srv, m.tok())
        if o == 1:  # deregister: the same token (RFC 7641) or the same path
            self._end(lambda x: x.srv is srv and len(x.paths) == 1 and x.paths[0] == path)
            return self.c.engine.read(path, acc, srv, m)
        # rendered into the request's reused response (no buffer of its own)
        return self._start(Obs(srv, m.tok(), (path,), acc, False), m.reply(CONTENT))

    def _start(self, ob, r=None):
        r = self._render(ob, r)
        if self.c.log is not quiet:
            self.c.log("observe", pstr(ob.paths[0]))
        self.obs.append(ob)
        ob.last = ob.con = ob.eval = self.c.board.clock.ms()
        return r.add(OBSERVE, ob.seq)

    def _render(self, ob, r=None):
        # the current representation of what ob watches (into r: written in
        # place in the exchange's buffer)
        e = self.c.engine
        if ob.comp:
            from client.composite import read
            return read(self, ob.paths, ob.acc)
        p = ob.paths[0]
        v = _num(self, p)
        if v is not None or ob.val is not None:
            ob.val = v      # (else not set: the class default, no slot in ob's dict)
        if r is None:
            r = Msg(code=CONTENT)
        r.code = CONTENT
        e.render(r, p, ob.acc)
        return r

    def _end(self, f):
        # end the observations f(o) is true for, with their stored notifications
        self.obs = [o for o in self.obs if not f(o)]
        self.pend = [p for p in self.pend if not f(p[_P_OBS])]

    def cancel(self, srv, token):
        self._end(lambda o: o.srv is srv and o.token == token)

    def drop(self, srv):
        # De-register / re-Register / unbootstrap: the server's observations go
        self._end(lambda o: o.srv is srv)

    def changed(self, path):
        if path[0] == 1:
            self.stale()       # Server pmin/pmax defaults
        for ob in self.obs:
            for p in ob.paths:
                if _under(path, p) or _under(p, path):
                    self._change(ob, p)
                    break
