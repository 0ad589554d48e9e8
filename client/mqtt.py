# LwM2M over MQTT (the MicroEJ ESR030 scheme, seed 002): a small MQTT 3.1.1
# client carrying CoAP messages. mqtt://host[:1883][/prefix] (mqtts:// and
# 8883: TLS). Each CoAP message is the payload of one PUBLISH, in the compact
# form: the RFC 8323 frame of client/tcp.py (no type, no message ID), on
# <prefix>/<endpoint>/deviceToServer up and <prefix>/<endpoint>/serverToDevice
# down. CONNECT with clean session and keep-alive, SUBSCRIBE QoS 0, PUBLISH
# QoS 0 without retain, PINGREQ, DISCONNECT. The message layer is
# client/rexchange.py (reliable: no CON/ACK); a CoAP Ping/Pong through the
# bridge confirms notifications. The Register says b=M (the letter of
# LwM2M 1.2 for MQTT). Reconnects (broker restart) subscribe again and
# re-send what was in flight, then Update (client/tcp.py Conn life cycle).
# mq2m://owner/path?size=N Package URIs (Firmware Update) come over this
# link block-wise: client/mq2m.py.
from client import tcp
from client.coap import Malformed


def _s(t):
    return len(t).to_bytes(2, "big") + t


def pkt(h, body):
    # fixed header h, Remaining Length (variable byte integer), body
    n = len(body)
    v = b""
    while True:
        d = n & 127
        n >>= 7
        v += bytes((d | (128 if n else 0),))
        if not n:
            return bytes((h,)) + v + body


class Mqtt(tcp.Conn):
    ka_ms = 60000           # MQTT keep-alive (told in CONNECT)

    def __init__(self, board, host, port, ctx, log, ep, prefix, **cfg):
        self.ep = ep
        self.d2s = ("%s/%s/deviceToServer" % (prefix, ep)).encode()
        self.s2d = ("%s/%s/serverToDevice" % (prefix, ep)).encode()
        tcp.Conn.__init__(self, board, host, port, ctx, log, **cfg)

    def open(self):
        tcp.Conn.open(self)
        if self.s:      # CONNECT (clean session), SUBSCRIBE, then what waits
            t = pkt(0x10, b"\0\4MQTT\4\2" + (self.ka_ms // 1000).to_bytes(2, "big") + _s(self.ep.encode())) + \
                pkt(0x82, b"\0\1" + _s(self.s2d) + b"\0")
            self.tx_bytes += len(t) - len(self.tx)     # (instead of the CSM)
            self.tx = t

    def _up(self):
        # connected: a CoAP Ping through the broker and the bridge proves the
        # whole path (QoS 0 drops what a not yet subscribed peer misses); no
        # Pong within pong_ms: connect again, re-sending what is in flight
        tcp.Conn._up(self)
        if self.st == 2:
            self.ping()

    def frame(self, m):
        return pkt(0x30, _s(self.d2s) + tcp.frame(m))

    def alive(self):
        self.send(b"\xc0\0")    # PINGREQ
        self._wait()

    def release(self):
        self.send(b"\xe0\0")    # DISCONNECT
        tcp.Conn.release(self)

    def recv(self):
        if not self.s:
            return None
        if self.st == 1:
            self._up()
            if self.st != 2:
                return None
        if not self.b.radio and not self.long:
            self.close("radio off")
            return None
        b = self.buf
        while self.s:
            # one MQTT packet: type, Remaining Length, body
            k = i = 1
            ln = sh = 0
            while i < self.n and i < 5:
                ln |= (b[i] & 127) << sh
                sh += 7
                i += 1
                if not b[i - 1] & 128:
                    k = i + ln
                    break
            if i >= 5 and k == 1 or k > len(b):
                return self._lost("bad packet", k)
            if k > 1 and k <= self.n and self.b.radio:
                t = b[0] >> 4
                body = bytes(b[i:k])
                b[:self.n - k] = b[k:self.n]
                self.n -= k
                self.rx_bytes += k
                self.last_rx = self._now()
                if t == 2 and body[1]:      # CONNACK refused
                    self.error = "mqtt connack %d" % body[1]
                    return self._lost("refused")
                if t == 13:                 # PINGRESP
                    self.pong_by = None
                if t != 3:
                    continue
                n = (body[0] << 8 | body[1]) + 2
                if body[2:n] != self.s2d or b[0] & 6:
                    continue
                try:
                    m = tcp.parse(body[n:])
                except (Malformed, IndexError):
                    continue        # one bad message: the connection is fine
                if m.code < 0xE0:
                    if m.code:
                        return m
                elif self._sig(m):
                    return None
                continue
            if not self._fill(b):
                return None


def conn(c, uri, sec):
    from client.reg import parse_uri
    h, p, s = parse_uri(uri)
    pre = uri[uri.index("//") + 2:].partition("/")[2] or "lwm2m"
    return Mqtt(c.board, h, p, tcp.ctx(sec) if s else None, c.log, c.ep, pre, **getattr(c, "tcp_cfg", {}))

