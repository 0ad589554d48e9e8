"""Alternate path (transport spec §6.4.1): a client with root path /alt
registers </alt>;rt="oma.lwm2m" with its objects under it, and every DM
operation is served under /alt (and nowhere else), end to end against the
dev server."""
import pytest

from devserver.formats import tlv_decode

TLV, TEXT, LINK = 11542, 0, 40


@pytest.fixture(scope="module")
def alt():
    from lwm2m_server import Server
    from devclient import DevClient
    srv = Server(port=0).start()
    c = DevClient("coap://127.0.0.1:%d" % srv.port, "alt-ep", "--lifetime", "600", "--alt", "/alt",
                  clock="real")
    srv.wait_registration("alt-ep", timeout=15)
    yield srv, c
    c.interrupt()
    srv.stop()


def test_register_payload(alt):
    srv, c = alt
    links = srv.registration("alt-ep").objects
    assert links.startswith('</alt>;rt="oma.lwm2m"')
    for p in ("</alt/1/0>", "</alt/3/0>", "</alt/3303/0>", "</alt/3>;ver=1.1"):
        assert p in links
    assert "</3/0>" not in links and "</alt/0" not in links


def test_operations_under_alt(alt):
    srv, c = alt
    r = srv.read("alt-ep", "/alt/3/0/0")
    assert r.code == "2.05" and r.payload == b"lwm2m-mpy"
    r = srv.read("alt-ep", "/alt/3/0", accept=TLV)
    assert r.code == "2.05" and tlv_decode(r.payload)
    assert srv.write("alt-ep", "/alt/3/0/15", b"Europe/Lisbon", TEXT).code == "2.04"
    assert srv.read("alt-ep", "/alt/3/0/15").payload == b"Europe/Lisbon"
    assert srv.execute("alt-ep", "/alt/3303/0/5605").code == "2.04"
    r = srv.discover("alt-ep", "/alt/3/0")
    assert r.code == "2.05" and b"</3/0/0>" in r.payload
    assert srv.write_attributes("alt-ep", "/alt/3303/0/5700", {"pmin": 1}).code == "2.04"
    ob = srv.observe("alt-ep", "/alt/3/0/15")
    assert ob.active
    assert srv.write("alt-ep", "/alt/3/0/15", b"Europe/Madrid", TEXT).code == "2.04"
    ob.wait(1, timeout=10)
    assert ob.notifications[-1].payload == b"Europe/Madrid"
    assert ob.cancel().code == "2.05"


def test_outside_alt_is_404(alt):
    srv, c = alt
    assert srv.read("alt-ep", "/3/0/0").code == "4.04"
    assert srv.read("alt-ep", "/other/3/0/0").code == "4.04"
    assert srv.read("alt-ep", "/alt/3/0/0").code == "2.05"
