# The simulated modem's data path and SMS (a simulator: tools/sim/, never
# shipped; runs on MicroPython's unix port in-process and on CPython behind a
# pseudo-terminal, tools/sim/ptymodem.py): the AT socket dialects of
# boards/atsock.py (nRF91 SLM, SIM7080G, BG95) and 27.005 SMS in PDU mode
# (+CMGS, +CMGR, +CMGD, +CNMI with +CMT or +CMTI), on top of SimModem's radio
# model: a datagram sent wakes the radio, one arriving in PSM is lost, an SMS
# in PSM waits in the SMS centre (simmodem.py).
#   net      .udp(host, port, lport) -> a transport (send, recv, close): the
#            network behind the modem (a VirtualBoard in-process, sockets on
#            the host side)
#   on_mo    callback(pdu bytes incl. the SMSC octet): a mobile-originated
#            SMS for the SMS centre (tools/sim/smsgw.py)
from binascii import hexlify, unhexlify
from simmodem import SimModem, Link, CONN
from boards.modem import RAI_ONGOING, RAI_NONE, RAI_ONE

_LIMIT = 512    # lines kept for the host to read


def _f(s):
    s = s.strip()
    return s[1:-1] if s[:1] == '"' else s


class SimAt(SimModem):
    def __init__(self, clock=None, vendor="nrf91", net=None, setup=0, over=28, **kw):
        super().__init__(clock, vendor, **kw)
        self.net = net
        self.setup = setup      # ms to connect from idle/PSM (virtual clocks only)
        self.over = over
        self.socks = {}         # handle -> [Link or None, lport, [datagrams]]
        self.apoll = False
        self.dm = None          # data mode after "> ": [kind, bytes wanted or None, buffer, ctx]
        self.cnmi = 1           # 27.005 <mt>: 1 store + CMTI, 2 (nRF91 3) direct +CMT
        self.box = {}           # stored SMS: index -> PDU bytes
        self.mr = 0
        self.on_mo = None
        self.mo = []            # every MO PDU (bytes)
        self.log = []           # AT commands seen (for tests; None: not kept)
        self.off = False        # powered down

    def _urc(self, line, on=1):
        if on and len(self.out) < _LIMIT:
            self.out.append(line.encode() + b"\r\n")

    # ---- the host's stream
    def write(self, b):
        b = bytes(b)
        n = len(b)
        while b:
            if self.dm:
                b = self._data(b)
                continue
            i = min([k for k in (b.find(b"\r"), b.find(b"\n")) if k >= 0] or [-1])
            if i < 0:
                self.inp += b
                break
            ln = (self.inp + b[:i]).replace(b"\x1b", b"").decode().strip()   # ESC outside data mode: ignored
            self.inp = b""
            b = b[i + 1:]
            if ln:
                if self.log is not None:
                    self.log.append(ln)
                r = self._at(ln)
                if r:
                    self._urc(r)
        return n

    def _data(self, b):
        # bytes after a "> " prompt: a counted payload (+CASEND) or a PDU up to Ctrl-Z
        d = self.dm
        if not d[2] and b[:1] == b"\n":   # the command line's CR LF
            b = b[1:]
            if not b:
                return b""
        if d[1] is None:
            i = b.find(b"\x1a")
            e = b.find(b"\x1b")
            if 0 <= e and (i < 0 or e < i):     # ESC cancels the PDU (27.005 +CMGS)
                self.dm = None
                self._urc("OK")
                return b[e + 1:]
            d[2] += b if i < 0 else b[:i]
            if i < 0:
                return b""
            rest = b[i + 1:]
        else:
            k = d[1] - len(d[2])
            d[2] += b[:k]
            rest = b[k:]
            if len(d[2]) < d[1]:
                return b""
        self.dm = None
        self._urc(self._end(d[0], bytes(d[2]), d[3]))
        return rest

    def _prompt(self, kind, n, ctx=None):
        self.dm = [kind, n, b"", ctx]
        self.out.append(b"\r\n> ")

    def _end(self, kind, data, ctx):
        if kind == "casend":
            self._tx(ctx, data)
            return "OK"
        if kind == "qisend":
            self._tx(ctx, unhexlify(data))
            return "SEND OK"
        try:                    # +CMGS: the PDU in hex
            pdu = unhexlify(data.strip())
        except ValueError:
            return "+CMS ERROR: 304"
        self.radio_event("tx", len(pdu))
        self.mo.append(pdu)
        self.mr = (self.mr + 1) & 255
        if self.on_mo:
            self.on_mo(pdu)
        self._urc("+CMGS: %d" % self.mr)
        return "OK"

    def read(self, n=-1):
        self.pump()
        return super().read(n)

    def any(self):
        self.advance()
        self.pump()
        return super().any()

    def due(self):
        # when a paged downlink or an SMS is delivered (the board waits no longer)
        d = [s[0].due() for s in self.socks.values() if s[0] and s[0].due() is not None]
        d += [self.mt[0][0]] if self.mt else []
        n = self._next() if self.smsc else None     # kept SMS go at the next PSM exit (TAU)
        d += [n[0]] if n and n[1] == CONN else []
        return min(d) if d else None

    # ---- sockets
    def _open(self, h, host, port):
        s = self.socks[h]
        if s[0] is None:
            tr = self.net.udp(host, int(port), s[1])
            s[0] = Link(tr, self, self.setup, self.over, self.clock if self.setup else None)
        return s[0]

    def _tx(self, h, data, host=None, port=None):
        s = self.socks.get(h)
        if not s:
            return False
        ln = s[0] or self._open(h, host, port)
        ln.send(data)
        return True

    def pump(self):
        # datagrams reaching the terminal (after paging; lost in PSM): queued
        # per socket, announced by the dialect's URC
        for h, s in self.socks.items():
            while s[0]:
                d = s[0].recv()
                if d is None:
                    break
                s[2].append(bytes(d))
                v = self.vendor
                if v == "nrf91":
                    self._urc("#XAPOLL: %d,1" % h, self.apoll)
                elif v == "sim7080":
                    self._urc("+CADATAIND: %d" % h)
                else:
                    self._urc('+QIURC: "recv",%d' % h)

    def _close(self, h):
        s = self.socks.pop(h, None)
        if s and s[0]:
            s[0].close()

    def _pop(self, h):
        s = self.socks.get(h)
        return s[2].pop(0) if s and s[2] else None

    def _at(self, c):
        if self.off:
            return None         # powered down: no answer
        a, _, p = c.partition("=")
        f = [_f(x) for x in p.split(",")] if p else []
        for h in (self._sock, self._smscmd, self._power):
            r = h(a, f)
            if r is not None:
                return r        # "": handled, no result code yet (a prompt)
        return super()._at(c)

    def _power(self, a, f):
        # power-down (nRF91 CFUN=0, SIM7080 +CPOWD, BG95 +QPOWD): sockets
        # closed, no answers afterwards; UART sleep commands
        if a in ("AT+CPOWD", "AT+QPOWD") or a == "AT+CFUN" and f[0] == "0":
            for h in list(self.socks):
                self._close(h)
            self.off = True
            return "OK"
        if a in ("AT+CFUN", "AT#XSLEEP", "AT+CSCLK", "AT+QSCLK"):
            return "OK"
        if a == "AT+CESQ":          # RSRP index 60: -81 dBm
            self._urc("+CESQ: 99,99,255,255,20,60")
            return "OK"
        if a == "AT+CGPADDR":
            self._urc('+CGPADDR: 0,"10.0.0.5"')
            return "OK"
        return None

    def _sock(self, a, f):
        if a == "AT#XSOCKET":
            if f[0] == "1":
                h = 0
                while h in self.socks:
                    h += 1
                self.socks[h] = [None, 0, []]
                self._urc("#XSOCKET: %d,2,17" % h)
            else:
                for h in list(self.socks):
                    self._close(h)
            return "OK"
        if a == "AT#XBIND" and self.socks:
            self.socks[max(self.socks)][1] = int(f[0])
            return "OK"
        if a == "AT#XAPOLL":
            self.apoll = f[0] == "1"
            return "OK"
        if a == "AT#XSENDTO" and self.socks and len(f) > 3:
            d = unhexlify(f[3]) if f[2] == "0" else f[3].encode()
            self._tx(max(self.socks), d, f[0], f[1])
            self._urc("#XSENDTO: %d" % len(d))
            return "OK"
        if a == "AT#XRECVFROM" and self.socks:
            h = max(self.socks)
            d = self._pop(h)
            if d is not None:
                self._urc('#XRECVFROM: 0,%d,"127.0.0.1",0' % len(d))
                self._urc(hexlify(d).decode())
                if self.socks[h][2]:
                    self._urc("#XAPOLL: %d,1" % h, self.apoll)
            return "OK"
        if a == "AT+CNACT" or a == "AT+QIACT" or (a == "AT+QICFG" and f[:1] == ["dataformat"]):
            return "OK"
        if a in ("AT+CAOPEN", "AT+QIOPEN"):
            h = int(f[1]) if a == "AT+QIOPEN" else int(f[0])
            self.socks[h] = [None, int(f[5]) if a == "AT+QIOPEN" and len(f) > 5 else 0, []]
            self._open(h, f[3], f[4])
            if a == "AT+CAOPEN":
                self._urc("+CAOPEN: %d,0" % h)
                return "OK"
            self._urc("OK")
            return "+QIOPEN: %d,0" % h
        if a == "AT+CASEND" and int(f[0]) in self.socks:
            self._prompt("casend", int(f[1]), int(f[0]))
            return ""
        if a == "AT+CARECV":
            d = self._pop(int(f[0]))
            if d is None:
                self._urc("+CARECV: 0")
            else:
                self.out.append(b"+CARECV: %d," % len(d) + d + b"\r\n")
                if self.socks[int(f[0])][2]:
                    self._urc("+CADATAIND: %s" % f[0])
            return "OK"
        if a == "AT+QISEND" and int(f[0]) in self.socks:
            self._prompt("qisend", 2 * int(f[1]), int(f[0]))   # hex data format: 2 digits a byte
            return ""
        if a == "AT+QISENDEX" and int(f[0]) in self.socks:
            if len(f[1]) > 512:
                return "ERROR"
            if len(f) > 2:
                self.rai_next = (RAI_ONGOING, RAI_NONE, RAI_ONE)[int(f[2])]
            self._tx(int(f[0]), unhexlify(f[1]))
            return "SEND OK"
        if a == "AT+QIRD":
            h = int(f[0])
            d = self._pop(h)
            self._urc("+QIRD: %d" % (len(d) if d else 0))
            if d:
                self._urc(hexlify(d).decode())
                if self.socks[h][2]:
                    self._urc('+QIURC: "recv",%d' % h)
            return "OK"
        if a in ("AT+CACLOSE", "AT+QICLOSE"):
            self._close(int(f[0]))
            return "OK"
        return None

    # ---- SMS (27.005, PDU mode)
    def _smscmd(self, a, f):
        if a == "AT+CMGF":
            return "OK" if f[0] == "0" else "ERROR"    # PDU mode only
        if a == "AT+CNMI":
            self.cnmi = int(f[1]) if len(f) > 1 else 1
            return "OK"
        if a == "AT+CNMA":
            return "OK"
        if a == "AT+CMGS":
            self._prompt("cmgs", None)
            return ""
        if a == "AT+CMGR":
            d = self.box.get(int(f[0]))
            if d is None:
                return "+CMS ERROR: 321"
            self._urc("+CMGR: 0,,%d" % (len(d) - 1 - d[0] if d else 0))
            self._urc(hexlify(d).decode().upper())
            return "OK"
        if a == "AT+CMGD":
            self.box.pop(int(f[0]), None)
            return "OK"
        return None

    def _deliver(self, n):
        # an MT SMS (the PDU incl. the SMSC address) reaches the terminal:
        # +CMT directly, or stored and +CMTI
        if isinstance(n, int):
            n = b"\x00" * n
        if self.cnmi >= 2:
            self._urc("+CMT: ,%d" % (len(n) - 1 - n[0] if n else 0))
            self._urc(hexlify(n).decode().upper())
        else:
            self.box[self.sms_n] = n
            self._urc('+CMTI: "SM",%d' % self.sms_n)
