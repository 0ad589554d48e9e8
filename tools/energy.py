"""Energy report for Queue Mode on a cellular (PSM) device.

Runs a configuration -- registration lifetime, observations (pmin/pmax), awake
policy, PSM timers, a traffic profile of server requests -- for N simulated
days and reports radio-on seconds per day, wake-ups per day, bytes per day and
an estimated battery life from the modem's currents; text output plus a PNG of
the radio state over one day.

Two sources for the same figures:
  client  (default) the real client, client/client.py on the MicroPython unix
          port (run_client): virtual clock, its datagrams through the simulated
          modem (boards/cellular.py CellBoard over boards/simmodem.py, timers
          requested with AT commands through boards/modem.py), against a
          queue-mode server peer in the same process at rtt/2 from the
          device's network; a week of device time takes well under a second
  model   a timeline model of the client's scheduler (`Client` below) against
          a model of the server over the same simulated modem on a
          discrete-event clock (simulate); kept as a cross-check

Awake policies:
  default  stay awake MAX_TRANSMIT_WAIT (93 s) after the last message sent
           (transport spec 6.5), then the radio sleeps
  fixed    the same with a fixed window (`awake` s)
  psm      no client window: RAI per message (Table D.4-1) releases the
           connection, the network's active timer T3324 keeps the device
           reachable, then PSM (Appendix D.8.4: T3324 replaces MAX_TRANSMIT_WAIT);
           the real client's awake window ends when the modem enters PSM

Real client vs model (psm): a wake-up without a request costs the same in
both (setup + rtt + T3324: the wake-up Update says RAI "ongoing" when
notifications follow it, the NON notification "no response"). A wake-up
serving a request differs: in the real run the request is paged after the
notification's release, and the response (RAI "ongoing") keeps the
connection for the inactivity timer; the model lets the notification's RAI
"no response" release the connection the request's response still uses.

Timeline rules (model):
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
from devclient import MP_PEER_SOCKET                            # noqa: E402
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
    "update_more": True,        # model: the wake-up Update says RAI "ongoing" when
                                # a notification follows it, as the client does
                                # (False: "one response": the notification reconnects)
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


# ---- the real client: client/client.py on the MicroPython unix port, on a
# virtual clock, its datagrams through the simulated modem (boards/cellular.py
# CellBoard), against a queue-mode server peer in the same process
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")
PATHS = ("3303/0/5700", "3303/0/5601", "3303/0/5602", "3303/0/5701", "3303/0/5750")

DEVICE = r'''
import socket, os, json
from boards.cellular import CellBoard
from firmware.main import build, options
from client import coap
from client.codes import (CON, ACK, RST, GET, PUT, POST, CREATED, CHANGED, DELETED, CONTENT,
                          OBSERVE, URI_PATH, URI_QUERY, LOCATION_PATH)
C = json.loads(CFG)
DAY = 86400000
ACK_T = 2000        # the server's CoAP ACK_TIMEOUT (no random factor) and MAX_RETRANSMIT
MAX_RT = 4
HALF = C["rtt_ms"] // 2  # device's network <-> server
PEER_SOCKET
peer.setblocking(False)
trace = []
b = CellBoard(C["state"], 0, C["policy"], C["t3324"], C["t3412"], C["setup_ms"], C["overhead"],
              ua=tuple(C["ua"]), inactivity=C["inactivity_ms"], paging=C["paging_ms"],
              rai_tail=C["rai_tail_ms"], trace=trace)
LOG = []
argv = ["--server", "coap://127.0.0.1:%d" % port, "--endpoint", "energy",
        "--lifetime", str(C["lifetime"]), "--binding", "UQ"]
if C["policy"] == "fixed":
    argv += ["--awake", str(C["awake"])]
c = build(b, options(argv), (lambda *a: LOG.append([b.clock.ms()] + [str(x) for x in a])) if C["log"] else None)
granted = b.setup(c)
OBS = C["observations"]
if OBS:     # the coalescing horizon (the reporter takes it when created)
    c.coalesce_ms = int(C["coalesce"] * min(o["pmax"] for o in OBS) * 1000)
for t in C["sms"]:
    b.sms(int(t * 1000))


class Peer:
    # queue-mode server at rtt/2 from the device's network: answers Register/
    # Update, observes, holds requests until the device's next Update and
    # sends them one at a time then (server_ms after the device's last
    # message), each a CON retransmitted with CoAP back-off
    def __init__(self):
        self.addr = None
        self.mid = 0x2000
        self.inbox = []         # [ms the server has it, datagram, address]
        self.outbox = []        # [ms it reaches the device's network, datagram]
        self.queue = []         # held requests: [kind, index or created ms]
        self.flush = []         # to send now, one at a time
        self.go = None          # ms the next one is sent
        self.cur = None         # in flight: [mid, token, data, retransmissions, deadline, item]
        self.obs = {}           # token -> observation index
        self.seen = {}          # the device's CON mid -> our response
        self.n = {"requests": 0, "delivered": 0, "lost": 0, "notifications": 0,
                  "registers": 0, "updates": 0, "observing": 0}
        self.ups = []           # ms each Register / Update reached the server
        self.lat = []           # ms from a held request's creation to its answer

    def hold(self, t):
        self.queue.append(["read", t])
        self.n["requests"] += 1

    def deadline(self):
        d = self.cur[4] if self.cur else self.go if self.flush else None
        for x in self.inbox[:1] + self.outbox[:1]:
            if d is None or x[0] < d:
                d = x[0]
        return d

    def tx(self, d, now):
        self.outbox.append([now + HALF, d])

    def start(self, now):
        if self.cur or not self.flush or not self.addr or now < self.go:
            return
        it = self.flush.pop(0)
        self.mid = (self.mid + 1) & 0xFFFF
        tok = b"e%d" % self.mid
        m = coap.Msg(CON, PUT if it[0] == "attrs" else GET, self.mid, tok)
        for x in (PATHS[0] if it[0] == "read" else PATHS[it[1]]).split("/"):
            m.add(URI_PATH, x)
        if it[0] == "attrs":
            o = OBS[it[1]]
            m.add(URI_QUERY, "pmin=%d" % o["pmin"]).add(URI_QUERY, "pmax=%d" % o["pmax"])
        elif it[0] == "observe":
            m.add(OBSERVE, 0)
        d = coap.build(m)
        self.cur = [self.mid, tok, d, 0, now + ACK_T, it]
        self.tx(d, now)

    def poll(self, now):
        while True:
            try:
                d, a = peer.recvfrom(2048)
            except OSError:
                break
            self.inbox.append([now + HALF, d, a])
        while self.inbox and self.inbox[0][0] <= now:
            t, d, a = self.inbox.pop(0)
            self.rx(coap.parse(d), a, t)
        x = self.cur
        if x and now >= x[4]:
            if x[3] >= MAX_RT:          # gave up: this request is lost
                self.cur = None
                if x[5][0] == "read":
                    self.n["lost"] += 1
            else:
                x[3] += 1
                x[4] += ACK_T << x[3]
                self.tx(x[2], x[4] - (ACK_T << x[3]))
        self.start(now)
        while self.outbox and self.outbox[0][0] <= now:
            peer.sendto(self.outbox.pop(0)[1], self.addr)

    def rx(self, m, a, now):
        if m.code == 0:
            return
        if m.code < 32:                 # Register / Update / De-register
            r = self.seen.get(m.mid)
            if r is None:
                path = m.strs(URI_PATH)
                if path == ["rd"]:
                    self.addr = a
                    self.n["registers"] += 1
                    setup = []
                    for i in range(len(OBS)):
                        setup += [["attrs", i], ["observe", i]]
                    self.flush = setup + [x for x in self.flush if x[0] == "read"]
                    r = coap.Msg(ACK, CREATED, m.mid, m.token).add(LOCATION_PATH, "rd").add(LOCATION_PATH, "x")
                elif m.code == POST:
                    self.n["updates"] += 1
                    r = coap.Msg(ACK, CHANGED, m.mid, m.token)
                else:
                    r = coap.Msg(ACK, DELETED, m.mid, m.token)
                if m.code == POST:      # the device is awake: what was held goes now
                    self.ups.append(now)
                    self.flush += self.queue
                    self.queue = []
                    self.go = now + C["server_ms"]
                r = coap.build(r)
                if len(self.seen) > 16:
                    self.seen = {}
                self.seen[m.mid] = r
            self.tx(r, now)
            return
        if m.t == CON:
            self.tx(coap.build(coap.Msg(ACK, 0, m.mid)), now)
        x = self.cur
        if x and m.token == x[1] and (m.t != ACK or m.mid == x[0]):
            self.cur = None
            self.go = now + C["server_ms"]
            it = x[5]
            if it[0] == "read" and m.code == CONTENT:
                self.n["delivered"] += 1
                self.lat.append(now - it[1])
            elif it[0] == "observe" and m.code == CONTENT:
                self.obs[x[1]] = it[1]
                self.n["observing"] += 1
        elif m.token in self.obs and m.code == CONTENT:
            self.n["notifications"] += 1


P = Peer()
snaps = []


def snap():
    r = b.modem.report()
    r["t"] = b.clock.ms()
    r["sleeps"] = c.sleeps
    r.update(P.n)
    snaps.append(r)


days = C["days"]
end = days * DAY
n = C["requests_per_day"]
reqs = [d * DAY + (2 * i + 1) * DAY // (2 * n) for d in range(days) for i in range(n)]
snap()
nd = DAY
while True:
    now = b.clock.ms()
    while reqs and reqs[0] <= now:
        P.hold(reqs.pop(0))
    while nd <= now and nd <= end:
        snap()
        nd += DAY
    if now >= end:
        break
    c.step()
    P.poll(b.clock.ms())
    u = end
    for x in (nd, reqs[0] if reqs else None, P.deadline()):
        if x is not None and x < u:
            u = x
    c.idle(u)
# one JSON object, written piecewise (the unix port's heap)
out = {"snaps": snaps, "trace": trace, "flips": b.flips, "ups": P.ups, "lat": P.lat,
       "granted": granted, "pending": len(P.queue) + len(P.flush) + (P.cur is not None),
       "dropped": c.reporter.dropped if c.reporter else 0, "log": LOG}
sep = "{"
for k in out:
    print(sep + json.dumps(k) + ":", end="")
    if isinstance(out[k], list):
        print("[", end="")
        for i, x in enumerate(out[k]):
            print(("," if i else "") + json.dumps(x), end="")
        print("]", end="")
    else:
        print(json.dumps(out[k]), end="")
    sep = ","
print("}")
'''


def _overlap(trace, flips, end):
    # ms the modem was reachable (idle or connected) while the client had its
    # radio off, and the client listened while the modem was in PSM
    ev = sorted([(x[0], 0, i, x[1]) for i, x in enumerate(trace)] +
                [(x[0], 1, i, bool(x[1])) for i, x in enumerate(flips)])
    st, on, t0, deaf, blind = PSM, True, 0, 0, 0
    for t, k, _, v in ev + [(end, 2, 0, None)]:
        t = min(t, end)
        if not on and st != PSM:
            deaf += t - t0
        if on and st == PSM:
            blind += t - t0
        t0 = t
        if k == 0:
            st = v
        elif k == 1:
            on = v
    return deaf, blind


def run_client(cfg, days=7, trace=False, sms=(), log=False, timeout=300):
    """Run `cfg` (see DEFAULTS) with the real client (MicroPython unix port,
    virtual clock) for `days`: the same figures as simulate(), from the
    simulated modem under the client, plus what only the real run has.
    sms: times (s) an SMS reaches the network (a wake-up trigger)."""
    if isinstance(cfg, dict) and set(cfg) - set(DEFAULTS):
        raise KeyError(sorted(set(cfg) - set(DEFAULTS)))
    c = config(**cfg)
    obs = c["observations"]
    if len(obs) > len(PATHS) or any(o.get("phase") for o in obs):
        raise ValueError("the real client run takes up to %d observations, without phase" % len(PATHS))
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        args = dict(c, days=days, sms=list(sms), log=log, state=os.path.join(d, "state"))
        if c["policy"] == "psm" and c["t3324"] is None:     # as the model: reaction + paging
            args["t3324"] = -(-(c["rtt_ms"] + c["paging_ms"]) // 1000)
        code = "PATHS = %r\n" % (PATHS,) + DEVICE.replace("CFG", repr(json.dumps(args)), 1).replace(
            "PEER_SOCKET", MP_PEER_SOCKET, 1)
        f = os.path.join(d, "run.py")
        with open(f, "w") as fh:
            fh.write(code)
        env = dict(os.environ, MICROPYPATH=".frozen:" + ROOT)
        p = subprocess.run([MICROPYTHON, f], capture_output=True, text=True, env=env, cwd=ROOT,
                           timeout=timeout)
    if p.returncode:
        raise RuntimeError("micropython failed (%d):\n%s\n%s" % (p.returncode, p.stdout[-2000:], p.stderr[-4000:]))
    raw = json.loads(p.stdout.strip().splitlines()[-1])
    snaps, flips = raw["snaps"], raw["flips"]
    per = []
    for i in range(len(snaps) - 1):
        a, z = snaps[i], snaps[i + 1]
        ms = [z["ms"][k] - a["ms"][k] for k in range(3)]
        wk = sum(1 for t, on in flips if on and a["t"] <= t < z["t"]) + (i == 0)   # + the boot
        deaf, blind = _overlap(raw["trace"], [f for f in flips if f[0] < z["t"]], z["t"])
        per.append({
            "day": i, "t0_ms": a["t"], "t1_ms": z["t"],
            "radio_on_s": (ms[IDLE] + ms[CONN]) / 1000,
            "connected_s": ms[CONN] / 1000, "idle_s": ms[IDLE] / 1000, "psm_s": ms[PSM] / 1000,
            "mah": z["mah"] - a["mah"], "wakeups": wk,
            "modem_wakeups": z["wakes"] - a["wakes"], "taus": z["taus"] - a["taus"],
            "bytes_up": z["up"] - a["up"], "bytes_down": z["down"] - a["down"],
            "notifications": z["notifications"] - a["notifications"],
            "updates": z["updates"] + z["registers"] - a["updates"] - a["registers"],
            "requests_delivered": z["delivered"] - a["delivered"],
            "requests_lost": z["lost"] - a["lost"], "missed": z["missed"] - a["missed"],
            "deaf_ms": deaf, "blind_ms": blind,
        })
    for i in range(len(per) - 1, 0, -1):     # overlap was cumulative
        per[i]["deaf_ms"] -= per[i - 1]["deaf_ms"]
        per[i]["blind_ms"] -= per[i - 1]["blind_ms"]
    st = per[1:] if len(per) > 1 else per

    def mean(k):
        return sum(x[k] for x in st) / len(st)
    mah = mean("mah")
    last = snaps[-1]
    out = {
        "source": "client", "config": c, "days": days, "per_day": per,
        "t3412_s": raw["granted"][0], "t3324_s": raw["granted"][1],
        "radio_on_s_day": mean("radio_on_s"), "connected_s_day": mean("connected_s"),
        "idle_s_day": mean("idle_s"), "wakeups_day": mean("wakeups"),
        "modem_wakeups_day": mean("modem_wakeups"), "taus_day": mean("taus"),
        "bytes_day": mean("bytes_up") + mean("bytes_down"),
        "bytes_up_day": mean("bytes_up"), "bytes_down_day": mean("bytes_down"),
        "notifications_day": mean("notifications"), "updates_day": mean("updates"),
        "mah_day": mah, "battery_days": c["capacity_mah"] / mah if mah else None,
        "requests": last["requests"], "requests_delivered": last["delivered"],
        "requests_lost": last["lost"], "requests_pending": raw["pending"],
        "observing": last["observing"], "sms": last["sms"],
        "deaf_s_day": mean("deaf_ms") / 1000, "blind_s_day": mean("blind_ms") / 1000,
        "request_latency_s": [x / 1000 for x in raw["lat"]],
        "update_times_ms": raw["ups"], "radio_flips": flips, "stored_dropped": raw["dropped"],
    }
    out["battery_years"] = out["battery_days"] / 365.25 if out["battery_days"] else None
    if log:
        out["log"] = raw["log"]
    if trace:
        out["trace"] = [(0, PSM)] + [tuple(x) for x in raw["trace"]]
    return out


REFERENCE = {"lifetime": 86400, "observations": [{"pmin": 0, "pmax": 3600}], "requests_per_day": 5}
POLICIES = (("default", {"policy": "default"}), ("fixed10", {"policy": "fixed", "awake": 10}),
            ("psm", {"policy": "psm"}))


def reference(days=7, trace=False, source="client"):
    """The reference profile under the three policies, from the real client
    (source "client") or the timeline model ("model")."""
    run = run_client if source == "client" else simulate
    return {name: run(dict(REFERENCE, **p), days, trace) for name, p in POLICIES}


def bench_figures(days=7):
    """Reference profile (lifetime 24 h, one resource with pmax 1 h, 5 server
    requests a day) under the three policies, with the real client;
    queued_requests_lost sums all three (given up by the server, or still
    unanswered when the run ends)."""
    r = reference(days)
    d, f, p = (r[k]["radio_on_s_day"] for k in ("default", "fixed10", "psm"))
    return {
        "radio_on_s_day_default": round(d, 3),
        "radio_on_s_day_fixed10": round(f, 3),
        "radio_on_s_day_psm": round(p, 3),
        "radio_on_ratio": round(d / p, 2),
        "queued_requests_lost": sum(x["requests_lost"] + x["requests_pending"] for x in r.values()),
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
            ("  pending at end", "requests_pending", "%d"),
            ("modem wake-ups/day", "modem_wakeups_day", "%.2f"),
            ("reachable, deaf (s/day)", "deaf_s_day", "%.1f"))
    names = list(results)
    out = ["%-20s" % "" + "".join("%14s" % n for n in names)]
    for label, k, fmt in rows:
        out.append("%-20s" % label + "".join(
            "%14s" % (fmt % results[n][k] if results[n].get(k) is not None else "-") for n in names))
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
    ap.add_argument("--source", default="client", choices=("client", "model", "both"),
                    help="the real client on MicroPython (default), the timeline model, or both")
    ap.add_argument("--sms", type=float, action="append", metavar="S",
                    help="an SMS reaches the network at S s (real client; repeatable)")
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
    label = {n: "fixed%g" % a.awake if n == "fixed" else n for n in names}
    res = model = None
    if a.source != "model":
        res = {label[n]: run_client(dict(base, **pols[n]), a.days, True, a.sms or ()) for n in names}
    if a.source != "client":
        model = {label[n]: simulate(dict(base, **pols[n]), a.days, True)
                 for n in names}
    for title, r in (("real client (MicroPython, client/client.py)", res),
                     ("model", model)):
        if r:
            print("== " + title)
            print(text(r))
            if "default" in r and "psm" in r:
                print("radio-on ratio default/psm: %.1f" % (r["default"]["radio_on_s_day"] / r["psm"]["radio_on_s_day"]))
    if res and model:
        print("radio on (s/day) real vs model: " + ", ".join(
            "%s %.1f / %.1f" % (n, res[n]["radio_on_s_day"], model[n]["radio_on_s_day"]) for n in res))
    res = res or model
    if a.png:
        from energyplot import plot
        print("plot:", plot(res, a.png, min(1, a.days - 1)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({n: {k: v for k, v in r.items() if k != "trace"} for n, r in res.items()}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
