"""The timeline model of the client's queue-mode scheduler (kept ONLY as a
cross-check of the real client's figures: host_tests/test_energy_real.py
test_model_cross_check compares them, host_tests/test_energy.py checks the
model itself against closed-form formulas). The energy report and the bench
run the real client (energy/real.py); this model never feeds them.

A model of the client's scheduler (`Client`) against a model of the server,
over the simulated modem (tools/sim/simmodem.py) on a discrete-event clock.

Real client vs model (psm): a wake-up without a request costs the same in
both (setup + rtt + T3324: the wake-up Update says RAI "ongoing" when
notifications follow it, the NON notification "no response"). A wake-up
serving a request differs: in the real run the request is paged after the
notification's release, and the response (RAI "ongoing") keeps the
connection for the inactivity timer; the model lets the notification's RAI
"no response" release the connection the request's response still uses.

Timeline rules:
  - every wake-up starts with a registration Update (CON); the client wakes
    `setup_ms + rtt_ms` before a pmax deadline so the notification leaves on
    time, after the Update's response
  - coalescing: at a wake-up, every notification whose window is open
    (pmin elapsed) and whose pmax deadline is within `coalesce` x pmax is sent
    in the same session; the Update restarts the lifetime
  - the server holds requests while the device sleeps and sends them after
    the next Update, one at a time (NSTART 1), retransmitting with CoAP
    back-off; a request that exhausts its retransmissions is lost
"""
import heapq
import types

from .config import (M, SimModem, PSM, IDLE, CONN, DAY_MS, max_transmit_wait, ACK_TIMEOUT,
                     MAX_RETRANSMIT, checked, summary)


class _Clock:
    def __init__(self):
        self.now = 0

    def ms(self):
        return self.now


class Sim:
    def __init__(self, cfg, days, trace=False):
        self.c = cfg
        self.end = days * DAY_MS
        self.clock = _Clock()
        self.ev = []
        self.seq = 0
        self.trace = [] if trace else None
        self.m = SimModem(self.clock, ua=tuple(cfg["ua"]), inactivity=cfg["inactivity_ms"],
                          paging=cfg["paging_ms"], rai_tail=cfg["rai_tail_ms"], trace=self.trace)
        pol = cfg["policy"]
        if pol == "default":
            self.window = max_transmit_wait()
        elif pol == "fixed":
            self.window = int(cfg["awake"] * 1000)
        elif pol == "psm":
            self.window = None
        else:
            raise ValueError("policy: default, fixed or psm")
        self.rai = pol == "psm"
        # PSM timers, requested through the AT interface (D.8.5)
        if self.window is None:
            a = cfg["t3324"]
            if a is None:       # reachable for the server's reaction plus one paging cycle
                a = -(-(cfg["rtt_ms"] + cfg["paging_ms"]) // 1000)
        else:
            a = -(-self.window // 1000)     # reachable while the client is awake
        t = cfg["t3412"] if cfg["t3412"] is not None else M.dec_t3412(M.psm_timers(cfg["lifetime"])[0])
        self.at = M.Modem(self.m, "nrf91", types.SimpleNamespace(clock=self.clock, wait=lambda ms: None))
        self.at.setup()
        if not self.at.request_psm(t, a):
            raise RuntimeError("AT+CPSMS refused")
        self.t3412, self.t3324 = self.at.t3412, self.at.t3324   # granted, from +CEREG
        self.days = []
        self.snap = self.m.report(0)
        self.snap.update(wakeups=0, notifications=0, delivered=0, lost=0)
        self.count = dict(wakeups=0, notifications=0, delivered=0, lost=0)
        self.client = Client(self)
        self.server = Server(self)

    def at_(self, t, fn, *a):
        self.seq += 1
        heapq.heappush(self.ev, (t, self.seq, fn, a))

    def _close_days(self, t):
        while (len(self.days) + 1) * DAY_MS <= t:
            b = (len(self.days) + 1) * DAY_MS
            r = self.m.report(b)
            r.update(self.count)
            p = self.snap
            ms = [r["ms"][i] - p["ms"][i] for i in range(3)]
            self.days.append({
                "day": len(self.days),
                "radio_on_s": (ms[IDLE] + ms[CONN]) / 1000,
                "connected_s": ms[CONN] / 1000, "idle_s": ms[IDLE] / 1000, "psm_s": ms[PSM] / 1000,
                "mah": r["mah"] - p["mah"],
                "wakeups": r["wakeups"] - p["wakeups"],
                "modem_wakeups": r["wakes"] - p["wakes"], "taus": r["taus"] - p["taus"],
                "bytes_up": r["up"] - p["up"], "bytes_down": r["down"] - p["down"],
                "notifications": r["notifications"] - p["notifications"],
                "requests_delivered": r["delivered"] - p["delivered"],
                "requests_lost": r["lost"] - p["lost"],
            })
            self.snap = r

    def run(self):
        self.client.wake(0, first=True)
        n = self.c["requests_per_day"]
        for d in range(self.end // DAY_MS):
            for i in range(n):
                self.at_(d * DAY_MS + (2 * i + 1) * DAY_MS // (2 * n), self.server.queue_request)
        while self.ev and self.ev[0][0] < self.end:
            t, _, fn, a = heapq.heappop(self.ev)
            self._close_days(t)
            self.clock.now = t
            fn(t, *a)
        self._close_days(self.end)

    # the network between the modem and the server
    def up(self, t, kind, rai=None, ref=None):
        # the client sends: wake the radio first if needed
        m = self.m
        m.advance(t)
        if m.state != CONN:
            m.radio_event("wake", t=t)
            self.at_(t + self.c["setup_ms"], self._tx, kind, rai, ref)
        else:
            self._tx(t, kind, rai, ref)

    def _tx(self, t, kind, rai, ref):
        if self.rai:
            self.m.rai_next = rai
        self.m.radio_event("tx", self.c["sizes"][kind] + self.c["overhead"], t)
        self.client.sent(t)
        self.at_(t + self.c["rtt_ms"] // 2, self.server.recv, kind, ref)

    def down(self, t, kind, ref=None):
        # the server sends: the network reaches the device now, after paging, or never
        self.at_(t + self.c["rtt_ms"] // 2, self._arrive, kind, ref)

    def _arrive(self, t, kind, ref):
        d = self.m.downlink(t)
        if d is not None:
            self.at_(d, self._rx, kind, ref)

    def _rx(self, t, kind, ref):
        if self.m.radio_event("rx", self.c["sizes"][kind] + self.c["overhead"], t):
            self.client.recv(t, kind, ref)


class Client:
    # timeline model of the LwM2M client's queue-mode scheduler
    def __init__(self, sim):
        self.s = sim
        c = sim.c
        self.lead = c["setup_ms"] + c["rtt_ms"]
        self.obs = []
        for o in c["observations"]:
            if o.get("pmax"):
                # established (its first value sent) `phase` s after the registration
                t0 = self.lead + o.get("phase", 0) * 1000
                self.obs.append({"pmin": o.get("pmin", 0) * 1000, "pmax": o["pmax"] * 1000,
                                 "due": t0 + o["pmax"] * 1000, "last": t0})
        self.update_due = None
        self.batch = []
        self.last = 0
        self.waiting = False
        self.gen = 0

    def wake(self, t, gen=None, first=False):
        if gen is not None and gen != self.gen:
            return      # superseded
        s = self.s
        s.count["wakeups"] += 1
        tn = t + self.lead          # when notifications leave
        pull = s.c["coalesce"]
        self.batch = [o for o in self.obs
                      if o["due"] - tn <= pull * o["pmax"] and tn - o["last"] >= o["pmin"]]
        self.update_due = t + s.c["setup_ms"] + (s.c["lifetime"] - s.c["margin"]) * 1000
        self.waiting = True
        more = bool(self.batch) and s.c["update_more"]
        s.up(t, "register" if first else "update", M.rai_for(True, more=more))

    def sent(self, t):
        self.last = t
        if self.s.window is not None:
            self.s.at_(t + self.s.window, self.window_end)

    def window_end(self, t):
        # the awake window runs from the last message sent or received (as the
        # client does), never while the Update waits for its response
        if not self.waiting and t >= self.last + self.s.window:
            self.s.m.radio_event("sleep", t=t)     # the client turns the radio off

    def recv(self, t, kind, ref):
        s = self.s
        self.last = t
        if s.window is not None:
            s.at_(t + s.window, self.window_end)
        if kind == "ack":
            self.waiting = False
            b, self.batch = self.batch, []
            for i, o in enumerate(b):
                s.up(t, "notify", M.rai_for(False, more=i + 1 < len(b)))
                s.count["notifications"] += 1
                o["last"] = t
                o["due"] = t + o["pmax"]
            self.schedule(t)
        elif kind == "request":
            # a duplicate (retransmission) gets the same response again
            s.up(t, "response", M.rai_for(False, serving=True), ref)

    def schedule(self, t):
        nxt = self.update_due - self.s.c["setup_ms"]
        for o in self.obs:
            nxt = min(nxt, o["due"] - self.lead)
        self.gen += 1
        self.s.at_(max(t, nxt), self.wake, self.gen)


class Server:
    # queue-mode LwM2M server: holds requests until the device's next Update
    def __init__(self, sim):
        self.s = sim
        self.queue = []     # request ids waiting for a wake-up
        self.flush = []     # those being delivered in the current session
        self.busy = None    # [id, attempt] in flight
        self.n = 0

    def queue_request(self, t):
        self.n += 1
        self.queue.append(self.n)

    def recv(self, t, kind, ref):
        s = self.s
        if kind in ("register", "update"):
            s.down(t, "ack")
            self.flush += self.queue
            self.queue = []
            if self.busy is None:
                s.at_(t + s.c["server_ms"], self.next)
        elif kind == "response" and self.busy and self.busy[0] == ref:
            self.busy = None
            s.count["delivered"] += 1
            s.at_(t + s.c["server_ms"], self.next)

    def next(self, t):
        if self.busy is None and self.flush:
            self.busy = [self.flush.pop(0), 0]
            self.send(t, self.busy[0], 0)

    def send(self, t, rid, k):
        if not self.busy or self.busy[0] != rid or self.busy[1] != k:
            return
        if k > MAX_RETRANSMIT:
            self.busy = None        # gave up: lost (no further wake-up will see it)
            self.s.count["lost"] += 1
            self.next(t)
            return
        self.s.down(t, "request", rid)
        self.busy[1] = k + 1
        self.s.at_(t + (ACK_TIMEOUT << k), self.send, rid, k + 1)


def simulate(cfg, days=7, trace=False):
    """Run `cfg` (see DEFAULTS/config()) for `days`; returns a dict of figures.
    Per-day figures average the steady-state days (all but the first, which
    holds the registration) when days > 1."""
    c = checked(cfg)
    sim = Sim(c, days, trace)
    sim.run()
    out, _ = summary(c, days, sim.days)
    out.update({
        "source": "model", "t3412_s": sim.t3412, "t3324_s": sim.t3324,
        "requests": sim.server.n, "requests_delivered": sim.count["delivered"],
        "requests_lost": sim.count["lost"],
        "requests_pending": len(sim.server.queue) + len(sim.server.flush) + (sim.server.busy is not None),
    })
    if trace:
        out["trace"] = [(0, PSM)] + sim.trace
    return out
