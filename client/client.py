# The client: one single-threaded loop (step / next_step_ms) driving the
# Registration interface (transport spec §6.4.3) for every server account.
from micropython import const
from client.coap import Msg
from client.exchange import Exchange
from client.engine import Engine
from client.codes import (CHANGED, CON, CONTENT_FORMAT, CREATED, DELETE, FMT_LINK,
                          FMT_SENML_CBOR, FMT_TLV, LOCATION_PATH, NOT_FOUND, POST,
                          URI_PATH, URI_QUERY)

# registration states
_IDLE = const(0)
_REG = const(1)      # Register sent
_OK = const(2)       # registered
_UPD = const(3)      # Update sent
_WAIT = const(4)     # back-off before the next Register
_DEREG = const(5)    # De-register sent
_OFF = const(6)      # disabled (/1/x/4) or stopped
_MIN_MARGIN = const(93)  # s: Update at least MAX_TRANSMIT_WAIT before expiry


def parse_uri(uri):
    # coap[s]://host[:port] -> (host, port, secure)
    sec = uri.startswith("coaps://")
    if not (sec or uri.startswith("coap://")):
        raise ValueError("bad server uri")
    hp = uri[8 if sec else 7:].split("/")[0]
    if hp.startswith("["):
        host, _, port = hp[1:].partition("]")
        port = port[1:]
    else:
        host, _, port = hp.partition(":")
    return host, int(port) if port else (5684 if sec else 5683), sec


class Server:
    # one LwM2M server account: its transport, exchange and registration
    def __init__(self, client, ssid, uri):
        self.c = client
        self.ssid = ssid
        self.uri = uri
        self.state = _IDLE
        self.due = 0        # ms: next registration action
        self.fails = 0
        self.loc = None
        self.ex = None
        self.sent = None    # (lifetime, binding, links) last told to the server
        self.wake = False   # queue mode: asleep, or back and the Update not done yet
        self.fresh = False  # a new transport since registering: DTLS handshake first
        self.lport = 0      # local UDP port, the same after a deep sleep

    def res(self, rid, default=None):
        # a resource of this account's Server object instance
        o = self.c.objs[1]
        for i in o.inst.values():
            if i.get(0) == self.ssid:
                return i.get(rid, default)
        return default

    def lifetime(self):
        return self.res(1, 86400)

    def connect(self, saved=None):
        if self.ex:
            return
        b = self.c.board
        tr = self.c.transport(self.uri, self.sec(), saved, self.lport)
        self.lport = tr.lport
        self.ex = Exchange(tr, b.clock, b.random, self)
        self.ex.rai = getattr(b, "rai", None)   # a cellular board's RAI hook
        self.fresh = True

    def sec(self):
        # this account's Security object instance
        for i in self.c.objs[0].inst.values():
            if i.get(10) == self.ssid and not i.get(1):
                return i
        return {}

    def close(self):
        # drop the transport (and a DTLS session): the next attempt starts afresh
        if self.ex:
            self.ex.cancel()
            self.ex.tr.close()
            self.ex = None

    def _tls(self):
        # the DTLS state of this account's transport: None (plain or fine),
        # else the handshake / session failed. Transport spec §5.2.9: alerts
        # marked "Fail" (certificates, unknown PSK identity) skip the retries
        # and go to the sequence delay (and bootstrap if so configured);
        # the others are retried with the usual back-off.
        tr = self.ex.tr
        err = getattr(tr, "error", None)
        if not err:
            return
        a = tr.alert or 0
        self.c.log("dtls", err)
        for i in self.c.objs[1].inst.values():
            if i.get(0) == self.ssid:
                i[11] = a
        self.close()
        if 42 <= a <= 49 and a != 47 or a >= 112:
            self.fails = self.res(17, 5)
        self.state = _WAIT
        self._failed(None)

    # handler interface of the Exchange
    def request(self, m):
        if self.paused():
            return None     # bootstrapping: management requests are ignored
        return self.c.engine.request(m, self)

    def paused(self):
        bs = self.c.bootstrap
        return bs and bs.busy()

    def reset(self, token):
        if self.c.reporter:
            self.c.reporter.cancel(self, token)

    def crash(self, e):
        self.c.log("error", repr(e))

    # -- registration state machine --------------------------------------
    def _query(self, full):
        lt, b = self.lifetime(), self.res(7, "U")
        q = []
        if full:
            q = ["ep=" + self.c.ep, "lt=%d" % lt, "lwm2m=1.1", "b=" + b.replace("Q", "")]
            if "Q" in b:
                q.append("Q")
        else:
            if self.sent[0] != lt:
                q.append("lt=%d" % lt)
            if self.sent[1] != b:
                q.append("b=" + b.replace("Q", ""))
        return q, (lt, b)

    def register(self):
        self.connect()
        self.ex.cancel()
        self.fresh = self.wake = False
        q, s = self._query(True)
        links = self.c.engine.links()
        m = Msg(CON, POST, token=self.ex.token(), payload=links.encode())
        m.add(URI_PATH, "rd").add(CONTENT_FORMAT, FMT_LINK)
        for x in q:
            m.add(URI_QUERY, x)
        self.state = _REG
        self.c.log("register", self.uri, "lt=%d" % s[0])

        def done(r):
            if r and r.code == CREATED:
                self.loc = r.strs(LOCATION_PATH)
                self.sent = s + (links,)
                self._registered()
                self.c.log("registered", "/" + "/".join(self.loc))
                if self.c.reporter:
                    self.c.reporter.drop(self)
            else:
                self._failed(r)
        self.ex.send(m, done)

    def _registered(self):
        self.state = _OK
        self.fails = 0
        lt = self.sent[0]
        margin = min(lt // 2, max(lt // 10, _MIN_MARGIN))
        self.due = self.c.board.clock.ms() + (lt - margin) * 1000

    def _failed(self, r):
        # back-off: Communication Retry Timer * 2^n, then the sequence delay
        self.fails += 1
        self.state = _WAIT
        tries = self.res(17, 5)
        if self.fails <= tries:
            d = self.res(18, 60) << (self.fails - 1)
        else:
            d = self.res(19, 86400)
            self.fails = 0
        d = d * 1000 + self.c.board.random(1)[0] * d * 100 // 255  # + up to 10 % jitter
        self.due = self.c.board.clock.ms() + d
        self.c.log("register failed", r.code if r else "timeout", "retry in %ds" % (d // 1000))
        if not r and self.ex and hasattr(self.ex.tr, "alert"):
            self.close()    # DTLS, no answer: a new handshake on the next attempt
        if self.c.on_reg_fail:
            self.c.on_reg_fail(self)

    def update(self):
        q, s = self._query(False)
        links = self.c.engine.links()
        m = Msg(CON, POST, token=self.ex.token())
        for x in self.loc:
            m.add(URI_PATH, x)
        for x in q:
            m.add(URI_QUERY, x)
        if links != self.sent[2]:
            m.add(CONTENT_FORMAT, FMT_LINK)
            m.payload = links.encode()
        self.state = _UPD
        r = self.c.reporter     # a wake-up Update with notifications behind it (RAI)
        self.ex.more = self.wake and r and any(o.srv is self for o in r.obs)

        def done(r):
            if r and r.code == CHANGED:
                self.wake = False
                self.sent = s + (links,)
                self._registered()
                self.c.log("updated")
                if self.c.on_update:
                    self.c.on_update(self)
            elif r and r.code == NOT_FOUND or r and r.code >= 128:
                self.c.log("update rejected, register again")
                self.register()
            else:
                self._failed(None)
        self.ex.send(m, done)

    def deregister(self, then=_IDLE):
        if self.state not in (_OK, _UPD) or not self.loc:
            self.state = then
            return
        m = Msg(CON, DELETE, token=self.ex.token())
        for x in self.loc:
            m.add(URI_PATH, x)
        self.state = _DEREG
        self.ex.cancel()

        def done(r):
            self.state = then
            self.loc = None
            self.c.log("deregistered")
        self.ex.send(m, done)
        if self.c.reporter:
            self.c.reporter.drop(self)

    def disable(self, timeout_s):
        # Disable (/1/x/4): De-register, stay away for the Disable Timeout
        self.deregister(_OFF)
        self.due = self.c.board.clock.ms() + timeout_s * 1000

    def trigger(self):
        # Registration Update Trigger, lifetime/binding/object list change
        if self.state == _OK:
            self.due = 0

    def _hs(self):
        # a new DTLS transport while registered (after a deep sleep): finish the
        # handshake before the Update. An abbreviated handshake or a saved
        # connection keeps the registration; a full one means Register again
        # (transport spec §6.4.3). True while the handshake is under way.
        tr = self.ex.tr
        st = getattr(tr, "state", None)
        if st == "idle":
            tr.start()
        elif st == "connected" and not tr.resumed():
            self.c.log("full handshake: register again")
            self.register()
            return True
        self.fresh = st not in (None, "connected")
        return self.fresh

    def step(self, now):
        if self.paused():
            return
        if self.ex:
            self._tls()
        if self.ex:
            self.ex.step()
        if self.state in (_IDLE, _WAIT) and now >= self.due:
            self.register()
        elif self.state == _OK and now >= self.due and self.c.board.radio:
            self.connect()
            if not (self.fresh and self._hs()):
                self.update()
        elif self.state == _OFF and self.due and now >= self.due:
            self.register()

    def deadline(self):
        if self.paused():
            return None
        d = self.ex.deadline() if self.ex else None
        if self.fresh and d is not None:
            return d            # DTLS handshake under way
        if self.state in (_IDLE, _WAIT, _OK) or (self.state == _OFF and self.due):
            if d is None or self.due < d:
                d = self.due
        return d

    def registered(self):
        return self.state in (_OK, _UPD)

    def ready(self):
        # may notify / Send: registered, and after a wake-up only once the
        # Update went through (the server learns first that we are back)
        return self.state in (_OK, _UPD) and not self.wake

    def queue(self):
        return "Q" in self.res(7, "U")


class Client:
    def __init__(self, board, ep, objs, fmt=FMT_TLV, log=None):
        self.board = board
        self.ep = ep
        self.fmt = fmt
        self.objs = {}
        for o in objs:
            o.client = self
            self.objs[o.ID] = o
        self.reporter = None
        self.bootstrap = self.acl = self.store = None   # client/bootstrap, objects/acl, client/store
        self.on_update = self.on_reg_fail = self.on_bootstrap = None
        self.log = log or (lambda *a: None)
        self.engine = Engine(self)
        self.servers = []
        self.reboot = False
        self.timers = []
        from client.exchange import max_transmit_wait
        self.awake_ms = max_transmit_wait()     # queue mode awake window
        self.sleeps = self.asleep_ms = self.off_at = 0
        self.deep_ms = None     # radio-off sleeps at least this long are deep sleeps
        self.coalesce_ms = 60000    # queue mode: a pmax this close goes in the current radio session
        self.deep = 0           # ms of deep sleep due: run() returns, main hibernates
        self.accounts()

    def accounts(self):
        # one Server per (Security, Server) instance pair with the same ssid
        sec = self.objs[0].inst
        old = {s.ssid: s for s in self.servers}
        self.servers = []
        for i in sorted(sec):
            s = sec[i]
            if not s.get(1) and s.get(10) is not None:
                ssid = s[10]
                srv = old.get(ssid) or Server(self, ssid, s[0])
                self.servers.append(srv)

    def server(self, ssid):
        for s in self.servers:
            if s.ssid == ssid:
                return s

    def changed(self, path, structure=False):
        # a value or the object list changed: tell observers / servers
        if self.store:
            self.store.changed(path)
        if self.reporter:
            self.reporter.changed(path)
        if structure:
            for s in self.servers:
                s.trigger()
        elif path[0] == 1 and len(path) > 2 and path[2] in (1, 7):
            s = self.server(self.objs[1].inst.get(path[1], {}).get(0))
            if s:
                s.trigger()

    # -- application API ---------------------------------------------------
    def set(self, path, value):
        # a new value from the application (a sensor reading): observations
        # of it fire according to their attributes
        o = self.objs[path[0]]
        o.write(path[1], path[2], value, path[3] if len(path) > 3 else None)
        self.changed(path)

    def at(self, delay_ms, fn):
        # an application timer: fn() runs delay_ms from now, seen by the scheduler
        self.timers.append((self.board.clock.ms() + delay_ms, fn))

    def rep(self):
        # the Information Reporting part, loaded on first use (RAM)
        if not self.reporter:
            from client.report import Reporter
            self.reporter = Reporter(self)
            if any(s.queue() for s in self.servers):
                self.reporter.coalesce_ms = self.coalesce_ms
        return self.reporter

    def send(self, paths, cf=FMT_SENML_CBOR):
        # Send (POST /dp) these paths, queued until a server is registered
        self.rep().send(paths, cf)

    def transport(self, uri, sec, saved=None, lport=0):
        # a datagram transport to uri: UDP, or DTLS with the Security instance's
        # credentials (mode 0: PSK identity /0/x/3, key /0/x/5; mode 2:
        # certificate /0/x/3, key /0/x/5, server's /0/x/4, usage /0/x/15;
        # saved: a DTLS state from before a deep sleep)
        b = self.board
        host, port, secure = parse_uri(uri)
        u = tr = b.udp(host, port, lport)
        if secure and sec.get(2) == 2:
            # certificates (mode 2): the firmware's ssl; SNI /0/x/14, else the host
            from client.dtlscert import DtlsCert
            tr = DtlsCert(u, sec.get(3), sec.get(5), sec.get(4), sec.get(15), sec.get(14) or host, b.clock.ms)
        elif secure:
            from client.dtls import Dtls
            tr = Dtls(u, sec.get(3, b""), sec.get(5, b""), b.clock.ms, b.random, cid=True)
            if saved:
                tr.load(saved)
        tr.lport = u.lport
        return tr

    def step(self):
        b = self.board
        if self.store:
            self.store.flush()
        if self.bootstrap:
            self.bootstrap.step(b.clock.ms())
        for s in self.servers:
            for _ in range(16):     # bounded per step
                d = s.ex and s.ex.tr.recv()     # (a datagram may end the transport)
                if not d:
                    break
                s.ex.feed(d)
        now = b.clock.ms()
        for t in [t for t in self.timers if t[0] <= now]:
            self.timers.remove(t)
            t[1]()
        for s in self.servers:
            s.step(now)
        if self.reporter:
            self.reporter.step(now)

    def _next(self, timers=True):
        # the earliest deadline (client ms): the servers', the reporter's (the
        # radio ones while offline), bootstrap, and the application's timers
        d = self.bootstrap.deadline() if self.bootstrap else None
        for x in [s.deadline() for s in self.servers] + [self.reporter.deadline(timers) if self.reporter else None] + (
                [t[0] for t in self.timers] if timers else []):
            if x is not None and (d is None or x < d):
                d = x
        return d

    def next_step_ms(self):
        d = self._next()
        return 3600000 if d is None else max(0, d - self.board.clock.ms())

    def run(self, until=None):
        # until: client time (ms) at which to return; None = until stopped
        # (or until a deep sleep is due: self.deep ms, see firmware/main.py)
        while not self.reboot and not self.deep and (until is None or self.board.clock.ms() < until):
            self.step()
            self.idle(until)

    def idle(self, until=None):
        # wait for the next deadline or datagram; in queue mode, once the
        # awake window is over, with the radio off
        b = self.board
        t = self.next_step_ms()
        if not b.radio:
            return self._off(t, until)
        if until is not None:
            t = min(t, until - b.clock.ms())
        a = self.awake_left()
        if a is None or t <= a:
            b.wait(max(0, t))
        elif a > 0:
            b.wait(a)
        else:
            self.radio_off()

    def _off(self, t, until):
        # radio off: nothing is received or answered, what arrives is lost.
        # Application timers run with the radio off (a sensor reading, stored
        # notifications); a deadline that needs the radio wakes it. A long
        # enough sleep is a deep sleep (power down, state in storage).
        b = self.board
        if self.deep_ms is not None and t >= self.deep_ms:
            self.deep = t
            return
        if until is not None:
            t = min(t, until - b.clock.ms())
        end = b.clock.ms() + t
        while b.clock.ms() < end and not b.radio:   # the board may wake us (modem event)
            b.wait(end - b.clock.ms())
            for s in self.servers:
                while not b.radio and s.ex and s.ex.tr.recv() is not None:
                    pass        # lost, as on a sleeping radio
        r = self._next(False)
        if r is not None and r <= b.clock.ms():
            self.wake()

    def awake_left(self):
        # queue mode (transport spec §6.5): ms left of the awake window after
        # the last message to or from a server; None when not in queue mode
        # or something is still going on
        q = [s for s in self.servers if s.queue()]
        if not q or any(s.state != _OK or s.ex.busy() for s in q):
            return None
        last = max(max(s.ex.last_rx, s.ex.last_tx) for s in q)
        return max(0, last + self.awake_ms - self.board.clock.ms())

    def radio_off(self):
        # the awake window is over: radio off until a deadline needs it
        b = self.board
        d = self._next(False)
        self.log("sleep %ds" % ((d - b.clock.ms()) // 1000 if d else 3600))
        self.sleeps += 1
        self.off_at = b.clock.ms()
        b.radio = False
        for s in self.servers:
            if s.queue() and s.state == _OK:
                s.wake = True   # not ready(): notifications are stored meanwhile

    def wake(self):
        # radio on, for a deadline or an application event (e.g. a sensor
        # threshold): an Update goes first so the server can deliver what it
        # queued, and notifications (stored ones first) wait for its 2.04
        b = self.board
        if b.radio:
            return
        b.radio = True
        self.asleep_ms += b.clock.ms() - self.off_at
        self.log("wake")
        for s in self.servers:
            if s.wake and s.state == _OK:
                s.due = 0

    def off_ms(self):
        # total radio-off time so far
        return self.asleep_ms + (0 if self.board.radio else self.board.clock.ms() - self.off_at)

    def stop(self, timeout_ms=5000):
        # orderly shutdown: De-register from every server (bounded wait)
        # a Register or Update in flight completes first, then De-register
        self.board.radio = True
        end = self.board.clock.ms() + timeout_ms
        for st in (_REG, _UPD, _DEREG):
            if st == _DEREG:
                for s in self.servers:
                    s.deregister(_OFF)
            while any(s.state == st for s in self.servers) and self.board.clock.ms() < end:
                self.step()
                self.board.wait(min(100, self.next_step_ms()))
        ex = [s.ex for s in self.servers if s.ex]
        self.log("bytes up=%d down=%d" % (sum(e.tx_bytes for e in ex), sum(e.rx_bytes for e in ex)))
