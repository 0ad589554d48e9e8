"""boards/unix.py Udp.recv(buf): one datagram per call. (A MicroPython
socket's readinto is a stream read: non-blocking, it joins every datagram
waiting into the buffer, so a server request that arrived together with the
2.01 of the Register made one garbled message: a 4.02 and a Register never
answered.)"""

from devclient import MP_PEER_SOCKET, free_port
from mpharness import fragment

CODE = r"""
import socket, os, time
from boards.unix import Board
from client.setup import build
from client import coap
from client.codes import *
PEER
b = Board("/tmp")
LOG = []
c = build(b, {"server": "coap://127.0.0.1:%d" % port, "endpoint": "x"}, lambda *a: LOG.append(a[0]))
c.step()                                    # the Register goes out
d, a = peer.recvfrom(2048)
reg = coap.parse(d)
get = coap.build(coap.Msg(CON, GET, 0x1234, b"\x55\x66").add(URI_PATH, "3").add(URI_PATH, "0").add(URI_PATH, "0"))
ack = coap.build(coap.Msg(ACK, CREATED, reg.mid, reg.token).add(LOCATION_PATH, "rd").add(LOCATION_PATH, "x"))
for x in ORDER:
    peer.sendto(bytes(get if x == "get" else ack), a)
time.sleep_ms(50)
c.step()                                    # both wait in the socket: one step
peer.setblocking(False)
time.sleep_ms(50)
got = []
while True:
    try:
        got.append(coap.parse(peer.recvfrom(2048)[0]))
    except OSError:
        break
print(c.servers[0].registered(), [(m.code, bytes(m.payload)) for m in got], LOG)
"""


def test_two_datagrams_in_one_step(mp):
    for order in (("get", "ack"), ("ack", "get")):
        out = mp(CODE.replace("PEER", MP_PEER_SOCKET).replace("ORDER", repr(order))).strip().splitlines()[-1]
        assert out.startswith("True [(69, b'lwm2m-mpy')]"), (order, out)
        assert "registered" in out and "read" in out


def test_icmp_error_of_a_socket_nobody_reads_is_no_busy_loop(mp):
    # a send to a port nobody listens on leaves an error on the connected UDP
    # socket (ICMP port unreachable). While its account is paused (bootstrap)
    # nobody reads that socket, and poll reported the error at once on every
    # wait: a busy loop, and on the virtual clock time crawling 1 ms a wait
    # (the stress run's hung Ctrl-C: stop() waited 5 s of client time)
    out = mp(r'''
import time
from boards.unix import Board
from boards.virtual import VirtualBoard
b = VirtualBoard("/tmp")
t = b.udp("127.0.0.1", PORT)
t.send(b"x")
time.sleep_ms(20)
for _ in range(3):
    b.wait(1000)
print("virtual", b.clock.now)
u = Board("/tmp")
t = u.udp("127.0.0.1", PORT)
t.send(b"x")
time.sleep_ms(20)
a = time.ticks_ms()
for _ in range(3):
    u.wait(50)
print("unix", time.ticks_diff(time.ticks_ms(), a) >= 100)
'''.replace("PORT", str(free_port())))
    assert "virtual 3000" in out and "unix True" in out, out



# the client's socket, bound and connected to the peer, which learns its address (a)
OPEN = r'''
import os, socket, time
from boards.unix import Board
PEER
b = Board("/tmp")
t = b.udp("127.0.0.1", port)
t.send(b"hello")
d, a = peer.recvfrom(64)
'''.replace("PEER", MP_PEER_SOCKET)


def test_no_heap_for_a_datagram_is_a_loss_not_a_crash(mp):
    # on a fragmented heap the socket's recv() finds no block for the
    # datagram's bytes (MemoryError, the 32-bit client's fatal error at the
    # edge of its heap): the datagram is dropped (read into the caller's
    # buffer, which allocates nothing) and the next one is read as usual
    out = mp(OPEN + r'''


class Tight:
    def __init__(self, s):
        self.s = s

    def recv(self, n):
        raise MemoryError("memory allocation failed, allocating %d bytes" % n)

    def readinto(self, buf):
        return self.s.readinto(buf)


real = t.sock
t.sock = Tight(real)
buf = bytearray(1280)
peer.sendto(b"lost", a)
time.sleep_ms(20)
print(t.recv(buf))
t.sock = real
peer.sendto(b"next", a)
time.sleep_ms(20)
n = t.recv(buf)
print(n, bytes(buf[:n]), t.recv(buf))
''').split()
    assert out == ["0", "4", "b'next'", "0"], out


def test_a_heap_fragmented_after_the_first_datagram_still_reads_every_one(mp):
    # what lives on after a download can leave no block the size of the
    # receive buffer free (the 32-bit client's reads after a pull went
    # unanswered near its heap limit): the spare taken at the first datagram
    # gives way for the next read and is taken again; 20 datagrams on a heap
    # with no 1,280-byte block, none lost
    out = mp(OPEN + r'''
buf = bytearray(1280)
peer.sendto(b"first", a)
time.sleep_ms(20)
print(t.recv(buf), b.spare is not None)
''' + fragment(1100, 1280, 600) + r'''
got = []
for i in range(20):
    peer.sendto(b"datagram %d" % i, a)
    time.sleep_ms(5)
    n = t.recv(buf)
    got.append(bytes(buf[:n]) == b"datagram %d" % i)
print(sum(got), b.spare is not None)
''', heap="64k").split()
    assert out == ["5", "True", "fragmented", "20", "True"], out
