# An SMS gateway stand-in (a simulator: tools/sim/, never shipped; runs on
# CPython next to a pseudo-terminal modem and on MicroPython in-process): the
# SMS centre and an SMS <-> UDP relay for one device. Mobile-originated SMS
# from the simulated modem (SimAt.on_mo: SMS-SUBMIT PDUs) addressed to the
# server's MSISDN are reassembled and sent as one UDP datagram to the LwM2M
# server (tools/lwm2m_server.py sees the device at the gateway's address);
# every datagram from the server goes back as SMS-DELIVER PDUs from the
# server's MSISDN (concatenated when over 140 octets), delivered by the
# modem's radio model (SimModem.sms: at once, paged, or kept while in PSM).
# inject() sends a request of the test's own by SMS (e.g. an Execute on
# /1/x/8); its response stays here (answers).
from binascii import hexlify

_SMSC = b"\x07\x91\x94\x71\x01\x67\x00\x00"     # the SMS centre's address (+491710760000)
_ONE = 140
_CHUNK = 133        # with a 7-octet header (IEI 8: 16-bit reference)


def _bcd(num):
    d = num.lstrip("+")
    if len(d) % 2:
        d += "F"
    return bytes([len(num.lstrip("+")), 0x91 if num.startswith("+") else 0x81]) + bytes(
        int(d[i + 1] + d[i], 16) for i in range(0, len(d), 2))


def _num(b, at):
    # TP address at b[at]: (number, index after it)
    n, typ = b[at], b[at + 1]
    raw = b[at + 2:at + 2 + (n + 1) // 2]
    s = "".join("%x%x" % (x & 15, x >> 4) for x in raw)[:n]
    return ("+" if typ & 0x70 == 0x10 else "") + s, at + 2 + (n + 1) // 2


def mo_decode(pdu):
    # SMS-SUBMIT (with the SMSC octet(s)) -> (to, ref, count, seq, data)
    b = pdu
    i = 1 + b[0]
    fo = b[i]
    if fo & 3 != 1:
        raise ValueError("not SMS-SUBMIT")
    to, i = _num(b, i + 2)
    dcs = b[i + 1]
    i += 2
    vpf = fo >> 3 & 3
    i += 0 if vpf == 0 else 1 if vpf == 2 else 7
    udl = b[i]
    ud = b[i + 1:i + 1 + udl]
    if dcs & 0x0C != 0x04:
        raise ValueError("not 8-bit data")
    ref, count, seq = None, 1, 1
    if fo & 0x40:
        h = ud[0]
        j = 1
        while j < h:
            if ud[j] == 0:
                ref, count, seq = ud[j + 2], ud[j + 3], ud[j + 4]
            elif ud[j] == 8:
                ref, count, seq = ud[j + 2] * 256 + ud[j + 3], ud[j + 4], ud[j + 5]
            j += 2 + ud[j + 1]
        ud = ud[h + 1:]
    return to, ref, count, seq, bytes(ud)


def mt_encode(sender, data, ref=0):
    # SMS-DELIVER PDUs (bytes, SMSC address first) carrying data from sender
    if len(data) <= _ONE:
        chunks = [data]
    else:
        chunks = [data[i:i + _CHUNK] for i in range(0, len(data), _CHUNK)]
    out = []
    for k, c in enumerate(chunks):
        udh = b""
        if len(chunks) > 1:
            udh = bytes([6, 8, 4, ref >> 8 & 255, ref & 255, len(chunks), k + 1])
        fo = 0x04 | (0x40 if udh else 0)        # SMS-DELIVER, no more messages
        scts = b"\x62\x10\x20\x41\x00\x00\x00"    # 2026-01-02 14:00:00
        out.append(_SMSC + bytes([fo]) + _bcd(sender) + b"\x00\x04" + scts + bytes([len(udh) + len(c)]) + udh + c)
    return out


class Gateway:
    def __init__(self, modem, net, host, port, server_number, device_number="+4915100000001"):
        self.m = modem
        modem.on_mo = self.mo
        self.tr = net.udp(host, port, 0)
        self.num = server_number
        self.dev = device_number
        self.parts = {}
        self.ref = 0
        self.mine = {}          # MID of an injected request -> its token
        self.answers = []       # responses to injected requests (bytes)
        self.relayed_up = self.relayed_down = self.pdus_down = 0
        self.dropped = 0        # MO SMS not for the server, or not 8-bit

    def mo(self, pdu):
        try:
            to, ref, n, k, d = mo_decode(pdu)
        except (ValueError, IndexError):
            self.dropped += 1
            return
        if to.lstrip("+") != self.num.lstrip("+"):
            self.dropped += 1
            return
        if n > 1:
            e = self.parts.setdefault(ref, {})
            e[k] = d
            if len(e) < n:
                return
            d = b"".join(e[i] for i in sorted(e))
            del self.parts[ref]
        mid = d[2] << 8 | d[3] if len(d) >= 4 else -1
        if d[0] >> 4 & 3 >= 2 and mid in self.mine:     # ACK/RST to our own request
            self.answers.append(d)
            return
        self.relayed_up += 1
        self.tr.send(d)

    def poll(self):
        while True:
            d = self.tr.recv()
            if not d:
                return
            self.relayed_down += 1
            self.down(bytes(d))

    def down(self, data, sender=None):
        self.ref = (self.ref + 1) & 0xFFFF
        for p in mt_encode(sender or self.num, data, self.ref):
            self.pdus_down += 1
            self.m.sms(p)

    def inject(self, data, sender=None):
        # a request of our own by SMS (from the server's number unless sender)
        self.mine[data[2] << 8 | data[3]] = data[4:4 + (data[0] & 15)]
        self.down(data, sender)

    def hex(self, data, sender=None):
        return [hexlify(p).decode() for p in mt_encode(sender or self.num, data)]
