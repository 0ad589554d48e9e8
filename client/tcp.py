# CoAP over TCP and TLS (RFC 8323; coap+tcp://, coaps+tcp://): the framing,
# the signalling messages and the life cycle of the connection to one server.
# Conn is the transport of a reliable exchange (client/rexchange.py): recv()
# gives whole non-signalling messages (parsed), signalling is handled here.
# Life cycle (LwM2M leaves it open; our answers, tested in test_tcp*.py):
# - connect when there is something to send (the Register), CSM first;
# - keep-alive: nothing sent or received for ka_ms -> a Ping (with empty = True
#   an empty 0.00 while the peer talks); no Pong within pong_ms means a
#   half-open connection: close, reconnect (back-off 1 s .. 64 s), then the
#   exchange re-sends requests in flight and the account Updates (Register
#   only if the server answers 4.04);
# - Release: reconnect after its Hold-Off (Alternative-Address logged);
#   Abort, end of stream, a malformed or oversized frame: close, reconnect;
# - queue mode: the connection closes when the radio goes off (short-lived,
#   the default) or stays open (long = True) without keep-alives while off;
# - closed after the De-register's response (client/rexchange.py).
from micropython import const
from client import coap
from client.coap import Msg, Malformed

CSM = const(0xE1)
PING = const(0xE2)
PONG = const(0xE3)
RELEASE = const(0xE4)
ABORT = const(0xE5)
MAX_RX = const(1152)        # our Max-Message-Size (told in the CSM)
_CLOSED = const(0)
_CONN = const(1)
_OPEN = const(2)


def frame(m):
    # m as an RFC 8323 §3.2 frame: Len/TKL, extended length, code, token,
    # then the options and payload as the UDP codec lays them out
    tk = m.token
    t = len(tk)
    body = coap.build(m)[4 + t:]
    n = len(body)
    if n < 13:
        h = bytes((n << 4 | t,))
    elif n < 269:
        h = bytes((0xD0 | t, n - 13))
    elif n < 65805:
        h = bytes((0xE0 | t, (n - 269) >> 8, (n - 269) & 255))
    else:
        h = bytes((0xF0 | t,)) + (n - 65805).to_bytes(4, "big")
    return h + bytes((m.code,)) + tk + body


def size(b, n):
    # length of the frame at the start of b[:n]; 0 while its header is incomplete
    if n < 1:
        return 0
    ln = b[0] >> 4
    e = 0
    if ln > 12:
        e = (1, 2, 4)[ln - 13]
        if n < 1 + e:
            return 0
        ln = int.from_bytes(b[1:1 + e], "big") + (13, 269, 65805)[ln - 13]
    return 2 + e + (b[0] & 15) + ln


def parse(b):
    # one whole frame -> Msg (t and mid unused); Malformed on bad input
    t = b[0] & 15
    i = 1 + (0, 1, 2, 4)[max(0, (b[0] >> 4) - 12)]
    if t > 8 or len(b) < i + 1 + t:
        raise Malformed
    m = Msg(0, b[i], 0, bytes(b[i + 1:i + 1 + t]))
    coap.opts_at(m, memoryview(b), i + 1 + t)
    return m


def sig(code, opt=None, val=b"", token=b""):
    m = Msg(0, code, 0, token)
    if opt:
        m.add(opt, val)
    return m


class Conn:
    reliable = True
    alert = None            # (the account closes a transport whose Register timed out)
    error = None
    lport = 0
    ka_ms = 300000          # keep-alive interval (config: Client.tcp_cfg)
    pong_ms = 10000         # bounded wait for a Pong
    long = False            # queue mode: keep the connection while the radio is off
    conn_ms = 15000         # connect + TLS handshake at most
    empty = False           # keep-alive as 0.00 while the peer talks (aiocoap 0.4.17 answers it 4.04)

    def __init__(self, board, host, port, ctx=None, log=None, **cfg):
        self.b = board
        self.host = host
        self.port = port
        self.ctx = ctx
        self.log = log or (lambda *a: None)
        for k in cfg:
            setattr(self, k, cfg[k])
        self.s = None
        self.st = _CLOSED
        self.buf = bytearray(MAX_RX + 16)
        self.tx = b""
        self.ex = None          # the exchange: lost(), renewed(), pong(seq)
        self.ping_n = 0         # Pings sent; Pong tokens say which was answered
        self.retry = 0          # ms: a reconnect is due (0: none)
        self.fails = 0
        self.conns = 0          # connections made (the first is not a reconnect)
        self.rx_bytes = self.tx_bytes = 0
        self.last_rx = self.last_tx = 0

    def frame(self, m):
        return frame(m)

    def _now(self):
        return self.b.clock.ms()

    def open(self):
        self.close()
        try:
            self.s = self.b.tcp(self.host, self.port)
        except OSError as e:
            return self._lost("connect", e)
        self.st = _CONN
        self.until = self._now() + self.conn_ms
        self.n = 0
        self.got = False        # a byte received on this connection (TLS up)
        self.mms = MAX_RX       # the peer's Max-Message-Size (default until its CSM)
        self.bwt = False
        self.retry = 0
        # CSM first: our Max-Message-Size, block-wise transfer supported
        self.tx = frame(Msg(0, CSM).add(2, MAX_RX).add(4, b""))
        self.tx_bytes += len(self.tx)
        self.log("tcp", "connect", self.host, self.port)

    def close(self, why=None):
        if self.s:
            self.s.close()
            self.s = None
            if why:
                self.log("tcp", "closed", why)
        self.st = _CLOSED
        self.tx = b""
        self.pong_by = None     # ms: Pong due (half-open detection)

    def _lost(self, why, e=None):
        # the connection broke: reconnect with back-off, the exchange re-sends
        if self.ctx and not self.got and why in ("read", "write"):
            self.error = "tls handshake %s" % e     # the account's back-off (reg)
        self.close("%s %s" % (why, e or ""))
        self.fails += 1
        self.retry = self._now() + (1000 << min(self.fails - 1, 6))
        if self.ex:
            self.ex.lost()

    def send(self, data):
        # queue a frame (the exchange's); a closed connection opens now
        if self.st == _CLOSED:
            self.open()
        if self.s:
            self.tx += data
            self.tx_bytes += len(data)
            self.last_tx = self._now()
            self._flush()

    def _flush(self):
        if self.st != _OPEN or not self.tx:
            return
        try:
            k = self.s.write(self.tx)
        except (OSError, ValueError) as e:
            return self._lost("write", e)
        self.tx = self.tx[k:]

    def ping(self):
        # a Ping (token: its number); the exchange learns of each Pong
        self.ping_n = (self.ping_n + 1) & 0xFFFF
        self.send(self.frame(sig(PING, token=self.ping_n.to_bytes(2, "big"))))
        self._wait()
        return self.ping_n

    def _wait(self):
        if self.pong_by is None:
            self.pong_by = self._now() + self.pong_ms

    def alive(self):
        # keep-alive and half-open probe (MQTT: PINGREQ)
        self.ping()

    def release(self):
        # our side is done (after De-register): close
        self._flush()
        self.close("released")
        self.retry = 0

    def _up(self):
        # connect / TLS handshake progress
        try:
            if not self.s.connected():
                return
            if self.ctx and self.s.s is self.s.sock:
                self.s.tls(self.ctx, self.host)
        except (OSError, ValueError) as e:
            return self._lost("connect", e)
        self.st = _OPEN
        self.fails = 0
        self.conns += 1
        self.last_rx = self._now()
        self._flush()
        if self.ex and self.st == _OPEN:
            self.ex.renewed(self.conns > 1)

    def recv(self):
        # the next whole message from the peer (signalling handled here), or None
        if not self.s:
            return None
        if self.st == _CONN:
            self._up()
            if self.st != _OPEN:
                return None
        if not self.b.radio and not self.long:
            self.close("radio off")     # queue mode, short-lived connection
            return None
        b = self.buf
        while self.s:
            k = size(b, self.n)
            if k > len(b):      # more than our Max-Message-Size: abort
                self.send(self.frame(sig(ABORT)))
                self._flush()
                return self._lost("oversized", k)
            if k and k <= self.n and self.b.radio:
                m = bytes(b[:k])
                b[:self.n - k] = b[k:self.n]
                self.n -= k
                try:
                    m = parse(m)
                except Malformed:
                    self.send(self.frame(sig(ABORT)))
                    self._flush()
                    return self._lost("malformed")
                self.rx_bytes += k
                self.last_rx = self._now()
                if m.code < 0xE0:
                    if m.code:
                        return m
                    continue        # 0.00: keep-alive, ignored
                if self._sig(m):
                    return None
                continue
            if not self._fill(b):
                return None

    def _fill(self, b):
        # more of the stream into b; False: nothing more now (or the
        # connection is lost, or b is full while the radio is off)
        if self.n == len(b):
            return False
        try:
            r = self.s.readinto(memoryview(b)[self.n:])
        except (OSError, ValueError) as e:     # (tls: ValueError when verify fails)
            self._lost("read", e)
            return False
        if r < 0:
            self._lost("end of stream")
            return False
        if not r:
            self._flush()
            return False
        self.n += r
        self.got = True
        return True

    def _sig(self, m):
        c = m.code
        if c == CSM:
            for n, v in m.opts:
                if n == 2:
                    self.mms = min(MAX_RX, m.uint(2))
                elif n == 4:
                    self.bwt = True
                elif n & 1:     # an unknown critical option: Bad-CSM-Option
                    self.send(self.frame(sig(ABORT, 2, n)))
                    self._flush()
                    return self._lost("bad CSM option", n)
        elif c == PING:
            self.send(self.frame(sig(PONG, token=m.token)))
        elif c == PONG:
            t = int.from_bytes(m.token, "big")
            if t == self.ping_n:
                self.pong_by = None
            if self.ex:
                self.ex.pong(t)
        elif c == RELEASE:
            alt = m.strs(2)
            if alt:
                self.log("tcp", "release, alternative address", alt)
            h = m.uint(4, 0)
            self.close("release")
            self.retry = self._now() + h * 1000
            if self.ex:
                self.ex.lost()
            return True
        elif c == ABORT:
            self._lost("abort", bytes(m.payload))
            return True

    def step(self):
        now = self._now()
        if not self.b.radio:
            return
        if self.st == _CONN and now >= self.until:
            return self._lost("connect timeout")
        if self.st == _CLOSED:
            if self.retry and now >= self.retry:
                self.open()
            return
        if self.st != _OPEN:
            return
        if self.pong_by is not None:
            if now >= self.pong_by:
                self.pong_by = None
                self._lost("no pong")
        elif now - self.last_rx >= self.ka_ms or now - self.last_tx >= self.ka_ms and not self.empty:
            self.alive()
        elif now - self.last_tx >= self.ka_ms:
            self.send(b"\0\0")
        self._flush()

    def deadline(self):
        if not self.b.radio:
            return None
        if self.st == _CONN:
            return min(self._now() + 10, self.until)
        if self.st == _CLOSED:
            return self.retry or None
        if self.tx:
            return self._now() + 10
        if self.pong_by is not None:    # looked at every 100 ms while a Pong is due
            return min(self.pong_by, self._now() + 100)
        return min(self.last_rx, self.last_tx) + self.ka_ms

    def busy(self):
        return self.st == _CONN or bool(self.tx)


def conn(c, uri, sec):
    # the transport of a coap+tcp:// or coaps+tcp:// account; keep-alive,
    # Pong wait and queue-mode connection policy from the client's tcp_cfg
    from client.reg import parse_uri
    h, p, s = parse_uri(uri)
    return Conn(c.board, h, p, ctx(sec) if s else None, c.log, **getattr(c, "tcp_cfg", {}))


def ctx(sec):
    # a TLS context (client/tcptls.py, loaded for coaps+tcp:// and mqtts:// only)
    from client.tcptls import tls_ctx
    return tls_ctx(sec)
