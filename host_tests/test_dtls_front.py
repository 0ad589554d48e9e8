"""tools/devserver/dtls_front.py: the device's DTLS (client/dtls.py) and CoAP codec
(client/coap.py) on the MicroPython unix port, through the DTLS front end,
to the aiocoap dev server (tools/lwm2m_server.py) on loopback; both engines."""
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from devclient import ROOT, free_port
from bench.dtls import MP_PRELUDE
from devserver.dtls_front import ENGINES, DtlsFront
from lwm2m_server import Server

ID = "urn:imei:490154203237518"
EP = "front-dev"

# device side: CON requests and piggybacked answers through a Dtls session d
COAP = r"""
from client import coap
EP = %r
mid = [0x700]
inbox = []   # requests from the server that came while we waited for a response
def incoming():
    r = drive(d, True, 5000)
    return r and coap.parse(r)
def req(code, path, query=(), payload=b'', ct=None):
    # one CON request, waits for the piggybacked response (or None)
    mid[0] += 1
    m = coap.Msg(0, code, mid[0], bytes([0xAB, mid[0] & 255]))
    for p in path:
        m.add(11, p)
    if ct is not None:
        m.add(12, ct)
    for q in query:
        m.add(15, q)
    m.payload = payload
    d.send(bytes(coap.build(m)))
    while True:
        r = incoming()
        if r and 0 < r.code < 32:
            inbox.append(r)
        else:
            return r
def code(m):
    return '%%d.%%02d' %% (m.code >> 5, m.code & 31) if m else 'none'
def register():
    r = req(2, ('rd',), ('ep=' + EP, 'lt=60', 'lwm2m=1.1', 'b=U'), b'</1/0>,</3/0>', 40)
    print('register=%%s %%s' %% (code(r), '/'.join(r.strs(8))))
    return r.strs(8)
def request():
    return inbox.pop(0) if inbox else incoming()
def answer(m):
    # a request from the server: ACK 2.05 text/plain, same MID and token
    a = coap.Msg(2, 69, m.mid, m.token)
    a.add(12, 0)
    a.payload = b'lwm2m-mpy'
    d.send(bytes(coap.build(a)))
    print('request=%%d %%s' %% (m.code, '/'.join(m.strs(11))))
""" % EP


def device(port, psk, body, cid=False):
    return MP_PRELUDE + """
t = Udp(%d)
d = Dtls(t, %r, %r, time.ticks_ms, cid=%s)
d.timeout_ms = 200
d.start()
drive(d)
print('state=' + d.state)
""" % (port, ID, psk, cid) + COAP + body


def result(out):
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def in_thread(fn):
    # the server side of a scenario runs while the device snippet runs
    box = {}

    def run():
        try:
            box["result"] = fn()
        except Exception as e:  # noqa: BLE001 - reported by the test
            box["error"] = e
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th, box


def settled(front, done, timeout=5):
    # the front end's counters once done(stats) holds (or as they are after timeout)
    end = time.monotonic() + timeout
    st = front.stats
    while not done(st) and time.monotonic() < end:
        time.sleep(0.02)
        st = front.stats
    return st


@pytest.mark.parametrize("engine", ENGINES)
def test_requests_both_ways(mp, engine):
    # device -> server: Register (POST), GET (4.05 from the dev server), Send
    # (POST /dp, accepted only from the registered peer); server -> device: Read
    psk = os.urandom(16)
    with Server(port=0) as srv, DtlsFront(("127.0.0.1", srv.port), {ID.encode(): psk},
                                          engine=engine) as f:
        th, box = in_thread(lambda: srv.wait_registration(EP, 10) and srv.read(EP, "/3/0/0", timeout=5))
        r = result(mp(device(f.addr[1], psk, """
register()
print('get=' + code(req(1, ('rd',))))
print('send=' + code(req(2, ('dp',), (), b'[{"n":"/3/0/0","vs":"dev"}]', 110)))
answer(request())
d.close()
""")))
        th.join(10)
        reg = srv.registration(EP)
        up = f.server.ups[ID][0].getsockname()
        # the front end runs in its own thread: the device's close_notify may
        # not be counted yet when the device process has exited (bounded wait)
        st = settled(f, lambda st: st["alert_in_datagrams"] >= 1 and st["app_out_datagrams"] >= 4)
    assert r["state"] == "connected"
    assert r["register"] == "2.01 rd/" + reg.id
    assert r["get"] == "4.05" and r["send"] == "2.04"
    assert srv.sends == [(b'[{"n":"/3/0/0","vs":"dev"}]', 110)]
    assert r["request"] == "1 3/0/0"   # the server's GET reached the device
    read = box["result"]
    assert (read.code, read.payload, read.content_format) == ("2.05", b"lwm2m-mpy", 0)
    # the dev server's peer is the front's upstream socket for this identity
    assert reg.addr == up
    assert st["handshakes"] == 1 and st["upstreams"] == 1
    assert st["handshake_in_datagrams"] >= 3 and st["handshake_out_datagrams"] >= 3
    assert st["handshake_bytes"] == st["handshake_in_bytes"] + st["handshake_out_bytes"] > 300
    # 3 requests + the ACK up, 3 responses + the Read down, then close_notify
    assert (st["app_in_datagrams"], st["up_datagrams"]) == (4, 4)
    assert (st["app_out_datagrams"], st["down_datagrams"]) == (4, 4)
    assert st["alert_in_datagrams"] == 1


def test_cid_rebinding_keeps_upstream_peer(mp):
    # mock engine with RFC 9146: after the Register the device moves to a new
    # source port (NAT rebinding) with the same DTLS state: the answer to the
    # server's Read, an Update and a Send from there reach the dev server from
    # the same peer (no "addr" change, Send accepted); no handshake byte spent
    psk = os.urandom(16)
    with Server(port=0) as srv, DtlsFront(("127.0.0.1", srv.port), {ID: psk}, "mock") as f:
        def dm():
            srv.wait_registration(EP, 10)
            snap = f.stats
            return snap, srv.read(EP, "/3/0/0", timeout=5)
        th, box = in_thread(dm)
        r = result(mp(device(f.addr[1], psk, """
print('scid=%%d' %% len(d._scid))
loc = register()
req_in = request()                     # the Read, on the first socket
old = t.sock
t.sock = d.sock = Udp(%d).sock         # new source port, same session
old.close()
answer(req_in)
print('update=' + code(req(2, loc)))
print('send=' + code(req(2, ('dp',), (), b'[{"n":"/3/0/1","vs":"moved"}]', 110)))
""" % f.addr[1], cid=True)))
        th.join(10)
        snap, read = box["result"]
        st = settled(f, lambda st: st["app_in_datagrams"] - snap["app_in_datagrams"] >= 3)
        ev = list(f.server.events)
        update = srv.wait_event("update", EP, timeout=1)
    assert r["state"] == "connected" and r["scid"] == "4"
    assert r["register"].startswith("2.01 rd/")
    assert r["request"] == "1 3/0/0"
    assert (read.code, read.payload) == ("2.05", b"lwm2m-mpy")
    assert r["update"] == "2.04" and r["send"] == "2.04"
    assert "addr" not in update          # the dev server saw the same peer
    assert srv.sends[-1][0] == b'[{"n":"/3/0/1","vs":"moved"}]'
    assert [e[0] for e in ev].count("rebind") == 1
    assert st["handshakes"] == 1 and st["upstreams"] == 1
    # nothing of the handshake after the Register: no new one for the new port
    for k in ("handshake_in_bytes", "handshake_out_bytes", "handshake_datagrams"):
        assert st[k] == snap[k] > 0
    assert st["app_in_datagrams"] - snap["app_in_datagrams"] == 3   # ACK, Update, Send
    assert st["app_out_datagrams"] - snap["app_out_datagrams"] >= 3  # Read, 2.04, 2.04


@pytest.mark.parametrize("engine", ENGINES)
def test_new_session_same_identity_same_peer(mp, engine):
    # the device comes back from a new socket with its saved session: the
    # mock resumes it (abbreviated handshake), mbedtls has no session cache
    # (full handshake); either way the upstream socket is the identity's, so
    # the Update is from the same registered peer
    psk = os.urandom(16)
    with Server(port=0) as srv, DtlsFront(("127.0.0.1", srv.port), {ID: psk}, engine) as f:
        r = result(mp(device(f.addr[1], psk, """
loc = register()
s = d.session
d.close()
t = Udp(%d)
d = Dtls(t, %r, %r, time.ticks_ms, session=s)
d.start()
drive(d)
print('again=%%s %%s' %% (d.state, d._res))
print('update=' + code(req(2, loc)))
""" % (f.addr[1], ID, psk))))
        update = srv.wait_event("update", EP, timeout=1)
        st = f.stats
    assert r["register"].startswith("2.01 rd/") and r["update"] == "2.04"
    assert r["again"] == "connected %s" % (engine == "mock")
    assert "addr" not in update
    assert st["handshakes"] == 2 and st["upstreams"] == 1


class Proc:
    """A host tool as a subprocess; its output lines collected by a thread."""

    def __init__(self, args):
        self.p = subprocess.Popen([sys.executable] + args, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            with self.cv:
                self.lines.append(line)
                self.cv.notify_all()

    def wait(self, text, timeout=10):
        with self.cv:
            if not self.cv.wait_for(lambda: any(text in x for x in self.lines), timeout):
                raise AssertionError("no %r in:\n%s" % (text, "".join(self.lines)))

    def stop(self):
        self.p.send_signal(2)   # SIGINT: as Ctrl-C
        try:
            return self.p.wait(10)
        finally:
            if self.p.poll() is None:
                self.p.kill()


@pytest.mark.parametrize("cli", ["dtls_front", "lwm2m_server", "bootstrap_server"])
def test_cli(mp, tmp_path, cli):
    # python tools/devserver/dtls_front.py before an in-process dev server, or the
    # servers' own --dtls-psk/--dtls-port; Register / Bootstrap-Request over DTLS
    psk = os.urandom(16)
    port, dport = free_port(), free_port()
    tool = os.path.join(ROOT, "tools", cli + ".py")
    dtls = ["--dtls-psk", "%s:%s" % (ID, psk.hex()), "--dtls-port", str(dport)]
    srv = None
    if cli == "dtls_front":
        srv = Server(port=0).start()
        args = ["--listen", "127.0.0.1:%d" % dport, "--upstream", "127.0.0.1:%d" % srv.port,
                "--psk", "%s:%s" % (ID, psk.hex()), "--engine", "mock"]
        ready = "[dtls] 127.0.0.1:%d -> 127.0.0.1:%d (mock, 1 identities)" % (dport, srv.port)
    elif cli == "lwm2m_server":
        args = ["--port", str(port)] + dtls
        ready = "DTLS (PSK, 1 identities) on 127.0.0.1:%d" % dport
    else:
        cfg = tmp_path / "bs.json"
        cfg.write_text(json.dumps({"*": {"manual": True}}))
        args = ["--port", str(port), "--config", str(cfg)] + dtls
        ready = "DTLS (PSK, 1 identities) on 127.0.0.1:%d" % dport
    p = Proc([tool] + args)
    try:
        p.wait(ready)
        body = "register()\n" if cli != "bootstrap_server" else \
            "print('bs=' + code(req(2, ('bs',), ('ep=' + EP,))))\n"
        r = result(mp(device(dport, psk, body)))
        if srv:
            reg = srv.wait_registration(EP, 5)
        else:
            p.wait(("registered ep=" if cli == "lwm2m_server" else "bootstrap request ep=") + EP)
    finally:
        rc = p.stop()
        if srv:
            srv.stop()
    p.wait("stopped")
    out = "".join(p.lines)
    assert r["state"] == "connected"
    if cli == "bootstrap_server":
        assert r["bs"] == "2.04"
    else:
        assert r["register"].startswith("2.01 rd/")
    if srv:
        assert r["register"] == "2.01 rd/" + reg.id
        assert "handshakes=1" in out and "upstreams=1" in out
    assert rc == 0
