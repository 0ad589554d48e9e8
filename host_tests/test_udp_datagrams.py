"""boards/unix.py Udp.recv(buf): one datagram per call. (A MicroPython
socket's readinto is a stream read: non-blocking, it joins every datagram
waiting into the buffer, so a server request that arrived together with the
2.01 of the Register made one garbled message: a 4.02 and a Register never
answered.)"""
from devclient import MP_PEER_SOCKET

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
