"""Malformed TLV / SenML JSON / SenML CBOR / text write payloads through the
real engine on the device: every one gets 4.00 (or another 4.xx), nothing
crashes, and no partially written value remains. Block1 error cases too."""
import random

import cbor2

from devserver.formats import tlv_resource, tlv_multiple

SEEDS = [
    # (method, path, content format, a valid payload)
    ("POST", "/3303/0", 11542, tlv_resource(5750, "abc")),
    ("PUT", "/3/0", 11542, tlv_resource(14, "+02:00") + tlv_resource(15, "Europe/Berlin")),
    ("PUT", "/19/0/0", 11542, tlv_multiple(0, {0: b"\x01\x02", 1: b"xyz"})),
    ("POST", "/1/0", 11542, tlv_resource(2, 5) + tlv_resource(3, 50)),
    ("IPATCH", "/", 110, b'[{"bn":"/3/0/","n":"15","vs":"CET"},{"n":"14","vs":"+01:00"}]'),
    ("IPATCH", "/", 112, cbor2.dumps([{-2: "/3303/0/", 0: "5750", 3: "x"}, {0: "5750", 3: "y"}])),
    ("PUT", "/1/0/3", 0, b"120"),
    ("PUT", "/3303/0", 110, b'[{"bn":"/3303/0/","n":"5750","vs":"q"}]'),
    ("PUT", "/3303/0", 112, cbor2.dumps([{-2: "/3303/0/", 0: "5750", 3: "q"}])),
]


def mutate(rnd, b):
    b = bytearray(b)
    k = rnd.random()
    if k < 0.4:
        for _ in range(rnd.randint(1, 4)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
    elif k < 0.7:
        b = b[:rnd.randrange(len(b))]
    elif k < 0.85:
        i = rnd.randrange(len(b) + 1)
        b[i:i] = rnd.randbytes(rnd.randint(1, 6))
    else:
        b = bytearray(rnd.randbytes(rnd.randrange(1, 40)))
    return bytes(b)


DEVICE = r"""
import binascii
from boards.virtual import VirtualBoard
from firmware.main import build, options
from client import coap
from client.codes import *
b = VirtualBoard()
c = build(b, options(["--server", "coap://127.0.0.1:9", "--endpoint", "f"]), None)
srv = c.servers[0]
M = {"POST": POST, "PUT": PUT, "IPATCH": IPATCH}

def snap():
    return repr([(k, sorted(o.inst.items())) for k, o in sorted(c.objs.items()) if k != 3]) + repr(
        sorted((k, v) for k, v in c.objs[3].inst[0].items() if k != 13))

def one(meth, path, cf, payload):
    m = coap.Msg(CON, M[meth], 1, b"t")
    for x in path.strip("/").split("/"):
        if x:
            m.add(URI_PATH, x)
    m.add(CONTENT_FORMAT, cf)
    m.payload = payload
    return c.engine.request(coap.parse(coap.build(m)), srv).code

codes = {}
partial = 0
n = 0
for line in open(CASES):
    meth, path, cf, h = line.split()
    cf = int(cf)
    n += 1
    before = snap()
    code = one(meth, path, cf, binascii.unhexlify(h))
    codes[code] = codes.get(code, 0) + 1
    if code >= 128 and snap() != before:
        partial += 1
print(n, partial, sorted(codes.items()))
"""


def cases_file(tmp_path, cases):
    p = tmp_path / "cases.txt"
    p.write_text("".join("%s %s %d %s\n" % (m, pa, c, h or "00") for m, pa, c, h in cases))
    return repr(str(p))


def test_10000_malformed_write_payloads(mp, tmp_path):
    rnd = random.Random(11)
    cases = []
    for i in range(10000):
        meth, path, cf, good = SEEDS[i % len(SEEDS)]
        cases.append((meth, path, cf, mutate(rnd, good).hex()))
    # the valid seeds themselves are accepted
    out = mp(DEVICE.replace("CASES", cases_file(tmp_path, [(m, p, c, g.hex()) for m, p, c, g in SEEDS])))
    n, partial, codes = out.split(" ", 2)
    assert eval(codes) == [(0x44, len(SEEDS))]
    out = mp(DEVICE.replace("CASES", cases_file(tmp_path, cases)), timeout=120)
    n, partial, codes = out.split(" ", 2)
    codes = dict(eval(codes))
    assert int(n) == 10000
    assert int(partial) == 0                 # a rejected write changed nothing
    assert 0xA0 not in codes                 # no internal error: nothing crashed
    assert codes.get(0x80, 0) > 5000         # malformed -> 4.00 Bad Request
    assert set(codes) <= {0x44, 0x80, 0x84, 0x85, 0x8F}


BLOCK = r"""
from boards.virtual import VirtualBoard
from firmware.main import build, options
from client import coap
from client.codes import *
b = VirtualBoard()
c = build(b, options(["--server", "coap://127.0.0.1:9", "--endpoint", "f"]), None)
srv = c.servers[0]

def put(num, more, data, szx=6, size1=None):
    m = coap.Msg(CON, PUT, 1, b"t").add(URI_PATH, "19").add(URI_PATH, "0").add(URI_PATH, "0").add(URI_PATH, "0")
    m.add(CONTENT_FORMAT, 42).add(BLOCK1, (num << 4) | (more << 3) | szx)
    if size1:
        m.add(SIZE1, size1)
    m.payload = data
    r = c.engine.request(coap.parse(coap.build(m)), srv)
    return "%x" % r.code

out = []
out.append(put(1, 1, b"a" * 1024))                  # starts in the middle -> 4.08
out.append(put(0, 1, b"a" * 1024))                  # 2.31 Continue
out.append(put(2, 1, b"a" * 1024))                  # block 1 missing -> 4.08
out.append(repr(c.objs[19].inst[0][0]))             # nothing committed
out.append(put(0, 1, b"x" * 1024, size1=100000))    # announced too large -> 4.13
r = [put(0, 1, b"y" * 1024)] + [put(i, 1, b"y" * 1024) for i in range(1, 26)]
out.append(r[24] + r[25])                           # beyond 24 KB -> 4.13, then gone
out.append(repr(c.objs[19].inst[0][0]))
out.append(put(0, 1, b"z" * 1024) + put(1, 0, b"w" * 10))   # complete: 2.31 then 2.04
out.append(repr(len(c.objs[19].inst[0][0][0])))
print("|".join(out))
"""


def test_block1_errors(mp):
    out = mp(BLOCK).strip().split("|")
    assert out[0] == "88" and out[1] == "5f" and out[2] == "88"
    assert out[3] == "{}"
    assert out[4] == "8d"
    assert out[5] == "8d88" and out[6] == "{}"
    assert out[7] == "5f44" and out[8] == "1034"
