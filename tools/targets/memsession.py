# An in-memory LwM2M session for targets without sockets (the qemu Cortex-M3
# firmware freezes this module next to the device code; it runs on the unix
# ports too). The real client (firmware.main.build) on a board whose transport
# is a pair of in-process queues, against a small LwM2M server written with the
# client's own CoAP codec: register, reads in TLV / SenML JSON / SenML CBOR,
# write, observe + notify, discover, execute, de-register.
# Output: lines "OK <step> ..." / "FAIL <step> ...", and a final "SESSION OK".
# (Number round trips: memnum.py. This module stays small: on the Cortex-M3
# its own classes count in the heap figure.)
import gc
import os
import micropython
from client import coap
from client.codes import (CON, ACK, GET, POST, PUT, DELETE, CREATED, DELETED, CHANGED,
                          CONTENT, URI_PATH, LOCATION_PATH, ACCEPT, OBSERVE,
                          CONTENT_FORMAT)

TLV = 11542
SJSON = 110
SCBOR = 112
LINK = 40
TEXT = 0


class Pipe:
    # the client's datagram transport: what it sends goes straight to the
    # server; the server's datagrams wait in a queue until the client reads.
    # INTO, as boards/unix.py: the exchange hands over its buffer and gives
    # one to read into (no copy of each datagram on the way)
    INTO = True

    def __init__(self, srv):
        self.srv = srv
        self.q = []
        self.lport = 0
        srv.pipe = self

    def send(self, buf, off=0, n=-1):
        self.srv.rx(memoryview(buf)[off:off + n] if n >= 0 else buf)

    def recv(self, buf=None):
        if not self.q:
            return None if buf is None else 0
        d = self.q.pop(0)
        if buf is None:
            return d
        buf[0:len(d)] = d
        return len(d)

    def deadline(self):
        return None

    def close(self):
        pass


class Board:
    # its own clock (board.clock is the board, one object fewer): virtual
    # time, moves only when the client waits; wall time from epoch (s)
    def __init__(self, srv, epoch=1767225600):
        self.clock = self
        self.now = 0
        self.epoch = epoch
        self.srv = srv
        self.state = "state"
        self.open = []
        self.radio = True

    def udp(self, host, port, lport=0):
        t = Pipe(self.srv)
        self.open.append(t)
        return t

    def ms(self):
        return self.now

    def wait(self, ms):
        if self.srv.pipe and self.srv.pipe.q:
            self.now += 1
        elif ms > 0:
            self.now += int(ms)

    def random(self, n):
        try:
            return os.urandom(n)
        except AttributeError:      # ports without an RNG (qemu)
            import random
            return bytes(random.getrandbits(8) for _ in range(n))

    def time(self):
        return self.epoch + self.now // 1000

    def rtc_ms(self):
        return self.time() * 1000

    def deep_sleep(self, ms):
        self.now += ms

    def battery(self):
        return None

    def mem_free(self):
        return gc.mem_free() // 1024

    def mem_total(self):
        return (gc.mem_free() + gc.mem_alloc()) // 1024

    def conn(self):
        return {0: 41, 1: {0: 41}, 2: 0, 4: {0: "127.0.0.1"}}


class Server:
    # the LwM2M server side: registration interface, requests, notifications
    def __init__(self):
        self.pipe = None
        self.events = []        # "register" / "update" / "deregister"
        self.replies = {}       # token -> response
        self.notes = {}         # token as an int -> the last notification's payload
        self.mid = 100

    def rx(self, d):
        # d: the datagram in the client's buffer (parsed there, copied if kept)
        m = coap.parse(d)
        if m.code and m.code < 32:          # Register / Update / De-register
            path = m.strs(URI_PATH)
            if m.code == POST and path == ["rd"]:
                r = coap.Msg(ACK, CREATED, m.mid, m.token)
                r.add(LOCATION_PATH, "rd").add(LOCATION_PATH, "x")
                self.events.append("register")
            elif m.code == POST:
                r = coap.Msg(ACK, CHANGED, m.mid, m.token)
                self.events.append("update")
            else:
                r = coap.Msg(ACK, DELETED if m.code == DELETE else CHANGED, m.mid, m.token)
                self.events.append("deregister")
            self.pipe.q.append(coap.build(r))
        elif m.code >= 64:
            if m.t == CON:
                self.pipe.q.append(coap.build(coap.Msg(ACK, 0, m.mid)))
            tok = m.token
            if key(tok) in self.notes and m.has(OBSERVE):
                self.notes[key(tok)] = bytes(m.payload)
            else:       # kept: what the session reads (code, format, payload), copied
                r = coap.Msg(m.t, m.code, m.mid, tok, payload=bytes(m.payload))
                cf = m.uint(CONTENT_FORMAT)
                self.replies[tok] = r if cf is None else r.add(CONTENT_FORMAT, cf)

    def send(self, code, path, opts=(), payload=b""):
        self.mid += 1
        tok = bytes((self.mid >> 8, self.mid & 255))    # (key(): an int)
        m = coap.Msg(CON, code, self.mid, tok)
        for x in path.strip("/").split("/"):
            m.add(URI_PATH, x)
        for n, v in opts:
            m.add(n, v)
        m.payload = payload
        self.pipe.q.append(coap.build(m))
        return tok


def key(tok):
    # a token of the server's as an int (a dict key that is no bytes object)
    return tok[0] << 8 | tok[1] if len(tok) == 2 else -1


class Session:
    def __init__(self, fmt=None, num=None, epoch=1767225600):
        from firmware.main import build, options
        self.srv = Server()
        self.b = Board(self.srv, epoch)
        argv = ["--server", "coap://127.0.0.1:5683", "--endpoint", "mem", "--lifetime", "300"]
        if fmt:
            argv += ["--format", str(fmt)]
        self.c = build(self.b, options(argv), None)     # no log: the client formats none
        if num:     # an extra object (memnum.Num), registered with the rest
            o = num()
            o.create(0)
            self.c.objs[o.ID] = o
            o.client = self.c

    def run(self, ms):
        c, b = self.c, self.b
        end = b.clock.ms() + ms
        while b.clock.ms() < end:
            c.step()
            c.idle(end)
        c.step()

    def wait_event(self, kind, n=0, ms=30000):
        for _ in range(ms // 100):
            if self.srv.events[n:].count(kind):
                return True
            self.run(100)
        return False

    def req(self, code, path, opts=(), payload=b""):
        tok = self.srv.send(code, path, opts, payload)
        for _ in range(100):
            self.run(10)
            r = self.srv.replies.pop(tok, None)
            if r is not None:
                return tok, r
        raise Exception("no response to " + path)


def _say(ok, step, *a):
    print("OK" if ok else "FAIL", step, *a)
    return ok


def session(observations=10, info=False, formats=(TLV, SJSON, SCBOR)):
    # the full in-memory session; True if every step passed
    s = Session()
    srv = s.srv
    ok = _say(s.wait_event("register"), "register")
    for acc in formats:
        _, r = s.req(GET, "/3/0", [(ACCEPT, acc)])
        ok &= _say(r.code == CONTENT and r.uint(CONTENT_FORMAT) == acc and len(r.payload) > 20,
                   "read", acc, len(r.payload))
    n = len(srv.events)
    _, r = s.req(PUT, "/1/0/1", [(CONTENT_FORMAT, TEXT)], b"120")
    ok &= _say(r.code == CHANGED and s.wait_event("update", n), "write")
    paths = ("/3303/0/5750", "/3/0/13", "/3303/0/5700", "/3/0/0", "/3/0/1", "/3/0/2",
             "/3/0/3", "/4/0/0", "/1/0/1", "/19/0/3")[:observations]
    first = None
    for p in paths:
        tok, r = s.req(GET, p, [(OBSERVE, 0)])
        srv.notes[key(tok)] = None
        first = first or key(tok)
        ok &= _say(r.code == CONTENT, "observe", p)
    if first:
        _, r = s.req(PUT, paths[0], [(CONTENT_FORMAT, TEXT)], b"vault")
        s.run(2000)
        ok &= _say(r.code == CHANGED and srv.notes[first] == b"vault", "notify", srv.notes[first])
    _, r = s.req(GET, "/3/0", [(ACCEPT, LINK)])
    ok &= _say(r.code == CONTENT and bytes(r.payload).startswith(b"</3/0>"), "discover",
               bytes(r.payload)[:40])
    n = len(srv.events)
    _, r = s.req(POST, "/1/0/8")
    ok &= _say(r.code == CHANGED and s.wait_event("update", n), "execute")
    if info:
        gc.collect()
        micropython.mem_info()
    n = len(srv.events)
    s.c.stop()
    ok &= _say("deregister" in srv.events[n:], "deregister")
    if ok:
        print("SESSION OK")
    import sys
    print("MODULES", end="")    # (one name at a time: no joined string on a full heap)
    for k in sorted(k for k in sys.modules if k.startswith(("client", "objects", "boards"))):
        print("", k, end="")
    print()
    return ok
