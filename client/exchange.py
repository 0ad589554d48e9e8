# CoAP message layer (RFC 7252 §4) toward one peer: message IDs, tokens,
# CON retransmission with exponential back-off, NSTART 1, de-duplication of
# received CONs, piggybacked and separate responses, empty ACK / RST / ping.
# Steady state allocates nothing: one receive buffer (the message parsed in
# place), one send buffer, one buffer for the CON in flight, a reused
# response, fixed-size de-duplication and NON records.
from micropython import const
from client import coap
from client.codes import CON, NON, ACK, RST

# transmission parameters (RFC 7252 §4.8), in ms; overridable per Exchange
ACK_TIMEOUT = const(2000)
MAX_RETRANSMIT = const(4)
_DEDUP = const(8)       # remembered received CONs (bounded)
_DSLOT = const(64)      # bytes of a remembered response (larger: not kept)
_EXCHANGE = const(247000)   # EXCHANGE_LIFETIME, ms
_NONS = const(4)        # recent NON notifications remembered (RST -> cancel)
_W_CB = const(0)        # a wait entry (separate response awaited): callback, deadline
_W_DUE = const(1)
_UNAVAILABLE = const(0xA3)     # 5.03 Service Unavailable: no memory to serve a request
RX_MAX = const(1280)    # receive buffer (a Block1 of 1024 and its header)
TX_MAX = const(1152)    # send buffers


def max_transmit_wait(ack_timeout=ACK_TIMEOUT, max_retransmit=MAX_RETRANSMIT):
    # ACK_TIMEOUT * (2 ** (MAX_RETRANSMIT + 1) - 1) * ACK_RANDOM_FACTOR
    return ack_timeout * ((1 << (max_retransmit + 1)) - 1) * 3 // 2


class Exchange:
    # rarely set fields are class defaults (no slot in each instance's dict)
    ack_timeout, max_retransmit = ACK_TIMEOUT, MAX_RETRANSMIT
    rai = None              # board hook: rai(coap type, more) before a send
    more = False            # the next message has more of ours behind it
    last_rx = last_tx = tx_bytes = rx_bytes = d_k = n_k = 0

    def __init__(self, tr, clock, rand, handler, ack_timeout=ACK_TIMEOUT,
                 max_retransmit=MAX_RETRANSMIT):
        self.tr = tr
        self.clock = clock
        self.rand = rand
        self.handler = handler      # handler.request(msg) -> response Msg or None
        if ack_timeout != ACK_TIMEOUT or max_retransmit != MAX_RETRANSMIT:
            self.ack_timeout = ack_timeout
            self.max_retransmit = max_retransmit
        r = rand(2)
        self.mid = (r[0] << 8) | r[1]
        self.jit = self.mid | 1     # xorshift state: initial timeout jitter
        self.rx = bytearray(RX_MAX)
        self.tx = bytearray(TX_MAX)     # responses, NONs, empty messages
        self.ob = bytearray(TX_MAX)     # the CON in flight, kept to retransmit
        self.m = coap.inbox()           # the received message, parsed in place
        self.r = coap.Msg(token=None)   # the response, reused (rendered in tx)
        self.r.tsrc = self.rx
        self.m.rsp = self.r
        self.r.home = self.tx
        # the CON in flight (NSTART 1): its fields
        self.out = False
        self.o_n = self.o_at = self.o_mid = self.o_code = 0
        self.o_due = self.o_tries = self.o_tmo = 0
        self.o_tok = b""
        self.o_cb = None
        self.queue = []             # (msg, cb) waiting for NSTART
        self.wait = {}              # token -> [cb, deadline] for separate responses
        # received CONs: mid, expiry, cached response length (0 none, -1 not
        # kept: served again) in fixed slots of d_buf
        self.d_mid = [-1] * _DEDUP
        self.d_exp = [0] * _DEDUP
        self.d_len = [0] * _DEDUP
        self.d_buf = bytearray(_DEDUP * _DSLOT)
        self.n_mt = [-1, b""] * _NONS   # recent NON notifications: mid, token, ...
        self.shed = 0               # datagrams dropped unread (load shedding)
        self.oom = 0                # MemoryError: requests answered 5.03, datagrams dropped
        # a transport with INTO sends buf[off:off + n] and receives into a buffer
        # (boards/unix.py), others get bytes (a test's tap too); bit 0 send, bit 1 receive
        self.into = 3 if getattr(tr, "INTO", False) else 0

    def token(self):
        return bytes(self.rand(4))

    # -- what the reporter asks ------------------------------------------
    def idle(self):
        # no CON in flight or queued
        return not (self.out or self.queue)

    def notice_con(self):
        # a CON notification is in flight or queued: a NON one would overtake it
        if self.out and self.o_code >= 64:
            return True
        for m, _ in self.queue:
            if m.code >= 64:
                return True
        return False

    def notice(self, con):
        # a message to render a notification into: reused while it can go
        # at once (rendered in place in tx, or ob for a CON), else a new one
        if con and (self.out or self.queue):
            return coap.Msg()
        r = self.r.reset(con and CON or NON, 0, 0, b"")
        r.home = self.ob if con else self.tx
        return r

    # -- sending -----------------------------------------------------------
    def _tx(self, buf, off, n):
        self.tx_bytes += n
        self.last_tx = self.clock.ms()
        if self.rai:    # cellular: Release Assistance for this message (type, more queued)
            self.rai(buf[off] >> 4 & 3, bool(self.queue) or self.more)
            self.more = False
        try:
            if self.into & 1:
                try:
                    self.tr.send(buf, off, n)
                    return
                except TypeError:   # send(data) of a tap: bytes from now on
                    self.into &= 2
            self.tr.send(bytes(memoryview(buf)[off:off + n]))
        except OSError:     # a DTLS session just closed: the server's step reconnects
            pass

    def _next_mid(self):
        self.mid = (self.mid + 1) & 0xFFFF
        return self.mid

    def _build(self, m, buf):
        # m into buf (not the one it was rendered in: copy its payload over)
        if m.pbuf is not None and m.pbuf is not buf:
            coap.body(m)
        return coap.build_into(m, buf)

    def send(self, m, cb=None):
        # Send a request or a notification. CON goes through NSTART=1;
        # cb(response Msg | None on timeout | False on RST)
        if m.t == CON:
            if self.out:
                coap.body(m)        # it waits: its payload must not
                self.queue.append((m, cb))
                return
            m.mid = self._next_mid()
            # initial timeout random in [ACK_TIMEOUT, ACK_TIMEOUT * 1.5]
            j = self.jit
            j ^= (j << 7) & 0xFFFF
            j ^= j >> 9
            j ^= (j << 8) & 0xFFFF
            self.jit = j
            t = self.ack_timeout + (j & 255) * self.ack_timeout // 510
            end = self._build(m, self.ob)
            self.out = True
            self.o_at = m.at
            self.o_n = end - m.at
            self.o_mid = m.mid
            self.o_tok = m.token
            self.o_code = m.code
            self.o_due = self.clock.ms() + t
            self.o_tries = 0
            self.o_tmo = t
            self.o_cb = cb
            self._tx(self.ob, m.at, self.o_n)
        else:
            m.mid = self._next_mid()
            end = self._build(m, self.tx)
            self._tx(self.tx, m.at, end - m.at)
            if m.code >= 64:
                k = self.n_k
                self.n_mt[2 * k] = m.mid
                self.n_mt[2 * k + 1] = m.token
                self.n_k = (k + 1) % _NONS
            elif cb:
                self.wait[m.token] = [cb, self.clock.ms() + max_transmit_wait(self.ack_timeout, self.max_retransmit)]

    def busy(self):
        # something outstanding, also a DTLS handshake under way
        return bool(self.out or self.queue or self.wait) or self.tr.deadline() is not None

    def _done(self, cb, res):
        self.out = False
        self.o_cb = None
        if cb:
            try:
                cb(res)
            except MemoryError:     # handled as unanswered: the owner retries (registration back-off)
                self.oom += 1
                cb(None)
        if self.queue and not self.out:
            m, c = self.queue.pop(0)
            self.send(m, c)

    def _empty(self, t, mid):
        b = self.tx
        b[0] = 0x40 | t << 4
        b[1] = 0
        b[2] = mid >> 8
        b[3] = mid & 255
        self._tx(b, 0, 4)

    # -- receiving ---------------------------------------------------------
    def pump(self, budget=16, extra=48):
        # handle received datagrams, each read into the one receive buffer:
        # budget of them in full; past that (a flood) up to extra more are
        # read but only what can be the server's is handled (a request, an
        # answer to ours), the rest dropped unanswered (load shedding).
        # True when it stopped with more perhaps waiting
        for k in range(budget + extra):
            n = 0
            if self.into & 2:
                try:
                    n = self.tr.recv(self.rx)
                except TypeError:   # recv() of a tap: bytes from now on
                    self.into &= 1
            if not self.into & 2:
                d = self.tr.recv()
                n = self._copy(d) if d else 0
            if not n:
                return False
            if k < budget or self._plausible(n):
                try:
                    self._feed(n)
                except MemoryError:
                    # no heap to handle it (a response, a callback): dropped;
                    # the peer retransmits a CON, our CON in flight stays out
                    self.oom += 1
            else:
                self.shed += 1
        return True

    def _plausible(self, n):
        # a well-formed request, or an ACK/RST/response to a message of ours
        b = self.rx
        if n < 4 or b[0] >> 6 != 1 or b[0] & 15 > 8:
            return False
        c = b[1]
        t = b[0] >> 4 & 3
        if 0 < c < 8:
            return t < 2 and coap.parse_into(b, self.m, n)
        if c == 0 or t == ACK:
            return self.out and (b[2] << 8 | b[3]) == self.o_mid
        return c >= 64 and bool(self.wait)

    def _copy(self, data):
        n = len(data)
        if n > RX_MAX:
            self.shed += 1
            return -1
        self.rx[0:n] = data
        return n

    def feed(self, data):
        # handle one received datagram (bytes-like); never raises on bad input
        n = self._copy(data)
        if n > 0:
            self._feed(n)

    def _feed(self, n):
        if n < 0:
            return
        self.rx_bytes += n
        self.last_rx = self.clock.ms()
        b = self.rx
        m = self.m
        if not coap.parse_into(b, m, n):
            # RST a malformed CON whose header we can read, drop the rest
            if n >= 4 and b[0] >> 4 == 4:
                self._empty(RST, (b[2] << 8) | b[3])
            return
        code = m.code
        if code == 0:
            if m.t == CON:          # CoAP ping
                self._empty(RST, m.mid)
            elif self.out and m.mid == self.o_mid:
                if m.t == RST:
                    self._done(self.o_cb, False)
                elif self.o_code >= 64:     # ACK of a CON notification
                    self._done(self.o_cb, m)
                else:               # request accepted, separate response follows
                    self.wait[self.o_tok] = [self.o_cb, self.clock.ms() + max_transmit_wait(self.ack_timeout, self.max_retransmit)]
                    self._done(None, None)
            elif m.t == RST:
                for k in range(_NONS):
                    if self.n_mt[2 * k] == m.mid:
                        self.handler.reset(self.n_mt[2 * k + 1])
            return
        if code < 32:
            self._request(m)
            return
        if code < 64:               # reserved classes 1.xx: ignore (RST a CON)
            if m.t == CON:
                self._empty(RST, m.mid)
            return
        # a response (to a request of ours: handed over as a message of its
        # own, the receive buffer is used again by the next datagram)
        if m.t == ACK:
            if self.out and m.mid == self.o_mid and m.tok_is(self.o_tok):
                self._done(self.o_cb, coap.parse(bytes(memoryview(b)[:n])))
            return
        w = self.wait.pop(m.tok(), None) if self.wait else None
        if m.t == CON:
            self._empty(ACK if w else RST, m.mid)
        if w and w[_W_CB]:
            w[_W_CB](coap.parse(bytes(memoryview(b)[:n])))

    def _seen(self, mid, now):
        for k in range(_DEDUP):
            if self.d_mid[k] == mid and self.d_exp[k] > now:
                return k
        return -1

    def _request(self, m):
        now = self.clock.ms()
        k = self._seen(m.mid, now)
        if k >= 0:                  # a duplicate
            n = self.d_len[k]
            if n >= 0:              # repeat the answer kept (or none)
                if n and m.t == CON:
                    b = self.tx
                    o = k * _DSLOT
                    d = self.d_buf
                    for i in range(n):
                        b[i] = d[o + i]
                    self._tx(b, 0, n)
                return
            # a safe method whose answer was not kept: serve it again
        if m.t != CON and m.t != NON:   # a request in an ACK/RST is malformed
            self._empty(RST, m.mid)
            return
        self.r.home = self.tx
        oom = False
        try:
            r = self.handler.request(m)
        except MemoryError:         # the heap cannot serve it now: 5.03, not kept
            oom = True
            self.oom += 1
            r = m.reply(_UNAVAILABLE)
        except Exception as e:      # the client never dies on input
            self.handler.crash(e)
            r = m.reply(0xA0)
        n = 0
        if r is not None:
            r.token = None
            r.tsrc = self.rx
            if m.t == CON:
                r.t = ACK
                r.mid = m.mid
            else:
                r.t = NON
                r.mid = self._next_mid()
            end = self._build(r, self.tx)
            n = end - r.at
            self._tx(self.tx, r.at, n)
            if n > _DSLOT or oom:
                n = -1              # not kept: a duplicate is served again
            else:
                o = (k if k >= 0 else self.d_k) * _DSLOT
                d = self.d_buf
                b = self.tx
                a = r.at
                for i in range(n):
                    d[o + i] = b[a + i]
        if k < 0:
            k = self.d_k
            self.d_k = (k + 1) % _DEDUP
            self.d_mid[k] = m.mid
            self.d_exp[k] = now + _EXCHANGE
        self.d_len[k] = n

    def step(self):
        now = self.clock.ms()
        if self.out and now >= self.o_due:
            if self.o_tries >= self.max_retransmit:
                self._done(self.o_cb, None)
            else:
                self.o_tries += 1
                self.o_tmo *= 2
                self.o_due = now + self.o_tmo
                self._tx(self.ob, self.o_at, self.o_n)
        if self.wait:
            for tok in list(self.wait):
                w = self.wait[tok]
                if now >= w[_W_DUE]:
                    del self.wait[tok]
                    if w[_W_CB]:
                        w[_W_CB](None)

    def deadline(self):
        d = self.tr.deadline()      # a DTLS flight to retransmit
        if self.out and (d is None or self.o_due < d):
            d = self.o_due
        if self.wait:
            for w in self.wait.values():
                if d is None or w[_W_DUE] < d:
                    d = w[_W_DUE]
        return d

    def cancel(self):
        # drop everything outstanding (re-registration, shutdown)
        self.out = False
        self.o_cb = None
        self.queue = []
        self.wait = {}
