"""A MicroPython prelude for in-process client tests: the real client
(firmware.main.build + Reporter) on a virtual-clock board, and a bare CoAP
"server" socket in the same process that registers it and sends requests.
Every datagram the client sends is recorded with its client-time stamp."""
from devclient import MP_PEER_SOCKET


PRELUDE = r"""
import socket, os
from boards.virtual import VirtualBoard
from firmware.main import build, options
from client import coap
from client.codes import *

PEER_SOCKET
peer.setblocking(False)
b = VirtualBoard(slice_ms=2)
LOG = []
c = build(b, options(["--server", "coap://127.0.0.1:%d" % port, "--endpoint", "mp",
                      "--lifetime", LIFETIME]), lambda *a: LOG.append((b.clock.ms(),) + a))
sent = []       # (client ms, parsed message)
addr = None
mid = [100]
replies = {}    # token -> response
UPDATE_CODE = CHANGED   # the answer to an Update (a test may refuse them)


def _rec(tr):
    f = tr.send
    def send(d):
        sent.append((b.clock.ms(), coap.parse(bytes(d))))
        f(d)
    tr.send = send


def pump():
    # the server side: answer Register/Update/De-register/Send, ACK CON
    # notifications, keep responses to our own requests
    global addr
    while True:
        try:
            d, a = peer.recvfrom(2048)
        except OSError:
            return
        m = coap.parse(d)
        if m.code and m.code < 32:
            path = m.strs(URI_PATH)
            r = coap.Msg(ACK, CREATED if path == ["rd"] else UPDATE_CODE if m.code == POST else DELETED, m.mid, m.token)
            if path == ["rd"]:
                addr = a
                r.add(LOCATION_PATH, "rd").add(LOCATION_PATH, "x")
            peer.sendto(coap.build(r), a)
        elif m.code >= 64:
            if m.t == CON:
                peer.sendto(coap.build(coap.Msg(ACK, 0, m.mid)), a)
            replies[m.token] = m


def run(ms):
    # let the client live ms of client time (its own loop: step + idle)
    end = b.clock.ms() + ms
    while b.clock.ms() < end:
        c.step()
        pump()
        c.idle(end)
    c.step()
    pump()


def req(code, path, opts=(), payload=b"", t=CON):
    # one request from the server; returns the response
    mid[0] += 1
    tok = b"t%d" % mid[0]
    m = coap.Msg(t, code, mid[0], tok)
    for x in path.strip("/").split("/") if path.strip("/") else ():
        m.add(URI_PATH, x)
    for n, v in opts:
        m.add(n, v)
    m.payload = payload
    peer.sendto(coap.build(m), addr)
    for _ in range(50):
        run(1)
        if tok in replies:
            return replies.pop(tok)
    raise Exception("no response to %s" % path)


def observe(path, attrs=None, acc=None):
    if attrs:
        r = req(PUT, path, [(URI_QUERY, q) for q in attrs.split("&")])
        if r.code != CHANGED:
            raise Exception("write-attributes %x" % r.code)
    o = [(OBSERVE, 0)] + ([(ACCEPT, acc)] if acc is not None else [])
    r = req(GET, path, o)
    return r


def notes(token, since=0):
    # client-time stamps and payloads of notifications with token
    return [(t, bytes(m.payload), m.uint(OBSERVE)) for t, m in sent
            if m.token == token and m.code == CONTENT and t >= since and m.t in (CON, NON)]


c.servers[0].connect()
_rec(c.servers[0].ex.tr)
run(100)
"""


PRELUDE = PRELUDE.replace("PEER_SOCKET", MP_PEER_SOCKET)


def prelude(lifetime=86400):
    return PRELUDE.replace("LIFETIME", '"%d"' % lifetime)


def fragment(hole, taken, slots):
    """MicroPython source that leaves the heap with no free block for a
    `taken`-byte bytearray and prints "fragmented" (else "whole"): the heap
    filled with `hole`-byte bytearrays, every gap left filled with smaller
    ones, every other `hole`-byte one freed, and any two freed side by side
    taken again. `slots` bounds the objects it keeps; its globals (keep, k,
    i, x, Z) are all named before the heap fills (a growing globals dict
    would need heap)."""
    z = tuple(s for s in (1000, 300, 100, 30, 1) if s < hole)
    return FRAGMENT % dict(slots=slots, z=z, nz=len(z), hole=hole, taken=taken)


FRAGMENT = r"""
import gc
keep = [None] * %(slots)d  # (no list that grows: its old storage would leave holes)
k = i = x = 0
Z = %(z)r


def fill(n):
    # n-byte bytearrays until the heap (or keep) is full
    global k
    try:
        while True:
            keep[k] = bytearray(n)
            k += 1
    except Exception:   # MemoryError, IndexError (a tuple here would need heap)
        pass


fill(%(hole)d)
while i < %(nz)d:   # every gap left filled (loops that allocate nothing: the heap is full)
    fill(Z[i])
    i += 1
i = 0
while i < k:
    if len(keep[i]) == %(hole)d:
        keep[i] = None
    i += 2
fill(%(taken)d)
gc.collect()
try:
    x = bytearray(%(taken)d)
    print("whole")
except MemoryError:
    print("fragmented")
"""
