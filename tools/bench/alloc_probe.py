"""Runs ON MicroPython (the unix port), not CPython: the steady-state
allocation figures of the client's hot paths, for host_tests/test_alloc.py
and `make bench` (tools/bench/alloc.py).

    micropython tools/bench/alloc_probe.py [names...]     (repo root on MICROPYPATH)

Prints one JSON object: name -> [bytes allocated by one run (gc off),
true if it also ran under micropython.heap_lock()]. Every scenario runs a
few times first (first-use caches, lazily loaded modules), then measured.
The client talks to a peer socket in this process over loopback."""
import gc
import json
import micropython
import socket
import sys
import time

from boards.virtual import VirtualBoard
from firmware.main import build, options
from client import coap, reg
from client.codes import ACCEPT, CON, FMT_SENML_CBOR, FMT_TLV, GET, OBSERVE, URI_PATH
from client.ids import SRV_CON

peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
port = 0
for p in range(47000 + time.ticks_us() % 5000, 60000):
    try:
        peer.bind(socket.getaddrinfo("127.0.0.1", p)[0][-1])
        port = p
        break
    except OSError:
        pass
peer.setblocking(False)
pbuf = bytearray(1500)

b = VirtualBoard(state="/tmp")
c = build(b, options(["--server", "coap://127.0.0.1:%d" % port, "--endpoint", "probe"]), None)
srv = c.servers[0]
srv.connect()
srv.state = reg.OK      # registered: notifications go at once
ex = srv.ex
c.objs[3].error(5)      # a multiple resource with two instances in /3/0


def request(path, acc=None, obs=None, mid=0x1000):
    m = coap.Msg(CON, GET, mid, b"\x01\x02\x03\x04")
    for x in path.split("/")[1:]:
        m.add(URI_PATH, x)
    if obs is not None:
        m.add(OBSERVE, obs)
    if acc is not None:
        m.add(ACCEPT, acc)
    return bytearray(coap.build(m))


def drain():
    # the peer reads what the client sent (its address learnt on the way)
    n = 0
    while True:
        try:
            k = peer.readinto(pbuf)
        except OSError:
            k = None
        if not k:
            return n
        n = k


addr = None


def serve(req):
    # one request (a new MID each time) in the exchange's receive buffer, as
    # the board delivers it, served: parsed in place, the operation, the
    # response built in the send buffer and sent over the socket to the peer.
    # (The unix port's socket read itself allocates the datagram's bytes: it
    # has no recv_into, and readinto joins the datagrams waiting.)
    n = len(req)

    def f():
        mid = (req[2] << 8 | req[3]) + 1
        req[2] = mid >> 8 & 255
        req[3] = mid & 255
        ex.rx[0:n] = req
        ex._feed(n)
        drain()
    return f


def learn():
    # the client's address as the peer sees it
    global addr
    ex.send(coap.Msg(2, 2, token=b"x"))
    for _ in range(100):
        try:
            d, a = peer.recvfrom(1500)
            addr = a
            return
        except OSError:
            time.sleep_ms(1)


def parse_only(req):
    m = coap.inbox()
    buf = bytearray(1280)
    buf[0:len(req)] = req
    n = len(req)
    from client.render import path_in

    def f():
        coap.parse_into(buf, m, n)
        path_in(m)
        m.uint(ACCEPT)
        m.has(OBSERVE)
    return f


def notify(path, acc=None, con=False):
    # an observation of path; one run = a change after pmin, notified
    c.objs[1].inst[0][SRV_CON] = con
    r = c.engine.request(coap.parse(request(path, acc, 0, 0x2000)), srv)
    ob = c.reporter.obs[-1]

    def f():
        b.clock.now += 1000
        ob.dirty = True
        c.reporter.step(b.clock.now)
        if con:     # the ACK of the CON
            ex.rx[0] = 0x60
            ex.rx[1] = 0
            ex.rx[2] = ex.o_mid >> 8
            ex.rx[3] = ex.o_mid & 255
            ex._feed(4)
        drain()
    return f, r


def retransmit():
    # a CON notification in flight; one run = its retransmission timer fires
    f, _ = notify("/3/0/13", None, False)
    c.objs[1].inst[0][SRV_CON] = True
    b.clock.now += 1000
    c.reporter.obs[-1].dirty = True
    c.reporter.step(b.clock.now)

    def g():
        ex.o_tries = 0
        b.clock.now = ex.o_due
        ex.step()
        drain()
    return g


def dtls_record():
    # a DTLS record out (seal) and in (open) on an established CCM_8 session
    from client.dtlsrec import Records
    rl = Records(None)
    rl.keys(0xC0A8, bytes(range(16)), bytes(range(16, 32)), b"\x01\x02\x03\x04", b"\x05\x06\x07\x08")
    peer_rl = Records(None)
    peer_rl.keys(0xC0A8, bytes(range(16, 32)), bytes(range(16)), b"\x05\x06\x07\x08", b"\x01\x02\x03\x04")
    msg = bytearray(request("/3/0", FMT_TLV))
    out = bytearray(256)

    def f():
        n = rl.seal(23, msg, 0, len(msg), 1)       # our record, in rl.wbuf
        m = peer_rl.seal(23, msg, 0, len(msg), 1)
        k = rl.open(peer_rl.wbuf, 0, out)       # the peer's record, opened into out
        if k != len(msg) or n != m:
            raise ValueError
    return f


class Wire:
    # a transport between the client's Dtls and a peer record layer in this
    # process: what one sends the other reads (copied, no allocation)
    INTO = True
    sock = None

    def __init__(self):
        self.buf = bytearray(1400)
        self.n = 0

    def send(self, b, off=0, n=-1):
        for k in range(n):
            self.buf[k] = b[off + k]
        self.n = n

    def recv(self, b):
        n = self.n
        for k in range(n):
            b[k] = self.buf[k]
        self.n = 0
        return n

    def deadline(self):
        return None


def dtls_session():
    # the client's Dtls on an established CCM_8 connection with a connection
    # id (as restored after a deep sleep): send() a request, recv() the
    # peer's answer into a buffer; the peer is a record layer of its own
    from dtlspair import pair
    w = Wire()
    d, p = pair(w)
    msg = bytearray(request("/3/0", FMT_TLV))
    out = bytearray(1400)

    def f():
        d.send(msg, 0, len(msg))                # sealed by the client
        k = p.seal(23, msg, 0, len(msg), 1)     # the peer's answer
        w.send(p.wbuf, 0, k)
        if d.recv(out) != len(msg):             # opened by the client
            raise ValueError
    return f


def measure(f, runs=3):
    for _ in range(runs):
        f()
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    f()
    n = gc.mem_alloc() - a
    gc.enable()
    ok = True
    micropython.heap_lock()
    try:
        f()
    except MemoryError:
        ok = False
    finally:
        micropython.heap_unlock()
    return [n, ok]


def scenarios():
    learn()
    return {
        "parse": lambda: parse_only(request("/3/0/13", FMT_TLV)),
        "read_res": lambda: serve(request("/3/0/0")),
        "read_3_0_tlv": lambda: serve(request("/3/0", FMT_TLV)),
        "read_3_0_senml": lambda: serve(request("/3/0", FMT_SENML_CBOR)),
        "read_res_senml": lambda: serve(request("/3/0/13", FMT_SENML_CBOR)),
        "notify": lambda: notify("/3/0/13")[0],
        "notify_3_0_tlv": lambda: notify("/3/0", FMT_TLV)[0],
        "notify_con": lambda: notify("/3/0/10", None, True)[0],
        "retransmit": retransmit,
        "idle_poll": lambda: ex.pump,       # a step's read with nothing waiting
        "dtls_record": dtls_record,
        "dtls_session": dtls_session,
    }


class Quiet:
    INTO = True

    def send(self, buf, off=0, n=-1):
        pass

    def deadline(self):
        return None


def serve_us(n=300):
    # median time to serve Read /3/0 (TLV): parse, operation, response built
    req = request("/3/0", FMT_TLV)
    ts = []
    tr, ex.tr = ex.tr, Quiet()     # no system call in the figure
    for i in range(n):
        ex.rx[0:len(req)] = req
        ex.rx[3] = i & 255
        ex.rx[2] = i >> 8
        t = time.ticks_us()
        ex._feed(len(req))
        ts.append(time.ticks_diff(time.ticks_us(), t))
    ex.tr = tr
    ts.sort()
    return ts[len(ts) // 2]


def main(names):
    s = scenarios()
    out = {}
    for k in names or sorted(s):
        if k == "read_3_0_us":
            out[k] = serve_us()
            continue
        try:
            out[k] = measure(s[k]())
        except ImportError:
            out[k] = None       # (a module not there yet)
    print(json.dumps(out))


main(sys.argv[1:])
