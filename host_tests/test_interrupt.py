"""Ctrl-C (or SIGTERM through tools/mprun.py) may land anywhere, also inside
the handling of the server's answer to a Register or an Update: the exchange
is done, the registration state still says "sent". The client still
De-registers (client.stop: Server.lost(): an Update's registration stands, a
Register whose answer was lost is asked again), so no registration is left
behind on the server. The stress run found the Register case through mprun."""
import pytest

from devclient import DevClient
from lwm2m_server import Server

APP = "host_tests.apps.interrupt"


@pytest.mark.parametrize("at", ["loc", "1", "2"])
def test_interrupt_inside_an_answer_still_deregisters(at, monkeypatch):
    monkeypatch.setenv("INTR_AT", at)
    with Server(port=0) as srv:
        c = DevClient("coap://127.0.0.1:%d" % srv.port, "intr" + at, "--app", APP)
        try:
            srv.wait_registration("intr" + at, timeout=10)
            srv.wait_event("deregister", "intr" + at, timeout=10)
            assert c.p.wait(10) == 0
        finally:
            c.kill()
        out = c.output()
        assert "interrupted" in out and "deregistered" in out and "Traceback" not in out, out
        kinds = [e["kind"] for e in srv.events if e["ep"] == "intr" + at]
        assert kinds[-1] == "deregister", kinds
        # the Register's answer lost before its location was taken: asked
        # again (the server had it), then gone; else nothing more than needed
        assert kinds == ["register"] * (2 if at == "loc" else 1) + ["update"] * (at == "2") + ["deregister"], kinds
