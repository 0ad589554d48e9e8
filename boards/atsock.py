# UDP sockets through a cellular modem's AT commands (boards/modem.py Modem
# on a UART), one class per dialect, all with the board transport interface
# (send, recv -> bytes or None, deadline, close, lport). Data waiting is
# announced by a URC (Modem.ready), so recv() costs no AT command when
# nothing came. Dialects:
#  nrf91   nRF91 Serial LTE Modem: AT#XSOCKET=1,2,0 (open UDP client) ->
#          #XSOCKET: <handle>,2,17; AT#XBIND=<port>; AT#XAPOLL=1,1 (POLLIN
#          URCs #XAPOLL: <handle>,1); AT#XSENDTO="<host>",<port>,0,"<hex>"
#          (datatype 0: hex string) -> #XSENDTO: <n>; AT#XRECVFROM=<timeout>
#          -> #XRECVFROM: <datatype>,<n>,"<ip>",<port> then the data line;
#          AT#XSOCKET=0 closes
#  sim7080 SIMCom SIM7080G: AT+CNACT=0,1 (PDP context); AT+CAOPEN=0,0,"UDP",
#          "<host>",<port> -> +CAOPEN: 0,<err>; AT+CASEND=0,<n> "> " <n raw
#          bytes> -> OK; +CADATAIND: 0; AT+CARECV=0,<max> -> +CARECV: <n>,<raw>;
#          AT+CACLOSE=0
#  bg95    Quectel BG95: AT+QICFG="dataformat",1,1 (hex both ways); AT+QIACT=1;
#          AT+QIOPEN=1,<id>,"UDP","<host>",<port>,<lport>,0 -> OK, +QIOPEN: <id>,<err>;
#          AT+QISENDEX=<id>,"<hex>"[,<rai>] -> SEND OK (up to 256 bytes; longer:
#          AT+QISEND=<id>,<n> "> " <hex> -> SEND OK); +QIURC: "recv",<id>;
#          AT+QIRD=<id>,<max> -> +QIRD: <n> then the hex line; AT+QICLOSE=<id>
from binascii import hexlify, unhexlify
from boards.modem import rai_cmd


def _hex(b):
    return hexlify(b).decode()


class AtUdp:
    def __init__(self, board, modem, host, port, lport=0):
        self.b = board
        self.m = modem
        self.host = host
        self.port = port
        self.lport = lport
        self.id = 0
        try:
            ok = self.open()
        except (ValueError, IndexError):    # an answer we cannot read
            ok = False
        if not ok:
            raise OSError(5)    # EIO: the modem refused; a failed attempt upstream

    def _ok(self, cmd):
        return self.m.at(cmd) is not None

    def _line(self, lines, head):
        # the fields of the response line starting with head, or None
        for ln in lines or ():
            if ln.startswith(head):
                return [x.strip().strip('"') for x in ln[len(head):].split(",")]
        return None

    def deadline(self):
        return None     # nothing timed below CoAP

    def send(self, data):
        if not self.b.radio:
            return
        self._send(bytes(data))

    def recv(self):
        m = self.m
        m.poll()
        if not self.b.radio:
            while self.id in m.ready:   # radio off: what arrives is lost
                m.ready.remove(self.id)
                try:
                    self._recv()
                except (ValueError, IndexError):
                    pass
            return None
        if self.id not in m.ready:
            return None
        try:
            d = self._recv()
        except (ValueError, IndexError):    # a garbled answer: that datagram is lost
            d = None
        if not d:
            m.ready.remove(self.id)
        return d

    def close(self):
        b = self.b
        if self in b.open:
            b.open.remove(self)
        self._close()


class Nrf91Udp(AtUdp):
    def open(self):
        f = self._line(self.m.at("AT#XSOCKET=1,2,0"), "#XSOCKET:")
        if not f:
            return False
        self.id = int(f[0])
        if self.lport and not self._ok("AT#XBIND=%d" % self.lport):
            self.lport = 0
        return self._ok("AT#XAPOLL=1,1")

    def _send(self, d):
        self.m.at('AT#XSENDTO="%s",%d,0,"%s"' % (self.host, self.port, _hex(d)))

    def _recv(self):
        r = self.m.at("AT#XRECVFROM=1")
        f = self._line(r, "#XRECVFROM:")
        if not f or int(f[1]) <= 0:
            return None
        d = r[r.index([x for x in r if x.startswith("#XRECVFROM:")][0]) + 1]
        return unhexlify(d) if f[0] == "0" else d.encode()

    def _close(self):
        self._ok("AT#XSOCKET=0")


class Sim7080Udp(AtUdp):
    def open(self):
        self.lport = 0
        self.m.at("AT+CNACT=0,1")       # already active: ERROR, harmless
        f = self._line(self.m.at('AT+CAOPEN=0,0,"UDP","%s",%d' % (self.host, self.port)), "+CAOPEN:")
        return bool(f) and f[1] == "0"

    def _send(self, d):
        self.m.at_data("AT+CASEND=0,%d" % len(d), d)

    def _recv(self):
        m = self.m
        m.raw = None
        m.at("AT+CARECV=0,1460")
        d, m.raw = m.raw, None
        return d

    def _close(self):
        self._ok("AT+CACLOSE=0")


class Bg95Udp(AtUdp):
    def open(self):
        m = self.m
        self._ok('AT+QICFG="dataformat",1,1')
        m.at("AT+QIACT=1")              # already active: ERROR, harmless
        m.opens.pop(self.id, None)
        if not self._ok('AT+QIOPEN=1,%d,"UDP","%s",%d,%d,0' % (self.id, self.host, self.port, self.lport)):
            return False
        ms, wait = m._clock()           # the result is a URC after OK: +QIOPEN: <id>,<err>
        t0 = ms()
        while self.id not in m.opens and ms() - t0 < 5000:
            wait(10)
            m.poll()
        return m.opens.get(self.id) == 0

    def _send(self, d):
        m = self.m
        r, m.rai_next = m.rai_next, None
        if len(d) > 256:    # +QISENDEX takes 512 hex digits at most: +QISEND, hex after "> "
            m.at_data("AT+QISEND=%d,%d" % (self.id, len(d)), _hex(d).encode())
            return
        c = rai_cmd("bg95", r, self.id, d) if r is not None else None
        m.at(c or 'AT+QISENDEX=%d,"%s"' % (self.id, _hex(d)))

    def _recv(self):
        r = self.m.at("AT+QIRD=%d,1500" % self.id)
        f = self._line(r, "+QIRD:")
        if not f or int(f[0]) <= 0:
            return None
        i = [k for k in range(len(r)) if r[k].startswith("+QIRD:")][0]
        return unhexlify(r[i + 1])

    def _close(self):
        self._ok("AT+QICLOSE=%d" % self.id)


DIALECTS = {"nrf91": Nrf91Udp, "sim7080": Sim7080Udp, "bg95": Bg95Udp}
