"""LwM2M over DTLS-PSK end to end (issue 6): the client on the MicroPython
unix port (firmware/main.py --server coaps://... --psk-identity --psk-key)
against the dev server behind tools/devserver/dtls_front.py, with python-mbedtls (a
third-party DTLS 1.2 server) or tools/devserver/dtls_mock.py (Connection ID) terminating
DTLS. Deep sleeps are real process restarts with a new UDP source port."""
import re

from devclient import DevClient, boots, stamps, take_ports
from devserver.dtls_front import DtlsFront
from lwm2m_server import Server

KEY = bytes(range(16))
PSK = ("--psk-identity", "dev1", "--psk-key", KEY.hex())
QUEUE = ("--lifetime", "300", "--binding", "UQ", "--awake", "5", "--deep", "60") + PSK
TEXT = 0


def test_lwm2m_session_over_dtls_psk_mbedtls():
    # register, read, write, observe + notify, update, de-register
    with Server(port=0) as srv, DtlsFront(("127.0.0.1", srv.port), {"dev1": KEY}) as f:
        c = DevClient("coaps://127.0.0.1:%d" % f.addr[1], "sec", "--lifetime", "600", *PSK,
                      clock="real")
        try:
            reg = srv.wait_registration("sec", timeout=15)
            assert reg.lifetime == 600
            r = srv.read("sec", "/3/0/0")
            assert r.code == "2.05" and r.payload == b"lwm2m-mpy"
            o = srv.observe("sec", "/3303/0/5750")
            assert o.first.code == "2.05"
            assert srv.write("sec", "/3303/0/5750", b"vault", TEXT).code == "2.04"
            assert o.wait(1)[-1].payload == b"vault"
            assert srv.execute("sec", "/1/0/8").code == "2.04"    # Registration Update Trigger
            srv.wait_event("update", "sec", timeout=10)
            st = f.stats
            # one full handshake; everything else went as DTLS application data
            assert st["handshakes"] == 1 and st["alert_in_datagrams"] == 0
            assert st["handshake_bytes"] <= 600 and st["handshake_datagrams"] <= 6
            assert st["handshake_in_bytes"] <= 300                  # sent by the client
            assert st["app_in_datagrams"] >= 4 and st["up_datagrams"] == st["app_in_datagrams"]
        finally:
            c.interrupt()
        assert srv.wait_event("deregister", "sec", timeout=10)
        assert not any("dtls" in x for x in c.lines)


def _deep_run(engine, n=3, cid=True):
    with Server(port=0, awake_s=0.0, flush_delay=0.0) as srv, \
            DtlsFront(("127.0.0.1", srv.port), {"dev1": KEY}, engine=engine) as f:
        if not cid:
            f.server.cid = None     # a server without RFC 9146
        hs, taken = [], []

        def between(i):
            hs.append(f.stats["handshake_bytes"])
            # a NAT rebinding: the port the device had is taken while it sleeps,
            # so it comes back from another one
            taken.extend(take_ports(list(getattr(f.server, "conns", {}))))
        runs = boots("coaps://127.0.0.1:%d" % f.addr[1], "ds", *QUEUE, n=n,
                     state=_tmp(), between=between)
        for s in taken:
            s.close()
        st = f.stats
        ev = [e[0] for e in getattr(f.server, "events", ())]
        st["rebinds"], st["resumed"] = ev.count("rebind"), ev.count("resumed")
        return runs, hs, [e for e in srv.events if e["kind"] in ("register", "update")], st


def _tmp():
    import tempfile
    return tempfile.mkdtemp(prefix="dtls-deep-")


def test_deep_sleep_wake_with_connection_id_needs_no_handshake():
    # the saved connection (keys, sequence numbers, CID) survives the power-down;
    # after each wake the Update goes straight out from a new source port
    runs, hs, regs, st = _deep_run("mock")
    assert [c.rc for c in runs] == [3, 3, 3]
    assert [e["kind"] for e in regs] == ["register", "update", "update"]
    assert st["rebinds"] == 2                       # new source port each boot, same session
    assert hs[0] > 0 and hs[0] == hs[1] == hs[2]   # 0 handshake bytes per wake-up
    assert st["handshakes"] == 1 and st["upstreams"] == 1
    for c in runs[1:]:
        assert stamps(c, "wake") and stamps(c, "updated")
        assert not any("handshake" in x or "register" in x for x in c.lines)


def test_deep_sleep_wake_resumes_the_session_without_connection_id():
    # no CID: the saved session gives an abbreviated handshake at each wake,
    # and the registration carries on with an Update
    runs, hs, regs, st = _deep_run("mock", cid=False)
    assert [c.rc for c in runs] == [3, 3, 3]
    assert [e["kind"] for e in regs] == ["register", "update", "update"]
    assert st["handshakes"] == 3 and st["upstreams"] == 1
    assert st["resumed"] == 2                           # abbreviated: no key exchange
    assert 0 < hs[1] - hs[0] == hs[2] - hs[1] < 600
    for c in runs[1:]:
        assert not any("register" in x for x in c.lines)


def test_deep_sleep_without_session_resumption_registers_again():
    # python-mbedtls keeps no session cache: the saved session is refused, a
    # full handshake follows and the client registers again (transport §6.4.3)
    runs, hs, regs, st = _deep_run("mbedtls")
    assert [c.rc for c in runs] == [3, 3, 3]
    assert [e["kind"] for e in regs] == ["register", "register", "register"]
    assert hs[0] < hs[1] < hs[2] and st["handshakes"] == 3
    for c in runs[1:]:
        assert any("full handshake: register again" in x for x in c.lines)


def test_wrong_psk_fails_cleanly_with_backoff():
    # the server rejects the Finished: a clear message, /1/x/11 set, and the
    # Communication Retry back-off (60 s, 120 s ...) instead of a tight loop
    with Server(port=0) as srv, DtlsFront(("127.0.0.1", srv.port), {"dev1": KEY}) as f:
        bad = ("--psk-identity", "dev1", "--psk-key", "00" * 16)
        c = DevClient("coaps://127.0.0.1:%d" % f.addr[1], "bad", "--lifetime", "600", *bad,
                      "--duration", "400")
        assert c.p.wait(60) == 0
        c.t.join(5)
    fails = [x for x in c.lines if "dtls handshake failed" in x]
    assert fails and re.search(r"decrypt_error|bad_record_mac|bad PSK", fails[0])
    waits = [int(m.group(1)) for m in (re.search(r"retry in (\d+) ?s", x) for x in c.lines) if m]
    assert len(waits) == len(fails) >= 2
    assert 60 <= waits[0] <= 66 and 120 <= waits[1] <= 132
    assert not srv.registrations
    assert KEY.hex() not in "".join(c.lines) and "00" * 16 not in "".join(c.lines)
