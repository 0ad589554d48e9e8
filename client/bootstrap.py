# Client-initiated bootstrap (transport spec §6.4.2, §5.2.4): after the
# Client Hold Off Time a Bootstrap-Request (POST /bs?ep=..&pct=..) goes to
# the Bootstrap-Server account of the Security object; the client then
# serves the Bootstrap interface (client/bsif.py, loaded for the session)
# until Bootstrap-Finish, which checks that the new configuration holds
# together (else 4.06 and the old one comes back). Meanwhile the server
# accounts are paused and requests of management servers are ignored.
# Started when no server account is usable, when a registration sequence
# fails and /1/x/16 says so (or every account failed), by executing /1/x/9.
import sys
from micropython import const
from client.ids import SRV_BS_ON_FAIL
from client.coap import Msg
from client.exchange import Exchange
from client.codes import (BAD_REQUEST, FORBIDDEN, CON, POST, CHANGED, INTERNAL_SERVER_ERROR, URI_PATH,
                          URI_QUERY, CoapError, cstr)

_IDLE = const(0)    # not bootstrapping
_HOLD = const(1)    # hold-off or back-off before the Bootstrap-Request
_REQ = const(2)     # Bootstrap-Request sent
_SERVE = const(3)   # serving the Bootstrap-Server until Bootstrap-Finish
_FIN = const(4)     # finished: switch to the new accounts in the next step
_QUIET = const(247)     # s of silence from the server (EXCHANGE_LIFETIME): failed
_RETRY = const(60)      # s: first back-off after a failure, doubling
_MAX_RETRY = const(3600)
_OPS = "client.bsif"


def _ops():
    from client import bsif
    return bsif


def _drop_ops():
    # the session is over: its code goes (RAM)
    if sys.modules.pop(_OPS, None):
        import client
        try:
            delattr(client, "bsif")
        except AttributeError:
            pass


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
        self.written = set()
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
        if s.res(SRV_BS_ON_FAIL, True) or all(x.ssid in self.dead for x in self.c.servers):
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
            b = c.board
            try:
                tr = c.transport(uri, c.objs[0].inst[k])
                x = Exchange
                if getattr(tr, "reliable", 0):   # TCP/TLS, MQTT (client/rexchange.py)
                    from client.rexchange import RExchange as x
                self.ex = x(tr, b.clock, b.random, self)
            except Exception:
                self.fail("bad uri")
                return
            self.uri = uri
        self.saved = _ops().snapshot(c.objs)
        self.written = set()    # Security iids the server writes in this session
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
                    self.fail(r.code if r else "timeout")
        ex.send(m, done)

    def _heard(self):
        self.state = _SERVE
        self.due = self.c.board.clock.ms() + _QUIET * 1000

    def finished(self):
        # Bootstrap-Finish accepted: the new accounts take over in step()
        self.state = _FIN

    def fail(self, why):
        # roll back; the old accounts carry on if there are any, else retry
        # after a back-off (doubling, + up to 10 % jitter)
        c = self.c
        c.log("bootstrap failed", cstr(why) if type(why) is int else "no answer from " + str(self.uri) if why == "timeout" else why)
        if self.saved is not None:
            for oid, d in self.saved.items():
                c.objs[oid].inst = d
            self.saved = None
        _drop_ops()
        self.fails += 1
        if c.servers:
            self.state = _IDLE
            return
        d = min(_RETRY << min(self.fails - 1, 6), _MAX_RETRY)
        d = d * 1000 + c.board.random(1)[0] * d * 100 // 255     # + up to 10 % jitter
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
            # not bootstrapping (a session this client gave up, or after
            # Finish): refused at once, never left to be retransmitted (the
            # server's next requests would wait behind it, NSTART 1)
            return Msg(code=FORBIDDEN)
        self._heard()
        try:
            return _ops().serve(self, m)
        except CoapError as e:
            return Msg(code=e.code)
        except UnicodeError:
            return Msg(code=BAD_REQUEST)    # text that is not UTF-8: malformed
        except Exception as e:
            # a genuine bug: 5.00, logged with the path (never the values)
            self.c.log("error", "bootstrap", "/" + "/".join("".join(map(chr, bytes(x))) for x in m.all(URI_PATH)),
                       type(e).__name__)
            return Msg(code=INTERNAL_SERVER_ERROR)

    def reset(self, token):
        pass

    def crash(self, e):
        self.c.log("error", type(e).__name__)   # never the values

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
            err = getattr(ex.tr, "error", None)
            if err:             # DTLS failed: no fallback for the Bootstrap-Server
                self._close()
                self.fail(err)
        st = self.state
        if st == _FIN:
            self.state = _IDLE
            self.fails = 0
            self.saved = None
            _ops().apply(self)
            _drop_ops()
        elif st == _IDLE:
            if self.purge and now >= self.purge:
                self._purge()
        elif st == _HOLD and now >= self.due:
            self._request()
        elif st == _SERVE and now >= self.due:
            self.fail("timeout")
        return self.state != _IDLE

    def deadline(self):
        d = self.ex.deadline() if self.ex else None
        st = self.state
        x = 0 if st == _FIN else self.due if st in (_HOLD, _SERVE) else self.purge or None
        if x is not None and (d is None or x < d):
            d = x
        return d
