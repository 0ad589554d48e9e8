# CoAP message layer (RFC 7252 §4) toward one peer: message IDs, tokens,
# CON retransmission with exponential back-off, NSTART 1, de-duplication of
# received CONs, piggybacked and separate responses, empty ACK / RST / ping.
from micropython import const
from client import coap
from client.codes import CON, NON, ACK, RST

# transmission parameters (RFC 7252 §4.8), in ms; overridable per Exchange
ACK_TIMEOUT = const(2000)
MAX_RETRANSMIT = const(4)
_DEDUP = const(8)  # remembered received CONs (bounded)


def max_transmit_wait(ack_timeout=ACK_TIMEOUT, max_retransmit=MAX_RETRANSMIT):
    # ACK_TIMEOUT * (2 ** (MAX_RETRANSMIT + 1) - 1) * ACK_RANDOM_FACTOR
    return ack_timeout * ((1 << (max_retransmit + 1)) - 1) * 3 // 2


class Exchange:
    def __init__(self, tr, clock, rand, handler, ack_timeout=ACK_TIMEOUT,
                 max_retransmit=MAX_RETRANSMIT):
        self.tr = tr
        self.clock = clock
        self.rand = rand
        self.handler = handler      # handler(msg) -> response Msg or None
        self.ack_timeout = ack_timeout
        self.max_retransmit = max_retransmit
        r = rand(2)
        self.mid = (r[0] << 8) | r[1]
        self.out = None             # [data, mid, token, deadline, tries, timeout, cb]
        self.queue = []             # (msg, cb) waiting for NSTART
        self.wait = {}              # token -> [cb, deadline] for separate responses
        self.seen = []              # [(mid, expiry, response bytes or None)]
        self.nons = []              # (mid, token) of recent NON notifications
        self.last_rx = self.last_tx = 0
        self.tx_bytes = self.rx_bytes = 0
        self.rai = None             # board hook: rai(coap type, more) before a send
        self.more = False           # the next message has more of ours behind it

    def token(self):
        return bytes(self.rand(4))

    def _tx(self, data):
        self.tx_bytes += len(data)
        self.last_tx = self.clock.ms()
        if self.rai:    # cellular: Release Assistance for this message (type, more queued)
            self.rai(data[0] >> 4 & 3, bool(self.queue) or self.more)
            self.more = False
        try:
            self.tr.send(data)
        except OSError:     # a DTLS session just closed: the server's step reconnects
            pass

    def _next_mid(self):
        self.mid = (self.mid + 1) & 0xFFFF
        return self.mid

    def send(self, m, cb=None):
        # Send a request or a notification. CON goes through NSTART=1;
        # cb(response Msg | None on timeout | False on RST)
        if m.t == CON:
            if self.out:
                self.queue.append((m, cb))
                return
            m.mid = self._next_mid()
            # initial timeout random in [ACK_TIMEOUT, ACK_TIMEOUT * 1.5]
            t = self.ack_timeout + self.rand(1)[0] * self.ack_timeout // 510
            data = bytes(coap.build(m))
            self.out = [data, m.mid, m.token, self.clock.ms() + t, 0, t, cb, m.code]
            self._tx(data)
        else:
            m.mid = self._next_mid()
            self._tx(coap.build(m))
            if m.code >= 64:
                self.nons.append((m.mid, m.token))
                del self.nons[:-4]
            elif cb:
                self.wait[m.token] = [cb, self.clock.ms() + max_transmit_wait(self.ack_timeout, self.max_retransmit)]

    def busy(self):
        # something outstanding, also a DTLS handshake under way
        return bool(self.out or self.queue or self.wait) or self.tr.deadline() is not None

    def _done(self, cb, res):
        self.out = None
        if cb:
            cb(res)
        if self.queue and not self.out:
            m, c = self.queue.pop(0)
            self.send(m, c)

    def _empty(self, t, mid):
        self._tx(coap.build(coap.Msg(t, 0, mid)))

    def feed(self, data):
        # handle one received datagram; never raises on bad input
        self.rx_bytes += len(data)
        self.last_rx = self.clock.ms()
        try:
            m = coap.parse(data)
        except coap.Malformed:
            # RST a malformed CON whose header we can read, drop the rest
            if len(data) >= 4 and data[0] >> 4 == 4:
                self._empty(RST, (data[2] << 8) | data[3])
            return
        code = m.code
        out = self.out
        if code == 0:
            if m.t == CON:          # CoAP ping
                self._empty(RST, m.mid)
            elif out and m.mid == out[1]:
                if m.t == RST:
                    self._done(out[6], False)
                elif out[7] >= 64:  # ACK of a CON notification
                    self._done(out[6], m)
                else:               # request accepted, separate response follows
                    self.wait[out[2]] = [out[6], self.clock.ms() + max_transmit_wait(self.ack_timeout, self.max_retransmit)]
                    self._done(None, None)
            elif m.t == RST:
                for mid, tok in self.nons:
                    if mid == m.mid:
                        self.handler.reset(tok)
            return
        if code < 32:
            self._request(m)
            return
        if code < 64:               # reserved classes 1.xx: ignore (RST a CON)
            if m.t == CON:
                self._empty(RST, m.mid)
            return
        # a response
        if m.t == ACK:
            if out and m.mid == out[1] and m.token == out[2]:
                self._done(out[6], m)
            return
        w = self.wait.pop(m.token, None)
        if m.t == CON:
            self._empty(ACK if w else RST, m.mid)
        if w and w[0]:
            w[0](m)

    def _request(self, m):
        for mid, exp, res in self.seen:
            if mid == m.mid:        # duplicate: repeat the cached answer
                if res and m.t == CON:
                    self._tx(res)
                return
        if m.t not in (CON, NON):   # a request in an ACK/RST is malformed
            self._empty(RST, m.mid)
            return
        try:
            r = self.handler.request(m)
        except Exception as e:      # the client never dies on input
            self.handler.crash(e)
            r = coap.Msg(code=0xA0)
        res = None
        if r is not None:
            r.token = m.token
            if m.t == CON:
                r.t = ACK
                r.mid = m.mid
            else:
                r.t = NON
                r.mid = self._next_mid()
            res = bytes(coap.build(r))
            self._tx(res)
        self.seen.append((m.mid, self.clock.ms() + 247000, res))
        del self.seen[:-_DEDUP]

    def step(self):
        now = self.clock.ms()
        o = self.out
        if o and now >= o[3]:
            if o[4] >= self.max_retransmit:
                self._done(o[6], None)
            else:
                o[4] += 1
                o[5] *= 2
                o[3] = now + o[5]
                self._tx(o[0])
        for tok in list(self.wait):
            w = self.wait[tok]
            if now >= w[1]:
                del self.wait[tok]
                if w[0]:
                    w[0](None)
        while self.seen and self.seen[0][1] <= now:
            self.seen.pop(0)

    def deadline(self):
        d = self.tr.deadline()      # a DTLS flight to retransmit
        if self.out and (d is None or self.out[3] < d):
            d = self.out[3]
        for w in self.wait.values():
            if d is None or w[1] < d:
                d = w[1]
        return d

    def cancel(self):
        # drop everything outstanding (re-registration, shutdown)
        self.out = None
        self.queue = []
        self.wait = {}
