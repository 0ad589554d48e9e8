"""DTLS over a socket read with readinto (boards/unix.py Udp with `records`
set by client/dtls.py: no allocation per datagram). Where two datagrams were
waiting, readinto joins them; their records carry their lengths, so the record
layer returns the first application record and the next call returns the
second one before it reads the transport again: an ACK and a request that
arrived together are both served (nothing is lost to the join). A record cut
short by the buffer's end is dropped, as a lost datagram would be."""

CODE = r"""
import sys
sys.path.append("tools/bench")
from dtlspair import pair

class Wire:
    # what the peer "sent" waits here; recv(b) copies all of it at once, as
    # a socket's readinto does with the datagrams waiting
    INTO = True
    sock = None
    def __init__(self):
        self.buf = bytearray()
        self.reads = 0
    def send(self, b, off=0, n=-1):
        pass
    def recv(self, b):
        self.reads += 1
        n = min(len(self.buf), len(b))
        b[0:n] = self.buf[:n]
        self.buf = bytearray()
        return n
    def deadline(self):
        return None

w = Wire()
d, p = pair(w)      # an established CCM_8 session and the peer's record layer

def peer(msg):
    k = p.seal(23, msg, 0, len(msg), 1)
    return bytes(p.wbuf[:k])

out = bytearray(1400)
def got():
    n = d.recv(out)
    return None if n is None or n < 0 else bytes(out[:n])

# two datagrams joined: both records come out, one per call, one transport read
w.buf = bytearray(peer(b"first: the ACK") + peer(b"second: a request"))
print("A", got(), got(), got(), w.reads)
# a joined read cut short by the buffer: the whole records come out, the cut one is dropped
w.buf = bytearray(peer(b"x" * 600) + peer(b"y" * 600) + peer(b"z" * 600))
print("B", len(got() or b""), len(got() or b""), got())
# and the session goes on
w.buf = bytearray(peer(b"after"))
print("C", got())
"""


def test_joined_datagrams_give_every_record(mp):
    out = mp(CODE).strip().splitlines()
    a, b, c = out[-3:]
    assert a == "A b'first: the ACK' b'second: a request' None 2", out
    assert b == "B 600 600 None", out
    assert c == "C b'after'", out
