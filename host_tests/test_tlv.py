"""OMA TLV codec (client/tlv.py), run on the MicroPython unix port."""
import pytest

# Resource types, as in client/codes.py
NONE, STR, INT, UINT, FLOAT, BOOL, OPAQUE, TIME, OBJLNK, CORELNK = range(10)

# typeof used on the device: types by (oid, rid); unknown -> 4.04
PRELUDE = """
from client import tlv
from client.codes import CoapError
T = %r
def typeof(p):
    try:
        return T[(p[0], p[2])]
    except KeyError:
        raise CoapError(0x84)
def dec(b, base):
    try:
        return tlv.dec(b, base, typeof)
    except CoapError as e:
        return ('ERR', e.code)
"""

TYPES = {
    # Device (3)
    (3, 0): STR, (3, 1): STR, (3, 2): STR, (3, 3): STR, (3, 6): INT,
    (3, 7): INT, (3, 8): INT, (3, 9): INT, (3, 10): INT, (3, 11): INT,
    (3, 13): TIME, (3, 14): STR, (3, 16): STR,
    # Access Control (2)
    (2, 0): INT, (2, 1): INT, (2, 2): INT, (2, 3): INT,
    # the spec's Objlnk example object (66)
    (66, 0): STR, (66, 1): STR, (66, 2): OBJLNK,
    # one of each type (object 9)
    (9, 0): STR, (9, 1): INT, (9, 2): UINT, (9, 3): FLOAT, (9, 4): BOOL,
    (9, 5): OPAQUE, (9, 6): TIME, (9, 7): OBJLNK, (9, 8): CORELNK,
    (9, 9): NONE, (9, 300): OPAQUE,
}


def run(mp, body):
    """Run body after PRELUDE on the device; eval each printed line."""
    out = mp(PRELUDE % (TYPES,) + body)
    return [eval(l, {"inf": float("inf")}) for l in out.splitlines()]


def mp_enc(mp, recs, base):
    return bytes.fromhex(run(mp, "print(repr(tlv.enc(%r, %r).hex()))" % (recs, base))[0])


def mp_dec(mp, cases):
    """cases: list of (payload bytes, base) -> list of results."""
    return run(mp, "for b, base in %r:\n    print(repr(dec(b, base)))\n" % (cases,))


def h(s):
    return bytes.fromhex(s.replace(" ", "").replace("\n", ""))


# --- spec examples -----------------------------------------------------------

# LwM2M core spec TLV example: Read /3/0 (Device object instance).
DEVICE_TLV = h("""
C8 00 14 4F 70 65 6E 20 4D 6F 62 69 6C 65 20 41 6C 6C 69 61 6E 63 65
C8 01 16 4C 69 67 68 74 77 65 69 67 68 74 20 4D 32 4D 20 43 6C 69 65 6E 74
C8 02 09 33 34 35 30 30 30 31 32 33
C3 03 31 2E 30
86 06 41 00 01 41 01 05
88 07 08 42 00 0E D8 42 01 13 88
87 08 41 00 7D 42 01 03 84
C1 09 64
C1 0A 0F
83 0B 41 00 00
C4 0D 51 82 42 8F
C6 0E 2B 30 32 3A 30 30
C1 10 55
""")
DEVICE_RECS = [
    ((3, 0, 0), STR, "Open Mobile Alliance"),
    ((3, 0, 1), STR, "Lightweight M2M Client"),
    ((3, 0, 2), STR, "345000123"),
    ((3, 0, 3), STR, "1.0"),
    ((3, 0, 6, 0), INT, 1),
    ((3, 0, 6, 1), INT, 5),
    ((3, 0, 7, 0), INT, 3800),
    ((3, 0, 7, 1), INT, 5000),
    ((3, 0, 8, 0), INT, 125),
    ((3, 0, 8, 1), INT, 900),
    ((3, 0, 9), INT, 100),
    ((3, 0, 10), INT, 15),
    ((3, 0, 11, 0), INT, 0),
    ((3, 0, 13), TIME, 0x5182428F),
    ((3, 0, 14), STR, "+02:00"),
    ((3, 0, 16), STR, "U"),
]

# Spec example: Read /2 (Access Control, instances 0 and 2); the second ACL
# has a 16-bit Resource Instance id (server 310).
ACL_TLV = h("""
08 00 0E C1 00 01 C1 01 00 83 02 41 7F 07 C1 03 7F
08 02 12 C1 00 03 C1 01 00 87 02 41 7F 07 61 01 36 01 C1 03 7F
""")
ACL_RECS = [
    ((2, 0, 0), INT, 1), ((2, 0, 1), INT, 0), ((2, 0, 2, 127), INT, 7),
    ((2, 0, 3), INT, 127),
    ((2, 2, 0), INT, 3), ((2, 2, 1), INT, 0), ((2, 2, 2, 127), INT, 7),
    ((2, 2, 2, 310), INT, 1), ((2, 2, 3), INT, 127),
]

# Spec Objlnk example (object 66, two instances, the second link unset
# 0xFFFF:0xFFFF); lengths rebuilt by hand from the bit layout.
OBJLNK_TLV = h("""
08 00 26 C8 00 0B 6D 79 53 65 72 76 69 63 65 20 31
   C8 01 0F 49 6E 74 65 72 6E 65 74 2E 31 35 2E 32 33 34 C4 02 00 43 00 00
08 01 26 C8 00 0B 6D 79 53 65 72 76 69 63 65 20 32
   C8 01 0F 49 6E 74 65 72 6E 65 74 2E 31 35 2E 32 33 35 C4 02 FF FF FF FF
""")
OBJLNK_RECS = [
    ((66, 0, 0), STR, "myService 1"), ((66, 0, 1), STR, "Internet.15.234"),
    ((66, 0, 2), OBJLNK, (67, 0)),
    ((66, 1, 0), STR, "myService 2"), ((66, 1, 1), STR, "Internet.15.235"),
    ((66, 1, 2), OBJLNK, (65535, 65535)),
]


def plain(recs):
    return [(p, v) for p, t, v in recs]


def test_device_example_enc(mp):
    assert len(DEVICE_TLV) == 121
    assert mp_enc(mp, DEVICE_RECS, (3, 0)) == DEVICE_TLV
    # same, read on the object: wrapped in an Object Instance TLV
    assert mp_enc(mp, DEVICE_RECS, (3,)) == b"\x08\x00\x79" + DEVICE_TLV


def test_device_example_dec(mp):
    want = plain(DEVICE_RECS)
    r = mp_dec(mp, [(DEVICE_TLV, (3, 0)), (b"\x08\x00\x79" + DEVICE_TLV, (3,)),
                    (b"\x08\x00\x79" + DEVICE_TLV, (3, 0)),
                    (DEVICE_TLV, (3,)), (b"\x08\x01\x79" + DEVICE_TLV, (3, 0))])
    assert r[0] == want
    assert r[1] == want
    assert r[2] == want  # Object Instance TLV repeating the request's iid
    # bare Resources written to an Object: no instance id yet
    assert r[3] == [((3, None) + p[2:], v) for p, v in want]
    assert r[4] == ("ERR", 0x80)  # instance 1 in a request on /3/0


def test_acl_example(mp):
    assert mp_enc(mp, ACL_RECS, (2,)) == ACL_TLV
    assert mp_dec(mp, [(ACL_TLV, (2,))]) == [plain(ACL_RECS)]


def test_objlnk_example(mp):
    assert mp_enc(mp, OBJLNK_RECS, (66,)) == OBJLNK_TLV
    assert mp_dec(mp, [(OBJLNK_TLV, (66,))]) == [plain(OBJLNK_RECS)]


def test_single_resource_and_instance(mp):
    # Read /3/0/0, /3/0/7 (Multiple Resource), /3/0/7/1 (Resource Instance)
    assert mp_enc(mp, DEVICE_RECS[:1], (3, 0, 0)) == DEVICE_TLV[:23]
    assert mp_enc(mp, DEVICE_RECS[6:8], (3, 0, 7)) == h("88 07 08 42 00 0E D8 42 01 13 88")
    assert mp_enc(mp, DEVICE_RECS[7:8], (3, 0, 7, 1)) == h("42 01 13 88")
    r = mp_dec(mp, [
        (DEVICE_TLV[:23], (3, 0, 0)),
        (h("88 07 08 42 00 0E D8 42 01 13 88"), (3, 0, 7)),
        (h("42 00 0E D8 42 01 13 88"), (3, 0, 7)),  # bare Resource Instances
        (h("42 01 13 88"), (3, 0, 7, 1)),
        (DEVICE_TLV[:23], (3, 0, 1)),  # Resource id differs from the path
        (h("88 07 08 42 00 0E D8 42 01 13 88"), (3, 0, 8)),
        (h("42 01 13 88"), (3, 0, 7, 2)),
        (h("C2 07 13 88"), (3, 0, 7, 1)),  # Resource where an instance is due
        (h("42 01 13 88"), (3, 0)),  # Resource Instance outside a Multiple Resource
        (h("42 01 13 88"), (3,)),
        (h("08 00 03 C1 09 64"), (3, 0, 9)),  # Object Instance in a request on a Resource
        (h("86 06 C1 00 01 C1 01 05"), (3, 0)),  # Resources inside a Multiple Resource
        (h("08 00 03 41 09 64"), (3,)),  # Resource Instance inside an Object Instance
        (h("08 00 05 08 00 02 C1 09"), (3,)),  # nested Object Instance
    ])
    assert r[0] == [((3, 0, 0), "Open Mobile Alliance")]
    assert r[1] == r[2] == [((3, 0, 7, 0), 3800), ((3, 0, 7, 1), 5000)]
    assert r[3] == [((3, 0, 7, 1), 5000)]
    assert r[4:] == [("ERR", 0x80)] * 10


def test_header_forms(mp):
    # 16-bit identifiers and 8/16/24-bit length fields
    recs = [((9, 0, 5), OPAQUE, b"x" * 7), ((9, 0, 300), OPAQUE, b"y" * 8)]
    e = mp_enc(mp, recs, (9, 0))
    assert e == h("C7 05") + b"x" * 7 + h("E8 01 2C 08") + b"y" * 8
    e = mp_enc(mp, [((9, 0, 5), OPAQUE, b"z" * 300)], (9, 0, 5))
    assert e == h("D0 05 01 2C") + b"z" * 300
    e = mp_enc(mp, [((9, 0, 5), OPAQUE, b"z" * 70000)], (9, 0, 5))
    assert e == h("D8 05 01 11 70") + b"z" * 70000
    e = mp_enc(mp, [((9, 1000, 5), OPAQUE, b"")], (9,))
    assert e == h("22 03 E8 C0 05")
    # a decoder accepts a longer length field than needed
    r = mp_dec(mp, [(h("D8 05 00 00 02 61 62"), (9, 0)), (h("F0 01 2C 00 01 61"), (9, 0)),
                    (h("C0 05"), (9, 0, 5)), (b"", (9, 0))])
    assert r == [[((9, 0, 5), b"ab")], [((9, 0, 300), b"a")], [((9, 0, 5), b"")], []]


# value encodings: (type, value, TLV value bytes)
VALUES = [
    (INT, 0, "00"), (INT, 127, "7F"), (INT, -128, "80"), (INT, 128, "0080"),
    (INT, -129, "FF7F"), (INT, 32767, "7FFF"), (INT, -32768, "8000"),
    (INT, 32768, "00008000"), (INT, -2147483648, "80000000"),
    (INT, 2147483648, "0000000080000000"), (INT, -(1 << 63), "8000000000000000"),
    (INT, (1 << 63) - 1, "7FFFFFFFFFFFFFFF"),
    (UINT, 0, "00"), (UINT, 255, "FF"), (UINT, 256, "0100"), (UINT, 65535, "FFFF"),
    (UINT, 65536, "00010000"), (UINT, (1 << 32) - 1, "FFFFFFFF"),
    (UINT, 1 << 32, "0000000100000000"), (UINT, (1 << 64) - 1, "FFFFFFFFFFFFFFFF"),
    (TIME, 1367491215, "5182428F"), (TIME, -1, "FF"),
    (FLOAT, 1.5, "3FC00000"), (FLOAT, -0.0, "80000000"), (FLOAT, 0.1, "3FB999999999999A"),
    (FLOAT, 1e300, "7E37E43C8800759C"),
    (BOOL, True, "01"), (BOOL, False, "00"),
    (OBJLNK, (3, 0), "00030000"), (OBJLNK, (65535, 65535), "FFFFFFFF"),
    (STR, "", ""), (STR, "h\u00e9\u20ac\U0001F600", "68C3A9E282ACF09F9880"),
    (CORELNK, "</3/0>", "3C2F332F303E"), (OPAQUE, b"\x00\xff", "00FF"),
]
RID = {STR: 0, INT: 1, UINT: 2, FLOAT: 3, BOOL: 4, OPAQUE: 5, TIME: 6,
       OBJLNK: 7, CORELNK: 8}


def test_values(mp):
    recs = [[((9, 0, RID[t]), t, v)] for t, v, _ in VALUES]
    body = "for r in %r:\n    print(repr(tlv.enc(r, r[0][0][:2]).hex()))\n" % (recs,)
    got = [bytes.fromhex(x) for x in run(mp, body)]
    for (t, v, x), e in zip(VALUES, got):
        b = h(x)
        hdr = bytes([0xC0 | len(b)]) if len(b) < 8 else bytes([0xC8, 0, len(b)])
        assert e == hdr[:1] + bytes([RID[t]]) + hdr[2:] + b, (t, v)
    r = mp_dec(mp, [(e, (9, 0)) for e in got])
    for (t, v, x), d in zip(VALUES, r):
        assert d == [((9, 0, RID[t]), v)], (t, v)
        assert type(d[0][1]) is type(v)
    # executable (NONE) value comes back raw for the engine to refuse
    assert mp_dec(mp, [(h("C1 09 01"), (9, 0))]) == [[((9, 0, 9), b"\x01")]]


def test_float_decode_sizes(mp):
    r = mp_dec(mp, [(h("C4 03 3F C0 00 00"), (9, 0)), (h("C8 03 08 3F F8 00 00 00 00 00 00"), (9, 0)),
                    (h("C4 03 7F 80 00 00"), (9, 0))])
    assert r == [[((9, 0, 3), 1.5)], [((9, 0, 3), 1.5)], [((9, 0, 3), 1e999)]]


def test_bad_values(mp):
    bad = [
        "C3 01 00 00 01", "C5 01 00 00 00 00 01", "C0 01",  # INT sizes 3, 5, 0
        "C3 02 00 00 01", "C8 02 09 00 00 00 00 00 00 00 00 01",  # UINT 3, 9 bytes
        "C2 03 3F C0", "C5 03 3F C0 00 00 00", "C0 03",  # FLOAT 2, 5, 0 bytes
        "C1 04 02", "C2 04 00 01", "C1 04 FF", "C0 04",  # BOOL
        "C3 06 00 00 01",  # TIME
        "C3 07 00 03 00", "C5 07 00 03 00 00 00", "C0 07",  # OBJLNK
        "C1 00 FF", "C2 00 C3 28", "C2 00 C0 80", "C3 00 ED A0 80",  # bad/overlong/surrogate
        "C4 00 F4 90 80 80", "C1 00 80", "C2 00 61 C3",  # > U+10FFFF, stray/cut sequence
        "C2 08 C3 28",  # CORELNK
    ]
    r = mp_dec(mp, [(h(x), (9, 0)) for x in bad])
    assert r == [("ERR", 0x80)] * len(bad)


def test_truncated(mp):
    # every prefix that cuts a TLV short is rejected; one that ends on a
    # top-level TLV boundary is a shorter valid payload
    cases = [(DEVICE_TLV[:n], (3, 0)) for n in range(1, len(DEVICE_TLV))]
    cases += [(ACL_TLV[:n], (2,)) for n in range(1, len(ACL_TLV))]
    r = mp_dec(mp, cases)
    for (b, base), x in zip(cases, r):
        if _tlv_boundary(b):
            assert isinstance(x, list) and x
        else:
            assert x == ("ERR", 0x80), (b.hex(), base)
    # header cut inside the identifier / length field; container overruns
    r = mp_dec(mp, [(h("E8 01"), (9, 0)), (h("D0 05 01"), (9, 0)), (h("D8 05 00 00"), (9, 0)),
                    (h("C8"), (9, 0)), (h("88 07 05 42 00 0E D8 42"), (3, 0)),
                    (h("86 07 42 00 0E D8 42 01"), (3, 0)), (h("08 00 02 C1 09 64"), (3,))])
    assert r == [("ERR", 0x80)] * 7


def _tlv_boundary(b):
    """True when b is a sequence of whole top-level TLVs."""
    i = 0
    n = len(b)
    while i < n:
        t = b[i]
        k = i + 2 + (t >> 5 & 1)
        l = t >> 3 & 3
        i = k + l + (int.from_bytes(b[k:k + l], "big") if l else t & 7)
    return i == n


def test_typeof_errors_propagate(mp):
    r = mp_dec(mp, [(h("C1 63 00"), (3, 0)), (h("C1 09 64"), (5, 0))])
    assert r == [("ERR", 0x84)] * 2


def test_memoryview_and_bytearray(mp):
    body = ("b = %r\nprint(repr(tlv.dec(memoryview(b), (3, 0), typeof) == tlv.dec(bytearray(b), (3, 0), typeof)"
            " == tlv.dec(memoryview(b'xx' + b)[2:], (3, 0), typeof) == tlv.dec(b, (3, 0), typeof)))\n" % (DEVICE_TLV,))
    assert run(mp, body) == [True]


def test_round_trips(mp):
    allv = [((9, 0, RID[t]), t, v) for t, v, _ in VALUES]
    # one record per resource, then the same as Resource Instances
    recs = sorted({p: (p, t, v) for p, t, v in allv}.values())
    multi = [((9, 0, 300, i), OPAQUE, bytes([i & 255]) * (i % 300)) for i in (0, 1, 255, 256, 1000)]
    two = [((9, i) + p[2:], t, v) for i in (0, 7, 65534) for p, t, v in recs + multi]
    cases = [(recs + multi, (9, 0)), (two, (9,)), (multi, (9, 0, 300)), (multi[3:4], (9, 0, 300, 256))]
    body = "for r, base in %r:\n    print(repr(tlv.dec(tlv.enc(r, base), base, typeof)))\n" % (cases,)
    got = run(mp, body)
    for (r, base), g in zip(cases, got):
        assert g == plain(r)


FUZZ = """
import random
random.seed(%d)
seeds = %r
bases = ((3,), (3, 0), (3, 0, 7), (3, 0, 7, 1), (2,), (9, 0))
T2 = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
def typeof2(p):
    return T2[p[2] %% 10]
other = 0
for n in range(%d):
    b = bytearray(seeds[n %% len(seeds)])
    for _ in range(random.getrandbits(2) + 1):
        op = random.getrandbits(2)
        if op == 0 and b:
            b[random.getrandbits(16) %% len(b)] = random.getrandbits(8)
        elif op == 1 and b:
            b = b[:random.getrandbits(16) %% len(b)]
        elif op == 2:
            i = random.getrandbits(16) %% (len(b) + 1)
            b[i:i] = bytes([random.getrandbits(8)])
        elif b:
            i = random.getrandbits(16) %% len(b)
            b[i] ^= 1 << random.getrandbits(3)
    for base in bases:
        try:
            tlv.dec(b, base, typeof2)
        except CoapError as e:
            if e.code != 0x80:
                other += 1
        except Exception as e:
            print(repr((bytes(b).hex(), base, repr(e))))
            other += 1
print(repr(('done', other)))
"""


@pytest.mark.parametrize("seed", [1, 2])
def test_fuzz(mp, seed):
    seeds = [DEVICE_TLV, ACL_TLV, OBJLNK_TLV, h("88 07 08 42 00 0E D8 42 01 13 88"),
             h("E8 01 2C 08") + b"y" * 8, h("42 01 13 88")]
    out = run(mp, FUZZ % (seed, seeds, 1000))
    assert out == [("done", 0)]
