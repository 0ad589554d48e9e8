# A board whose network is a cellular modem on a UART: the nRF9160-class
# route, an ESP32 (or the unix port, over a pseudo-terminal) driving an nRF91
# Serial LTE Modem, a SIM7080G or a BG95 with AT commands. The host board
# (boards/unix.Board, the ESP32 board ...) keeps clock, storage, random and
# deep sleep; datagrams go through the modem's AT sockets (boards/atsock.py),
# PSM/eDRX/RAI as boards/modem.py requests them, SMS in PDU mode (27.005) for
# the SMS binding and the registration update trigger (client/sms.py).
#
#   from machine import UART
#   uart = UART(1, 115200, tx=17, rx=16, timeout=0)
#   board = CellularBoard(Esp32Board(), uart, "nrf91", pwrkey=Pin(4, Pin.OUT))
#   board.power_on(); ...; client = build(board, ...); board.setup(client)
from boards.modem import Modem, rai_for
from boards.atsock import DIALECTS

# vendor: (power-down command, UART sleep command, SMS indications)
_VENDOR = {
    "nrf91": ("AT+CFUN=0", "AT#XSLEEP=2", "AT+CNMI=3,2,0,1"),
    "sim7080": ("AT+CPOWD=1", "AT+CSCLK=1", "AT+CNMI=2,2,0,0,0"),
    "bg95": ("AT+QPOWD=1", "AT+QSCLK=1", "AT+CNMI=2,2,0,0,0"),
}


class CellularBoard:
    spare = None    # no spare receive buffer (boards/unix.py): the modem's sockets read into their own

    def __init__(self, base, uart, vendor="nrf91", pwrkey=None):
        self.base = base
        self.clock = base.clock
        self.state = base.state
        self.uart = uart
        self.vendor = vendor
        self.pwrkey = pwrkey    # machine.Pin driving the modem's power key, or None
        self.m = Modem(uart, vendor, self)
        self.open = []
        self.radio = True
        self.online = True      # the link (the cellular network's, not the host's Wi-Fi)
        self.client = None
        self.rai = self._rai    # read by the client's exchanges (Table D.4-1)
        self.sms = None         # client/sms.Sms when an SMS binding listens
        self.t3412 = self.t3324 = None
        self._fd = False
        self._up = False        # the modem answered and is set up
        self._smsmode = False   # SMS in PDU mode with indications
        self._stored = []       # +CMTI indexes to read
        self._acks = 0          # +CMT to acknowledge
        self._conn = None       # (ms, Connectivity Monitoring values) last asked
        self.m.on_urc = self._urc

    def __getattr__(self, k):
        # everything else is the host board's: random, time, rtc_ms, battery,
        # memory, its sleep image store, uid ...
        return getattr(self.base, k)

    def conn(self):
        # Connectivity Monitoring (/4/0): LTE-FDD bearer (6), RSRP as the
        # signal strength (27.007 +CESQ: dBm = index - 141), the PDN's IP
        # address (+CGPADDR), cell id (+CEREG); asked at most every 10 s
        m = self.m
        now = self.clock.ms()
        if m.cmd is None and (self._conn is None or now - self._conn[0] > 10000):
            c = {0: 6, 1: {0: 6}, 2: 0, 4: {0: "0.0.0.0"}, 8: 0}
            try:
                f = (m.at("AT+CESQ") or ["+CESQ: 99,99,255,255,255,255"])[0][6:].split(",")
                if int(f[5]) != 255:
                    c[2] = int(f[5]) - 141
                a = m.at("AT+CGPADDR=0")
                if a:
                    c[4] = {0: a[0].split(",")[1].strip('" ')}
                r = m.at("AT+CEREG?")
                if r:
                    c[8] = int(r[0].split(",")[3].strip('"'), 16)
            except (ValueError, IndexError):
                pass
            self._conn = (now, c)
        return self._conn[1] if self._conn else {0: 6, 1: {0: 6}, 2: 0, 4: {0: "0.0.0.0"}, 8: 0}

    def deep_sleep(self, ms):
        # the modem keeps its registration (PSM) on its own; our sockets go
        for t in list(self.open):
            t.close()
        self.base.deep_sleep(ms)

    # ---- modem power and sleep
    def power_on(self, tries=20):
        # power-key pulse (when wired), then wait for the modem to answer
        p = self.pwrkey
        if p:
            p.value(1)
            self.base.wait(1000)
            p.value(0)
        for _ in range(tries):
            if self.m.at("AT", 500) is not None:
                self._up = self.m.setup()
                return self._up
        return False

    def power_off(self):
        return self.m.at(_VENDOR[self.vendor][0], 10000) is not None

    def sleep(self):
        # UART/host-interface sleep (the radio follows its own PSM timers)
        return self.m.at(_VENDOR[self.vendor][1]) is not None

    def setup(self, client, awake_s=None, psm=True):
        # URCs, PSM timers for this client (Appendix D.8.5: T3412 above the
        # lifetime, T3324 the awake window), SMS in PDU mode
        self.client = client
        m = self.m
        if not self._up:
            self._up = m.setup()
        if psm:
            lt = client.servers[0].lifetime() if client.servers else 86400
            m.psm_for(lt, awake_s or -(-client.awake_ms // 1000))
            self.t3412, self.t3324 = m.t3412, m.t3324
        self._sms_on()
        return self.t3412, self.t3324

    def _sms_on(self):
        # PDU mode, new messages indicated (once; also on first SMS use)
        if not self._smsmode:
            self._smsmode = True
            self.m.at("AT+CMGF=0")
            self.m.at(_VENDOR[self.vendor][2])

    # ---- datagrams
    def udp(self, host, port, lport=0):
        t = DIALECTS[self.vendor](self, self.m, host, port, lport)
        self.open.append(t)
        return t

    def _rai(self, typ, more):
        # Release Assistance for the next message: CON one response, NON
        # none, ACK (a response to the server) ongoing; ongoing when more follows
        # or a client task is at work (a firmware download: the RRC connection stays)
        c = self.client
        r = rai_for(typ == 0, more or c and any(t.busy() for t in c.tasks), typ == 2)
        if self.vendor == "bg95":
            self.m.rai_next = r     # carried by +QISENDEX itself
        else:
            self.m.rai(r)

    # ---- SMS, 27.005 PDU mode
    def sms_send(self, pdu, tpdu_len):
        # pdu: hex str (SMSC length octet 00 + TPDU); -> True when accepted
        self._sms_on()
        return self.m.at_data("AT+CMGS=%d" % tpdu_len, pdu.encode() + b"\x1a", 60000) is not None

    def sms_recv(self):
        # PDUs (hex str) delivered since the last call: +CMT, and stored ones
        # announced by +CMTI (read and deleted). Not from inside a URC: the
        # commands wait until no other is in flight
        m = self.m
        m.poll()
        if m.cmd is None:
            self._sms_on()
            while self._acks:
                self._acks -= 1
                m.at("AT+CNMA=1")       # new-message acknowledgement (nRF91 +CNMI mode 3)
            while self._stored:
                i = self._stored.pop(0)
                r = m.at("AT+CMGR=%d" % i)
                if r and len(r) > 1:
                    m.pdus.append(r[1])
                m.at("AT+CMGD=%d" % i)
        out, m.pdus = m.pdus, []
        return out

    def _urc(self, kind, v):
        if kind == "sms":       # +CMTI: stored at index v
            self._stored.append(v)
        elif kind == "cmt" and self.vendor == "nrf91":
            self._acks += 1

    # ---- waiting
    def wait(self, ms):
        # until the UART has something (a URC, a response, data) or ms; a
        # simulated modem may hold a downlink until a time of its own (due())
        b = self.base
        now = self.clock.ms()
        due = getattr(self.uart, "due", None)
        d = due() if due else None
        if d is not None and now <= d < now + ms:
            ms = d - now
        if not self._fd and hasattr(self.uart, "fileno") and hasattr(b, "poll"):
            import select
            b.poll.register(self.uart, select.POLLIN)
            self._fd = True
        if self._fd or due or not hasattr(self.uart, "any"):
            b.wait(ms)      # (a simulated modem says when it has something: due())
        else:               # a machine.UART: look in small slices
            end = now + ms
            while not self.uart.any() and self.clock.ms() < end:
                b.wait(min(20, end - self.clock.ms()))
        self.urcs()

    def urcs(self):
        self.m.poll()
        s = self.sms
        if s and self.m.cmd is None and s.poll() and not self.radio and self.client:
            self.client.wake()      # an SMS from our server: leave the radio-off sleep
