"""Registration life cycle (transport spec §6.4.3) end to end on the virtual
clock: Update before expiry, re-Register after 4.04, back-off while the
server is unreachable, De-register on Ctrl-C."""
import re

from devclient import DevClient, free_port, stamps
from lwm2m_server import Server


def test_update_before_expiry():
    with Server(port=0) as srv:
        c = DevClient("coap://127.0.0.1:%d" % srv.port, "reg-upd", "--lifetime", "100")
        try:
            c.wait_line("registered")
            n = srv.wait_registration("reg-upd").updates
            for _ in range(3):
                c.wait_line("updated", after=len(c.lines))
            reg = stamps(c, "registered")[0]
            upd = stamps(c, "updated")[:3]
            # lifetime 100 s: Update half-way (margin min(lt/2, max(lt/10, 93 s)));
            # never more often than MAX_TRANSMIT_WAIT/2 (the floor, test_ranges.py)
            assert [round(u - reg) for u in upd] == [50, 100, 150]
            assert srv.registration("reg-upd").updates >= n + 3
            # the registration never expired on the server: still the same one
            assert len([e for e in srv.events if e["kind"] == "register"]) == 1
        finally:
            c.interrupt()


def test_reregister_after_update_gets_404():
    with Server(port=0) as srv:
        c = DevClient("coap://127.0.0.1:%d" % srv.port, "reg-404", "--lifetime", "40")
        try:
            c.wait_line("registered")
            first = srv.registration("reg-404").location
            n = len(srv.events)
            srv.forget("reg-404")           # the next Update gets 4.04
            srv.wait_event("register", "reg-404", after=n, timeout=15)
            c.wait_line("update rejected, register again")
            assert srv.registration("reg-404").location != first
            assert srv.read("reg-404", "/3/0/0").code == "2.05"
        finally:
            c.interrupt()


def test_backoff_while_server_down_then_registers():
    port = free_port()
    c = DevClient("coap://127.0.0.1:%d" % port, "reg-down", "--lifetime", "60")
    try:
        c.wait_line("retry in", timeout=20)
        i = c.wait_line("retry in", after=c.wait_line("retry in") + 1, timeout=20)
        c.wait_line("retry in", after=i + 1, timeout=20)
        tries = stamps(c, "register coap")
        fails = stamps(c, "register failed")
        # each attempt: CON with 4 retransmissions, given up after 31 x (2..3 s)
        for t, f in zip(tries, fails):
            assert 62 <= f - t <= 93
        # then Communication Retry Timer (60 s) doubling, with up to 10 % jitter
        waits = [t - f for f, t in zip(fails, tries[1:])]
        for w, base in zip(waits, (60, 120)):
            assert base <= w <= base * 1.1 + 0.05
        # what the client announced: the same doubling, jitter included
        waited = [int(re.search(r"retry in (\d+) ?s", l).group(1)) for l in c.lines if "retry in" in l]
        for w, base in zip(waited, (60, 120, 240)):
            assert base <= w <= base * 1.1
        # the server comes up on that port: the next attempt registers
        with Server(port=port) as srv:
            srv.wait_registration("reg-down", timeout=20)
            assert srv.read("reg-down", "/3/0/0").code == "2.05"
            c.interrupt()
    finally:
        c.kill()


def test_deregister_on_ctrl_c():
    with Server(port=0) as srv:
        c = DevClient("coap://127.0.0.1:%d" % srv.port, "reg-bye", "--lifetime", "300", clock="real")
        srv.wait_registration("reg-bye")
        c.wait_line("registered")
        n = len(srv.events)
        assert c.interrupt() == 0, c.output()
        ev = srv.wait_event("deregister", "reg-bye", after=n, timeout=5)
        assert ev["kind"] == "deregister"
        assert srv.registration("reg-bye") is None
        c.wait_line("deregistered", timeout=10)
