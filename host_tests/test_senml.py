"""client/senml.py (SenML JSON 110 / SenML CBOR 112) on the MicroPython unix port."""
import base64
import json
import random

import cbor2
import pytest

JSON, CBOR = 110, 112
# RFC 8428 CBOR labels
LBL = {-2: "bn", -3: "bt", 0: "n", 2: "v", 3: "vs", 4: "vb", 8: "vd", 6: "t"}

# Shared by host and device: an exact, JSON-able picture of a decoded value.
TV = r'''
import struct, binascii
def tv(v):
    t = type(v)
    if t is bytes:
        return ["b", binascii.hexlify(v).decode()]
    if t is tuple:
        return ["o", list(v)]
    if t is float:
        return ["f", binascii.hexlify(struct.pack(">d", v)).decode()]
    if t is int:
        return ["i", str(v)]
    if t is str:
        return ["s", binascii.hexlify(v.encode()).decode()]
    return v
'''
exec(TV)

# Device: an object 9999 whose resource r has type TYPES[r % 10], and the
# Device object's types for object 3.
DEVICE = TV + r'''
import json
from client import senml
from client.codes import *
TYPES = (NONE, STR, INT, UINT, FLOAT, BOOL, OPAQUE, TIME, OBJLNK, CORELNK)
DEV = {0: STR, 1: STR, 2: STR, 3: STR, 4: NONE, 6: INT, 7: INT, 9: INT, 11: INT,
       13: TIME, 14: STR, 16: STR}
def typeof(p):
    if p[0] == 9999:
        return TYPES[p[2] % 10]
    if p[0] == 3 and p[2] in DEV:
        return DEV[p[2]]
    raise CoapError(NOT_FOUND)
def total(p):
    # never fails: the fuzz must see only the decoder's own errors
    return TYPES[p[2] % 10]
def run(f):
    try:
        return f()
    except CoapError as e:
        return ["E", e.code]
    except Exception as e:
        return ["X", type(e).__name__ + ": " + str(e)]
'''

DECODE = DEVICE + r'''
for line in open("@FILE@"):
    fmt, base, what, h = line.split()
    b = binascii.unhexlify(h.strip("-"))  # "-": empty
    base = tuple(int(x) for x in base.strip("-").split(",") if x)
    if what != "paths":
        t = typeof if what == "dec" else total
        r = run(lambda: [[list(p), tv(v)] for p, v in senml.dec(b, base, t, int(fmt))])
    else:
        r = run(lambda: [list(p) for p in senml.dec_paths(b, int(fmt))])
    print(json.dumps(r))
'''


def dev_run(mp, tmp_path, cases):
    """cases: (fmt, base, 'dec'|'paths', payload) -> device results."""
    f = tmp_path / "cases.txt"
    f.write_text("".join("%d %s %s %s\n" % (fmt, ",".join(map(str, base)) or "-", what,
                                            p.hex() or "-")
                         for fmt, base, what, p in cases))
    out = mp(DECODE.replace("@FILE@", str(f))).splitlines()
    assert len(out) == len(cases)
    return [json.loads(x) for x in out]


def dev_enc(mp, code):
    """Run encoder calls on the device: code prints one hex payload a line."""
    out = mp(DEVICE + "\nh = lambda b: print(binascii.hexlify(b).decode())\n" + code)
    return [bytes.fromhex(x) for x in out.split()]


def names(recs):
    """Resolve SenML names (bn + n, bn sticky) of decoded records."""
    bn, out = "", []
    for r in recs:
        r = {LBL.get(k, k): v for k, v in r.items()}
        bn = r.get("bn", bn)
        out.append(bn + r.get("n", ""))
    return out


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


# Device object instance /3/0 (LwM2M 1.1 core spec example values), plus an
# executable resource without value
DEV_RECS = r'''
R = [((3, 0, 0), STR, "Open Mobile Alliance"), ((3, 0, 1), STR, "Lightweight M2M Client"),
     ((3, 0, 2), STR, "345000123"), ((3, 0, 3), STR, "1.0"), ((3, 0, 4), NONE, None),
     ((3, 0, 6, 0), INT, 1), ((3, 0, 6, 1), INT, 5), ((3, 0, 7, 0), INT, 3800),
     ((3, 0, 7, 1), INT, 5000), ((3, 0, 9), INT, 100), ((3, 0, 11, 0), INT, 0),
     ((3, 0, 13), TIME, 1367491215), ((3, 0, 14), STR, "+02:00"), ((3, 0, 16), STR, "U")]
'''
DEV_JSON = [
    {"bn": "/3/0/", "n": "0", "vs": "Open Mobile Alliance"},
    {"n": "1", "vs": "Lightweight M2M Client"}, {"n": "2", "vs": "345000123"},
    {"n": "3", "vs": "1.0"}, {"n": "4"}, {"n": "6/0", "v": 1}, {"n": "6/1", "v": 5},
    {"n": "7/0", "v": 3800}, {"n": "7/1", "v": 5000}, {"n": "9", "v": 100},
    {"n": "11/0", "v": 0}, {"n": "13", "v": 1367491215}, {"n": "14", "vs": "+02:00"},
    {"n": "16", "vs": "U"}]
CB = {v: k for k, v in LBL.items()}


def as_cbor(recs):
    return [{CB.get(k, k): v for k, v in r.items()} for r in recs]


def test_encode_device_object(mp):
    j, c = dev_enc(mp, DEV_RECS + "h(senml.enc(R, (3, 0), 110))\nh(senml.enc(R, (3, 0), 112))\n")
    # compact JSON, labels in order, "bn" only once
    assert j == json.dumps(DEV_JSON, separators=(",", ":")).encode()
    assert cbor2.loads(c) == as_cbor(DEV_JSON)
    assert names(json.loads(j))[:2] == ["/3/0/0", "/3/0/1"]
    assert names(cbor2.loads(c))[5:7] == ["/3/0/6/0", "/3/0/6/1"]
    assert len(c) < len(j) * 0.7


def test_encode_levels(mp):
    out = dev_enc(mp, r'''
S = [((3, 0, 0), STR, "x")]
M = [((3, 0, 7, 0), INT, 3800), ((3, 0, 7, 1), INT, 5000)]
O = [((3, 0, 0), STR, "x"), ((3, 1, 0), STR, "y")]
C = [((3, 0, 0), STR, "x"), ((1, 0, 1), UINT, 300)]
for fmt in (110, 112):
    h(senml.enc(S, (3, 0, 0), fmt))
    h(senml.enc(M, (3, 0, 7), fmt))
    h(senml.enc(M[1:], (3, 0, 7, 1), fmt))
    h(senml.enc(O, (3,), fmt))
    h(senml.enc(C, (), fmt))
    h(senml.enc([], (3, 0), fmt))
''')
    exp = [
        [{"bn": "/3/0/0", "vs": "x"}],
        [{"bn": "/3/0/7/", "n": "0", "v": 3800}, {"n": "1", "v": 5000}],
        [{"bn": "/3/0/7/1", "v": 5000}],
        [{"bn": "/3/", "n": "0/0", "vs": "x"}, {"n": "1/0", "vs": "y"}],
        [{"bn": "/", "n": "3/0/0", "vs": "x"}, {"n": "1/0/1", "v": 300}],
        [],
    ]
    for got, e in zip(out[:6], exp):
        assert json.loads(got) == e
    for got, e in zip(out[6:], exp):
        assert cbor2.loads(got) == as_cbor(e)


def test_encode_value_types(mp):
    out = dev_enc(mp, r'''
R = [((9999, 0, 1), STR, "a\"b\\c\n\u00e9\u6c34"), ((9999, 0, 2), INT, -9223372036854775808),
     ((9999, 0, 3), UINT, 18446744073709551615), ((9999, 0, 4), FLOAT, 21.5),
     ((9999, 0, 14), FLOAT, 0.1), ((9999, 0, 24), FLOAT, -3), ((9999, 0, 5), BOOL, True),
     ((9999, 0, 15), BOOL, False), ((9999, 0, 6), OPAQUE, b"\xfb\xff\x00"),
     ((9999, 0, 16), OPAQUE, b""), ((9999, 0, 26), OPAQUE, b"\xfb\xff"),
     ((9999, 0, 7), TIME, 1700000000), ((9999, 0, 8), OBJLNK, (3, 0)),
     ((9999, 0, 18), OBJLNK, (65535, 65535)), ((9999, 0, 9), CORELNK, "</3/0>,</1/0>"),
     ((9999, 0, 10), NONE, None), ((9999, 0, 12, 3), INT, 7)]
h(senml.enc(R, (9999, 0), 110))
h(senml.enc(R, (9999, 0), 112))
''')
    vals = [("vs", "a\"b\\c\n\u00e9\u6c34"), ("v", -2**63), ("v", 2**64 - 1), ("v", 21.5),
            ("v", 0.1), ("v", -3), ("vb", True), ("vb", False), ("vd", b"\xfb\xff\x00"),
            ("vd", b""), ("vd", b"\xfb\xff"), ("v", 1700000000), ("vlo", "3:0"),
            ("vlo", "65535:65535"), ("vs", "</3/0>,</1/0>"), None, ("v", 7)]
    rids = ["1", "2", "3", "4", "14", "24", "5", "15", "6", "16", "26", "7", "8", "18", "9",
            "10", "12/3"]
    exp = []
    for n, kv in zip(rids, vals):
        r = {"n": n}
        if kv:
            r[kv[0]] = kv[1]
        exp.append(r)
    exp[0] = dict(bn="/9999/0/", **exp[0])
    # JSON: opaque in base64url without padding
    ej = [dict(r, vd=b64url(r["vd"])) if "vd" in r else r for r in exp]
    assert json.loads(out[0]) == ej
    assert b"=" not in out[0] and b" " not in out[0].replace(b"\\n", b"")
    assert '"vd":"-_8A"' in out[0].decode() and '"vd":"-_8"' in out[0].decode()
    got = cbor2.loads(out[1])
    assert got == as_cbor(exp)
    # floats: shortest exact width
    assert b"\x02\xf9\x4d\x60" in out[1] and b"\x02\xfb\x3f\xb9\x99" in out[1]


def test_enc_send(mp):
    out = dev_enc(mp, r'''
A = [((3303, 0, 5700), FLOAT, 21.5), ((3303, 1, 5700), FLOAT, 22.0)]
B = [((3303, 0, 5700), FLOAT, 21.5)]
C = [((3, 0, 0), STR, "x"), ((1, 0, 1), UINT, 300)]
for fmt in (110, 112):
    h(senml.enc_send(A, fmt, 1700000000))
    h(senml.enc_send(B, fmt))
    h(senml.enc_send(C, fmt))
    h(senml.enc_send([], fmt))
''')
    exp = [
        [{"bn": "/3303/", "bt": 1700000000, "n": "0/5700", "v": 21.5}, {"n": "1/5700", "v": 22.0}],
        [{"bn": "/3303/0/5700", "v": 21.5}],
        [{"bn": "/", "n": "3/0/0", "vs": "x"}, {"n": "1/0/1", "v": 300}],
        [],
    ]
    for got, e in zip(out[:4], exp):
        assert json.loads(got) == e
    for got, e in zip(out[4:], exp):
        assert cbor2.loads(got) == as_cbor(e)
    assert names(json.loads(out[0])) == ["/3303/0/5700", "/3303/1/5700"]


def P(v):
    # expected device picture of a path/value list
    return [[list(p), tv(x)] for p, x in v]


W = (9999, 0)
GOOD = [
    # (base, records as text-label dicts, expected [(path, value)])
    (W, [{"bn": "/9999/0/", "n": "1", "vs": "hi \u00e9"}, {"n": "2", "v": -5},
         {"n": "3", "v": 2**64 - 1}, {"n": "4", "v": 21.5}, {"n": "5", "vb": True},
         {"n": "6", "vd": b"\xfb\xff\x00"}, {"n": "7", "v": 1700000000}, {"n": "8", "vlo": "3:0"},
         {"n": "9", "vs": "</3/0>"}, {"n": "12/0", "v": 1}, {"n": "12/1", "v": -2**63}],
     [((9999, 0, 1), "hi \u00e9"), ((9999, 0, 2), -5), ((9999, 0, 3), 2**64 - 1),
      ((9999, 0, 4), 21.5), ((9999, 0, 5), True), ((9999, 0, 6), b"\xfb\xff\x00"),
      ((9999, 0, 7), 1700000000), ((9999, 0, 8), (3, 0)), ((9999, 0, 9), "</3/0>"),
      ((9999, 0, 12, 0), 1), ((9999, 0, 12, 1), -2**63)]),
    # integral float for an int, int for a float, empty opaque, null link
    (W, [{"n": "/9999/0/2", "v": 5.0}, {"n": "/9999/0/4", "v": 3}, {"n": "/9999/0/16", "vd": b""},
         {"n": "/9999/0/18", "vlo": "65535:65535"}, {"n": "/9999/0/15", "vb": False}],
     [((9999, 0, 2), 5), ((9999, 0, 4), 3.0), ((9999, 0, 16), b""), ((9999, 0, 18), (65535, 65535)),
      ((9999, 0, 15), False)]),
    # bn is sticky until changed; bn alone names the record; bn + "/x" works
    ((), [{"bn": "/9999/0/", "n": "1", "vs": "a"}, {"n": "11", "vs": "b"},
          {"bn": "/9999/1/", "n": "1", "vs": "c"}, {"n": "21", "vs": "d"},
          {"bn": "/9999/2/1", "vs": "e"}, {"bn": "/9999/2", "n": "/11", "vs": "f"},
          {"bn": "", "n": "/3/0/0", "vs": "g"}],
     [((9999, 0, 1), "a"), ((9999, 0, 11), "b"), ((9999, 1, 1), "c"), ((9999, 1, 21), "d"),
      ((9999, 2, 1), "e"), ((9999, 2, 11), "f"), ((3, 0, 0), "g")]),
    # names without value (also above resource level), other labels ignored
    ((), [{"n": "/9999/0/1"}, {"n": "/9999/0"}, {"n": "/9999"}, {"n": "/3/0/7/1", "t": 5},
          {"bver": 10, "bt": 1, "u": "Cel", "n": "/9999/0/2", "v": 7}],
     [((9999, 0, 1), None), ((9999, 0), None), ((9999,), None), ((3, 0, 7, 1), None),
      ((9999, 0, 2), 7)]),
    ((), [], []),
    ((3, 0, 7), [{"bn": "/3/0/7/", "n": "0", "v": 3800}, {"n": "1", "v": 5000}],
     [((3, 0, 7, 0), 3800), ((3, 0, 7, 1), 5000)]),
    ((3, 0, 0), [{"bn": "/3/0/0", "vs": "x"}], [((3, 0, 0), "x")]),
]

BAD = [
    # (base, records, error code)
    (W, [{"n": "/a/0/1", "vs": "x"}], 0x80),
    (W, [{"n": "9999/0/1", "vs": "x"}], 0x80),
    (W, [{"n": "/9999/0/1/", "vs": "x"}], 0x80),
    (W, [{"n": "/9999/0/1/2/3", "vs": "x"}], 0x80),
    (W, [{"n": "/9999//1", "vs": "x"}], 0x80),
    (W, [{"n": "/9999/0/+1", "vs": "x"}], 0x80),
    (W, [{"n": "/9999/0/ 1", "vs": "x"}], 0x80),
    (W, [{"n": "/9999/0/-1", "vs": "x"}], 0x80),
    (W, [{"n": "/9999/0/1.0", "vs": "x"}], 0x80),
    (W, [{"n": "/9999/0/65536", "vs": "x"}], 0x80),
    (W, [{"n": "/", "vs": "x"}], 0x80),
    (W, [{"vs": "x"}], 0x80),
    (W, [{"bn": "/9999/0/", "vs": "x"}], 0x80),
    (W, [{"n": 1, "vs": "x"}], 0x80),
    (W, [{"bn": 5, "n": "1", "vs": "x"}], 0x80),
    (W, [{"n": "/9999/1/1", "vs": "x"}], 0x80),       # outside the request path
    (W, [{"n": "/9999/0", "v": 1}], 0x80),            # value above resource level
    (W, [{"n": "/9999/0/1", "v": 1}], 0x80),          # string resource, number
    (W, [{"n": "/9999/0/2", "vs": "1"}], 0x80),
    (W, [{"n": "/9999/0/2", "v": 5.5}], 0x80),
    (W, [{"n": "/9999/0/2", "v": True}], 0x80),
    (W, [{"n": "/9999/0/2", "v": 2**63}], 0x80),
    (W, [{"n": "/9999/0/2", "v": -2**63 - 1}], 0x80),
    (W, [{"n": "/9999/0/3", "v": -1}], 0x80),
    (W, [{"n": "/9999/0/3", "v": 2**64}], 0x80),
    (W, [{"n": "/9999/0/4", "vs": "1.5"}], 0x80),
    (W, [{"n": "/9999/0/4", "v": False}], 0x80),
    (W, [{"n": "/9999/0/5", "v": 1}], 0x80),
    (W, [{"n": "/9999/0/5", "vb": 1}], 0x80),
    (W, [{"n": "/9999/0/7", "v": 1.5}], 0x80),
    (W, [{"n": "/9999/0/8", "vlo": "3"}], 0x80),
    (W, [{"n": "/9999/0/8", "vlo": "3:0:1"}], 0x80),
    (W, [{"n": "/9999/0/8", "vlo": "a:b"}], 0x80),
    (W, [{"n": "/9999/0/8", "vlo": "3:65536"}], 0x80),
    (W, [{"n": "/9999/0/8", "vlo": "3/0"}], 0x80),
    (W, [{"n": "/9999/0/8", "vlo": 3}], 0x80),
    (W, [{"n": "/9999/0/9", "vs": 9}], 0x80),
    (W, [{"n": "/9999/0/10", "v": 1}], 0x80),         # executable: no value
    (W, [{"n": "/9999/0/1", "vs": "x", "x_": 1}], 0x80),  # must-understand label
    (W, [{"n": "/9999/0/6", "vd": 5}], 0x80),
    ((), [{"n": "/3/0/5", "v": 1}], 0x84),            # typeof's own error passes
]
# payloads that are not SenML at all
RAW_BAD = {
    JSON: [b"", b"{", b"[", b"{}", b"[1]", b"[[]]", b'["n"]', b'{"n":"/1"}', b"null", b"1",
           b'[{"n":"/9999/0/1","vs":"x"}] x', b'[{"n":"/9999/0/1","vs":"\xff"}]',
           b'[{"n":"/9999/0/1","vs":"\xed\xa0\x80"}]', b'[{"n":"/9999/0/1","vs":"\xc0\x80"}]',
           b'[{"n":"/9999/0/6","vd":"-_9"}]', b'[{"n":"/9999/0/6","vd":"!!!!"}]',
           b'[{"n":"/9999/0/6","vd":"a"}]', b'[{"n":"/9999/0/6","vd":"YW I"}]',
           b'[{"n":"/9999/0/6","vd":"YWI+"}]'],
    CBOR: [b"", b"\xa0", b"\x81\x01", b"\x81\x80", b"\x81\xa1\x00\x61", b"\xf6", b"\x80\x00",
           cbor2.dumps([{0: "/9999/0/6", 8: "AA"}]), cbor2.dumps([{0: b"/9999/0/1", 3: "x"}]),
           cbor2.dumps([{-2: "/9999/0/", 0: 1, 3: "x"}])],
}


def payload(fmt, recs):
    if fmt == JSON:
        return json.dumps([{k: (b64url(v) if k == "vd" and isinstance(v, bytes) else v)
                            for k, v in r.items()} for r in recs]).encode()
    return cbor2.dumps(as_cbor(recs))


def test_decode(mp, tmp_path):
    cases, exp = [], []
    for fmt in (JSON, CBOR):
        for base, recs, res in GOOD:
            cases.append((fmt, base, "dec", payload(fmt, recs)))
            exp.append(P(res))
        for base, recs, code in BAD:
            cases.append((fmt, base, "dec", payload(fmt, recs)))
            exp.append(["E", code])
        for p in RAW_BAD[fmt]:
            cases.append((fmt, W, "dec", p))
            exp.append(["E", 0x80])
    # CBOR: floats of every width, indefinite lengths, text labels, padded
    # base64 in JSON
    extra = [
        (CBOR, cbor2.dumps([{0: "/9999/0/4", 2: 1.5}], canonical=True), [((9999, 0, 4), 1.5)]),
        (CBOR, bytes.fromhex("81a200692f393939392f302f3402fa3fc00000"), [((9999, 0, 4), 1.5)]),
        (CBOR, bytes.fromhex("9fbf00692f393939392f302f3202f93c00ffff"), [((9999, 0, 2), 1)]),
        (CBOR, bytes.fromhex("81a2006a2f393939392f302f3136085f4101420203ff"),
         [((9999, 0, 16), b"\x01\x02\x03")]),
        (CBOR, cbor2.dumps([{"bn": "/9999/0/", "n": "1", "vs": "x"}]), [((9999, 0, 1), "x")]),
        (JSON, b'[{"n":"/9999/0/6","vd":"YWI="}, {"n":"/9999/0/16","vd":"-_8"}]',
         [((9999, 0, 6), b"ab"), ((9999, 0, 16), b"\xfb\xff")]),
        (JSON, b' [ {"n" : "/9999/0/4", "v" : 1e2} ] ', [((9999, 0, 4), 100.0)]),
    ]
    for fmt, p, res in extra:
        cases.append((fmt, W, "dec", p))
        exp.append(P(res))
    got = dev_run(mp, tmp_path, cases)
    for c, g, e in zip(cases, got, exp):
        assert g == e, (c, g)


def test_dec_paths(mp, tmp_path):
    recs = [{"bn": "/3/0/", "n": "0"}, {"n": "7/1"}, {"bn": "", "n": "/1"}, {"n": "/9999/0"},
            {"n": "/5/0/1", "v": 3}]
    exp = [[3, 0, 0], [3, 0, 7, 1], [1], [9999, 0], [5, 0, 1]]
    cases = [(f, (), "paths", payload(f, recs)) for f in (JSON, CBOR)]
    cases += [(f, (), "paths", payload(f, [{"n": n}])) for f in (JSON, CBOR)
              for n in ("/3/0/", "3/0", "/a", "/1/2/3/4/5", "/", "")]
    cases += [(f, (), "paths", payload(f, [])) for f in (JSON, CBOR)]
    got = dev_run(mp, tmp_path, cases)
    assert got[:2] == [exp, exp]
    assert all(g == ["E", 0x80] for g in got[2:-2])
    assert got[-2:] == [[], []]


def test_input_buffers(mp):
    out = mp(DEVICE + r'''
p = senml.enc([((9999, 0, 1), STR, "x")], (9999, 0), 112)
q = senml.enc([((9999, 0, 1), STR, "x")], (9999, 0), 110)
print(senml.dec(memoryview(p), (9999, 0), typeof, 112), senml.dec(bytearray(q), [9999, 0], typeof, 110))
print(senml.dec_paths(memoryview(q), 110), senml.dec_paths(bytearray(p), 112))
''')
    assert out.split("\n")[:2] == ["[((9999, 0, 1), 'x')] [((9999, 0, 1), 'x')]",
                                   "[(9999, 0, 1)] [(9999, 0, 1)]"]


def _rand_value(rng, fmt):
    return rng.choice([
        lambda: rng.randint(-3, 70000), lambda: rng.choice([2**64, -2**63 - 1, 2**63]),
        lambda: rng.random() * 100, lambda: float(rng.randint(0, 9)), lambda: rng.random() < 0.5,
        lambda: None, lambda: rng.choice(["", "/", "x", "3:0", "65535:1", "a:b", "1:", "-_8"]),
        lambda: rng.choice(["/9999/0/", "/9999/0/1", "/3/0/7/1", "7/1", "/9999/", "0/3"]),
        lambda: [rng.randint(0, 3)], lambda: {"n": "/1"},
        lambda: b"\x00\x01" if fmt == CBOR else "AAE",
    ])()


LABELS = ["bn", "n", "v", "vs", "vb", "vd", "vlo", "bt", "t", "u", "x_", "bver"]


def _rand_payload(rng, fmt):
    recs = []
    for _ in range(rng.randint(0, 4)):
        r = {}
        if rng.random() < 0.8:
            r["n"] = rng.choice(["/9999/0/%d" % rng.randint(0, 30), "%d" % rng.randint(0, 30),
                                 "/9999/0/12/1", "/3/0/0"])
        if rng.random() < 0.3:
            r["bn"] = rng.choice(["/9999/0/", "/9999/", "", "/", "/9999/0/1"])
        for _ in range(rng.randint(0, 2)):
            r[rng.choice(LABELS)] = _rand_value(rng, fmt)
        recs.append(r)
    if fmt == JSON:
        return json.dumps(recs).encode()
    return cbor2.dumps(as_cbor(recs))


def _mutate(rng, b):
    b = bytearray(b)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(b) + 1)
        op = rng.randrange(4)
        if op == 0 and b:
            b[min(i, len(b) - 1)] = rng.randrange(256)
        elif op == 1:
            b.insert(i, rng.choice(b'[]{}",:0123456789aentv/\\\xc3\x80\xa0\xff\x9f\x00'))
        elif op == 2 and b:
            del b[min(i, len(b) - 1)]
        else:
            b = b[:i]
    return bytes(b)


@pytest.mark.parametrize("fmt", [JSON, CBOR])
def test_fuzz_only_bad_request_escapes(mp, tmp_path, fmt):
    rng = random.Random(8428 + fmt)
    seeds = [payload(fmt, recs) for _, recs, _ in GOOD + BAD[:-1]]
    blobs = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 16))) for _ in range(300)]
    blobs += [_rand_payload(rng, fmt) for _ in range(800)]
    blobs += [_mutate(rng, rng.choice(seeds)) for _ in range(900)]
    cases = [(fmt, base, what, b) for b in blobs
             for base, what in (((), "tdec"), (W, "tdec"), ((), "paths"))]
    got = dev_run(mp, tmp_path, cases)
    ok = 0
    for c, g in zip(cases, got):
        if isinstance(g, list) and g and g[0] == "E":
            assert g[1] == 0x80, c
        else:
            assert not (isinstance(g, list) and g and g[0] == "X"), (c, g)
            ok += 1
    assert ok > 300, ok
