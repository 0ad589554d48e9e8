# Runs ON MicroPython: the client's Dtls on an established CCM_8 connection
# with a connection id (as restored after a deep sleep) over transport w, and
# a peer record layer of its own (this process plays the server): for
# tools/bench/alloc_probe.py and host_tests/test_dtls_joined.py.
from client.dtls import Dtls
from client.dtlsrec import Records


def pair(w):
    """(client Dtls over w, the peer's Records)"""
    d = Dtls(w, "id", b"k", lambda: 0, cid=True)
    keys = [bytes(range(16)), bytes(range(16, 32)), b"\x01\x02\x03\x04", b"\x05\x06\x07\x08"]
    d.load([None, 0xC0A8] + keys + [7, -1, 0, b"\xc1\xd2"])
    p = Records(None)
    p.keys(0xC0A8, keys[1], keys[0], keys[3], keys[2])
    p.wep = p.rep = 1
    return d, p
