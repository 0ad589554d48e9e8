"""Bootstrap sequences that common bootstrap servers run (issue 10, point 4),
end to end: the client on the unix port (virtual clock), the dev bootstrap
server in manual mode driving each operation, the dev LwM2M server.

- Delete /0 (the client keeps its bootstrap account, as it must), then a
  Write of the server's own Bootstrap-Server account under a NEW instance id
  and a DM account -> Finish 2.04; exactly one bootstrap account is left (the
  server's), the client registers with the DM server, and starts again from
  the persisted configuration.
- The same after Delete /.
- Whole-object writes in TLV (/0 with both accounts, /1).
- Finish still refuses what is really inconsistent (two bootstrap accounts
  written by the server, a Server instance without its Security instance, a
  certificate account without its keys).
- A certificate (Security mode 2) account: bootstrapped, then the client runs
  DTLS with certificates against libcoap in PKI mode."""
import re

import pytest

from devserver.formats import tlv_instance, tlv_resource
from test_bootstrap import bs, dm, factory, registered, start  # noqa: F401 (fixtures)
from test_dtls_interop import EP as CERT_EP, libcoap_pki, pki  # noqa: F401 (fixture)

TLV = 11542


def session(tmp_path, bs, ep, clock="virtual"):
    """A client from the factory configuration (a bootstrap account only),
    its Bootstrap-Request taken, the bootstrap server driving by hand."""
    bs.configs[ep] = {"manual": True}
    factory(tmp_path, bs.port)
    c = start(tmp_path, ep, clock)
    bs.wait_request(ep)
    return c


def bs_account(bs):
    return {0: "coap://127.0.0.1:%d" % bs.port, 1: True, 2: 3, 3: b"", 4: b"", 5: b"", 11: 0}


def dm_account(dm, ssid=7):
    return {0: "coap://127.0.0.1:%d" % dm.port, 1: False, 2: 3, 3: b"", 4: b"", 5: b"", 10: ssid}


def security_links(bs, ep):
    r = bs.discover(ep, "/0")
    assert r.code == "2.05"
    return r.payload.decode().split(",")[1:]


def check_one_account_then_restart(tmp_path, dm, bs, c, ep, bs_iid, dm_iid, ssid=7, srv_iid=0):
    """Registered with the DM server; a second bootstrap (Bootstrap-Request
    Trigger from the DM server) reaches the server's account and shows one
    bootstrap account; a restart from the persisted configuration registers."""
    reg = registered(dm, c, ep)
    assert reg.lifetime == 99
    n, m = len(bs.events), len(dm.events)
    assert dm.execute(ep, "/1/%d/9" % srv_iid).code == "2.04"
    bs.wait_request(ep, after=n)
    assert security_links(bs, ep) == ["</0/%d>" % bs_iid, '</0/%d>;ssid=%d;uri="coap://127.0.0.1:%d"'
                                      % (dm_iid, ssid, dm.port)]
    assert bs.finish(ep).code == "2.04"
    registered(dm, c, ep, after=m)
    assert c.interrupt() == 0
    # the persisted configuration: no bootstrap needed, straight to the DM server
    n = len(dm.events)
    c2 = start(tmp_path, ep, "virtual")
    try:
        dm.wait_event("register", ep, after=n)
        assert "bootstrap request" not in c2.output()
    finally:
        c2.interrupt()


@pytest.mark.parametrize("delete", ["/0", "/"])
def test_delete_then_new_bootstrap_account_and_dm_account(tmp_path, dm, bs, delete):
    ep = "bs-seq" + delete.replace("/", "-")
    c = session(tmp_path, bs, ep)
    try:
        assert security_links(bs, ep) == ["</0/0>"]
        assert bs.delete(ep, delete).code == "2.02"
        assert security_links(bs, ep) == ["</0/0>"]       # kept through the Delete
        # the server's own Bootstrap-Server account, under a new instance id
        assert bs.write_instance(ep, 0, 5, bs_account(bs)).code == "2.04"
        assert bs.write_instance(ep, 0, 6, dm_account(dm)).code == "2.04"
        assert bs.write_instance(ep, 1, 0, {0: 7, 1: 99, 6: True, 7: "U"}).code == "2.04"
        assert bs.finish(ep).code == "2.04"
        c.wait_line("bootstrap account 0 replaced by 5")
        check_one_account_then_restart(tmp_path, dm, bs, c, ep, 5, 6)
    finally:
        c.interrupt()


def test_whole_object_tlv_writes(tmp_path, dm, bs):
    ep = "bs-objects"
    c = session(tmp_path, bs, ep)
    try:
        assert bs.delete(ep, "/").code == "2.02"
        sec = tlv_instance(3, _res(bs_account(bs))) + tlv_instance(4, _res(dm_account(dm, 9)))
        assert bs.write(ep, "/0", sec, TLV).code == "2.04"
        srv = tlv_instance(2, _res({0: 9, 1: 99, 6: False, 7: "U"}))
        assert bs.write(ep, "/1", srv, TLV).code == "2.04"
        # out of range in a whole-object write: 4.00, nothing of it written
        bad = tlv_instance(5, _res({0: 9, 1: 0, 6: False, 7: "U"}))
        assert bs.write(ep, "/1", bad, TLV).code == "4.00"
        assert bs.write(ep, "/1", tlv_instance(5, _res({0: 9, 1: 60, 7: "X"})), TLV).code == "4.00"
        assert bs.discover(ep, "/1").payload.decode() == "</>;lwm2m=1.1,</1>;ver=1.1,</1/2>;ssid=9"
        assert bs.finish(ep).code == "2.04"
        c.wait_line("bootstrap account 0 replaced by 3")
        check_one_account_then_restart(tmp_path, dm, bs, c, ep, 3, 4, ssid=9, srv_iid=2)
    finally:
        c.interrupt()


def _res(d):
    return [tlv_resource(k, v) for k, v in sorted(d.items())]


@pytest.mark.parametrize("case", ["two-new-bootstrap", "server-without-security", "cert-without-keys",
                                  "psk-over-coap", "rpk"])
def test_finish_refuses_inconsistent(tmp_path, dm, bs, case):
    ep = "bs-bad-" + case
    c = session(tmp_path, bs, ep)
    try:
        assert bs.delete(ep, "/0").code == "2.02"
        acc = dm_account(dm)
        if case == "two-new-bootstrap":
            bs.write_instance(ep, 0, 5, bs_account(bs))
            bs.write_instance(ep, 0, 8, bs_account(bs))
        elif case == "server-without-security":
            acc[10] = 8         # Server instance of ssid 7 has no Security instance
        elif case == "cert-without-keys":
            acc.update({0: "coaps://127.0.0.1:%d" % dm.port, 2: 2, 3: b"cert"})
        elif case == "psk-over-coap":
            acc.update({2: 0, 3: b"id", 5: b"key"})
        elif case == "rpk":
            acc.update({0: "coaps://127.0.0.1:%d" % dm.port, 2: 1, 3: b"k", 4: b"k", 5: b"k"})
        bs.write_instance(ep, 0, 6, acc)
        bs.write_instance(ep, 1, 0, {0: 7, 1: 99, 6: True, 7: "U"})
        assert bs.finish(ep).code == "4.06"
        c.wait_line("bootstrap config refused")
    finally:
        c.interrupt()


def test_bootstrap_certificate_account_then_dtls_with_certificates(tmp_path, bs, pki):  # noqa: F811
    # Security mode 2: own certificate /0/x/3, private key /0/x/5, the
    # server's certificate /0/x/4 (pinned: usage 3, /0/x/15). libcoap in PKI
    # mode is no LwM2M server: its 4.xx to the Register proves the CoAP round
    # trip through the certificate session the bootstrap configured.
    ep = CERT_EP
    with libcoap_pki("coap-server-openssl", pki) as port:
        c = session(tmp_path, bs, ep, "real")
        try:
            assert bs.delete(ep, "/0").code == "2.02"
            acc = {0: "coaps://127.0.0.1:%d" % port, 1: False, 2: 2, 10: 3, 15: 3, 14: "lwm2m.example",
                   3: (pki / "cli.der").read_bytes(), 5: (pki / "cli.key.der").read_bytes(),
                   4: (pki / "self.der").read_bytes()}
            assert bs.write_instance(ep, 0, 1, acc).code == "2.04"
            assert bs.write_instance(ep, 1, 0, {0: 3, 1: 300, 6: True, 7: "U"}).code == "2.04"
            assert bs.finish(ep).code == "2.04"
            i = c.wait_line("register coaps://127.0.0.1:%d" % port, timeout=20)
            j = c.wait_line("register failed", after=i, timeout=30)
            line = c.lines[j]
            assert re.search(r"register failed (128|132|133|4\.0[045])", line), line
            assert not any(" dtls " in x + " " for x in c.lines[i:j]), c.lines[i:j]
        finally:
            c.interrupt()
