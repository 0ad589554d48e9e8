"""CoAP over TCP/TLS end to end: the real client (firmware/main.py) against
the aiocoap dev server listening on coap+tcp (tools/devserver/tcp.py), libcoap's
coap-server over coap+tcp and coaps+tcp (PSK), and a middlebox that silently
stops forwarding (half-open connection): detected within the keep-alive
bound, reconnect, Update, and no confirmable notification lost."""
import os
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

from devclient import DevClient, ROOT, stamps
from devserver.tcp import TcpServer, free_tcp_port

TEXT, TLV = 0, 11542


def test_full_session_over_tcp():
    with TcpServer() as srv:
        c = DevClient("coap+tcp://127.0.0.1:%d" % srv.tcp_port, "t1", "--lifetime", "300")
        try:
            reg = srv.wait_registration("t1", timeout=20)
            assert reg.binding == "T"
            assert srv.read("t1", "/3/0", accept=TLV, timeout=20).ok
            r = srv.read("t1", "/3/0/0", accept=TEXT, timeout=20)
            assert r.payload == b"lwm2m-mpy"
            assert srv.write("t1", "/1/0/26", b"1", TEXT, timeout=20).ok     # CON notifications
            assert srv.write_attributes("t1", "/1/0/3", "pmin=0", timeout=20).ok
            obs = srv.observe("t1", "/1/0/3", accept=TEXT, timeout=20)
            for k, v in enumerate((b"7", b"9")):
                assert srv.write("t1", "/1/0/3", v, TEXT, timeout=20).ok
                assert obs.wait(k + 1, timeout=20)[k].payload == v
            n = len(srv.events)
            k = len(c.lines)
            assert srv.execute("t1", "/1/0/8", timeout=20).ok
            srv.wait_event("update", "t1", after=n, timeout=20)
            # (Ctrl-C only once the client has the Update's answer: a SIGINT
            # landing while it handles that answer loses it, and over TCP
            # nothing retransmits the Update)
            c.wait_line("updated", after=k, timeout=20)
            n = len(srv.events)
            c.interrupt(20)
            srv.wait_event("deregister", "t1", after=n, timeout=20)
            c.wait_line("tcp closed released", timeout=10)  # closed after De-register's response
        finally:
            c.kill()


MP_GET = r"""
import sys
from boards.unix import Board
from client import tcp
from client.rexchange import RExchange
from client.coap import Msg
class H:
    def request(self, m): return None
    def crash(self, e): print("crash", e)
    def settled(self): return False
    def registered(self): return False
b = Board()
sec = SEC
c = tcp.Conn(b, "127.0.0.1", PORT, tcp.ctx(sec) if sec else None, print)
ex = RExchange(c, b.clock, b.random, H())
res = []
ex.send(Msg(0, 1, 0, b"\x01\x02"), res.append)
end = b.clock.ms() + 10000
while not res and b.clock.ms() < end:
    ex.pump()
    ex.step()
    b.wait(20)
r = res and res[0]
print("RESULT", r and r.code, r and bytes(r.payload)[:28], c.mms, c.bwt, c.error)
"""


@pytest.mark.skipif(not shutil.which("coap-server-openssl"), reason="libcoap3-bin (coap-server-openssl) not installed")
@pytest.mark.parametrize("secure", [False, True], ids=["coap+tcp", "coaps+tcp-psk"])
def test_libcoap_server(mp, secure):
    port = free_tcp_port()
    while True:
        port = free_tcp_port()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port + 1))
            break
        except OSError:
            pass
        finally:
            s.close()
    p = subprocess.Popen(["coap-server-openssl", "-A", "127.0.0.1", "-p", str(port), "-k", "h7secret"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        sec = "{2: 0, 3: b'dev', 5: b'h7secret'}" if secure else "None"
        out = mp(MP_GET.replace("SEC", sec).replace("PORT", str(port + 1 if secure else port)))
    finally:
        p.kill()
        p.wait()
    line = [l for l in out.splitlines() if l.startswith("RESULT")][0]
    # 2.05 with libcoap's index text; its CSM said block-wise transfer
    assert line.startswith("RESULT 69 b'This is a test server made w'"), out
    assert line.endswith("True None"), line


class Middlebox:
    """A TCP relay; freeze() makes it silently stop forwarding on the
    connections it has (no FIN, no RST); new connections go through."""

    def __init__(self, upstream):
        self.up = upstream
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(4)
        self.port = self.ls.getsockname()[1]
        self.conns = []         # [frozen flag]
        self.upframes = []      # (connection no, frame) delivered to the server
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                a, _ = self.ls.accept()
            except OSError:
                return
            b = socket.create_connection(self.up)
            st = [False]
            k = len(self.conns)
            self.conns.append(st)
            threading.Thread(target=self._pipe, args=(a, b, st, k, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(b, a, st, k, False), daemon=True).start()

    def _pipe(self, src, dst, st, k, up):
        buf = b""
        from aiocoap.transports.tcp import _extract_message_size
        while True:
            try:
                d = src.recv(65536)
            except OSError:
                return
            if not d:
                return
            if st[0]:
                continue    # frozen: swallowed
            if up:
                buf += d
                while True:
                    n = _extract_message_size(buf)
                    if not n or sum(n) > len(buf):
                        break
                    self.upframes.append((k, buf[:sum(n)]))
                    buf = buf[sum(n):]
            try:
                dst.sendall(d)
            except OSError:
                return

    def freeze(self):
        for st in self.conns:
            st[0] = True

    def close(self):
        self.ls.close()


def _notes(frames):
    # Observe numbers of the 2.05 notifications in frames (RFC 8323 frames)
    from aiocoap.transports.tcp import _decode_message
    out = []
    for k, f in frames:
        m = _decode_message(f)
        if m.code == 0x45 and m.opt.observe is not None:
            out.append((k, m.opt.observe, m.payload))
    return out


@pytest.mark.parametrize("mode", ["notify", "idle"])
def test_half_open_detected_reconnect_nothing_lost(mode):
    """notify: a CON notification every 15 s, its Ping goes unanswered;
    idle: nothing after one notification, the keep-alive Ping after ka s
    goes unanswered. Both: detected within ka + pong, reconnect, Update."""
    ka, pong = 20, 5
    with TcpServer() as srv:
        box = Middlebox(("127.0.0.1", srv.tcp_port))
        c = DevClient("coap+tcp://127.0.0.1:%d" % box.port, "h1", "--lifetime", "3000", "--tcp", "%d,%d" % (ka, pong))
        try:
            srv.wait_registration("h1", timeout=20)
            assert srv.write("h1", "/1/0/26", b"1", TEXT, timeout=20).ok     # CON notifications
            attrs = "pmin=0&pmax=15" if mode == "notify" else "pmin=0"
            assert srv.write_attributes("h1", "/1/0/3", attrs, timeout=20).ok
            obs = srv.observe("h1", "/1/0/3", accept=TEXT, timeout=20)
            if mode == "idle":
                assert srv.write("h1", "/1/0/3", b"100000", TEXT, timeout=20).ok     # (a far pmax)
            obs.wait(1, timeout=30)
            if mode == "idle":
                time.sleep(0.5)     # its Pong through; keep-alives go on meanwhile
            box.freeze()
            n = len(srv.events)
            # the client notices (Pong missing), connects again, Updates
            srv.wait_event("update", "h1", after=n, timeout=60)
            c.wait_line("no pong", timeout=5)
            deadline = time.monotonic() + 30
            while mode == "notify" and len(_notes([f for f in box.upframes if f[0] >= 1])) < 2 \
                    and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            c.kill()
            box.close()
    out = c.output()
    # detection bound: the last notification (its Ping unanswered) or the
    # idle keep-alive Ping, then Pong wait: within ka + pong of the freeze
    t_lost = stamps(c, "no pong")[0]
    t_notes = [t for t in stamps(c, "notify")]
    t_before = max([t for t in t_notes if t < t_lost])
    if mode == "notify":
        assert t_lost - t_before <= ka + pong + 1, out[-3000:]
    else:   # keep-alive Pings every ka s of silence; the first unanswered one + pong
        k = round((t_lost - t_before - pong) / ka)
        assert k >= 1 and abs(t_lost - t_before - pong - k * ka) < 0.05 * k + 0.05, (t_lost, t_before)
    # reconnected within the first back-off step, then the Update went first
    assert any("tcp connect" in l for l in out.splitlines()[-40:])
    # every Observe number the client made arrived at the server, in order
    made = [int(m.group(1)) for m in re.finditer(r"notify /1/0/3 (\d+)", out)]
    got = [o for k, o, p in _notes(box.upframes)]
    assert made and set(made) <= set(got), (made, got)
    after = [o for k, o, p in _notes(box.upframes) if k >= 1]
    assert after == sorted(after)


@pytest.mark.parametrize("policy", ["short", "long"])
def test_queue_mode_over_tcp(policy):
    """Queue mode (b=T, Q): short-lived (default) closes the connection when
    the radio goes off and connects again per wake-up; long-lived keeps one
    connection. Either way a request held by the server while the client
    sleeps is answered after a wake-up Update (short-lived: if it makes it
    within the awake window, which the virtual clock of the test squeezes
    into one 30 ms slice of real time, so the server asks again at the next
    wake-up if it did not)."""
    cfg = "60,10" + (",long" if policy == "long" else "")
    with TcpServer(awake_s=1.0, flush_delay=0.0) as srv:     # (held requests right after the Update: the
        # virtual clock ends a quiet awake window within one 30 ms slice)
        c = DevClient("coap+tcp://127.0.0.1:%d" % srv.tcp_port, "q1", "--lifetime", "300",
                      "--binding", "TQ", "--awake", "2", "--tcp", cfg)
        try:
            reg = srv.wait_registration("q1", timeout=20)
            assert reg.binding == "T" and reg.queue
            for k in range(3):      # three wake-ups (Update every 207 s of client time)
                n = len(srv.events)
                srv.wait_event("update", "q1", after=n, timeout=30)
            # a read while it sleeps: held, answered after the next wake-up's Update
            time.sleep(0.2)
            for attempt in range(5):
                try:
                    r = srv.read("q1", "/3/0/0", accept=TEXT, timeout=8)
                    break
                except Exception:   # noqa: BLE001 - lost with the closing connection: asked again
                    if attempt == 4:
                        raise
            assert r.payload == b"lwm2m-mpy"
        except TimeoutError as e:
            raise AssertionError("%s\n%s" % (e, c.output()[-3000:]))
        finally:
            c.kill()
    out = c.output()
    connects = out.count("tcp connect")
    if policy == "short":
        assert "tcp closed radio off" in out
        assert connects >= 4        # the Register's, then one per wake-up
    else:
        assert "radio off" not in out
        assert connects == 1        # one connection all along


@pytest.mark.parametrize("uri,want", [
    ("coap://127.0.0.1:9", "U -"),
    ("coap+tcp://127.0.0.1:9", "T client.rexchange,client.tcp"),
    ("coaps+tcp://127.0.0.1:9", "T client.rexchange,client.tcp,client.tcptls"),
    ("mqtt://127.0.0.1:9", "M client.mqtt,client.rexchange,client.tcp")])
def test_stream_modules_loaded_only_when_a_uri_needs_them(mp, uri, want):
    out = mp(r"""
import sys
from boards.virtual import VirtualBoard
from firmware.main import build, options
c = build(VirtualBoard("/tmp"), options(["--server", "%s"]), None)
c.servers[0].connect()
m = sorted(m for m in ("client.tcp", "client.tcptls", "client.mqtt", "client.rexchange", "client.mq2m")
           if m in sys.modules)
print(c.servers[0].res(7), ",".join(m) or "-")
""" % uri)
    assert out.strip().splitlines()[-1] == want


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl CLI not installed")
@pytest.mark.parametrize("pinned", ["right", "wrong"])
def test_tls_certificates_against_the_dev_server(tmp_path, pinned):
    """coaps+tcp:// with certificates: the dev server's TLS listener, the
    client verifying the server certificate it was given (/0/x/4) through
    MicroPython's tls; a different certificate is refused (no registration)."""
    def cert(name):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-keyout", str(tmp_path / (name + ".key")),
                        "-out", str(tmp_path / (name + ".pem"))], check=True, capture_output=True)
        subprocess.run(["openssl", "x509", "-in", str(tmp_path / (name + ".pem")), "-outform", "DER",
                        "-out", str(tmp_path / (name + ".der"))], check=True)
    cert("srv")
    cert("other")
    state = tmp_path / "state"
    state.mkdir()
    shutil.copy(tmp_path / ("srv.der" if pinned == "right" else "other.der"), state / "server.der")
    with TcpServer(tls=(str(tmp_path / "srv.pem"), str(tmp_path / "srv.key"))) as srv:
        c = DevClient("coaps+tcp://127.0.0.1:%d" % srv.tls_port, "c1", "--lifetime", "300",
                      "--app", "host_tests.apps.tlscert", state=str(state))
        try:
            if pinned == "right":
                try:
                    srv.wait_registration("c1", timeout=20)
                except TimeoutError:
                    print(c.output()[-3000:]); raise
                assert srv.read("c1", "/3/0/0", accept=TEXT, timeout=20).payload == b"lwm2m-mpy"
            else:
                c.wait_line("tls handshake", timeout=20)
                assert "fatal" not in c.output()
                with pytest.raises(TimeoutError):
                    srv.wait_registration("c1", timeout=2)
        finally:
            c.kill()


def test_peer_max_message_size_honoured():
    """A peer whose CSM says Max-Message-Size 100: the client answers a
    read block-wise in blocks that fit (Block2 szx 1, 32 bytes)."""
    from aiocoap import Message
    from aiocoap.numbers.codes import Code
    from aiocoap.transports.tcp import _decode_message, _extract_message_size, _serialize
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    port = ls.getsockname()[1]
    c = DevClient("coap+tcp://127.0.0.1:%d" % port, "mms", "--lifetime", "300")
    buf = [b""]

    def rd(s):
        while True:
            n = _extract_message_size(buf[0])
            if n and sum(n) <= len(buf[0]):
                f, buf[0] = buf[0][:sum(n)], buf[0][sum(n):]
                return f
            d = s.recv(4096)
            assert d, "connection closed"
            buf[0] += d
    try:
        ls.settimeout(20)
        s, _ = ls.accept()
        s.settimeout(20)
        csm = Message(code=Code.CSM)
        csm.opt.add_option(__import__("aiocoap").optiontypes.UintOption(2, 100))
        s.sendall(_serialize(csm))
        f = rd(s)
        assert f[_extract_message_size(f)[0] - 1] == 0xE1      # the client's CSM first
        reg = _decode_message(rd(s))
        assert reg.opt.uri_path == ("rd",)
        r = Message(code=Code.CREATED)
        r.token = reg.token
        r.opt.location_path = ("rd", "x")
        s.sendall(_serialize(r))
        got = b""
        for num in range(10):
            g = Message(code=Code.GET)
            g.token = bytes([num + 1])
            g.opt.uri_path = ("3", "0")
            g.opt.accept = 11542
            if num:
                from aiocoap.optiontypes import BlockOption
                g.opt.block2 = BlockOption.BlockwiseTuple(num, False, 1)
            s.sendall(_serialize(g))
            while True:     # (the client's own requests in between: 2.04)
                f = rd(s)
                m = _decode_message(f)
                if m.code.is_response():
                    break
                a = Message(code=Code.CHANGED)
                a.token = m.token
                s.sendall(_serialize(a))
            assert len(f) <= 100 and m.token == g.token
            b2 = m.opt.block2
            assert b2.size_exponent == 1 and b2.block_number == num
            got += m.payload
            if not b2.more:
                break
        assert len(got) > 32 and b"lwm2m-mpy" in got
        s.close()
    finally:
        c.kill()
        ls.close()


def test_reconnect_then_404_registers_again():
    """Life cycle: after a reconnect the client Updates; a server that
    dropped the registration with the old connection answers 4.04 and the
    client Registers again (on the new connection)."""
    with TcpServer() as srv:
        box = Middlebox(("127.0.0.1", srv.tcp_port))
        c = DevClient("coap+tcp://127.0.0.1:%d" % box.port, "r1", "--lifetime", "3000", "--tcp", "20,5")
        try:
            srv.wait_registration("r1", timeout=20)
            c.wait_line("registered", timeout=20)     # its 2.01 went through before the freeze
            n = len(srv.events)
            srv.forget("r1")
            box.freeze()
            srv.wait_event("register", "r1", after=n, timeout=60)
        finally:
            c.kill()
            box.close()
    out = c.output()
    i = out.index("no pong")
    assert "update rejected, register again" in out[i:], out[-2000:]


def test_bootstrap_gives_a_tcp_account(tmp_path):
    """Configuration: the bootstrap server writes a coap+tcp:// Security URI
    and binding T (/1/x/7); the client registers over TCP saying b=T."""
    from devserver.bootstrap import BootstrapServer
    with TcpServer() as dm, BootstrapServer(port=0) as bs:
        bs.configs["b1"] = {"security": [{"uri": "coap+tcp://127.0.0.1:%d" % dm.tcp_port, "ssid": 1}],
                            "server": [{"ssid": 1, "lifetime": 300, "binding": "T"}]}
        c = DevClient(None, "b1", "--bootstrap", "coap://127.0.0.1:%d" % bs.port, state=str(tmp_path))
        try:
            assert bs.wait_finished("b1", timeout=20)["code"] == "2.04"
            reg = dm.wait_registration("b1", timeout=20)
            assert reg.binding == "T"
            assert dm.read("b1", "/0/0/0", accept=TEXT, timeout=20).code == "4.01"   # not to a DM server
            assert dm.read("b1", "/1/0/7", accept=TEXT, timeout=20).payload == b"T"
        finally:
            c.kill()
    c.wait_line("tcp connect", timeout=10)


def test_bootstrap_over_tcp(tmp_path):
    """The Bootstrap-Server account itself on coap+tcp:// (the bootstrap
    exchange is the reliable one too), then the DM account over TCP."""
    from devserver.tcp import TcpBootstrapServer
    with TcpServer() as dm, TcpBootstrapServer(port=0) as bs:
        bs.configs["b2"] = {"security": [{"uri": "coap+tcp://127.0.0.1:%d" % dm.tcp_port, "ssid": 1}],
                            "server": [{"ssid": 1, "lifetime": 300, "binding": "T"}]}
        c = DevClient(None, "b2", "--bootstrap", "coap+tcp://127.0.0.1:%d" % bs.tcp_port, state=str(tmp_path))
        try:
            assert bs.wait_finished("b2", timeout=20)["code"] == "2.04"
            assert dm.wait_registration("b2", timeout=20).binding == "T"
        finally:
            c.kill()
