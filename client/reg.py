# The Registration interface (transport spec §6.4.3) of one server account:
# its transport, exchange and registration state machine. The loop that
# drives every account (step / next_step_ms, queue mode) is client/client.py.
from micropython import const
from client.ids import (SEC_BOOTSTRAP, SEC_SSID, SRV_BINDING, SRV_LAST_ERROR, SRV_LIFETIME,
                        SRV_RETRY_COUNT, SRV_RETRY_TIMER, SRV_SEQ_DELAY, SRV_SSID, SRV_PREF_TRANSPORT)
from client.coap import Msg
from client.linkf import links as links_into, same
from client.exchange import Exchange, max_transmit_wait
from client.codes import (CHANGED, CON, CONTENT_FORMAT, CREATED, DELETE, FMT_LINK,
                          LOCATION_PATH, POST, URI_PATH, URI_QUERY, cstr)

# registration states
IDLE = const(0)
REG = const(1)      # Register sent
OK = const(2)       # registered
UPD = const(3)      # Update sent
WAIT = const(4)     # back-off before the next Register
DEREG = const(5)    # De-register sent
OFF = const(6)      # disabled (/1/x/4) or stopped
_MIN_MARGIN = const(93)  # s: Update at least MAX_TRANSMIT_WAIT before expiry
# the floor: at most one Update of our own per MAX_TRANSMIT_WAIT / 2 (ms),
# whatever the lifetime; only the server (a trigger, a write) asks for more
_FLOOR = max_transmit_wait() // 2


def parse_uri(uri):
    # coap[s]://host[:port], coap[s]+tcp:// (client/tcp.py), mqtt[s]:// (client/mqtt.py)
    # -> (host, port, secure)
    sch, _, rest = uri.partition("://")
    if sch not in ("coap", "coaps", "coap+tcp", "coaps+tcp", "mqtt", "mqtts") or not rest:
        raise ValueError("bad server uri")
    sec = sch in ("coaps", "coaps+tcp", "mqtts")
    hp = rest.split("/")[0]
    if hp.startswith("["):
        host, _, port = hp[1:].partition("]")
        port = port[1:]
    else:
        host, _, port = hp.partition(":")
    return host, int(port) if port else (8883 if sec else 1883) if sch[0] == "m" else (5684 if sec else 5683), sec


class Server:
    # one LwM2M server account: its transport, exchange and registration. The defaults are
    # class attributes (an instance's dict holds what was set on it)
    grant = None    # (a local peer's access check: client/local.py; none here)
    state = IDLE
    # ms: when to say a Register is not answered yet (0: said), the next registration action
    asked = due = 0
    fails = rejects = 0     # failed attempts; Updates refused in a row (4.xx/5.xx)
    loc = ex = sent = None  # sent: (lifetime, binding, links) last told to the server
    # wake: queue mode, asleep or back and the Update not done yet; fresh: a new
    # transport since registering (DTLS handshake first)
    wake = fresh = False
    lport = 0       # local UDP port, the same after a deep sleep
    up = True       # the board's link, as last seen (see link())

    def __init__(self, client, ssid, uri):
        self.c = client
        self.ssid = ssid
        self.uri = uri

    def res(self, rid, default=None):
        # a resource of this account's Server object instance
        o = self.c.objs[1].inst
        for k in o:     # (keys, not values(): no view object per call)
            i = o[k]
            if i.get(SRV_SSID) == self.ssid:
                return i.get(rid, default)
        return default

    def lifetime(self):
        return self.res(SRV_LIFETIME, 86400)

    def connect(self, saved=None):
        # True with a transport; False when it could not be made (a name that
        # does not resolve, no route, no socket): a failed attempt, not a crash
        if self.ex:
            return True
        b = self.c.board
        try:
            tr = self.c.transport(self.uri, self.sec(), saved, self.lport, self.res(SRV_BINDING, "U"),
                                  self.res(SRV_PREF_TRANSPORT))
        except OSError as e:
            self.c.log("connect failed", self.uri, e.args[0] if e.args else "")
            return False
        self.lport = tr.lport
        x = Exchange
        if getattr(tr, "reliable", 0):   # TCP/TLS, MQTT: no CON/ACK (client/rexchange.py)
            from client.rexchange import RExchange as x
        self.ex = x(tr, b.clock, b.random, self)
        if getattr(b, "rai", None):     # a cellular board's RAI hook
            self.ex.rai = b.rai
        if getattr(tr, "ack_timeout", 0):       # SMS: seconds per round trip
            self.ex.ack_timeout = tr.ack_timeout
        self.fresh = True
        return True

    def sec(self):
        # this account's Security object instance
        for i in self.c.objs[0].inst.values():
            if i.get(SEC_SSID) == self.ssid and not i.get(SEC_BOOTSTRAP):
                return i
        return {}

    def close(self):
        # drop the transport (and a DTLS session): the next attempt starts afresh
        if self.ex:
            self.ex.cancel()
            self.ex.tr.close()
            self.ex = None

    def _tls(self):
        # the DTLS state of this account's transport: None (plain or fine), else the handshake /
        # session failed. Transport spec §5.2.9: alerts marked "Fail" (certificates, unknown PSK
        # identity) skip the retries and go to the sequence delay (and bootstrap if so
        # configured); the others are retried with the usual back-off.
        tr = self.ex.tr
        err = getattr(tr, "error", None)
        if not err:
            return
        a = tr.alert or 0
        self.c.log("dtls", err)
        for i in self.c.objs[1].inst.values():
            if i.get(SRV_SSID) == self.ssid:
                i[SRV_LAST_ERROR] = a
        self.close()
        if 42 <= a <= 49 and a != 47 or a >= 112:
            self.fails = self.res(SRV_RETRY_COUNT, 5)
        self.state = WAIT
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
        lt, b = self.lifetime(), self.res(SRV_BINDING, "U")
        q = []
        if full:
            q = ["ep=" + self.c.ep, "lt=%d" % lt, "lwm2m=1.1", "b=" + b.replace("Q", "")]
            n = getattr(self.c.board, "msisdn", None)
            if n and "S" in b:      # where the server reaches us by SMS
                q.append("sms=" + n)
            if "Q" in b:
                q.append("Q")
        else:
            if self.sent[0] != lt:
                q.append("lt=%d" % lt)
            if self.sent[1] != b:
                q.append("b=" + b.replace("Q", ""))
        return q, (lt, b)

    def register(self):
        if not self.connect():
            self._failed(None)
            return
        self.ex.cancel()
        self.fresh = self.wake = False
        self.loc = None     # set by this Register's answer only (see lost())
        q, s = self._query(True)
        buf, n = links_into(self.c.engine, getattr(self.ex, "tx", None))     # the send buffer as scratch
        links = bytes(memoryview(buf)[:n])     # kept: an Update compares its own with it
        m = Msg(CON, POST, token=self.ex.token(), payload=links)
        m.add(URI_PATH, "rd").add(CONTENT_FORMAT, FMT_LINK)
        for x in q:
            m.add(URI_QUERY, x)
        self.state = REG
        self.asked = self.c.board.clock.ms() + 10000    # a silent server is said so after 10 s
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
        self.state = OK
        self.fails = 0
        lt = self.sent[0]
        margin = min(lt // 2, max(lt // 10, _MIN_MARGIN))
        self.due = self.c.board.clock.ms() + max((lt - margin) * 1000, _FLOOR)

    def _failed(self, r):
        # back-off: Communication Retry Timer * 2^n, then the sequence delay
        self.fails += 1
        self.state = WAIT
        if self.fails <= self.res(SRV_RETRY_COUNT, 5):
            d = self.res(SRV_RETRY_TIMER, 60) << (self.fails - 1)
        else:
            d = self.res(SRV_SEQ_DELAY, 86400)
            self.fails = 0
        d = max(d, 1) * 1000 + self.c.board.random(1)[0] * d * 100 // 255  # + up to 10 % jitter
        self.due = self.c.board.clock.ms() + d
        if r:
            self.c.log("register failed", cstr(r.code), "retry in %d s" % (d // 1000))
        else:
            self.c.log("register failed: no answer from %s, retry in %d s" % (self.uri, d // 1000))
        if not r and self.ex and hasattr(self.ex.tr, "alert"):
            self.close()    # DTLS, no answer: a new handshake on the next attempt
        if self.c.on_reg_fail:
            self.c.on_reg_fail(self)

    def update(self):
        q, s = self._query(False)
        buf, n = links_into(self.c.engine, getattr(self.ex, "tx", None))
        links = self.sent[2]
        if not same(buf, n, links):    # the object list changed: sent again
            links = bytes(memoryview(buf)[:n])
        m = Msg(CON, POST, token=self.ex.token())
        for x in self.loc:
            m.add(URI_PATH, x)
        for x in q:
            m.add(URI_QUERY, x)
        if links is not self.sent[2]:
            m.add(CONTENT_FORMAT, FMT_LINK)
            m.payload = links
        self.state = UPD
        r = self.c.reporter     # a wake-up Update with notifications behind it (RAI)
        if self.wake and r and r.has(self):
            self.ex.more = True

        def done(r):
            if r and r.code == CHANGED:
                self.wake, self.rejects, self.sent = False, 0, s + (links,)
                self._registered()
                self.c.log("updated")
                if self.c.on_update:
                    self.c.on_update(self)
            elif r and r.code >= 128:
                # the registration is gone (4.04) or the Update refused: Register again, at once
                # the first time, after the back-off when the new registration's are refused too
                self.c.log("update rejected, register again")
                self.rejects += 1
                if self.rejects > 1:
                    self.fails = self.rejects - 2   # doubling across the new registrations
                    self._failed(r)
                else:
                    self.register()
            else:
                self._failed(None)
        self.ex.send(m, done)

    def deregister(self, then=IDLE):
        if self.state not in (OK, UPD) or not self.loc:
            self.state = then
            return
        m = Msg(CON, DELETE, token=self.ex.token())
        for x in self.loc:
            m.add(URI_PATH, x)
        self.state = DEREG
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
        self.deregister(OFF)
        self.due = self.c.board.clock.ms() + timeout_s * 1000

    def trigger(self):
        # Registration Update Trigger, lifetime/binding/object list change
        if self.state == OK:
            self.due = 0

    def _hs(self):
        # a new DTLS transport while registered (after a deep sleep): finish the handshake before
        # the Update. An abbreviated handshake or a saved connection keeps the registration; a
        # full one means Register again (transport spec §6.4.3). True while it is under way.
        tr = self.ex.tr
        if not hasattr(tr, "phase"):    # not DTLS
            self.fresh = False
            return False
        if tr.idle():
            tr.start()
        elif tr.connected() and not tr.resumed():
            self.c.log("full handshake: register again")
            self.register()
            return True
        self.fresh = not tr.connected()
        return self.fresh

    def link(self):
        # the board's link (Wi-Fi...) as a scheduler input: while it is down nothing is sent and no
        # timer of this account runs (a CON in flight or queued waits); going down is like a
        # queue-mode sleep (notifications are stored), coming back sends an Update first (a new address)
        up = getattr(self.c.board, "online", True)
        if up != self.up:
            self.up = up
            if self.registered():
                self.wake = True
                if up and self.state == OK:
                    self.due = 0
        return up

    def step(self, now):
        if self.paused() or not self.link():
            return
        if self.ex:
            self._tls()
        if self.ex:
            self.ex.step()
        st = self.state
        try:
            if st in (IDLE, WAIT) and now >= self.due:
                self.register()
            elif st == OK and now >= self.due and self.c.board.radio:
                if not self.connect():
                    self._failed(None)
                elif not (self.fresh and self._hs()):
                    self.update()
            elif st == OFF and self.due and now >= self.due:
                self.register()
            elif st == REG and self.asked and now >= self.asked:
                self.asked = 0
                self.c.log("no answer from %s yet, retransmitting" % self.uri)
        except MemoryError:     # the message could not be made (it is sent last): again in a second
            self.state, self.due = st if st in (OK, REG) else WAIT, now + 1000
            self.c.log("out of memory", self.uri)   # said, never a silent loop

    def deadline(self):
        # (radio off: the deadlines as they are, one wakes the radio and the board brings
        # the link up; radio on and no link: the board's wait returns when it is back)
        if self.paused() or self.c.board.radio and not self.link():
            return None
        d = self.ex.deadline() if self.ex else None
        if self.fresh and d is not None:
            return d            # DTLS handshake under way
        if self.state in (IDLE, WAIT, OK) or (self.state == OFF and self.due):
            if d is None or self.due < d:
                d = self.due
        elif self.state == REG and self.asked and (d is None or self.asked < d):
            d = self.asked      # the "no answer yet" line
        return d

    def lost(self):
        # a Ctrl-C inside the handling of a Register/Update answer (client.stop):
        # nothing is outstanding but the state says "sent". An Update's
        # registration stands, as does a Register's whose location was taken;
        # else the Register goes again (the server may have it: asked anew)
        if self.state == UPD or self.loc:
            self._registered()
        else:
            self.register()

    def registered(self):
        return self.state in (OK, UPD)

    def settled(self):
        # registered with nothing in flight (queue mode may turn the radio off)
        return self.state == OK

    def is_in(self, st):
        return self.state == st

    def restore(self, loc, sent, due, lport, saved):
        # registered before a deep sleep (client/sleep.py): carry on offline
        self.lport = lport
        self.loc = loc
        self.sent = tuple(sent)
        self.state = OK
        self.due = due
        self.wake = True
        self.connect(saved)

    def ready(self):
        # may notify / Send: registered, after a wake-up only once the Update went through (the
        # server learns first that we are back)
        return self.state in (OK, UPD) and not self.wake

    def queue(self):
        return "Q" in self.res(SRV_BINDING, "U")
