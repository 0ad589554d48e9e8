# The client: one single-threaded loop (step / next_step_ms) driving the
# Registration interface (client/reg.py) for every server account, queue
# mode (radio off between deadlines) and the application's timers.
from client.ids import (MODE_CERT, SEC_BOOTSTRAP, SEC_CERT_USAGE, SEC_ID, SEC_KEY, SEC_MODE,
                        SEC_SERVER_KEY, SEC_SNI, SEC_SSID, SEC_URI, SRV_BINDING, SRV_LIFETIME, SRV_SSID)
from client import reg
from client.reg import Server, parse_uri
from client.engine import Engine
from client.codes import FMT_SENML_CBOR, FMT_TLV, quiet


def _min(d, x):
    # the earlier of two deadlines (None: none)
    return x if x is not None and (d is None or x < d) else d


class Client:
    fmt = FMT_TLV       # preferred content format
    # what is often unset stays a class default (no slot in the instance's dict)
    reporter = None     # client/report, loaded on first use (rep())
    bootstrap = acl = store = None   # client/bootstrap, objects/acl, client/store
    local = None        # client/local: the device-to-device CoAP endpoint, if any
    on_update = on_reg_fail = on_bootstrap = None
    reboot = False
    sleeps = asleep_ms = off_at = 0
    deep_ms = None      # radio-off sleeps at least this long are deep sleeps
    coalesce_ms = 60000     # queue mode: a pmax this close goes in the current radio session
    deep = 0            # ms of deep sleep due: run() returns, main hibernates

    def __init__(self, board, ep, objs, fmt=FMT_TLV, log=None, alt=""):
        self.board = board
        self.ep = ep
        if fmt != FMT_TLV:
            self.fmt = fmt
        self.alt = alt      # alternate path, e.g. "/alt" (transport spec §6.4.1)
        self.timers = []
        self.tasks = []     # background jobs with step(now)/deadline()/busy() [/error(e)] (a firmware download)
        self.objs = {}
        for o in objs:
            o.client = self
            self.objs[o.ID] = o
        self.log = log or quiet
        self.engine = Engine(self)
        self.servers = []
        from client.exchange import max_transmit_wait
        self.awake_ms = max_transmit_wait()     # queue mode awake window
        self.accounts()

    def accounts(self):
        # one Server per (Security, Server) instance pair with the same ssid
        sec = self.objs[0].inst
        old = {s.ssid: s for s in self.servers}
        self.servers = []
        for i in sorted(sec):
            s = sec[i]
            if not s.get(SEC_BOOTSTRAP) and s.get(SEC_SSID) is not None:
                ssid = s[SEC_SSID]
                srv = old.get(ssid) or Server(self, ssid, s[SEC_URI])
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
        elif path[0] == 1 and len(path) > 2 and path[2] in (SRV_LIFETIME, SRV_BINDING):
            s = self.server(self.objs[1].inst.get(path[1], {}).get(SRV_SSID))
            if s:
                s.trigger()

    # -- application API ---------------------------------------------------
    def set(self, path, value):
        # a new value from the application (a sensor reading): observations
        # of it fire according to their attributes
        o = self.objs[path[0]]
        # an application object (client/app.Obj) keeps it through store():
        # derived values (min/max) follow, server-write callbacks do not run
        getattr(o, "store", o.write)(path[1], path[2], value, path[3] if len(path) > 3 else None)
        self.changed(path)

    def add(self, obj):
        # an object of the application (client/app.py); once registered, an Update tells the servers
        obj.client = self
        self.objs[obj.ID] = obj
        self.changed((obj.ID,), True)
        return obj

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

    def serve_local(self, port=5683, oids=None):
        # the device-to-device CoAP endpoint (client/local.py) on port
        from client.local import Local
        self.local = Local(self, port, oids)
        return self.local

    def send(self, paths, cf=FMT_SENML_CBOR):
        # Send (POST /dp) these paths, queued until a server is registered
        from client.composite import send
        send(self.rep(), paths, cf)

    def transport(self, uri, sec, saved=None, lport=0, binding="U", pref=None):
        # a datagram transport to uri: UDP, or DTLS with the Security instance's
        # credentials (mode 0: PSK identity /0/x/3, key /0/x/5; mode 2:
        # certificate /0/x/3, key /0/x/5, server's /0/x/4, usage /0/x/15;
        # saved: a DTLS state from before a deep sleep); with S in the
        # binding: SMS (client/sms.py), alone or beside UDP (/1/x/22 preferred)
        b = self.board
        if "S" in binding:
            from client.sms import transport
            return transport(self, sec, binding, pref, lambda: self.transport(uri, sec, saved, lport))
        if "+tcp:" in uri or uri.startswith("mqtt"):
            # a stream: CoAP over TCP/TLS (client/tcp.py), over MQTT (client/mqtt.py)
            return __import__("client.tcp" if "+tcp:" in uri else "client.mqtt", None, None, ["conn"]).conn(self, uri, sec)
        host, port, secure = parse_uri(uri)
        u = tr = b.udp(host, port, lport)
        if secure and sec.get(SEC_MODE) == MODE_CERT:
            # certificates (mode 2): the firmware's ssl; SNI /0/x/14, else the host
            from client.dtlscert import DtlsCert
            tr = DtlsCert(u, sec.get(SEC_ID), sec.get(SEC_KEY), sec.get(SEC_SERVER_KEY), sec.get(SEC_CERT_USAGE),
                          sec.get(SEC_SNI) or host, b.clock.ms)
        elif secure:
            from client.dtls import Dtls
            tr = Dtls(u, sec.get(SEC_ID, b""), sec.get(SEC_KEY, b""), b.clock.ms, b.random, cid=True)
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
            if s.ex:    # bounded per step, read into the exchange's one buffer
                s.ex.pump(16)
        now = b.clock.ms()
        for t in [t for t in self.timers if t[0] <= now] if self.timers else ():
            self.timers.remove(t)
            try:
                t[1]()
            except Exception as e:  # an application error: logged, the timer is not rescheduled
                self.log("timer error", repr(e))
        for s in self.servers:
            s.step(now)
        for t in self.tasks[:] if self.tasks else ():
            self._task(t, now)
        if self.reporter:
            try:
                self.reporter.step(now)
            except MemoryError:     # a notification found no heap: it stays due
                pass
        if self.local:
            self.local.step()

    def _task(self, t, now):
        # (its own frame: step()'s stays small)
        try:
            t.step(now)
        except Exception as e:  # a task with error(e) ends (a download: no heap, a bad
            if not hasattr(t, "error"):     # answer), not the client; else fatal
                raise
            self.log("task failed", repr(e))
            t.error(e)

    def _next(self, timers=True):
        # the earliest deadline (client ms): the servers', the reporter's (the
        # radio ones while offline), bootstrap, and the application's timers
        # (no list built: the scheduler runs at every step)
        d = self.bootstrap.deadline() if self.bootstrap else None
        if self.local:
            d = _min(d, self.local.deadline())
        for s in self.servers:
            d = _min(d, s.deadline())
        if self.reporter:
            d = _min(d, self.reporter.deadline(timers))
        for t in self.timers if timers else ():
            d = _min(d, t[0])
        for t in self.tasks:
            d = _min(d, t.deadline())
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
        if self.reboot:
            return      # Reboot / Factory Reset answered: no waiting for a deadline
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
            if self.local:
                self.local.lis.drain()
        r = self._next(False)
        if r is not None and r <= b.clock.ms():
            self.wake()

    def awake_left(self):
        # queue mode (transport spec §6.5): ms left of the awake window after
        # the last message to or from a server; None when not in queue mode
        # or something is still going on
        last = None
        for s in self.servers:
            if s.queue():
                if not s.settled() or s.wake or not s.ex or s.ex.busy():
                    return None
                last = max(s.ex.last_rx, s.ex.last_tx, last or 0)
        for t in self.tasks:
            if t.busy():
                return None
        return None if last is None else max(0, last + self.awake_ms - self.board.clock.ms())

    def radio_off(self):
        # the awake window is over: radio off until a deadline needs it
        b = self.board
        d = self._next(False)
        self.log("sleep %ds" % ((d - b.clock.ms()) // 1000 if d else 3600))
        self.sleeps += 1
        self.off_at = b.clock.ms()
        b.radio = False
        for s in self.servers:
            if s.queue() and s.settled():
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
            if s.wake and s.settled():
                s.due = 0

    def off_ms(self):
        # total radio-off time so far
        return self.asleep_ms + (0 if self.board.radio else self.board.clock.ms() - self.off_at)

    def stop(self, timeout_ms=5000):
        # orderly shutdown: De-register from every server (bounded wait)
        # a Register or Update in flight completes first, then De-register
        self.board.radio = True
        end = self.board.clock.ms() + timeout_ms
        for st in (reg.REG, reg.UPD, reg.DEREG):
            if st == reg.DEREG:
                for s in self.servers:
                    s.deregister(reg.OFF)
            while any(s.is_in(st) for s in self.servers) and self.board.clock.ms() < end:
                for s in self.servers:
                    if st != reg.DEREG and s.is_in(st) and s.ex and not s.ex.busy():
                        s.lost()    # its answer came, the interrupt took the rest
                try:
                    self.step()
                except Exception:   # after a fatal error: the part that failed must not stop the De-register
                    pass
                self.board.wait(min(100, self.next_step_ms()))
        ex = [s.ex for s in self.servers if s.ex]
        self.log("bytes up=%d down=%d" % (sum(e.tx_bytes for e in ex), sum(e.rx_bytes for e in ex)))
