"""End to end against the aiocoap dev server: Observe/Notify and its
cancellations, Send, composite operations, block-wise transfer, Accept."""
import json
import os

import cbor2
import pytest

from devclient import DevClient
from lwm2m_server import Server

TLV, TEXT, OPAQUE, SENML_JSON, SENML_CBOR = 11542, 0, 42, 110, 112


@pytest.fixture
def dev():
    srv = Server(port=0).start()
    c = DevClient("coap://127.0.0.1:%d" % srv.port, "rep", "--lifetime", "600", clock="real")
    srv.wait_registration("rep", timeout=15)
    yield srv, c
    c.interrupt()
    srv.stop()


def test_observe_levels_notify_and_cancel(dev):
    srv, c = dev
    # resource, instance, object and resource instance observations
    o_res = srv.observe("rep", "/3303/0/5750")
    assert o_res.first.code == "2.05" and o_res.first.observe is not None
    o_inst = srv.observe("rep", "/3303/0", accept=TLV)
    o_obj = srv.observe("rep", "/3303", accept=SENML_JSON)
    o_ri = srv.observe("rep", "/3/0/11/0")
    assert o_ri.first.code == "2.05" and o_ri.first.payload == b"0"
    assert srv.write("rep", "/3303/0/5750", b"kitchen", TEXT).code == "2.04"
    n = o_res.wait(1)
    assert n[-1].payload == b"kitchen" and n[-1].observe > o_res.first.observe
    assert b"kitchen" in o_inst.wait(1)[-1].payload
    assert o_inst.notifications[-1].content_format == TLV        # Accept honoured
    recs = json.loads(o_obj.wait(1)[-1].payload)
    assert any(r.get("vs") == "kitchen" for r in recs)
    # cancel with GET Observe=1: 2.05 without Observe, no more notifications
    r = o_res.cancel()
    assert r.code == "2.05" and r.observe is None
    # cancel by RST in reply to the next notification
    o_inst.cancel_rst()
    srv.write("rep", "/3303/0/5750", b"hall", TEXT)
    o_obj.wait(2)
    srv.write("rep", "/3303/0/5750", b"attic", TEXT)
    o_obj.wait(3)
    assert len(o_res.notifications) == 1
    # the next notification was answered with RST (the server keeps it out of
    # the list), and the client sent none after it
    assert len(o_inst.notifications) == 1
    assert any(e["kind"] == "notify-rst" for e in srv.events)


def test_send_queued_then_periodic():
    with Server(port=0) as srv:
        c = DevClient("coap://127.0.0.1:%d" % srv.port, "snd", "--lifetime", "600",
                      "--app", "host_tests.apps.sensorapp")
        try:
            srv.wait_registration("snd")
            ev = srv.wait_event("send", "snd", timeout=15)
            srv.wait_event("send", "snd", after=ev["i"], timeout=15)    # the periodic one
            assert len(srv.sends) >= 2
            payload, ct = srv.sends[0]
            assert ct == SENML_CBOR
            recs = cbor2.loads(payload)
            names = []
            bn = ""
            for r in recs:
                bn = r.get(-2, bn)
                names.append(bn + r.get(0, ""))
            assert "/3303/0/5700" in names and "/3/0/0" in names
            # the first Send was issued before registration: it went out after it
            i_reg = [e["i"] for e in srv.events if e["kind"] == "register"][0]
            assert ev["i"] > i_reg
            # the application's readings reach observers too
            o = srv.observe("snd", "/3303/0/5700")
            n = o.wait(1, timeout=15)
            assert float(n[-1].payload) > 20.0
        finally:
            c.interrupt()


def test_read_write_composite_and_observe_composite(dev):
    srv, c = dev
    req = json.dumps([{"n": "/3/0/0"}, {"n": "/3303/0/5750"}, {"n": "/1/0/1"}]).encode()
    r = srv.request("rep", "FETCH", "/", payload=req, ct=SENML_JSON, accept=SENML_JSON)
    assert r.code == "2.05" and r.content_format == SENML_JSON
    recs = json.loads(r.payload)
    vals = {}
    bn = ""
    for x in recs:
        bn = x.get("bn", bn)
        vals[bn + x.get("n", "")] = x.get("vs", x.get("v"))
    assert vals["/3/0/0"] == "lwm2m-mpy" and vals["/1/0/1"] == 600
    # Write-Composite in SenML CBOR (labels: bn=-2, n=0, v=2, vs=3)
    body = cbor2.dumps([{-2: "/3303/0/", 0: "5750", 3: "garage"}, {-2: "/3/0/", 0: "15", 3: "CET"}])
    r = srv.request("rep", "IPATCH", "/", payload=body, ct=SENML_CBOR)
    assert r.code == "2.04"
    assert srv.read("rep", "/3303/0/5750").payload == b"garage"
    assert srv.read("rep", "/3/0/15").payload == b"CET"
    # a composite write with one bad entry writes nothing
    body = cbor2.dumps([{0: "/3303/0/5750", 3: "no"}, {0: "/3/0/0", 3: "ro"}])
    assert srv.request("rep", "IPATCH", "/", payload=body, ct=SENML_CBOR).code == "4.05"
    assert srv.read("rep", "/3303/0/5750").payload == b"garage"
    # Observe-Composite
    o = srv.observe("rep", "/", method="FETCH", payload=req, ct=SENML_JSON, accept=SENML_JSON)
    assert o.first.code == "2.05" and o.first.observe is not None
    srv.write("rep", "/3303/0/5750", b"loft", TEXT)
    n = o.wait(1)
    assert b"loft" in n[-1].payload and b"lwm2m-mpy" in n[-1].payload
    r = srv.request("rep", "FETCH", "/", payload=req, ct=SENML_JSON, accept=SENML_JSON, observe=1)
    assert r.code == "2.05"


def test_blockwise_20kb_write_and_read(dev):
    srv, c = dev
    data = os.urandom(20000)
    r = srv.write("rep", "/19/0/0/0", data, OPAQUE)       # Block1 (aiocoap splits it)
    assert r.code == "2.04"
    r = srv.read("rep", "/19/0/0/0", accept=OPAQUE)      # Block2 (aiocoap reassembles)
    assert r.code == "2.05" and r.payload == data
    # and as part of a TLV read of the instance (Block2 over a generated body)
    r = srv.read("rep", "/19/0", accept=TLV)
    assert r.code == "2.05" and data in r.payload
    assert "error" not in c.output()
