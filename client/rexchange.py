# The message layer over a reliable transport (CoAP over TCP/TLS, client/tcp.py;
# CoAP over MQTT, client/mqtt.py): the interface of client/exchange.Exchange
# without what reliability makes moot (RFC 8323 §3: no types, no message IDs,
# no ACK, no retransmission, no de-duplication). Requests and responses match
# by token; notifications go on the same connection.
# What the stream does not tell: a notification the Reporter wants confirmed
# (its CON) is followed by a Ping and counts as delivered at the Pong (the
# stream keeps the order); NSTART 1 holds the next confirmable one until then.
# When the connection is lost: requests in flight are sent again on the next
# one; unconfirmed notifications go back to the Reporter's store (sent, in
# order, after the Update that tells the server we are back).
from micropython import const
from client.coap import Msg, body
from client.codes import BLOCK2, CON, CONTENT, CONTENT_FORMAT, DELETE, OBSERVE

TIMEOUT = const(93000)      # ms a request waits for its response (MAX_TRANSMIT_WAIT)


class RExchange:
    def __init__(self, tr, clock, rand, handler, timeout=TIMEOUT):
        self.tr = tr
        self.clock = clock
        self.rand = rand
        self.handler = handler
        self.timeout = timeout
        tr.ex = self
        self.out = None         # [frame, ping no, token, deadline, 0, 0, cb, code, msg]
        self.queue = []         # (msg, cb) behind it
        self.wait = []          # requests in flight: [token, cb, deadline, frame, code, again]
        self.last_rx = self.last_tx = 0
        self.rai = None
        self.more = False

    @property
    def tx_bytes(self):
        return self.tr.tx_bytes

    @property
    def rx_bytes(self):
        return self.tr.rx_bytes

    def token(self):
        return bytes(self.rand(4))

    def _tx(self, m):
        self.last_tx = self.clock.ms()
        d = self.tr.frame(m)
        self.tr.send(d)
        return d

    def send(self, m, cb=None):
        if m.code < 32:
            d = self._tx(m)
            self.wait.append([m.token, cb, self.clock.ms() + self.timeout, d, m.code, 0])
        elif m.t == CON:
            if self.out:
                self.queue.append((m, cb))
                return
            d = self._tx(m)
            self.out = [d, self.tr.ping(), m.token, self.clock.ms() + self.timeout, 0, 0, cb, m.code, m]
        else:
            self._tx(m)

    # what the reporter asks (as of client/exchange.Exchange)
    def idle(self):
        return not (self.out or self.queue)

    def notice_con(self):
        return bool(self.out) or any(m.code >= 64 for m, _ in self.queue)

    def notice(self, con):
        return Msg(CON if con else 1)

    def pump(self, budget=16):
        # handle up to budget received messages; True when more may wait
        for _ in range(budget):
            m = self.tr.recv()
            if m is None:
                return False
            self.feed(m)
        return True

    def busy(self):
        return bool(self.out or self.queue or self.wait) or self.tr.busy()

    def _done(self, cb, res):
        self.out = None
        if cb:
            cb(res)
        if self.queue and not self.out:
            m, c = self.queue.pop(0)
            self.send(m, c)

    def pong(self, n):
        # the peer answered Ping n: what was sent before it arrived
        o = self.out
        if o and (n - o[1]) & 0x8000 == 0:
            self._done(o[6], Msg(code=0))

    def feed(self, m):
        # one message from the transport (parsed, not signalling)
        self.last_rx = self.clock.ms()
        c = m.code
        if c < 32:
            try:
                r = self.handler.request(m)
            except Exception as e:      # the client never dies on input
                self.handler.crash(e)
                r = Msg(code=0xA0)
            if r is not None:
                r.token = m.token
                z = self.tr.mms - 64    # the peer's Max-Message-Size: smaller blocks
                if len(body(r)) > z and m.opt(BLOCK2) is None and r.code == CONTENT:
                    k = 6
                    while k and (16 << k) > z:
                        k -= 1
                    r = self.handler.c.engine.blk().block2(Msg().add(BLOCK2, k), r)
                self._tx(r)
            return
        if c < 64:
            return
        for w in self.wait:
            if w[0] == m.token:
                self.wait.remove(w)
                if w[1]:
                    w[1](m)
                if w[4] == DELETE:      # De-register answered: close (life cycle)
                    self.tr.release()
                return

    def lost(self):
        # the connection broke: requests go again on the next one, the
        # unconfirmed notifications back to the store; the account is
        # not ready() until its Update (no live notification overtakes)
        for w in self.wait:
            w[5] = 1
        h = self.handler
        q = ([(self.out[8], self.out[6])] if self.out else []) + self.queue
        self.out = None
        self.queue = []
        rep = h.c.reporter
        k = 0
        for m, cb in q:
            if m.code < 64 or not rep:
                continue
            for ob in rep.obs:
                if ob.srv is h and ob.token == m.token:
                    s = m.opt(OBSERVE)
                    rep.pend.insert(k, [ob, s if isinstance(s, int) else m.uint(OBSERVE), m.code,
                                        m.opt(CONTENT_FORMAT), bytes(m.payload), self.clock.ms()])
                    k += 1
        if getattr(h, "registered", bool)():      # (a Bootstrap handler has no registration)
            h.wake = True

    def renewed(self, again):
        # a new connection is up: re-send what was in flight; after a
        # reconnect a registered account Updates (the server learns the new
        # connection; its 4.04 means Register again, client/reg.py)
        for w in self.wait:
            if w[5]:
                w[5] = 0
                w[2] = self.clock.ms() + self.timeout
                self.tr.send(w[3])
        h = self.handler
        if again and getattr(h, "settled", bool)():
            h.wake = True
            h.due = 0

    def step(self):
        self.tr.step()
        now = self.clock.ms()
        for w in list(self.wait):
            if now >= w[2] and not w[5]:    # (one waiting for the connection: no timeout)
                self.wait.remove(w)
                if w[1]:
                    w[1](None)
        o = self.out
        if o and now >= o[3]:
            self._done(o[6], None)

    def deadline(self):
        # while something waits for an answer the loop looks every second
        # (no retransmission would cover a virtual clock jumping past it)
        d = self.tr.deadline()
        if self.wait or self.out:
            d = self.clock.ms() + 1000 if d is None else min(d, self.clock.ms() + 1000)
        for x in [w[2] for w in self.wait if not w[5]] + ([self.out[3]] if self.out else []):
            if d is None or x < d:
                d = x
        return d

    def cancel(self):
        self.out = None
        self.queue = []
        self.wait = []
