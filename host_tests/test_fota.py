"""Firmware Update (object 5) end to end on the unix port: push over Block1
(UDP and DTLS-PSK) and pull over coap:// (aiocoap's file server), coaps://
(the same behind the DTLS front end) and http:// (Debian's lighttpd), each
ending with Update: the client "reboots" (exit 4, started again), registers,
sends an Update, and reports Idle, Update Result 1 and the new PkgVersion."""
import os

import pytest

from devserver.dtls_front import DtlsFront
from fota import package, push, serve
from fotautil import KB256, files_with, TEXT, client, files_dir, fw, image, pkg, state_dir, update, wait_state
from lwm2m_server import Server

KEY = bytes(range(16))
PSK = ("--psk-identity", "dev1", "--psk-key", KEY.hex())


def _push_and_update(srv, uri=None, args=()):
    st = state_dir()
    p = pkg(KB256, "2.0")
    c = client(srv, "fp", st, *args, uri=uri)
    try:
        assert fw(srv, "fp") == (0, 0, "")
        lines = []
        assert push.push(srv, "fp", p, say=lines.append) == "2.04"
        assert lines[-1].startswith("push 100% (257/257 blocks")
        assert fw(srv, "fp") == (2, 0, "")               # Downloaded
        assert update(srv, c, "fp") == (0, 1, "2.0")
        assert image(st) == package.parse(p)[3]
        c.wait_line("fw booted True", timeout=10)
    finally:
        c.kill()
    return c


def test_push_256k_udp():
    with Server(port=0) as srv:
        _push_and_update(srv)


def test_push_256k_dtls_psk():
    with Server(port=0) as srv, DtlsFront(("127.0.0.1", srv.port), {"dev1": KEY}) as f:
        _push_and_update(srv, "coaps://127.0.0.1:%d" % f.addr[1], PSK)
        assert f.stats["app_in_datagrams"] >= 257     # every block through DTLS


def _pull(srv, uri, st=None, args=(), version="3.0", cuser=None):
    st = st or state_dir()
    c = client(srv, "fl", st, *args, uri=cuser)
    try:
        assert srv.write("fl", "/5/0/1", uri, TEXT).code == "2.04"
        assert wait_state(srv, "fl", (0, 2)) == (2, 0, "")
        assert update(srv, c, "fl") == (0, 1, version)
    finally:
        c.kill()
    return c


def test_pull_coap_aiocoap_fileserver():
    p = pkg(KB256, "3.0", seed=2)
    d = files_with("fw.pkg", p)
    with Server(port=0) as srv, serve.CoapFiles(d) as fs:
        st = state_dir()
        _pull(srv, fs.uri("fw.pkg"), st)
        assert image(st) == package.parse(p)[3]
        # 1024-byte blocks, each once (a few more when the loaded machine lets
        # a block time out: asked again)
        assert 257 <= fs.requests() <= 257 + 12


def test_pull_coaps_psk():
    # coaps://: the file server behind the DTLS front end, the PSK of the account
    d = files_with("fw.pkg", pkg(64 * 1024, "3.1", seed=3))
    with Server(port=0) as srv, serve.CoapFiles(d) as fs, \
            DtlsFront(("127.0.0.1", fs.port), {"dev1": KEY}) as f:
        _pull(srv, "coaps://127.0.0.1:%d/fw.pkg" % f.addr[1], args=PSK, version="3.1")
        assert f.stats["handshakes"] >= 1      # DTLS through the front end


@pytest.mark.skipif(not serve.lighttpd(), reason="lighttpd not installed (make setup installs it)")
def test_pull_http_lighttpd_range():
    p = pkg(KB256, "4.0", seed=4)
    d = files_with("fw.pkg", p)
    with Server(port=0) as srv, serve.HttpFiles(d) as hs:
        st = state_dir()
        _pull(srv, hs.uri("fw.pkg"), st, version="4.0")
        assert image(st) == package.parse(p)[3]
    assert any('"bytes=0-"' in ln and " 206 " in ln for ln in hs.log())


def test_pull_sha256_fragment_and_raw_image():
    # a raw image (no header) with the digest on the URI
    import hashlib
    d = files_dir()
    raw = os.urandom(20000)
    with open(os.path.join(d, "raw.bin"), "wb") as f:
        f.write(raw)
    with Server(port=0) as srv, serve.CoapFiles(d) as fs:
        st = state_dir()
        c = client(srv, "fr", st)
        try:
            bad = fs.uri("raw.bin") + "#sha256=" + "00" * 32
            assert srv.write("fr", "/5/0/1", bad, TEXT).code == "2.04"
            assert wait_state(srv, "fr", (0, 2))[:2] == (0, 5)     # integrity check failure
            good = fs.uri("raw.bin") + "#sha256=" + hashlib.sha256(raw).hexdigest()
            assert srv.write("fr", "/5/0/1", good, TEXT).code == "2.04"
            assert wait_state(srv, "fr", (0, 2))[:2] == (2, 0)
            assert update(srv, c, "fr")[:2] == (0, 1)
            assert image(st) == raw
        finally:
            c.kill()


def test_app_bundle_swapped_in_old_kept():
    st = state_dir()
    def app(v):     # the application module of the bundle: start(client) at every boot
        return b"def start(c):\n    c.log('bundle app %s')\n" % v.encode()
    v1 = package.build(package.bundle({"hello.py": b"X = 1\n", "fotaapp.py": app("1.0")}),
                       package.APP, "app", "1.0")
    v2 = package.build(package.bundle({"hello.py": b"X = 2\n", "more.py": b"", "fotaapp.py": app("1.1")}),
                       package.APP, "app", "1.1")
    with Server(port=0) as srv:
        c = client(srv, "fa", st)
        try:
            assert push.push(srv, "fa", v1, say=None) == "2.04"
            assert update(srv, c, "fa") == (0, 1, "1.0")
        finally:
            c.kill()
        c = client(srv, "fa", st, "--app", "fotaapp")     # the installed bundle runs
        try:
            c.wait_line("bundle app 1.0", timeout=10)
            assert push.push(srv, "fa", v2, say=None) == "2.04"
            assert update(srv, c, "fa") == (0, 1, "1.1")
            assert res_name(srv, "fa") == "app"
            c.wait_line("bundle app 1.1")               # after the reboot: the new one
        finally:
            c.kill()
    app = os.path.join(st, "app")
    assert sorted(os.listdir(app)) == ["fotaapp.py", "hello.py", "more.py"]
    assert open(os.path.join(app, "hello.py")).read() == "X = 2\n"
    assert open(os.path.join(st, "app.old", "hello.py")).read() == "X = 1\n"     # for a roll-back


def res_name(srv, ep):
    return srv.read(ep, "/5/0/6", accept=TEXT).payload.decode()


def test_cli_build_and_push():
    # tools/fota/cli.py: build an app bundle from a folder, push it with the
    # dev server (progress printed), Update, the outcome after the reboot
    import subprocess
    import sys
    from devclient import DevClient, ROOT, free_port
    d = files_dir()
    with open(os.path.join(d, "main.py"), "w") as f:
        f.write("print('v9')\n")
    out = os.path.join(os.path.dirname(d), "app.pkg")
    cli = [sys.executable, os.path.join(ROOT, "tools", "fota", "cli.py")]
    r = subprocess.run(cli + ["build", "--app", "--name", "app", "--version", "9.0", d, "-o", out],
                       capture_output=True, text=True, check=True)
    assert "app bundle app 9.0" in r.stdout
    port = free_port()
    p = subprocess.Popen(cli + ["push", "--port", str(port), "--ep", "fcli", out],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    st = state_dir()
    c = DevClient("coap://127.0.0.1:%d" % port, "fcli", "--lifetime", "600", state=st)
    try:
        text = p.communicate(timeout=120)[0]
    finally:
        c.kill()
    assert p.returncode == 0, text + c.output()
    assert "push 100%" in text and "after the reboot: state 0, result 1, version 9.0" in text
    assert open(os.path.join(st, "app", "main.py")).read() == "print('v9')\n"


def until(obs, payload, timeout=10):
    """Notifications of obs until the last one carries payload (True), else TimeoutError"""
    while not obs.notifications or obs.notifications[-1].payload != payload:
        obs.wait(len(obs.notifications) + 1, timeout=timeout)
    return True


def test_state_and_result_notify_on_change():
    with Server(port=0) as srv:
        c = client(srv, "fo", state_dir())
        try:
            s = srv.observe("fo", "/5/0/3", accept=TEXT)
            r = srv.observe("fo", "/5/0/5", accept=TEXT)
            assert (s.first.payload, r.first.payload) == (b"0", b"0")
            bad = bytearray(pkg(8 * 1024, "x", seed=16))
            bad[-1] ^= 1
            # a server looks at the outcome before it pushes again: an observer
            # sees the latest value (RFC 7641), so two changes between two
            # notifications (a whole push served in one step on a loaded
            # machine) show as the last one only
            assert push.push(srv, "fo", bytes(bad), say=None) == "2.04"
            assert until(r, b"5") and until(s, b"0")        # Idle, integrity failure
            assert push.push(srv, "fo", pkg(8 * 1024, "y", seed=17), say=None) == "2.04"
            assert until(s, b"2") and until(r, b"0")        # Downloaded; Result 0 again
            states = [n.payload for n in s.notifications]
            assert states[-1] == b"2" and b"3" not in states, states
            # in order: Downloading (when seen), Idle, Downloading (when seen), Downloaded
            assert [x for x in states if x != b"1"] == [b"0", b"2"], states
        finally:
            c.kill()


@pytest.mark.skipif(not serve.lighttpd(), reason="lighttpd not installed (make setup installs it)")
def test_pull_https_lighttpd():
    # https:// through the unix port's ssl module (no certificate check here:
    # the board's ssl decides; a self-signed test certificate)
    p = pkg(64 * 1024, "4.1", seed=19)
    d = files_with("fw.pkg", p)
    with Server(port=0) as srv, serve.HttpFiles(d, tls=True) as hs:
        st = state_dir()
        _pull(srv, hs.uri("fw.pkg"), st, version="4.1")
        assert image(st) == package.parse(p)[3]


def test_app_swap_cut_by_a_reset_is_finished_at_start():
    # a reset between "app -> app.old" and "app.new -> app": the next start
    # renames app.new in before the application is imported
    st = state_dir()
    for name, v in (("app.old", "old"), ("app.new", "new")):
        os.mkdir(os.path.join(st, name))
        with open(os.path.join(st, name, "fotaapp.py"), "w") as f:
            f.write("def start(c):\n    c.log('bundle app %s')\n" % v)
    with Server(port=0) as srv:
        c = client(srv, "fs", st, "--app", "fotaapp")
        try:
            c.wait_line("bundle app new")
        finally:
            c.kill()
    assert sorted(os.listdir(st)).count("app") == 1 and "app.new" not in os.listdir(st)
