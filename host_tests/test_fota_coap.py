"""The message layer of the CoAP Block2 downloader (client/fwdl.py CoapDl)
against a scripted peer in the same MicroPython process: an empty ACK and a
separate CON response (acknowledged with an empty ACK, RFC 7252 5.2.2), an
unrelated CON (reset), a NON response, the piggybacked last block; a lost
request retransmitted with the back-off; the radio off: nothing sent.
Datagrams read joined (a UDP socket's readinto, which allocates nothing):
told apart by the block's length, never fed to the store."""
import pytest
from devclient import MP_PEER_SOCKET

# the downloader (a UDP transport to the peer) and a stand-in for the package
# sink (client/fwup.py Up): rec "h" is the package header, HEADER
COMMON = r"""
import socket, os
from boards.unix import Board
from client.fwdl import CoapDl
from client.coap import Msg, build, parse
from client.codes import ACK, BLOCK2, CON, CONTENT, NON, RST
""" + MP_PEER_SOCKET + r"""
peer.settimeout(2)
b = Board("/tmp")


class C:
    board = b
    servers = []

    def transport(self, uri, sec):
        return b.udp("127.0.0.1", port)


class Fw:
    client = C()
    rec = {"h": HEADER}
    data = bytearray()
    end = None

    def etag(self, tag, force=False):
        return 0

    def feed(self, d):
        self.data += d
        return True

    def done(self):
        self.end = "done"

    def fail(self, r):
        self.end = r

    def pause(self):
        pass


def recv():
    d, a = peer.recvfrom(1500)
    return parse(d), a


"""

SCRIPT = COMMON.replace("HEADER", "[0, 2148, None, '', '', 0]") + r"""
now = [0]
b.clock.ms = lambda: now[0]


def send(m, a):
    peer.sendto(bytes(build(m)), a)


def step():
    b.wait(200)
    dl.step(now[0])


fw = Fw()
sp = b.spare = bytearray(1280)                # the board's spare: the downloader reads into it
dl = CoapDl(fw, "coap://127.0.0.1:%d/pkg/fw.bin?v=2" % port, 0, None)
q, a = recv()
print("GET", q.t == CON, [bytes(x) for x in q.all(11)], [bytes(x) for x in q.all(15)], q.uint(BLOCK2))
tok = bytes(q.token)
send(Msg(ACK, 0, q.mid), a)                  # empty ACK: a separate response follows
step()
send(Msg(CON, CONTENT, 0x4242, b"zz"), a)    # not ours: reset
step()
r, _ = recv()
print("RST", r.t == RST, r.mid == 0x4242, r.code)
m = Msg(CON, CONTENT, 0x4343, tok, payload=b"a" * 1024).add(BLOCK2, 0 << 4 | 8 | 6)
send(m, a)                                   # the separate response: empty ACK back
step()
r, _ = recv()
print("ACK", r.t == ACK, r.mid == 0x4343, r.code)
q, a = recv()                                # block 1 asked for; this one is lost
now[0] += 10000                              # its timeout passed: sent again
dl.step(now[0])
q2, a = recv()
print("RETX", q2.mid == q.mid, q2.uint(BLOCK2) == q.uint(BLOCK2) == 1 << 4 | 6)
send(Msg(NON, CONTENT, 0x4444, bytes(q2.token), payload=b"b" * 1024).add(BLOCK2, 1 << 4 | 8 | 6), a)
step()
q, a = recv()
b.spare = None                               # another socket's read let the spare go (boards/unix.py)
b.radio = False                              # the radio goes off before the answer
send(Msg(ACK, CONTENT, q.mid, bytes(q.token), payload=b"c" * 100).add(BLOCK2, 2 << 4 | 6), a)
now[0] += 10000
dl.step(now[0])                              # nothing read, nothing sent
print("OFF", dl.deadline(), fw.end)
b.radio = True
step()                                       # the piggybacked last block, read now
print("END", fw.end, bytes(fw.data) == b"a" * 1024 + b"b" * 1024 + b"c" * 100)
try:
    peer.recvfrom(1500)
    print("EXTRA")
except OSError:
    print("QUIET")
print("SPARE", dl.buf is sp, b.spare is sp)  # the board's again at the end: the digest reads into it
"""


def test_separate_response_reset_retransmission_and_radio_off(mp):
    out = mp(SCRIPT).split("\n")
    assert out[0] == "GET True [b'pkg', b'fw.bin'] [b'v=2'] 6", out
    assert out[1:] == ["RST True True 0", "ACK True True 0", "RETX True True", "OFF None None",
                       "END done True", "QUIET", "SPARE True True", ""], out


JOINED = COMMON + r"""
def answer(q, a, payload, more, times=1):
    # the response to q, sent times over before the client reads: joined
    m = Msg(ACK, CONTENT, q.mid, bytes(q.token), payload=payload).add(BLOCK2, q.uint(BLOCK2) >> 4 << 4 | more | 6)
    for _ in range(times):
        peer.sendto(bytes(build(m)), a)
    b.wait(200)
    dl.step(b.clock.ms())


fw = Fw()
dl = CoapDl(fw, "coap://127.0.0.1:%d/fw.bin" % port, 0, None)
asked = []


def get():
    q, a = recv()
    asked.append(str(q.uint(BLOCK2) >> 4))
    return q, a


answer(*get(), b"a" * 1024, 8, 2)       # block 0 and its duplicate, read as one
answer(*get(), b"a" * 1024, 8)
answer(*get(), b"c" * 100, 0, TIMES)    # the last block (TIMES over)
while fw.end is None and len(asked) < 9:
    answer(*get(), b"c" * 100, 0)
print("-".join(asked), fw.end, bytes(fw.data) == b"a" * 1024 + b"c" * 100, bool(dl.tr.records))
"""


@pytest.mark.parametrize("header,times,out", [
    # the package header gives its length (1124): a whole last block is
    # taken at once, a joined one read again alone
    ("[0, 1124, None, '', '', 0]", 1, "0-0-1 done True True"),
    ("[0, 1124, None, '', '', 0]", 2, "0-0-1-1 done True False"),
    # no header (a raw image): the last block is read again alone
    ("None", 1, "0-0-1-1 done True False"),
    ("None", 2, "0-0-1-1 done True False"),
])
def test_joined_datagrams_are_told_apart_by_their_length(mp, header, times, out):
    assert mp(JOINED.replace("HEADER", header).replace("TIMES", str(times))).strip() == out
