# The SMS binding (transport spec §6.8 / §7.4, SMS in 3GPP TS 23.040 PDU
# mode through the board's modem, 27.005): CoAP messages as binary SMS
# (8-bit data coding), concatenated (UDH IEI 0/8) when over one PDU; the
# server's MSISDN from /0/x/9. Security: NoSec only (§5.4 with the sender's
# number checked: a message from any other number is logged and dropped);
# a secured SMS mode (/0/x/6 DTLS, secure packet) is refused with a clear
# error. SMS is not reliable: the Exchange above keeps CON/ACK.
# The board gives sms_send(pdu hex, TPDU octets) and sms_recv() -> [PDU hex].
from micropython import const
from binascii import hexlify, unhexlify
from client.ids import SEC_SMS_MODE, SEC_SMS_NUMBER

_UD = const(140)        # user data octets in one SMS
_PART = const(134)      # with the 6-octet concatenation header
_PARTS = const(16)      # the most parts of one message (2 KB)
_PENDING = const(4)     # messages being reassembled at once
_HOLD = const(120000)   # ms a partial message is kept
_NOSEC = const(3)
MODES = {1: "DTLS", 2: "secure packet"}


def _digits(n):
    return n[1:] if n[:1] == "+" else n


def _addr(num):
    # TS 23.040 9.1.2.5: digit count, type (0x91 international), semi-octets
    d = _digits(num)
    s = d + "F" if len(d) & 1 else d
    out = bytearray((len(d), 0x91 if num[:1] == "+" else 0x81))
    for i in range(0, len(s), 2):
        out.append(int(s[i + 1] + s[i], 16))
    return out


def submit(num, data, ref=0, mr=0):
    # SMS-SUBMIT PDUs (hex, with the "use the default SMSC" octet 00) and
    # their TPDU lengths for data to num
    n = (len(data) + _PART - 1) // _PART if len(data) > _UD else 1
    if n > _PARTS:
        raise ValueError("too long for SMS")
    out = []
    for k in range(n):
        p = bytearray((0x41 if n > 1 else 0x01, mr))   # SUBMIT, UDHI when concatenated
        p += _addr(num)
        p += b"\x00\x04"                               # PID, DCS 8-bit data
        ud = data if n == 1 else b"\x05\x00\x03" + bytes((ref & 255, n, k + 1)) + data[k * _PART:(k + 1) * _PART]
        p.append(len(ud))
        p += ud
        out.append(("00" + hexlify(p).decode(), len(p)))
    return out


def deliver(pdu):
    # SMS-DELIVER (hex, with its SMSC address) -> (sender, ref, parts, part,
    # data); ValueError when malformed, not SMS-DELIVER or not 8-bit data
    b = unhexlify(pdu)
    i = b[0] + 1                    # skip the SMSC address
    fo = b[i]
    if fo & 3:
        raise ValueError("not SMS-DELIVER")
    nd, t = b[i + 1], b[i + 2]
    k = i + 3 + (nd + 1) // 2
    if t & 0x70 == 0x50:            # alphanumeric originator: no number
        num = "?"
    else:
        s = hexlify(bytes(x >> 4 | (x & 15) << 4 for x in b[i + 3:k])).decode()[:nd]
        num = ("+" if t & 0x70 == 0x10 else "") + s
    dcs = b[k + 1]
    if not (dcs & 0xCC == 0x04 or dcs & 0xF4 == 0xF4):   # 8-bit data (TS 23.038)
        raise ValueError("not 8-bit data")
    n = b[k + 9]                    # after PID, DCS, SCTS (7)
    ud = b[k + 10:k + 10 + n]
    if len(ud) != n or not n:
        raise ValueError("bad length")
    ref, parts, part = 0, 1, 1
    if fo & 0x40:                   # user data header
        h = ud[0] + 1
        j = 1
        while j + 1 < h:
            ie, ln = ud[j], ud[j + 1]
            if ie == 0 and ln == 3:
                ref, parts, part = ud[j + 2], ud[j + 3], ud[j + 4]
            elif ie == 8 and ln == 4:
                ref, parts, part = ud[j + 2] << 8 | ud[j + 3], ud[j + 4], ud[j + 5]
            j += 2 + ln
        if h > n or not 0 < part <= parts <= _PARTS:
            raise ValueError("bad header")
        ud = ud[h:]
    return num, ref, parts, part, bytes(ud)


class Sms:
    # one per board: takes delivered PDUs, keeps only those from a known
    # server number, reassembles, and queues whole messages per transport
    def __init__(self, board, clock, log):
        self.b = board
        self.clock = clock
        self.log = log
        self.trs = []
        self.parts = {}     # (number, ref, parts) -> [ms, {part: data}]
        self.bad = self.unknown = 0
        self.ref = 0

    def poll(self):
        # -> True when a whole message from a server waits
        for p in self.b.sms_recv():
            try:
                num, ref, n, k, d = deliver(p)
            except Exception:   # malformed: counted, never fatal
                self.bad += 1
                continue
            tr = [t for t in self.trs if _digits(t.num) == _digits(num)]
            if not tr:
                self.unknown += 1
                self.log("sms from unknown number ignored", num)
                continue
            if len(tr[0].q) >= _PENDING:    # not being read: the oldest go
                tr[0].q.pop(0)
            if n == 1:
                tr[0].q.append(d)
                continue
            now = self.clock.ms()
            for key in [x for x in self.parts if now - self.parts[x][0] > _HOLD]:
                del self.parts[key]
            key = (num, ref, n)
            e = self.parts.get(key)
            if e is None:
                if len(self.parts) >= _PENDING:
                    continue
                e = self.parts[key] = [now, {}]
            e[1][k] = d
            if len(e[1]) == n:
                del self.parts[key]
                tr[0].q.append(b"".join(e[1][i + 1] for i in range(n)))
        return any(t.q for t in self.trs)


class SmsTransport:
    # a datagram transport to one server number (the Exchange's interface)
    ack_timeout = 10000     # ms: an SMS round trip takes seconds; 2 s would resend each CON

    def __init__(self, sms, num):
        self.s = sms
        self.num = num
        self.q = []
        self.lport = 0
        sms.trs.append(self)

    def send(self, data):
        s = self.s
        if not s.b.radio:
            return
        s.ref = (s.ref + 1) & 255
        for pdu, n in submit(self.num, bytes(data), s.ref):
            s.b.sms_send(pdu, n)

    def recv(self):
        self.s.poll()
        return self.q.pop(0) if self.q else None

    def deadline(self):
        return None

    def close(self):
        if self in self.s.trs:
            self.s.trs.remove(self)


class Both:
    # U+S: UDP (or DTLS) first; requests arriving by SMS (a registration
    # update trigger) are answered by SMS
    def __init__(self, u, s):
        self.u = u
        self.s = s
        self.via = None
        self.lport = u.lport

    def __getattr__(self, k):
        return getattr(self.u, k)   # DTLS state, alerts ...

    def send(self, data):
        (self.s if self.via is self.s else self.u).send(data)

    def recv(self):
        d = self.u.recv()
        self.via = self.u if d else None
        if not d:
            d = self.s.recv()
            self.via = self.s if d else None
        return d

    def deadline(self):
        return self.u.deadline()

    def close(self):
        self.u.close()
        self.s.close()


def transport(client, sec, binding, pref, udp):
    # the transport for an account with S in its binding: SMS alone when
    # there is no U or SMS is preferred (/1/x/22), else UDP with an SMS side
    mode = sec.get(SEC_SMS_MODE, _NOSEC)
    if mode != _NOSEC:
        client.log("sms security mode %d (%s) not supported: NoSec only" % (mode, MODES.get(mode, "?")))
        raise OSError(95)
    num = sec.get(SEC_SMS_NUMBER)
    b = client.board
    if not num or not hasattr(b, "sms_send"):
        client.log("sms binding without a server number or an SMS modem")
        raise OSError(95)
    if b.sms is None:
        b.sms = Sms(b, b.clock, client.log)
    if b.client is None:
        b.client = client       # woken by an SMS from its server
    s = SmsTransport(b.sms, num)
    if "U" not in binding or pref == "S":
        return s
    return Both(udp(), s)
