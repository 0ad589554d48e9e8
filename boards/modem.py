# Cellular modem (LTE-M / NB-IoT) over AT commands on a UART-like stream
# (write(bytes), read() -> bytes or None, non-blocking): PSM with T3412/T3324
# as 3GPP GPRS timers, eDRX, Release Assistance Indication per message, URCs.
# Transport spec Appendix D.4 (RAI) and D.8 (how PSM/eDRX relate to LwM2M timers).
from micropython import const

# Release Assistance Indication, TS 24.301 NAS IE; values are the 2-bit codes
# of transport spec Table D.4-1
RAI_ONGOING = const(0)  # 00: more may follow (serving server requests)
RAI_NONE = const(1)     # 01: no response expected -> release now (NON notification)
RAI_ONE = const(2)      # 10: one response expected -> release after it (Update, CON)

# GPRS Timer 3 (TS 24.008 10.5.7.4a, Table 10.5.163a): bits 8-6 unit, 5-1 value.
# Seconds per unit by unit code; code 7 (111) = deactivated.
_T3 = (600, 3600, 36000, 2, 30, 60, 1152000)
# GPRS Timer 2 (TS 24.008 10.5.7.4, Table 10.5.163): 000 2 s, 001 1 min,
# 010 decihours, 111 deactivated; other codes are read as 1 min.
_T2 = (2, 60, 360)
_OFF = "11100000"
# E-UTRAN eDRX cycle (TS 24.008 Table 10.5.5.32), units of 2.56 s by 4-bit code;
# allowed codes: WB-S1 (LTE-M, AcT 4) 0-13, NB-S1 (NB-IoT, AcT 5) 2,3,5,9-15
_EDRX = (2, 4, 8, 16, 24, 32, 40, 48, 56, 64, 128, 256, 512, 1024, 2048, 4096)
_EDRX_OK = {4: 0x3FFF, 5: 0xFE2C}
_MTW = const(93)        # s: CoAP MAX_TRANSMIT_WAIT with default parameters


def _enc(s, units):
    # the smallest encodable duration >= s (ties: the finer unit); s above the
    # range gets the largest value; None -> deactivated
    if s is None:
        return _OFF
    if s < 0:
        raise ValueError
    best = None
    for c in range(len(units)):
        u = units[c]
        n = -(-s // u)
        if n <= 31 and (best is None or n * u < best[0] or (n * u == best[0] and u < best[2])):
            best = (n * u, c << 5 | n, u)
    if best is None:
        c = max(range(len(units)), key=lambda i: units[i])
        return "{:08b}".format(c << 5 | 31)
    return "{:08b}".format(best[1])


def _dec(b, units):
    v = int(b, 2)
    c = v >> 5
    if c == 7:
        return None
    return (v & 31) * (units[c] if c < len(units) else 60)


def enc_t3412(s):
    # Extended periodic TAU (T3412 ext), seconds -> "uuuvvvvv"
    return _enc(s, _T3)


def dec_t3412(b):
    return _dec(b, _T3)


def enc_t3324(s):
    # Active time (T3324), seconds -> "uuuvvvvv"
    return _enc(s, _T2)


def dec_t3324(b):
    return _dec(b, _T2)


def enc_edrx(ms, act=4):
    # the shortest allowed eDRX cycle >= ms (the longest one if none is)
    ok = _EDRX_OK[act]
    c = None
    for i in range(16):
        if ok >> i & 1:
            c = i
            if _EDRX[i] * 2560 >= ms:
                break
    return "{:04b}".format(c)


def dec_edrx(b):
    return _EDRX[int(b, 2)] * 2560


def psm_timers(lifetime, awake=_MTW):
    # Appendix D.8.5: Extended T3412 > Registration lifetime > pmax, so a
    # periodic TAU never costs a wake-up of its own: every Update (sent at the
    # latest lifetime - margin after the previous one, and at every pmax wake)
    # restarts T3412. T3324 (active time) is the window the device stays
    # reachable after releasing the connection: the awake window.
    return enc_t3412(lifetime + 1), enc_t3324(awake)


def edrx_for(pmin, pmax, act=4):
    # Appendix D.8.5: pmin < eDRX < pmax; the longest such cycle, or None
    r = None
    for i in range(16):
        ms = _EDRX[i] * 2560
        if _EDRX_OK[act] >> i & 1 and pmin * 1000 < ms < pmax * 1000:
            r = "{:04b}".format(i)
    return r


def cpsms(t3412_s, t3324_s):
    # 27.007 +CPSMS: mode, RAU and GPRS READY timer (2G/3G, left empty), T3412 ext, T3324
    return 'AT+CPSMS=1,,,"%s","%s"' % (enc_t3412(t3412_s), enc_t3324(t3324_s))


def cedrxs(ms, act=4):
    # 27.007 +CEDRXS: mode 2 = enable with +CEDRXP reports; None disables
    if ms is None:
        return "AT+CEDRXS=0"
    return 'AT+CEDRXS=2,%d,"%s"' % (act, enc_edrx(ms, act))


# vendor: (commands once after boot, per-message RAI command, RAI value per
# RAI_ONGOING/NONE/ONE)
#  nrf91: Serial LTE Modem; %RAI=1 enables RAI, socket option SO_RAI (61) takes
#         RAI_ONGOING 4, RAI_LAST 2, RAI_ONE_RESP 3 before the next send
#  bg95: RAI_info argument of +QISENDEX=<id>,"<hex>",<rai>: 0 none/1 no UL-DL/2 one DL
#  sim7020: +CNBIOTRAI=<rai> applies to the following sends, 3GPP coding
#  sim7080: no RAI command; PSM entry/exit reported by +CPSMSTATUS
VENDORS = {
    "nrf91": (("AT%XMODEMSLEEP=1,0,10240", "AT%RAI=1"), "AT#XSOCKETOPT=1,61,%d", (4, 2, 3)),
    "bg95": ((), 'AT+QISENDEX=%d,"%s",%d', (0, 1, 2)),
    "sim7020": ((), "AT+CNBIOTRAI=%d", (0, 1, 2)),
    "sim7080": (("AT+CPSMSTATUS=1",), None, None),
}


def rai_cmd(vendor, rai, sock=0, data=None):
    # the AT command carrying this RAI for the next message, or None
    v = VENDORS.get(vendor)
    if not v or not v[1]:
        return None
    if "%s" in v[1]:        # carried by the send command itself
        if data is None:
            return None
        from binascii import hexlify
        return v[1] % (sock, hexlify(data).decode(), v[2][rai])
    return v[1] % v[2][rai]


def rai_for(con, more=False, serving=False):
    # Table D.4-1: an uplink followed by more of ours, or a response while the
    # server may send more requests -> ongoing; CON (Update, CON notification)
    # -> one response; NON -> none
    if more or serving:
        return RAI_ONGOING
    return RAI_ONE if con else RAI_NONE


def _f(s):
    s = s.strip()
    return s[1:-1] if s[:1] == '"' else s


def cereg(line, read=False):
    # +CEREG URC: <stat>[,<tac>,<ci>,<AcT>[,<cause_type>,<reject_cause>[,<Active-Time>,<Periodic-TAU>]]]
    # (modes 4/5 carry the granted timers); the read response starts with <n>
    f = [_f(x) for x in line[line.find(":") + 1:].split(",")]
    if read:
        f = f[1:]
    at = tau = None
    if len(f) > 7:
        at = dec_t3324(f[6]) if f[6] else None
        tau = dec_t3412(f[7]) if f[7] else None
    return int(f[0]), at, tau


def urc(line, read=False):
    # -> (kind, value) or None
    #  ('reg', (stat, T3324 s, T3412 s))  granted timers, None if absent/deactivated
    #  ('sleep', (type, ms))  nRF91 %XMODEMSLEEP: ms > 0 entering sleep, 0 leaving
    #  ('psm', 1|0)  SIM7080 +CPSMSTATUS "ENTER PSM"/"EXIT PSM", BG95 PSM POWER DOWN
    #  ('rrc', 1|0)  27.007 +CSCON: connected / idle
    #  ('edrx', ms)  27.007 +CEDRXP: the network-provided cycle
    #  ('sms', index)  27.005 +CMTI: a new SMS stored at <index> (a wake source)
    #  ('open', (socket, err))  BG95 +QIOPEN: the result of an open
    #  ('data', socket)  data waiting on a socket: nRF91 SLM #XAPOLL (POLLIN),
    #                    SIM7080 +CADATAIND, BG95 +QIURC: "recv"
    if line.startswith("+CEREG:"):
        return "reg", cereg(line, read)
    if line.startswith("%XMODEMSLEEP:"):
        f = line[13:].split(",")
        return "sleep", (int(f[0]), int(f[1]) if len(f) > 1 else None)
    if line.startswith("+CPSMSTATUS:"):
        return "psm", int("ENTER" in line.upper())
    if line.startswith("PSM POWER DOWN"):
        return "psm", 1
    if line.startswith("+CSCON:"):
        return "rrc", int(line.split(",")[-1][-1])
    if line.startswith("+CMTI:"):
        return "sms", int(line.split(",")[-1])
    if line.startswith("#XAPOLL:"):
        f = line[8:].split(",")
        return ("data", int(f[0])) if len(f) > 1 and int(f[1]) & 1 else None
    if line.startswith("+QIOPEN:"):
        f = line[8:].split(",")
        return "open", (int(f[0]), int(f[1]))
    if line.startswith("+CADATAIND:"):
        return "data", int(line[11:])
    if line.startswith('+QIURC: "recv"'):
        return "data", int(line.split(",")[1])
    if line.startswith("+CEDRXP:"):
        f = line[8:].split(",")
        return "edrx", dec_edrx(_f(f[2])) if len(f) > 2 and _f(f[2]) else None
    return None


_FINAL = ("OK", "ERROR", "SEND OK", "SEND FAIL")
_RAW = b"+CARECV: "     # SIM7080: "+CARECV: <n>,<n raw bytes>": binary, not a line


class Modem:
    def __init__(self, uart, vendor=None, board=None):
        self.u = uart
        self.v = vendor
        self.b = board          # clock and wait() for at(); None: time module
        self.buf = b""
        self.cmd = None         # command in flight
        self.lines = None       # its response lines
        self.res = None         # its final result code
        self.stat = None        # EPS registration status (+CEREG)
        self.t3324 = self.t3412 = None  # granted (s)
        self.edrx = None        # granted eDRX cycle (ms)
        self.rrc = None         # 1 connected, 0 idle (+CSCON)
        self.asleep = False     # in PSM (vendor URCs)
        self.on_urc = None      # callback(kind, value)
        self.ready = []         # sockets with data waiting ('data' URCs)
        self.opens = {}         # socket -> error code of an asynchronous open (BG95)
        self.rai_next = None    # RAI for the next send, where the send command carries it
        self.raw = None         # the last raw payload (+CARECV)
        self.prompt = False     # the "> " prompt of a command taking data came
        self.pdus = []          # SMS PDUs (hex str) delivered by +CMT
        self.cmt = False        # the next line is a +CMT PDU

    def send(self, cmd):
        # a raw payload still "on its way" when the next command goes out is
        # noise (a real one ends before its command's OK): dropped, or it
        # would swallow the answers that follow
        if self.buf.lstrip().startswith(_RAW):
            self.buf = b""
        if self.cmd is not None:
            self._settle()
        self.cmd = cmd
        self.lines = []
        self.res = None
        self.u.write(cmd.encode() + b"\r\n")

    def poll(self):
        # read what arrived, handle URCs; -> final result of the command or None
        for _ in range(16):     # bounded: a chatty modem can't starve the caller
            d = self.u.read()
            if not d:
                break
            self.buf += d
        while True:
            b = self.buf.lstrip()
            if b[:1] == b">" and self.cmd is not None:     # data prompt
                self.prompt = True
                self.buf = b[1:]
                continue
            if b.startswith(_RAW):
                i = b.find(b",")
                j = b.find(b"\n")
                if 0 < i < j or j < 0 < i:      # "+CARECV: n," then n bytes
                    try:
                        n = int(b[9:i])
                    except ValueError:
                        n = -1
                    if not 0 <= n <= 1500:      # a header we cannot believe: dropped
                        self.buf = b[i + 1:]
                        continue
                    if len(b) < i + 1 + n:
                        return self.res         # the rest is on its way
                    self.raw = bytes(b[i + 1:i + 1 + n])
                    self.buf = b[i + 1 + n:]
                    continue
            i = self.buf.find(b"\n")
            if i < 0:
                if len(self.buf) > 4096:        # no line end in sight: noise
                    self.buf = b""
                return self.res
            ln = self.buf[:i].strip()
            self.buf = self.buf[i + 1:]
            try:                # line noise never ends the caller
                if ln:
                    self._line(ln.decode())
            except (ValueError, IndexError):    # (UnicodeError is a ValueError)
                pass

    def _line(self, ln):
        if self.cmt:            # 27.005 +CMT (PDU mode): the PDU line follows
            self.cmt = False
            if len(self.pdus) < 8:      # bounded: nobody may be reading them
                self.pdus.append(ln)
            if self.on_urc:
                self.on_urc("cmt", ln)
            return
        if ln.startswith("+CMT:"):
            self.cmt = True
            return
        if self.cmd is not None:
            if ln in _FINAL or ln.startswith("+CME ERROR") or ln.startswith("+CMS ERROR"):
                self.res = ln
                self.cmd = None
                return
            if ln == self.cmd:      # echo
                return
            self.lines.append(ln)
        r = urc(ln, self.cmd == "AT+CEREG?")
        if not r:
            return
        k, v = r
        if k == "reg":
            self.stat = v[0]
            if v[1] is not None or v[2] is not None:
                self.t3324, self.t3412 = v[1], v[2]
        elif k == "sleep":
            self.asleep = bool(v[1]) and v[0] in (1, 7)
        elif k == "psm":
            self.asleep = bool(v)
        elif k == "rrc":
            self.rrc = v
            if v:
                self.asleep = False
        elif k == "edrx":
            self.edrx = v
        elif k == "open":
            self.opens[v[0]] = v[1]
        elif k == "data" and v not in self.ready:
            self.ready.append(v)
        if self.on_urc:
            self.on_urc(k, v)

    def _clock(self):
        b = self.b
        if b:
            return b.clock.ms, b.wait
        import time
        return time.ticks_ms, time.sleep_ms

    def _done(self, t0, timeout):
        # wait for the final result code: lines on success, None on error or timeout
        ms, wait = self._clock()
        while self.poll() is None:
            if ms() - t0 >= timeout:
                self.cmd = None
                return None
            wait(10)
        return self.lines if self.res in ("OK", "SEND OK") else None

    def _settle(self):
        # the command before was left by an exception (Ctrl-C inside at()):
        # its final result must not be taken for this one's, and a data prompt
        # it got is cancelled with ESC (27.005), or the modem would take the
        # next command for its data. Bounded: 2 s
        ms, wait = self._clock()
        t0 = ms()
        while self.poll() is None and ms() - t0 < 2000:
            if self.prompt:
                self.prompt = None
                self.u.write(b"\x1b")
            wait(10)
        self.cmd = None

    def at(self, cmd, timeout=5000):
        # blocking command: response lines on OK, None on error or timeout
        self.send(cmd)
        return self._done(self._clock()[0](), timeout)

    def at_data(self, cmd, data, timeout=5000):
        # a command that takes data after a "> " prompt (SIM7080 +CASEND raw
        # bytes, 27.005 +CMGS a PDU ended by Ctrl-Z): lines on success, else None
        ms, wait = self._clock()
        self.send(cmd)
        self.prompt = False
        t0 = ms()
        while not self.prompt:
            if self.poll() is not None or ms() - t0 >= timeout:
                self.cmd = None
                return None
            wait(10)
        self.u.write(data)
        self.prompt = None      # its data went: no ESC for it (_settle)
        return self._done(t0, timeout)

    def setup(self):
        # echo off, registration URCs with PSM timers (mode 5, else 4), RRC
        # state URCs, vendor sleep reports and RAI
        ok = self.at("ATE0") is not None
        if self.at("AT+CEREG=5") is None:
            self.at("AT+CEREG=4")
        self.at("AT+CSCON=1")
        for c in VENDORS.get(self.v, ((),))[0]:
            self.at(c)
        return ok

    def request_psm(self, t3412_s, t3324_s):
        # seconds (None: that timer deactivated); both None: PSM off
        off = t3412_s is None and t3324_s is None
        return self.at("AT+CPSMS=0" if off else cpsms(t3412_s, t3324_s)) is not None

    def psm_for(self, lifetime, awake=_MTW):
        a, b = psm_timers(lifetime, awake)
        return self.at('AT+CPSMS=1,,,"%s","%s"' % (a, b)) is not None

    def request_edrx(self, ms, act=4):
        return self.at(cedrxs(ms, act)) is not None

    def rai(self, rai):
        # before sending the next message (nRF91, SIM7020); BG95 carries RAI
        # in its send command (rai_cmd with data)
        c = rai_cmd(self.v, rai)
        return c is None or self.at(c) is not None
