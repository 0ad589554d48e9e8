"""Message layer (client/exchange.py) on the virtual clock, with a real
loopback UDP peer socket on the device side."""

from devclient import MP_PEER_SOCKET as PEER_SOCKET

PRELUDE = """
import socket
from boards.virtual import VirtualBoard
from client.exchange import Exchange
from client import coap
from client.codes import *

import os
""" + PEER_SOCKET + """
b = VirtualBoard(slice_ms=5)
tr = b.udp("127.0.0.1", port)
sent = []
_send = tr.send
def rec(d):
    sent.append((b.clock.ms(), bytes(d)))
    _send(d)
tr.send = rec

class H:
    calls = 0
    resets = []
    def request(self, m):
        H.calls += 1
        return coap.Msg(code=CONTENT, payload=b"v%d" % H.calls)
    def reset(self, tok):
        H.resets.append(tok)
    def crash(self, e):
        print("crash", e)

ex = Exchange(tr, b.clock, b.random, H())

def drive(until):
    while b.clock.ms() < until:
        d = tr.recv()
        if d:
            ex.feed(d)
            continue
        ex.step()
        dl = ex.deadline()
        b.wait(min(until, dl if dl is not None else until) - b.clock.ms())
    ex.step()

def peer_recv():
    peer.settimeout(1)
    d, a = peer.recvfrom(1500)
    return coap.parse(d), a
"""


def test_con_retransmission_schedule(mp):
    out = mp(PRELUDE + """
res = []
m = coap.Msg(CON, POST, token=b"tk").add(URI_PATH, "rd")
ex.send(m, lambda r: res.append((b.clock.ms(), r)))
drive(200000)
print([t for t, d in sent])
print(len(set(d for t, d in sent)), res)
""")
    times = eval(out.splitlines()[0])
    distinct, res = out.splitlines()[1].split(" ", 1)
    # 1 transmission + MAX_RETRANSMIT 4, the same bytes each time
    assert len(times) == 5 and distinct == "1"
    t0 = times[1] - times[0]
    assert 2000 <= t0 <= 3000       # ACK_TIMEOUT .. ACK_TIMEOUT * ACK_RANDOM_FACTOR
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps == [t0, 2 * t0, 4 * t0, 8 * t0]  # exponential back-off
    # gives up after the last timeout (another 16 * t0), reporting None
    done_at, r = eval(res)[0]
    assert r is None and done_at - times[-1] == 16 * t0


def test_nstart_one_and_piggybacked_ack(mp):
    out = mp(PRELUDE + """
res = []
for i in range(3):
    ex.send(coap.Msg(CON, POST, token=bytes([i])), lambda r, i=i: res.append((i, r.code, bytes(r.payload))))
m, a = peer_recv()
peer.settimeout(0.05)
try:
    peer.recvfrom(100)
    print("second in flight")
except OSError:
    pass
for _ in range(3):
    r = coap.Msg(ACK, CHANGED, m.mid, m.token, payload=m.token)
    peer.sendto(coap.build(r), a)
    drive(b.clock.ms() + 10)
    try:
        m, a = peer_recv()
    except OSError:
        break
print(res)
""")
    assert "second in flight" not in out
    assert eval(out.splitlines()[-1]) == [(0, 0x44, b"\x00"), (1, 0x44, b"\x01"), (2, 0x44, b"\x02")]


def test_duplicate_con_gets_cached_response(mp):
    out = mp(PRELUDE + """
req = coap.Msg(CON, GET, 0x4242, b"\\x07").add(URI_PATH, "3")
ex.send(coap.Msg(NON, POST, token=b"x"))   # learn the client's address
m, a = peer_recv()
answers = []
for _ in range(3):
    peer.sendto(coap.build(req), a)
    drive(b.clock.ms() + 10)
    r, _ = peer_recv()
    answers.append((r.t, r.code, r.mid, bytes(r.payload)))
print(H.calls, answers)
# after EXCHANGE_LIFETIME (247 s) the same MID is a new request
drive(b.clock.ms() + 248000)
peer.sendto(coap.build(req), a)
drive(b.clock.ms() + 10)
r, _ = peer_recv()
print(H.calls, bytes(r.payload))
""")
    l1, l2 = out.splitlines()[-2:]
    calls, answers = l1.split(" ", 1)
    assert calls == "1"
    assert eval(answers) == [(2, 0x45, 0x4242, b"v1")] * 3
    assert l2 == "2 b'v2'"


def test_ping_rst_and_separate_response(mp):
    out = mp(PRELUDE + """
ex.send(coap.Msg(NON, POST, token=b"x"))
m, a = peer_recv()
# CoAP ping: empty CON -> RST with the same MID
peer.sendto(coap.build(coap.Msg(CON, 0, 0x1111)), a)
drive(b.clock.ms() + 10)
r, _ = peer_recv()
print("ping", r.t, r.code, r.mid == 0x1111)
# malformed CON -> RST; malformed NON -> silence
peer.sendto(b"\\x41\\x01\\x22\\x22", a)
drive(b.clock.ms() + 10)
r, _ = peer_recv()
print("bad", r.t, r.mid == 0x2222)
peer.sendto(b"\\x51\\x01\\x33\\x33", a)
drive(b.clock.ms() + 10)
peer.settimeout(0.05)
try:
    peer.recvfrom(100)
    print("answered NON")
except OSError:
    print("silent")
# separate response: empty ACK now, CON response later (gets an empty ACK)
res = []
ex.send(coap.Msg(CON, POST, token=b"sep"), lambda r: res.append(r and r.code))
m, a = peer_recv()
peer.sendto(coap.build(coap.Msg(ACK, 0, m.mid)), a)
drive(b.clock.ms() + 20000)
print("retransmitted", len(sent))
peer.sendto(coap.build(coap.Msg(CON, CHANGED, 0x5555, b"sep")), a)
drive(b.clock.ms() + 10)
r, _ = peer_recv()
print("sep", res, r.t, r.code, r.mid == 0x5555)
""")
    lines = out.splitlines()
    assert lines[0] == "ping 3 0 True"
    assert lines[1] == "bad 3 True"
    assert lines[2] == "silent"
    # NON, RST, RST, then the CON once: no retransmission after its empty ACK
    assert lines[3] == "retransmitted 4"
    assert lines[4] == "sep [68] 2 0 True"


# an object whose read raises MemoryError while Boom.oom > 0 (counted down)
BOOM = """
from client.model import Obj
from client.codes import R, INT

class Boom(Obj):
    ID = 32770
    MULTI = False
    RES = ((0, R, INT, 0, 0),)
    oom = 0

    def defaults(self, iid):
        return {0: 7}

    def read(self, iid, rid):
        if Boom.oom:
            Boom.oom -= 1
            raise MemoryError
        return Obj.read(self, iid, rid)

"""


def test_out_of_memory_request_gets_5_03_and_the_client_carries_on(mp):
    # a MemoryError while serving a request (injected by an object's read):
    # 5.03 Service Unavailable, allocated from nothing (the exchange's reused
    # response), not logged as a bug, not kept for de-duplication (the same
    # CON again is served anew); the client stays registered and serves on
    out = mp("""
import sys
sys.path.append("tools/targets")
from memsession import Session
from client.codes import GET
""" + BOOM + """Boom.oom = 1

s = Session(num=Boom)
logs = []
s.c.log = lambda *a: logs.append(a[0])
print(s.wait_event("register"))
n = len(s.srv.events)
tok, r = s.req(GET, "/32770/0/0")
print(r.code == 0xA3, s.c.servers[0].ex.oom)
# the same CON (same MID) again: not a cached 5.03, served now
s.srv.mid -= 1
tok, r = s.req(GET, "/32770/0/0")
print(r.code == 0x45, bytes(r.payload))
tok, r = s.req(GET, "/3/0/0")
print(r.code == 0x45, s.c.servers[0].registered(), s.srv.events[n:], "error" in logs)
""")
    assert out.split("\n")[-5:-1] == ["True", "True 1", "True b'7'", "True True [] False"], out


def test_out_of_memory_notification_goes_at_a_later_step(mp):
    # a MemoryError while rendering a notification (the observed value's read):
    # the client's step carries on, the change stays due and is notified next
    out = mp("""
import sys
sys.path.append("tools/targets")
from memsession import Session, key
from client.codes import GET, OBSERVE
""" + BOOM + """

s = Session(num=Boom)
print(s.wait_event("register"))
tok, r = s.req(GET, "/32770/0/0", [(OBSERVE, 0)])
s.srv.notes[key(tok)] = None
print(r.code == 0x45, bytes(r.payload))
o = s.c.objs[32770]
o.inst[0][0] = 8
Boom.oom = 1
s.c.changed((32770, 0, 0))
s.c.step()                      # the notification's read fails: nothing sent, no crash
print(Boom.oom, s.srv.notes[key(tok)])
s.run(1000)                     # a later step sends it
print(s.srv.notes[key(tok)], s.c.servers[0].registered())
""")
    assert out.split("\n")[-5:-1] == ["True", "True b'7'", "0 None", "b'8' True"], out


def test_out_of_memory_update_is_tried_again(mp):
    # a MemoryError while making the Update (its object list): the client's
    # step carries on, still registered, and the Update goes a second later
    out = mp("""
import sys
sys.path.append("tools/targets")
from memsession import Session
from client import reg
from client.codes import POST
s = Session()
print(s.wait_event("register"))
_links = reg.links_into
fail = [1]
def links(e, buf=None):
    if fail[0]:
        fail[0] -= 1
        raise MemoryError
    return _links(e, buf)
reg.links_into = links
n = len(s.srv.events)
tok, r = s.req(POST, "/1/0/8")          # Registration Update Trigger
srv = s.c.servers[0]
print(r.code == 0x44, fail[0], srv.registered(), s.srv.events[n:])
print(s.wait_event("update", n, 5000), srv.registered())
""")
    assert out.split("\n")[-4:-1] == ["True", "True 0 True []", "True True"], out
