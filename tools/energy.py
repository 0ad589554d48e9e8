"""Energy report for Queue Mode on a cellular (PSM) device.

Runs a configuration -- registration lifetime, observations (pmin/pmax), awake
policy, PSM timers, a traffic profile of server requests -- for N simulated
days and reports radio-on seconds per day, wake-ups per day, bytes per day and
an estimated battery life from the modem's currents; text output plus a PNG of
the radio state over one day.

This first version drives a timeline model of the client (below, `Client`)
against a model of a queue-mode server, over the device's own simulated modem
(boards/simmodem.py, configured through boards/modem.py AT commands), on a
discrete-event clock. The model follows the scheduler rules of issue 5; the
real client can later replace `Client` on the same clock and modem.

Awake policies:
  default  stay awake MAX_TRANSMIT_WAIT (93 s) after the last message sent
           (transport spec 6.5), then the radio sleeps
  fixed    the same with a fixed window (`awake` s)
  psm      no client window: RAI per message (Table D.4-1) releases the
           connection, the network's active timer T3324 keeps the device
           reachable, then PSM (Appendix D.8.4: T3324 replaces MAX_TRANSMIT_WAIT)

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
import argparse
import heapq
import json
import os
import sys
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
_shim = "micropython" not in sys.modules
if _shim:
    # device modules use micropython.const; on CPython it is the identity
    _mp = types.ModuleType("micropython")
    _mp.const = lambda x: x
    sys.modules["micropython"] = _mp
from boards import modem as M                                   # noqa: E402
from boards.simmodem import SimModem, PSM, IDLE, CONN, NAMES, UA  # noqa: E402
from client.exchange import max_transmit_wait, ACK_TIMEOUT, MAX_RETRANSMIT  # noqa: E402
if _shim:
    del sys.modules["micropython"]

DAY_MS = 86400000

DEFAULTS = {
    "policy": "psm",            # default | fixed | psm
    "lifetime": 86400,          # s
    "observations": [{"pmin": 0, "pmax": 3600}],  # + optional "phase" (s)
    "requests_per_day": 5,      # evenly spaced: (i + 1/2) * 24 h / n
    "awake": 10,                # s: window of the 'fixed' policy
    "t3324": None,              # s: 'psm' active time; None: rtt + paging cycle
    "t3412": None,              # s: None: just above the lifetime (D.8.5)
    "coalesce": 0.05,           # pull a deadline forward by <= this x its period
    "margin": 93,               # s: Update this long before the lifetime ends
    "setup_ms": 1000,           # PSM exit + RRC connection before the first send
    "rtt_ms": 500,              # round trip device <-> server
    "server_ms": 200,           # server: message received -> next queued request
    "inactivity_ms": 10000,     # RRC inactivity timer without RAI
    "paging_ms": 2560,          # worst-case paging delay in idle (DRX cycle)
    "rai_tail_ms": 0,           # release delay after RAI
    "ua": list(UA),             # uA in PSM, idle, connected
    "capacity_mah": 2400,       # battery (e.g. one ER14505 lithium AA cell)
    "overhead": 28,             # bytes per datagram below CoAP (IPv4 20 + UDP 8; +29 DTLS)
    "sizes": {"register": 110, "update": 16, "ack": 8, "notify": 24,
              "request": 18, "response": 24},
}


def config(**kw):
    c = json.loads(json.dumps(DEFAULTS))
    for k, v in kw.items():
        if k not in c:
            raise KeyError(k)
        c[k] = v
    return c


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
        s.up(t, "register" if first else "update", M.rai_for(True, more=bool(self.batch)))

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
    if isinstance(cfg, dict) and set(cfg) - set(DEFAULTS):
        raise KeyError(sorted(set(cfg) - set(DEFAULTS)))
    c = config(**cfg)
    sim = Sim(c, days, trace)
    sim.run()
    per = sim.days
    st = per[1:] if len(per) > 1 else per

    def mean(k):
        return sum(d[k] for d in st) / len(st)
    mah = mean("mah")
    out = {
        "config": c, "days": days, "per_day": per,
        "t3412_s": sim.t3412, "t3324_s": sim.t3324,
        "radio_on_s_day": mean("radio_on_s"), "connected_s_day": mean("connected_s"),
        "idle_s_day": mean("idle_s"), "wakeups_day": mean("wakeups"),
        "modem_wakeups_day": mean("modem_wakeups"), "taus_day": mean("taus"),
        "bytes_day": mean("bytes_up") + mean("bytes_down"),
        "bytes_up_day": mean("bytes_up"), "bytes_down_day": mean("bytes_down"),
        "notifications_day": mean("notifications"),
        "mah_day": mah, "battery_days": c["capacity_mah"] / mah if mah else None,
        "requests": sim.server.n, "requests_delivered": sim.count["delivered"],
        "requests_lost": sim.count["lost"],
        "requests_pending": len(sim.server.queue) + len(sim.server.flush) + (sim.server.busy is not None),
    }
    out["battery_years"] = out["battery_days"] / 365.25 if out["battery_days"] else None
    if trace:
        out["trace"] = [(0, PSM)] + sim.trace
    return out


REFERENCE = {"lifetime": 86400, "observations": [{"pmin": 0, "pmax": 3600}], "requests_per_day": 5}
POLICIES = (("default", {"policy": "default"}), ("fixed10", {"policy": "fixed", "awake": 10}),
            ("psm", {"policy": "psm"}))


def reference(days=7, trace=False):
    return {name: simulate(dict(REFERENCE, **p), days, trace) for name, p in POLICIES}


def bench_figures(days=7):
    """Reference profile (lifetime 24 h, one resource with pmax 1 h, 5 server
    requests a day) under the three policies; queued_requests_lost sums all three."""
    r = reference(days)
    d, f, p = (r[k]["radio_on_s_day"] for k in ("default", "fixed10", "psm"))
    return {
        "radio_on_s_day_default": round(d, 3),
        "radio_on_s_day_fixed10": round(f, 3),
        "radio_on_s_day_psm": round(p, 3),
        "radio_on_ratio": round(d / p, 2),
        "queued_requests_lost": sum(x["requests_lost"] for x in r.values()),
    }


# ---- output
def text(results):
    rows = (("radio on (s/day)", "radio_on_s_day", "%.1f"), ("  connected", "connected_s_day", "%.1f"),
            ("  idle", "idle_s_day", "%.1f"), ("wake-ups/day", "wakeups_day", "%.2f"),
            ("periodic TAU/day", "taus_day", "%.2f"), ("bytes/day", "bytes_day", "%.0f"),
            ("notifications/day", "notifications_day", "%.2f"), ("charge (mAh/day)", "mah_day", "%.3f"),
            ("battery (years)", "battery_years", "%.1f"), ("T3412 granted (s)", "t3412_s", "%s"),
            ("T3324 granted (s)", "t3324_s", "%s"), ("requests", "requests", "%d"),
            ("  delivered", "requests_delivered", "%d"), ("  lost", "requests_lost", "%d"),
            ("  pending at end", "requests_pending", "%d"))
    names = list(results)
    out = ["%-20s" % "" + "".join("%14s" % n for n in names)]
    for label, k, fmt in rows:
        out.append("%-20s" % label + "".join(
            "%14s" % (fmt % results[n][k] if results[n][k] is not None else "-") for n in names))
    c = next(iter(results.values()))["config"]
    out.append("currents: PSM %g uA, idle %g mA, connected %g mA; battery %g mAh; %d days simulated"
               % (c["ua"][0], c["ua"][1] / 1000, c["ua"][2] / 1000, c["capacity_mah"],
                  next(iter(results.values()))["days"]))
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--policy", default="all", help="default, fixed, psm or all (default: all three)")
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--lifetime", type=int, default=REFERENCE["lifetime"], help="s")
    ap.add_argument("--obs", action="append", metavar="PMIN:PMAX[:PHASE]",
                    help="an observation (s); repeatable; default 0:3600")
    ap.add_argument("--requests", type=int, default=REFERENCE["requests_per_day"], help="per day")
    ap.add_argument("--awake", type=float, default=10, help="s: window of the fixed policy")
    ap.add_argument("--t3324", type=int, help="s: PSM active time of the psm policy")
    ap.add_argument("--t3412", type=int, help="s: requested periodic TAU")
    ap.add_argument("--coalesce", type=float, default=DEFAULTS["coalesce"])
    ap.add_argument("--ua", help="PSM,IDLE,CONN currents in uA")
    ap.add_argument("--capacity", type=float, default=DEFAULTS["capacity_mah"], help="mAh")
    ap.add_argument("--png", default=os.path.join(ROOT, "build", "energy.png"))
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--bench", action="store_true", help="print bench_figures() as JSON")
    a = ap.parse_args(argv)
    if a.bench:
        print(json.dumps(bench_figures(a.days), indent=1))
        return 0
    obs = []
    for o in a.obs or ["0:3600"]:
        f = [float(x) for x in o.split(":")]
        obs.append({"pmin": f[0], "pmax": f[1], "phase": f[2] if len(f) > 2 else 0})
    base = {"lifetime": a.lifetime, "observations": obs, "requests_per_day": a.requests,
            "t3324": a.t3324, "t3412": a.t3412, "coalesce": a.coalesce, "capacity_mah": a.capacity}
    if a.ua:
        base["ua"] = [float(x) for x in a.ua.split(",")]
    pols = {"default": {"policy": "default"}, "fixed": {"policy": "fixed", "awake": a.awake},
            "psm": {"policy": "psm"}}
    names = list(pols) if a.policy == "all" else [a.policy]
    res = {("fixed%g" % a.awake if n == "fixed" else n): simulate(dict(base, **pols[n]), a.days, True)
           for n in names}
    print(text(res))
    if len(res) > 1 and "default" in res and "psm" in res:
        print("radio-on ratio default/psm: %.1f" % (res["default"]["radio_on_s_day"] / res["psm"]["radio_on_s_day"]))
    if a.png:
        from energyplot import plot
        print("plot:", plot(res, a.png, min(1, a.days - 1)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({n: {k: v for k, v in r.items() if k != "trace"} for n, r in res.items()}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
