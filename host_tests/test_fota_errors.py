"""Firmware Update (object 5) failure paths on the unix port, per the object
definition: too-large Size1 (4.13 + Result 2), a restarted push (new block 0
replaces the transfer), a corrupted image (Result 5, the old image stays), a
push that stops mid-way (Result 4 after a bounded wait), unreachable / not
found / unsupported Package URIs (4, 7, 9), the empty URI and the NUL
Package resetting from every state, Cancel, Update outside Downloaded."""
import os

import pytest

from fota import package, push, serve
from fotautil import TEXT, client, files_with, fw, image, pkg, state_dir, update, wait_state
from lwm2m_server import Server


@pytest.fixture
def srv():
    with Server(port=0) as s:
        yield s


def test_size1_too_large_413_result_2(srv):
    c = client(srv, "e1", state_dir())
    try:
        p = pkg(4096)
        assert push.push(srv, "e1", p, size1=64 << 20, say=None) == "4.13"
        assert fw(srv, "e1")[:2] == (0, 2)                  # Idle, not enough flash
        # the next push of a fitting package starts from Idle again
        assert push.push(srv, "e1", p, say=None) == "2.04"
        assert fw(srv, "e1")[:2] == (2, 0)
    finally:
        c.kill()


def test_restarted_push_replaces_old_transfer(srv):
    st = state_dir()
    c = client(srv, "e2", st)
    try:
        a, b = pkg(64 * 1024, "a", seed=5), pkg(48 * 1024, "b", seed=6)
        assert push.push(srv, "e2", a, stop_after=30, say=None) == "2.31"
        assert fw(srv, "e2")[:2] == (1, 0)                  # Downloading
        assert push.push(srv, "e2", b, say=None) == "2.04"  # a new block 0
        assert update(srv, c, "e2") == (0, 1, "b")
        assert image(st) == package.parse(b)[3]
    finally:
        c.kill()


def test_corrupted_image_result_5_old_image_stays(srv):
    st = state_dir()
    c = client(srv, "e3", st)
    try:
        good = pkg(32 * 1024, "1.0", seed=7)
        assert push.push(srv, "e3", good, say=None) == "2.04"
        assert update(srv, c, "e3") == (0, 1, "1.0")
    finally:
        c.kill()
    c = client(srv, "e3", st)
    try:
        bad = bytearray(pkg(32 * 1024, "2.0", seed=8))
        bad[5000] ^= 0x55                                    # one bit pattern in the payload
        assert push.push(srv, "e3", bytes(bad), say=None) == "2.04"
        assert fw(srv, "e3") == (0, 5, "1.0")                # integrity check failure
        assert srv.execute("e3", "/5/0/2").code == "4.05"   # nothing to apply
        assert image(st) == package.parse(good)[3]
        assert c.restarts == 0
    finally:
        c.kill()


def test_push_stopped_midway_times_out_result_4(srv):
    c = client(srv, "e4", state_dir())
    try:
        assert push.push(srv, "e4", pkg(64 * 1024), stop_after=10, say=None) == "2.31"
        # the client's (virtual) clock runs on: after the bounded wait, connection lost
        assert wait_state(srv, "e4", (0,), timeout=30)[:2] == (0, 4)
        c.wait_line("fw failed 4", timeout=10)
        # the interrupted transfer is gone: its next block is out of sequence
        assert push.send_block(srv, "e4", "/5/0/0", b"x" * 1024, 10, True) == "4.08"
    finally:
        c.kill()


class Junk:
    """a TCP server on loopback answering every request with a malformed
    HTTP status line"""

    def __init__(self):
        import socket
        import threading
        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        self.s.listen(4)
        self.s.settimeout(0.2)
        self.port = self.s.getsockname()[1]
        self.run = True
        self.t = threading.Thread(target=self.serve, daemon=True)
        self.t.start()

    def serve(self):
        while self.run:
            try:
                c, _ = self.s.accept()
            except OSError:
                continue
            with c:
                c.settimeout(2)
                try:
                    c.recv(4096)
                    c.sendall(b"HTTP/1.1 two-hundred OK\r\nContent-Length: x\r\n\r\n")
                except OSError:
                    pass

    def close(self):
        self.run = False
        self.t.join(5)
        self.s.close()


def test_pull_uri_errors(srv):
    d = files_with("there.pkg", pkg(2048))
    junk = Junk()
    with serve.CoapFiles(d) as fs:
        hs = serve.HttpFiles(d).start() if serve.lighttpd() else None
        c = client(srv, "e5", state_dir())
        try:
            cases = [
                ("coap://127.0.0.1:%d/fw.pkg" % free_port(), 4),    # no answer: connection lost
                (fs.uri("missing.pkg"), 7),                         # 4.04: invalid URI
                ("coap://no-such-host.invalid/fw.pkg", 7),          # no such host
                ("coap:///fw.pkg", 7),                              # no host at all
                ("ftp://127.0.0.1/fw.pkg", 9),                      # unsupported protocol
                (fs.uri("there.pkg") + "#sha256=zz", 7),
            ]
            if hs:
                import socket
                cases += [(hs.uri("missing.pkg"), 7),
                          ("http://127.0.0.1:%d/fw.pkg" % free_port(socket.SOCK_STREAM), 4)]
            # an HTTP server whose status line is no number: connection lost
            # (Result 4), the client goes on (it used to die: ValueError)
            cases += [("http://127.0.0.1:%d/fw.pkg" % junk.port, 4)]
            for uri, want in cases:
                assert srv.write("e5", "/5/0/1", uri, TEXT).code == "2.04", uri
                assert wait_state(srv, "e5", (0,), timeout=60)[:2] == (0, want), uri
            assert srv.write("e5", "/5/0/1", fs.uri("there.pkg"), TEXT).code == "2.04"
            assert wait_state(srv, "e5", (0, 2))[:2] == (2, 0)
        finally:
            c.kill()
            junk.close()
            if hs:
                hs.stop()


def free_port(kind=None):
    import socket
    return serve.free_port(kind or socket.SOCK_DGRAM)


def test_empty_uri_and_nul_package_reset_from_every_state(srv):
    c = client(srv, "e6", state_dir())
    p = pkg(16 * 1024)

    def reset(how):
        if how == "uri":
            assert srv.write("e6", "/5/0/1", "", TEXT).code == "2.04"
        else:
            assert srv.write("e6", "/5/0/0", b"\0", 42).code == "2.04"
        assert fw(srv, "e6")[:2] == (0, 0)
    try:
        assert srv.execute("e6", "/5/0/2").code == "4.05"           # Update while Idle
        for how in ("uri", "nul"):
            reset(how)                                               # Idle
            assert push.push(srv, "e6", p, stop_after=3, say=None) == "2.31"
            assert fw(srv, "e6")[0] == 1
            reset(how)                                               # Downloading
            assert push.send_block(srv, "e6", "/5/0/0", p[3072:4096], 3, True) == "4.08"
            assert push.push(srv, "e6", p, say=None) == "2.04"
            assert fw(srv, "e6")[0] == 2
            reset(how)                                               # Downloaded
            assert srv.execute("e6", "/5/0/2").code == "4.05"
            bad = bytearray(p)
            bad[-1] ^= 1
            assert push.push(srv, "e6", bytes(bad), say=None) == "2.04"
            assert fw(srv, "e6")[:2] == (0, 5)
            reset(how)                                               # Idle after a failure
        # Cancel (/5/0/10) while Downloading
        assert push.push(srv, "e6", p, stop_after=3, say=None) == "2.31"
        assert srv.execute("e6", "/5/0/10").code == "2.04"
        assert fw(srv, "e6")[:2] == (0, 10)
    finally:
        c.kill()


def test_unsupported_package_type_result_6(srv):
    c = client(srv, "e7", state_dir())
    try:
        p = package.build(os.urandom(4096), 7, "x", "1")       # kind 7: not known here
        assert push.push(srv, "e7", p, say=None) == "4.00"
        assert fw(srv, "e7")[:2] == (0, 6)
    finally:
        c.kill()
