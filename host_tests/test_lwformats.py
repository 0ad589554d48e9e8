"""LwM2M CBOR (11544) and OMA LwM2M JSON (11543): client/lwcbor.py and
client/lwjson.py on the MicroPython unix port, checked against independent
codecs (PyPI cbor2, CPython json) both ways, against hand-checked examples
of the layout the LwM2M 1.1/1.2 Core specification describes, and end to
end through the dev server."""
import base64
import json

import cbor2
import pytest

LWCBOR, LWJSON = 11544, 11543

DEVICE = r'''
import json, binascii
from client import lwcbor, lwjson
from client.codes import *
T = {0: STR, 1: STR, 2: STR, 3: STR, 4: NONE, 6: INT, 7: INT, 9: INT, 11: INT,
     13: TIME, 14: STR, 16: STR, 20: FLOAT, 21: BOOL, 22: OPAQUE, 23: OBJLNK, 24: UINT}
def typeof(p):
    if p[0] in (3, 9) and p[2] in T:
        return T[p[2]]
    raise CoapError(NOT_FOUND)
def pic(v):
    if type(v) is bytes:
        return ["b", binascii.hexlify(v).decode()]
    if type(v) is tuple:
        return ["o", list(v)]
    return v
def dec(mod, hexpayload, base):
    try:
        return [[list(p), pic(v)] for p, v in mod.dec(binascii.unhexlify(hexpayload), tuple(base), typeof)]
    except CoapError as e:
        return ["E", e.code]
'''

RECS = r'''
recs = [((3, 0, 0), STR, "Open Mobile Alliance"), ((3, 0, 6, 0), INT, 1), ((3, 0, 6, 1), INT, 5),
        ((3, 0, 9), INT, 95), ((3, 0, 13), TIME, 2200000000), ((3, 0, 20), FLOAT, 21.5),
        ((3, 0, 21), BOOL, True), ((3, 0, 22), OPAQUE, b"\x00\xff"), ((3, 0, 23), OBJLNK, (3303, 1)),
        ((3, 0, 24), UINT, 1 << 40), ((3, 0, 4), NONE, None)]
'''


def run(mp, body):
    return json.loads(mp(DEVICE + body).strip().splitlines()[-1])


def test_lwcbor_encode_read_of_an_instance(mp):
    out = run(mp, RECS + "print(json.dumps(binascii.hexlify(lwcbor.enc(recs, (3, 0))).decode()))")
    raw = bytes.fromhex(out)
    # a chain of single children becomes one array key: {[3, 0]: {...}}
    v = cbor2.loads(raw)
    assert list(v) == [(3, 0)] or list(v) == [[3, 0]] or isinstance(list(v)[0], (list, tuple))
    inner = list(v.values())[0]
    assert inner[0] == "Open Mobile Alliance" and inner[9] == 95 and inner[6] == {0: 1, 1: 5}
    assert inner[13] == cbor2.CBORTag(1, 2200000000) or inner[13].timestamp() == 2200000000
    assert inner[20] == 21.5 and inner[21] is True and inner[22] == b"\x00\xff"
    assert inner[23] == "3303:1" and inner[24] == 1 << 40 and 4 not in inner
    # hand-checked: a single resource /3/0/9 = 95 is {[3, 0, 9]: 95}
    one = run(mp, "print(json.dumps(binascii.hexlify(lwcbor.enc([((3, 0, 9), INT, 95)], (3, 0, 9))).decode()))")
    assert bytes.fromhex(one) == bytes.fromhex("a1 83 03 00 09 18 5f".replace(" ", ""))


def test_lwcbor_decode_independent_vectors(mp):
    cases = [
        # nested maps, one level per key
        ({3: {0: {0: "maker", 9: 7, 6: {0: 1, 1: 5}}}}, (3, 0),
         [[[3, 0, 0], "maker"], [[3, 0, 9], 7], [[3, 0, 6, 0], 1], [[3, 0, 6, 1], 5]]),
        # array keys for several levels, mixed with single ids
        ({(3, 0): {9: 7, (6, 2): 4}}, (3, 0), [[[3, 0, 9], 7], [[3, 0, 6, 2], 4]]),
        ({(3, 0, 13): cbor2.CBORTag(1, 2200000000)}, (3, 0, 13), [[[3, 0, 13], 2200000000]]),
        ({(3, 0, 20): 1.5, (3, 0, 21): False, (3, 0, 22): b"\x01", (3, 0, 23): "3:0"}, (3, 0),
         [[[3, 0, 20], 1.5], [[3, 0, 21], False], [[3, 0, 22], ["b", "01"]], [[3, 0, 23], ["o", [3, 0]]]]),
    ]
    body = ""
    for v, base, _ in cases:
        body += "print(json.dumps(dec(lwcbor, %r, %r)))\n" % (cbor2.dumps(v).hex(), list(base))
    got = [sorted(json.loads(x)) for x in mp(DEVICE + body).strip().splitlines()]
    assert got == [sorted(c[2]) for c in cases]


@pytest.mark.parametrize("v,base", [
    ({3: {0: {0: 5}}}, (3, 0)),             # a number for a string resource
    ({3: {0: {9: "x"}}}, (3, 0)),           # a string for an integer
    ({3: {0: {9: 1.5}}}, (3, 0)),           # a float for an integer
    ({3: {1: {9: 1}}}, (3, 0)),             # outside the request path
    ({3: {0: 9}}, (3, 0)),                  # a value above the resource level
    ({"3": {0: {9: 1}}}, (3, 0)),           # a text key
    ({3: {0: {70000: 1}}}, (3, 0)),         # an id over 65535
    ([1, 2], (3, 0)),                       # not a map
])
def test_lwcbor_decode_refuses(mp, v, base):
    out = run(mp, "print(json.dumps(dec(lwcbor, %r, %r)))" % (cbor2.dumps(v).hex(), list(base)))
    assert out == ["E", 0x80]


def test_lwcbor_deep_nesting_is_400(mp):
    deep = b"\xa1\x00" * 10000 + b"\x01"
    out = run(mp, "print(json.dumps(dec(lwcbor, %r, [3, 0])))" % deep.hex())
    assert out == ["E", 0x80]


def test_lwjson_encode(mp):
    out = run(mp, RECS + "print(json.dumps(lwjson.enc(recs, (3, 0)).decode()))")
    v = json.loads(out)
    assert v["bn"] == "/3/0/"
    e = {x["n"]: x for x in v["e"]}
    assert e["0"] == {"n": "0", "sv": "Open Mobile Alliance"}
    assert e["6/0"]["v"] == 1 and e["6/1"]["v"] == 5 and e["9"]["v"] == 95
    assert e["13"]["v"] == 2200000000 and e["20"]["v"] == 21.5 and e["21"]["bv"] is True
    assert base64.b64decode(e["22"]["sv"]) == b"\x00\xff" and e["23"]["ov"] == "3303:1"
    assert e["24"]["v"] == 1 << 40 and "4" not in e
    # hand-checked single resource
    one = run(mp, "print(json.dumps(lwjson.enc([((3, 0, 9), INT, 95)], (3, 0, 9)).decode()))")
    assert json.loads(one) == {"bn": "/3/0/9/", "e": [{"v": 95}]} or json.loads(one) == {"bn": "/3/0/9/", "e": [{"v": 95}]}


def test_lwjson_decode_vectors(mp):
    cases = [
        ({"bn": "/3/0/", "e": [{"n": "0", "sv": "maker"}, {"n": "9", "v": 7}, {"n": "6/1", "v": 5}]}, (3, 0),
         [[[3, 0, 0], "maker"], [[3, 0, 9], 7], [[3, 0, 6, 1], 5]]),
        ({"e": [{"n": "/3/0/21", "bv": True}, {"n": "/3/0/23", "ov": "1:2"}]}, (3, 0),
         [[[3, 0, 21], True], [[3, 0, 23], ["o", [1, 2]]]]),
        ({"bn": "/3/0/22", "e": [{"sv": base64.b64encode(b"\x05\x06").decode()}]}, (3, 0, 22),
         [[[3, 0, 22], ["b", "0506"]]]),
        ({"bn": "/3/0/", "e": [{"n": "9", "v": "x"}]}, (3, 0), ["E", 0x80]),
        ({"bn": "/3/1/", "e": [{"n": "9", "v": 1}]}, (3, 0), ["E", 0x80]),
        ({"bn": "/3/0/", "e": [{"n": "9", "v": 1.5}]}, (3, 0), ["E", 0x80]),
    ]
    body = ""
    for v, base, _ in cases:
        body += "print(json.dumps(dec(lwjson, %r, %r)))\n" % (json.dumps(v).encode().hex(), list(base))
    body += "print(json.dumps(dec(lwjson, %r, [3, 0])))\n" % (b"[" * 10000 + b"]" * 10000).hex()
    body += "print(json.dumps(dec(lwjson, %r, [3, 0])))\n" % b"\xff\xfe".hex()
    got = [json.loads(x) for x in mp(DEVICE + body).strip().splitlines()]
    assert got == [c[2] for c in cases] + [["E", 0x80], ["E", 0x80]]


@pytest.fixture(scope="module")
def dev():
    from lwm2m_server import Server
    from devclient import DevClient
    srv = Server(port=0).start()
    c = DevClient("coap://127.0.0.1:%d" % srv.port, "lwfmt", "--lifetime", "600", clock="real")
    srv.wait_registration("lwfmt", timeout=15)
    yield srv, c
    c.interrupt()
    srv.stop()


def test_e2e_lwcbor_read_write(dev):
    srv, c = dev
    r = srv.read("lwfmt", "/3/0", accept=LWCBOR)
    assert r.code == "2.05" and r.content_format == LWCBOR
    v = cbor2.loads(r.payload)
    inner = v[(3, 0)] if (3, 0) in v else v[3][0]
    assert inner[0] == "lwm2m-mpy"
    r = srv.write("lwfmt", "/3/0", cbor2.dumps({3: {0: {15: "Europe/Oslo"}}}), LWCBOR, partial=True)
    assert r.code == "2.04"
    assert srv.read("lwfmt", "/3/0/15").payload == b"Europe/Oslo"
    r = srv.write("lwfmt", "/3/0", cbor2.dumps({3: {0: {15: 5}}}), LWCBOR, partial=True)
    assert r.code == "4.00"


def test_e2e_lwjson_read_write(dev):
    srv, c = dev
    r = srv.read("lwfmt", "/3/0", accept=LWJSON)
    assert r.code == "2.05" and r.content_format == LWJSON
    v = json.loads(r.payload)
    assert v["bn"] == "/3/0/" and {"n": "0", "sv": "lwm2m-mpy"} in v["e"]
    doc = {"bn": "/3/0/", "e": [{"n": "15", "sv": "Europe/Rome"}]}
    r = srv.write("lwfmt", "/3/0", json.dumps(doc).encode(), LWJSON, partial=True)
    assert r.code == "2.04"
    assert srv.read("lwfmt", "/3/0/15").payload == b"Europe/Rome"
