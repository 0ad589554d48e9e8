"""The client against a third-party LwM2M server nobody here wrote (issue 10,
point 5): Telefonica's lwm2m-node-lib from npm (tools/peers/package.json,
installed into tools/peers/node_modules by `make peers` / nodepeer.ensure()),
driven by tools/peers/lwm2m_node_server.js. The peer's own faults (pre-release
content-format numbers, payloads forced into UTF-8 strings) are worked
around in that script, never in the client.

Register (the peer parses the link payload), Read in text / TLV / SenML JSON
/ SenML CBOR, Write (and a refused out-of-range Write), Execute, Discover,
Write-Attributes, Observe + cancel (the peer's RST), queue mode (the wake-up
Update first, then the peer's requests are served), De-register."""
import json
import os
import sys
import time

import cbor2
import pytest

from devclient import DevClient
from devserver.formats import tlv_decode

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools", "peers"))
import nodepeer  # noqa: E402
from test_register_payload import strict_links  # noqa: E402

APP = "host_tests.apps.sensorapp"     # /3303/0/5700 changes every 30 s of client time


@pytest.fixture(scope="module")
def peer_installed():
    why = nodepeer.missing()
    if why:
        pytest.skip(why)
    nodepeer.ensure()


@pytest.fixture
def peer(peer_installed):
    with nodepeer.NodePeer("lwm2m_node_server.js") as p:
        yield p


def ok(r):
    assert r["ok"], r
    return r


@pytest.fixture
def clients():
    # the DevClients of a test: their output goes with a failure
    made = []
    yield made
    for c in made:
        print("--- client output:\n" + "\n".join(c.lines[-60:]))


def test_register_and_device_management(peer, clients):
    ep = "np-dm"
    c = DevClient("coap://127.0.0.1:%d" % peer.port, ep, "--lifetime", "600", "--app", APP)
    clients.append(c)
    try:
        reg = peer.wait_event("register", ep)
        assert reg["lt"] == "600" and reg["lwm2m"] == "1.1" and reg["b"] == "U"
        links = strict_links(reg["payload"])
        assert links[0] == ("/", {"rt": '"oma.lwm2m"'})         # TLV is the default: no ct=
        assert ("/3/0", {}) in links and ("/3303/0", {}) in links
        # Read: text (the peer's own read), TLV, SenML JSON, SenML CBOR
        assert ok(peer.call("read", ep=ep, path="/3/0/0"))["value"] == "lwm2m-mpy"
        r = ok(peer.call("raw", ep=ep, path="/3/0", accept="application/vnd.oma.lwm2m+tlv"))
        assert r["code"] == "2.05" and r["ct"] == "application/vnd.oma.lwm2m+tlv"
        res = {e["id"]: e for e in tlv_decode(bytes.fromhex(r["hex"]))}
        assert res[0]["value"] == b"lwm2m-mpy"
        r = ok(peer.call("raw", ep=ep, path="/3/0", accept="application/senml+json"))
        assert r["ct"] == "application/senml+json"
        recs = json.loads(bytes.fromhex(r["hex"]))
        assert recs[0] == {"bn": "/3/0/", "n": "0", "vs": "lwm2m-mpy"}
        r = ok(peer.call("raw", ep=ep, path="/3303/0", accept="application/senml+cbor"))
        assert r["ct"] == "application/senml+cbor"
        recs = cbor2.loads(bytes.fromhex(r["hex"]))
        assert recs[0][-2] == "/3303/0/" and recs[0][0] == "5700"
        # Write (text), read back; out of range refused with 4.00, unchanged
        ok(peer.call("write", ep=ep, path="/3/0/15", value="Europe/Paris"))
        assert ok(peer.call("read", ep=ep, path="/3/0/15"))["value"] == "Europe/Paris"
        r = peer.call("write", ep=ep, path="/1/0/1", value="0")
        assert not r["ok"] and r["code"] == "4.00", r
        assert ok(peer.call("read", ep=ep, path="/1/0/1"))["value"] == "600"
        # Execute: Registration Update Trigger -> an Update
        n = len(peer.events)
        ok(peer.call("execute", ep=ep, path="/1/0/8"))
        peer.wait_event("update", ep, after=n)
        # Discover: object and instance
        d = ok(peer.call("discover", ep=ep, path="/3/0"))["value"]
        assert "</3/0/0>" in d and "</3/0/11>;dim=1" in d
        assert ok(peer.call("discover", ep=ep, path="/3"))["value"].startswith("</3>;ver=1.1,</3/0>")
        # Write-Attributes, seen in a Discover
        ok(peer.call("attrs", ep=ep, path="/3303/0/5700", attrs={"pmin": 1, "pmax": 60}))
        d = ok(peer.call("discover", ep=ep, path="/3303/0/5700"))["value"]
        assert "pmin=1" in d and "pmax=60" in d
        # De-register on Ctrl-C
        assert c.interrupt() == 0
        peer.wait_event("deregister", ep)
    finally:
        c.kill()


def test_observe_then_cancel(peer, clients):
    ep = "np-obs"
    c = DevClient("coap://127.0.0.1:%d" % peer.port, ep, "--lifetime", "3600", "--app", APP)
    clients.append(c)
    try:
        peer.wait_event("register", ep)
        ok(peer.call("attrs", ep=ep, path="/3303/0/5700", attrs={"pmin": 1}))
        first = ok(peer.call("observe", ep=ep, path="/3303/0/5700"))["value"]
        assert float(first) >= 20.0
        n = len(peer.events)
        peer.wait_event("notify", ep, after=n)
        e = peer.wait_event("notify", ep, after=peer.events.index(peer.wait_event("notify", ep, after=n)) + 1)
        assert float(e["value"]) > float(first)     # the app's ramp
        # cancel: the peer forgets the token and answers the next notification
        # with RST (RFC 7641 §3.6), which ends the observation in the client
        ok(peer.call("cancel", ep=ep, path="/3303/0/5700"))
        seen = peer.count("notify", ep)
        k = len(c.lines)
        time.sleep(2)       # minutes of client time: the ramp goes on
        assert ok(peer.call("read", ep=ep, path="/3/0/0"))["value"] == "lwm2m-mpy"     # still serving
        time.sleep(1)
        assert peer.count("notify", ep) == seen
        assert len([x for x in c.lines[k:] if "notify" in x]) <= 1, c.lines[k:]   # the one RST answered
    finally:
        c.interrupt()


def test_queue_mode(peer, clients):
    # binding UQ, awake window 1 s (real clock): the radio goes off; an
    # application event (host_tests/apps/waker.py, every 3 s) wakes it, the
    # Update goes first, then the peer's request is served and the stored
    # notification follows
    ep = "np-queue"
    c = DevClient("coap://127.0.0.1:%d" % peer.port, ep, "--lifetime", "600", "--binding", "UQ",
                  "--awake", "1", "--app", "host_tests.apps.waker", clock="real")
    clients.append(c)
    try:
        reg = peer.wait_event("register", ep)
        assert reg["b"] == "U"
        ok(peer.call("observe", ep=ep, path="/3303/0/5700"))
        i = c.wait_line("sleep", timeout=15)
        n = len(peer.events)
        up = peer.wait_event("update", ep, after=n, timeout=15)
        assert ok(peer.call("read", ep=ep, path="/3/0/0", timeout=5))["value"] == "lwm2m-mpy"
        peer.wait_event("notify", ep, after=peer.events.index(up), timeout=10)
        assert c.wait_line("wake", after=i) > i
        assert c.wait_line("sleep", after=c.wait_line("wake", after=i)) > i    # and off again
    finally:
        c.interrupt()
