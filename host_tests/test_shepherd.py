"""The client against a second third-party LwM2M server (issue 10, points 1
and 5): coap-shepherd from npm (tools/peers/package.json; its git fork of
node-coap replaced by npm's coap through `overrides`), driven by
tools/peers/shepherd_server.js. Its faults (a link parser that takes
`</1>;ver=1.1` as an object id, a pre-standard TLV format name) are worked
around in that script, never in the client.

Register (the peer parses the object list, reads every object in TLV right
away, and its database keeps what it decoded), Read of a resource and of
instances in TLV, Write in TLV (and a refused out-of-range Write, the value
unchanged), Execute (an Update follows), Discover, Write-Attributes, Observe
with notifications decoded by the peer, cancel, De-register."""
import time

import pytest

from devclient import DevClient

from test_peers import APP, nodepeer, peer_installed  # noqa: F401 (a fixture)


@pytest.fixture
def peer(peer_installed, tmp_path):
    with nodepeer.NodePeer("shepherd_server.js", args=[str(tmp_path / "db")]) as p:
        yield p


def call(peer, op, code, **kw):
    r = peer.call(op, **kw)
    assert r["ok"] and r["code"] == code, r
    return r.get("value")


def test_register_and_device_management(peer):
    ep = "sh-dm"
    c = DevClient("coap://127.0.0.1:%d" % peer.port, ep, "--lifetime", "600", "--app", APP)
    try:
        reg = peer.wait_event("register", ep)
        assert reg["lt"] == 600 and reg["lwm2m"] == "1.1"
        objs = reg["objects"]
        assert objs["3"] == ["0"] and objs["1"] == ["0"] and objs["3303"] == ["0"]
        # Read: a resource, the Device instance and an IPSO instance (TLV,
        # decoded by the peer with its own object definitions)
        assert call(peer, "read", "2.05", ep=ep, path="/3/0/0") == "lwm2m-mpy"
        dev = call(peer, "read", "2.05", ep=ep, path="/3/0")
        assert dev["manuf"] == "lwm2m-mpy" and dev["timezone"] == "UTC"
        temp = call(peer, "read", "2.05", ep=ep, path="/3303/0")
        assert temp["units"] == "Cel" and temp["sensorValue"] >= 20
        # Write (the peer writes TLV), read back
        call(peer, "write", "2.04", ep=ep, path="/3/0/15", value="Europe/Paris")
        assert call(peer, "read", "2.05", ep=ep, path="/3/0/15") == "Europe/Paris"
        # out of range: 4.00 and nothing changed
        call(peer, "write", "4.00", ep=ep, path="/1/0/1", value=0)
        assert call(peer, "read", "2.05", ep=ep, path="/1/0/1") == 600
        # Execute: Registration Update Trigger -> an Update
        n = len(peer.events)
        call(peer, "execute", "2.04", ep=ep, path="/1/0/8")
        peer.wait_event("update", ep, after=n)
        # Discover of an instance and of an object
        d = call(peer, "discover", "2.05", ep=ep, path="/3/0")
        assert "/3/0/0" in d["resrcList"] and "/3/0/21" in d["resrcList"]
        assert call(peer, "discover", "2.05", ep=ep, path="/3")["resrcList"][0] == "/3/0"
        # Write-Attributes, seen in a Discover of the resource
        call(peer, "attrs", "2.04", ep=ep, path="/3303/0/5700", attrs={"pmin": 1, "pmax": 60})
        d = call(peer, "discover", "2.05", ep=ep, path="/3303/0/5700")
        assert d["attrs"] == {"pmin": 1, "pmax": 60}
        # De-register on Ctrl-C
        assert c.interrupt() == 0
        peer.wait_event("deregister", ep)
    finally:
        c.kill()


def test_observe_then_cancel(peer):
    ep = "sh-obs"
    c = DevClient("coap://127.0.0.1:%d" % peer.port, ep, "--lifetime", "3600", "--app", APP)
    try:
        peer.wait_event("register", ep)
        call(peer, "attrs", "2.04", ep=ep, path="/3303/0/5700", attrs={"pmin": 1})
        first = call(peer, "observe", "2.05", ep=ep, path="/3303/0/5700")
        assert first >= 20
        n = len(peer.events)
        a = peer.wait_event("notify", ep, after=n)
        b = peer.wait_event("notify", ep, after=peer.events.index(a) + 1)
        assert a["path"] == "/temperature/0/sensorValue" and b["value"] > a["value"]     # the app's ramp
        # cancel: the peer closes its stream (a plain GET of the path, then
        # RST to the next notification, RFC 7641 3.6): the observation ends in
        # the client too, and the client goes on serving
        call(peer, "cancel", "2.05", ep=ep, path="/3303/0/5700")
        seen = peer.count("notify", ep)
        k = len(c.lines)
        time.sleep(2)       # minutes of client time: the ramp goes on
        assert call(peer, "read", "2.05", ep=ep, path="/3/0/0") == "lwm2m-mpy"
        assert peer.count("notify", ep) == seen
        assert len([x for x in c.lines[k:] if "notify" in x]) <= 1, c.lines[k:]   # the one RST answered
        assert c.interrupt() == 0
        peer.wait_event("deregister", ep)
    finally:
        c.kill()
