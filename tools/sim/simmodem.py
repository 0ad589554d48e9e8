# A simulated cellular modem (a simulator: lives in tools/sim/, never shipped
# to a board; runs on MicroPython's unix port and on CPython): it answers the
# AT commands boards/modem.py sends (on the same write()/read() stream interface) and models the radio states on the board's clock:
#   CONN  RRC connected: from a send (or paging) until the network releases the
#         connection: RRC inactivity timer after the last datagram, at once
#         with RAI "no response expected", after the next downlink with RAI
#         "one response expected" (transport spec Table D.4-1)
#   IDLE  RRC idle, reachable by paging while T3324 (active time) runs
#   PSM   unreachable until the next uplink or the periodic TAU (T3412)
# It accumulates time and charge per state for energy figures. A mobile-
# terminated SMS (sms()) reaches the device like a downlink (at once when
# connected, paged when idle) and is reported by +CMTI; while the device is
# unreachable the SMS centre keeps it until the device next leaves PSM.
from micropython import const
from boards.modem import RAI_ONGOING, RAI_NONE, RAI_ONE, dec_t3412, dec_t3324, dec_edrx

PSM = const(0)
IDLE = const(1)
CONN = const(2)
NAMES = ("psm", "idle", "connected")

# Reference currents (uA) by state, order of magnitude of LTE-M/NB-IoT module
# datasheets at 3.6-3.8 V; replace with your modem's:
#  connected 100 mA: average with TX bursts and connected-mode DRX (TX peaks
#    reach 200-500 mA, C-DRX floors are a few mA)
#  idle 5 mA: conservative RRC-idle average with paging DRX; eDRX idle is lower
#  PSM 5 uA: PSM floors are 1-10 uA
UA = (5, 5000, 100000)
_INACT = const(10000)   # ms: RRC inactivity timer (network-set, typically 5-20 s)
_PAGING = const(2560)   # ms: longest default paging DRX cycle (TS 36.304): worst-case
                        # delay of a downlink while idle
_TAU = const(1000)      # ms connected for a periodic TAU
_QMAX = const(32)       # lines kept for the host to read


def _f(s):
    s = s.strip()
    return s[1:-1] if s[:1] == '"' else s


class SimModem:
    def __init__(self, clock=None, vendor="nrf91", ua=UA, inactivity=_INACT,
                 paging=_PAGING, rai_tail=0, trace=None):
        self.clock = clock
        self.vendor = vendor
        self.ua = ua
        self.inact = inactivity
        self.paging = paging
        self.tail = rai_tail    # ms from a RAI release to idle (0: at once)
        self.tau = _TAU
        self.trace = trace      # list to append (ms, state) transitions to, or None
        self.t = clock.ms() if clock else 0
        self.state = PSM
        self.idle0 = self.t     # T3324 and T3412 run from the last release
        self.rel = None         # CONN: release time
        self.one = False        # RAI "one response": release after the next downlink
        self.page = None        # IDLE: when the paged downlink is delivered
        self.ms = [0, 0, 0]     # time per state
        self.q = 0              # charge, uA*ms
        self.wakes = self.taus = self.missed = 0
        self.up = self.down = 0  # bytes
        # network configuration, normally set through AT commands
        self.psm = False
        self.t3412 = self.t3324 = None  # ms; None = deactivated
        self.edrx = None        # ms
        self.req = self.granted = None
        self.grant = None       # network policy: f(t3412 bits, t3324 bits) -> granted bits
        # AT side
        self.inp = b""
        self.out = []
        self.cereg = self.cscon = self.sleepurc = self.rai_on = 0
        self.rai_next = None    # for the next send (socket option)
        self.rai_sticky = None  # for every send (SIM7020 +CNBIOTRAI)
        self.mt = []            # SMS on their way: [(delivery ms, bytes)]
        self.smsc = []          # SMS kept by the network while unreachable (bytes)
        self.sms_n = 0          # SMS delivered (+CMTI index)

    def set_psm(self, t3412_s, t3324_s):
        self.psm = t3324_s is not None
        self.t3412 = None if t3412_s is None else t3412_s * 1000
        self.t3324 = None if t3324_s is None else t3324_s * 1000

    # ---- radio model
    def _acc(self, t):
        if t > self.t:
            d = t - self.t
            self.ms[self.state] += d
            self.q += d * self.ua[self.state]
            self.t = t

    def _go(self, st, t):
        self._acc(t)
        old = self.state
        if st == old:
            return
        self.state = st
        if st == IDLE:
            self.idle0 = t
            self.page = None
            self._urc("+CSCON: 0", self.cscon)
        elif st == CONN:
            if old == PSM:
                self._sleep(0)
                self.mt += [(t, k) for k in self.smsc]
                self.smsc = []
            self._urc("+CSCON: 1", self.cscon)
        else:
            self.rel = None
            self._sleep(self.t3412 or 0)
        if self.trace is not None:
            self.trace.append((t, st))

    def _next(self):
        # (time, state) of the next transition the modem makes by itself
        s = self.state
        if s == CONN:
            return None if self.rel is None else (self.rel, IDLE)
        if not self.psm:
            return None
        if s == IDLE:
            return (self.idle0 + self.t3324, PSM) if self.t3324 is not None else None
        return (self.idle0 + self.t3412, CONN) if self.t3412 else None

    def advance(self, now=None):
        now = self.clock.ms() if now is None else now
        while True:
            n = self._next()
            if self.mt and self.mt[0][0] <= now and (n is None or self.mt[0][0] <= n[0]):
                self._sms(*self.mt.pop(0))
                continue
            if n is None or n[0] > now:
                break
            t, st = n
            if st == CONN:      # periodic TAU: a short connection, T3412 restarts
                self.taus += 1
                self.rel = t + self.tau
            self._go(st, t)
        self._acc(now)

    def _rai(self, r, t):
        if r == RAI_NONE:
            self.rel = t + self.tail
        elif r == RAI_ONE:
            self.one = True

    def radio_event(self, kind, n=0, t=None):
        # kind: 'wake' (leave PSM/idle to send), 'tx', 'rx', 'rai_none',
        # 'rai_one', 'rai_ongoing' (RAI of the last send), 'sleep' (the host
        # forces PSM); 'rx' returns False when the device was unreachable
        t = self.clock.ms() if t is None else t
        self.advance(t)
        if kind in ("tx", "wake"):
            if self.state != CONN:
                if self.state == PSM:
                    self.wakes += 1
                self._go(CONN, t)
            self.one = False
            self.rel = t + self.inact
            if kind == "tx":
                self.up += n
                r = self.rai_next if self.rai_next is not None else self.rai_sticky
                self.rai_next = None
                if r is not None:
                    self._rai(r, t)
        elif kind == "rx":
            if self.state == PSM:
                self.missed += 1
                return False
            self._go(CONN, t)
            self.down += n
            if self.one:
                self.one = False
                self.rel = t + self.tail
            elif self.rel is None or self.rel < t + self.inact:
                self.rel = t + self.inact
        elif kind == "sleep":
            self.idle0 = t
            self._go(PSM, t)
        elif kind[:4] == "rai_":
            self._rai((RAI_NONE, RAI_ONE, RAI_ONGOING)[("rai_none", "rai_one", "rai_ongoing").index(kind)], t)
        self.advance(t)     # a release due now (RAI) happens now
        return True

    def downlink(self, t=None):
        # a datagram reaching the network at t: when the device gets it, or None
        # if it is unreachable (PSM, or paging would fall after T3324 expiry)
        t = self.clock.ms() if t is None else t
        self.advance(t)
        if self.state == CONN:
            return t
        if self.state == IDLE:
            if self.page is None:
                self.page = t + (self.edrx or self.paging)
            n = self._next()
            if n is None or self.page < n[0]:
                return self.page
        self.missed += 1
        return None

    def psm_at(self, now=None):
        # when the modem enters PSM if nothing more is sent or received (T3324
        # from the release), now if it is in PSM; None: PSM not in use
        self.advance(now)
        if not self.psm or self.t3324 is None:
            return None
        if self.state == PSM:
            return self.t
        if self.state == IDLE:
            return self.idle0 + self.t3324
        return None if self.rel is None else self.rel + self.t3324

    def sms(self, n=160, t=None):
        # a mobile-terminated SMS (n bytes, or the PDU) reaching the network at t: delivered
        # at once when connected, after paging when idle, else kept by the SMS
        # centre until the device leaves PSM. -> delivery time, None: kept
        t = self.clock.ms() if t is None else t
        self.advance(t)
        d = t
        if self.state == IDLE:
            d = t + (self.edrx or self.paging)
            x = self._next()
            if x is not None and x[0] <= d:
                d = None
        elif self.state == PSM:
            d = None
        if d is None:
            self.smsc.append(n)
        else:
            self.mt.append((d, n))
            self.mt.sort()
            self.advance(t)
        return d

    def _sms(self, t, n):
        # delivery (paging brings an idle modem to connected): +CMTI
        if self.state == PSM:       # forced to sleep meanwhile: the centre keeps it
            self.smsc.append(n)
            return
        self._go(CONN, t)
        if self.rel is None or self.rel < t + self.inact:
            self.rel = t + self.inact
        self.down += n if isinstance(n, int) else len(n)
        self.sms_n += 1
        self._deliver(n)

    def _deliver(self, n):
        # the SMS reaches the terminal: stored, +CMTI (the AT side may differ)
        self._urc('+CMTI: "SM",%d' % self.sms_n)

    def report(self, now=None):
        self.advance(now)
        return {"ms": list(self.ms), "on_ms": self.ms[IDLE] + self.ms[CONN],
                "mah": self.q / 3600000000, "wakes": self.wakes, "taus": self.taus,
                "up": self.up, "down": self.down, "missed": self.missed, "sms": self.sms_n}

    # ---- AT side (the stream boards/modem.py talks to)
    def _urc(self, line, on=1):
        if on and len(self.out) < _QMAX:
            self.out.append(line.encode() + b"\r\n")

    def _sleep(self, ms):
        # vendor PSM reports: entering (ms > 0: until the periodic TAU) / leaving
        v = self.vendor
        if v == "nrf91":
            self._urc("%%XMODEMSLEEP: 1,%d" % ms, self.sleepurc)
        elif v == "sim7080":
            self._urc('+CPSMSTATUS: "%s PSM"' % ("ENTER" if ms else "EXIT"), self.sleepurc)
        elif v == "bg95" and ms:
            self._urc("PSM POWER DOWN")

    def _reg(self):
        # +CEREG fields after <stat>: home network, E-UTRAN, granted timers in modes 4/5
        s = '1,"0001","00000001",7'
        if self.cereg >= 4 and self.granted:
            s += ',,,"%s","%s"' % (self.granted[1], self.granted[0])
        return s

    def write(self, b):
        self.inp = (self.inp + b).replace(b"\n", b"\r")
        while True:
            i = self.inp.find(b"\r")
            if i < 0:
                return len(b)
            ln = self.inp[:i].decode().strip()
            self.inp = self.inp[i + 1:]
            if ln:
                self._urc(self._at(ln))

    def _at(self, c):
        # -> final result code (response lines are queued before it)
        if c in ("AT", "ATE0", "ATE1"):
            return "OK"
        a, _, p = c.partition("=")
        f = [_f(x) for x in p.split(",")]
        if a == "AT+CPSMS":
            if f[0] == "1" and len(f) > 4:
                self.req = g = (f[3], f[4])
                if self.grant:
                    g = self.grant(*g)
                self.granted = g
                self.set_psm(dec_t3412(g[0]), dec_t3324(g[1]))
                self._urc("+CEREG: " + self._reg(), self.cereg)
            else:
                self.psm = False
            return "OK"
        if c == "AT+CPSMS?":
            g = self.req or ("", "")
            self._urc('+CPSMS: %d,,,"%s","%s"' % (self.psm, g[0], g[1]))
            return "OK"
        if c == "AT+CEREG?":
            self._urc("+CEREG: %d,%s" % (self.cereg, self._reg()))
            return "OK"
        if a == "AT+CEDRXS":
            if f[0] in ("1", "2") and len(f) > 2:
                self.edrx = dec_edrx(f[2])
                self._urc('+CEDRXP: %s,"%s","%s"' % (f[1], f[2], f[2]), f[0] == "2")
            else:
                self.edrx = None
            return "OK"
        if a in ("AT+CEREG", "AT+CSCON", "AT%XMODEMSLEEP", "AT+CPSMSTATUS", "AT%RAI"):
            v = int(f[0])
            if a == "AT+CEREG":
                self.cereg = v
            elif a == "AT+CSCON":
                self.cscon = v
            elif a == "AT%RAI":
                self.rai_on = v
            else:
                self.sleepurc = v
            return "OK"
        if a == "AT#XSOCKETOPT" and len(f) > 2 and f[:2] == ["1", "61"]:
            # SO_RAI: 1 no data (release now), 2 last, 3 one response, 4/5 ongoing
            v = int(f[2])
            if self.rai_on:
                if v == 1:
                    self._rai(RAI_NONE, self.clock.ms() if self.clock else self.t)
                else:
                    self.rai_next = (RAI_NONE, RAI_ONE, RAI_ONGOING, RAI_ONGOING)[v - 2]
            return "OK"
        if a == "AT+CNBIOTRAI":
            self.rai_sticky = (RAI_ONGOING, RAI_NONE, RAI_ONE)[int(f[0])]
            return "OK"
        if a == "AT+QISENDEX" and len(f) > 1:
            if len(f) > 2:
                self.rai_next = (RAI_ONGOING, RAI_NONE, RAI_ONE)[int(f[2])]
            self.radio_event("tx", len(f[1]) // 2)
            return "SEND OK"
        return "ERROR"

    def read(self, n=-1):
        if self.clock:
            self.advance()      # URCs of what happened until now
        if not self.out:
            return None
        d = b"".join(self.out)
        self.out = []
        return d

    def readline(self):
        return self.out.pop(0) if self.out else None

    def any(self):
        return sum(len(x) for x in self.out)


class Link:
    # a board transport seen through the simulated modem. A send wakes the
    # radio: with a clock (one with .now) a send from idle or PSM first spends
    # setup ms connecting (PSM exit, RRC set-up) on that clock; its RAI is .rai
    # if set, else the one given through AT. A datagram reaching the network
    # while connected is delivered at once, while idle after paging (held:
    # due() says when), while in PSM it is lost. Sizes count `over` bytes of
    # headers below the datagram (IPv4 + UDP: 28).
    def __init__(self, tr, modem, setup=0, over=0, clock=None):
        self.tr = tr
        self.m = modem
        self.rai = None
        self.setup = setup
        self.over = over
        self.clock = clock
        self.held = []          # [(delivery ms, datagram)] being paged
        self.after = None       # callback(ms of the datagram) after each send / delivery

    def send(self, data):
        m = self.m
        if self.rai is not None:
            m.rai_next = self.rai
            self.rai = None
        t = m.clock.ms()
        m.advance(t)
        if self.setup and self.clock and m.state != CONN:
            m.radio_event("wake", t=t)
            self.clock.now += self.setup
        m.radio_event("tx", len(data) + self.over)
        self.tr.send(data)
        if self.after:
            self.after(t)

    def recv(self):
        m = self.m
        while True:
            d = self.tr.recv()
            if d is None:
                break
            t = m.downlink()
            if t is not None:
                self.held.append((t, d))
        now = m.clock.ms()
        if self.held:
            m.advance(now)
        while self.held and (self.held[0][0] <= now or m.state == CONN):
            d = self.held.pop(0)[1]
            if m.radio_event("rx", len(d) + self.over):
                if self.after:
                    self.after(now)
                return d
        return None

    def due(self):
        return self.held[0][0] if self.held else None

    def deadline(self):
        return self.tr.deadline()

    def close(self):
        self.tr.close()
