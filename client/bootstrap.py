# Client-initiated bootstrap (transport spec §6.4.2, §5.2.4, §5.2.5): after
# the Client Hold Off Time a Bootstrap-Request (POST /bs?ep=..&pct=..) goes
# to the Bootstrap-Server account of the Security object; the client then
# serves Bootstrap-Write/Read/Discover/Delete until Bootstrap-Finish, which
# checks that the new configuration holds together (else 4.06 and the old
# one comes back). Meanwhile the server accounts are paused and requests of
# management servers are ignored. Started when no server account is usable,
# when registration fails and /1/x/16 says so, or by executing /1/x/9.
from micropython import const
from client.coap import Msg
from client.exchange import Exchange
from client.engine import path_of, pstr
from client.client import parse_uri
from client.model import check
from client.codes import *

_IDLE = const(0)    # not bootstrapping
_HOLD = const(1)    # hold-off or back-off before the Bootstrap-Request
_REQ = const(2)     # Bootstrap-Request sent
_SERVE = const(3)   # serving the Bootstrap-Server until Bootstrap-Finish
_FIN = const(4)     # finished: switch to the new accounts in the next step
_QUIET = const(247)     # s of silence from the server (EXCHANGE_LIFETIME): failed
_RETRY = const(60)      # s: first back-off after a failure, doubling
_MAX_RETRY = const(3600)


def _copy(objs):
    # every instance dict, deep enough to roll back (values are immutable
    # or {riid: value} dicts)
    return {oid: {k: {r: (dict(v) if isinstance(v, dict) else v) for r, v in i.items()}
                  for k, i in o.inst.items()} for oid, o in objs.items()}


class Bootstrap:
    def __init__(self, client):
        self.c = client
        self.state = _IDLE
        self.due = 0
        self.fails = 0
        self.ex = None
        self.uri = None
        self.saved = None       # configuration before this bootstrap
        self.purge = 0          # ms: drop the bootstrap account (/0/x/12)
        self.dead = set()       # ssids whose last registration sequence failed
        client.bootstrap = self
        client.on_bootstrap = self.start
        prev = client.on_reg_fail

        def reg_fail(s):
            if prev:
                prev(s)
            self._reg_fail(s)
        client.on_reg_fail = reg_fail
        if not client.servers:
            self.start()

    def account(self):
        # iid of the Bootstrap-Server account in Security, or None
        for k, i in self.c.objs[0].inst.items():
            if i.get(1):
                return k

    def busy(self):
        return self.state != _IDLE

    def start(self):
        # bootstrap is needed: Bootstrap-Request after the hold-off time
        if self.state != _IDLE:
            return
        k = self.account()
        if k is None:
            self.c.log("no bootstrap account")
            return
        self.dead = set()
        self.state = _HOLD
        hold = self.c.objs[0].inst[k].get(11) or 0
        self.due = self.c.board.clock.ms() + hold * 1000
        self.c.log("bootstrap in %ds" % hold)

    def _reg_fail(self, s):
        # a whole communication sequence failed (its retry count restarted):
        # bootstrap if /1/x/16 says so (default true) or no account is left
        if s.fails or self.state != _IDLE:
            return
        self.dead.add(s.ssid)
        if s.res(16, True) or all(x.ssid in self.dead for x in self.c.servers):
            self.start()

    # -- the Bootstrap-Request ---------------------------------------------
    def _request(self):
        c = self.c
        k = self.account()
        if k is None:
            self.state = _IDLE
            return
        uri = c.objs[0].inst[k].get(0)
        if self.ex and uri != self.uri:
            self._close()
        if not self.ex:
            try:
                host, port, sec = parse_uri(uri)
            except Exception:
                self._fail("bad uri")
                return
            b = c.board
            self.ex = Exchange(b.udp(host, port), b.clock, b.random, self)
            self.uri = uri
        self.saved = _copy(c.objs)
        ex = self.ex
        m = Msg(CON, POST, token=ex.token())
        m.add(URI_PATH, "bs").add(URI_QUERY, "ep=" + c.ep).add(URI_QUERY, "pct=%d" % c.fmt)
        self.state = _REQ
        c.log("bootstrap request", uri)

        def done(r):
            if self.state == _REQ:
                if r and r.code == CHANGED:
                    self._heard()
                else:
                    self._fail(r.code if r else "timeout")
        ex.send(m, done)

    def _heard(self):
        self.state = _SERVE
        self.due = self.c.board.clock.ms() + _QUIET * 1000

    def _fail(self, why):
        # roll back; the old accounts carry on if there are any, else retry
        # after a back-off (doubling, + up to 10 % jitter)
        c = self.c
        c.log("bootstrap failed", why)
        if self.saved is not None:
            for oid, d in self.saved.items():
                c.objs[oid].inst = d
            self.saved = None
        self.fails += 1
        if c.servers:
            self.state = _IDLE
            return
        d = min(_RETRY << min(self.fails - 1, 6), _MAX_RETRY)
        d = d * 1000 + c.board.random(1)[0] * d * 2 // 5
        self.state = _HOLD
        self.due = c.board.clock.ms() + d
        c.log("bootstrap retry in %ds" % (d // 1000))

    def _close(self):
        if self.ex:
            self.ex.cancel()
            self.ex.tr.close()
            self.ex = None

    # -- handler interface of the Exchange ----------------------------------
    def request(self, m):
        if self.state not in (_REQ, _SERVE):
            return None         # not bootstrapping: ignored
        self._heard()
        try:
            return self.serve(m)
        except CoapError as e:
            return Msg(code=e.code)

    def reset(self, token):
        pass

    def crash(self, e):
        self.c.log("error", type(e).__name__)   # never the values

    def serve(self, m):
        c = self.c
        code = m.code
        p = m.all(URI_PATH)
        if len(p) == 1 and bytes(p[0]) == b"bs":
            if code != POST:
                raise CoapError(METHOD_NOT_ALLOWED)
            return self.finish()
        path = path_of(m)
        if code == PUT:
            self.write(m, path)
            return Msg(code=CHANGED)
        if code == DELETE:
            self.delete(path)
            return Msg(code=DELETED)
        if code == GET:
            if m.uint(ACCEPT) == FMT_LINK:
                r = Msg(code=CONTENT, payload=self.discover(path).encode())
                return r.add(CONTENT_FORMAT, FMT_LINK)
            if not path or path[0] != 2:    # Bootstrap-Read: Access Control only
                raise CoapError(UNAUTHORIZED)
            return c.engine.read(path, m.uint(ACCEPT))
        raise CoapError(METHOD_NOT_ALLOWED)

    # -- Bootstrap-Write: created if missing, whatever the access rights -----
    def write(self, m, path):
        c = self.c
        o = c.objs.get(path[0]) if path else None
        if o is None:
            raise CoapError(BAD_REQUEST)
        try:
            recs = c.engine.decode(m, path)
        except CoapError as e:
            raise CoapError(e.code if e.code == UNSUPPORTED_CONTENT_FORMAT else BAD_REQUEST)
        todo = []
        iids = [path[1]] if len(path) > 1 else []
        for p, v in recs:
            if p[:len(path)] != path or len(p) < 3:
                raise CoapError(BAD_REQUEST)
            r = o.res(p[2])
            if (len(p) == 4) != bool(r[3]):
                raise CoapError(BAD_REQUEST)
            todo.append((p, check(r[2], v)))
            iids.append(p[1])
        if not iids:
            raise CoapError(BAD_REQUEST)
        for iid in iids:
            if iid not in o.inst and o.inst and not o.MULTI:
                raise CoapError(BAD_REQUEST)
        for iid in iids:
            if iid not in o.inst:
                o.create(iid)
        done = set()
        for p, v in todo:
            iid, rid = p[1], p[2]
            if len(p) == 4 and (iid, rid) not in done and len(path) < 4:
                o.inst[iid][rid] = {}   # a multiple resource is replaced whole
            done.add((iid, rid))
            o.write(iid, rid, v, p[3] if len(p) == 4 else None)
        c.log("bootstrap write", pstr(path))

    # -- Bootstrap-Delete, with unbootstrapping of deleted accounts ----------
    def delete(self, path):
        objs = self.c.objs
        if len(path) > 2:
            raise CoapError(BAD_REQUEST)
        bs = self.account()
        # "/" clears the configuration (Security but the bootstrap account,
        # Server, Access Control); the device's own instances (sensors...)
        # stay, as single-instance objects always do
        for oid in (path[:1] or [x for x in (0, 1, 2) if x in objs]):
            o = objs.get(oid)
            if o is None:
                raise CoapError(BAD_REQUEST)
            if len(path) == 2:
                iid = path[1]
                if iid not in o.inst or not o.MULTI or (oid == 0 and iid == bs):
                    raise CoapError(BAD_REQUEST)
                iids = [iid]
            elif not o.MULTI:
                continue        # the device's own single instances stay
            else:
                iids = [i for i in o.inst if oid or i != bs]
            for iid in iids:
                i = o.inst.pop(iid, None)
                if oid == 0 and i and not i.get(1) and i.get(10) is not None:
                    self.unbootstrap(i[10])
        self.c.log("bootstrap delete", pstr(path))

    def unbootstrap(self, ssid):
        # §5.2.5: the account's Server instance, what only it could access
        # (Access Control), its observations
        c = self.c
        srv = c.objs[1].inst
        for k in [k for k in srv if srv[k].get(0) == ssid]:
            del srv[k]
        if 2 in c.objs:
            c.objs[2].forget(ssid)
        s = c.server(ssid)
        if s and c.reporter:
            c.reporter.drop(s)
        c.log("unbootstrap ssid", ssid)

    # -- Bootstrap-Discover ---------------------------------------------------
    def discover(self, path):
        if len(path) > 1:
            raise CoapError(BAD_REQUEST)
        objs = self.c.objs
        out = ["</>;lwm2m=1.1"]
        for oid in (path or sorted(objs)):
            o = objs.get(oid)
            if o is None:
                raise CoapError(NOT_FOUND)
            if o.VER or not o.inst:
                out.append("</%d>%s" % (oid, ";ver=" + o.VER if o.VER else ""))
            for iid in sorted(o.inst):
                i = o.inst[iid]
                a = ""
                if oid == 0 and not i.get(1) and i.get(10) is not None:
                    a = ';ssid=%d;uri="%s"' % (i[10], i.get(0))
                elif oid == 1:
                    a = ";ssid=%d" % i.get(0)
                out.append("</%d/%d>%s" % (oid, iid, a))
        return ",".join(out)

    # -- Bootstrap-Finish -----------------------------------------------------
    def finish(self):
        c = self.c
        why = self.consistent()
        if why:
            c.log("bootstrap config refused:", why)
            self._fail(why)
            raise CoapError(NOT_ACCEPTABLE)
        t = c.board.time()
        for i in c.objs[1].inst.values():
            i[12] = t           # Last Bootstrapped
        self.state = _FIN
        c.log("bootstrap finished")
        return Msg(code=CHANGED)

    def consistent(self):
        # None when the configuration can be used, else what is wrong
        objs = self.c.objs
        ssids = []
        bs = 0
        for i in objs[0].inst.values():
            if i.get(1):
                bs += 1
                continue
            s = i.get(10)
            if s is None or not 0 < s < 65535 or s in ssids:
                return "ssid"
            ssids.append(s)
            try:
                sec = parse_uri(i.get(0))[2]
            except Exception:
                return "uri of ssid %d" % s
            mode = i.get(2)
            # what this client can use: PSK over coaps, NoSec over coap
            if mode != (0 if sec else 3) or mode == 0 and not (i.get(3) and i.get(5)):
                return "security mode of ssid %d" % s
        srv = sorted(i.get(0) for i in objs[1].inst.values())
        if bs > 1:
            return "two bootstrap accounts"
        if not ssids:
            return "no server account"
        if srv != sorted(ssids):
            return "Security and Server instances do not pair up"
        return None

    def _apply(self):
        # the new configuration is in place: accounts whose URI changed or
        # that went away are closed, every account registers again
        c = self.c
        self.state = _IDLE
        self.fails = 0
        self.saved = None
        sec = c.objs[0].inst
        uris = {i.get(10): i.get(0) for i in sec.values() if not i.get(1)}
        keep = []
        for s in c.servers:
            if uris.get(s.ssid) == s.uri:
                keep.append(s)
            elif s.ex:
                s.ex.cancel()
                s.ex.tr.close()
                s.ex = None
        c.servers = keep
        c.accounts()
        if c.store:
            c.store.save()      # kept before anything else happens
        for s in c.servers:
            s.fails = 0
            s.register()
        k = self.account()
        t = sec[k].get(12) if k is not None else 0
        self.purge = c.board.clock.ms() + t * 1000 if t else 0

    def _purge(self):
        # Bootstrap-Server Account Timeout (/0/x/12) over: the account goes
        c = self.c
        k = self.account()
        if k is not None:
            del c.objs[0].inst[k]
        self.purge = 0
        self._close()
        if c.store:
            c.store.save()
        c.log("bootstrap account purged")

    # -- the loop ---------------------------------------------------------
    def step(self, now):
        # True while bootstrapping: the server accounts wait
        ex = self.ex
        if ex:
            for _ in range(16):
                d = ex.tr.recv()
                if d is None:
                    break
                ex.feed(d)
            ex.step()
        st = self.state
        if st == _FIN:
            self._apply()
        elif st == _IDLE:
            if self.purge and now >= self.purge:
                self._purge()
        elif st == _HOLD and now >= self.due:
            self._request()
        elif st == _SERVE and now >= self.due:
            self._fail("timeout")
        return self.state != _IDLE

    def deadline(self):
        d = self.ex.deadline() if self.ex else None
        st = self.state
        x = 0 if st == _FIN else self.due if st in (_HOLD, _SERVE) else self.purge or None
        if x is not None and (d is None or x < d):
            d = x
        return d
