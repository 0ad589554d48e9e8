"""The device side of an energy run, on the MicroPython unix port (started
by energy/real.py: `micropython runner.py CONFIG.json` with tools/sim on
MICROPYPATH): the real client (firmware.main.build) on the simulated cellular
board (tools/sim/simcell.py CellBoard: virtual clock, datagrams through the
simulated modem), against a queue-mode server peer in the same process at
rtt/2 from the device's network. Prints one JSON object: per-day snapshots of
the modem's report, the radio-state trace, the client's radio flips, the
server's Update times and request latencies."""
import json, sys
from simcell import CellBoard
from peer import bind
from firmware.main import build, options
from client import coap
from client.codes import (CON, ACK, GET, PUT, POST, CREATED, CHANGED, DELETED, CONTENT,
                          OBSERVE, URI_PATH, URI_QUERY, LOCATION_PATH)
with open(sys.argv[1]) as _f:
    C = json.load(_f)
PATHS = C["paths"]
DAY = 86400000
ACK_T = 2000        # the server's CoAP ACK_TIMEOUT (no random factor) and MAX_RETRANSMIT
MAX_RT = 4
HALF = C["rtt_ms"] // 2  # device's network <-> server


peer, port = bind()
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
